from __future__ import annotations

import logging
import socket
import time

import pytest

from rag.errors import LLMError
from rag.llm import HF_ROUTER_URL, LLMSettings, OpenAIChat, settings_from_env
from tests.fake_llm import FakeLLMServer, Reply

SECRET = "sk-test-SECRET-never-shown"
MESSAGES = [{"role": "user", "content": "Hello?"}]


def chat(server: FakeLLMServer, **overrides: float) -> OpenAIChat:
    settings = LLMSettings(base_url=server.base_url, model="test-model", api_key=SECRET,
                           connect_timeout_s=2, read_timeout_s=overrides.get("read", 2),
                           total_timeout_s=overrides.get("total", 10), max_retries=int(overrides.get("retries", 2)))
    return OpenAIChat(settings)


def test_streams_deltas_and_sends_model_messages_and_key() -> None:
    with FakeLLMServer([Reply("Bloom filters answer membership queries [1].")]) as server:
        deltas = list(chat(server).stream(MESSAGES))
    assert len(deltas) > 1 and "".join(deltas) == "Bloom filters answer membership queries [1]."
    [request] = server.chat_requests()
    assert request.body["model"] == "test-model" and request.body["stream"] is True
    assert request.body["messages"] == MESSAGES
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_two_server_errors_then_success_is_retried() -> None:
    replies = [Reply(status=500), Reply(status=503), Reply("Finally.")]
    with FakeLLMServer(replies) as server:
        assert "".join(chat(server).stream(MESSAGES)) == "Finally."
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
