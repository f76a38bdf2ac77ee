"""The visitors' LLM budget (rag.answers.budget): per visitor, per conversation, per day."""

from __future__ import annotations

from types import SimpleNamespace

from rag.answers.budget import LLMBudget, client_of


def test_a_conversation_and_a_day_have_their_own_limits_and_a_refusal_spends_nothing() -> None:
    budget = LLMBudget(per_client_per_hour=100, per_session=2, per_day=3)
    assert [budget.take("a", "s1") for _ in range(2)] == [None, None]
    assert budget.take("a", "s1") == ("LLM-written answers are limited to 2 in one conversation: these are quotes "
                                      "from the transcripts. Reload the page for a new conversation.")
    assert budget.take("b", "s2") is None  # the third of the day: the refused one above spent nothing
    assert budget.take("c", "s3") == "LLM-written answers are limited to 3 a day: these are quotes from the transcripts."


def test_the_visitor_is_the_address_the_proxy_appended_not_what_the_client_claims() -> None:
    spoofed = SimpleNamespace(headers={"x-forwarded-for": "6.6.6.6, 203.0.113.7"}, client=SimpleNamespace(host="10.0.0.2"),
                              session_hash="abc")
    direct = SimpleNamespace(headers={}, client=SimpleNamespace(host="198.51.100.4"), session_hash="def")
    assert client_of(spoofed) == ("203.0.113.7", "abc")
    assert client_of(direct) == ("198.51.100.4", "def")
    assert client_of(None) == ("", "")
