"""Extractive answers, with no LLM: quote the moment the top hit's link opens on.

    quotes = ExtractiveAnswerer(embedder).quote("What are bloom filters used for?", hits)
    print(quotes.text)
    # - Marcello La Rocca: “Bloom filters tell you whether ... ” [1]
    #
    # Also discussed: [2] [3]

A span is up to three consecutive sentences of one speaker's turn: the sentence that
matches the question usually introduces the answer that follows it. The first quote
is the best span said within `QUOTE_WINDOW_S` after the top hit's link; a second one
comes only from the same episode and only when it answers nearly as well; the next
moments are pointed to ("Also discussed"), never quoted as filler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from rag.answers.citations import Citation, content_words, split_sentences
from rag.search.hits import Hit

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

# Extractive answers. The first quote comes from the top hit's moment: a line said at
# most this long after its link. Dev set, 2-fold: the first citation then lands for
# 0.58 of the answerable questions (0.52 quoting the best span anywhere in the top
# hit, 0.46 the best of the top three); windows of 0 to 30 s do about as well on
# both halves, 45 s and more worse.
QUOTE_WINDOW_S = 30
# A second quote must score (cosine + word overlap) within this of the first.
SECOND_QUOTE_MARGIN = 0.05
# Besides the quotes, an extractive answer points to the top hits up to this rank
# ("Also discussed: [2] [3]"), each opening at its own moment.
MORE_MOMENTS = 2
QUOTED_HITS = 3  # spans are taken from the top three hits
MAX_QUOTE_WORDS = 60  # three sentences of talk; a longer quote is cut, with "…"
# The guest's own words over the host's set-up of the question.
GUEST_BONUS = 0.05
OVERLAP_WEIGHT = 0.2


@dataclass(frozen=True)
class Span:
    n: int  # source number
    line: int  # which line of the passage
    first: int  # first sentence index within the line
    last: int
    speaker: str  # "" when the transcript names nobody
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def quote(self) -> str:
        """'- Ann: “Words.” [1]', or '- “Words.” [1]' when nobody is named; at most
        `MAX_QUOTE_WORDS` words (a transcript without sentence ends has no shorter span).

        >>> Span(1, 0, 0, 0, "", (" ".join(["word"] * 70),)).quote().count("word"), Span(1, 0, 0, 0, "", ("A b.",)).quote()
        (60, '- “A b.” [1]')
        """
        said_by = f"{self.speaker}: " if self.speaker else ""
        words = self.text.split()
        text = self.text if len(words) <= MAX_QUOTE_WORDS else " ".join(words[:MAX_QUOTE_WORDS]) + " …"
        return f"- {said_by}“{text}” [{self.n}]"

    def overlaps(self, other: "Span") -> bool:
        return (self.n, self.line) == (other.n, other.line) and self.first <= other.last and other.first <= self.last


class Quotes(NamedTuple):
    # "- Speaker: “...” [n]" lines ("- “...” [n]" when nobody is named), then "Also discussed:
    # [2] [3]" when there are more moments
    text: str
    citations: tuple[Citation, ...]  # the quoted spans' lines, then each pointed-to hit at its link


def candidate_spans(hits: Sequence[Hit], width: int = 3, min_words: int = 6) -> list[Span]:
    """Every span worth quoting: from each sentence of at least `min_words` words that is
    not a question, up to `width` sentences of the same turn (trailing questions cut)."""
    spans: list[Span] = []
    for n, hit in enumerate(hits, 1):
        for line_no, (speaker, spoken) in enumerate(hit.passage.spoken_lines()):
            sentences = split_sentences(spoken)
            for first, sentence in enumerate(sentences):
                if sentence.endswith("?") or len(sentence.split()) < min_words:
                    continue
                last = min(first + width, len(sentences)) - 1
                while last > first and sentences[last].endswith("?"):
                    last -= 1
                spans.append(Span(n, line_no, first, last, speaker, tuple(sentences[first : last + 1])))
    return spans


def first_quote(spans: Sequence[Span], scores: Sequence[float], hits: Sequence[Hit]) -> int:
    """The best span said within `QUOTE_WINDOW_S` after the top hit's link (where the
    listener lands), a guest's if there is one; else the top hit's best span; else
    the best span of all."""
    top = hits[0]

    def said_at(span: Span) -> int:
        return hits[span.n - 1].passage.line_at(span.line)[1]

    def in_window(span: Span) -> bool:
        return span.n == 1 and top.link_sec <= said_at(span) <= top.link_sec + QUOTE_WINDOW_S

    # The guest's words before the host's set-up of the question (same figures on
    # the dev set, and "What did Dat Tran look for ..." then quotes Dat Tran).
    for keep in (
        lambda span: in_window(span) and span.speaker in top.passage.guests,
        in_window,
        lambda span: span.n == 1,
        lambda span: True,
    ):
        candidates = [i for i, span in enumerate(spans) if keep(span)]
        if candidates:
            return max(candidates, key=lambda i: scores[i])
    raise ValueError("no span to quote")


def second_quote(spans: Sequence[Span], scores: Sequence[float], hits: Sequence[Hit], first: int, margin: float) -> int | None:
    """A second quote only from the same episode, and only when it answers the question
    nearly as well (within `margin`): never a filler from whatever moment came next.
    Other episodes are pointed to ("Also discussed"), not quoted."""
    chosen = spans[first]
    episode = hits[chosen.n - 1].passage.episode_id
    second = max(
        (
            i for i, span in enumerate(spans)
            if hits[span.n - 1].passage.episode_id == episode
            and not span.overlaps(chosen) and span.line != chosen.line
        ),
        key=lambda i: scores[i],
        default=None,
    )
    return second if second is not None and scores[second] >= scores[first] - margin else None


def also_discussed(hits: Sequence[Hit], quoted: Sequence[int]) -> list[int]:
    """The top hits up to rank `MORE_MOMENTS + 1` that were not quoted: places to listen."""
    return [n for n in range(1, min(len(hits), MORE_MOMENTS + 1) + 1) if n not in quoted]


@dataclass(frozen=True)
class ExtractiveAnswerer:
    """Quotes the spans of the top hits that best answer a question (see the module doc)."""

    embedder: Embedder
    second_quote_margin: float = SECOND_QUOTE_MARGIN

    def quote(self, question: str, hits: Sequence[Hit]) -> Quotes | None:
        """The quotes and pointers for `question` from `hits`; None when the top hits
        hold no sentence worth quoting."""
        spans = candidate_spans(hits[:QUOTED_HITS])
        if not spans:
            return None
        scores = self.scores(question, spans, hits)
        first = first_quote(spans, scores, hits)
        second = second_quote(spans, scores, hits, first, self.second_quote_margin)
        chosen = [spans[first]] + ([spans[second]] if second is not None else [])
        text = "\n".join(span.quote() for span in chosen)
        first_span: dict[int, Span] = {}
        for span in chosen:
            first_span.setdefault(span.n, span)
        citations = [Citation(n, hits[n - 1].passage, True, span.line) for n, span in first_span.items()]
        more = also_discussed(hits, list(first_span))
        if more:
            text += "\n\nAlso discussed: " + " ".join(f"[{n}]" for n in more)
            citations += [Citation(n, hits[n - 1].passage, True, hits[n - 1].link_line) for n in more]
        return Quotes(text, tuple(citations))

    def scores(self, question: str, spans: Sequence[Span], hits: Sequence[Hit]) -> list[float]:
        """Each span's cosine to the question (its vector: the mean of its sentences'), plus
        `OVERLAP_WEIGHT` x the share of the question's content words it says, plus
        `GUEST_BONUS` when a guest says it."""
        # Embed each sentence once.
        sentences = list(dict.fromkeys(sentence for span in spans for sentence in span.sentences))
        vectors = self.embedder.embed([question, *sentences])
        by_sentence = dict(zip(sentences, vectors[1:]))
        question_words = content_words(question)
        scores = []
        for span in spans:
            mean = np.mean([by_sentence[sentence] for sentence in span.sentences], axis=0)
            cosine = float(mean @ vectors[0]) / max(float(np.linalg.norm(mean)), 1e-9)
            overlap = len(question_words & content_words(span.text)) / max(len(question_words), 1)
            guest_bonus = GUEST_BONUS if span.speaker in hits[span.n - 1].passage.guests else 0.0
            scores.append(cosine + OVERLAP_WEIGHT * overlap + guest_bonus)
        return scores
