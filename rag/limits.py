"""Input limits shared by the CLI and the web chat: one place that says what is too long.

    >>> check_question("  What are bloom filters?  ", Limits())
    'What are bloom filters?'
    >>> trim_history(["a", "b", "c"], Limits(max_history_turns=2))
    ['b', 'c']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.errors import QuestionTooLongError

# A long question is a paragraph or two (~300 words); nothing a person types into a chat
# box needs more, and it keeps one embedding call and one LLM prompt small.
MAX_QUESTION_CHARS = 2_000
# Follow-ups lean on the last few turns (the LLM rewrite sees 3, the search context 1).
MAX_HISTORY_TURNS = 6
# Answers a web session keeps for its feedback buttons; older turns can no longer be voted on.
MAX_SESSION_RECORDS = 50


@dataclass(frozen=True)
class Limits:
    max_question_chars: int = MAX_QUESTION_CHARS
    max_history_turns: int = MAX_HISTORY_TURNS
    max_session_records: int = MAX_SESSION_RECORDS


def check_question(question: str, limits: Limits) -> str:
    """The question without surrounding whitespace; `QuestionTooLongError` when over the limit."""
    question = question.strip()
    if len(question) > limits.max_question_chars:
        raise QuestionTooLongError(len(question), limits.max_question_chars)
    return question


def trim_history(history: Sequence[str], limits: Limits) -> list[str]:
    """The last `max_history_turns` turns, each cut to `max_question_chars`; older turns are dropped."""
    if limits.max_history_turns <= 0:
        return []
    return [turn[: limits.max_question_chars] for turn in history[-limits.max_history_turns :]]
