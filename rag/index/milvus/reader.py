"""The index in Milvus as search reads it: the same three parts as the built-in one.

`MilvusPassages` reads passages by position as search returns them; what every search
needs of every passage (its episode's code and its ordinal, for filters and merging) is
two int32 arrays read once at open, 8 bytes a passage. `MilvusVectors` and
`MilvusLexical` answer "the k best among these ids" with one engine search each, the ids'
episodes as the filter; `term_idf` reads the term counts the manifest records.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.chunking import Passage
from rag.index.lexical import LexicalIndex, bm25_idf
from rag.index.milvus.collection import MAX_LIMIT, all_rows, bm25_text, check_generation, warm
from rag.index.milvus.engine import Engine
from rag.index.store import EpisodeInfo, passage_from_json, positions_by_episode

READ_BATCH = 4_096


class MilvusPassages(Sequence[Passage]):
    """The passages of one generation, by position; `PassageStore`'s reading side."""

    def __init__(self, engine: Engine, collection: str, count: int, positions: int) -> None:
        """`positions`: how many the generation has used; an update leaves the deleted ones
        empty (episode code -1) and appends, so this may exceed the `count` of passages."""
        self.engine, self.collection, self.count = engine, collection, count
        firsts = {int(row["episode_code"]): passage_from_json(row["data"])
                  for row in all_rows(engine, collection, ["episode_code", "data"], positions, "ordinal == 0")}
        # Episodes are numbered 0..n-1 here (`EpisodeInfo.code`); the engine's codes may have
        # gaps where an update removed an episode: filters translate back (`engine_codes`).
        self.engine_codes = np.asarray(sorted(firsts), dtype=np.int64)
        local = {code: i for i, code in enumerate(self.engine_codes.tolist())}
        self.episode_codes = np.full(positions, -1, dtype=np.int32)
        self.ordinals = np.zeros(positions, dtype=np.int32)
        found = 0
        for row in all_rows(engine, collection, ["position", "episode_code", "ordinal"], positions):
            position, code = int(row["position"]), local.get(int(row["episode_code"]))
            if code is None or not 0 <= position < positions:
                raise IndexCorruptError(f"{engine.shown}: {collection} has a passage without its episode; rebuild it")
            self.episode_codes[position], self.ordinals[position] = code, int(row["ordinal"])
            found += 1
        if found != count:
            raise IndexCorruptError(f"{engine.shown}: {collection} holds {found} passages, the manifest says {count}")
        self.episode_sizes = np.bincount(self.episode_codes[self.episode_codes >= 0], minlength=len(firsts))
        self.episodes = tuple(
            EpisodeInfo(local[code], p.episode_id, p.episode_title, p.season, p.guests, p.episode_description)
            for code, p in sorted(firsts.items())
        )

    def __len__(self) -> int:
        return len(self.episode_codes)

    def __getitem__(self, position: int) -> Passage:  # type: ignore[override]
        return self.many([position])[0]

    def many(self, positions: Sequence[int]) -> list[Passage]:
        wanted = [int(p) for p in positions]
        if not wanted:
            return []
        rows = self.engine.call("get", self.collection, ids=sorted(set(wanted)), output_fields=["position", "data"])
        found = {int(row["position"]): row["data"] for row in rows}
        missing = [p for p in wanted if p not in found]
        if missing:
            raise IndexCorruptError(f"{self.engine.shown}: {self.collection} lacks the passages at {missing[:5]}")
        return [self._with_episode(p, passage_from_json(found[p])) for p in wanted]

    def __iter__(self) -> Iterator[Passage]:
        """The passages in position order, empty positions skipped."""
        present = np.flatnonzero(self.episode_codes >= 0)
        for start in range(0, len(present), READ_BATCH):
            yield from self.many(present[start:start + READ_BATCH].tolist())

    def _with_episode(self, position: int, passage: Passage) -> Passage:
        return replace(passage, episode_description=self.episodes[self.episode_codes[position]].description)

    def episode_id(self, position: int) -> str:
        return self.episodes[self.episode_codes[position]].id

    def positions_by_episode(self) -> dict[str, np.ndarray]:
        return positions_by_episode(self.episode_codes, self.episodes)

    def close(self) -> None:
        self.engine.close()


