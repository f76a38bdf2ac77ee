"""LLMs behind one small protocol; `OpenAIChat` speaks to any OpenAI-compatible server
(OpenAI, Groq, Ollama, llama.cpp, vLLM, the Hugging Face router).

    >>> settings = LLMSettings(base_url="http://127.0.0.1:11434/v1", model="llama3.2")
    >>> llm = OpenAIChat(settings)                       # doctest: +SKIP
    >>> "".join(llm.stream([{"role": "user", "content": "Hi"}]))  # doctest: +SKIP

The API key is only ever handed to the client: it is not part of any message,
`repr`, log line or error text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Protocol, Sequence

from rag.errors import LLMError

Message = Mapping[str, str]

HF_ROUTER_URL = "https://router.huggingface.co/v1"
HF_DEFAULT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"


class LLM(Protocol):
    model: str

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Text deltas as the server produces them; raises `LLMError`."""
        ...

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole reply as one text; raises `LLMError`."""
        ...


@dataclass(frozen=True)
class LLMSettings:
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0  # the longest silence between two streamed chunks
    total_timeout_s: float = 120.0
    max_retries: int = 2  # on 429, 5xx and connection errors, with backoff (Retry-After honoured)
    temperature: float = 0.1

    @property
    def configured(self) -> bool:
        return bool(self.model and (self.base_url or self.api_key))

    def describe(self) -> str:
        """For the UI and logs: model and server, never the key."""
        return f"{self.model} at {self.base_url or 'https://api.openai.com/v1'}"


def settings_from_env(env: Mapping[str, str]) -> LLMSettings:
    """OPENAI_BASE_URL / OPENAI_API_KEY / RAG_LLM_MODEL; or HF_TOKEN alone -> the HF router.

    No variable set means no LLM: the answer stage is then extractive.
    """
    base_url = env.get("OPENAI_BASE_URL") or None
    api_key = env.get("OPENAI_API_KEY") or None
    model = env.get("RAG_LLM_MODEL") or None
    if not base_url and not api_key and env.get("HF_TOKEN"):
        return LLMSettings(base_url=HF_ROUTER_URL, api_key=env["HF_TOKEN"], model=model or HF_DEFAULT_MODEL)
    if api_key and not base_url and not model:
        model = OPENAI_DEFAULT_MODEL
    if base_url and not model:
        return LLMSettings(base_url=base_url, api_key=api_key)  # not configured: a model is needed
    timeouts = {}
    for name, key in (("RAG_LLM_TIMEOUT", "total_timeout_s"), ("RAG_LLM_CONNECT_TIMEOUT", "connect_timeout_s")):
        if env.get(name):
            try:
                timeouts[key] = float(env[name])
            except ValueError:
                raise LLMError(f"{name}={env[name]!r} is not a number of seconds") from None
    return LLMSettings(base_url=base_url, api_key=api_key, model=model, **timeouts)


class OpenAIChat:
    """Streaming chat completions through the `openai` client."""

    def __init__(self, settings: LLMSettings) -> None:
        from openai import OpenAI, Timeout

        if not settings.model:
            raise LLMError("no LLM model configured (set RAG_LLM_MODEL)")
        self.settings = settings
        self.model = settings.model
        self._client = OpenAI(
            base_url=settings.base_url,
            # Local servers (Ollama, llama.cpp) ignore the key but the client wants one.
            api_key=settings.api_key or "not-needed",
            timeout=Timeout(settings.total_timeout_s, connect=settings.connect_timeout_s, read=settings.read_timeout_s),
            max_retries=settings.max_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAIChat({self.settings.describe()})"

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        import openai

        where = self.settings.describe()
        deadline = time.monotonic() + self.settings.total_timeout_s
        try:
            chunks = self._client.chat.completions.create(
                model=self.model,
                messages=[dict(m) for m in messages],  # type: ignore[misc]
                stream=True,
                temperature=self.settings.temperature,
            )
            for chunk in chunks:
                if time.monotonic() > deadline:
                    raise LLMError(f"LLM {where}: no complete answer within {self.settings.total_timeout_s:g}s")
                choices = getattr(chunk, "choices", None) or []
                delta = choices[0].delta.content if choices and choices[0].delta else None
                if delta:
                    yield delta
        except LLMError:
            raise
        except openai.APITimeoutError:
            raise LLMError(f"LLM {where}: timed out") from None
        except openai.APIConnectionError as exc:
            raise LLMError(f"LLM {where}: cannot connect ({_first_line(exc)})") from None
        except openai.APIStatusError as exc:
            raise LLMError(f"LLM {where}: HTTP {exc.status_code} ({_first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - a stalled or garbled stream surfaces as many types
            if "timeout" in type(exc).__name__.lower():
                raise LLMError(f"LLM {where}: timed out") from None
            raise LLMError(f"LLM {where}: unusable response ({type(exc).__name__}: {_first_line(exc)})") from None

    def complete(self, messages: Sequence[Message]) -> str:
        return "".join(self.stream(messages))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
