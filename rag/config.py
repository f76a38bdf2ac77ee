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

from rag.errors import RagError
from rag.llm import LLMSettings, settings_from_env

DEFAULT_INDEX = Path("indexes/dtc")


@dataclass(frozen=True)
class Config:
    index_dir: Path = DEFAULT_INDEX
    cache_dir: Path | None = None  # None: <index parent>/cache
    model: str | None = None  # None: the model recorded in the index manifest
    quantize: str | None = None  # "int8" or "fp32"; None: the default for ingest
    llm: LLMSettings = field(default_factory=LLMSettings)  # not configured: extractive answers
    refusal_min_cosine: float | None = None  # None: rag.answer's value, calibrated for all-MiniLM-L6-v2
    refusal_min_coverage: float | None = None  # None: rag.answer's value, calibrated on the dev set
    rerank_with_llm: bool = False  # re-rank the top moments with the LLM before answering (rag/rerank.py)

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
        if "rerank_with_llm" in given and not isinstance(given["rerank_with_llm"], bool):
            given["rerank_with_llm"] = _as_bool(given["rerank_with_llm"], "rerank_with_llm")
        return dataclasses.replace(self, **given)

    def with_llm(self, model: str | None = None, base_url: str | None = None) -> "Config":
        """The LLM flags (--llm-model, --llm-base-url) over file and environment."""
        if not model and not base_url:
            return self
        return dataclasses.replace(
            self, llm=dataclasses.replace(self.llm, model=model or self.llm.model, base_url=base_url or self.llm.base_url)
        )

    @property
    def effective_cache_dir(self) -> Path:
        return self.cache_dir or self.index_dir.parent / "cache"


_ENV = {
    "RAG_INDEX": "index_dir",
    "RAG_CACHE": "cache_dir",
    "RAG_MODEL": "model",
    "RAG_QUANTIZE": "quantize",
    "RAG_REFUSAL_MIN_COSINE": "refusal_min_cosine",
    "RAG_REFUSAL_MIN_COVERAGE": "refusal_min_coverage",
    "RAG_LLM_RERANK": "rerank_with_llm",
}


def _as_bool(value: object, name: str) -> bool:
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
        known = {f.name for f in dataclasses.fields(Config) if f.name != "llm"}
        known |= {f"llm_{name}" for name in LLMSettings.__dataclass_fields__ if name != "api_key"}
        unknown = sorted(set(loaded) - known)
        if unknown:
            raise RagError(f"{path}: unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values.update(loaded)
    llm_file = {key[len("llm_"):]: values.pop(key) for key in list(values) if key.startswith("llm_")}
    for name, field_name in _ENV.items():
        if env.get(name):
            values[field_name] = env[name]
    llm = settings_from_env(env)
    if llm_file:
        # Environment wins over the file, as for every other field.
        from_file = {k: v for k, v in llm_file.items() if k in LLMSettings.__dataclass_fields__ and k != "api_key"}
        env_given = {k: getattr(llm, k) for k in ("base_url", "model") if getattr(llm, k)}
        llm = dataclasses.replace(llm, **{**from_file, **env_given})
    return Config().with_overrides(**values, llm=llm)
