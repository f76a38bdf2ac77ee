"""The embedding cache: vectors keyed by embedder and text, so re-ingesting embeds only new text.

    >>> from rag.embedding import HashingEmbedder
    >>> embedder_key(HashingEmbedder(dim=64))
    'hashing-64'
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.atomic import atomic_write
from rag.embedding.base import Embedder, normalize_rows


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedder_key(embedder: Embedder) -> str:
    """What an embedder's vectors depend on: its model id, plus `@<recipe_version>` when
    it has one. It keys the embedding cache; manifests keep the bare `model_id`."""
    version = getattr(embedder, "recipe_version", None)
    return f"{embedder.model_id}@{version}" if version else embedder.model_id


class EmbeddingCache:
    """Vectors keyed by (embedder key, text hash), kept in one `.npz` file per key.

    `key` is `embedder_key(embedder)`, so vectors of another model, or of an older
    recipe of the same model, are never reused. Re-ingesting an unchanged corpus
    then embeds nothing; a new episode embeds only its own passages.
    """

    def __init__(self, folder: str | Path, key: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)
        self.path = Path(folder) / f"{slug}.npz"
        self.key = key
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    if str(data["model_id"]) == key:
                        self._vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
            except Exception:  # noqa: BLE001 - a broken cache only costs re-embedding
                self._vectors = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`, computing only those not cached."""
        keys = [text_key(text) for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._vectors))
        if missing:
            by_key = dict(zip(keys, texts))
            fresh = embedder.embed([by_key[k] for k in missing])
            for key, vector in zip(missing, fresh):
                self._vectors[key] = vector
            self._dirty = True
        if not keys:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return normalize_rows(np.stack([self._vectors[k] for k in keys]))

    def save(self) -> None:
        if not self._dirty:
            return
        keys = list(self._vectors)
        with atomic_write(self.path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                model_id=np.array(self.key),
                keys=np.array(keys),
                vectors=np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0), np.float32),
            )
        self._dirty = False
