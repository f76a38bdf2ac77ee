"""Which transcript format a file holds, judged by its content first, its name second.

    >>> detect_format("WEBVTT\\n\\n00:01.000 --> 00:02.000\\nHi\\n", "talk.txt")
    'vtt'
    >>> detect_format('{"version": "1.0.0", "segments": []}', "t.json")
    'podcast20'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

Format = Literal["vtt", "srt", "whisper", "podcast20", "markdown"]

_SRT_TIMING = re.compile(r"^\s*\d+:\d{2}:\d{2},\d{1,3}\s*-->", re.MULTILINE)
_ANY_TIMING = re.compile(r"^\s*(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?\s*-->", re.MULTILINE)
_BY_SUFFIX: dict[str, Format] = {".vtt": "vtt", ".srt": "srt", ".md": "markdown"}


def detect_format(text: str, name: str) -> Format | None:
    """"vtt" | "srt" | "whisper" | "podcast20" | "markdown", or None when unknown."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("{", "[")):
        return _json_format(head)
    if head.startswith("---"):
        return "markdown"
    if _SRT_TIMING.search(head[:4000]):
        return "srt"
    if _ANY_TIMING.search(head[:4000]):
        return "vtt"
    return _BY_SUFFIX.get(Path(name).suffix.lower()) if head else None


def _json_format(text: str) -> Format | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        return None
    first = next((s for s in data["segments"] if isinstance(s, dict)), {})
    if "version" in data or "startTime" in first or "body" in first:
        return "podcast20"
    return "whisper"
