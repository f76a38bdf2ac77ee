"""The refusal gate: answer only when one retrieved moment covers the question on its own.

Each of the first `COVERAGE_SOURCES` moments brings its own evidence (`MomentSignals`):
the cosine of the question and the moment's own words, the IDF-weighted share of the
question's terms in its text, title and guests, and the relevance model's score when the
index has one. Per moment, never pooled: one episode's title holding one rare word and
another's text the other does not make either of them an answer. A refusal costs no LLM
call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rag.index.lexical import term_coverage
from rag.search.hits import Hit
from rag.search.searcher import Searcher

# The gate answers a question only when one retrieved moment covers it on its own
# (`covering_moment`): its own words are close enough to the question (cosine of
# question and passage text) *and* hold enough of the question's rare vocabulary (coverage:
# the IDF-weighted share of the question's terms, bm25s tokens, in its text, title and
# guests). Until 2026-12-07 the best cosine and the best coverage were taken over all five
# moments separately, so one episode's title could lend a rare word to another episode's
# text. Calibrated with `python eval/gate.py` on all 105 dev questions (94 answerable, 11
# unanswerable), the all-MiniLM-L6-v2+onnx-int8 index, at most 2 answerable refused: the
# middle of the thresholds that then refuse the most unanswerable ones. 2-fold
# (two_fold_split, seed 0), each fold's pick on the other fold: 3/6 unanswerable and 3/46
# answerable refused (picked on A), 3/5 and 3/48 (picked on B). On all 105: 5/11 and 2/94
# (the thresholds before refused 8/11 and 6/94, and 10 of 71 held-out answerable ones).
# The unanswerable ones let through ask about a detail of a topic the podcast covers (a
# salary, a revenue comparison): their words are all there; only an LLM can refuse those.
# Other embedding models need their own values (RAG_REFUSAL_MIN_COSINE, ..._COVERAGE).
REFUSAL_MIN_COSINE = 0.34

REFUSAL_MIN_COVERAGE = 0.10

# The relevance model's score (`rag tune`) does not separate unanswerable questions from
# answerable ones on the dev set (docs/relevance.md): no relevance gate by default.
REFUSAL_MIN_RELEVANCE: float | None = None

COVERAGE_SOURCES = 5  # all the moments retrieved for the answer


@dataclass(frozen=True)
class MomentSignals:
    """One retrieved moment's evidence that it covers the question (`moment_signals`)."""

    cosine: float  # question against the moment's own words
    coverage: float  # IDF-weighted share of the question's terms in its text, title and guests
    relevance: float | None  # the trained relevance model's score (None without one)


def _coverage_text(hit: Hit) -> str:
    return "\n".join([hit.passage.episode_title, *hit.passage.guests, hit.passage.text])


def moment_signals(searcher: Searcher, question: str, hits: Sequence[Hit]) -> list[MomentSignals]:
    """The signals of each of the first `COVERAGE_SOURCES` moments for `question`.

    The cosine is against the passage's own words: the stored vectors also carry the
    episode title and section, which makes an off-topic question look closer than it
    is. Coverage is the IDF-weighted share of the question's terms (bm25s tokens) in
    the text, title and guests: an episode can be on topic while the detail asked for
    was never said ("quantum annealing for gradient boosting")."""
    hits = hits[:COVERAGE_SOURCES]
    if not hits:
        return []
    vectors = searcher.embedder.embed([question, *[h.passage.text for h in hits]])
    weights = searcher.index.lexical.term_idf(question)
    return [
        MomentSignals(float(vector @ vectors[0]), term_coverage(weights, _coverage_text(hit)), hit.relevance)
        for hit, vector in zip(hits, vectors[1:])
    ]


def covering_moment(signals: Sequence[MomentSignals], min_cosine: float = REFUSAL_MIN_COSINE,
                    min_coverage: float = REFUSAL_MIN_COVERAGE,
                    min_relevance: float | None = REFUSAL_MIN_RELEVANCE) -> int | None:
    """The first moment whose own signals all pass the gates; None: refuse."""
    for position, moment in enumerate(signals):
        if moment.cosine < min_cosine or moment.coverage < min_coverage:
            continue
        if min_relevance is not None and moment.relevance is not None and moment.relevance < min_relevance:
            continue
        return position
    return None


def shown_signals(signals: Sequence[MomentSignals], covered: int | None) -> MomentSignals:
    """What the answer reports: the covering moment's signals, else the best of each."""
    if covered is not None:
        return signals[covered]
    return MomentSignals(max((s.cosine for s in signals), default=0.0),
                         max((s.coverage for s in signals), default=0.0), None)