class _Scoped:
    """Search under an allowed set of positions: the engine filters by their episodes."""

    def __init__(self, engine: Engine, collection: str, passages: MilvusPassages) -> None:
        self.engine, self.collection, self.passages = engine, collection, passages

    def __len__(self) -> int:
        return len(self.passages)

    def _search(self, data: Any, field: str, metric: str, k: int,
                allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        expression, requested = "", int(k)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if not len(allowed):
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            codes = np.unique(self.passages.episode_codes[allowed])
            codes = codes[codes >= 0]
            engine_codes = self.passages.engine_codes[codes]
            expression = f"episode_code in [{', '.join(str(int(c)) for c in engine_codes)}]"
            in_scope = int(self.passages.episode_sizes[codes].sum())
            if in_scope > len(allowed):  # part of an episode: rank its whole scope, then keep the allowed
                k = in_scope
        limit = max(1, min(int(k), MAX_LIMIT))
        result = self.engine.call("search", self.collection, data=[data], anns_field=field, limit=limit,
                                  filter=expression, output_fields=["position"], search_params={"metric_type": metric})
        hits = result[0] if result else []
        ids = np.asarray([int(hit["entity"]["position"]) for hit in hits], dtype=np.int64)
        # Milvus Lite returns a BM25 score negated (its "smaller is better" distance): both signs read as one.
        scores = np.asarray([abs(float(hit["distance"])) if metric == "BM25" else float(hit["distance"])
                             for hit in hits], dtype=np.float32)
        # Passages a later update added are not this reader's (it reloads to see them).
        known = ids < len(self.passages.episode_codes)
        known[known] = self.passages.episode_codes[ids[known]] >= 0
        ids, scores = ids[known], scores[known]
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, scores = ids[keep], scores[keep]
        # Ties go to the lower position, as the built-in backend orders them.
        order = np.lexsort((ids, -scores))[:requested]
        return scores[order], ids[order]


class MilvusVectors(_Scoped):
    """`VectorStore` over the engine's exact (FLAT, inner product) vector index."""

    kind = "milvus-flat"

    def __init__(self, engine: Engine, collection: str, passages: MilvusPassages, dim: int) -> None:
        super().__init__(engine, collection, passages)
        self.dim = dim

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        return self._search(vector, "vector", "IP", k, allowed)

    def save(self, directory: Any) -> dict[str, Any]:
        raise NotImplementedError("a Milvus index is written by rag.index.milvus.collection")


class MilvusLexical(_Scoped):
    """`LexicalSearch` over the engine's BM25 function, fed our own tokens."""

    def __init__(self, engine: Engine, collection: str, passages: MilvusPassages, term_counts: Mapping[str, int]) -> None:
        super().__init__(engine, collection, passages)
        self.term_counts = term_counts

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        text = bm25_text(query)
        if not text:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._search(text, "sparse", "BM25", k, allowed)
        positive = scores > 0
        return scores[positive], ids[positive]

    def term_idf(self, query: str) -> dict[str, float]:
        """As `LexicalIndex.term_idf`, from the counts recorded at ingest."""
        return {term: bm25_idf(int(self.term_counts.get(term, 0)), self.passages.count)
                for term in LexicalIndex.tokenize([query])[0]}


def open_milvus_index(manifest: Mapping[str, Any], *, timeout_s: float | None = None
                      ) -> tuple[MilvusPassages, MilvusVectors, MilvusLexical]:
    """Connect to the engine the manifest names and open the generation it names."""
    entry = manifest.get("milvus")
    if not isinstance(entry, Mapping) or not all(isinstance(entry.get(k), str) for k in ("uri", "collection")):
        raise IndexCorruptError("manifest.json: backend 'milvus' without its 'milvus' entry (uri, collection)")
    engine = Engine(entry["uri"], timeout_s=timeout_s)
    try:
        collection, count, dim = entry["collection"], int(manifest["count"]), int(manifest["dim"])
        check_generation(engine, collection, dim, count)
        warm(engine, collection)
        passages = MilvusPassages(engine, collection, count, int(entry.get("positions", count)))
        counts = entry.get("term_counts") if isinstance(entry.get("term_counts"), Mapping) else {}
        return (passages, MilvusVectors(engine, collection, passages, dim),
                MilvusLexical(engine, collection, passages, counts))
    except BaseException:
        engine.close()
        raise
