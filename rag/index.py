"""The on-disk index: vectors (+ a FAISS index), a bm25s lexical index, passages and a manifest.

One directory per index:

    DIR/vectors.npy      unit vectors, float32, memory-mapped; inner product = cosine
    DIR/faiss.index      the approximate index over them, for an ANN kind ("ivf", "hnsw") only
    DIR/bm25/            the bm25s index (its own files, memory-mapped)
    DIR/passages.sqlite  one Passage per row, in vector order (`rag.store`)
    DIR/manifest.json    format version, model, dim, counts, vector index kind, corpus fingerprint

Nothing grows in memory with the corpus but the FAISS index (1 byte per dimension for
"ivf") and one int32 per passage: passages are read as they are returned.
`save_index` builds the new directory beside the old one and swaps it in with
renames, so an ingest killed at any moment leaves a usable index behind.
`lock_index` holds `.DIR.lock` (beside DIR) for a whole ingest, so that two
ingests never build or swap the same index at once.
`load_index` checks every file against the manifest and names what is wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from rag.chunking import Passage
from rag.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.limits import MAX_PODCAST_NAME_CHARS
from rag.store import PassageStore, write_passages

FORMAT_VERSION = 4  # 2: passages carry each line's second; 3: passages in SQLite, vectors.npy, ANN kinds; 4: episode descriptions
MANIFEST = "manifest.json"
PASSAGES = "passages.sqlite"
VECTOR_ARRAY = "vectors.npy"
VECTORS = "faiss.index"  # only for an ANN kind
LEXICAL = "bm25"


# --------------------------------------------------------------------------- vectors


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
            raise IndexCorruptError(f"{directory / MANIFEST}: unknown vector index kind {kind!r}")
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


# --------------------------------------------------------------------------- lexical


class LexicalIndex:
    """BM25 over stemmed words (bm25s + PyStemmer), English stopwords removed."""

    def __init__(self, bm25: Any) -> None:
        self._bm25 = bm25

    @staticmethod
    def tokenize(texts: Sequence[str]) -> list[list[str]]:
        """Each text's terms as bm25s tokenizes them (words of 2+ characters, lower case,
        English stopwords out, Snowball-stemmed), without its per-call set-up.

        A search tokenizes the question and every line of every result: bm25s's
        `tokenize` builds progress bars and a stopword set per call, a third of a
        search's time at 30x (eval/scale.py). tests/test_index.py checks that both
        give the same terms over the test corpus.

            >>> LexicalIndex.tokenize(["Which guest uses Bloom filters?"])
            [['which', 'guest', 'use', 'bloom', 'filter']]
        """
        stem = _stemmer().stemWords
        tokenized = []
        for text in texts:
            words = [word for word in _TERM.findall(text.lower()) if word not in _STOPWORDS]
            tokenized.append(stem(words) if words else [])
        return tokenized

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index(cls.tokenize(texts), show_progress=False)
        return cls(bm25)

    @classmethod
    def load(cls, path: Path) -> "LexicalIndex":
        """Memory-mapped: a query reads the columns of its own terms, not the whole matrix."""
        import bm25s

        try:
            bm25 = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
            scores = bm25.scores
            docs, data, indices, indptr = (int(scores["num_docs"]), scores["data"], scores["indices"], scores["indptr"])
        except Exception as exc:  # noqa: BLE001 - bm25s raises many kinds on bad files
            raise IndexCorruptError(f"{path}: unreadable bm25 index ({type(exc).__name__}: {exc})") from None
        # The score matrix is read by position at query time: an index out of range would
        # raise mid-search, or read another document's scores.
        if (len(indices) != len(data) or (len(indptr) and indptr[-1] != len(data))
                or (len(indices) and (int(np.min(indices)) < 0 or int(np.max(indices)) >= docs))
                or (len(indptr) > 1 and bool(np.any(np.diff(indptr) < 0)))):
            raise IndexCorruptError(f"{path}: bm25 score matrix does not match its {docs} documents")
        return cls(bm25)

    def __len__(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def term_idf(self, query: str) -> dict[str, float]:
        """IDF of each distinct term of `query`, tokenized as the index was (stemmed, no stopwords).

        Document frequencies come from the bm25s score matrix (one column per vocabulary
        term, CSC: `indptr[i + 1] - indptr[i]` documents contain term i); the IDF is
        bm25s's default (Lucene) one. A term that no document contains gets the IDF of
        df = 0, above every known term's: a word no transcript says is the strongest
        sign that the question asks for something the podcast never covered.

            lexical.term_idf("Who mentioned quantum annealing?")
            {'who': 1.8, 'mention': 2.5, 'quantum': 7.3, 'anneal': 9.1}  # 13,872 passages
        """
        indptr = self._bm25.scores["indptr"]
        vocab = self._bm25.vocab_dict
        weights: dict[str, float] = {}
        for term in self.tokenize([query])[0]:
            column = vocab.get(term)
            known = column is not None and column + 1 < len(indptr)
            df = int(indptr[column + 1] - indptr[column]) if known else 0
            weights[term] = bm25_idf(df, len(self))
        return weights

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (zeros when no word is known).

        bm25s's own `get_scores` sums each term's column with `np.add.at`, which is
        general but about 10x slower than an indexed add; a column lists each document
        at most once, so the indexed add is exact. The sum is what bm25s computes
        (tests/test_index.py compares them); at 1.4M passages it is the lexical side's
        whole cost (eval/scale.py).
        """
        vocab = self._bm25.vocab_dict
        matrix = self._bm25.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        total = np.zeros(len(self), dtype=np.float32)
        for token in self.tokenize([query])[0]:
            column = vocab.get(token)
            if column is None or column + 1 >= len(indptr):
                continue
            start, end = int(indptr[column]), int(indptr[column + 1])
            total[indices[start:end]] += data[start:end]
        return total

    def save(self, path: Path) -> None:
        self._bm25.save(str(path), show_progress=False)


