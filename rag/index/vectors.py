"""Dense vectors: the `VectorStore` protocol and its FAISS implementation (exact,
IVF or HNSW by library size), with filtered search over an allowed subset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from rag.errors import IndexCorruptError

VECTOR_ARRAY = "vectors.npy"

VECTORS = "faiss.index"  # only for an ANN kind


class VectorStore(Protocol):
    """Nearest neighbours by inner product; ids are positions in the passage list."""

    dim: int
    kind: str

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` (scores, ids) for one query vector, only among `allowed` ids if given."""
        ...

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the store's files into `directory`; return what the manifest records of it."""
        ...


VECTOR_KINDS = ("auto", "flat", "ivf", "hnsw")

# Above this many passages `auto` picks the IVF index. eval/scale.py at 10x (139k
# passages): flat search p50 1.84x the 1x corpus's, IVF 1.05x, with the same hit@5 and
# lands@5 (recall@10 0.955); at 1x (14k) the flat scan is a millisecond and exact.
ANN_ABOVE = 50_000

# A subset this small (an episode scope, the focus episodes) is scored exactly from the
# memory-mapped vectors: cheaper than any index, and exact.
EXACT_SUBSET_MAX = 50_000

# The ANN returns this many times `k` candidates, re-scored exactly, so that its
# quantized scores never reach the ranking (see `ivf_probes` for what bounds recall).
REFINE_FACTOR = 2

HNSW_NEIGHBOURS = 32

# The graph walk's breadth; tests/test_store.py: 64 finds 0.88 of the exact top 10, 256 finds 0.98.
HNSW_SEARCH_DEPTH = 256


def choose_vector_kind(count: int, requested: str = "auto") -> str:
    """The vector index for `count` passages: `requested`, or by size when it is "auto".

    >>> choose_vector_kind(14_000), choose_vector_kind(138_000), choose_vector_kind(10, "hnsw")
    ('flat', 'ivf', 'hnsw')
    """
    if requested not in VECTOR_KINDS:
        raise ValueError(f"unknown vector index {requested!r}; use one of {', '.join(VECTOR_KINDS)}")
    if requested != "auto":
        return requested
    return "ivf" if count > ANN_ABOVE else "flat"


