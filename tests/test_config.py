from __future__ import annotations

import subprocess
import sys
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


def test_app_stub_without_index_exits_1_cleanly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent.parent / "app.py")],
        env={"RAG_INDEX": str(tmp_path / "none"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"no index at {tmp_path / 'none'}" in result.stderr
