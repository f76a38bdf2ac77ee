"""LLMs behind one small protocol; `OpenAIChat` speaks to any OpenAI-compatible server
(OpenAI, Groq, Ollama, llama.cpp, vLLM, the Hugging Face router).

    settings = LLMSettings(base_url="http://127.0.0.1:11434/v1", model="llama3.2")
    llm = OpenAIChat(settings)
    "".join(llm.stream([{"role": "user", "content": "Hi"}]))

The API key is only ever handed to the client: it is not part of any message,
`repr`, log line or error text. HF_TOKEN goes to Hugging Face hosts only
(`LLMSettings.key`), and URLs are shown without user info or query (`public_url`).

All the calls for one answer (a follow-up's rewrite, every retry, the stream)
share one `Deadline`; at the deadline the caller gets `LLMError` at once and the
connection is shut down, whatever the server keeps sending.
"""

from __future__ import annotations

import queue
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Protocol, Sequence
from urllib.parse import urlsplit

from rag.errors import LLMError, redact
from rag.urls import public_url

Message = Mapping[str, str]

HF_ROUTER_URL = "https://router.huggingface.co/v1"
HF_DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
# The longest reply read: ~4x the default max_tokens of 600 in English, so only a
# server that ignores max_tokens reaches it.
MAX_REPLY_CHARS = 8_000
# Retries wait as the openai client does: 0.5 s doubling up to 8 s, less up to 25%
# jitter, or the server's Retry-After; never past the deadline.
RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 8.0


@dataclass(frozen=True)
class Deadline:
    """When one answer's LLM calls must be done; the rewrite, retries and stream share it.

    >>> deadline = Deadline.after(20)
    >>> 19 < deadline.remaining() <= 20, deadline.seconds
    (True, 20)
    """

    seconds: float  # the whole budget, for messages
    at: float  # time.monotonic() when it is spent

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())


class LLM(Protocol):
    model: str
    total_timeout_s: float  # the budget of one answer: `Deadline.after(total_timeout_s)`

    def stream(self, messages: Sequence[Message], deadline: Deadline | None = None) -> Iterator[str]:
        """Text deltas as the server produces them; raises `LLMError`, at the latest
        at `deadline` (default: `total_timeout_s` from now)."""
        ...

    def complete(self, messages: Sequence[Message], deadline: Deadline | None = None) -> str:
        """The whole reply as one text (at most `MAX_REPLY_CHARS`); raises `LLMError`."""
        ...


@dataclass(frozen=True)
class LLMSettings:
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0  # the longest silence between two streamed chunks
    total_timeout_s: float = 120.0  # one answer's deadline: follow-up rewrite, retries and stream
    max_retries: int = 2  # on 429, 5xx and connection errors, with backoff (Retry-After honoured)
    temperature: float = 0.1
    max_tokens: int = 600  # sent with every completion request
    hf_token: str | None = field(default=None, repr=False)  # sent only to Hugging Face hosts

    @property
    def configured(self) -> bool:
        return bool(self.model and (self.base_url or self.key()))

    def key(self) -> str | None:
        """The key sent to `base_url`: HF_TOKEN to a Hugging Face host, else OPENAI_API_KEY.

        >>> LLMSettings(base_url="https://evil.example/v1", hf_token="hf_x").key() is None
        True
        >>> LLMSettings(base_url=HF_ROUTER_URL, hf_token="hf_x").key()
        'hf_x'
        """
        if self.hf_token and is_huggingface_url(self.base_url or ""):
            return self.hf_token
        return self.api_key

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key held (OPENAI_API_KEY, HF_TOKEN), for redaction: `FeedbackLog(secrets=)`."""
        return tuple(s for s in (self.api_key, self.hf_token) if s)

    def describe(self) -> str:
        """For the UI and logs: model and server (no user info or query), never the key."""
        return f"{self.model} at {public_url(self.base_url or 'https://api.openai.com/v1')}"


_HOST = re.compile(r"^[a-z0-9.-]+$")


def is_huggingface_url(url: str) -> bool:
    """An https URL on router.huggingface.co, another *.huggingface.co or a *.hf.space host.

    >>> is_huggingface_url("https://router.huggingface.co/v1"), is_huggingface_url("https://me-app.hf.space/v1")
    (True, True)
    >>> is_huggingface_url("http://router.huggingface.co/v1"), is_huggingface_url("https://huggingface.co.evil.example")
    (False, False)
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = parts.hostname or ""
    return (
        parts.scheme == "https"
        and "@" not in parts.netloc  # no user info that a client might read differently
        and bool(_HOST.match(host))
        and (host.endswith(".huggingface.co") or host.endswith(".hf.space"))
    )


