"""Chapters (a sidecar's `chapters:`) -> the section of each transcript line.

Caption and JSON transcripts have no section headers, but many podcasts publish
chapters: Podcasting 2.0 chapters JSON, YouTube chapters, show notes with times. The
DTC transcripts' headers are such chapters, and retrieval leans on them: they are
embedded with every passage (`rag.index.chunking.context_header`) and passages never cross
them. So a sidecar may list them, each a start (seconds or `h:mm:ss`) and a title:

    chapters:
      - {start: 0, title: Introduction}
      - {start: "2:06", title: Dat's background}

A caption line never runs across a chapter start (`rag.sources.formats.parse_transcript`'s
`breaks`), so each line lies in one chapter.

    >>> chapters, notes = parse_chapters([{"start": "0:10", "title": "Intro"}, {"title": "x"}], "ep.yaml")
    >>> chapters, notes
    ([Chapter(start=10, title='Intro')], ['ep.yaml: chapter 2 has no usable start; dropped'])
    >>> [line.section for line in with_chapters([Line("a", 5, "", ""), Line("b", 12, "", "")], chapters)]
    ['', 'Intro']
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from typing import Sequence

from rag.sources.episode import Line, clean_field, parse_timestamp


@dataclass(frozen=True)
class Chapter:
    start: int  # second
    title: str


def parse_chapters(raw: object, name: str) -> tuple[list[Chapter], list[str]]:
    """The chapters of a sidecar's `chapters:` value, by start; a note per one dropped.

    Each item is a mapping with `start` (or Podcasting 2.0's `startTime`) and `title`.
    """
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [f"{name}: 'chapters' is not a list; ignored"]
    chapters: list[Chapter] = []
    notes: list[str] = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            notes.append(f"{name}: chapter {n} is not a mapping; dropped")
            continue
        start = parse_timestamp(item.get("start", item.get("startTime")))
        title = clean_field(item.get("title") or "")
        if start is None:
            notes.append(f"{name}: chapter {n} has no usable start; dropped")
        elif not title:
            notes.append(f"{name}: chapter {n} has no title; dropped")
        else:
            chapters.append(Chapter(start, title))
    return sorted(chapters, key=lambda c: c.start), notes


def with_chapters(lines: Sequence[Line], chapters: Sequence[Chapter]) -> list[Line]:
    """Each line with the title of the last chapter started at or before its second
    as its section ("" before the first chapter)."""
    if not chapters:
        return list(lines)
    starts = [c.start for c in chapters]
    out = []
    for line in lines:
        at = bisect.bisect_right(starts, line.sec) - 1
        out.append(replace(line, section=chapters[at].title if at >= 0 else ""))
    return out
