"""The passage store (SQLite) and the vector indexes that large corpora use (IVF, HNSW)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexCorruptError
from rag.index.build import ingest
from rag.index.chunking import Passage
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.index.store import CACHED_PASSAGES, PassageStore, write_passages
from rag.index.vectors import FaissStore, choose_vector_kind, ivf_lists
from rag.search.hits import Filters
from rag.search.searcher import Searcher


def passage(episode: int, ordinal: int, text: str = "", season: int | None = None) -> Passage:
    return Passage(
        id=f"e{episode}#{ordinal}", episode_id=f"e{episode}", episode_title=f"Episode {episode}", section="",
        speakers=("Ann",), start_s=ordinal * 30, end_s=ordinal * 30 + 29, text=text or f"Ann: words {episode} {ordinal}",
        url="", ordinal=ordinal, season=season, guests=(f"Guest Number{episode}",), line_starts=(ordinal * 30,),
    )


def clustered_vectors(count: int, dim: int = 48, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around `clusters` centres: the shape real embeddings have, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    vectors = centres[rng.integers(0, clusters, count)] + 0.35 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_store_round_trips_passages_in_order(tmp_path: Path) -> None:
    passages = [passage(e, o, season=e % 3) for e in range(5) for o in range(7)]
    write_passages(tmp_path / "p.sqlite", passages)
    store = PassageStore.open(tmp_path / "p.sqlite")
    assert len(store) == 35 and list(store) == passages
    assert store.many([34, 0, 34]) == [passages[34], passages[0], passages[34]]
    assert [e.id for e in store.episodes] == [f"e{i}" for i in range(5)]
    assert store.episode_id(8) == "e1" and store.episodes[2].season == 2
    assert store.positions_by_episode()["e3"].tolist() == list(range(21, 28))
    with pytest.raises(IndexError, match="passage 35 out of range"):
        store[35]


def test_store_keeps_a_bounded_cache_of_what_it_read(tmp_path: Path) -> None:
    passages = [passage(0, o) for o in range(CACHED_PASSAGES + 50)]
    write_passages(tmp_path / "p.sqlite", passages)
    store = PassageStore.open(tmp_path / "p.sqlite")
    assert store[3] == passages[3]
    assert len(store._cache) == 1  # opening read no passage
    for position in range(len(passages)):
        store[position]
    assert len(store._cache) == CACHED_PASSAGES


def test_store_serves_threads_at_once(tmp_path: Path) -> None:
    passages = [passage(e, o) for e in range(20) for o in range(50)]
    write_passages(tmp_path / "p.sqlite", passages)
    store = PassageStore.open(tmp_path / "p.sqlite")
    wrong: list[int] = []

    def read(offset: int) -> None:
        for position in range(offset, len(passages), 7):
            if store[position] != passages[position]:
                wrong.append(position)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_store_names_a_row_that_went_missing(tmp_path: Path) -> None:
    write_passages(tmp_path / "p.sqlite", [passage(0, o) for o in range(5)])
    with sqlite3.connect(tmp_path / "p.sqlite") as db:
        db.execute("DELETE FROM passages WHERE position = 2")
    store = PassageStore.open(tmp_path / "p.sqlite")
    with pytest.raises(IndexCorruptError, match=r"p.sqlite: passage 2 is missing"):
        store.many([1, 2])


def test_auto_picks_an_ann_index_only_for_large_corpora() -> None:
    assert choose_vector_kind(14_000) == "flat" and choose_vector_kind(1_400_000) == "ivf"
    assert ivf_lists(400) == 10 and ivf_lists(416_000) == 1289
    with pytest.raises(ValueError, match="unknown vector index 'lsh'"):
        choose_vector_kind(10, "lsh")


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_ann_finds_the_exact_neighbours_and_scores_them_exactly(kind: str, tmp_path: Path) -> None:
    vectors = clustered_vectors(6000)
    exact = FaissStore.build(vectors, "flat")
    ann = FaissStore.build(vectors, kind)
    assert ann.kind == kind
    described = ann.save(tmp_path)
    ann = FaissStore.load(tmp_path, described)
    rng = np.random.default_rng(1)
    queries = vectors[rng.integers(0, len(vectors), 50)] + 0.3 * rng.normal(size=(50, vectors.shape[1]))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    recalls = []
    for query in queries:
        exact_scores, exact_ids = exact.search(query, 10)
        scores, ids = ann.search(query, 10)
        recalls.append(len(set(ids.tolist()) & set(exact_ids.tolist())) / 10)
        # Candidates are re-scored from the full vectors: scores are true cosines, best first.
        np.testing.assert_allclose(scores, vectors[ids] @ query, rtol=1e-5)
        assert list(scores) == sorted(scores, reverse=True)
    assert np.mean(recalls) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_filtered_search_returns_only_allowed_ids_on_both_paths(kind: str) -> None:
    vectors = clustered_vectors(3000)
    store = FaissStore.build(vectors, kind)
    allowed = np.arange(1, 3000, 3)
    query = vectors[10]  # itself not allowed
    for exact_subset_max in (10_000, 100):  # a small subset is scored exactly; a large one through FAISS
        store.exact_subset_max = exact_subset_max
        scores, ids = store.search(query, 20, allowed)
        assert len(ids) == 20 and set(ids.tolist()) <= set(allowed.tolist())
        if kind == "flat":
            best = allowed[np.argsort(-(vectors[allowed] @ query))[:20]]
            assert ids.tolist() == best.tolist()


def test_ivf_index_serves_search_and_filters_end_to_end(tmp_path: Path, corpus_dir: Path) -> None:
    embedder = HashingEmbedder(dim=256)
    ingest([corpus_dir], tmp_path / "flat", embedder)
    ingest([corpus_dir], tmp_path / "ivf", embedder, vector_index="ivf")
    flat, ivf = load_index(tmp_path / "flat"), load_index(tmp_path / "ivf")
    assert ivf.manifest["vectors"]["kind"] == "ivf" and (tmp_path / "ivf" / "faiss.index").exists()
    question = "what are bloom filters used for?"
    top_flat = [h.passage.id for h in Searcher(flat, embedder).search(question, k=3)]
    top_ivf = [h.passage.id for h in Searcher(ivf, embedder).search(question, k=3)]
    assert top_ivf[0] == top_flat[0]
    episode = ivf.passages.episodes[1].id
    scoped = Searcher(ivf, embedder).search(question, k=5, filters=Filters(episode=episode))
    assert scoped and {h.passage.episode_id for h in scoped} == {episode}


def test_an_episode_description_is_stored_once_and_read_back_on_its_passages(tmp_path: Path) -> None:
    from dataclasses import replace

    passages = [replace(passage(0, o), episode_description="Ann on Bloom filters.") for o in range(3)]
    passages.append(passage(1, 0))
    write_passages(tmp_path / "p.sqlite", passages)
    with sqlite3.connect(tmp_path / "p.sqlite") as db:
        rows = [data for (data,) in db.execute("SELECT data FROM passages")]
    assert not any("Bloom filters." in row for row in rows)
    store = PassageStore.open(tmp_path / "p.sqlite")
    assert store.episodes[0].description == "Ann on Bloom filters." and store.episodes[1].description == ""
    assert list(store) == passages and store.many([2, 3]) == passages[2:]
