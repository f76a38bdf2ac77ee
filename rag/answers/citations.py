"""An answer's `[n]` citations: parse the markers, find the sentences citing each source,
and check each against the passage it cites.

    >>> parse_citations("A [1, 2]. B [ 3 ][9].", 3)
    ('A [1][2]. B [3].', [1, 2, 3], ['dropped citation [9]: there are only 3 sources'])
    >>> claims_by_source("Bloom filters test membership. [1] They hash keys [1][2].")
    {1: ['Bloom filters test membership.', 'They hash keys.'], 2: ['They hash keys.']}
    >>> lexical_support("Bloom filters test membership.", "Alexey: bloom filters answer membership queries")
    0.75

`CitationVerifier(embedder).verify(text, cited, hits)` turns the cited numbers into
`Citation`s, each marked verified or not and pinned to the line that backs its claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rag.index.chunking import UNKNOWN_SPEAKER, Passage, format_timestamp
from rag.search.hits import Hit

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

# A cited sentence is "verified" when its share of content words found in the cited
# passage, or its best cosine to one of the passage's sentences, reaches these.
# `eval/calibrate.py` on the dev set's reference answers (paraphrases, like an LLM's):
# 82% of supported claim-passage pairs accepted, 9% of unsupported ones.
SUPPORT_MIN_COSINE = 0.5
SUPPORT_MIN_OVERLAP = 0.5

_MARKER = re.compile(r"\[\s*(\d{1,4}(?:\s*,\s*\d{1,4})*)\s*\]")  # four digits at most: see rag/app/render.py
# Sentence-ending punctuation followed by markers: "It works. [1]" cites "It works".
_MARKERS_AFTER_END = re.compile(rf"([.!?])((?:\s*{_MARKER.pattern})+)")
# A sentence ends at . ! or ? before a capital, digit, quote or list mark; never
# before "[", so that "... it. [2]" keeps its marker with the sentence it cites.
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“'(*-])")
# Some captions drop the space after punctuation ("Bek?Uh,hey,how's it going?"): a word's
# last letter, the mark, then a capitalised word is a sentence end too. A "?" or "!" always;
# a "." only in a text that shows the habit twice ("numpy.Array" alone is a name).
_GLUED = re.compile(r"(?<=[a-z][.!?])(?=[A-Z][a-z])")
_GLUED_MARK = re.compile(r"(?<=[a-z][!?])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")
# Space before punctuation, from the first space of a run on: without the look-behind
# every space of a run starts a scan to its end, quadratic in the run's length (an
# LLM reply of 50,000 spaces took seconds).
_SPACE_BEFORE_PUNCT = re.compile(r"(?<![ \t])[ \t]+([.,;:!?])")
_WHITESPACE_BEFORE_PUNCT = re.compile(r"(?<!\s)\s+([.,;:!?])")
_STOPWORDS = frozenset(
    "a an the and or but of to in on at for with from by is are was were be been it its this that these those "
    "he she they them his her their we you i me my our your as so if then than there here what which who whom "
    "how why when where do does did not no yes can could would should will just also about into over more most "
    "very really like one some any all".split()
)


@dataclass(frozen=True)
class Citation:
    """Source `n` of an answer, pinned to the line that backs the claim citing it."""

    n: int  # the source number used in the answer text
    passage: Passage
    verified: bool
    line: int = 0  # which line of the passage: its speaker and second are the moment

    @property
    def speaker(self) -> str:
        speaker, _ = self.passage.line_at(self.line)
        return speaker or (self.passage.speakers[0] if self.passage.speakers else UNKNOWN_SPEAKER)

    @property
    def start_s(self) -> int:
        return self.passage.line_at(self.line)[1]

    @property
    def url(self) -> str:
        return self.passage.url_at(self.start_s)

    def label(self) -> str:
        """`Episode title — Speaker @ mm:ss` for the cited line."""
        return f"{self.passage.episode_title} — {self.speaker} @ {format_timestamp(self.start_s)}"


def parse_citations(text: str, n_sources: int) -> tuple[str, list[int], list[str]]:
    """Normalize markers and list cited source numbers in order of first use.

    `[1, 2]` becomes `[1][2]`; markers pointing to no source are removed and
    reported. Returns (clean text, cited numbers, warnings).

    >>> parse_citations("A [1, 2]. B [ 3 ][9].", 3)
    ('A [1][2]. B [3].', [1, 2, 3], ['dropped citation [9]: there are only 3 sources'])
    """
    cited: list[int] = []
    warnings: list[str] = []

    def replace_marker(match: re.Match[str]) -> str:
        kept = []
        for raw in match.group(1).split(","):
            n = int(raw)
            if 1 <= n <= n_sources:
                kept.append(f"[{n}]")
                if n not in cited:
                    cited.append(n)
            else:
                warnings.append(f"dropped citation [{n}]: there are only {n_sources} sources")
        return "".join(kept)

    clean = _MARKER.sub(replace_marker, text)
    clean = _SPACE_BEFORE_PUNCT.sub(r"\1", clean)
    return clean.strip(), cited, warnings


def split_sentences(text: str) -> list[str]:
    """`text` (newlines as spaces) cut at sentence ends; a trailing `[n]` stays with its sentence.

    >>> split_sentences("Hey Bek?Uh,hey,how's it going?Good. Thanks!")
    ['Hey Bek?', "Uh,hey,how's it going?", 'Good.', 'Thanks!']
    >>> split_sentences("It was fine.So we left.Then it rained.")
    ['It was fine.', 'So we left.', 'Then it rained.']
    >>> split_sentences("Version 2.0 of numpy.Array is e.g. fine.")
    ['Version 2.0 of numpy.Array is e.g. fine.']
    """
    text = text.replace("\n", " ")
    glued = _GLUED if len(_GLUED.findall(text)) >= 2 else _GLUED_MARK
    return [part.strip() for piece in _SENTENCE.split(text) for part in glued.split(piece) if part.strip()]


def content_words(text: str) -> set[str]:
    """Lower-cased words of two or more characters, stopwords left out."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def claims_by_source(text: str) -> dict[int, list[str]]:
    """Each cited source number -> the sentences (markers removed) that cite it."""
    claims: dict[int, list[str]] = {}
    sentences: list[str] = []
    # "It works. [1] Next" -> "It works [1]. Next": the marker cites the sentence before it.
    text = _MARKERS_AFTER_END.sub(lambda m: m.group(2) + m.group(1), text)
    for sentence in split_sentences(text):
        if sentences and not _MARKER.sub("", sentence).strip(" .,;:!?"):
            sentences[-1] += " " + sentence  # a stray marker belongs to the sentence before it
        else:
            sentences.append(sentence)
    for sentence in sentences:
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in group.split(",")]
        bare = _WHITESPACE_BEFORE_PUNCT.sub(r"\1", _MARKER.sub("", sentence)).strip()
        for n in numbers:
            if bare:
                claims.setdefault(n, []).append(bare)
    return claims


