"""Assembly: a `Config` in, the working parts out. The CLI, the web app, the eval scripts
and the benchmarks build their embedders, `Searcher`s and `Answerer`s here and nowhere else.

    ingest_embedder(config)   the embedder `rag ingest` builds an index with
    ingest_spec(config)       the same as a picklable spec, for embedding worker processes
    query_embedder(index, c)  the embedder an index's questions need (the model it records)
    open_searcher(config)     load the index once, with its query embedder
    open_answerer(config)     a searcher, the LLM (or none), re-ranker, thresholds and limits
    podcast_name(config, idx) what the page and the LLM's instructions call the podcast

    >>> ingest_embedder(Config(model="hashing-64")).model_id
    'hashing-64'
    >>> from pathlib import Path
    >>> open_answerer(Config(index_dir=Path("no/such/index")))
    Traceback (most recent call last):
    ...
    rag.errors.IndexMissingError: no index at no/such/index: build it with `rag ingest CORPUS --index no/such/index`
"""

from __future__ import annotations

import logging
from typing import Any

from rag.answers.answerer import Answerer
from rag.answers.openai_chat import OpenAIChat
from rag.answers.rerank import LLMReranker
from rag.config import Config
from rag.index.embedding import Embedder, EmbedderSpec, make_embedder
from rag.index.files import Index, load_index
from rag.limits import DEFAULT_PODCAST_NAME
from rag.search.relevance import load_relevance_model
from rag.search.searcher import Searcher

log = logging.getLogger(__name__)


def ingest_embedder(config: Config, *, show_progress: bool = False) -> Embedder:
    """The configured model (`Config.model`) at the configured precision (`Config.quantize`)."""
    return ingest_spec(config).build(show_progress=show_progress)


def ingest_spec(config: Config) -> EmbedderSpec:
    """`ingest_embedder`'s model, precision and export cache, for a worker process to build it from.

    >>> ingest_spec(Config(model="hashing-64"))
    EmbedderSpec(model='hashing-64', quantize='int8', cache_dir=None)
    """
    return EmbedderSpec(config.model, config.quantize, str(config.cache_dir) if config.cache_dir else None)


def query_embedder(index: Index, config: Config) -> Embedder:
    """The model the index was built with, as its manifest records it (`+onnx-int8` included)."""
    return make_embedder(index.model_id, cache_dir=config.cache_dir)


def open_searcher(config: Config, *, mode: str = "hybrid", **options: Any) -> Searcher:
    """Load `config.index_dir` (checked against `config.expected_model`), its query embedder
    and the relevance model its manifest names (unless `config.relevance_model` is off).

    `options` are `Searcher` keyword arguments (`focus_episodes=0`, `locate=False`, ...).
    A relevance model that cannot serve the index is left out with one line in
    `Searcher.notes`; the search ranks as it would without one.
    """
    index = load_index(config.index_dir, expected_model=config.expected_model)
    notes: list[str] = []
    if config.relevance_model and "relevance" not in options:
        options["relevance"] = load_relevance_model(config.index_dir, index.manifest,
                                                    [info.id for info in index.passages.episodes], notes)
    searcher = Searcher(index, query_embedder(index, config), mode=mode, **options)
    searcher.notes = tuple(notes)
    for note in notes:
        # Once per load, on stderr (the CLI, eval scripts) or in the app's log.
        log.warning("%s", note)
    return searcher


def open_answerer(config: Config) -> Answerer:
    """The answer stage over the configured index: the configured LLM (none: extractive
    answers), the LLM re-ranker when `rerank_with_llm`, the refusal thresholds given in
    the config (else rag.answers.answerer's calibrated values) and the input limits."""
    llm = OpenAIChat(config.llm) if config.llm.configured else None
    reranker = LLMReranker(llm) if llm is not None and config.rerank_with_llm else None
    thresholds = {
        name: value
        for name, value in (
            ("refusal_min_cosine", config.refusal_min_cosine),
            ("refusal_min_coverage", config.refusal_min_coverage),
        )
        if value is not None
    }
    searcher = open_searcher(config)
    return Answerer(searcher, llm, reranker=reranker, limits=config.limits,
                    podcast=podcast_name(config, searcher.index), **thresholds)


def podcast_name(config: Config, index: Index | None = None) -> str:
    """`Config.podcast_name` (RAG_PODCAST_NAME), else the name `index` was built with
    (`rag ingest --name`), else "the podcast".

    >>> podcast_name(Config(podcast_name="Hard Fork")), podcast_name(Config())
    ('Hard Fork', 'the podcast')
    """
    return config.podcast_name or (index.podcast_name if index is not None else "") or DEFAULT_PODCAST_NAME

