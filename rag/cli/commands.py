"""The `rag` command: ingest transcripts, search them.

Every `RagError` becomes one clean line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Sequence

import click

from rag.answers.answerer import Answer
from rag.answers.llm import Delta
from rag.cli.output import answer_to_json, echo, print_answer_end, print_hits
from rag.config import Config, load_config
from rag.errors import RagError
from rag.index.embedding import Shard
from rag.limits import Limits, check_question
from rag.pipeline import ingest_embedder, ingest_spec, open_answerer, open_searcher, query_embedder
from rag.search.hits import Filters, unmatched_filters
from rag.search.searcher import Searcher

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _config(ctx: click.Context) -> Config:
    return ctx.obj


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (or RAG_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Ask a podcast: find the moment a question was discussed, and answer from it."""
    try:
        ctx.obj = load_config(config_path)
    except RagError as exc:
        raise click.ClickException(str(exc)) from None


def _parse_shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Index directory [indexes/dtc].")
@click.option("--model", help="sentence-transformers model name or path [all-MiniLM-L6-v2].")
@click.option("--quantize", type=click.Choice(["int8", "fp32"]), help="Embedding precision [int8].")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False),
              help="Cache root: vectors and clones in it, the ONNX export in its onnx/ [<index parent>/cache; ~/.cache/podcast-rag].")
@click.option("--max-tokens", type=click.IntRange(min=32), help="Passage size in word pieces [model limit].")
@click.option("--overlap", type=click.IntRange(min=0), default=0, show_default=True, help="Lines repeated between passages.")
@click.option("--force", is_flag=True, help="Rebuild even when the corpus is unchanged.")
@click.option("--vector-index", type=click.Choice(["auto", "flat", "ivf", "hnsw"]), default="auto", show_default=True,
              help="Exact (flat) or approximate (ivf, hnsw) vector search; auto: IVF above 50k passages.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Embedding processes; each gets its share of the cores.")
@click.option("--shard", callback=_parse_shard, metavar="I/N",
              help="Only embed shard I of N (1 <= I <= N) into the cache; build no index.")
@click.option("--name", help="What the app and the LLM call the podcast, e.g. \"Hard Fork\" [the index's; \"the podcast\"].")
@click.option("--allow-private-hosts", is_flag=True,
              help="Fetch feeds and transcripts from loopback/private addresses too [RAG_ALLOW_PRIVATE_HOSTS or off].")
@click.option("--private-host", "private_hosts", multiple=True, metavar="HOST",
              help="Only this host may be on a private address (repeat) [RAG_PRIVATE_HOSTS].")
@click.option("--backend", type=click.Choice(["builtin", "milvus"]),
              help="Where the index lives: its own files, or a Milvus collection [the index's; builtin].")
@click.option("--milvus-uri", metavar="URI",
              help="A Milvus Lite file (*.db) or http(s)://host:19530, token in MILVUS_TOKEN [<index>-milvus.db].")
