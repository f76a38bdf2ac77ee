"""Ranked lists -> one: reciprocal-rank fusion, and neighbouring passages of one
episode merged into one moment whose link opens where the answer starts."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

import numpy as np

from rag.index.chunking import Passage
from rag.index.lexical import LexicalIndex
from rag.index.store import PassageStore
from rag.search.hits import Hit
from rag.search.locate import LEAD_IN_S, line_scores, link_line

RRF_K = 60  # the usual constant (Cormack et al.); smaller k favours the top ranks

# A merged neighbour widens the span only with lines that match the question at least this
# share as well as the best line. Dev set, 2-fold: 0.3 keeps hit@5 of the plain union
# (0.971 / 0.909) on both halves at a median span of 91 s instead of 123 s; 0.5 cuts the
# span to 71 s but loses a hit on fold A.
SUPPORT_SHARE = 0.3


def rrf_fuse(rankings: Sequence[Sequence[int]], *, k: int = RRF_K, weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum_r w_r / (k + rank_r(d)), ranks from 1.

    >>> rrf_fuse([[1, 2, 3], [3, 1]])[0][0]
    1
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def merge_adjacent(
    hits: Iterable[Hit], *, max_span: int = 3, union_spans: bool = False, limit: int | None = None
) -> list[Hit]:
    """Fold neighbouring passages of one episode into one hit at the best one's rank.

    Overlapping or consecutive windows are one moment; returning each of them
    separately would crowd other episodes out of the top-k. A moment groups at
    most `max_span` passages; a further neighbour is the same moment and is dropped.
    The merged hit carries the neighbours' text as context, but its span stays
    that of its best passage: a neighbour found by the same question does not make
    the moment longer (`locate_moment` stretches it over supporting lines only).
    Only the first `limit` moments are built (all of them when None).
    """
    hits = list(hits)
    groups = group_adjacent([(h.passage.episode_id, h.passage.ordinal) for h in hits], max_span=max_span)
    return [merged_hit([hits[i] for i in group], union_spans) for group in groups[:limit]]


def group_adjacent(keys: Sequence[tuple[object, int]], *, max_span: int = 3) -> list[list[int]]:
    """`merge_adjacent` on (episode, ordinal) keys of ranked hits, best first: the moments as
    lists of positions in `keys`, in order of their best member.

    Grouping needs only the keys, so a search groups all its candidates and reads from
    the passage store only the passages of the moments it returns.

        >>> group_adjacent([("a", 5), ("b", 1), ("a", 6), ("a", 4), ("a", 3)])
        [[0, 2, 3], [1]]
    """
    groups: list[list[int] | None] = []  # None once folded into another
    group_of: dict[tuple[object, int], int] = {}
    for position, (episode, ordinal) in enumerate(keys):
        # Groups are runs of consecutive ordinals, so touching one means holding a neighbour.
        touching = sorted({group_of[(episode, n)] for n in (ordinal - 1, ordinal + 1) if (episode, n) in group_of})
        if not touching:
            group_of[(episode, ordinal)] = len(groups)
            groups.append([position])
            continue
        first = groups[touching[0]]
        assert first is not None
        if len(first) >= max_span:
            continue
        first.append(position)
        group_of[(episode, ordinal)] = touching[0]
        for other_id in touching[1:]:
            other = groups[other_id]
            if other is not None and len(first) + len(other) <= max_span:
                first.extend(other)
                groups[other_id] = None
                for member in other:
                    group_of[keys[member]] = touching[0]
    return [group for group in groups if group is not None]


def merged_hit(group: list[Hit], union_spans: bool = False) -> Hit:
    best = max(group, key=lambda h: h.score)
    if len(group) == 1:
        return best
    ordered = sorted((h.passage for h in group), key=lambda p: p.ordinal)
    first = ordered[0]
    speakers = tuple(dict.fromkeys(s for p in ordered for s in p.speakers))
    lines, starts = _drop_repeated_lines(ordered)
    merged = Passage(
        id="+".join(p.id for p in ordered),
        episode_id=first.episode_id,
        episode_title=first.episode_title,
        section=first.section,
        speakers=speakers,
        start_s=min(p.start_s for p in ordered) if union_spans else best.passage.start_s,
        end_s=max(p.end_s for p in ordered) if union_spans else best.passage.end_s,
        text="\n".join(lines),
        url=best.passage.url,
        ordinal=first.ordinal,
        season=first.season,
        guests=first.guests,
        line_starts=tuple(starts),
        episode_description=first.episode_description,
    )
    return Hit(merged, best.score, best.source)


def _drop_repeated_lines(passages: Sequence[Passage]) -> tuple[list[str], list[int]]:
    """Lines (and their seconds) of consecutive passages, without repeating the lines
    that overlapping windows share."""
    lines: list[str] = []
    starts: list[int] = []
    for passage in passages:
        for index, line in enumerate(passage.text.split("\n")):
            if not lines or line != lines[-1]:
                lines.append(line)
                starts.append(passage.line_at(index)[1])
    return lines, starts


def locate_moment(
    hit: Hit, term_weights: dict[str, float], *, lead_in_s: int = LEAD_IN_S, support: float = SUPPORT_SHARE
) -> Hit:
    """`hit` with `link_s` set to the line where the answer starts (`rag.search.locate`).

    The span is the best passage's, stretched over the link and over the lines of
    merged neighbours that match the question at least `support` times as well
    as the best line: what supports the moment, not everything next to it.
    """
    passage = hit.passage
    lines = passage.text.split("\n")
    seconds = [passage.line_at(i)[1] for i in range(len(lines))]
    # The words spoken, not the "Speaker: " label: a question naming the guest would
    # otherwise favour every line the guest says.
    spoken = [words for _, words in passage.spoken_lines()]
    scores = line_scores(term_weights, LexicalIndex.tokenize(spoken))
    link = seconds[link_line(scores, seconds, lead_in_s=lead_in_s)]
    top = max(scores)
    supporting = [sec for sec, score in zip(seconds, scores) if top > 0 and score >= support * top]
    start = min(passage.start_s, link, *supporting)
    end = max(passage.end_s, link, *supporting)
    if (start, end) != (passage.start_s, passage.end_s):
        passage = replace(passage, start_s=start, end_s=end)
    return replace(hit, passage=passage, link_s=link)



def best_moments(store: PassageStore, ranked: list[tuple[int, float]], k: int, *, mode: str, merge: bool = True,
                 union_spans: bool = False) -> list[Hit]:
    """The `k` best moments of the ranked (position, score) pairs: with `merge`, grouped
    by their (episode, ordinal) keys first, so that only the passages returned are read."""
    if not merge:
        chosen = ranked[:k]
        return [Hit(p, score, mode) for p, (_, score) in zip(store.many([d for d, _ in chosen]), chosen)]
    docs = np.fromiter((doc for doc, _ in ranked), dtype=np.int64, count=len(ranked))
    keys = list(zip(store.episode_codes[docs].tolist(), store.ordinals[docs].tolist()))
    groups = group_adjacent(keys)[:k]
    members = [ranked[i] for group in groups for i in group]
    passage_of = dict(zip((doc for doc, _ in members), store.many([doc for doc, _ in members])))
    return [
        merged_hit([Hit(passage_of[ranked[i][0]], ranked[i][1], mode) for i in group], union_spans)
        for group in groups
    ]
