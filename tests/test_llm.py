from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from typing import Any, Callable

import pytest

from rag.answers.llm import HF_ROUTER_URL, Deadline, LLMSettings, settings_from_env
from rag.answers.openai_chat import OpenAIChat
from rag.errors import LLMError
from tests.fake_llm import FakeLLMServer, Reply, stalled_listener

SECRET = "sk-test-SECRET-never-shown"
MESSAGES = [{"role": "user", "content": "Hello?"}]


def chat(server: FakeLLMServer, **overrides: float) -> OpenAIChat:
    settings = LLMSettings(base_url=server.base_url, model="test-model", api_key=SECRET,
                           connect_timeout_s=2, read_timeout_s=overrides.get("read", 2),
                           total_timeout_s=overrides.get("total", 10), max_retries=int(overrides.get("retries", 2)))
    return OpenAIChat(settings)


def timed(call: Callable[[], Any], limit: float) -> tuple[Any, float]:
    """(result or raised exception, seconds taken) of `call`; fails instead of hanging
    when it is still running after `limit` seconds."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    assert outcome, f"still running after {limit} s"
    return outcome[0], time.monotonic() - started


def test_streams_deltas_and_sends_model_messages_and_key() -> None:
    with FakeLLMServer([Reply("Bloom filters answer membership queries [1].")]) as server:
        deltas = list(chat(server).stream(MESSAGES))
    assert len(deltas) > 1 and "".join(deltas) == "Bloom filters answer membership queries [1]."
    [request] = server.chat_requests()
    assert request.body["model"] == "test-model" and request.body["stream"] is True
    assert request.body["messages"] == MESSAGES
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_two_server_errors_then_success_is_retried_within_the_deadline() -> None:
    replies = [Reply(status=500), Reply(status=503), Reply("Finally.")]
    with FakeLLMServer(replies) as server:
        started = time.monotonic()
        assert "".join(chat(server, total=4).stream(MESSAGES, Deadline.after(4))) == "Finally."
        assert time.monotonic() - started < 4
    assert len(server.chat_requests()) == 3


def test_429_waits_for_retry_after() -> None:
    with FakeLLMServer([Reply(status=429, headers={"Retry-After": "1"}), Reply("ok")]) as server:
        started = time.monotonic()
        assert "".join(chat(server).stream(MESSAGES)) == "ok"
        waited = time.monotonic() - started
    assert len(server.chat_requests()) == 2 and waited >= 0.9


def test_persistent_errors_become_llm_error_naming_server_without_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeLLMServer(default=Reply(status=500)) as server:
        with pytest.raises(LLMError) as info:
            list(chat(server, retries=1).stream(MESSAGES))
    assert str(info.value).startswith(f"LLM test-model at {server.base_url}: HTTP 500")
    assert SECRET not in str(info.value) and SECRET not in caplog.text
    assert SECRET not in repr(chat(server))


def test_stall_beyond_read_timeout_is_a_timeout() -> None:
    with FakeLLMServer(default=Reply("slow words here and more", stall_s=3)) as server:
        started = time.monotonic()
        with pytest.raises(LLMError, match="timed out"):
            list(chat(server, read=0.5, retries=0).stream(MESSAGES))
    assert time.monotonic() - started < 3


def test_malformed_sse_is_an_llm_error() -> None:
    with FakeLLMServer([Reply("one two three four five six seven", malformed_sse=True)]) as server:
        with pytest.raises(LLMError, match="unusable response"):
            list(chat(server, retries=0).stream(MESSAGES))


def test_connection_refused_is_an_llm_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key=SECRET, max_retries=0)
    with pytest.raises(LLMError, match=rf"LLM m at http://127.0.0.1:{port}/v1: cannot connect"):
        list(OpenAIChat(settings).stream(MESSAGES))


def test_settings_from_environment() -> None:
    assert not settings_from_env({}).configured
    local = settings_from_env({"OPENAI_BASE_URL": "http://localhost:11434/v1", "RAG_LLM_MODEL": "llama3.2"})
    assert local.configured and local.describe() == "llama3.2 at http://localhost:11434/v1"
    assert not settings_from_env({"OPENAI_BASE_URL": "http://localhost:11434/v1"}).configured
    hf = settings_from_env({"HF_TOKEN": "hf_x"})
    assert hf.base_url == HF_ROUTER_URL and hf.configured and "hf_x" not in repr(hf)
    assert settings_from_env({"OPENAI_API_KEY": "sk"}).model == "gpt-4o-mini"
    with pytest.raises(LLMError, match="RAG_LLM_TIMEOUT='soon' is not a number"):
        settings_from_env({"OPENAI_API_KEY": "sk", "RAG_LLM_TIMEOUT": "soon"})


# Wall-clock bounds below are behaviour bounds (control comes back at the deadline,
# not when the server next sends something), deliberately generous: not benchmarks.
SLACK_S = 1.5


def test_keepalive_comments_without_tokens_end_at_the_deadline_and_close_the_connection() -> None:
    with FakeLLMServer(default=Reply(keepalive_only=True)) as server:
        # Pings every 0.1 s keep resetting the client's 1 s read timeout: only the deadline ends this.
        llm = chat(server, read=1, total=2, retries=0)
        error, took = timed(lambda: list(llm.stream(MESSAGES)), limit=2 + 10)
        assert isinstance(error, LLMError), error
        assert str(error) == (f"LLM test-model at {server.base_url}: timed out: no complete answer "
                              "within the 2 s deadline (RAG_LLM_TIMEOUT)")
        assert took <= 2 + SLACK_S
        assert server.streams_ended.acquire(timeout=SLACK_S)  # the server saw the connection go


def test_a_connect_that_stalls_ends_at_the_deadline() -> None:
    with stalled_listener() as base_url:
        settings = LLMSettings(base_url=base_url, model="m", connect_timeout_s=30, read_timeout_s=30,
                               total_timeout_s=2, max_retries=2)
        error, took = timed(lambda: OpenAIChat(settings).complete(MESSAGES), limit=2 + 10)
    assert isinstance(error, LLMError) and "timed out" in str(error), error
    assert took <= 2 + SLACK_S


def test_retries_stop_at_the_deadline() -> None:
    with FakeLLMServer(default=Reply(status=503, headers={"Retry-After": "1"})) as server:
        llm = chat(server, total=2.5, retries=10)
        error, took = timed(lambda: list(llm.stream(MESSAGES)), limit=2.5 + 15)
    assert isinstance(error, LLMError) and str(error).startswith(f"LLM test-model at {server.base_url}: HTTP 503")
    assert took <= 2.5 + SLACK_S
    assert 2 <= len(server.chat_requests()) <= 3  # at 0 s, 1 s, 2 s: a retry at 3 s would pass the deadline


def test_one_deadline_is_shared_by_consecutive_calls() -> None:
    with FakeLLMServer([Reply("slow first reply", stall_s=1.5), Reply(keepalive_only=True)]) as server:
        llm = chat(server, read=5, total=30, retries=0)
        deadline = Deadline.after(2)
        assert llm.complete(MESSAGES, deadline) == "slow first reply"
        error, took = timed(lambda: list(llm.stream(MESSAGES, deadline)), limit=10)
    assert isinstance(error, LLMError) and "within the 2 s deadline" in str(error)
    assert took <= 0.5 + SLACK_S


def test_every_completion_request_sends_max_tokens() -> None:
    with FakeLLMServer(default=Reply("ok")) as server:
        chat(server).complete(MESSAGES)
        list(OpenAIChat(dataclasses.replace(chat(server).settings, max_tokens=50)).stream(MESSAGES))
    assert [r.body["max_tokens"] for r in server.chat_requests()] == [600, 50]
    assert settings_from_env({"OPENAI_API_KEY": "sk", "RAG_LLM_MAX_TOKENS": "50"}).max_tokens == 50
    with pytest.raises(LLMError, match="RAG_LLM_MAX_TOKENS='lots' is not a whole number of tokens above 0"):
        settings_from_env({"OPENAI_API_KEY": "sk", "RAG_LLM_MAX_TOKENS": "lots"})


def test_complete_reads_at_most_max_reply_chars_then_closes_the_stream() -> None:
    from rag.answers.llm import MAX_REPLY_CHARS

    with FakeLLMServer(default=Reply("word " * 20, endless=True)) as server:
        text, took = timed(lambda: chat(server, total=30).complete(MESSAGES), limit=10)
        assert text == ("word " * 2000)[:MAX_REPLY_CHARS]
        assert server.streams_ended.acquire(timeout=SLACK_S)


@pytest.mark.parametrize("base_url", [
    "https://api.groq.com/openai/v1",
    "http://router.huggingface.co/v1",  # not https
    "https://router.huggingface.co.evil.example/v1",
    "https://evil.example/router.huggingface.co/v1",
    "https://router.huggingface.co@evil.example/v1",
    "https://evil.example/v1?h=x.hf.space",
])
def test_hf_token_is_not_sent_to_other_hosts(base_url: str) -> None:
    env = {"HF_TOKEN": "hf_secret", "OPENAI_BASE_URL": base_url, "RAG_LLM_MODEL": "m"}
    assert settings_from_env(env).key() is None
    assert settings_from_env({**env, "OPENAI_API_KEY": "sk-other"}).key() == "sk-other"


@pytest.mark.parametrize("base_url", [HF_ROUTER_URL, "https://api-inference.huggingface.co/v1",
                                      "https://someone-my-llm.hf.space/v1"])
def test_hf_token_goes_to_hugging_face_hosts(base_url: str) -> None:
    env = {"HF_TOKEN": "hf_secret", "OPENAI_BASE_URL": base_url, "RAG_LLM_MODEL": "m", "OPENAI_API_KEY": "sk"}
    assert settings_from_env(env).key() == "hf_secret"


def test_hf_token_stays_home_when_the_base_url_changes_later() -> None:
    router = settings_from_env({"HF_TOKEN": "hf_secret"})
    assert router.base_url == HF_ROUTER_URL and router.key() == "hf_secret"
    assert router.secrets == ("hf_secret",) and "hf_secret" not in repr(router)  # for redaction, never shown
    with FakeLLMServer(default=Reply("ok")) as server:
        # As `rag ask --llm-base-url` or a config file's llm_base_url do.
        moved = dataclasses.replace(router, base_url=server.base_url, model="m")
        assert moved.key() is None
        OpenAIChat(moved).complete(MESSAGES)
        from_env = settings_from_env({"HF_TOKEN": "hf_secret", "OPENAI_BASE_URL": server.base_url, "RAG_LLM_MODEL": "m"})
        OpenAIChat(from_env).complete(MESSAGES)
    assert [r.headers["authorization"] for r in server.chat_requests()] == ["Bearer not-needed"] * 2


def test_user_info_and_query_never_shown_in_descriptions_or_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://alice:pw-SECRET@127.0.0.1:{port}/v1?api-key=q-SECRET"
    settings = LLMSettings(base_url=url, model="m", max_retries=0)
    assert settings.describe() == f"m at http://127.0.0.1:{port}/v1"
    with pytest.raises(LLMError) as info:
        OpenAIChat(settings).complete(MESSAGES)
    assert str(info.value).startswith(f"LLM m at http://127.0.0.1:{port}/v1: cannot connect")
    assert "SECRET" not in str(info.value) and "SECRET" not in repr(OpenAIChat(settings))


def test_a_server_that_echoes_the_key_in_its_error_never_gets_it_shown(built_index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from rag.cli import cli

    echo = Reply(status=401, text=f"Incorrect API key provided: {SECRET}. You can find your key at ...")
    with FakeLLMServer(default=echo) as server:
        settings = LLMSettings(base_url=server.base_url, model="m", api_key=SECRET, max_retries=0)
        with pytest.raises(LLMError) as info:
            OpenAIChat(settings).complete(MESSAGES)
        assert SECRET not in str(info.value) and "Incorrect API key provided: [redacted]" in str(info.value)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("RAG_LLM_MODEL", "m")
        monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0")
        for extra in ([], ["--json"]):
            result = CliRunner().invoke(cli, ["ask", "What are bloom filters?", "--index", str(built_index), *extra])
            assert result.exit_code == 0 and "[redacted]" in result.output, result.output
            assert SECRET not in result.output