def ivf_lists(count: int) -> int:
    """IVF cells for `count` vectors: about 2·sqrt(n), the usual rule, and at most n / 39
    so that k-means has the 39 training points per centroid FAISS asks for."""
    return max(1, min(int(2 * math.sqrt(count)), count // 39))


class FaissStore:
    """Unit vectors in `vectors.npy` (memory-mapped), plus a FAISS index over them.

    kind "flat" is exact search (IndexFlatIP, built from the array at load: nothing more on
    disk); "ivf" an inverted file over 8-bit scalar-quantized codes; "hnsw" a graph over
    full vectors. An ANN's candidates are re-scored exactly from the array, so every
    score a caller sees is a true cosine. A small `allowed` set is scored exactly.
    """

    def __init__(self, kind: str, index: Any, vectors: np.ndarray, nprobe: int = 0) -> None:
        self.kind = kind
        self._index = index
        self.vectors = vectors
        self.dim = int(vectors.shape[1]) if vectors.ndim == 2 else int(index.d)
        self.nprobe = nprobe
        self.exact_subset_max = EXACT_SUBSET_MAX

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", *, nprobe: int | None = None) -> "FaissStore":
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be a 2-D array, got shape {vectors.shape}")
        kind = choose_vector_kind(len(vectors), kind)
        dim = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        else:
            lists = ivf_lists(len(vectors))
            index = faiss.index_factory(dim, f"IVF{lists},SQ8", faiss.METRIC_INNER_PRODUCT)
            index.train(_training_sample(vectors, lists))
            nprobe = nprobe or ivf_probes(lists)
        index.add(vectors)
        return cls(kind, index, vectors, nprobe or 0)

    @classmethod
    def load(cls, directory: Path, described: Mapping[str, Any]) -> "FaissStore":
        """Open the store `save` wrote to `directory`; `described` is the manifest's `vectors` entry."""
        import faiss

        kind = str(described.get("kind", "flat"))
        try:
            vectors = np.load(directory / VECTOR_ARRAY, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"{directory / VECTOR_ARRAY}: unreadable vectors ({exc})") from None
        if vectors.ndim != 2 or vectors.dtype != np.float32:
            raise IndexCorruptError(f"{directory / VECTOR_ARRAY}: expected 2-D float32, got {vectors.dtype} {vectors.shape}")
        bad = _first_non_finite_row(vectors)
        if bad is not None:  # a NaN scores as nothing and sorts anywhere: search would be silently wrong
            raise IndexCorruptError(f"{directory / VECTOR_ARRAY}: vector {bad} is not finite (NaN or infinity)")
        if kind == "flat":
            index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(np.ascontiguousarray(vectors))
            return cls(kind, index, vectors)
        if kind not in VECTOR_KINDS:
            raise IndexCorruptError(f"{directory / 'manifest.json'}: unknown vector index kind {kind!r}")
        try:
            index = faiss.read_index(str(directory / VECTORS))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IndexCorruptError(f"{directory / VECTORS}: unreadable FAISS index ({first[:200]})") from None
        if index.ntotal != len(vectors):
            raise IndexCorruptError(f"{directory / VECTORS}: {index.ntotal} vectors, {VECTOR_ARRAY} has {len(vectors)}")
        return cls(kind, index, vectors, int(described.get("nprobe") or 0))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        query = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        if allowed is not None and len(allowed) <= self.exact_subset_max:
            return self._exact_subset(query, np.asarray(allowed, dtype=np.int64), k)
        k = min(k, len(self) if allowed is None else len(allowed))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        fetch = k if self.kind == "flat" else min(len(self), k * REFINE_FACTOR)
        scores, ids = self._index.search(query.reshape(1, -1), fetch, params=self._params(allowed, fetch))
        scores, ids = scores[0][ids[0] >= 0], ids[0][ids[0] >= 0]
        if self.kind == "flat":
            return scores, ids
        return self._exact_subset(query, ids, k)

    def _params(self, allowed: np.ndarray | None, fetch: int) -> Any:
        import faiss

        selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe)
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(HNSW_SEARCH_DEPTH, fetch))
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def _exact_subset(self, query: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(ids) == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        ids = np.unique(ids)  # sorted: reads the memory map front to back
        scores = self.vectors[ids] @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top].astype(np.float32), ids[top]

    def save(self, directory: Path) -> dict[str, Any]:
        import faiss

        np.save(directory / VECTOR_ARRAY, np.ascontiguousarray(self.vectors, dtype=np.float32), allow_pickle=False)
        if self.kind != "flat":
            faiss.write_index(self._index, str(directory / VECTORS))
        described: dict[str, Any] = {"kind": self.kind}
        if self.kind == "ivf":
            described |= {"lists": int(self._index.nlist), "nprobe": self.nprobe}
        return described


def ivf_probes(lists: int) -> int:
    """Cells searched per query: an eighth of them, and at least 8, so that a small index
    is searched almost whole. At 30x (1,289 cells) the dev questions' recall@10 against
    an exact search is 0.936 with 80 cells, 0.963 with 160 and 0.981 with 240, at 4.6,
    9.1 and 13 ms for a top 100 (eval/scale.py); re-scoring 2 or 8 times k candidates
    changes nothing, so the probes are what bounds it.

    >>> ivf_probes(1289), ivf_probes(9)
    (161, 8)
    """
    return min(lists, max(8, lists // 8))


def _training_sample(vectors: np.ndarray, lists: int) -> np.ndarray:
    """At most 64 points per IVF cell, drawn evenly: k-means needs no more, and the rest only costs time."""
    wanted = min(len(vectors), 64 * lists)
    if wanted == len(vectors):
        return vectors
    return vectors[np.random.default_rng(0).choice(len(vectors), wanted, replace=False)]


def _first_non_finite_row(vectors: np.ndarray, rows_per_block: int = 65_536) -> int | None:
    """The first row holding a NaN or an infinity, read in blocks (the array is memory-mapped)."""
    for start in range(0, len(vectors), rows_per_block):
        finite = np.isfinite(vectors[start : start + rows_per_block]).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None
