"""One frozen `Config`, built from an optional YAML file, then the environment, then flags.

    >>> load_config(env={"RAG_INDEX": "/srv/idx"}).index_dir
    PosixPath('/srv/idx')
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from rag.answers.budget import LLM_ANSWERS_PER_CLIENT_HOUR, LLM_ANSWERS_PER_SESSION, LLMBudget
from rag.answers.llm import LLMSettings, settings_from_env
from rag.errors import RagError
from rag.index.embedding import DEFAULT_MODEL, DEFAULT_QUANTIZE
from rag.limits import MAX_HISTORY_TURNS, MAX_QUESTION_CHARS, MAX_SESSION_RECORDS, Limits, check_podcast_name

DEFAULT_INDEX = Path("indexes/dtc")


@dataclass(frozen=True)
class Config:
    index_dir: Path = DEFAULT_INDEX
    # One root for every cache (`rag ingest --cache`, RAG_CACHE). Set: cached vectors and git
    # clones in it, the ONNX export in its onnx/ and models/. Unset: vectors and clones beside
    # the index (`effective_cache_dir`), the export in ~/.cache/podcast-rag (`default_cache_dir`
    # in rag/index/embedding/onnx_int8.py).
    cache_dir: Path | None = None
    # Building an index (`rag ingest --model/--quantize`, RAG_MODEL, RAG_QUANTIZE): the
    # sentence-transformers name or path passages are embedded with, and the precision.
    model: str = DEFAULT_MODEL
    quantize: str = DEFAULT_QUANTIZE  # "int8" (ONNX Runtime) or "fp32" (torch)
    # Searching (`rag search --model`): refuse an index whose manifest records another model
    # id (e.g. "sentence-transformers/all-MiniLM-L6-v2+onnx-int8"); None: any. Queries are
    # always embedded with the model the index records, whatever `model` says.
    expected_model: str | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)  # not configured: extractive answers
    refusal_min_cosine: float | None = None  # None: rag.answers.answerer's value, calibrated for all-MiniLM-L6-v2
    refusal_min_coverage: float | None = None  # None: rag.answers.answerer's value, calibrated on the dev set
    rerank_with_llm: bool = False  # re-rank the top moments with the LLM before answering (rag/answers/rerank.py)
    # Use the relevance model the index names (`rag tune`, rag/search/rescore.py), RAG_RELEVANCE_MODEL.
    # Off by default: on the dev questions it placed and ranked moments worse than the
    # untuned search on both folds (docs/relevance.md).
    relevance_model: bool = False
    # Feeds and transcripts may be fetched from loopback, private and link-local addresses
    # (`rag ingest --allow-private-hosts`, RAG_ALLOW_PRIVATE_HOSTS): an operator's own network.
    allow_private_hosts: bool = False
    # Or only these host names (`rag ingest --private-host HOST`, RAG_PRIVATE_HOSTS=a,b): a
    # redirect from one of them to any other internal host is still refused.
    private_hosts: tuple[str, ...] = ()
    # LLM-written answers for visitors of the web app and the MCP tool (rag/answers/budget.py); past a
    # limit the answer quotes the transcripts. RAG_LLM_ANSWERS_PER_HOUR (each visitor),
    # RAG_LLM_ANSWERS_PER_SESSION, RAG_LLM_ANSWERS_PER_DAY (everyone; 0: no daily cap).
    llm_answers_per_hour: int = LLM_ANSWERS_PER_CLIENT_HOUR
    llm_answers_per_session: int = LLM_ANSWERS_PER_SESSION
    llm_answers_per_day: int = 0
    max_question_chars: int = MAX_QUESTION_CHARS  # longer questions are refused (CLI and app)
    max_history_turns: int = MAX_HISTORY_TURNS  # earlier questions a follow-up may lean on
    max_session_records: int = MAX_SESSION_RECORDS  # answers a web session keeps for its votes
    # What the page and the LLM's instructions call the podcast (RAG_PODCAST_NAME); None:
    # the name the index was built with (`rag ingest --name`), else "the podcast".
    podcast_name: str | None = None
    # The key share links are signed with (RAG_SHARE_SECRET, environment only); None: a key
    # generated beside the index (rag/app/share.py). Never shown: repr=False.
    share_secret: str | None = field(default=None, repr=False)

    def with_overrides(self, **changes: Any) -> "Config":
        """Flags win over file and environment; `None` means "not given"."""
        given = {key: value for key, value in changes.items() if value is not None}
        if "index_dir" in given:
            given["index_dir"] = Path(given["index_dir"])
        if "cache_dir" in given:
            given["cache_dir"] = Path(given["cache_dir"])
        for name in ("refusal_min_cosine", "refusal_min_coverage"):
            if name in given:
                try:
                    given[name] = float(given[name])
                except (TypeError, ValueError):
                    raise RagError(f"{name} must be a number, not {given[name]!r}") from None
        for name, least in _INT_MINIMUM.items():
            if name in given:
                given[name] = _as_int(given[name], name, least)
        if "podcast_name" in given:
            given["podcast_name"] = check_podcast_name(given["podcast_name"])
        if "private_hosts" in given and isinstance(given["private_hosts"], str):
            given["private_hosts"] = tuple(h for h in given["private_hosts"].split(",") if h.strip())
        elif "private_hosts" in given:
            given["private_hosts"] = tuple(str(h) for h in given["private_hosts"])
        for name in ("rerank_with_llm", "relevance_model", "allow_private_hosts"):
            if name in given and not isinstance(given[name], bool):
                given[name] = as_bool(given[name], name)
        return dataclasses.replace(self, **given)

    def with_llm(self, model: str | None = None, base_url: str | None = None) -> "Config":
        """The LLM flags (--llm-model, --llm-base-url) over file and environment."""
        if not model and not base_url:
            return self
        return dataclasses.replace(
            self, llm=dataclasses.replace(self.llm, model=model or self.llm.model, base_url=base_url or self.llm.base_url)
        )

    @property
    def private_fetches(self) -> bool | frozenset[str]:
        """What `rag.sources.fetch` may reach on internal addresses: every host, these hosts, or none."""
        return True if self.allow_private_hosts else frozenset(h.strip().lower() for h in self.private_hosts if h.strip())

    def llm_budget(self) -> LLMBudget:
        """The visitors' LLM budget these settings describe (one per app)."""
        return LLMBudget(self.llm_answers_per_hour, self.llm_answers_per_session, self.llm_answers_per_day or None)

    @property
    def limits(self) -> Limits:
        return Limits(self.max_question_chars, self.max_history_turns, self.max_session_records)

    @property
    def effective_cache_dir(self) -> Path:
        """Where ingest keeps cached vectors and git clones: `cache_dir`, else beside the index.

        >>> Config(index_dir=Path("indexes/dtc")).effective_cache_dir
        PosixPath('indexes/cache')
        """
        return self.cache_dir or self.index_dir.parent / "cache"


