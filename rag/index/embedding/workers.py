"""Fill an `EmbeddingCache` with the vectors of texts it lacks: here, or in worker processes.

The texts are cut into batches of `BATCH` (the same cut either way, so a
deterministic embedder gives identical vectors). With `workers=1` this process
embeds them; with more, each batch goes to one of N spawned processes, each
building its own embedder from an `EmbedderSpec` and using its share of the cores.
Finished batches go into the cache as they arrive, and the cache is saved even when
a batch fails or a worker dies, so a re-run embeds only what is still missing.

    from rag.index.embedding import EmbedderSpec, EmbeddingCache, HashingEmbedder
    cache = EmbeddingCache("/tmp/cache", "hashing-64")
    fill_cache(cache, ["a text", "another"], HashingEmbedder(dim=64), workers=2, spec=EmbedderSpec("hashing-64"))
    # -> 2 (texts embedded, by one worker: two texts make one batch); cache.lookup(texts, 64) has them
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from rag.errors import EmbedderError
from rag.index.embedding import Embedder, EmbedderSpec
from rag.index.embedding.cache import EmbeddingCache, embedder_key, text_key

BATCH = 256  # texts per batch: what one worker task embeds and one progress step counts


@dataclass(frozen=True)
class Batch:
    texts: list[str]  # distinct texts the cache lacks, first seen here
    covers: int  # input texts this batch stands for (cached ones included), for the progress bar


def plan_batches(cache: EmbeddingCache, texts: Sequence[str], size: int = BATCH) -> list[Batch]:
    """Cut `texts` into runs of `size`; each batch holds what its run needs embedded."""
    planned: set[str] = set()
    batches = []
    for start in range(0, len(texts), size):
        run = texts[start : start + size]
        todo = [text for text in dict.fromkeys(run) if text_key(text) not in planned and not cache.has(text)]
        planned.update(text_key(text) for text in todo)
        batches.append(Batch(todo, len(run)))
    return batches


def fill_cache(
    cache: EmbeddingCache,
    texts: Sequence[str],
    embedder: Embedder,
    *,
    workers: int = 1,
    spec: EmbedderSpec | None = None,
    batch_size: int = BATCH,
    show_progress: bool = False,
    on_progress: Callable[[str], None] | None = None,
) -> int:
    """Embed the `texts` the cache lacks into it and save it; return how many were embedded.

    `workers` > 1 needs `spec`, from which each worker builds its embedder (it must
    give `embedder`'s key). Raises `EmbedderError` when a worker process dies, naming
    what was kept; the cache is saved before any error leaves. Workers are spawned, so
    they import the caller's main module: a script needs `if __name__ == "__main__":`.
    """
    if workers > 1 and spec is None:
        raise ValueError("embedding in worker processes needs the embedder's EmbedderSpec")
    batches = plan_batches(cache, texts, batch_size)
    wanted = sum(len(batch.texts) for batch in batches)
    bar = tqdm(total=len(texts), desc="embedding", unit="passage", disable=not show_progress)
    progress = _Progress(bar, len(texts), on_progress or (lambda text: None))
    try:
        if workers > 1 and wanted:
            _embed_in_workers(cache, batches, spec, workers, progress)  # type: ignore[arg-type]
        else:
            for batch in batches:
                if batch.texts:
                    cache.add(batch.texts, embedder.embed(batch.texts))
                progress.advance(batch.covers)
    finally:
        bar.close()
        cache.save()
    return wanted


@dataclass
class _Progress:
    bar: tqdm
    total: int
    report: Callable[[str], None]
    done: int = 0

    def __post_init__(self) -> None:
        self.report(f"embedding passages: 0 of {self.total:,}")

    def advance(self, covered: int) -> None:
        self.done += covered
        self.bar.update(covered)
        if covered and self.done < self.total:  # the next status line is the caller's
            self.report(f"embedding passages: {self.done:,} of {self.total:,}")


def worker_threads(workers: int) -> int:
    """Threads per worker so that N workers together use each core once."""
    return max(1, (os.cpu_count() or 1) // workers)


def _embed_in_workers(cache: EmbeddingCache, batches: list[Batch], spec: EmbedderSpec, workers: int,
                      progress: _Progress) -> None:
    todo = [batch for batch in batches if batch.texts]
    progress.advance(sum(batch.covers for batch in batches if not batch.texts))
    # spawn, not fork: a forked child would inherit this process's ONNX Runtime and
    # torch thread pools and locks, which are not fork-safe.
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(spec, cache.key, worker_threads(workers)),
    )
    futures: dict[Future, Batch] = {}
    kept = 0
    try:
        futures.update({pool.submit(_embed_batch, batch.texts): batch for batch in todo})
        for future in as_completed(futures):
            batch = futures.pop(future)
            cache.add(batch.texts, future.result())
            kept += len(batch.texts)
            progress.advance(batch.covers)
    except BrokenProcessPool:
        # Batches that finished while the pool broke are kept too.
        for future, batch in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                cache.add(batch.texts, future.result())
                kept += len(batch.texts)
        raise EmbedderError(
            f"an embedding worker process died (killed, out of memory, or crashed in {spec.model}); "
            f"the {kept:,} passages embedded before it are kept in {cache.write_path}; run the same "
            "command again to embed the rest, with fewer --workers if memory is short"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# One worker process's state: its spec and, from its first batch on, its embedder.
# Built in the first task rather than in the initializer, so that a model that fails
# to load reaches the caller as that error, not as a broken pool.
_worker: dict = {}


def _start_worker(spec: EmbedderSpec, key: str, threads: int) -> None:
    _worker.update(spec=spec, key=key, threads=threads)


def _embed_batch(texts: list[str]) -> np.ndarray:
    embedder = _worker.get("embedder")
    if embedder is None:
        embedder = _worker["spec"].build(threads=_worker["threads"])
        if embedder_key(embedder) != _worker["key"]:
            raise EmbedderError(
                f"a worker built {embedder_key(embedder)!r} from {_worker['spec']}, not {_worker['key']!r}: "
                "its vectors would not fit the cache"
            )
        _worker["embedder"] = embedder
    return embedder.embed(texts)