def lexical_support(claim: str, passage_text: str) -> float:
    """Share of the claim's content words that the passage contains."""
    words = content_words(claim)
    if not words:
        return 1.0
    return len(words & content_words(passage_text)) / len(words)


@dataclass(frozen=True)
class CitationVerifier:
    """Checks cited claims against their passages: word overlap OR sentence cosine.

        verifier = CitationVerifier(embedder)
        verifier.verify("Bloom filters test membership [1].", [1], hits)  # -> (Citation(1, ..., verified=True, line=2),)
    """

    embedder: Embedder
    min_cosine: float = SUPPORT_MIN_COSINE
    min_overlap: float = SUPPORT_MIN_OVERLAP

    def verify(self, text: str, cited: Sequence[int], hits: Sequence[Hit]) -> tuple[Citation, ...]:
        """One `Citation` per cited number (1-based into `hits`), in order: verified when
        every claim citing it is supported, pinned to the line that best supports its
        first claim (line 0 when no sentence cites it)."""
        claims = claims_by_source(text)
        citations = []
        for n in cited:
            passage = hits[n - 1].passage
            sentences = claims.get(n, [])
            checks = [self.support(s, passage) for s in sentences]
            verified = bool(checks) and all(ok for ok, _ in checks)
            citations.append(Citation(n, passage, verified, checks[0][1] if checks else 0))
        return tuple(citations)

    def support(self, claim: str, passage: Passage) -> tuple[bool, int]:
        """(is the claim supported by the passage, index of the line that supports it best)."""
        lines = passage.text.split("\n")
        units = [(index, sentence) for index, line in enumerate(lines) for sentence in split_sentences(line.partition(": ")[2] or line)]
        units = units or [(0, passage.text)]
        vectors = self.embedder.embed([claim, *[sentence for _, sentence in units]])
        similarities = vectors[1:] @ vectors[0]
        best = int(np.argmax(similarities))
        supported = (
            lexical_support(claim, passage.text) >= self.min_overlap
            or float(similarities[best]) >= self.min_cosine
        )
        return supported, units[best][0]
