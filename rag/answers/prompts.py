"""The LLM's instructions (`prompts.yaml`) and the messages built from them: the
sources as quoted data, never as instructions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from rag.errors import RagError
from rag.index.chunking import format_timestamp
from rag.limits import DEFAULT_PODCAST_NAME
from rag.search.hits import Hit

PROMPTS_FILE = Path(__file__).with_name("prompts.yaml")


@dataclass(frozen=True)
class Prompts:
    system: str
    user: str
    source: str
    not_covered: str
    rewrite: str
    judge: str


def load_prompts(path: str | Path = PROMPTS_FILE) -> Prompts:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Prompts(**{name: str(data[name]).strip() for name in Prompts.__dataclass_fields__})
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise RagError(f"{path}: unusable prompt file ({type(exc).__name__}: {exc})") from None


def _as_data(text: str) -> str:
    """A transcript cannot close the <<< >>> data block around it."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def _one_line(text: str) -> str:
    """A transcript's field (title, speaker) on one line: it cannot start a line of its own."""
    return " ".join(text.split())


def format_sources(hits: Sequence[Hit], prompts: Prompts) -> str:
    """Each source numbered, with everything that comes from a transcript (title,
    speakers, text) inside its <<< >>> data block; the number and time are ours."""
    return "\n".join(
        prompts.source.format(
            n=n,
            title=_as_data(_one_line(hit.passage.episode_title)),
            speakers=_as_data(_one_line(", ".join(hit.passage.speakers)) or "unknown"),
            time=format_timestamp(hit.passage.start_s),
            text=_as_data(hit.passage.text),
        )
        for n, hit in enumerate(hits, 1)
    )


def build_messages(question: str, hits: Sequence[Hit], prompts: Prompts,
                   podcast: str = DEFAULT_PODCAST_NAME) -> list[dict[str, str]]:
    """System rules + user turn with numbered sources; transcripts stay inside <<< >>>.
    `podcast` is the operator's name for the show (`Config.podcast_name`, `rag ingest --name`)."""
    return [
        {"role": "system", "content": prompts.system.format(not_covered=prompts.not_covered, podcast=podcast)},
        {"role": "user", "content": prompts.user.format(sources=format_sources(hits, prompts), question=question)},
    ]
