"""Podcasting 2.0 JSON transcripts -> `Line`s.

`{"version": "1.0.0", "segments": [{"speaker": "Ann", "startTime": 5.0, "endTime": 7.0, "body": "Hello"}]}`
(the `podcast:transcript` `application/json` type). Segments are often single words;
they are joined into speaker turns.

    >>> parse_podcast20('{"version": "1.0.0", "segments": [{"startTime": 5, "body": "Hi", "speaker": "Ann"}]}', "a.json")
    ([Line(text='Hi', sec=5, speaker='Ann', section='')], [])
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from rag.sources.episode import Line
from rag.sources.formats.cues import Cue, clean_text, cues_to_lines
from rag.sources.formats.whisper import as_seconds, load_json_object


def parse_podcast20(text: str, name: str, breaks: Sequence[int] = ()) -> tuple[list[Line], list[str]]:
    """Parse Podcasting 2.0 JSON; returns (lines, repair notes). No line crosses a second of `breaks`."""
    counts: Counter[str] = Counter()
    cues: list[Cue] = []
    speaker = ""
    for segment in load_json_object(text, name)["segments"]:
        if not isinstance(segment, dict):
            counts["segment(s) that are not objects dropped"] += 1
            continue
        start = as_seconds(segment.get("startTime"))
        said = clean_text(str(segment.get("body") or ""))
        speaker = clean_text(str(segment.get("speaker") or "")) or speaker
        if start is None:
            counts["segment(s) without a usable 'startTime' dropped"] += 1
            continue
        if not said:
            counts["empty segment(s) dropped"] += 1
            continue
        cues.append(Cue(start, said, speaker))
    return cues_to_lines(cues, breaks=breaks), [f"{n} {what}" for what, n in counts.items()]
