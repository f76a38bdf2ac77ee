from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_make_space_writes_code_index_requirements_and_front_matter(tmp_path: Path, built_index: Path) -> None:
    out = tmp_path / "space"
    result = subprocess.run([sys.executable, "scripts/make_space.py", "--index", str(built_index), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.startswith(f"wrote {out}: ") and " MB (index " in result.stdout
    readme = (out / "README.md").read_text()
    front = readme.split("---\n")[1]
    for line in ("sdk: gradio", "app_file: app.py", "title: ", "emoji: ", "sdk_version: "):
        assert line in front
    assert (out / "app.py").exists() and (out / "rag" / "answers" / "answerer.py").exists() and (out / "rag" / "answers" / "prompts.yaml").exists()
    assert (out / "rag" / "index" / "embedding" / "onnx_int8.py").exists() and not list(out.rglob("__pycache__"))
    assert (out / "indexes" / "dtc" / "manifest.json").exists()
    # Every index file over Hugging Face's 10 MB limit for plain git goes through LFS.
    tracked = [line.split()[0] for line in (out / ".gitattributes").read_text().splitlines()]
    for path in (out / "indexes" / "dtc").rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            relative = path.relative_to(out)
            assert any(relative.match(pattern) or path.match(pattern) for pattern in tracked), relative
    assert "share-secret" in (out / ".gitignore").read_text().split()
    requirements = (out / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements and "gradio" in requirements
    assert "-c constraints.txt" in requirements
    assert (out / "constraints.txt").read_text() == (ROOT / "constraints.txt").read_text()


def test_make_space_refuses_a_missing_index(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "scripts/make_space.py", "--index", str(tmp_path / "none"), "--out", str(tmp_path / "s")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith(f"error: no index at {tmp_path / 'none'}")


def test_every_dependency_is_pinned_in_the_locked_set() -> None:
    import re
    import tomllib

    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for requirement in declared:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0]).lower()
        assert pinned.get(name), f"{requirement} is not pinned in constraints.txt (run make lock)"
    # The Space installs what CI tested: every requirement line is constrained by the same file.
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text()
