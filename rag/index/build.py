"""Corpus sources -> a saved index: parse, chunk, embed (through the cache), index.

    from rag.index.embedding import HashingEmbedder
    report = ingest(["tests/data/corpus"], "/tmp/idx", HashingEmbedder())
    report.summary()
    # 'indexed 4 episodes, 196 passages (196 embedded, 0 from cache); skipped 0, repaired 0, ...'

`ingest_shard` embeds one shard of the passages into the cache and builds no index;
the next `ingest` of the same sources (the merge) finds those vectors there:

    ingest_shard(["tests/data/corpus"], HashingEmbedder(), Shard(1, 2), cache_dir="/tmp/cache").summary()
    # 'shard 1/2: embedded 59 passages into /tmp/cache/hashing-256.shard-1-of-2.npz (0 of its 59 ...'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rag.errors import CorpusError, IndexCorruptError, IndexMissingError
from rag.index.backend import Backend
from rag.index.chunking import Passage, chunk_episode, embedding_text
from rag.index.embedding import Embedder, EmbedderSpec, EmbeddingCache, Shard, embedder_key, text_key
from rag.index.embedding.cache import other_recipe_files, shard_files
from rag.index.embedding.workers import fill_cache
from rag.index.files import BUILTIN, lock_index, read_manifest, save_index, save_manifest_only
from rag.index.lexical import LexicalIndex
from rag.index.reports import IngestReport, ShardReport
from rag.index.vectors import FaissStore
from rag.limits import check_podcast_name
from rag.sources.episode import Episode, FileNote
from rag.sources.fetch import PrivateHosts
from rag.sources.git import public_source
from rag.sources.load import Corpus, load_corpus

LINE_LABELS = 2


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
            # How a passage writes its lines: 2 since lines without a speaker are their words
            # alone (no "Unknown speaker: "). An index of the old writing is rebuilt, from
            # the embedding cache for every passage whose text did not change.
            "line_labels": LINE_LABELS,
        }


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


@dataclass(frozen=True)
class _Run:
    """What one ingest was asked to do, handed to each of its steps."""

    sources: Sequence[str | Path]
    cache_dir: Path
    settings: ChunkSettings
    show_progress: bool
    on_note: Callable[[FileNote], None] | None
    progress: Callable[[str], None]
    workers: int
    spec: EmbedderSpec | None
    vector_index: str = "auto"
    podcast_name: str | None = None  # None: keep the index's
    allow_private_hosts: PrivateHosts = False  # feeds may be fetched from loopback/private addresses
    backend: Backend | None = None  # None: the index's own, else the built-in one

    @property
    def shown_sources(self) -> list[str]:
        return [public_source(str(s)) for s in self.sources]


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
    workers: int = 1,
    spec: EmbedderSpec | None = None,
    name: str | None = None,
    allow_private_hosts: PrivateHosts = False,
    backend: Backend | None = None,
) -> IngestReport:
    """Build (or refresh) the index at `index_dir` from `sources`.

    `name` is what the app and the LLM's instructions call the podcast; None keeps the
    name the index already has (if any). A new name rebuilds an unchanged corpus.

    The whole ingest holds the index's lock (`lock_index`): a second ingest into the
    same index raises `IndexBusyError` at once and leaves this one untouched.
    `on_progress` receives one-line status texts (for a page that shows the build).
    Sources are shown and recorded without URL credentials (`public_source`).
    Passages the cache lacks are embedded by `embedder`, or with `workers` > 1 by that
    many processes, each building its own from `spec` (`fill_cache`). Vectors that
    `ingest_shard` runs left in the cache folder are used, then folded into the main
    cache. `vector_index` is "auto" (exact below `rag.index.ANN_ABOVE` passages, IVF
    above), "flat", "ivf" or "hnsw". Feeds are fetched from public addresses only unless
    `allow_private_hosts` (`rag.sources.fetch.forbidden_address`). `backend` None keeps
    the index's (`Backend`; a new index: the built-in one). Returns a report; raises
    `CorpusError` when no episode could be indexed.
    """
    index_dir = Path(index_dir)
    run = _Run(sources, Path(cache_dir) if cache_dir else index_dir.parent / "cache", settings, show_progress,
               on_note, on_progress or (lambda text: None), workers, spec, vector_index,
               check_podcast_name(name) if name is not None else None, allow_private_hosts, backend)
    with lock_index(index_dir, public_source(" ".join(sys.argv))):
        return _ingest_locked(run, index_dir, embedder, force)


def ingest_shard(
    sources: Sequence[str | Path],
    embedder: Embedder,
    shard: Shard,
    *,
    cache_dir: str | Path,
    settings: ChunkSettings = ChunkSettings(),
    show_progress: bool = False,
    on_note: Callable[[FileNote], None] | None = None,
    workers: int = 1,
    spec: EmbedderSpec | None = None,
    allow_private_hosts: PrivateHosts = False,
    index_dir: str | Path | None = None,
    backend: Backend | None = None,
) -> ShardReport:
    """Embed shard `shard` of the passages of `sources` into `cache_dir`; build no index.

    Reads and cuts the whole corpus (cheap, and the same on every machine), then embeds
    the passages whose text hash falls in the shard (`Shard.holds`) and that the cache
    lacks, into the shard's own cache file. Takes no lock: shards run at once, on one
    machine or many sharing `cache_dir`. `ingest` with the same sources merges them.
    For a Milvus index (`backend`, or the one at `index_dir` has), each shard also writes
    its passages into the collection every shard of the build shares, and the shard that
    completes it publishes it and writes the manifest at `index_dir`: no merge step.
    """
    started = time.perf_counter()
    run = _Run(sources, Path(cache_dir), settings, show_progress, on_note, lambda text: None, workers, spec,
               allow_private_hosts=allow_private_hosts)
    corpus = _read_corpus(run)
    passages = _cut_passages(run, corpus, embedder)
    texts = _embedding_texts(passages, run.settings)
    mine = [text for text in dict.fromkeys(texts) if shard.holds(text_key(text))]
    cache = EmbeddingCache(run.cache_dir, embedder_key(embedder), shard=shard)
    embedded = _embed(run, cache, embedder, mine)
    written = None
    if index_dir is not None:
        existing = _existing_manifest(Path(index_dir))
        chosen = (backend or Backend.of_manifest(existing)).for_index(Path(index_dir))
        if chosen.name == "milvus":
            run = dataclasses.replace(run, backend=chosen)
            written = _write_shard_rows(run, Path(index_dir), corpus, passages, texts, embedder, cache, shard, existing)
    return ShardReport(shard, len(corpus.episodes), len(mine), embedded, cache.write_path,
                       time.perf_counter() - started, written)


def _write_shard_rows(run: _Run, index_dir: Path, corpus: Corpus, passages: list[Passage], texts: list[str],
                      embedder: Embedder, cache: EmbeddingCache, shard: Shard, existing: dict | None) -> tuple[int, bool]:
    """This shard's passages into the build's shared Milvus generation; publishes it when
    it is complete. Returns the rows written and whether it was published."""
    from rag.index.milvus.collection import rows, term_counts, write_shard

    mine = [i for i, text in enumerate(texts) if shard.holds(text_key(text))]
    codes: dict[str, int] = {}
    for passage in passages:
        codes.setdefault(passage.episode_id, len(codes))
    lexical = [lexical_text(p) for p in passages]
    manifest = _manifest(run, corpus, embedder, existing)
    fingerprints = {episode.id: episode.fingerprint() for episode in corpus.episodes}
    new_rows = rows([passages[i] for i in mine], cache.lookup([texts[i] for i in mine], embedder.dim),
                    [lexical[i] for i in mine], fingerprints, positions=mine, codes=codes)
    assert run.backend is not None
    written, entry = write_shard(str(run.backend.uri), str(run.backend.collection), build_key(manifest), embedder.dim,
                                 len(passages), new_rows, term_counts(lexical))
    if entry is not None:
        save_manifest_only(index_dir, {**manifest, "milvus": entry}, embedder.dim, len(passages))
    return written, entry is not None


def build_key(manifest: dict) -> str:
    """What names one build's shared generation: everything the index is built from."""
    built_from = {key: value for key, value in manifest.items() if key not in ("sources", "podcast")}
    return hashlib.sha256(json.dumps(built_from, sort_keys=True).encode()).hexdigest()


