from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import load_config
from rag.errors import RagError


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text("index_dir: from-file\nmodel: file-model\n")
    config = load_config(path, env={"RAG_MODEL": "env-model"})
    assert (config.index_dir, config.model) == (Path("from-file"), "env-model")
    assert config.with_overrides(index_dir="flag", model=None).index_dir == Path("flag")
    assert config.effective_cache_dir == Path("cache")


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text("index: x\n")
    with pytest.raises(RagError, match=rf"{path}: unknown config key\(s\) index; known: "):
        load_config(path, env={})


def test_refusal_min_coverage_from_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text("refusal_min_coverage: 0.3\n")
    assert load_config(path, env={}).refusal_min_coverage == 0.3
    assert load_config(path, env={"RAG_REFUSAL_MIN_COVERAGE": "0.4"}).refusal_min_coverage == 0.4
    with pytest.raises(RagError, match=r"^refusal_min_coverage must be a number, not 'high'$"):
        load_config(env={"RAG_REFUSAL_MIN_COVERAGE": "high"})


def test_input_limits_from_file_then_environment_and_validated(tmp_path: Path) -> None:
    from rag.limits import Limits

    assert load_config(env={}).limits == Limits(2_000, 6, 50)
    path = tmp_path / "rag.yaml"
    path.write_text("max_question_chars: 500\nmax_history_turns: 0\n")
    config = load_config(path, env={"RAG_MAX_SESSION_RECORDS": "10", "RAG_MAX_QUESTION_CHARS": "300"})
    assert config.limits == Limits(max_question_chars=300, max_history_turns=0, max_session_records=10)
    with pytest.raises(RagError, match=r"^max_question_chars must be a whole number >= 1, not '0'$"):
        load_config(env={"RAG_MAX_QUESTION_CHARS": "0"})
    with pytest.raises(RagError, match=r"^max_history_turns must be a whole number >= 0, not 'six'$"):
        load_config(env={"RAG_MAX_HISTORY_TURNS": "six"})
    path.write_text("max_session_records: 2.5\n")
    with pytest.raises(RagError, match=r"^max_session_records must be a whole number >= 1, not 2.5$"):
        load_config(path, env={})


@pytest.mark.parametrize("key", ["llm_api_key", "llm_hf_token"])
def test_keys_are_never_read_from_a_config_file(tmp_path: Path, key: str) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text(f"{key}: hf_secret\n")
    with pytest.raises(RagError, match=rf"unknown config key\(s\) {key}"):
        load_config(path, env={})


def test_every_key_held_is_listed_for_redaction() -> None:
    config = load_config(env={"HF_TOKEN": "hf_secret", "OPENAI_API_KEY": "sk-secret"})
    assert set(config.llm.secrets) == {"hf_secret", "sk-secret"}
