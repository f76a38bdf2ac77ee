"""Follow-up questions: detection, and what is searched with and without an LLM rewrite."""

from __future__ import annotations

import pytest

from rag.answers.followup import LLMRewriter, is_followup, search_request
from rag.answers.llm import LLMSettings
from rag.answers.openai_chat import OpenAIChat
from rag.answers.prompts import load_prompts
from tests.fake_llm import FakeLLMServer, Reply

HISTORY = ["How does Eugene Yan write a blog post in a week?"]


def rewriter(server: FakeLLMServer) -> LLMRewriter:
    llm = OpenAIChat(LLMSettings(base_url=server.base_url, model="test-model", read_timeout_s=1, total_timeout_s=5,
                                 max_retries=0))
    return LLMRewriter(llm, load_prompts().rewrite)


@pytest.mark.parametrize(
    ("question", "leans_on_the_conversation"),
    [
        ("Why does he rewrite the outline from memory?", True),
        ("Why don't they measure the dog's heart rate?", True),
        ("And how much would trading fees eat into that?", True),
        ("What about Spark?", True),
        ("Why is Kubernetes hard for data scientists?", False),  # "why" starts many new questions
        ("What is it like to work at a startup?", False),  # so does "it"
        ("Which guest caught an agent removing a test, and how did he notice?", False),
        ("During his sabbatical from Zalando, which startup excited Krzysztof?", False),
        ("Is it a good idea to let both agencies submit my profile to them?", False),
    ],
)
def test_followup_detection_leaves_standalone_questions_alone(question: str, leans_on_the_conversation: bool) -> None:
    assert is_followup(question) is leans_on_the_conversation


def test_followup_without_llm_is_searched_alone_within_the_conversations_scope() -> None:
    assert search_request("Why does he rewrite the outline?", HISTORY, []) == (
        "Why does he rewrite the outline?", HISTORY[0])
    standalone = "What are Bloom filters typically used for in data engineering?"
    assert search_request(standalone, HISTORY, []) == (standalone, "")
    assert search_request("Why does he rewrite the outline?", ["", "  "], []) == ("Why does he rewrite the outline?", "")


def test_the_llm_rewrites_only_a_followup_into_one_standalone_line() -> None:
    with FakeLLMServer([Reply("What does Eugene Yan say\nabout outlines?")]) as server:
        warnings: list[str] = []
        assert search_request("Why does he do that?", HISTORY, warnings, rewriter(server)) == (
            "What does Eugene Yan say about outlines?", "")
        standalone = "What are Bloom filters typically used for in data engineering?"
        assert search_request(standalone, HISTORY, warnings, rewriter(server)) == (standalone, "")
        [request] = server.chat_requests()
    assert warnings == [] and HISTORY[0] in request.body["messages"][0]["content"]


def test_a_failed_rewrite_falls_back_to_the_conversations_scope_with_a_warning() -> None:
    with FakeLLMServer(default=Reply(status=500)) as server:
        warnings: list[str] = []
        assert search_request("Why does he do that?", HISTORY, warnings, rewriter(server)) == (
            "Why does he do that?", HISTORY[0])
    [warning] = warnings
    assert warning.startswith("could not rewrite the follow-up with the LLM (LLM test-model at ")
    assert warning.endswith("); used the conversation instead")
