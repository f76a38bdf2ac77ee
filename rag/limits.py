"""Input limits shared by the CLI, the web chat and ingest: one place that says what is too long.

    >>> check_question("  What are bloom filters?  ", Limits())
    'What are bloom filters?'
    >>> trim_history(["a", "b", "c"], Limits(max_history_turns=2))
    ['b', 'c']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from rag.errors import QuestionTooLongError, RagError

# A long question is a paragraph or two (~300 words); nothing a person types into a chat
# box needs more, and it keeps one embedding call and one LLM prompt small.
MAX_QUESTION_CHARS = 2_000
# Follow-ups lean on the last few turns (the LLM rewrite sees 3, the search context 1).
MAX_HISTORY_TURNS = 6
# Answers a web session keeps for its feedback buttons; older turns can no longer be voted on.
MAX_SESSION_RECORDS = 50
# What the page title and the LLM's instructions call the podcast (`rag ingest --name`,
# RAG_PODCAST_NAME): one line, a show's name, not a paragraph.
MAX_PODCAST_NAME_CHARS = 100
DEFAULT_PODCAST_NAME = "the podcast"
# A transcript file (or its sidecar, or a people file), local or fetched. An hour-long DTC
# episode converted is 0.7 MB as YouTube auto-captions and 1 MB as whisperX word lists:
# 20 MB holds a ten-hour stream's, and bounds what one stray file can take at ingest.
MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024
# An episode's fields, wherever they come from (front matter, sidecar, feed item): a title
# is copied into every passage, so a 2 MB one cost 4 GB at ingest. The longest DTC title is
# 118 characters, the longest description 1,400.
MAX_TITLE_CHARS = 300
MAX_NAME_CHARS = 100  # a guest's or a speaker's display name
MAX_GUESTS = 20
MAX_DESCRIPTION_CHARS = 5_000


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


def check_podcast_name(name: str) -> str:
    """`name` on one line; `RagError` when it is empty or over `MAX_PODCAST_NAME_CHARS`.

    >>> check_podcast_name("  Hard   Fork ")
    'Hard Fork'
    """
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > MAX_PODCAST_NAME_CHARS:
        raise RagError(f"a podcast name is 1 to {MAX_PODCAST_NAME_CHARS} characters on one line, not {name!r:.120}")
    return cleaned


def trim_history(history: Sequence[str], limits: Limits) -> list[str]:
    """The last `max_history_turns` turns, each cut to `max_question_chars`; older turns are dropped."""
    if limits.max_history_turns <= 0:
        return []
    return [turn[: limits.max_question_chars] for turn in history[-limits.max_history_turns :]]


def read_capped(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of `path`, or None when it holds more than `max_bytes`: only that much
    (and one byte) is read, so a huge file, or an endless one, costs no more.

    >>> read_capped(Path("/dev/zero"), 10) is None
    True
    """
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    return data if len(data) <= max_bytes else None


def megabytes(n_bytes: int) -> str:
    """A limit as people read it: `megabytes(20 * 1024 * 1024)` is '20 MB'."""
    return f"{n_bytes // (1024 * 1024)} MB"