def _ingest_locked(run: _Run, index_dir: Path, embedder: Embedder, force: bool) -> IngestReport:
    started = time.perf_counter()
    corpus = _read_corpus(run)
    report = IngestReport(episodes=len(corpus.episodes), notes=list(corpus.notes))
    existing = _existing_manifest(index_dir)
    run = dataclasses.replace(run, backend=(run.backend or Backend.of_manifest(existing)).for_index(index_dir))
    manifest = _manifest(run, corpus, embedder, existing)
    if not force and existing is not None and _up_to_date(existing, manifest):
        report.passages, report.up_to_date = int(existing["count"]), True
        if shard_files(run.cache_dir, embedder_key(embedder)):
            EmbeddingCache(run.cache_dir, embedder_key(embedder)).save()  # fold in what shard runs left
    else:
        passages = _cut_passages(run, corpus, embedder)
        texts = _embedding_texts(passages, run.settings)
        cache = EmbeddingCache(run.cache_dir, embedder_key(embedder))
        report.passages, report.embedded = len(passages), _embed(run, cache, embedder, texts)
        report.from_cache = len(passages) - report.embedded
        fingerprints = {episode.id: episode.fingerprint() for episode in corpus.episodes}
        written = _write_index(run, index_dir, passages, cache.lookup(texts, embedder.dim), manifest,
                               fingerprints, None if force else existing)
        report.updated_in_place = written
    # An older recipe's vectors take as much room as the current ones and are never read again.
    for path in other_recipe_files(run.cache_dir, embedder_key(embedder)):
        path.unlink(missing_ok=True)
        report.removed_cache_files.append(path)
    report.seconds = time.perf_counter() - started
    return report


