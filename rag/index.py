"""The on-disk index: FAISS vectors, a bm25s lexical index, passages and a manifest.

One directory per index:

    DIR/faiss.index      normalized vectors; inner product = cosine
    DIR/bm25/            the bm25s index (its own files)
    DIR/passages.jsonl   one Passage per line, in vector order
    DIR/manifest.json    format version, model, dim, counts, corpus fingerprint

`save_index` builds the new directory beside the old one and swaps it in with
renames, so an ingest killed at any moment leaves a usable index behind.
`lock_index` holds `.DIR.lock` (beside DIR) for a whole ingest, so that two
ingests never build or swap the same index at once.
`load_index` checks every file against the manifest and names what is wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, Sequence

import numpy as np

from rag.chunking import Passage
from rag.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError

FORMAT_VERSION = 2  # 2: passages carry each line's second
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "faiss.index"
LEXICAL = "bm25"


# --------------------------------------------------------------------------- vectors


class VectorStore(Protocol):
    """Nearest neighbours by inner product; ids are positions in the passage list."""

    dim: int

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` (scores, ids) for one query vector, only among `allowed` ids if given."""
        ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """Exact search (IndexFlatIP): at podcast scale (~10^4 passages) it is fast enough."""

    def __init__(self, index: Any) -> None:
        self._index = index
        self.dim = int(index.d)

    @classmethod
    def build(cls, vectors: np.ndarray) -> "FaissStore":
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return cls(index)

    @classmethod
    def load(cls, path: Path) -> "FaissStore":
        import faiss

        try:
            return cls(faiss.read_index(str(path)))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IndexCorruptError(f"{path}: unreadable FAISS index ({first[:200]})") from None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        k = min(k, len(self) if allowed is None else len(allowed))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores, ids = self._index.search(query, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))


# --------------------------------------------------------------------------- lexical


class LexicalIndex:
    """BM25 over stemmed words (bm25s + PyStemmer), English stopwords removed."""

    def __init__(self, bm25: Any) -> None:
        self._bm25 = bm25

    @staticmethod
    def tokenize(texts: Sequence[str]) -> list[list[str]]:
        import bm25s
        import Stemmer

        return bm25s.tokenize(
            list(texts), stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
        )

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index(cls.tokenize(texts), show_progress=False)
        return cls(bm25)

    @classmethod
    def load(cls, path: Path) -> "LexicalIndex":
        import bm25s

        try:
            return cls(bm25s.BM25.load(str(path), show_progress=False))
        except Exception as exc:  # noqa: BLE001 - bm25s raises many kinds on bad files
            raise IndexCorruptError(f"{path}: unreadable bm25 index ({type(exc).__name__}: {exc})") from None

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
        """BM25 score of every document for `query` (zeros when no word is known)."""
        tokens = [t for t in self.tokenize([query])[0] if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def save(self, path: Path) -> None:
        self._bm25.save(str(path), show_progress=False)


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
    passages: list[Passage]
    vectors: VectorStore
    lexical: LexicalIndex

    @property
    def model_id(self) -> str:
        return str(self.manifest["model"])


def passage_to_json(passage: Passage) -> str:
    return json.dumps(dataclasses.asdict(passage), ensure_ascii=False)


def passage_from_json(line: str) -> Passage:
    data = json.loads(line)
    data["speakers"] = tuple(data["speakers"])
    data["guests"] = tuple(data.get("guests") or ())
    data["line_starts"] = tuple(data.get("line_starts") or ())
    return Passage(**data)


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
    vectors.save(building / VECTORS)
    lexical.save(building / LEXICAL)
    with open(building / PASSAGES, "w", encoding="utf-8") as handle:
        for passage in passages:
            handle.write(passage_to_json(passage) + "\n")
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
    count = int(manifest["count"])
    for name in (VECTORS, PASSAGES, LEXICAL):
        if not (directory / name).exists():
            raise IndexCorruptError(f"{directory / name}: missing; rebuild the index with `rag ingest`")
    vectors = FaissStore.load(directory / VECTORS)
    passages: list[Passage] = []
    with open(directory / PASSAGES, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            try:
                passages.append(passage_from_json(line))
            except (json.JSONDecodeError, TypeError, KeyError) as exc:
                raise IndexCorruptError(f"{directory / PASSAGES}:{lineno}: bad passage ({exc})") from None
    lexical = LexicalIndex.load(directory / LEXICAL)
    for what, n in (("vectors", len(vectors)), ("passages", len(passages)), ("bm25 documents", len(lexical))):
        if n != count:
            raise IndexCorruptError(f"{directory}: manifest says {count} passages but found {n} {what}")
    if vectors.dim != int(manifest.get("dim", vectors.dim)):
        raise IndexCorruptError(f"{directory}: manifest says dim {manifest['dim']} but vectors have {vectors.dim}")
    return Index(directory, manifest, passages, vectors, lexical)
