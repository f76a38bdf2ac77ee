"""Episode -> speaker-aware, timestamped `Passage`s sized by the embedder's tokenizer.

A passage is consecutive lines of one episode within one section. Its size is counted
in the embedder's own word pieces, so that nothing it embeds is cut off at the model's
limit. A line longer than the budget is split at sentence boundaries (then at word
boundaries for a run-on sentence); every piece keeps its line's second.

    >>> from rag.sources.episode import Episode, Line
    >>> ep = Episode("e1", "T", "vid123abcde", ("Ann Lee",), 1, 1, None,
    ...              (Line("Hi there.", 5, "Ann Lee", "Intro"),), "e1.md")
    >>> [p.url for p in chunk_episode(ep, lambda texts: [len(t.split()) for t in texts], 50)]
    ['https://www.youtube.com/watch?v=vid123abcde&t=5s']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from rag.moment import media_link
from rag.sources.episode import Episode, Line

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")
# What a label or citation shows for a moment whose transcript names nobody. Never part
# of a passage's text: that would be indexed and embedded as if someone had said it.
UNKNOWN_SPEAKER = "Unknown speaker"


@dataclass(frozen=True)
class Passage:
    id: str  # "<episode id>#<ordinal>"
    episode_id: str
    episode_title: str
    section: str
    speakers: tuple[str, ...]  # display names, who spoke most first
    start_s: int
    end_s: int
    text: str  # "Speaker: words" lines joined by newlines; a line without a speaker is just its words
    url: str  # the episode at start_s (`Episode.url_at`: YouTube, media `#t=N` or page); "" when none
    ordinal: int  # position within the episode: neighbours differ by one
    season: int | None = None
    guests: tuple[str, ...] = ()
    line_starts: tuple[int, ...] = ()  # the second of each line of `text`
    episode_description: str = ""  # `Episode.description`: shown with the episode, not ranked (see README)

    def line_at(self, index: int) -> tuple[str, int]:
        """(speaker, second) of line `index` of `text`; "" when the line names nobody."""
        lines = self.text.split("\n")
        speaker = split_label(lines[index], self.speakers)[0] if 0 <= index < len(lines) else ""
        second = self.line_starts[index] if 0 <= index < len(self.line_starts) else self.start_s
        return speaker, second

    def spoken_lines(self) -> list[tuple[str, str]]:
        """(speaker, words) of each line of `text` (`split_label`)."""
        return [split_label(line, self.speakers) for line in self.text.split("\n")]

    def url_at(self, second: int) -> str:
        """The passage's link re-timed to open at `second` (a page link stays as is); "" when it has none."""
        link = media_link(self.url, second)
        return link.link_url if link else ""

    def label(self) -> str:
        """`Episode title — Speaker @ mm:ss`, the way a citation reads."""
        speaker = self.speakers[0] if self.speakers else UNKNOWN_SPEAKER
        return f"{self.episode_title} — {speaker} @ {format_timestamp(self.start_s)}"


