"""The embedding cache: vectors keyed by embedder and text, so re-ingesting embeds only new text.

    >>> from rag.index.embedding import HashingEmbedder
    >>> embedder_key(HashingEmbedder(dim=64))
    'hashing-64'
"""

from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.atomic import atomic_write
from rag.index.embedding.base import Embedder, normalize_rows
from rag.index.embedding.shard import Shard


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedder_key(embedder: Embedder) -> str:
    """What an embedder's vectors depend on: its model id, plus `@<recipe_version>` when
    it has one. It keys the embedding cache; manifests keep the bare `model_id`."""
    version = getattr(embedder, "recipe_version", None)
    return f"{embedder.model_id}@{version}" if version else embedder.model_id


class EmbeddingCache:
    """Vectors keyed by (embedder key, text hash), in `.npz` files per key in `folder`:

        <slug>.npz                   the main cache, written by an ingest that builds an index
        <slug>.shard-I-of-N.npz      written only by `rag ingest --shard I/N`, one writer each

    `key` is `embedder_key(embedder)`, so vectors of another model, or of an older
    recipe of the same model, are never reused. Re-ingesting an unchanged corpus
    then embeds nothing; a new episode embeds only its own passages.

    Opened for a `shard`, the cache reads the main file and that shard's file, and
    `save` writes only the shard's file, so shards running at once on a shared folder
    never touch each other's work. Opened without one, it also reads every shard file
    of its key; `save` folds them into the main file and deletes each only after the
    main file is written, and only if no shard has rewritten it since it was read.
    Every write is atomic (`atomic_write`).
    """

    def __init__(self, folder: str | Path, key: str, *, shard: Shard | None = None) -> None:
        self.folder = Path(folder)
        self.key = key
        self.path = self.folder / f"{_slug(key)}.npz"  # the main cache
        self.write_path = self.path if shard is None else self.folder / f"{_slug(key)}.{shard.file_tag}.npz"
        self._vectors = _read_vectors(self.path, key)
        # What `save` writes to `write_path`: everything for the main file, only the
        # shard's own vectors (earlier runs' and new ones) for a shard file.
        self._own = self._vectors if shard is None else _read_vectors(self.write_path, key)
        self._vectors.update(self._own)
        self._dirty = False
        self._folded: list[tuple[Path, tuple[int, int, int]]] = []  # shard files to delete after saving
        if shard is None:
            self._read_shard_files()

    def __len__(self) -> int:
        return len(self._vectors)

    def has(self, text: str) -> bool:
        return text_key(text) in self._vectors

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep `vectors[i]` as the vector of `texts[i]` (saved by the next `save`)."""
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        for text, vector in zip(texts, vectors):
            self._own[text_key(text)] = self._vectors[text_key(text)] = vector
        self._dirty = self._dirty or len(texts) > 0

    def lookup(self, texts: Sequence[str], dim: int) -> np.ndarray:
        """The cached vectors of `texts`, in order: shape (len(texts), dim); KeyError if one is missing."""
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return normalize_rows(np.stack([self._vectors[text_key(text)] for text in texts]))

    def save(self) -> None:
        """Write `write_path` if anything was added, then delete the shard files it folded in."""
        if self._dirty:
            keys = list(self._own)
            with atomic_write(self.write_path) as tmp, open(tmp, "wb") as handle:
                np.savez(
                    handle,
                    model_id=np.array(self.key),
                    keys=np.array(keys),
                    vectors=np.stack([self._own[k] for k in keys]) if keys else np.zeros((0, 0), np.float32),
                )
            self._dirty = False
        for path, stamp in self._folded:
            # A shard still running may have replaced its file since we read it: that
            # file holds vectors the main file lacks, so it stays for the next ingest.
            if _stamp(path) == stamp:
                path.unlink()
        self._folded = []

    def _read_shard_files(self) -> None:
        for path in shard_files(self.folder, self.key):
            stamp = _stamp(path)
            vectors = _read_vectors(path, self.key)
            if stamp is None or not vectors:
                continue  # gone, empty or unreadable: never deleted unread
            fresh = vectors.keys() - self._vectors.keys()
            self._vectors.update(vectors)
            self._dirty = self._dirty or bool(fresh)
            self._folded.append((path, stamp))


def shard_files(folder: str | Path, key: str) -> list[Path]:
    """The shard cache files of embedder key `key` in `folder` now."""
    return sorted(Path(folder).glob(f"{_slug(key)}.shard-*-of-*.npz"))


def other_recipe_files(folder: str | Path, key: str) -> list[Path]:
    """Cache files (main or shard) in `folder` of the same model as embedder key `key`
    under another recipe version: a recipe changes when the same model's vectors would
    change, so this code never reads them again."""
    model_id, _, version = key.rpartition("@")
    if not model_id:
        return []
    stale = []
    for path in Path(folder).glob(f"{glob.escape(_slug(model_id))}_*.npz"):
        stored = _stored_key(path)
        if stored is not None and stored != key and stored.rpartition("@")[0] == model_id:
            stale.append(path)
    return sorted(stale)


def _stored_key(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as data:  # reads only the member asked for
            return str(data["model_id"])
    except Exception:  # noqa: BLE001 - not a cache file of ours: left alone
        return None


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


def _read_vectors(path: Path, key: str) -> dict[str, np.ndarray]:
    """The vectors in one cache file; {} when it is missing, of another key, or broken."""
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["model_id"]) == key:
                return dict(zip(data["keys"].tolist(), data["vectors"]))
    except Exception:  # noqa: BLE001 - a broken cache only costs re-embedding
        pass
    return {}


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime): an atomic rewrite gets a new inode, so any rewrite changes it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns
