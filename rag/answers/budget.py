"""How many answers the LLM writes for visitors: per visitor, per session and per day.

A public Space may sit in front of a paid LLM; one client in a loop made 40 LLM calls
in 21 s. Past a limit, the visitor gets the extractive answer (quotes, no LLM) with a
one-line note, never an error. The chat and the MCP `ask_podcast` tool share one budget.

    >>> budget = LLMBudget(per_client_per_hour=2, per_session=5)
    >>> [budget.take("1.2.3.4", "s1") for _ in range(3)][-1]
    'LLM-written answers are limited to 2 an hour for each visitor: these are quotes from the transcripts.'
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Any

HOUR_S = 3600.0
DAY_S = 86_400.0
# Defaults for a free Space: a visitor reading answers one by one never meets them.
LLM_ANSWERS_PER_CLIENT_HOUR = 30
LLM_ANSWERS_PER_SESSION = 50
TRACKED_CLIENTS = 10_000  # the oldest are forgotten first: memory stays bounded


@dataclass
class LLMBudget:
    """Counts LLM-written answers; `take` spends one or says why not. Thread-safe."""

    per_client_per_hour: int = LLM_ANSWERS_PER_CLIENT_HOUR
    per_session: int = LLM_ANSWERS_PER_SESSION
    per_day: int | None = None  # all visitors together; None: no daily cap
    _clients: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict, repr=False)
    _sessions: OrderedDict[str, int] = field(default_factory=OrderedDict, repr=False)
    _day: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, client: str, session: str) -> str | None:
        """Spend one answer for `client` (an address) in `session`; None when allowed, else
        the note to show with the quotes instead. Nothing is spent when refused."""
        now = time.monotonic()
        with self._lock:
            recent = self._clients.setdefault(client, deque())
            self._clients.move_to_end(client)
            while recent and recent[0] <= now - HOUR_S:
                recent.popleft()
            while self._day and self._day[0] <= now - DAY_S:
                self._day.popleft()
            if self.per_day is not None and len(self._day) >= self.per_day:
                return f"LLM-written answers are limited to {self.per_day:,} a day: these are quotes from the transcripts."
            if len(recent) >= self.per_client_per_hour:
                return (f"LLM-written answers are limited to {self.per_client_per_hour:,} an hour for each visitor: "
                        "these are quotes from the transcripts.")
            if self._sessions.get(session, 0) >= self.per_session:
                return (f"LLM-written answers are limited to {self.per_session:,} in one conversation: "
                        "these are quotes from the transcripts. Reload the page for a new conversation.")
            recent.append(now)
            self._day.append(now)
            self._sessions[session] = self._sessions.get(session, 0) + 1
            self._sessions.move_to_end(session)
            for table in (self._clients, self._sessions):
                while len(table) > TRACKED_CLIENTS:
                    table.popitem(last=False)
            return None


def client_of(request: Any) -> tuple[str, str]:
    """(the visitor's address, the page session) of a Gradio request; ("", "") without one.

    Behind a proxy (a Hugging Face Space) every connection comes from the proxy: the
    address is the last `X-Forwarded-For` entry, the one the proxy itself appended (those
    before it are whatever the client sent).
    """
    if request is None:
        return "", ""
    headers = getattr(request, "headers", None) or {}
    forwarded = str(headers.get("x-forwarded-for", "") or "")
    host = forwarded.split(",")[-1].strip() if forwarded else ""
    if not host:
        peer = getattr(request, "client", None)
        host = str(getattr(peer, "host", "") or "")
    return host[:64], str(getattr(request, "session_hash", "") or "")[:64]


def within_budget(answerer: Any, budget: LLMBudget, request: Any) -> tuple[Any, str]:
    """(`answerer`, "") when it may write with its LLM for this request's visitor, else
    (the same answerer without its LLM, the note saying why): quotes instead."""
    if answerer.llm is None:
        return answerer, ""
    note = budget.take(*client_of(request))
    if note is None:
        return answerer, ""
    return replace(answerer, llm=None, reranker=None), note
