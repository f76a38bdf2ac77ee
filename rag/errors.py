"""Errors a user can act on. Each message names the input that caused it."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


class RagError(Exception):
    """Base class: the CLI prints these as one clean line, never a traceback."""

    def for_visitors(self) -> str:
        """The message for the web page and assistants: no setting names (those are the operator's)."""
        return str(self)


class TranscriptParseError(RagError):
    """An episode file could not be read as a transcript."""


class CorpusError(RagError):
    """A corpus source (folder, file or git URL) is missing or unusable."""


class IndexMissingError(RagError):
    """No index at the given directory."""


class IndexCorruptError(RagError):
    """An index file is unreadable or inconsistent with its manifest."""


class IndexBusyError(RagError):
    """Another process is building the same index."""


class IndexMismatchError(RagError):
    """The index was built with a different embedding model than requested."""


class EmbedderError(RagError):
    """An embedding model could not be loaded."""


class LLMError(RagError):
    """The LLM server failed or answered something unusable."""


class QuestionTooLongError(RagError):
    """A question is longer than the configured limit (`max_question_chars`)."""

    def __init__(self, length: int, limit: int) -> None:
        self.length, self.limit = length, limit
        super().__init__(f"{self.for_visitors()} (RAG_MAX_QUESTION_CHARS)")

    def for_visitors(self) -> str:
        return f"the question is {self.length:,} characters long; the limit is {self.limit:,}"


REDACTED = "[redacted]"


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every occurrence of each secret replaced, in nested lists and dicts too:
    for anything a server, a log or a visitor could otherwise be shown.

    >>> redact({"error": ["bad key sk-123", 4]}, ["sk-123", ""])
    {'error': ['bad key [redacted]', 4]}
    """
    secrets = [s for s in secrets if s]
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    return value


class IndexUnavailableError(RagError):
    """The engine that holds the index (a Milvus server, a Milvus Lite file) did not answer."""

    def for_visitors(self) -> str:
        return "search is unavailable right now (its engine is not answering); please try again in a minute"
