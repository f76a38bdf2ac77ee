"""Question -> ranked `Hit`s: dense (FAISS) + lexical (BM25), fused, then merged.

    searcher = Searcher(load_index("indexes/dtc"), make_embedder())
    for hit in searcher.search("what is a bloom filter for?", k=3):
    ...     print(hit.passage.label(), hit.passage.url)

Filters (episode, guest, season) restrict the candidate set *before* ranking, so a
filtered search returns the best passages of that scope rather than the few that
happened to survive a global top-k.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from rag.chunking import UNKNOWN_SPEAKER, Passage, format_timestamp
from rag.embedding import Embedder
from rag.index import Index, LexicalIndex
from rag.locate import LEAD_IN_S, line_scores, link_line, question_terms
from rag.relevance import RelevanceModel
from rag.rescore import PLACED_MOMENTS, RESCORED_MOMENTS, rescore_moments
from rag.store import EpisodeInfo

RRF_K = 60  # the usual constant (Cormack et al.); smaller k favours the top ranks
# A merged neighbour widens the span only with lines that match the question at least this
# share as well as the best line. Dev set, 2-fold: 0.3 keeps hit@5 of the plain union
# (0.971 / 0.909) on both halves at a median span of 91 s instead of 123 s; 0.5 cuts the
# span to 71 s but loses a hit on fold A.
SUPPORT_SHARE = 0.3
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Hit:
    """A retrieved moment: the passage (its span), its score, and the second to open.

    `link_s` is where, inside the span, the answer to the question starts; a
    listener who clicks `url` hears it. None means the span's own start.
    """

    passage: Passage
    score: float
    source: str  # "hybrid", "dense" or "lexical"
    link_s: int | None = None
    relevance: float | None = None  # the trained relevance model's score of the moment (`rag.rescore`), if any

    @property
    def link_sec(self) -> int:
        return self.passage.start_s if self.link_s is None else self.link_s

    @property
    def url(self) -> str:
        """The episode at `link_sec` (YouTube, media file or page: `Passage.url_at`)."""
        return self.passage.url_at(self.link_sec)

    @property
    def link_line(self) -> int:
        """Index of the passage line the link opens at (0 when no line starts there)."""
        return next((i for i, second in enumerate(self.passage.line_starts) if second == self.link_sec), 0)

    @property
    def speaker(self) -> str:
        """Who speaks at `link_sec` (the passage's main voice when the line names nobody)."""
        speaker, _ = self.passage.line_at(self.link_line)
        return speaker or (self.passage.speakers[0] if self.passage.speakers else UNKNOWN_SPEAKER)

    def label(self) -> str:
        """`Episode title — Speaker @ mm:ss` at the moment the link opens."""
        return f"{self.passage.episode_title} — {self.speaker} @ {format_timestamp(self.link_sec)}"


@dataclass(frozen=True)
class Filters:
    episode: str | None = None
    guest: str | None = None  # case-insensitive part of a guest's display name
    season: int | None = None

    def is_empty(self) -> bool:
        return self.episode is None and not self.guest and self.season is None

    def matches(self, episode: EpisodeInfo) -> bool:
        """Whether the filters admit `episode` (every filter is a property of the episode)."""
        if self.episode is not None and episode.id != self.episode:
            return False
        if self.season is not None and episode.season != self.season:
            return False
        if self.guest:
            wanted = self.guest.casefold()
            if not any(wanted in guest.casefold() for guest in episode.guests):
                return False
        return True


def unmatched_filters(filters: Filters, episodes: Sequence[EpisodeInfo], where: str) -> str | None:
    """Why `filters` admit no episode of `episodes` (the index at `where`), naming the
    closest guests or episodes; None when some episode matches.

    >>> infos = [EpisodeInfo(0, "osmnx", "OSMnx", 1, ("Geoff Boeing",))]
    >>> unmatched_filters(Filters(guest="Jeff Boeing"), infos, "idx")
    "no guest matches 'Jeff Boeing' in idx; closest: Geoff Boeing"
    >>> unmatched_filters(Filters(guest="boeing"), infos, "idx") is None
    True
    """
    if filters.is_empty() or any(filters.matches(info) for info in episodes):
        return None
    guests = sorted({g for info in episodes for g in info.guests}, key=str.casefold)
    if filters.episode is not None and all(info.id != filters.episode for info in episodes):
        return _with_closest(f"no episode {filters.episode!r} in {where}", filters.episode, [i.id for i in episodes])
    if filters.guest and not any(Filters(guest=filters.guest).matches(info) for info in episodes):
        return _with_closest(f"no guest matches {filters.guest!r} in {where}", filters.guest, guests)
    if filters.season is not None and all(info.season != filters.season for info in episodes):
        seasons = sorted({info.season for info in episodes if info.season is not None})
        return f"no season {filters.season} in {where}" + (f"; seasons: {', '.join(map(str, seasons))}" if seasons else "")
    return f"no episode in {where} matches these filters together"


def _with_closest(message: str, wanted: str, names: Sequence[str]) -> str:
    """`message`, then the (up to three) `names` closest to `wanted`, case aside."""
    by_folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(wanted.casefold(), list(by_folded), n=3, cutoff=0.6)
    return f"{message}; closest: {', '.join(by_folded[c] for c in close)}" if close else message


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
    return [_merged_hit([hits[i] for i in group], union_spans) for group in groups[:limit]]


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


def _merged_hit(group: list[Hit], union_spans: bool = False) -> Hit:
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


def _words(text: str) -> str:
    """Case-folded words separated (and surrounded) by single spaces, for whole-word matching."""
    return " " + " ".join(_WORD.findall(text.casefold())) + " "


def locate_moment(
    hit: Hit, term_weights: dict[str, float], *, lead_in_s: int = LEAD_IN_S, support: float = SUPPORT_SHARE
) -> Hit:
    """`hit` with `link_s` set to the line where the answer starts (`rag.locate`).

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


class Searcher:
    """Loaded once, reused for every question (the index and the model stay in memory).

    Hybrid ranking runs in two stages:

    1. Dense (FAISS) and BM25 rankings of the whole scope, fused with RRF.
    2. Episode-aware re-ranking: an episode's relevance is the sum of the fused
       scores of its passages among the top `episode_pool`. Inside the
       `focus_episodes` most relevant episodes (and the best passage's own episode),
       dense and BM25 are ranked again among those episodes' passages only, and
       that RRF score is added. A question usually names or describes one episode
       (a guest, a story); this finds the moment inside it even when the global
       dense ranking put it deep down.
    """

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        *,
        mode: str = "hybrid",
        candidates: int = 100,
        rrf_k: int = RRF_K,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        focus_episodes: int = 8,
        episode_pool: int = 50,
        focus_weight: float = 1.0,
        merge: bool = True,
        union_spans: bool = False,
        locate: bool = True,
        lead_in_s: int = LEAD_IN_S,
        support: float = SUPPORT_SHARE,
        name_scope: bool = True,
        relevance: RelevanceModel | None = None,
        rescored: int = RESCORED_MOMENTS,
        placed: int = PLACED_MOMENTS,
    ) -> None:
        if mode not in ("hybrid", "dense", "lexical"):
            raise ValueError(f"mode must be hybrid, dense or lexical, not {mode!r}")
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.focus_episodes = focus_episodes if mode == "hybrid" else 0
        self.episode_pool = episode_pool
        self.focus_weight = focus_weight
        self.merge = merge
        self.union_spans = union_spans
        self.locate = locate
        self.lead_in_s = lead_in_s
        self.support = support
        self.name_scope = name_scope
        # The trained relevance model (`rag tune`), when the index has one: it re-orders
        # the first `rescored` moments and places the links of the first `placed`.
        self.relevance = relevance
        self.rescored = rescored
        self.placed = placed
        self.notes: tuple[str, ...] = ()  # what loading it left out, for the CLI and the app to print once
        store = index.passages
        self._ids_by_episode = store.positions_by_episode()
        self._episodes_by_guest: dict[str, set[str]] = {}
        for info in store.episodes:
            for guest in info.guests:
                if len(guest.split()) >= 2:  # a full name; a first name alone is too ambiguous
                    self._episodes_by_guest.setdefault(guest.casefold(), set()).add(info.id)

    def named_episodes(self, text: str) -> set[str]:
        """Episodes of the guests whose full name `text` mentions ("according to Lisa Cohen")."""
        words = _words(text)
        return {episode for name, episodes in self._episodes_by_guest.items() if _words(name) in words
                for episode in episodes}

    def allowed_ids(self, filters: Filters | None) -> np.ndarray | None:
        """Positions of the passages `filters` admit (None: all). Filters are per episode,
        so they are checked once per episode, not once per passage."""
        if filters is None or filters.is_empty():
            return None
        chosen = [self._ids_by_episode[info.id] for info in self.index.passages.episodes if filters.matches(info)]
        return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)

    def dense_ranking(self, vector: np.ndarray, allowed: np.ndarray | None, k: int | None = None) -> list[int]:
        _, ids = self.index.vectors.search(vector, k or self.candidates, allowed)
        return [int(i) for i in ids]

    def lexical_ranking(self, scores: np.ndarray, allowed: np.ndarray | None, k: int | None = None) -> list[int]:
        subset = scores if allowed is None else scores[allowed]
        n = min(k or self.candidates, int((subset > 0).sum()))
        if n <= 0:
            return []
        top = np.argpartition(-subset, n - 1)[:n]
        positions = top if allowed is None else np.asarray(allowed, dtype=np.int64)[top]
        # Ties go to the lower position, as a stable sort of the whole array would give.
        order = np.lexsort((positions, -subset[top]))
        return [int(i) for i in positions[order]]

    def _signals(self, query: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The query's vector and its BM25 score of every passage (None where the mode has no use for it)."""
        vector = self.embedder.embed_queries([query])[0] if self.mode in ("hybrid", "dense") else None
        lexical = self.index.lexical.scores(query) if self.mode in ("hybrid", "lexical") else None
        return vector, lexical

    def _fuse(self, vector: np.ndarray | None, lexical: np.ndarray | None, allowed: np.ndarray | None,
              k: int | None = None) -> dict[int, float]:
        rankings: list[list[int]] = []
        weights: list[float] = []
        if vector is not None:
            rankings.append(self.dense_ranking(vector, allowed, k))
            weights.append(self.dense_weight)
        if lexical is not None:
            rankings.append(self.lexical_ranking(lexical, allowed, k))
            weights.append(self.lexical_weight)
        return dict(rrf_fuse(rankings, k=self.rrf_k, weights=weights))

    def _focus_on_episodes(self, fused: dict[int, float], vector, lexical, allowed) -> dict[int, float]:  # type: ignore[no-untyped-def]
        pool = sorted(fused.items(), key=lambda item: -item[1])[: self.episode_pool]
        relevance: dict[str, float] = {}
        for doc, score in pool:
            episode = self.index.passages.episode_id(doc)
            relevance[episode] = relevance.get(episode, 0.0) + score
        focus = sorted(relevance, key=lambda e: -relevance[e])[: self.focus_episodes]
        # A sum favours episodes that touch the question often, loosely; the one episode
        # that answers it, once, can miss the cut, and then the focus bonus pushes its
        # passage (first in both rankings) out of the results. Its episode stays in focus.
        best_episode = self.index.passages.episode_id(pool[0][0])
        if best_episode not in focus:
            focus.append(best_episode)
        # One ranking over the focus episodes together, so that the most relevant
        # episode's passages still outrank the others'.
        ids = np.concatenate([self._ids_by_episode[episode] for episode in focus])
        if allowed is not None:
            ids = np.intersect1d(ids, allowed)
        scores = dict(fused)
        for doc, score in self._fuse(vector, lexical, ids, len(ids)).items():
            scores[doc] = scores.get(doc, 0.0) + self.focus_weight * score
        return scores

    def _moments(self, ranked: list[tuple[int, float]], k: int) -> list[Hit]:
        """The `k` best moments of the ranked (position, score) pairs: grouped by their
        (episode, ordinal) keys first, so that only the passages returned are read."""
        store = self.index.passages
        if not self.merge:
            chosen = ranked[:k]
            return [Hit(p, score, self.mode) for p, (_, score) in zip(store.many([d for d, _ in chosen]), chosen)]
        docs = np.fromiter((doc for doc, _ in ranked), dtype=np.int64, count=len(ranked))
        keys = list(zip(store.episode_codes[docs].tolist(), store.ordinals[docs].tolist()))
        groups = group_adjacent(keys)[:k]
        members = [ranked[i] for group in groups for i in group]
        passage_of = dict(zip((doc for doc, _ in members), store.many([doc for doc, _ in members])))
        return [
            _merged_hit([Hit(passage_of[ranked[i][0]], ranked[i][1], self.mode) for i in group], self.union_spans)
            for group in groups
        ]

    def search(self, query: str, k: int = 5, filters: Filters | None = None, *, context: str = "") -> list[Hit]:
        """The `k` best moments for `query` within `filters`, best first.

        `context` is what the conversation was about (earlier questions). It picks the
        scope, the episodes under discussion, together with `query`; `query` alone
        then picks the moment inside them and the second the link opens at, so that a
        follow-up ("why don't they measure heart rate?") is not drowned by its history.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        query = " ".join(query.split())
        context = " ".join(context.split())
        if not query:
            return []
        allowed = self.allowed_ids(filters)
        if self.name_scope:
            named = self.named_episodes(f"{context} {query}")
            if named:
                ids = np.concatenate([self._ids_by_episode[e] for e in sorted(named)])
                narrowed = ids if allowed is None else np.intersect1d(ids, allowed)
                if len(narrowed):
                    allowed = narrowed
        scope = self._signals(f"{context} {query}" if context else query)
        scores = self._fuse(*scope, allowed)
        if self.focus_episodes and scores:
            moment = self._signals(query) if context else scope
            scores = self._focus_on_episodes(scores, *moment, allowed)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        rescoring = self.relevance is not None and self.rescored > 0
        top = self._moments(ranked, max(k, self.rescored) if rescoring else k)
        if self.locate:
            weights = question_terms(self.index.lexical, query)
            top = [locate_moment(hit, weights, lead_in_s=self.lead_in_s, support=self.support) for hit in top]
        if rescoring:
            assert self.relevance is not None
            top = rescore_moments(self.relevance, query, top, moments=self.rescored, placed=self.placed)
        return top[:k]


def search(index: Index, embedder: Embedder, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
    """One-off search; build a `Searcher` to reuse across questions."""
    return Searcher(index, embedder).search(query, k, filters)
