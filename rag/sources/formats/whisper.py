"""Whisper / whisperX JSON -> `Line`s.

`{"segments": [{"start": 5.0, "end": 7.2, "text": " Hello", "speaker": "SPEAKER_00"}]}`;
the speaker is optional (diarized output only). whisperX's `segments[].words[]`
(`word`, `start`, `speaker`) are used when the words carry speakers, so a turn that
changes inside a segment is split at the right word.

    >>> parse_whisper('{"segments": [{"start": 5.4, "end": 7, "text": " Hello"}]}', "a.json")
    ([Line(text='Hello', sec=5, speaker='', section='')], [])
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Sequence

from rag.errors import TranscriptParseError
from rag.sources.episode import Line
from rag.sources.formats.cues import Cue, clean_text, cues_to_lines


def load_json_object(text: str, name: str) -> dict:
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise TranscriptParseError(f"{name}:{exc.lineno}: broken JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise TranscriptParseError(f"{name}: JSON has no 'segments' list")
    return data


def as_seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def parse_whisper(text: str, name: str, breaks: Sequence[int] = ()) -> tuple[list[Line], list[str]]:
    """Parse Whisper or whisperX JSON; returns (lines, repair notes). No line crosses a second of `breaks`."""
    counts: Counter[str] = Counter()
    cues: list[Cue] = []
    for segment in load_json_object(text, name)["segments"]:
        if not isinstance(segment, dict):
            counts["segment(s) that are not objects dropped"] += 1
            continue
        start = as_seconds(segment.get("start"))
        words = segment.get("words")
        if isinstance(words, list) and any(isinstance(w, dict) and w.get("speaker") for w in words):
            word_cues = _word_cues(words, start, str(segment.get("speaker") or ""))
            if word_cues:
                cues.extend(word_cues)
                continue
        said = clean_text(str(segment.get("text") or ""))
        if start is None:
            counts["segment(s) without a usable 'start' dropped"] += 1
            continue
        if not said:
            counts["empty segment(s) dropped"] += 1
            continue
        cues.append(Cue(start, said, clean_text(str(segment.get("speaker") or ""))))
    return cues_to_lines(cues, breaks=breaks), [f"{n} {what}" for what, n in counts.items()]


def _word_cues(words: list, segment_start: float | None, segment_speaker: str) -> list[Cue]:
    """Runs of words by one speaker; a word without `start` (digits, often) takes the last one."""
    cues: list[Cue] = []
    run: list[str] = []
    run_start, run_speaker = segment_start, segment_speaker
    when = segment_start
    for word in words:
        if not isinstance(word, dict):
            continue
        when = as_seconds(word.get("start")) if as_seconds(word.get("start")) is not None else when
        speaker = clean_text(str(word.get("speaker") or run_speaker))
        said = clean_text(str(word.get("word") or ""))
        if not said:
            continue
        if run and speaker != run_speaker:
            cues.append(Cue(run_start or 0.0, " ".join(run), run_speaker))
            run = []
        if not run:
            run_start, run_speaker = when, speaker
        run.append(said)
    if run:
        cues.append(Cue(run_start or 0.0, " ".join(run), run_speaker))
    return cues