def _read_corpus(run: _Run) -> Corpus:
    """Parse every source; pass each file's note on; at least one episode or `CorpusError`."""
    run.progress(f"reading transcripts from {', '.join(run.shown_sources)}")
    corpus: Corpus = load_corpus(run.sources, clone_dir=run.cache_dir / "git", show_progress=run.show_progress,
                                 fetched_dir=run.cache_dir / "fetched", allow_private_hosts=run.allow_private_hosts)
    if run.on_note:
        for note in corpus.notes:
            run.on_note(note)
    if not corpus.episodes:
        raise CorpusError(f"no episode could be indexed from {', '.join(run.shown_sources)}")
    return corpus


def _manifest(run: _Run, corpus: Corpus, embedder: Embedder, existing: dict | None) -> dict:
    """What the index is built from; an index whose manifest matches it is up to date.
    Without a new name, the `existing` index's name is kept."""
    manifest = {
        "model": embedder.model_id,
        "embedder": embedder_key(embedder),  # model + recipe: a new recipe rebuilds the index
        "episodes": len(corpus.episodes),
        "corpus_fingerprint": corpus_fingerprint(corpus.episodes),
        "chunking": run.settings.as_dict(embedder),
        "sources": run.shown_sources,
        "vector_request": run.vector_index,  # asking for another kind rebuilds an unchanged corpus
    }
    if run.backend is not None and run.backend.name != BUILTIN:  # another engine or alias rebuilds
        manifest["backend"] = run.backend.name
        manifest["engine"] = run.backend.manifest_entry()
    name = run.podcast_name if run.podcast_name is not None else (existing or {}).get("podcast")
    if name:
        manifest["podcast"] = name
    # The trained relevance model outlives a rebuild: it learned the show, not this exact
    # list of episodes. Search checks at load that it still fits (rag.search.relevance.check_model).
    if (existing or {}).get("relevance"):
        manifest["relevance"] = existing["relevance"]  # type: ignore[index]
    return manifest


def _existing_manifest(index_dir: Path) -> dict | None:
    """The manifest of the index already at `index_dir`; None when there is none to reuse."""
    try:
        return read_manifest(index_dir)
    except (IndexMissingError, IndexCorruptError):
        return None


def _cut_passages(run: _Run, corpus: Corpus, embedder: Embedder) -> list[Passage]:
    run.progress(f"cutting {len(corpus.episodes)} episodes into passages")
    return chunk_corpus(corpus.episodes, embedder, run.settings)


def _embedding_texts(passages: Sequence[Passage], settings: ChunkSettings) -> list[str]:
    return [embedding_text(p, settings.with_context) for p in passages]


def _embed(run: _Run, cache: EmbeddingCache, embedder: Embedder, texts: list[str]) -> int:
    return fill_cache(cache, texts, embedder, workers=run.workers, spec=run.spec,
                      show_progress=run.show_progress, on_progress=run.progress)


def _write_index(run: _Run, index_dir: Path, passages: list[Passage], vectors: np.ndarray, manifest: dict,
                 fingerprints: dict[str, str], existing: dict | None) -> tuple[int, int] | None:
    """Write the index; for a Milvus index built the same way as `existing`, only what
    changed (returns how many episodes were dropped and written then, else None)."""
    run.progress("writing the index")
    if run.backend is not None and run.backend.name == "milvus":
        from rag.index.milvus.collection import published_shards, rows, term_counts, update_in_place, write_index

        texts = [lexical_text(p) for p in passages]
        changed = None
        counts = term_counts(texts)
        shards = published_shards(str(run.backend.uri), str(run.backend.collection), build_key(manifest),
                                  len(passages), counts)
        if shards is not None:  # `--shard` runs wrote it all: nothing left to write
            entry = shards
        elif _updatable(existing, manifest):
            entry, *counts = update_in_place(existing["milvus"], passages, vectors, texts, fingerprints)  # type: ignore[index]
            changed = (counts[0], counts[1])
        else:
            entry = write_index(str(run.backend.uri), str(run.backend.collection), int(vectors.shape[1]), len(passages),
                                rows(passages, vectors, texts, fingerprints), counts)
        save_manifest_only(index_dir, {**manifest, "milvus": entry}, int(vectors.shape[1]), len(passages))
        return changed
    save_index(
        index_dir,
        passages,
        FaissStore.build(vectors, run.vector_index),
        LexicalIndex.build([lexical_text(p) for p in passages]),
        manifest,
    )


def _updatable(existing: dict | None, manifest: dict) -> bool:
    """A Milvus index that only its episodes set apart from `manifest`: updated in place."""
    corpus_keys = ("episodes", "corpus_fingerprint", "sources", "podcast")
    return (existing is not None and isinstance(existing.get("milvus"), dict) and "positions" in existing["milvus"]
            and all(existing.get(key) == value for key, value in manifest.items() if key not in corpus_keys))


def _up_to_date(existing: dict, manifest: dict) -> bool:
    return all(existing.get(key) == value for key, value in manifest.items() if key != "sources")