@click.option("--milvus-collection", metavar="NAME", help="The collection's alias [rag_<index name>].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or per-file notes.")
@click.pass_context
def ingest(
    ctx: click.Context, sources: Sequence[str], index_dir: str | None, model: str | None, quantize: str | None,
    cache_dir: str | None, max_tokens: int | None, overlap: int, force: bool, vector_index: str, workers: int,
    shard: Shard | None, name: str | None, allow_private_hosts: bool, private_hosts: Sequence[str],
    backend: str | None, milvus_uri: str | None, milvus_collection: str | None, quiet: bool,
) -> None:
    """Index episode transcripts from SOURCES.

    A source is a corpus folder (podcast/ + people/, or the website's _podcast/ +
    _people/), a folder of episode files, one episode file, a git URL, or a
    podcast's RSS feed (a file or an http(s) URL) whose items link Podcasting 2.0
    transcripts.

    With --shard I/N, embed only shard I of N into the cache folder (shared by all
    shards) and build no index; a plain ingest of the same SOURCES then merges the
    shards and builds it. For a Milvus index each shard also writes its passages into
    the collection, and the shard that completes it publishes it: no merge step.

    \b
    Example:
        rag ingest ../shared/corpus --index indexes/dtc
        rag ingest https://example.com/feed.xml --index indexes/mycast --name "My Show"
        rag ingest ../shared/corpus --index indexes/dtc --shard 1/2 --workers 2
        rag ingest ../shared/corpus --index indexes/dtc-milvus --backend milvus
    """
    from rag.index.backend import Backend
    from rag.index.build import ChunkSettings, ingest_shard
    from rag.index.build import ingest as run_ingest

    if shard is not None and (force or name is not None):
        raise click.UsageError("--force and --name are for the index, and a --shard run builds none; drop them")
    config = _config(ctx).with_overrides(index_dir=index_dir, model=model, quantize=quantize, cache_dir=cache_dir,
                                         allow_private_hosts=True if allow_private_hosts else None,
                                         private_hosts=private_hosts or None)
    common = dict(
        allow_private_hosts=config.private_fetches,
        settings=ChunkSettings(max_tokens=max_tokens, overlap_lines=overlap),
        cache_dir=config.effective_cache_dir,
        show_progress=not quiet,
        on_note=None if quiet else lambda note: echo(str(note), err=True),
        workers=workers,
        spec=ingest_spec(config),
    )
    try:
        embedder = ingest_embedder(config, show_progress=not quiet)
        chosen = (Backend(backend or "milvus", milvus_uri, milvus_collection)
                  if backend == "milvus" or milvus_uri or milvus_collection else Backend() if backend else None)
        if shard is not None:
            report = ingest_shard(sources, embedder, shard, index_dir=config.index_dir, backend=chosen, **common)
            echo(report.summary())  # type: ignore[arg-type]
            return
        report = run_ingest(sources, config.index_dir, embedder, force=force, vector_index=vector_index, name=name,
                            backend=chosen, **common)  # type: ignore[arg-type]
    except RagError as exc:
        raise click.ClickException(str(exc)) from None
    echo(f"{report.summary()} -> {config.index_dir}")


