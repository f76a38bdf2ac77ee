from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answers.llm import LLM_SETUP_HINT
from rag.cli import cli
from rag.index.files import load_index


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_ingest_prints_notes_and_summary_and_exits_0(tmp_path: Path, corpus_dir: Path) -> None:
    (corpus_dir / "podcast" / "empty.md").write_text("")
    result = run("ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model", "hashing-256", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("indexed 4 episodes, ")
    assert "skipped 1, repaired 0, duplicates 0" in result.output
    assert result.output.rstrip().endswith(f"-> {tmp_path / 'idx'}")

    verbose = run("ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model", "hashing-256")
    assert f"skipped: {corpus_dir / 'podcast' / 'empty.md'}: empty file" in verbose.output
    assert "index up to date: 4 episodes" in verbose.output


def test_ingest_names_the_podcast_and_keeps_the_name_until_told_another(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "idx"
    common = ("ingest", str(corpus_dir), "--index", str(index), "--model", "hashing-256", "-q")
    assert run(*common, "--name", "  Data   Talks ").exit_code == 0
    manifest = lambda: json.loads((index / "manifest.json").read_text())  # noqa: E731
    assert manifest()["podcast"] == "Data Talks"
    kept = run(*common)  # no --name: the index keeps its name, and nothing is rebuilt
    assert kept.output.startswith("index up to date") and manifest()["podcast"] == "Data Talks"
    renamed = run(*common, "--name", "Hard Fork")
    assert renamed.output.startswith("indexed 4 episodes") and manifest()["podcast"] == "Hard Fork"
    refused = run(*common, "--name", "x" * 101)
    assert refused.exit_code == 1 and "a podcast name is 1 to 100 characters on one line" in refused.output
    assert manifest()["podcast"] == "Hard Fork"
    edited = {**manifest(), "podcast": "Line one\nline two " * 50}  # a hand-edited manifest
    (index / "manifest.json").write_text(json.dumps(edited))
    name = load_index(index).podcast_name
    assert name.startswith("Line one line two") and "\n" not in name and len(name) == 100


def test_ingest_of_a_missing_folder_names_it_once(tmp_path: Path) -> None:
    result = run("ingest", str(tmp_path / "nope"), "--index", str(tmp_path / "idx"), "--model", "hashing-256", "-q")
    assert result.exit_code == 1
    assert result.output == f"Error: {tmp_path / 'nope'}: no such file or folder\n"


def test_ingest_exits_1_when_nothing_could_be_indexed(tmp_path: Path) -> None:
    (tmp_path / "eps").mkdir()
    (tmp_path / "eps" / "bad.md").write_text("no front matter here")
    result = run("ingest", str(tmp_path / "eps"), "--index", str(tmp_path / "idx"), "--model", "hashing-256", "-q")
    assert result.exit_code == 1
    assert f"Error: no episode could be indexed from {tmp_path / 'eps'}" in result.output
    assert not (tmp_path / "idx").exists()


def test_search_json_shape(built_index: Path) -> None:
    result = run("search", "bloom filters", "--index", str(built_index), "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert len(results) == 2
    assert set(results[0]) == {"episode", "title", "description", "speakers", "speaker", "start_sec", "end_sec",
                               "link_sec", "url", "text", "score"}
    top = results[0]
    assert top["episode"] == "algorithms-data-structures-for-engineers"
    assert top["start_sec"] <= top["link_sec"] <= top["end_sec"]
    assert top["url"] == f"https://www.youtube.com/watch?v=RiQa-9LguW8&t={top['link_sec']}s"
    assert isinstance(top["speakers"], list) and top["speaker"] in top["speakers"]


def test_search_text_output_reads_title_speaker_time_and_link(built_index: Path) -> None:
    result = run("search", "bloom filters", "--index", str(built_index), "-k", "1")
    first_line, link = result.output.splitlines()[:2]
    assert re.fullmatch(r"1\. Practical Algorithms for Engineers: .+ — (Alexey|Marcello La Rocca) @ \d+:\d\d  \[.+\]", first_line)
    assert link.strip().startswith("https://www.youtube.com/watch?v=RiQa-9LguW8&t=")


def test_search_filters_by_episode_and_rejects_unknown_episode(built_index: Path) -> None:
    result = run("search", "bloom filters", "--index", str(built_index), "--episode", "building-data-team", "--json")
    assert {r["episode"] for r in json.loads(result.output)["results"]} == {"building-data-team"}
    bad = run("search", "x", "--index", str(built_index), "--episode", "nope")
    assert bad.exit_code == 1 and f"Error: no episode 'nope' in {built_index}" in bad.output


def test_search_exits_1_when_index_missing(tmp_path: Path) -> None:
    result = run("search", "anything", "--index", str(tmp_path / "missing"))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no index at {tmp_path / 'missing'}: build it with "
        f"`rag ingest CORPUS --index {tmp_path / 'missing'}`\n"
    )


def test_search_with_other_model_exits_1_with_mismatch(built_index: Path) -> None:
    result = run("search", "x", "--index", str(built_index), "--model", "sentence-transformers/all-MiniLM-L6-v2")
    assert result.exit_code == 1 and "was built with model 'hashing-256'" in result.output


def test_the_ingest_model_setting_does_not_block_searching(built_index: Path) -> None:
    # RAG_MODEL names the model `rag ingest` embeds with; queries use the model the index records.
    result = CliRunner().invoke(cli, ["search", "bloom filters", "--index", str(built_index), "-k", "1"],
                                env={"RAG_MODEL": "sentence-transformers/all-MiniLM-L6-v2"}, catch_exceptions=False)
    assert result.exit_code == 0 and result.output.startswith("1. ")


def test_interactive_search_answers_each_line_until_blank(built_index: Path) -> None:
    result = run("search", "--index", str(built_index), "-k", "1", input="bloom filters\ntake-home assignment\n\n")
    assert result.exit_code == 0
    assert result.output.count("\n1. ") == 2


@pytest.fixture(autouse=True)
def hashing_refusal_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default threshold is calibrated for MiniLM; the test embedder has its own scale."""
    monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0.15")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "RAG_LLM_MODEL", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_ask_json_shape_offline(built_index: Path) -> None:
    result = run("ask", "What are bloom filters used for?", "--index", str(built_index), "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert set(answer) == {"answer", "refused", "mode", "warnings", "citations", "closest"}
    assert answer["mode"] == "extractive" and answer["citations"] and answer["closest"] == []
    citation = answer["citations"][0]
    assert set(citation) == {"n", "episode", "title", "speaker", "start_sec", "end_sec", "url", "verified"}
    assert citation["url"].endswith(f"&t={citation['start_sec']}s")


def test_ask_refuses_a_question_whose_rare_terms_were_never_said(built_index: Path, monkeypatch) -> None:
    question = "What are bloom filters used for in geothermal drilling rigs?"
    monkeypatch.setenv("RAG_REFUSAL_MIN_COVERAGE", "0.34")  # the mechanism; rag/answers/answerer.py calibrates the default
    result = run("ask", question, "--index", str(built_index), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["refused"] is True
    monkeypatch.setenv("RAG_REFUSAL_MIN_COVERAGE", "0")
    result = run("ask", question, "--index", str(built_index), "--json")
    assert json.loads(result.output)["refused"] is False


def test_ask_refusal_prints_not_covered_then_the_closest_moments(built_index: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0.99")
    result = run("ask", "What are bloom filters used for?", "--index", str(built_index))
    assert result.exit_code == 0, result.output
    first, *moments = result.output.splitlines()
    assert first == "The podcast episodes I have do not cover this. The closest moments I found:"
    assert len(moments) == 3
    for line in moments:
        assert re.fullmatch(r"- .+ — .+ @ \d+:\d\d: https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s", line), line
    answer = json.loads(run("ask", "What are bloom filters used for?", "--index", str(built_index), "--json").output)
    assert answer["refused"] is True and answer["answer"] == "The podcast episodes I have do not cover this."
    assert answer["citations"] == [] and len(answer["closest"]) == 3
    for moment, line in zip(answer["closest"], moments):
        assert set(moment) == {"episode", "title", "speaker", "link_sec", "url"}
        assert moment["url"].endswith(f"&t={moment['link_sec']}s") and line.endswith(f": {moment['url']}")
        assert line.startswith(f"- {moment['title']} — {moment['speaker']} @ ")


def test_ask_with_llm_server_streams_and_lists_sources(built_index: Path, monkeypatch) -> None:
    from tests.fake_llm import FakeLLMServer, Reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-cli-secret")
    with FakeLLMServer([Reply("Bloom filters check membership [1].")]) as server:
        result = run("ask", "What are bloom filters used for?", "--index", str(built_index),
                     "--llm-base-url", server.base_url, "--llm-model", "m")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Bloom filters check membership [1].\n\nSources:\n[1] ")
    assert "sk-cli-secret" not in result.output


def test_ask_exits_1_when_index_missing(tmp_path: Path) -> None:
    result = run("ask", "anything", "--index", str(tmp_path / "missing"))
    assert result.exit_code == 1 and "Error: no index at" in result.output


def test_ask_and_search_refuse_a_question_over_the_limit_in_one_line(built_index: Path, monkeypatch) -> None:
    question = "a" * 2_001
    message = "Error: the question is 2,001 characters long; the limit is 2,000 (RAG_MAX_QUESTION_CHARS)\n"
    for command in ("ask", "search"):
        result = run(command, question, "--index", str(built_index))
        assert (result.exit_code, result.output) == (1, message), command
    assert run("search", "bloom filters " + "x" * 1_986, "--index", str(built_index)).exit_code == 0  # 2,000: fine
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "20")
    result = run("ask", "What are bloom filters used for?", "--index", str(built_index))
    assert result.output == "Error: the question is 32 characters long; the limit is 20 (RAG_MAX_QUESTION_CHARS)\n"


def test_interactive_search_skips_an_over_long_line_and_goes_on(built_index: Path, monkeypatch) -> None:
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "20")
    result = run("search", "--index", str(built_index), "-k", "1", input="x" * 30 + "\nbloom filters\n\n")
    assert result.exit_code == 0
    assert "Error: the question is 30 characters long; the limit is 20 (RAG_MAX_QUESTION_CHARS)\n" in result.output
    assert result.output.count("\n1. ") == 1


def test_ask_keeps_the_last_history_turns_each_cut_to_the_question_limit(built_index: Path, monkeypatch) -> None:
    from tests.fake_llm import FakeLLMServer, Reply

    monkeypatch.setenv("RAG_MAX_HISTORY_TURNS", "2")
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "60")
    history = ["Who founded the data team?", "How do bloom filters work?", "Where are bloom filters used? " + "z" * 100]
    with FakeLLMServer([Reply("bloom filters in crawlers"), Reply("Crawlers skip visited pages [1].")]) as server:
        result = run("ask", "And why?", "--index", str(built_index), "--llm-base-url", server.base_url,
                     "--llm-model", "m", *[arg for turn in history for arg in ("--history", turn)])
        rewrite = json.dumps(server.chat_requests()[0].body["messages"])
    assert result.exit_code == 0, result.output
    assert "How do bloom filters work?" in rewrite and "Who founded" not in rewrite  # older turns dropped
    assert ("Where are bloom filters used? " + "z" * 30) in rewrite and "z" * 31 not in rewrite  # cut to 60


def test_offline_ask_prints_the_llm_setup_hint_once_after_the_answer(built_index: Path) -> None:
    result = run("ask", "What are bloom filters used for?", "--index", str(built_index))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("- ") and "OPENAI_BASE_URL" not in result.stdout  # the answer: quotes only
    assert result.stderr == f"note: {LLM_SETUP_HINT}\n"


def test_a_configured_llm_that_fails_gets_its_warning_not_the_setup_hint(built_index: Path) -> None:
    from tests.fake_llm import FakeLLMServer, Reply

    with FakeLLMServer(default=Reply(status=500)) as server:
        result = run("ask", "What are bloom filters used for?", "--index", str(built_index),
                     "--llm-base-url", server.base_url, "--llm-model", "m")
    assert result.exit_code == 0 and result.stdout.startswith("- ")  # the quotes instead
    assert f"warning: LLM m at {server.base_url}: HTTP 500" in result.stderr
    assert "No LLM configured" not in result.stderr and LLM_SETUP_HINT not in result.stderr


def test_ingest_of_a_folder_of_shows_indexes_every_show_and_names_an_empty_one(tmp_path: Path) -> None:
    import shutil

    library = tmp_path / "external"
    shutil.copytree(Path(__file__).resolve().parents[2] / "shared" / "external", library)
    (library / "a-show-without-transcripts").mkdir()
    (library / "a-show-without-transcripts" / "cover.png").write_bytes(b"\x89PNG")
    result = run("ingest", str(library), "--index", str(tmp_path / "idx"), "--model", "hashing-64", "-q")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("indexed 10 episodes, ")
    verbose = run("ingest", str(library), "--index", str(tmp_path / "idx2"), "--model", "hashing-64")
    skipped = [line for line in verbose.output.splitlines() if "a-show-without-transcripts" in line]
    assert skipped == [f"skipped: {library / 'a-show-without-transcripts'}: "
                       "no transcript (.md, .vtt, .srt, .json) or feed in this folder"]


def test_a_guest_filter_that_matches_nobody_exits_1_naming_the_closest_guest(tmp_path: Path) -> None:
    talk_python = Path(__file__).resolve().parents[2] / "shared" / "external" / "talk-python"
    index = tmp_path / "idx"
    assert run("ingest", str(talk_python), "--index", str(index), "--model", "hashing-64", "-q").exit_code == 0
    for command in ("search", "ask"):
        result = run(command, "how did the library start", "--index", str(index), "--guest", "Jeff Boeing")
        assert result.exit_code == 1
        assert result.output == f"Error: no guest matches 'Jeff Boeing' in {index}; closest: Geoff Boeing\n"
    found = run("search", "how did the library start", "--index", str(index), "--guest", "geoff boeing", "--json")
    assert found.exit_code == 0 and json.loads(found.output)["results"]
    season = run("search", "osmnx", "--index", str(index), "--season", "99")
    assert season.exit_code == 1 and f"no season 99 in {index}" in season.output


def test_a_source_without_a_link_prints_no_url_line(tmp_path: Path, monkeypatch) -> None:
    import shutil

    shows = tmp_path / "show"
    shows.mkdir()
    # No sidecar: the episode has no video, media file or page to link to.
    shutil.copy(Path(__file__).resolve().parents[2] / "shared" / "external" / "talk-python" / "talkpython-495-osmnx.vtt", shows)
    index = tmp_path / "idx"
    assert run("ingest", str(shows), "--index", str(index), "--model", "hashing-64", "-q").exit_code == 0
    monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0")
    result = run("ask", "How do you download a street network with OSMnx?", "--index", str(index))
    assert result.exit_code == 0, result.output
    listed = result.output.split("\nSources:\n", 1)[1].splitlines()
    sources = listed[: next((i for i, line in enumerate(listed) if line.startswith(("note:", "warning:"))), len(listed))]
    assert len(sources) >= 2 and all(line.startswith("[") for line in sources), sources


def test_search_and_ask_print_no_terminal_control_sequences_from_a_transcript(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    (folder / "evil.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:06.000\n<v Ann>Bloom filters\x1b]0;pwned\x07 are "
                                     "\x1b[2J\u202emagic sets with false positives.\n", encoding="utf-8")
    (folder / "evil.yaml").write_text("title: \"Bloom\\e[31m filters\"\n", encoding="utf-8")
    index = tmp_path / "idx"
    assert run("ingest", str(folder), "--index", str(index), "--model", "hashing-64", "-q").exit_code == 0
    monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0")
    for args in (("search", "bloom filters false positives"), ("ask", "What are bloom filters?")):
        result = run(*args, "--index", str(index))
        assert result.exit_code == 0, result.output
        assert "magic sets" in result.output or "Bloom" in result.output
        assert not any(ch in result.output for ch in "\x1b\x07\u202e"), repr(result.output)


def test_only_the_named_private_host_may_be_fetched(tmp_path: Path, monkeypatch) -> None:
    from rag.config import Config, load_config

    assert load_config(env={"RAG_PRIVATE_HOSTS": "Feeds.Internal, 10.0.0.5"}).private_fetches == frozenset(
        {"feeds.internal", "10.0.0.5"})
    assert Config(allow_private_hosts=True).private_fetches is True
    assert Config().private_fetches == frozenset()


def test_an_index_built_inside_the_transcripts_folder_is_not_read_back_as_transcripts(tmp_path: Path) -> None:
    import shutil

    show = tmp_path / "show"
    show.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "shared" / "external" / "talk-python" / "talkpython-495-osmnx.vtt", show)
    assert run("ingest", str(show), "--index", str(show / "indexes" / "idx"), "--model", "hashing-64", "-q").exit_code == 0
    again = run("ingest", str(show), "--index", str(show / "indexes" / "idx"), "--model", "hashing-64", "--force")
    assert again.exit_code == 0
    assert [line for line in again.output.splitlines() if line.startswith("skipped:")] == []
    assert "indexed 1 episode, " in again.output
