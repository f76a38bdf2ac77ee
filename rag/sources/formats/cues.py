"""`Cue`s (what every caption format holds) -> transcript `Line`s, one per speaker turn.

A cue is one timed piece of text. Caption files cut speech every few seconds; the DTC
transcripts have one line per turn. `cues_to_lines` joins consecutive cues of one speaker
into a turn that keeps its first cue's second, and starts a new line when a turn grows
past `MAX_LINE_S`, so a link still lands near the words it cites.

    >>> cues_to_lines([Cue(5.2, "Hello", "Ann"), Cue(7.0, "there.", "Ann"), Cue(9.0, "Hi!", "Bob")])
    [Line(text='Hello there.', sec=5, speaker='Ann', section=''), Line(text='Hi!', sec=9, speaker='Bob', section='')]
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from rag.sources.episode import Line
from rag.sources.formats.speakers import drop_stage_directions, is_stage_direction

# DTC lines (199 episodes in ../shared/corpus): mean 27 s, median 14 s, 90th percentile
# 67 s. 60 s keeps caption turns as long as all but the longest DTC lines.
# A long turn is cut at the first sentence end after MAX_LINE_S, and at any cue
# after 1.5 times it (a sentence that runs on).
MAX_LINE_S = 60
# Without speakers (plain Whisper, YouTube auto-captions) a line follows no turn, and a
# 60 s line would make a passage's span end up to a minute before its last words: cut
# such lines after 30 s instead, near the DTC mean line (27 s).
SPEAKERLESS_LINE_S = 30
SENTENCE_END = re.compile(r"[.!?…][\"')\]”’]*$")
# Punctuated speech ends a sentence every 10-20 words; speech recognition without a
# punctuation model almost never, and then no sentence end is coming to cut a line at:
# such a transcript's lines are cut at their limit (eval/formats.py, youtube_asr, folds A /
# B over both chapter settings, against 1.5 times it: hit@5 +0 / +2, lands@5 +2 / +3,
# lands@1 +0 / +2, MRR up on each fold in each setting).
PUNCTUATED_WORDS = 60

_TAG = re.compile(r"<[^>]*>")
# "Alexey:", "Dat Tran:", "SPEAKER_01:" (up to four words, capitalised) or "[Dat Tran]".
SPEAKER_PREFIX = re.compile(r"^(?:\[([^\]\n]{1,40})\]:?|((?:[A-Z][\w.'-]*)(?: [A-Z][\w.'-]*){0,3}):)\s+")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    text: str
    speaker: str = ""


class CueList:
    """Cues in file order; counts the empty ones dropped and the overlapping ones kept."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts
        self.cues: list[Cue] = []
        self._latest_end = 0.0

    def add(self, start: float, end: float, words: str, speaker: str) -> None:
        if not words:
            self.counts["empty cue(s) dropped"] += 1
            return
        if start < self._latest_end:
            # Sorting overlapping cues reordered real text; file order is the safer guess.
            self.counts["overlapping cue(s) kept in file order"] += 1
        self._latest_end = max(self._latest_end, end)
        self.cues.append(Cue(start, words, speaker))


def split_speaker_prefix(words: str, speaker: str) -> tuple[str, str]:
    """(the words without a leading `NAME:` or `[NAME]`, the speaker it names, else `speaker`).

    A prefix opens a turn that holds until the next one; a stage direction
    ("[chuckles] less", "[Bekah chuckles] Like") names nobody and changes no turn.

    >>> split_speaker_prefix("ANN: Hello there", ""), split_speaker_prefix("and more", "ANN")
    (('Hello there', 'ANN'), ('and more', 'ANN'))
    >>> split_speaker_prefix("[chuckles] less", "ANN")
    ('[chuckles] less', 'ANN')
    """
    prefix = SPEAKER_PREFIX.match(words)
    if not prefix or is_stage_direction(prefix[1] or prefix[2]):
        return words, speaker
    return words[prefix.end() :].strip(), (prefix[1] or prefix[2]).strip()


def is_punctuated(texts: Iterable[str]) -> bool:
    """Whether at least one word in `PUNCTUATED_WORDS` ends a sentence.

    >>> is_punctuated(["so we started.", "Then it grew!"]), is_punctuated(["so we started then it grew"])
    (True, False)
    """
    words = [word for text in texts for word in text.split()]
    return sum(1 for word in words if SENTENCE_END.search(word)) * PUNCTUATED_WORDS >= len(words)


def clean_text(raw: str) -> str:
    """Drop markup tags (`<i>`, `<c.red>`, `<v Ann>`), decode entities, squeeze spaces."""
    return " ".join(html.unescape(_TAG.sub("", raw)).split())


def cues_to_lines(cues: Sequence[Cue], max_line_s: int = MAX_LINE_S, breaks: Sequence[int] = ()) -> list[Line]:
    """Join consecutive same-speaker cues into turns of about `max_line_s` seconds (cut at
    a sentence end once past it, anywhere once past 1.5 times it, or once past it when
    the cues are unpunctuated; `SPEAKERLESS_LINE_S` for cues without a speaker). A line
    never runs across one of the `breaks` (seconds, e.g. chapter starts): the cue at or
    after it starts a new line.

    Cues are taken in file order (overlapping cues too: captions overlap in time,
    rarely in order of speech); empty cues are ignored. Stage directions are dropped
    from each line's words once its cues are joined (a direction may span two cues:
    "[Bekah" / "chuckles]."), and a line of nothing else with them.
    """
    lines: list[Line] = []
    texts: list[str] = []
    start = 0
    speaker = ""
    ordered_breaks = sorted(breaks)
    spoken = [cue for cue in cues if cue.text.strip()]
    run_on = 1.5 if is_punctuated(cue.text for cue in spoken) else 1.0
    for cue in spoken:
        sec = int(cue.start)
        limit = max_line_s if speaker else min(max_line_s, SPEAKERLESS_LINE_S)
        long = sec - start >= limit and SENTENCE_END.search(texts[-1]) if texts else False
        crosses = bisect.bisect_right(ordered_breaks, sec) > bisect.bisect_right(ordered_breaks, start)
        if texts and (cue.speaker != speaker or long or crosses or sec - start >= limit * run_on):
            lines.append(Line(" ".join(texts), start, speaker, ""))
            texts = []
        if not texts:
            start, speaker = sec, cue.speaker
        texts.append(cue.text.strip())
    if texts:
        lines.append(Line(" ".join(texts), start, speaker, ""))
    spoken_lines = [replace(line, text=drop_stage_directions(line.text)) for line in lines]
    return [line for line in spoken_lines if line.text]
