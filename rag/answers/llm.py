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

import re
import time
from dataclasses import dataclass, field
from typing import Any, Generator, Iterator, Mapping, Protocol, Sequence
from urllib.parse import urlsplit

from rag.errors import LLMError
from rag.urls import public_url

Message = Mapping[str, str]

HF_ROUTER_URL = "https://router.huggingface.co/v1"

HF_DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"

# The longest reply read: ~4x the default max_tokens of 600 in English, so only a
# server that ignores max_tokens reaches it.
MAX_REPLY_CHARS = 8_000


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@dataclass(frozen=True)
class Delta:
    """A piece of an answer's text as it streams in."""

    text: str


def capped_stream(llm: LLM, messages: list[Message], deadline: Deadline | None, max_chars: int,
                  warnings: list[str]) -> Generator[Delta, None, str | None]:
    """Stream the LLM's answer as deltas, cut at `max_chars`; return its whole text, or
    None when the LLM failed (with a warning: the quotes come instead)."""
    text = ""
    deltas = llm.stream(messages, deadline)
    try:
        for delta in deltas:
            delta = delta[: max_chars - len(text)]
            text += delta
            if delta:
                yield Delta(delta)
            if len(text) >= max_chars:
                warnings.append(f"the LLM's answer was cut at {max_chars:,} characters")
                break
    except LLMError as exc:
        warnings.append(f"{exc}; showing the most relevant quotes instead")
        return None
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()  # ends the HTTP stream when the answer was cut or the reader left
    return text
