"""Thumbs up/down on answers, appended to a JSONL file: one JSON object per line.

    log = FeedbackLog("feedback.jsonl", secrets=("sk-123",))
    details = answer_details("Why Kafka?", "Because [1].", [])
    log.vote("3f2a…", "up", details)    # first click: {time, answer_id, vote, question, ...}
    log.vote("3f2a…", "down", details)  # later clicks: {time, answer_id, vote}
    log.read().records[0]["vote"]
    'down'

Every click is one line; `read()` folds the lines of one `answer_id` into one record
whose vote is the last click ("none" when the user took the vote back). A line is at
most `max_record_bytes`: a longer answer, then question, is cut and the record says so
in `truncated` ({field: original length}). Lines are ASCII JSON (`ensure_ascii`), so no
character inside a string (U+2028 included) can split a line; `read()` splits on
"\n" only and skips, and counts, a line it cannot parse.

Appends are safe under concurrent writers (threads of one app, or several app
processes): each record is a single `write()` on a file opened with `O_APPEND`,
under an exclusive `flock`, so lines never interleave. Records never carry a
secret: every configured API key is replaced by `[redacted]` before writing.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from rag.errors import redact

try:  # POSIX; on Windows the thread lock alone serializes writers of one process
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

VOTES = ("up", "down", "none")  # "none": the user clicked their vote again to take it back
# A question is at most 2,000 characters (rag/limits.py) and an answer a few paragraphs;
# 16 KB keeps both whole in practice and bounds what one click can add to the file.
MAX_RECORD_BYTES = 16_384
MAX_VOTES_PER_ANSWER = 10  # changes of mind written for one answer
MAX_LOG_BYTES = 50 * 1024 * 1024  # then the log rotates once (feedback.jsonl.1)
DESCRIBED_IDS = 10_000  # answers whose first click (with the details) this log remembers


def new_answer_id() -> str:
    """A fresh id for one answer: the key its votes are folded on."""
    return uuid.uuid4().hex


def answer_details(
    question: str,
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    *,
    mode: str = "",
    filters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the first vote on an answer carries besides the vote itself."""
    return {
        "question": question,
        "answer": answer,
        "citations": [dict(c) for c in citations],
        "mode": mode,
        "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
    }


