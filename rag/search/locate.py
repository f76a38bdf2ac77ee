"""Where inside a retrieved span the answer starts: the second a link opens at.

A passage spans a minute or two of talk; a listener who clicks its link must hear
the moment, not the minute before it. Each line of the span is scored by the
IDF-weighted share of the question's terms it contains (rare words such as
"Kubernetes" or "Bloom" pin the moment; common ones barely count), and the link
opens at the best line. When the lines just before it started shortly before (a
host's question, the start of the guest's answer), the link opens there instead:
a few seconds of lead-in cost little, while opening after the moment skips it.

    >>> weights = {"bloom": 5.0, "filter": 3.0}
    >>> tokens = [["welcom", "show"], ["bloom", "filter", "use"], ["thank"]]
    >>> line_scores(weights, tokens)
    [0.0, 1.0, 0.0]
    >>> link_line([0.0, 1.0, 0.0], seconds=[10, 70, 90], lead_in_s=30)
    1
    >>> link_line([0.0, 1.0, 0.0], seconds=[50, 70, 90], lead_in_s=30)
    0
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

from rag.index.lexical import LexicalIndex, LexicalSearch

# The gold moment is where its answer *starts*, while the line that matches the
# question best is often a later one of the same answer; opening early by up to a
# lead-in is cheap for the listener. Dev set, 2-fold (`eval/retrieval.py --folds
# --option lead_in_s=N`): 45 s lands as many links as 30 s on fold A and more on fold
# B (lands@5 0.788 -> 0.848); 0 or 15 s land fewer on both.
LEAD_IN_S = 45

# How questions are put, not what they ask about: "which guest described...",
# "according to ...". They carry IDF like content words but match lines only by chance.
QUESTION_FRAME_WORDS = (
    "which what who whom how why did does guest guests according describe described mention mentioned "
    "say said talk talked podcast episode"
)


def question_terms(lexical: LexicalSearch, question: str) -> dict[str, float]:
    """The question's terms (stemmed as the index stems them) with their IDF, without
    the words that only frame a question (`QUESTION_FRAME_WORDS`)."""
    frame = _frame_terms()
    return {term: idf for term, idf in lexical.term_idf(question).items() if term not in frame}


@functools.cache
def _frame_terms() -> frozenset[str]:
    return frozenset(LexicalIndex.tokenize([QUESTION_FRAME_WORDS])[0])


def line_scores(term_weights: Mapping[str, float], line_tokens: Sequence[Sequence[str]]) -> list[float]:
    """IDF-weighted share of the question's terms found in each line (0..1)."""
    total = sum(term_weights.values())
    if total <= 0:
        return [0.0] * len(line_tokens)
    return [sum(w for term, w in term_weights.items() if term in set(tokens)) / total for tokens in line_tokens]


def link_line(scores: Sequence[float], seconds: Sequence[int], *, lead_in_s: int = LEAD_IN_S) -> int:
    """Index of the line the link opens at: the best-scoring one (the first of equals),
    moved back over the lines that started at most `lead_in_s` before it."""
    if not scores:
        raise ValueError("a span has at least one line")
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    chosen = best
    while chosen > 0 and seconds[best] - lead_in_s <= seconds[chosen - 1] <= seconds[best]:
        chosen -= 1
    return chosen
