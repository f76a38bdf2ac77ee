"""Any sentence-transformers model (a hub name, or a local folder) run by torch in fp32.

The module shares its name with the library: every import here is absolute, so
`from sentence_transformers import ...` is the library, never this file.

    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL)
    embedder.embed(["some text"]).shape
    (1, 384)
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import numpy as np

from rag.errors import EmbedderError
from rag.index.embedding.base import DEFAULT_MODEL, normalize_rows, resolve_model_path


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (a hub name, or a local folder), in fp32."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        batch_size: int = 32,
        show_progress: bool = False,
        threads: int | None = None,
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
        self.threads = threads  # None: torch's own choice (every core)
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
        with _torch_threads(1 if len(texts) <= 8 else self.threads):
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=self.show_progress and len(texts) > self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return normalize_rows(vectors)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on `threads` torch threads (None: as set).

    A few texts (a query) get one: a short query gains nothing from a second thread,
    and on a busy machine the OpenMP hand-off between threads costs ~0.5 s instead of
    ~10 ms (measured here). An embedding worker process gets its share of the cores.
    """
    import torch

    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
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