# For the operator, never the visitor: printed by `rag ask` and at the app's start-up when
# no LLM is configured (the page only says "Answers quote the transcripts").
LLM_SETUP_HINT = (
    "No LLM configured: answers quote the transcripts. To have an LLM write them, set "
    "OPENAI_BASE_URL and RAG_LLM_MODEL (e.g. Ollama), or OPENAI_API_KEY, or HF_TOKEN "
    "(Hugging Face router), and restart."
)


def settings_from_env(env: Mapping[str, str]) -> LLMSettings:
    """OPENAI_BASE_URL / OPENAI_API_KEY / RAG_LLM_MODEL; or HF_TOKEN alone -> the HF router.

    HF_TOKEN is only sent to Hugging Face hosts (`LLMSettings.key`); other servers
    get OPENAI_API_KEY. RAG_LLM_TIMEOUT (one deadline per answer, seconds),
    RAG_LLM_CONNECT_TIMEOUT and RAG_LLM_MAX_TOKENS tune the calls. No variable set
    means no LLM: the answer stage is then extractive.

    >>> local = {"OPENAI_BASE_URL": "http://localhost:11434/v1", "RAG_LLM_MODEL": "llama3.2", "HF_TOKEN": "hf_x"}
    >>> settings_from_env(local).key() is None
    True
    """
    base_url = env.get("OPENAI_BASE_URL") or None
    api_key = env.get("OPENAI_API_KEY") or None
    hf_token = env.get("HF_TOKEN") or None
    model = env.get("RAG_LLM_MODEL") or None
    tuning = _tuning_from_env(env)
    if not base_url and not api_key and hf_token:
        return LLMSettings(base_url=HF_ROUTER_URL, hf_token=hf_token, model=model or HF_DEFAULT_MODEL, **tuning)
    if api_key and not base_url and not model:
        model = OPENAI_DEFAULT_MODEL
    # Without a model (base URL alone) the settings are not configured: a model is needed.
    return LLMSettings(base_url=base_url, api_key=api_key, hf_token=hf_token, model=model, **tuning)


def _tuning_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    tuning: dict[str, Any] = {}
    for name, key in (("RAG_LLM_TIMEOUT", "total_timeout_s"), ("RAG_LLM_CONNECT_TIMEOUT", "connect_timeout_s")):
        if env.get(name):
            try:
                tuning[key] = float(env[name])
            except ValueError:
                raise LLMError(f"{name}={env[name]!r} is not a number of seconds") from None
            if not tuning[key] > 0:
                raise LLMError(f"{name}={env[name]!r} must be more than 0 seconds")
    if env.get("RAG_LLM_MAX_TOKENS"):
        raw = env["RAG_LLM_MAX_TOKENS"]
        if not raw.strip().isdigit() or int(raw) < 1:
            raise LLMError(f"RAG_LLM_MAX_TOKENS={raw!r} is not a whole number of tokens above 0")
        tuning["max_tokens"] = int(raw)
    return tuning


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
        detail = _first_line(exc)
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


_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
_PROMPT_WORD = re.compile(r"[a-z0-9]+")


def echoes_instructions(reply: str, template: str, run: int = 6) -> bool:
    """Whether `reply` repeats `run` consecutive words of a prompt template's own text (its
    {placeholders}, where the question and sources go, left out): a weak or base model
    that echoes its prompt instead of doing what it asks.

    >>> template = "Rewrite the last user question so that it can be understood. Last question: {question}"
    >>> echoes_instructions("Rewrite the last user question so that it can be understood", template)
    True
    >>> echoes_instructions("What does Eugene Yan do when the last user question is unclear?", template)
    False
    """
    def words(text: str) -> list[str]:
        return _PROMPT_WORD.findall(text.lower())

    own = [words(part) for part in _PLACEHOLDER.split(template)]
    runs = {tuple(part[i : i + run]) for part in own for i in range(len(part) - run + 1)}
    said = words(reply)
    return any(tuple(said[i : i + run]) in runs for i in range(len(said) - run + 1))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