@cli.command()
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Index directory [indexes/dtc].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, the negatives and training.")
@click.option("--epochs", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many steps (a quick trial).")
@click.option("--max-pairs", type=click.IntRange(min=1), help="Train on at most this many pairs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def tune(ctx: click.Context, index_dir: str | None, seed: int, epochs: int, max_steps: int | None,
         max_pairs: int | None, quiet: bool) -> None:
    """Train the index's relevance model on its own transcripts (once; 30-40 min on 2 cores).

    Mines the interviewers' questions and the lines where their answers start,
    trains a cross-encoder from the packaged all-MiniLM-L6-v2 weights, exports it
    to int8, validates it on held-back episodes and records it in the index's
    manifest. Search then re-ranks its top moments and picks each link's line with it.

    \b
    Example:
        rag tune --index indexes/dtc
    """
    from pathlib import Path

    from rag.search.training import TuneSettings
    from rag.search.tune import tune_index

    config = _config(ctx).with_overrides(index_dir=index_dir)
    settings = TuneSettings(seed=seed, epochs=epochs, max_steps=max_steps, max_pairs=max_pairs)
    try:
        index = open_searcher(config).index
        embedder = query_embedder(index, config)
        report = tune_index(Path(config.index_dir), settings, embedder=embedder, show_progress=not quiet,
                            on_progress=(lambda _: None) if quiet else (lambda text: echo(text, err=True)))
    except RagError as exc:
        raise click.ClickException(str(exc)) from None
    echo(report.summary())


@cli.command()
@click.argument("question", required=False)
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Index directory [indexes/dtc].")
@click.option("-k", "k", type=click.IntRange(min=1, max=100), default=5, show_default=True, help="How many moments.")
@click.option("--episode", help="Only this episode (its id, the file name without .md).")
@click.option("--guest", help="Only episodes with this guest (part of the name).")
@click.option("--season", type=int, help="Only this season.")
@click.option("--mode", type=click.Choice(["hybrid", "dense", "lexical"]), default="hybrid", show_default=True)
@click.option("--model", help="Refuse an index built with another model (the model id its manifest records).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def search(
    ctx: click.Context,
    question: str | None,
    index_dir: str | None,
    k: int,
    episode: str | None,
    guest: str | None,
    season: int | None,
    mode: str,
    model: str | None,
    as_json: bool,
) -> None:
    """Find the moments where QUESTION was discussed (no QUESTION: ask interactively).

    \b
    Example:
        rag search "what are bloom filters used for?" -k 3
    """
    config = _config(ctx).with_overrides(index_dir=index_dir, expected_model=model)
    filters = Filters(episode=episode, guest=guest, season=season)
    try:
        if question is not None:
            question = check_question(question, config.limits)
        searcher = open_searcher(config, mode=mode)
        unmatched = unmatched_filters(filters, searcher.index.passages.episodes, str(config.index_dir))
        if unmatched:
            raise RagError(unmatched)
        if question is not None:
            print_hits(question, searcher.search(question, k, filters), as_json)
            return
        _interactive(searcher, k, filters, as_json, config.limits)
    except RagError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("question")
@click.option("--index", "index_dir", type=click.Path(file_okay=False), help="Index directory [indexes/dtc].")
@click.option("--episode", help="Only this episode (its id).")
@click.option("--guest", help="Only episodes with this guest.")
@click.option("--season", type=int, help="Only this season.")
@click.option("--history", multiple=True, help="An earlier user question (repeat, oldest first).")
@click.option("--llm-model", help="LLM model name [RAG_LLM_MODEL].")
@click.option("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
@click.option("--rerank/--no-rerank", default=None,
              help="Let the LLM re-rank the top moments first (one more LLM call) [RAG_LLM_RERANK or off].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of streamed text.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    index_dir: str | None,
    episode: str | None,
    guest: str | None,
    season: int | None,
    history: Sequence[str],
    llm_model: str | None,
    llm_base_url: str | None,
    rerank: bool | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the transcripts, citing episode, speaker and time.

    With no LLM configured the answer quotes the most relevant moments.

    \b
    Example:
        OPENAI_BASE_URL=http://localhost:11434/v1 RAG_LLM_MODEL=llama3.2 \\
            rag ask "Why did JigsawLabs drop Kubernetes?"
    """
    config = _config(ctx).with_overrides(index_dir=index_dir, rerank_with_llm=rerank).with_llm(llm_model, llm_base_url)
    try:
        answerer = open_answerer(config)
        filters = Filters(episode=episode, guest=guest, season=season)
        unmatched = unmatched_filters(filters, answerer.searcher.index.passages.episodes, str(config.index_dir))
        if unmatched:
            raise RagError(unmatched)
        final: Answer | None = None
        streamed = False
        for event in answerer.stream(question, list(history), filters):
            if isinstance(event, Delta):
                streamed = True
                if not as_json:
                    echo(event.text, nl=False)
            else:
                final = event
    except RagError as exc:
        raise click.ClickException(str(exc)) from None
    assert final is not None
    if as_json:
        click.echo(json.dumps(answer_to_json(final), ensure_ascii=False))
        return
    print_answer_end(final, streamed, llm_configured=config.llm.configured)


def _interactive(searcher: Searcher, k: int, filters: Filters, as_json: bool, limits: Limits) -> None:
    episodes = len(searcher.index.passages.episodes)
    echo(f"Searching {episodes} episodes ({len(searcher.index.passages)} passages). Empty line or Ctrl-D quits.")
    while True:
        try:
            question = input("question> ") if sys.stdin.isatty() else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            echo()
            return
        if not question.strip():
            return
        try:
            question = check_question(question, limits)
        except RagError as exc:  # one bad line does not end the session
            echo(f"Error: {exc}", err=True)
            continue
        print_hits(question, searcher.search(question, k, filters), as_json)


def main() -> None:
    cli(prog_name="rag")

