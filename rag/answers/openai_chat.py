"""The OpenAI-compatible chat client (OpenAI, Ollama, vLLM, llama.cpp, the Hugging
Face router): each call runs under a deadline it cannot outlive, with bounded retries."""

from __future__ import annotations

import queue
import random
import socket
import threading
from typing import Any, Iterator, Sequence

from rag.answers.llm import MAX_REPLY_CHARS, Deadline, LLMSettings, Message, first_line
from rag.errors import LLMError, redact
from rag.urls import public_url

# Retries wait as the openai client does: 0.5 s doubling up to 8 s, less up to 25%
# jitter, or the server's Retry-After; never past the deadline.
RETRY_INITIAL_S = 0.5

RETRY_MAX_S = 8.0


class OpenAIChat:
    """Streaming chat completions through the `openai` client."""

    def __init__(self, settings: LLMSettings) -> None:
        from openai import OpenAI

        if not settings.model:
            raise LLMError("no LLM model configured (set RAG_LLM_MODEL)")
        self.settings = settings
        self.model = settings.model
        self.total_timeout_s = settings.total_timeout_s
        self._client = OpenAI(
            base_url=settings.base_url,
            # Local servers (Ollama, llama.cpp) ignore the key but the client wants one.
            api_key=settings.key() or "not-needed",
            max_retries=0,  # retries are ours (`_open`): they share the answer's deadline
        )

    def __repr__(self) -> str:
        return f"OpenAIChat({self.settings.describe()})"

    def stream(self, messages: Sequence[Message], deadline: Deadline | None = None) -> Iterator[str]:
        """Text deltas; `LLMError` at the latest at `deadline` (default `total_timeout_s` from now).

        The HTTP exchange runs in a worker thread and this generator waits for its
        deltas only until the deadline: keep-alive bytes reset the client's read
        timeout, so only a clock outside the client can end a stream that never
        finishes. Leaving early (deadline, `close()`) shuts the connection down.
        """
        call = _Call(self, [dict(m) for m in messages], deadline or Deadline.after(self.total_timeout_s))
        try:
            yield from call.deltas()
        finally:
            call.cancel()

    def complete(self, messages: Sequence[Message], deadline: Deadline | None = None) -> str:
        parts: list[str] = []
        size = 0
        deltas = self.stream(messages, deadline)
        try:
            for delta in deltas:
                parts.append(delta)
                size += len(delta)
                if size >= MAX_REPLY_CHARS:
                    break
        finally:
            deltas.close()
        return "".join(parts)[:MAX_REPLY_CHARS]

    # -- one call, in the worker thread

    def _open(self, messages: list[dict[str, str]], deadline: Deadline, cancelled: threading.Event) -> Any:
        """The opened stream, after up to `max_retries` retries; none starts after the deadline."""
        import openai
        from openai import Timeout

        settings = self.settings
        attempt = 0
        while True:
            remaining = deadline.remaining()
            if cancelled.is_set() or remaining <= 0:
                raise _Abandoned
            timeout = Timeout(remaining, connect=min(settings.connect_timeout_s, remaining),
                              read=min(settings.read_timeout_s, remaining))
            try:
                return self._client.with_options(timeout=timeout).chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    # Never pooled: shutting down an abandoned call's socket cannot hit another call.
                    extra_headers={"Connection": "close"},
                )
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                wait = _retry_wait(exc, attempt)
                if attempt >= settings.max_retries or wait is None or wait >= deadline.remaining():
                    raise
                attempt += 1
                if cancelled.wait(wait):
                    raise _Abandoned from None

    def _error(self, exc: BaseException) -> LLMError:
        """`exc` as an `LLMError` naming the server (without user info or query), never the key."""
        import openai

        if isinstance(exc, LLMError):
            return exc
        where = self.settings.describe()
        detail = first_line(exc)
        if self.settings.base_url:
            detail = detail.replace(self.settings.base_url, public_url(self.settings.base_url))
        # A server may echo the key it was sent ("Incorrect API key provided: sk-...").
        detail = redact(detail, self.settings.secrets)
        if isinstance(exc, openai.APITimeoutError) or "timeout" in type(exc).__name__.lower():
            return LLMError(f"LLM {where}: timed out")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"LLM {where}: cannot connect ({detail})")
        if isinstance(exc, openai.APIStatusError):
            return LLMError(f"LLM {where}: HTTP {exc.status_code} ({detail})")
        # A stalled or garbled stream surfaces as many types.
        return LLMError(f"LLM {where}: unusable response ({type(exc).__name__}: {detail})")


