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