# Keys come from the environment only: a config file may be shared or committed.
_SECRETS = ("api_key", "hf_token")
_SECRET_FIELDS = ("share_secret",)

_ENV = {
    "RAG_INDEX": "index_dir",
    "RAG_CACHE": "cache_dir",
    "RAG_MODEL": "model",
    "RAG_QUANTIZE": "quantize",
    "RAG_REFUSAL_MIN_COSINE": "refusal_min_cosine",
    "RAG_REFUSAL_MIN_COVERAGE": "refusal_min_coverage",
    "RAG_LLM_RERANK": "rerank_with_llm",
    "RAG_RELEVANCE_MODEL": "relevance_model",
    "RAG_ALLOW_PRIVATE_HOSTS": "allow_private_hosts",
    "RAG_PRIVATE_HOSTS": "private_hosts",
    "RAG_LLM_ANSWERS_PER_HOUR": "llm_answers_per_hour",
    "RAG_LLM_ANSWERS_PER_SESSION": "llm_answers_per_session",
    "RAG_LLM_ANSWERS_PER_DAY": "llm_answers_per_day",
    "RAG_MAX_QUESTION_CHARS": "max_question_chars",
    "RAG_MAX_HISTORY_TURNS": "max_history_turns",
    "RAG_MAX_SESSION_RECORDS": "max_session_records",
    "RAG_PODCAST_NAME": "podcast_name",
}
_INT_MINIMUM = {"max_question_chars": 1, "max_history_turns": 0, "max_session_records": 1,
                "llm_answers_per_hour": 0, "llm_answers_per_session": 0, "llm_answers_per_day": 0}


def _as_int(value: object, name: str, least: int) -> int:
    """An int from YAML or the environment; rejects `True`, `1.5` and anything below `least`."""
    try:
        number = value if type(value) is int else int(str(value).strip())
    except ValueError:
        number = least - 1
    if number < least:
        raise RagError(f"{name} must be a whole number >= {least}, not {value!r}")
    return number


def as_bool(value: object, name: str) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off (or empty); `RagError` naming `name` otherwise."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise RagError(f"{name} must be true or false, not {value!r}")


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """File (YAML mapping of Config fields) < environment (RAG_*) for each field."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = path or env.get("RAG_CONFIG")
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RagError(f"{path}: cannot read config ({exc})") from None
        if not isinstance(loaded, dict):
            raise RagError(f"{path}: config must be a YAML mapping")
        known = {f.name for f in dataclasses.fields(Config) if f.name != "llm" and f.name not in _SECRET_FIELDS}
        known |= {f"llm_{name}" for name in LLMSettings.__dataclass_fields__ if name not in _SECRETS}
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise RagError(f"{path}: unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values.update(loaded)
    llm_file = {key[len("llm_"):]: values.pop(key) for key in list(values) if key.startswith("llm_")}
    for name, field_name in _ENV.items():
        if env.get(name):
            values[field_name] = env[name]
    if env.get("RAG_SHARE_SECRET"):
        values["share_secret"] = env["RAG_SHARE_SECRET"]
    llm = settings_from_env(env)
    if llm_file:
        # Environment wins over the file, as for every other field.
        from_file = {k: v for k, v in llm_file.items() if k in LLMSettings.__dataclass_fields__ and k not in _SECRETS}
        env_given = {k: getattr(llm, k) for k in ("base_url", "model") if getattr(llm, k)}
        llm = dataclasses.replace(llm, **{**from_file, **env_given})
    return Config().with_overrides(**values, llm=llm)
