"""The on-disk index: vectors (+ a FAISS index), a bm25s lexical index, passages and a manifest.

One directory per index:

    DIR/vectors.npy      unit vectors, float32, memory-mapped; inner product = cosine
    DIR/faiss.index      the approximate index over them, for an ANN kind ("ivf", "hnsw") only
    DIR/bm25/            the bm25s index (its own files, memory-mapped)
    DIR/passages.sqlite  one Passage per row, in vector order (`rag.index.store`)
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
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from rag.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index.chunking import Passage
from rag.index.lexical import LexicalIndex, LexicalSearch
from rag.index.store import PassageStore, write_passages
from rag.index.vectors import VECTOR_ARRAY, FaissStore, VectorStore
from rag.limits import MAX_PODCAST_NAME_CHARS

BUILTIN = "builtin"  # the index in its own files; "milvus": in a Milvus collection (rag.index.milvus)
FORMAT_VERSION = 4  # 2: passages carry each line's second; 3: passages in SQLite, vectors.npy, ANN kinds; 4: episode descriptions

MANIFEST = "manifest.json"

PASSAGES = "passages.sqlite"

LEXICAL = "bm25"


@dataclass
class Index:
    directory: Path
    manifest: dict[str, Any]
    passages: PassageStore
    vectors: VectorStore
    lexical: LexicalSearch

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
    if len(vectors) != len(passages) or len(lexical) != len(passages):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors and {len(lexical)} bm25 documents")

    def write_files(building: Path) -> dict[str, Any]:
        lexical.save(building / LEXICAL)
        write_passages(building / PASSAGES, passages)
        return {"vectors": vectors.save(building)}

    return _swap_in(Path(directory), manifest, vectors.dim, len(passages), write_files)


def save_manifest_only(directory: str | Path, manifest: dict[str, Any], dim: int, count: int) -> Path:
    """The index directory of an index whose data lives in an engine (`rag.index.milvus`):
    its manifest alone, swapped in as `save_index` swaps a whole index."""
    return _swap_in(Path(directory), manifest, dim, count, lambda building: {})


def _swap_in(directory: Path, manifest: dict[str, Any], dim: int, count: int,
             write_files: Callable[[Path], dict[str, Any]]) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted_swap(directory)
    building = directory.with_name(f".{directory.name}.building-{os.getpid()}")
    if building.exists():
        shutil.rmtree(building)
    building.mkdir()
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "dim": dim,
        "count": count,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest.update(write_files(building))
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
    count = manifest["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise IndexCorruptError(f"{directory / MANIFEST}: 'count' is {count!r:.40}, not a number of passages")
    dim = manifest.get("dim")
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 1):
        raise IndexCorruptError(f"{directory / MANIFEST}: 'dim' is {dim!r:.40}, not a vector dimension")
    if not isinstance(manifest.get("vectors") or {}, Mapping):
        raise IndexCorruptError(f"{directory / MANIFEST}: 'vectors' is not a mapping")
    if manifest.get("backend", BUILTIN) != BUILTIN:
        return _load_from_engine(directory, manifest)
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


def _load_from_engine(directory: Path, manifest: dict[str, Any]) -> Index:
    if manifest.get("backend") != "milvus":
        raise IndexCorruptError(f"{directory / MANIFEST}: unknown backend {str(manifest.get('backend'))!r:.40}")
    if not isinstance(manifest.get("dim"), int):
        raise IndexCorruptError(f"{directory / MANIFEST}: 'dim' is missing")
    from rag.index.milvus.reader import open_milvus_index

    passages, vectors, lexical = open_milvus_index(manifest)
    return Index(directory, manifest, passages, vectors, lexical)  # type: ignore[arg-type]
