"""Corpus sources -> a saved index: parse, chunk, embed (through the cache), index.

    from rag.embedding import HashingEmbedder
    report = ingest(["tests/data/corpus"], "/tmp/idx", HashingEmbedder())
    report.summary()
    # 'indexed 4 episodes, 196 passages (196 embedded, 0 from cache); skipped 0, repaired 0, ...'
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

from rag.chunking import Passage, chunk_episode, embedding_text
from rag.corpus import Corpus, Episode, FileNote, load_corpus, public_source
from rag.embedding import Embedder, EmbeddingCache, embedder_key
from rag.errors import CorpusError, IndexCorruptError, IndexMissingError
from rag.index import FaissStore, LexicalIndex, lock_index, read_manifest, save_index


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int | None = None  # None: the embedder's own limit
    overlap_lines: int = 0
    with_context: bool = True  # embed "title | section" with the passage text

    def as_dict(self, embedder: Embedder) -> dict:
        return {
            "max_tokens": self.max_tokens or embedder.max_tokens,
            "overlap_lines": self.overlap_lines,
            "with_context": self.with_context,
        }


@dataclass
class IngestReport:
    episodes: int = 0
    passages: int = 0
    embedded: int = 0
    from_cache: int = 0
    seconds: float = 0.0
    up_to_date: bool = False
    notes: list[FileNote] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for note in self.notes if note.action == action)

    def summary(self) -> str:
        skipped = self.count("skipped") + self.count("error")
        head = (
            f"index up to date: {self.episodes} episodes, {self.passages} passages"
            if self.up_to_date
            else f"indexed {self.episodes} episodes, {self.passages} passages "
            f"({self.embedded} embedded, {self.from_cache} from cache)"
        )
        return (
            f"{head}; skipped {skipped}, repaired {self.count('repaired')}, "
            f"duplicates {self.count('duplicate')} in {self.seconds:.1f}s"
        )


def corpus_fingerprint(episodes: Sequence[Episode]) -> str:
    """Hash of everything the episodes bring to the index (`Episode.fingerprint`), in id order."""
    digest = hashlib.sha256()
    for episode in sorted(episodes, key=lambda e: e.id):
        digest.update(episode.fingerprint().encode())
    return digest.hexdigest()


def chunk_corpus(episodes: Sequence[Episode], embedder: Embedder, settings: ChunkSettings) -> list[Passage]:
    max_tokens = settings.max_tokens or embedder.max_tokens
    passages: list[Passage] = []
    for episode in episodes:
        passages.extend(
            chunk_episode(
                episode,
                embedder.count_tokens,
                max_tokens,
                overlap_lines=settings.overlap_lines,
                with_context=settings.with_context,
            )
        )
    return passages


def lexical_text(passage: Passage) -> str:
    """BM25 sees the passage plus who it is with, so a guest's name finds their episode."""
    return f"{passage.episode_title}\n{' '.join(passage.guests)}\n{passage.text}"


def ingest(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    embedder: Embedder,
    *,
    settings: ChunkSettings = ChunkSettings(),
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    force: bool = False,
    vector_index: str = "auto",
    on_note: Callable[[FileNote], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> IngestReport:
    """Build (or refresh) the index at `index_dir` from `sources`.

    The whole ingest holds the index's lock (`lock_index`): a second ingest into the
    same index raises `IndexBusyError` at once and leaves this one untouched.
    `on_progress` receives one-line status texts (for a page that shows the build).
    Sources are shown and recorded without URL credentials (`public_source`).
    `vector_index` is "auto" (exact below `rag.index.ANN_ABOVE` passages, IVF above),
    "flat", "ivf" or "hnsw".
    Returns a report; raises `CorpusError` when no episode could be indexed.
    """
    index_dir = Path(index_dir)
    with lock_index(index_dir, public_source(" ".join(sys.argv))):
        return _ingest_locked(sources, index_dir, embedder, settings=settings, cache_dir=cache_dir,
                              show_progress=show_progress, force=force, vector_index=vector_index,
                              on_note=on_note, on_progress=on_progress)


def _ingest_locked(
    sources: Sequence[str | Path],
    index_dir: Path,
    embedder: Embedder,
    *,
    settings: ChunkSettings,
    cache_dir: str | Path | None,
    show_progress: bool,
    force: bool,
    vector_index: str,
    on_note: Callable[[FileNote], None] | None,
    on_progress: Callable[[str], None] | None,
) -> IngestReport:
    progress = on_progress or (lambda text: None)
    started = time.perf_counter()
    shown_sources = [public_source(str(s)) for s in sources]
    progress(f"reading transcripts from {', '.join(shown_sources)}")
    cache_dir = Path(cache_dir) if cache_dir else index_dir.parent / "cache"
    corpus: Corpus = load_corpus(sources, clone_dir=cache_dir / "git", show_progress=show_progress)
    report = IngestReport(notes=list(corpus.notes))
    if on_note:
        for note in corpus.notes:
            on_note(note)
    if not corpus.episodes:
        raise CorpusError(f"no episode could be indexed from {', '.join(shown_sources)}")

    manifest = {
        "model": embedder.model_id,
        "embedder": embedder_key(embedder),  # model + recipe: a new recipe rebuilds the index
        "episodes": len(corpus.episodes),
        "corpus_fingerprint": corpus_fingerprint(corpus.episodes),
        "chunking": settings.as_dict(embedder),
        "sources": shown_sources,
        "vector_request": vector_index,  # asking for another kind rebuilds an unchanged corpus
    }
    if not force and _up_to_date(index_dir, manifest):
        existing = read_manifest(index_dir)
        report.episodes, report.passages, report.up_to_date = len(corpus.episodes), int(existing["count"]), True
        report.seconds = time.perf_counter() - started
        return report

    progress(f"cutting {len(corpus.episodes)} episodes into passages")
    passages = chunk_corpus(corpus.episodes, embedder, settings)
    cache = EmbeddingCache(cache_dir, embedder_key(embedder))
    texts = [embedding_text(p, settings.with_context) for p in passages]
    cached_before = len(cache)
    vectors = _embed_in_batches(cache, embedder, texts, show_progress, progress)
    cache.save()
    progress("writing the index")
    report.embedded = len(cache) - cached_before
    report.from_cache = len(passages) - report.embedded

    save_index(
        index_dir,
        passages,
        FaissStore.build(vectors, vector_index),
        LexicalIndex.build([lexical_text(p) for p in passages]),
        manifest,
    )
    report.episodes, report.passages = len(corpus.episodes), len(passages)
    report.seconds = time.perf_counter() - started
    return report


def _embed_in_batches(cache: EmbeddingCache, embedder: Embedder, texts: list[str], show_progress: bool,
                      progress: Callable[[str], None]):  # type: ignore[no-untyped-def]
    import numpy as np

    batch = 256
    parts = []
    with tqdm(total=len(texts), desc="embedding", unit="passage", disable=not show_progress) as bar:
        for start in range(0, len(texts), batch):
            progress(f"embedding passages: {start:,} of {len(texts):,}")
            parts.append(cache.embed(embedder, texts[start : start + batch]))
            bar.update(min(batch, len(texts) - start))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def _up_to_date(index_dir: Path, manifest: dict) -> bool:
    try:
        existing = read_manifest(index_dir)
    except (IndexMissingError, IndexCorruptError):
        return False
    return all(existing.get(key) == value for key, value in manifest.items() if key != "sources")
