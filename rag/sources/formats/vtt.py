"""WebVTT -> `Line`s, YouTube auto-captions included.

Handles `<v Speaker>` voice tags and `NAME:` prefixes (each opens a turn that holds until
the next one), stage directions (`rag.sources.formats.speakers`), cue settings after the timing, NOTE/STYLE/REGION
blocks, a BOM, CRLF, timestamps without hours, comma decimals, markup in the cue
text, `-->` inside the text, empty and overlapping cues. A YouTube auto-caption file
(inline `<00:01:02.345>` word timings, each cue repeating the line before) is
de-duplicated into sentences that start at their first word's second.

    >>> lines, notes = parse_vtt("WEBVTT\\n\\n00:05.000 --> 00:07.000\\n<v Ann>Hello <i>there</i>\\n", "a.vtt")
    >>> lines, notes
    ([Line(text='Hello there', sec=5, speaker='Ann', section='')], [])
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from rag.errors import TranscriptParseError
from rag.sources.episode import Line
from rag.sources.formats.cues import (
    SENTENCE_END,
    Cue,
    CueList,
    clean_text,
    cues_to_lines,
    is_punctuated,
    split_speaker_prefix,
)
from rag.sources.formats.timestamps import TIMESTAMP, to_seconds

TIMING = re.compile(rf"^\s*({TIMESTAMP})\s*-->\s*({TIMESTAMP})(?:\s.*)?$")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_WORD_TIME = re.compile(rf"<({TIMESTAMP})>")
# Cutting punctuated auto-captions at every caption line too started lines mid-sentence
# (eval/formats.py youtube without chapters: lands@5 0.701 -> 0.612); a cue per caption
# line suits unpunctuated ones better than cues of 15 s (youtube_asr: hit@5 0.940 vs 0.881).
RUN_ON_S = 60  # longer than any spoken sentence


def split_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each block between empty lines; BOM and CRLF removed.

    Only a truly empty line separates blocks: a line of spaces belongs to its cue
    (YouTube writes one above each new caption line).
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(text.split("\n"), 1):
        if line:
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


RawCue = tuple[float, float, list[str], bool]  # start, end, text lines, had an id/index line


def timed_cues(blocks: list[tuple[int, list[str]]], counts: Counter[str]) -> list[RawCue]:
    """Every `start --> end` line and the text under it, up to the next timing line.

    A block with several timing lines (separators of spaces, not empty lines) holds
    several cues; a digits-only line just above a timing line is that cue's index.
    A block with no timing line is dropped and counted.
    """
    cues: list[RawCue] = []
    for _, lines in blocks:
        timings = [i for i, line in enumerate(lines) if TIMING.match(line)]
        if not timings:
            counts["block(s) without a timing line dropped"] += 1
            continue
        for n, i in enumerate(timings):
            stop = timings[n + 1] if n + 1 < len(timings) else len(lines)
            body = lines[i + 1 : stop]
            if n + 1 < len(timings) and body and body[-1].strip().isdigit():
                body = body[:-1]
            match = TIMING.match(lines[i])
            assert match is not None
            if "," in match[1] or "," in match[2]:
                counts["timing line(s) with comma decimals read"] += 1
            cues.append((to_seconds(match[1]), to_seconds(match[2]), body, i > 0))
    return cues


def parse_vtt(text: str, name: str, breaks: Sequence[int] = ()) -> tuple[list[Line], list[str]]:
    """Parse a WebVTT file's text; returns (lines, repair notes). No line crosses a second of `breaks`.

    Raises `TranscriptParseError` naming `name` when no cue has a timing line.
    """
    counts: Counter[str] = Counter()
    blocks = split_blocks(text)
    if blocks and blocks[0][1][0].startswith("WEBVTT"):
        number, header = blocks[0]
        first_timing = next((i for i, line in enumerate(header) if TIMING.match(line)), None)
        blocks = blocks[1:] if first_timing is None else [(number + first_timing, header[first_timing:]), *blocks[1:]]
    else:
        counts["file without a 'WEBVTT' header read as WebVTT"] += 1
    blocks = [(n, lines) for n, lines in blocks if lines[0].split(" ")[0] not in ("NOTE", "STYLE", "REGION")]
    raw_cues = [(start, end, body) for start, end, body, _ in timed_cues(blocks, counts)]
    if not raw_cues:
        raise TranscriptParseError(f"{name}: no WebVTT cue (no 'start --> end' timing line)")

    if any(_WORD_TIME.search(line) for _, _, body in raw_cues for line in body):
        cues = _auto_caption_cues(raw_cues, counts)
    else:
        cues = _plain_cues(raw_cues, counts)
    notes = [f"{n} {what}" for what, n in counts.items()]
    return cues_to_lines(cues, breaks=breaks), notes


def _plain_cues(raw_cues: list[tuple[float, float, list[str]]], counts: Counter[str]) -> list[Cue]:
    cues = CueList(counts)
    # A voice tag or a `NAME:` prefix opens a turn that holds until the next one: Buzzsprout
    # tags only a turn's first cue (`<v Travis>`, never closed) and mixes in "Gilon:" prefixes.
    speaker = ""
    for start, end, body in raw_cues:
        joined = " ".join(body)
        voice = _VOICE.search(joined)
        words = clean_text(joined)
        if voice:
            speaker = clean_text(voice[1])
        else:
            words, speaker = split_speaker_prefix(words, speaker)
        cues.add(start, end, words, speaker)
    return cues.cues


def _auto_caption_cues(raw_cues: list[tuple[float, float, list[str]]], counts: Counter[str]) -> list[Cue]:
    """Each auto-caption cue shows the previous line again above the new one; only
    the last line is new, and only when it differs from the line emitted before.

    The new lines' words become cues of whole sentences, each starting at its first
    word's second. Auto-captions are often unpunctuated, and then there is no sentence
    to end a cue (a file would be one cue, one line, every link opening at its start):
    in a file that is not `rag.sources.formats.cues.is_punctuated`, each caption line is a cue.
    In a punctuated file a "sentence" that runs past `RUN_ON_S` ends with its caption
    line.
    """
    words: list[tuple[float, str, bool]] = []  # second, word, whether it ends its caption line
    previous = ""
    for start, _, body in raw_cues:
        last = next((line for line in reversed(body) if clean_text(line)), "")
        if not last or clean_text(last) == previous:  # the rolling repeat: the format's normal, no note
            continue
        previous = clean_text(last)
        pieces = _WORD_TIME.split(last)  # text, time, text, time, text ...
        times = [start] + [to_seconds(t) for t in pieces[1::2]]
        line = [(when, word) for when, piece in zip(times, pieces[0::2]) for word in clean_text(piece).split()]
        words += [(when, word, n == len(line) - 1) for n, (when, word) in enumerate(line)]
    punctuated = is_punctuated(word for _, word, _ in words)
    cues: list[Cue] = []
    sentence: list[str] = []
    sentence_start = 0.0
    for when, word, ends_line in words:
        if not sentence:
            sentence_start = when
        sentence.append(word)
        run_on = not punctuated or when - sentence_start >= RUN_ON_S
        if SENTENCE_END.search(word) or (ends_line and run_on):
            cues.append(Cue(sentence_start, " ".join(sentence)))
            sentence = []
    if sentence:
        cues.append(Cue(sentence_start, " ".join(sentence)))
    return cues
