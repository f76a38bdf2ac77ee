"""The podcast as MCP tools: the real app on loopback, Gradio's MCP server, the `mcp` client."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import app
from rag.app.layout import build_app, launch_kwargs
from rag.config import load_config
from tests.fake_llm import FakeLLMServer, Reply
from tests.test_app import env_for, free_port, video_of

BLOOM = "What are bloom filters used for?"
HIRING = "How do you hire data scientists for a data team?"
MOMENT_FIELDS = {"episode", "title", "speaker", "second", "url"}


@contextmanager
def mcp_app(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The app with its MCP server on, on loopback; yields the MCP endpoint's URL."""
    demo = build_app(load_config(env=env), feedback_path=tmp_path / "fb.jsonl")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_kwargs(mcp_server=True))
    try:
        yield f"http://127.0.0.1:{port}/gradio_api/mcp/"
    finally:
        demo.close()


def session_calls(url: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """List the tools at `url`, then make each call in order, in one MCP session."""

    async def run() -> tuple[list[Any], list[Any]]:
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                results = [await asyncio.wait_for(session.call_tool(name, args), 60) for name, args in calls]
                return tools, results

    return asyncio.run(run())


def payload(result: Any) -> dict[str, Any]:
    assert not result.isError, result.content
    return json.loads(result.content[0].text)


def test_mcp_client_lists_both_tools_and_calls_them(built_index: Path, tmp_path: Path) -> None:
    episode = "building-data-team"
    with FakeLLMServer(default=Reply("Bloom filters check set membership with false positives [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with mcp_app(env, tmp_path) as url:
            tools, (answered, scoped, moments) = session_calls(url, [
                ("ask_podcast", {"question": BLOOM}),
                ("ask_podcast", {"question": HIRING, "episode": episode}),
                ("find_moments", {"query": "bloom filters", "k": 3}),
            ])
        assert len(llm.chat_requests()) == 2  # one LLM answer per ask_podcast call

    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {"ask_podcast", "find_moments"}  # the chat's own endpoint is not a tool
    ask = by_name["ask_podcast"]
    assert ask.description.startswith("Answer a question from the podcast's transcripts, citing the exact moments")
    assert ask.inputSchema["required"] == ["question"]
    assert set(ask.inputSchema["properties"]) == {"question", "episode", "guest"}
    assert "at most 2,000 characters" in ask.inputSchema["properties"]["question"]["description"]
    find = by_name["find_moments"]
    assert find.inputSchema["properties"]["k"]["type"] == "integer" and find.inputSchema["properties"]["k"]["default"] == 5

    answer = payload(answered)
    assert answer["mode"] == "llm" and not answer["refused"] and answer["notes"] == []
    assert answer["answer"] == "Bloom filters check set membership with false positives [1]."
    citation = answer["citations"][0]
    assert set(citation) == MOMENT_FIELDS | {"n", "verified"} and citation["n"] == 1
    assert citation["url"].endswith(f"&t={citation['second']}s")

    video = video_of(built_index, episode)
    in_episode = payload(scoped)
    assert in_episode["citations"] and {c["episode"] for c in in_episode["citations"]} == {episode}
    assert all(f"v={video}&" in c["url"] for c in in_episode["citations"])

    found = payload(moments)["moments"]
    assert len(found) == 3 and all(set(m) == MOMENT_FIELDS | {"text"} for m in found)
    assert "Bloom Filters" in found[0]["title"] and found[0]["url"].endswith(f"&t={found[0]['second']}s")


def test_mcp_tools_keep_the_chats_limits_and_scope_rules(
    built_index: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with FakeLLMServer(default=Reply("Bloom filters [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model", RAG_MAX_QUESTION_CHARS="60")
        with mcp_app(env, tmp_path) as url:
            _, (too_long, unknown, bad_k, long_query) = session_calls(url, [
                ("ask_podcast", {"question": "x" * 61}),
                ("ask_podcast", {"question": BLOOM, "episode": "no-such-episode", "guest": "Nobody"}),
                ("find_moments", {"query": "bloom filters", "k": 500}),
                ("find_moments", {"query": "y" * 61}),
            ])
        assert len(llm.chat_requests()) == 1  # only the scoped-out call reached the LLM
    assert too_long.isError and too_long.content[0].text == "the question is 61 characters long; the limit is 60"
    notes = payload(unknown)["notes"]
    assert notes == ["No episode “no-such-episode” in this index: searched all episodes.",
                     "No guest “Nobody” in this index: searched all guests."]
    assert bad_k.isError and bad_k.content[0].text == "k must be a whole number from 1 to 20, not 500"
    assert long_query.isError and "limit is 60" in long_query.content[0].text
    # A refused call is the visitor's mistake, not the server's: no traceback in its log.
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {}, True), (["--no-mcp"], {}, False), ([], {"RAG_MCP": "0"}, False), (["--mcp"], {"RAG_MCP": "off"}, True),
])
def test_the_mcp_server_is_on_by_default_and_switchable_by_flag_and_env(
    argv: list[str], env: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_MCP", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert app.parse_args(argv).mcp is expected
