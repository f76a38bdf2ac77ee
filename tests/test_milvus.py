"""The Milvus backend against a real engine: Milvus Lite, embedded in a file (no mocks).

The same 4-episode corpus is indexed by both backends; the Milvus one must rank as the
built-in one does (same fusion, focus, merging and links on the engine's candidates),
with filters, through `rag search`, `rag ask` and a rebuild, and fail in one line that
names the engine when the engine does not answer.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag.answers.answerer import Answerer
from rag.cli import cli
from rag.errors import IndexUnavailableError, RagError
from rag.index.backend import Backend
from rag.index.build import ingest
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index, read_manifest
from rag.index.milvus.collection import alias_target, generations
from rag.index.milvus.engine import Engine
from rag.search.hits import Filters
from rag.search.searcher import Searcher

QUERIES = ("data team hiring", "bloom filters", "technical writing for data scientists", "how do you measure success")


@pytest.fixture
def both(tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder) -> tuple[Path, Path]:
    builtin, milvus = tmp_path / "idx" / "builtin", tmp_path / "idx" / "milvus"
    ingest([corpus_dir], builtin, embedder)
    ingest([corpus_dir], milvus, embedder, backend=Backend("milvus"))
    return builtin, milvus


def _ranked(index_dir: Path, embedder: HashingEmbedder, query: str, filters: Filters | None = None) -> list[tuple]:
    index = load_index(index_dir)
    try:
        hits = Searcher(index, embedder).search(query, k=5, filters=filters)
        return [(h.passage.id, h.passage.start_s, h.link_sec, round(h.score, 6)) for h in hits]
    finally:
        index.passages.close()


def test_milvus_index_keeps_only_its_manifest_and_ranks_as_the_builtin_one(both, embedder) -> None:
    builtin, milvus = both
    assert sorted(p.name for p in milvus.iterdir()) == ["manifest.json"]
    manifest = read_manifest(milvus)
    assert manifest["backend"] == "milvus" and manifest["milvus"]["collection"].startswith("rag_milvus__")
    assert Path(manifest["milvus"]["uri"]) == milvus.parent / "milvus-milvus.db"
    for query in QUERIES:
        assert _ranked(milvus, embedder, query) == _ranked(builtin, embedder, query) != []


def test_filters_become_engine_scopes_with_the_same_results(both, embedder) -> None:
    builtin, milvus = both
    episodes = [info.id for info in load_index(builtin).passages.episodes]
    guest = next(g for info in load_index(builtin).passages.episodes for g in info.guests)
    for filters in (Filters(episode=episodes[1]), Filters(guest=guest), Filters(episode="no-such-episode")):
        for query in QUERIES[:2]:
            ranked = _ranked(milvus, embedder, query, filters)
            assert ranked == _ranked(builtin, embedder, query, filters)
            if filters.episode in episodes:
                assert ranked and all(passage_id.startswith(filters.episode + "#") for passage_id, *_ in ranked)


def test_lexical_idf_and_passages_read_from_the_engine_match(both) -> None:
    builtin, milvus = load_index(both[0]), load_index(both[1])
    try:
        assert milvus.lexical.term_idf("Bloom filters quantum") == pytest.approx(builtin.lexical.term_idf("Bloom filters quantum"))
        assert list(milvus.passages.many([5, 0, 7])) == list(builtin.passages.many([5, 0, 7]))
        assert milvus.passages.episodes == builtin.passages.episodes
        np.testing.assert_array_equal(milvus.passages.ordinals, builtin.passages.ordinals)
        allowed = np.arange(0, len(builtin.passages), 2)  # half of each episode: the scope is exact too
        every = builtin.lexical.scores
        for query in QUERIES:
            for scope in (None, allowed):
                scores, ids = milvus.lexical.search(query, 10, scope)
                expected_scores, _ = builtin.lexical.search(query, 10, scope)
                # The engine's BM25 keeps Lucene's (k1 + 1) factor, bm25s drops it: the same
                # ranking, scores 2.5x; exact ties may come in either order.
                np.testing.assert_allclose(scores, 2.5 * expected_scores, rtol=1e-3)
                np.testing.assert_allclose(scores, 2.5 * every(query)[ids], rtol=1e-3)
                assert scope is None or set(ids.tolist()) <= set(scope.tolist())
    finally:
        milvus.passages.close()


def test_cli_search_and_ask_answer_as_from_the_builtin_index(tmp_path: Path, corpus_dir: Path) -> None:
    runner = CliRunner()
    outputs = {}
    for backend in ("builtin", "milvus"):
        index_dir = tmp_path / backend
        built = runner.invoke(cli, ["ingest", str(corpus_dir), "--index", str(index_dir), "--model", "hashing-64",
                                    "--backend", backend, "-q"])
        assert built.exit_code == 0, built.output
        found = runner.invoke(cli, ["search", "bloom filters", "--index", str(index_dir), "--json"])
        asked = runner.invoke(cli, ["ask", "What are bloom filters used for?", "--index", str(index_dir), "--json"],
                              env={"RAG_REFUSAL_MIN_COSINE": "0", "RAG_REFUSAL_MIN_COVERAGE": "0"})
        assert found.exit_code == 0 and asked.exit_code == 0, found.output + asked.output
        outputs[backend] = (json.loads(found.output), json.loads(asked.output))
    assert outputs["milvus"] == outputs["builtin"]
    results, answer = outputs["milvus"]
    assert results["results"][0]["url"].startswith("https://www.youtube.com/watch?v=")
    assert answer["mode"] == "extractive" and answer["citations"]


def _edit_a_line(corpus_dir: Path, old: str, new: str) -> None:
    path = next(p for p in sorted(corpus_dir.glob("podcast/*.md")) if old in p.read_text())
    path.write_text(path.read_text().replace(old, new, 1))


def test_a_changed_corpus_is_written_in_place_and_ranks_as_a_fresh_builtin_index(tmp_path, corpus_dir,
                                                                                   embedder) -> None:
    index_dir, fresh_dir = tmp_path / "idx", tmp_path / "fresh"
    ingest([corpus_dir], index_dir, embedder, backend=Backend("milvus"))
    generation = read_manifest(index_dir)["milvus"]["collection"]
    removed = sorted(corpus_dir.glob("podcast/*.md"))[-1]
    removed.rename(tmp_path / removed.name)  # one episode gone,
    _edit_a_line(corpus_dir, "Bloom", "Blum")  # one changed
    report = ingest([corpus_dir], index_dir, embedder)  # no backend given: the index's own
    assert report.updated_in_place == (2, 1) and "updated in place: 2 episodes dropped, 1 episode written" in report.summary()
    manifest = read_manifest(index_dir)
    assert manifest["milvus"]["collection"] == generation and manifest["milvus"]["positions"] > manifest["count"]
    ingest([corpus_dir], fresh_dir, embedder)
    updated, fresh = load_index(index_dir), load_index(fresh_dir)
    try:
        current = {p.id: p for p in fresh.passages}
        assert sorted(p.id for p in updated.passages) == sorted(current)
        for query in (*QUERIES, "blum filters"):
            # Dense search is exact either way; the engine's BM25 statistics still count the
            # deleted passages until a rebuild (docs/deploy.md), so the fused order may drift.
            dense = [Searcher(index, embedder, mode="dense").search(query, k=5) for index in (updated, fresh)]
            assert [h.passage.id for h in dense[0]] == [h.passage.id for h in dense[1]]
            for hit in Searcher(updated, embedder).search(query, k=5):
                assert not hit.passage.episode_id == removed.stem
                assert all(current[part].text in hit.passage.text for part in hit.passage.id.split("+"))
        blum = Searcher(updated, embedder, mode="lexical").search("blum filters", k=1)[0]
        assert "Blum" in blum.passage.episode_title + blum.passage.text  # the edit reached the engine
    finally:
        updated.passages.close()
    again = ingest([corpus_dir], index_dir, embedder)
    assert again.up_to_date  # idempotent: nothing left to write
    (tmp_path / removed.name).rename(removed)  # the episode back: written again, nothing dropped
    assert ingest([corpus_dir], index_dir, embedder).updated_in_place == (0, 1)


def test_a_forced_rebuild_moves_the_alias_and_keeps_one_generation_for_open_readers(tmp_path, corpus_dir,
                                                                                     embedder) -> None:
    index_dir = tmp_path / "idx"
    ingest([corpus_dir], index_dir, embedder, backend=Backend("milvus"))
    first = read_manifest(index_dir)["milvus"]["collection"]
    reader = load_index(index_dir)  # a replica that opened the first generation
    before = [h.passage.id for h in Searcher(reader, embedder).search("bloom filters", k=3)]
    ingest([corpus_dir], index_dir, embedder, force=True)
    second = read_manifest(index_dir)["milvus"]["collection"]
    assert second != first
    assert [h.passage.id for h in Searcher(reader, embedder).search("bloom filters", k=3)] == before
    reader.passages.close()
    ingest([corpus_dir], index_dir, embedder, force=True)
    third = read_manifest(index_dir)["milvus"]["collection"]
    engine = Engine(read_manifest(index_dir)["milvus"]["uri"])
    try:
        assert alias_target(engine, "rag_idx") == third
        assert generations(engine, "rag_idx") == sorted([second, third])  # the first is dropped
    finally:
        engine.close()
    assert [h.passage.id for h in Searcher(load_index(index_dir), embedder).search("bloom filters", k=3)] == before


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ingest_into_an_engine_nobody_runs_fails_in_one_line_naming_it(tmp_path, corpus_dir) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model",
                                      "hashing-64", "--milvus-uri", uri, "-q"], env={"RAG_MILVUS_TIMEOUT": "3"})
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {uri}: Milvus did not answer within 3 s")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert time.monotonic() - started < 30
    assert not (tmp_path / "idx").exists()


def test_a_server_that_accepts_and_never_answers_is_given_up_on_at_the_deadline(tmp_path, corpus_dir) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])  # accepted, never answered
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        started = time.monotonic()
        with pytest.raises(IndexUnavailableError, match=rf"^{uri}: Milvus did not answer within 2 s"):
            Engine(uri, timeout_s=2)
        assert time.monotonic() - started < 15
    finally:
        stop.set()
        silent.close()
        for connection in held:
            connection.close()


def test_a_lite_file_another_process_holds_is_named(tmp_path, corpus_dir, embedder) -> None:
    index_dir = tmp_path / "idx"
    ingest([corpus_dir], index_dir, embedder, backend=Backend("milvus"))
    lite = read_manifest(index_dir)["milvus"]["uri"]
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\n"
                               "MilvusClient(uri=sys.argv[1]); print('open', flush=True); time.sleep(60)", lite],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(IndexUnavailableError, match="is open in another process"):
            load_index(index_dir)
    finally:
        holder.kill()
        holder.wait()


def test_an_engine_gone_mid_session_is_one_line_in_the_answer_stream(both, embedder) -> None:
    index = load_index(both[1])
    answerer = Answerer(Searcher(index, embedder))
    index.passages.engine.close()  # the engine is gone after the app loaded the index
    with pytest.raises(IndexUnavailableError) as caught:
        answerer.answer("What are bloom filters used for?")
    assert isinstance(caught.value, RagError) and "\n" not in caught.value.for_visitors()
    assert "try again" in caught.value.for_visitors()


def test_milvus_uri_checks() -> None:
    from rag.index.milvus.engine import check_uri

    with pytest.raises(RagError, match="MILVUS_TOKEN"):
        check_uri("https://user:secret@milvus.example:19530")
    with pytest.raises(RagError, match=r"must end in \.db"):
        check_uri("/tmp/index.sqlite")
    with pytest.raises(RagError, match="Lite file"):
        check_uri("grpc://milvus.example:19530")
    assert check_uri("https://milvus.example:19530/") == "https://milvus.example:19530"


def test_shard_workers_write_one_collection_and_the_last_one_publishes_it(tmp_path, corpus_dir, embedder) -> None:
    from rag.index.build import ingest_shard
    from rag.index.embedding import Shard

    index_dir, builtin = tmp_path / "idx", tmp_path / "builtin"
    cache = tmp_path / "cache"
    first = ingest_shard([corpus_dir], embedder, Shard(1, 2), cache_dir=cache, index_dir=index_dir,
                         backend=Backend("milvus"))
    assert first.written is not None and first.written[1] is False and not (index_dir / "manifest.json").exists()
    again = ingest_shard([corpus_dir], embedder, Shard(1, 2), cache_dir=cache, index_dir=index_dir,
                         backend=Backend("milvus"))  # a worker run twice writes the same rows
    assert again.written == first.written
    last = ingest_shard([corpus_dir], embedder, Shard(2, 2), cache_dir=cache, index_dir=index_dir,
                        backend=Backend("milvus"))
    assert last.written[1] is True and "all shards in: published" in last.summary()
    manifest = read_manifest(index_dir)
    assert manifest["count"] == first.written[0] + last.written[0]
    assert manifest["milvus"]["collection"].startswith("rag_idx__shards_")
    ingest([corpus_dir], builtin, embedder)
    sharded, whole = load_index(index_dir), load_index(builtin)
    try:
        assert list(sharded.passages) == list(whole.passages)  # every passage once, at its place
        for query in QUERIES:
            # Dense search is exact; Milvus Lite keeps BM25 statistics per segment and each
            # shard writes its own, so the lexical side is close, not equal (docs/deploy.md).
            dense = [Searcher(index, embedder, mode="dense").search(query, k=5) for index in (sharded, whole)]
            assert [h.passage.id for h in dense[0]] == [h.passage.id for h in dense[1]]
    finally:
        sharded.passages.close()
    # A plain ingest afterwards has nothing to merge or write.
    assert ingest([corpus_dir], index_dir, embedder, cache_dir=cache).up_to_date
