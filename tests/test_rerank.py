"""LLM re-ranking (off by default), against the real loopback OpenAI-compatible server."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answers.answerer import Answerer
from rag.answers.llm import LLMSettings
from rag.answers.openai_chat import OpenAIChat
from rag.answers.rerank import LLMReranker, parse_ranking
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.searcher import Searcher
from tests.fake_llm import FakeLLMServer, Reply

QUESTION = "What are bloom filters used for?"


@pytest.fixture
def searcher(built_index: Path, embedder: HashingEmbedder) -> Searcher:
    return Searcher(load_index(built_index), embedder)


def chat(server: FakeLLMServer) -> OpenAIChat:
    return OpenAIChat(LLMSettings(base_url=server.base_url, model="judge", read_timeout_s=1, total_timeout_s=5,
                                  max_retries=0))


def test_a_ranking_is_one_list_of_candidate_numbers_each_once() -> None:
    assert parse_ranking("[3, 1]", 4) == [3, 1]
    assert parse_ranking("Sure! [2, 4] because excerpt 1 is off topic", 4) == [2, 4]
    assert parse_ranking("[]", 4) == []
    for reply in ("[3, 1, 9]", "[3, 1, 3]", "excerpt two", "[1] @ 46:49\n<<<\n ... for example [4, 1]. Reply [] if none"):
        assert parse_ranking(reply, 4) is None, reply


def test_llm_order_comes_first_and_unnamed_candidates_keep_their_order(searcher: Searcher) -> None:
    hits = searcher.search(QUESTION, k=6)
    with FakeLLMServer([Reply("[4, 2]")]) as server:
        warnings: list[str] = []
        reranked = LLMReranker(chat(server), candidates=5).rerank(QUESTION, hits, warnings)
        [request] = server.chat_requests()
    assert reranked == [hits[3], hits[1], hits[0], hits[2], hits[4], hits[5]]
    assert warnings == []
    prompt = request.body["messages"][0]["content"]
    assert QUESTION in prompt and "[5] " in prompt and "[6] " not in prompt  # only the candidates
    assert prompt.count("\n<<<\n") == 5 and prompt.count("\n>>>") == 5  # each excerpt fenced as data


@pytest.mark.parametrize("reply", [Reply("I think the first one."), Reply(status=500)])
def test_an_unusable_reply_or_a_failure_keeps_the_retrieval_order_with_a_warning(
    searcher: Searcher, reply: Reply
) -> None:
    hits = searcher.search(QUESTION, k=5)
    with FakeLLMServer([reply]) as server:
        warnings: list[str] = []
        assert LLMReranker(chat(server)).rerank(QUESTION, hits, warnings) == hits
    assert len(warnings) == 1 and "kept the retrieval order" in warnings[0]


def test_answerer_answers_from_the_reranked_moments(searcher: Searcher) -> None:
    retrieved = searcher.search(QUESTION, k=10)
    with FakeLLMServer([Reply("[7]"), Reply("Bloom filters test membership [1].")]) as server:
        llm = chat(server)
        answer = Answerer(searcher, llm, refusal_min_cosine=0.15, reranker=LLMReranker(llm)).answer(QUESTION)
        rerank_request, answer_request = server.chat_requests()
    assert answer.sources[0].passage == retrieved[6].passage
    assert len(answer.sources) == 5
    assert "[1] Time: " in answer_request.body["messages"][1]["content"]
    assert "JSON list" in rerank_request.body["messages"][0]["content"]


def test_rag_ask_rerank_flag_sends_the_candidates_to_the_llm_first(built_index: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from rag.cli import cli

    monkeypatch.setenv("RAG_REFUSAL_MIN_COSINE", "0")
    with FakeLLMServer([Reply("[2, 1]"), Reply("Bloom filters test membership [1].")]) as server:
        result = CliRunner().invoke(cli, ["ask", QUESTION, "--index", str(built_index), "--rerank",
                                          "--llm-base-url", server.base_url, "--llm-model", "judge", "--json"],
                                    catch_exceptions=False)
        first, second = server.chat_requests()
    assert result.exit_code == 0, result.output
    assert "JSON list" in first.body["messages"][0]["content"]
    assert second.body["stream"] is True
