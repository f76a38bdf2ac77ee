"""Transcript formats -> `Line`s: one pure reader per format, and `parse_transcript`.

    >>> lines, notes = parse_transcript("1\\n00:00:05,000 --> 00:00:07,000\\nAnn: Hi\\n", "a.srt")
    >>> lines[0].speaker, lines[0].sec, notes
    ('Ann', 5, [])
"""

from __future__ import annotations

from typing import Sequence

from rag.errors import TranscriptParseError
from rag.sources.episode import Line
from rag.sources.formats.dtc import parse_episode
from rag.sources.formats.podcast20 import parse_podcast20
from rag.sources.formats.sniff import detect_format
from rag.sources.formats.srt import parse_srt
from rag.sources.formats.vtt import parse_vtt
from rag.sources.formats.whisper import parse_whisper

READERS = {"vtt": parse_vtt, "srt": parse_srt, "whisper": parse_whisper, "podcast20": parse_podcast20}

__all__ = ["READERS", "detect_format", "parse_transcript"]


def parse_transcript(text: str, name: str, breaks: Sequence[int] = ()) -> tuple[list[Line], list[str]]:
    """Lines and repair notes of any supported transcript (`detect_format`); no caption
    line runs across a second of `breaks` (chapter starts).

    A DTC Markdown file gives its lines without people-file names. Raises
    `TranscriptParseError` naming `name` when the text is empty, of no known
    format, or has no spoken line.
    """
    if not text.strip():
        raise TranscriptParseError(f"{name}: empty file")
    kind = detect_format(text, name)
    if kind is None:
        raise TranscriptParseError(
            f"{name}: not a transcript (expected WebVTT, SRT, Whisper JSON, Podcasting 2.0 JSON or DTC Markdown)"
        )
    if kind == "markdown":
        episode, notes = parse_episode(text, name, {})
        return list(episode.lines), notes
    lines, notes = READERS[kind](text, name, breaks)
    if not lines:
        raise TranscriptParseError(f"{name}: transcript has no spoken lines")
    return lines, notes
