"""Retrieved moments re-ranked, and their links placed, by the trained relevance model.

Retrieval (dense + BM25 + episode focus) finds the right stretch of the right episode
well; what it cannot tell is where, inside that stretch, the answer *starts* (the
lexical locator picks the line that repeats the question's rare words, often the
middle of a long answer). The relevance model (`rag.search.relevance`) was trained for
exactly that. Two cheap steps, a dozen windows in all:

1. the first `moments` hits are re-ordered by the model's score of the window at
   each one's link line;
2. inside the first `placed` of them, the link moves to the line whose window the
   model scores best, among the lines within `reach_s` seconds of the current link.

`Hit.relevance` then holds the model's score of the moment's window, for the refusal
gate. Hits beyond `moments` keep their order and their links.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rag.search.relevance import RelevanceModel, window_text

if TYPE_CHECKING:
    from rag.search.hits import Hit

RESCORED_MOMENTS = 5
PLACED_MOMENTS = 1
REACH_S = 120
MAX_PLACEMENT_LINES = 8




def rescore_moments(
    model: RelevanceModel,
    question: str,
    hits: Sequence[Hit],
    *,
    moments: int = RESCORED_MOMENTS,
    placed: int = PLACED_MOMENTS,
    reach_s: int = REACH_S,
) -> list[Hit]:
    """`hits` with the first `moments` re-ordered and the first `placed` re-linked (see above)."""
    head, tail = list(hits[:moments]), list(hits[moments:])
    if not head:
        return list(hits)
    lines = [hit.passage.spoken_lines() for hit in head]
    windows = [window_text(rows, hit.link_line) for rows, hit in zip(lines, head)]
    scores = model.score(question, windows)
    order = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
    ranked = [replace(head[i], relevance=float(scores[i])) for i in order]
    ranked_lines = [lines[i] for i in order]
    for position in range(min(placed, len(ranked))):
        ranked[position] = _place_link(model, question, ranked[position], ranked_lines[position], reach_s)
    return ranked + tail


def _place_link(model: RelevanceModel, question: str, hit: Hit, lines: list[tuple[str, str]], reach_s: int) -> Hit:
    starts = hit.passage.line_starts or tuple(hit.passage.start_s for _ in lines)
    current = hit.link_line
    near = [i for i in range(len(lines)) if i != current and abs(starts[i] - hit.link_sec) <= reach_s]
    near = sorted(near, key=lambda i: (abs(starts[i] - hit.link_sec), i))[:MAX_PLACEMENT_LINES]
    if not near:
        return hit
    scores = model.score(question, [window_text(lines, i) for i in near])
    best = int(np.argmax(scores))
    if float(scores[best]) <= (hit.relevance if hit.relevance is not None else float("-inf")):
        return hit
    link = starts[near[best]]
    passage = hit.passage
    if not passage.start_s <= link <= passage.end_s:
        passage = replace(passage, start_s=min(passage.start_s, link), end_s=max(passage.end_s, link))
    return replace(hit, passage=passage, link_s=link, relevance=float(scores[best]))
