"""README.md and docs/: every relative link leads to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code blocks hold no links
    broken = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert broken == [], f"{page.name}: {broken}"


# ------------------------------------------------------------------ README's commands

_BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
_ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=")


def readme_commands() -> list[list[str]]:
    """Each command line of README's bash blocks, as words, comments dropped."""
    import shlex

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [shlex.split(line, comments=True) for block in _BASH_BLOCK.findall(text)
            for line in block.splitlines() if shlex.split(line, comments=True)]


def _split_environment(words: list[str]) -> tuple[list[str], list[str]]:
    names = []
    while words and _ASSIGNMENT.match(words[0]):
        names.append(_ASSIGNMENT.match(words[0]).group(1))
        words = words[1:]
    return names, words


def test_readme_has_commands_to_check() -> None:
    programs = {_split_environment(words)[1][0] for words in readme_commands()}
    assert {"make", "rag", "python"} <= programs


@pytest.mark.parametrize("words", readme_commands(), ids=" ".join)
def test_every_readme_command_parses_against_the_code(words: list[str]) -> None:
    """A README command names a Makefile target, a `rag` subcommand with options it
    has, or app.py with its flags, and only environment variables something reads: a
    renamed option or target fails here (the commands themselves run in test_cli,
    test_app and CI)."""
    import click

    names, words = _split_environment(words)
    program, args = words[0], words[1:]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    code = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "app.py", *(ROOT / "rag").rglob("*.py")])
    for name in names:
        assert f'"{name}"' in code or re.search(rf"^{name} \?=|\$\({name}\)", makefile, re.M), f"nothing reads {name}"
    if program == "make":
        targets = [a for a in args if not _ASSIGNMENT.match(a)]
        for target in targets:
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"no Makefile target {target}"
        for assignment in (a for a in args if _ASSIGNMENT.match(a)):
            variable = _ASSIGNMENT.match(assignment).group(1)
            assert re.search(rf"\$\({variable}\)", makefile), f"the Makefile does not use {variable}"
    elif program == "rag":
        from rag.cli import cli

        group = cli.make_context("rag", list(args), resilient_parsing=False)
        command = cli.get_command(group, args[0]) if args else None
        assert command is not None, f"no rag subcommand in {words}"
        try:
            command.make_context(args[0], list(args[1:]), parent=group)
        except click.UsageError as exc:
            pytest.fail(f"{' '.join(words)}: {exc}")
    elif program == "python":
        assert args[0] == "app.py", words
        import importlib.util

        spec = importlib.util.spec_from_file_location("readme_app", ROOT / "app.py")
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        app.parse_args(list(args[1:]))
    else:
        pytest.fail(f"README runs {program}: teach this check what it is")