def format_timestamp(seconds: int) -> str:
    """75 -> '1:15'; 3723 -> '1:02:03'."""
    hours, rest = divmod(max(int(seconds), 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def speaker_label(line: Line) -> str:
    """A passage line: "Speaker: words", or just the words when nobody is named.

    >>> speaker_label(Line("Hi.", 5, "Ann", "")), speaker_label(Line("Hi.", 5, "", ""))
    ('Ann: Hi.', 'Hi.')
    """
    return f"{line.speaker}: {line.text}" if line.speaker else line.text


def split_label(line: str, speakers: Sequence[str]) -> tuple[str, str]:
    """(speaker, words) of a passage line (`speaker_label`). A "Name: " in front is a label
    only when it names one of the passage's `speakers`: a line without one may say
    "Note: ..." itself.

    >>> split_label("Ann: Note: this.", ("Ann",)), split_label("Note: this.", ("Ann",))
    (('Ann', 'Note: this.'), ('', 'Note: this.'))
    """
    speaker, sep, words = line.partition(": ")
    return (speaker, words) if sep and speaker in speakers else ("", line)


def context_header(episode_title: str, section: str) -> str:
    """What is prepended to a passage's text before embedding (not shown to users)."""
    return f"{episode_title} | {section}" if section else episode_title


def embedding_text(passage: Passage, with_context: bool) -> str:
    """The passage text, then its context: if a huge title ever overflows the
    model's limit, truncation cuts the context, never the transcript."""
    if not with_context:
        return passage.text
    return f"{passage.text}\n{context_header(passage.episode_title, passage.section)}"


def chunk_episode(
    episode: Episode,
    count_tokens: TokenCounter,
    max_tokens: int,
    *,
    overlap_lines: int = 0,
    with_context: bool = False,
) -> list[Passage]:
    """Cut `episode` into passages whose embedded text fits `max_tokens` word pieces.

    `count_tokens` returns the word-piece count of each text (no special tokens).
    `overlap_lines` repeats that many trailing lines of a passage at the start of
    the next one in the same section. With `with_context`, the budget leaves room
    for `context_header` (title and section), which is embedded with the text.
    """
    if max_tokens < 32:
        raise ValueError(f"max_tokens must be at least 32, got {max_tokens}")
    budget = max_tokens
    if with_context:
        sections = sorted({line.section for line in episode.lines})
        headers = [context_header(episode.title, section) for section in sections]
        # One budget for the whole episode keeps the code simple; headers are short.
        # The text always keeps at least half of the budget.
        budget = max(max_tokens - max(count_tokens(headers)) - 1, max_tokens // 2)
    pieces, costs = _split_long_lines(list(episode.lines), count_tokens, budget)
    max_tokens = budget

    passages: list[Passage] = []
    window: list[int] = []  # indexes into pieces
    window_cost = 0

    def close() -> None:
        if window:
            passages.append(_make_passage(episode, [pieces[i] for i in window], len(passages)))

    for index, line in enumerate(pieces):
        cost = costs[index] + 1  # +1 for the newline joining it to the window
        same_section = not window or pieces[window[-1]].section == line.section
        if window and (not same_section or window_cost + cost > max_tokens):
            close()
            carried = window[-overlap_lines:] if overlap_lines and same_section else []
            carried_cost = sum(costs[i] + 1 for i in carried)
            if carried and carried_cost + cost <= max_tokens:
                window, window_cost = list(carried), carried_cost
            else:
                window, window_cost = [], 0
        window.append(index)
        window_cost += cost
    close()
    return passages


def _make_passage(episode: Episode, lines: list[Line], ordinal: int) -> Passage:
    words: dict[str, int] = {}
    for line in lines:
        if line.speaker:
            words[line.speaker] = words.get(line.speaker, 0) + len(line.text.split())
    # Main voice first: a citation names who said most of the passage.
    speakers = tuple(sorted(words, key=lambda name: -words[name]))
    # Transcripts' seconds occasionally step back a little; the span covers them all.
    start = min(line.sec for line in lines)
    return Passage(
        id=f"{episode.id}#{ordinal}",
        episode_id=episode.id,
        episode_title=episode.title,
        section=lines[0].section,
        speakers=speakers,
        start_s=start,
        end_s=max(line.sec for line in lines),
        text="\n".join(speaker_label(line) for line in lines),
        url=episode.url_at(start),
        ordinal=ordinal,
        season=episode.season,
        guests=episode.guests,
        line_starts=tuple(line.sec for line in lines),
        episode_description=episode.description,
    )


def _split_long_lines(
    lines: list[Line], count_tokens: TokenCounter, max_tokens: int
) -> tuple[list[Line], list[int]]:
    """Lines that fit the budget, long ones split; with each piece's token cost."""
    costs = count_tokens([speaker_label(line) for line in lines]) if lines else []
    out: list[Line] = []
    out_costs: list[int] = []
    for line, cost in zip(lines, costs):
        if cost + 1 <= max_tokens:
            out.append(line)
            out_costs.append(cost)
            continue
        pieces = _split_line(line, count_tokens, max_tokens)
        out.extend(pieces)
        out_costs.extend(count_tokens([speaker_label(piece) for piece in pieces]))
    return out, out_costs


def _split_line(line: Line, count_tokens: TokenCounter, max_tokens: int) -> list[Line]:
    """Greedy packing of sentences (or words, for a run-on sentence) under the budget.

    Word-piece counts add up across whitespace (WordPiece and BPE pre-tokenize on
    it), so a group's cost is the sum of its units' costs.
    """
    label_cost = count_tokens([speaker_label(Line("", line.sec, line.speaker, line.section))])[0]
    budget = max_tokens - label_cost - 1
    sentences = _SENTENCE_END.split(line.text)
    units: list[tuple[str, int]] = []
    for sentence, cost in zip(sentences, count_tokens(sentences)):
        if cost <= budget:
            units.append((sentence, cost))
        else:
            words = sentence.split()
            units.extend(zip(words, count_tokens(words)))
    parts: list[str] = []
    current: list[str] = []
    current_cost = 0
    for unit, cost in units:
        if current and current_cost + cost > budget:
            parts.append(" ".join(current))
            current, current_cost = [], 0
        current.append(unit)
        current_cost += cost
    if current:
        parts.append(" ".join(current))
    return [Line(part, line.sec, line.speaker, line.section) for part in parts]