class _Abandoned(Exception):
    """The caller left (deadline or close): the worker stops quietly."""


class _Call:
    """One streamed completion: a worker thread does the HTTP, the caller waits for
    its deltas until the deadline, then leaves and shuts the connection down."""

    def __init__(self, chat: OpenAIChat, messages: list[dict[str, str]], deadline: Deadline) -> None:
        self.chat = chat
        self.messages = messages
        self.deadline = deadline
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.cancelled = threading.Event()
        self.finished = False
        self._response: Any = None  # the open stream, while the worker reads it
        self._lock = threading.Lock()

    def deltas(self) -> Iterator[str]:
        threading.Thread(target=self._run, name="llm-call", daemon=True).start()
        while True:
            try:
                kind, value = self.events.get(timeout=self.deadline.remaining())
            except queue.Empty:
                kind, value = "late", None
            if kind == "error":
                self.finished = True
                raise value
            if kind == "done":
                self.finished = True
                return
            if kind == "late" or self.deadline.remaining() <= 0:
                raise LLMError(
                    f"LLM {self.chat.settings.describe()}: timed out: no complete answer within the "
                    f"{self.deadline.seconds:g} s deadline (RAG_LLM_TIMEOUT)"
                )
            yield value

    def cancel(self) -> None:
        """Stop the worker; shut its connection down unless the reply came in full."""
        self.cancelled.set()
        with self._lock:
            if self._response is not None and not self.finished:
                _shut_down(self._response)

    def _run(self) -> None:
        opened = None
        try:
            opened = self.chat._open(self.messages, self.deadline, self.cancelled)
            with self._lock:
                self._response = opened
            if self.cancelled.is_set():
                raise _Abandoned
            for chunk in opened:
                if self.cancelled.is_set():
                    raise _Abandoned
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices and choices[0].delta else None
                if delta:
                    self.events.put(("delta", delta))
            self._close(opened)
            self.events.put(("done", None))
        except _Abandoned:
            pass
        except Exception as exc:  # noqa: BLE001 - every failure reaches the caller as LLMError
            self.events.put(("error", self.chat._error(exc)))
        finally:
            if opened is not None:
                self._close(opened)

    def _close(self, opened: Any) -> None:
        with self._lock:
            self._response = None
        try:
            opened.close()
        except Exception:  # noqa: BLE001 - a connection shut down under it
            pass


def _shut_down(opened: Any) -> None:
    """Wake a read blocked on the stream's socket (close() alone does not) and end it."""
    try:
        sock = opened.response.extensions["network_stream"].get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - no socket to reach: close from a helper thread, never block here
        threading.Thread(target=opened.close, name="llm-close", daemon=True).start()


def _retry_wait(exc: Exception, attempt: int) -> float | None:
    """Seconds before retrying after `exc` as the openai client would (Retry-After
    honoured up to 60 s); None when it is not worth retrying."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if response is not None and status is not None:
        should = response.headers.get("x-should-retry")
        if should == "false" or (should != "true" and status not in (408, 409, 429) and status < 500):
            return None
        for header, scale in (("retry-after-ms", 1000), ("retry-after", 1)):
            try:
                seconds = float(response.headers.get(header, "")) / scale
            except ValueError:
                continue
            return seconds if 0 <= seconds <= 60 else None
    return min(RETRY_INITIAL_S * 2**attempt, RETRY_MAX_S) * (1 - 0.25 * random.random())
