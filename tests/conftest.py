"""Shared fixtures: a small slice of the real corpus and real local backends."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.index.build import ingest  # noqa: E402
from rag.index.embedding import HashingEmbedder  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A writable copy of tests/data/corpus (4 real episodes, trimmed; their people)."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA / "corpus", target)
    return target


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=256)


@pytest.fixture
def built_index(tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder) -> Path:
    index_dir = tmp_path / "indexes" / "test"
    ingest([corpus_dir], index_dir, embedder)
    return index_dir


def write_episode(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


EPISODE = """---
title: {title}
season: 3
episode: 7
guests: [{guest}]
ids:
  youtube: {youtube}
transcript:
- header: Intro
- line: Welcome to the show, today we talk about {topic}.
  sec: 10
  time: '0:10'
  who: Alexey
- line: Thanks for having me. I have worked on {topic} for years.
  sec: 20
  time: '0:20'
  who: {first}
---
"""


def episode_text(title: str = "Test episode", guest: str = "annlee", youtube: str = "vid123abcde",
                 topic: str = "streaming", first: str = "Ann") -> str:
    return EPISODE.format(title=title, guest=guest, youtube=youtube, topic=topic, first=first)


def commit_git_repo(folder: Path) -> Path:
    """Make `folder` a git repository with everything in it committed (for file:// clones)."""
    git = ["git", "-C", str(folder), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "episodes"], check=True)
    return folder


def git_config_env(monkeypatch: pytest.MonkeyPatch, config: dict[str, str]) -> None:
    """Give every git the test starts extra config (GIT_CONFIG_COUNT), e.g. an insteadOf rewrite."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", str(len(config)))
    for n, (key, value) in enumerate(config.items()):
        monkeypatch.setenv(f"GIT_CONFIG_KEY_{n}", key)
        monkeypatch.setenv(f"GIT_CONFIG_VALUE_{n}", value)
