"""Question -> ranked `Hit`s: dense (FAISS) + lexical (BM25), fused, then merged.

    searcher = Searcher(load_index("indexes/dtc"), make_embedder())
    for hit in searcher.search("what is a bloom filter for?", k=3):
    ...     print(hit.passage.label(), hit.passage.url)

Filters (episode, guest, season) restrict the candidate set *before* ranking, so a
filtered search returns the best passages of that scope rather than the few that
happened to survive a global top-k.
"""

from __future__ import annotations

import numpy as np

from rag.index.embedding import Embedder
from rag.index.files import Index
from rag.search.fusion import RRF_K, SUPPORT_SHARE, best_moments, locate_moment, rrf_fuse
from rag.search.hits import Filters, Hit
from rag.search.locate import LEAD_IN_S, question_terms
from rag.search.relevance import RelevanceModel
from rag.search.rescore import PLACED_MOMENTS, RESCORED_MOMENTS, rescore_moments
from rag.search.scope import EpisodeScope


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
        self.scope = EpisodeScope(index.passages)

    def dense_ranking(self, vector: np.ndarray, allowed: np.ndarray | None, k: int | None = None) -> list[int]:
        _, ids = self.index.vectors.search(vector, k or self.candidates, allowed)
        return [int(i) for i in ids]

    def lexical_ranking(self, query: str, allowed: np.ndarray | None, k: int | None = None) -> list[int]:
        _, ids = self.index.lexical.search(query, k or self.candidates, allowed)
        return [int(i) for i in ids]

    def _signals(self, query: str) -> tuple[np.ndarray | None, str | None]:
        """The query's vector and its BM25 query (None where the mode has no use for it)."""
        vector = self.embedder.embed_queries([query])[0] if self.mode in ("hybrid", "dense") else None
        return vector, (query if self.mode in ("hybrid", "lexical") else None)

    def _fuse(self, vector: np.ndarray | None, lexical: str | None, allowed: np.ndarray | None,
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

    def _focus_on_episodes(self, fused: dict[int, float], vector: np.ndarray | None, lexical: str | None,
                           allowed: np.ndarray | None) -> dict[int, float]:
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
        ids = self.scope.ids_of(focus)
        if allowed is not None:
            ids = np.intersect1d(ids, allowed)
        scores = dict(fused)
        for doc, score in self._fuse(vector, lexical, ids, len(ids)).items():
            scores[doc] = scores.get(doc, 0.0) + self.focus_weight * score
        return scores

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
        allowed = self.scope.allowed_ids(filters)
        if self.name_scope:
            allowed = self.scope.narrowed_by_names(allowed, f"{context} {query}")
        scope = self._signals(f"{context} {query}" if context else query)
        scores = self._fuse(*scope, allowed)
        if self.focus_episodes and scores:
            moment = self._signals(query) if context else scope
            scores = self._focus_on_episodes(scores, *moment, allowed)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        rescoring = self.relevance is not None and self.rescored > 0
        top = best_moments(self.index.passages, ranked, max(k, self.rescored) if rescoring else k,
                           mode=self.mode, merge=self.merge, union_spans=self.union_spans)
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
