"""SubRip (.srt) -> `Line`s.

Numbered cues (the number may be missing), `00:01:02,345 --> 00:01:04,000` timings,
BOM and CRLF, markup tags, and speaker prefixes `NAME:` or `[NAME]`. A cue without a
prefix continues the previous cue's speaker; a stage direction ("[chuckles]") is no
prefix, and is dropped from the words (`rag.sources.formats.speakers`).

    >>> text = "1\\r\\n00:00:05,000 --> 00:00:07,000\\r\\nAnn: Hello\\r\\n\\r\\n2\\r\\n00:00:08,000 --> 00:00:09,000\\r\\nthere\\r\\n"
    >>> parse_srt(text, "a.srt")
    ([Line(text='Hello there', sec=5, speaker='Ann', section='')], [])
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from rag.errors import TranscriptParseError
from rag.sources.episode import Line
from rag.sources.formats.cues import CueList, clean_text, cues_to_lines, split_speaker_prefix
from rag.sources.formats.vtt import split_blocks, timed_cues


def parse_srt(text: str, name: str, breaks: Sequence[int] = ()) -> tuple[list[Line], list[str]]:
    """Parse an SRT file's text; returns (lines, repair notes). No line crosses a second of `breaks`.

    Raises `TranscriptParseError` naming `name` when no cue has a timing line.
    """
    counts: Counter[str] = Counter()
    cues = CueList(counts)
    speaker = ""
    for start, end, body, indexed in timed_cues(split_blocks(text), counts):
        if not indexed:
            counts["cue(s) without an index line read"] += 1
        words, speaker = split_speaker_prefix(clean_text(" ".join(body)), speaker)
        cues.add(start, end, words, speaker)
    counts.pop("timing line(s) with comma decimals read", None)  # SRT's own notation, not a repair
    if not cues.cues and not counts["empty cue(s) dropped"]:
        raise TranscriptParseError(f"{name}: no SRT cue (no 'start --> end' timing line)")
    return cues_to_lines(cues.cues, breaks=breaks), [f"{n} {what}" for what, n in counts.items()]
