"""Thumbs up/down on answers, appended to a JSONL file: one JSON object per line.

    >>> log = FeedbackLog("feedback.jsonl", secrets=("sk-123",))      # doctest: +SKIP
    >>> log.append(feedback_record("Why Kafka?", "Because [1].", [], "up"))  # doctest: +SKIP

Appends are safe under concurrent writers (threads of one app, or several app
processes): each record is a single `write()` on a file opened with `O_APPEND`,
under an exclusive `flock`, so lines never interleave. Records carry the
question, the answer, its citations, the vote and the time, and never a secret:
every configured API key is replaced by `[redacted]` before writing.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

try:  # POSIX; on Windows the thread lock alone serializes writers of one process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

REDACTED = "[redacted]"


def feedback_record(
    question: str,
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    vote: str,
    *,
    mode: str = "",
    filters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The line written for one vote; `vote` is "up" or "down".

    >>> feedback_record("q", "a", [], "up", now=datetime(2026, 1, 2, tzinfo=timezone.utc))["time"]
    '2026-01-02T00:00:00+00:00'
    """
    if vote not in ("up", "down"):
        raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
    return {
        "time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "vote": vote,
        "question": question,
        "answer": answer,
        "citations": [dict(c) for c in citations],
        "mode": mode,
        "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
    }


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` with every occurrence of each secret replaced, in nested lists and dicts too."""
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


class FeedbackLog:
    """An append-only JSONL file; one instance is shared by all chat sessions."""

    def __init__(self, path: str | Path, *, secrets: Iterable[str | None] = ()) -> None:
        self.path = Path(path)
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(redact(dict(record), self._secrets), ensure_ascii=False) + "\n"
        data = line.encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                written = 0
                while written < len(data):  # one write in practice; loop on a short write
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)  # closing releases the flock

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first (for tests and for whoever reviews the votes)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