_TERM = re.compile(r"(?u)\b\w\w+\b")  # bm25s's token pattern
_STOPWORDS = frozenset(STOPWORDS_EN)
_stemmers = threading.local()  # a PyStemmer stemmer is not safe to share between threads


def _stemmer() -> Any:
    if not hasattr(_stemmers, "english"):
        import Stemmer

        _stemmers.english = Stemmer.Stemmer("english")
    return _stemmers.english


def bm25_idf(df: int, n_docs: int) -> float:
    """Lucene's BM25 IDF, bm25s's default: log(1 + (N - df + 0.5) / (df + 0.5)); always > 0."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def term_coverage(term_idf: Mapping[str, float], text: str) -> float:
    """IDF-weighted share of the query terms (`LexicalIndex.term_idf`) that `text` contains.

    `text` is tokenized the way the index is, so "annealing" matches "anneal". Missing
    a rare term costs more than missing a common one; no terms at all covers 1.0.

        >>> term_coverage({"bloom": 6.0, "filter": 4.0, "zyx": 9.0}, "Bloom filters are fast")
        0.5263157894736842
    """
    total = sum(term_idf.values())
    if total <= 0:
        return 1.0
    present = set(LexicalIndex.tokenize([text])[0])
    return sum(weight for term, weight in term_idf.items() if term in present) / total


# --------------------------------------------------------------------------- the index


@dataclass
class Index:
    directory: Path
    manifest: dict[str, Any]
    passages: PassageStore
    vectors: VectorStore
    lexical: LexicalIndex

    @property
    def model_id(self) -> str:
        return str(self.manifest["model"])

    @property
    def podcast_name(self) -> str:
        """The name the index was built with (`rag ingest --name`), on one line and within
        the limit even in a hand-edited manifest; "" when none was given."""
        return " ".join(str(self.manifest.get("podcast") or "").split())[:MAX_PODCAST_NAME_CHARS]


def save_index(
    directory: str | Path,
    passages: Sequence[Passage],
    vectors: VectorStore,
    lexical: LexicalIndex,
    manifest: dict[str, Any],
) -> Path:
    """Write the index to `directory` atomically (build beside, then swap)."""
    directory = Path(directory)
    if len(vectors) != len(passages) or len(lexical) != len(passages):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors and {len(lexical)} bm25 documents")
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(directory)
    building = directory.with_name(f".{directory.name}.building-{os.getpid()}")
    if building.exists():
        shutil.rmtree(building)
    building.mkdir()
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "dim": vectors.dim,
        "count": len(passages),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest["vectors"] = vectors.save(building)
    lexical.save(building / LEXICAL)
    write_passages(building / PASSAGES, passages)
    # The manifest is written last: a directory without one is never loaded.
    (building / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    _fsync_tree(building)

    previous = _previous_path(directory)
    if directory.exists():
        os.replace(directory, previous)
    os.replace(building, directory)
    shutil.rmtree(previous, ignore_errors=True)
    return directory


@contextlib.contextmanager
def lock_index(directory: str | Path, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on the index at `directory` for the `with` block.

    The lock is an `flock` on `.<name>.lock` beside the directory, holding our pid
    and `holder` (a command line without secrets). The kernel drops it when the
    process dies, so a killed ingest never leaves the index locked. A second
    holder fails at once with `IndexBusyError` naming the first one's pid:

        with lock_index("indexes/dtc", "rag ingest corpus"):
        ...     save_index("indexes/dtc", ...)
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    path = directory.with_name(f".{directory.name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, command = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip().partition("\n")
            other = f"pid {pid}: {command}" if pid else "pid unknown"
            raise IndexBusyError(
                f"{directory}: another ingest is building this index ({other}); "
                "wait for it to finish, or stop that process"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{' '.join(holder.split())}\n".encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the flock


def _previous_path(directory: Path) -> Path:
    return directory.with_name(f".{directory.name}.previous")


def recover_interrupted_swap(directory: str | Path) -> None:
    """Finish or undo a swap cut short by a kill, and drop abandoned builds."""
    directory = Path(directory)
    previous = _previous_path(directory)
    if previous.exists():
        if directory.exists() and (directory / MANIFEST).exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(previous, directory)
    for stale in directory.parent.glob(f".{directory.name}.building-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _first_non_finite_row(vectors: np.ndarray, rows_per_block: int = 65_536) -> int | None:
    """The first row holding a NaN or an infinity, read in blocks (the array is memory-mapped)."""
    for start in range(0, len(vectors), rows_per_block):
        finite = np.isfinite(vectors[start : start + rows_per_block]).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite))
    return None


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def read_manifest(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not directory.is_dir() or not manifest_path.exists():
        previous = _previous_path(directory)
        if (previous / MANIFEST).exists():
            return read_manifest(previous)
        raise IndexMissingError(
            f"no index at {directory}: build it with `rag ingest CORPUS --index {directory}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or "model" not in manifest or "count" not in manifest:
        raise IndexCorruptError(f"{manifest_path}: manifest lacks 'model' or 'count'")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(
            f"{manifest_path}: index format {manifest.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}; rebuild it with `rag ingest`"
        )
    return manifest


def load_index(directory: str | Path, *, expected_model: str | None = None) -> Index:
    """Load and check an index; raise a `RagError` subclass naming the bad file."""
    directory = Path(directory)
    if not (directory / MANIFEST).exists() and (_previous_path(directory) / MANIFEST).exists():
        directory = _previous_path(directory)  # a swap was interrupted; the old index is intact
    manifest = read_manifest(directory)
    if expected_model is not None and expected_model != manifest["model"]:
        raise IndexMismatchError(
            f"{directory} was built with model {manifest['model']!r}, not {expected_model!r}; "
            f"search it with --model {manifest['model']} or rebuild it with `rag ingest --model {expected_model}`"
        )
    count = manifest["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise IndexCorruptError(f"{directory / MANIFEST}: 'count' is {count!r:.40}, not a number of passages")
    dim = manifest.get("dim")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
        raise IndexCorruptError(f"{directory / MANIFEST}: 'dim' is {dim!r:.40}, not a vector dimension")
    if not isinstance(manifest.get("vectors") or {}, Mapping):
        raise IndexCorruptError(f"{directory / MANIFEST}: 'vectors' is not a mapping")
    for name in (VECTOR_ARRAY, PASSAGES, LEXICAL):
        if not (directory / name).exists():
            raise IndexCorruptError(f"{directory / name}: missing; rebuild the index with `rag ingest`")
    vectors = FaissStore.load(directory, manifest.get("vectors") or {})
    passages = PassageStore.open(directory / PASSAGES)
    lexical = LexicalIndex.load(directory / LEXICAL)
    for what, n in (("vectors", len(vectors)), ("passages", len(passages)), ("bm25 documents", len(lexical))):
        if n != count:
            raise IndexCorruptError(f"{directory}: manifest says {count} passages but found {n} {what}")
    if vectors.dim != (dim if dim is not None else vectors.dim):
        raise IndexCorruptError(f"{directory}: manifest says dim {manifest['dim']} but vectors have {vectors.dim}")
    return Index(directory, manifest, passages, vectors, lexical)