def vote_record(answer_id: str, vote: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The small line one click writes; `vote` is "up", "down" or "none".

    >>> vote_record("a1", "up", now=datetime(2026, 1, 2, tzinfo=timezone.utc))
    {'time': '2026-01-02T00:00:00+00:00', 'answer_id': 'a1', 'vote': 'up'}
    """
    if vote not in VOTES:
        raise ValueError(f"vote must be 'up', 'down' or 'none', not {vote!r}")
    return {"time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"), "answer_id": answer_id, "vote": vote}


def feedback_record(
    question: str,
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    vote: str,
    *,
    answer_id: str | None = None,
    mode: str = "",
    filters: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A vote with its answer's details (a new `answer_id` unless given): the first click's line.

    >>> feedback_record("q", "a", [], "up", now=datetime(2026, 1, 2, tzinfo=timezone.utc))["time"]
    '2026-01-02T00:00:00+00:00'
    """
    return {
        **vote_record(answer_id or new_answer_id(), vote, now=now),
        **answer_details(question, answer, citations, mode=mode, filters=filters),
    }


def cap_record(record: Mapping[str, Any], max_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """`record` with its answer, then its question, cut until its JSON line fits `max_bytes`;
    `truncated` maps each cut field to its original length in characters."""
    record = dict(record)
    if len(_line(record)) <= max_bytes:
        return record
    record["truncated"] = {}
    for name in ("answer", "question"):
        value = record.get(name)
        if not isinstance(value, str) or not value:
            continue
        record["truncated"][name] = len(value)
        over = len(_line(record)) - max_bytes
        record[name] = _prefix_within(value, _encoded_len(value) - over)
        if len(_line(record)) <= max_bytes:
            return record
    # Still too big (huge citations or filters): keep what folds and say what was dropped.
    dropped = sorted(set(record) - {"time", "answer_id", "vote", "question", "answer", "truncated"})
    record = {k: v for k, v in record.items() if k not in dropped}
    record["truncated"].update({name: "dropped" for name in dropped})
    return record


def _encoded_len(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=True)) - 2


def _prefix_within(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON string escape is at most `budget` bytes."""
    low, high = 0, len(text)  # binary search: a character escapes to 1 to 12 bytes
    while low < high:
        middle = (low + high + 1) // 2
        if _encoded_len(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _line(record: Mapping[str, Any]) -> bytes:
    # ensure_ascii: U+2028/U+2029 (and every other non-ASCII character) are written as
    # \u escapes, so the only line break in the file is the "\n" that ends each record.
    return (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")


class Votes(NamedTuple):
    """What `FeedbackLog.read()` found: one record per answer, and the lines it skipped."""

    records: list[dict[str, Any]]
    skipped: int


class FeedbackLog:
    """An append-only JSONL file; one instance is shared by all chat sessions."""

    def __init__(
        self, path: str | Path, *, secrets: Iterable[str | None] = (), max_record_bytes: int = MAX_RECORD_BYTES,
        max_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        self.path = Path(path)
        self.max_record_bytes = max_record_bytes
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()
        self._described: OrderedDict[str, None] = OrderedDict()  # ids whose details are written
        self._votes: OrderedDict[str, tuple[str, int]] = OrderedDict()  # id -> (last vote, votes written)
        self.max_bytes = max_bytes

    def vote(
        self, answer_id: str, vote: str, details: Mapping[str, Any] | None = None, *, now: datetime | None = None
    ) -> None:
        """Log one click on answer `answer_id`; the first click also writes `details`
        (`answer_details(...)`), later ones only {time, answer_id, vote}."""
        record = vote_record(answer_id, vote, now=now)
        with self._lock:
            first = answer_id not in self._described
            # A click that does not change the answer's vote is not written, nor one past
            # MAX_VOTES_PER_ANSWER changes: one client clicked 242 times a second (2 GB a
            # day). A session holds at most `max_session_records` answers, so its votes are
            # bounded too.
            last, changes = self._votes.get(answer_id, (None, 0))
            if vote == last or changes >= MAX_VOTES_PER_ANSWER:
                return
            self._votes[answer_id] = (vote, changes + 1)
            self._votes.move_to_end(answer_id)
            while len(self._votes) > DESCRIBED_IDS:
                self._votes.popitem(last=False)
        self.append({**record, **details} if first and details else record)
        if first and details:
            with self._lock:
                self._described[answer_id] = None
                while len(self._described) > DESCRIBED_IDS:
                    self._described.popitem(last=False)

    @property
    def rotated_path(self) -> Path:
        """Where the log goes when it reaches `max_bytes` (the previous one there is replaced)."""
        return self.path.with_name(self.path.name + ".1")

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as one line: secrets redacted, at most `max_record_bytes`."""
        data = _line(cap_record(redact(dict(record), self._secrets), self.max_record_bytes))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self.path.exists() and self.path.stat().st_size + len(data) > self.max_bytes:
                # The log holds at most twice its cap: the current file and the one before.
                os.replace(self.path, self.rotated_path)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                written = 0
                while written < len(data):  # one write in practice; loop on a short write
                    written += os.write(fd, data[written:])
            finally:
                os.close(fd)  # closing releases the flock

    def read(self) -> Votes:
        """One record per answer in the order first voted, its vote the last click's; lines
        without an `answer_id` (older files) as they are. A line that is not a JSON object
        is skipped and counted, never fails the whole file."""
        files = [p for p in (self.rotated_path, self.path) if p.exists()]
        if not files:
            return Votes([], 0)
        folded: dict[str, dict[str, Any]] = {}
        records: list[dict[str, Any]] = []
        skipped = 0
        for raw in b"\n".join(p.read_bytes() for p in files).split(b"\n"):  # "\n" only: never str.splitlines
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if not isinstance(record, dict):
                skipped += 1
                continue
            key = record.get("answer_id")
            if not isinstance(key, str) or not key:
                records.append(record)
            elif key in folded:
                folded[key].update(record)  # the later click wins
            else:
                folded[key] = record
                records.append(record)
        return Votes(records, skipped)
