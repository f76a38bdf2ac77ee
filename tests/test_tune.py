"""`rag tune`: a relevance model trained on the slice, recorded in the manifest, and every
way an index can be without a usable one (rag.search.tune, rag.search.relevance, rag.search.rescore)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag.cli import cli
from rag.config import Config
from rag.index.files import MANIFEST, read_manifest
from rag.pipeline import open_searcher
from rag.search.relevance import META_FILE, OnnxRelevanceModel
from rag.search.training import MIN_TRAINING_PAIRS, TuneSettings
from rag.search.tune import tune_index

WINDOWS = [
    "Marcello La Rocca: A Bloom filter tells you if an element is in a set, with some false positives.",
    "Alexey: Welcome to our event, this week we talk about algorithms.",
    "Eugene Yan: I write every day, with an outline reconstructed from memory.",
]
TWO_STEPS = TuneSettings(max_steps=2, batch_groups=2, min_pairs=1)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice index with a relevance model from two training steps."""
    from rag.index.build import ingest
    from rag.index.embedding import HashingEmbedder

    root = tmp_path_factory.mktemp("tuned")
    shutil.copytree(Path(__file__).parent / "data" / "corpus", root / "corpus")
    index_dir = root / "indexes" / "slice"
    ingest([root / "corpus"], index_dir, HashingEmbedder(dim=256))
    tune_index(index_dir, TWO_STEPS)
    return index_dir


def _model_path(index_dir: Path) -> Path:
    return (index_dir / read_manifest(index_dir)["relevance"]["path"]).resolve()


def test_two_training_steps_on_the_slice_give_the_same_model_twice(tuned: Path) -> None:
    first = OnnxRelevanceModel(_model_path(tuned)).score("what is a bloom filter?", WINDOWS)
    report = tune_index(tuned, TWO_STEPS)
    again = OnnxRelevanceModel(_model_path(tuned)).score("what is a bloom filter?", WINDOWS)
    assert report.steps == 2
    assert first.shape == (3,) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)


def test_the_manifest_names_the_model_with_what_it_was_trained_on(tuned: Path) -> None:
    entry = read_manifest(tuned)["relevance"]
    meta = json.loads((_model_path(tuned) / META_FILE).read_text())
    assert entry["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert entry["seed"] == 0 and entry["pairs"] == meta["pairs"] > 0
    assert entry["corpus_fingerprint"] == read_manifest(tuned)["corpus_fingerprint"]
    assert set(entry["validation"]) >= {"tuned", "lexical (untuned)"}
    assert "software-engineering-for-machine-learning" in meta["episodes"]


def test_search_with_the_model_scores_and_links_its_moments(tuned: Path) -> None:
    searcher = open_searcher(Config(index_dir=tuned, relevance_model=True))
    assert searcher.relevance is not None and searcher.notes == ()
    hits = searcher.search("How do I learn how to use Bloom filters?", k=5)
    assert len(hits) == 5
    assert all(hit.relevance is not None for hit in hits)
    assert [h.relevance for h in hits] == sorted((h.relevance for h in hits), reverse=True)
    for hit in hits:
        assert hit.link_sec in hit.passage.line_starts
        assert hit.passage.start_s <= hit.link_sec <= hit.passage.end_s


def test_the_model_is_off_unless_asked_for(tuned: Path) -> None:
    from rag.config import load_config

    assert Config().relevance_model is False
    assert load_config(env={"RAG_RELEVANCE_MODEL": "1"}).relevance_model is True
    searcher = open_searcher(Config(index_dir=tuned))
    assert searcher.relevance is None and searcher.notes == ()
    assert all(hit.relevance is None for hit in searcher.search("bloom filters", k=3))


def _copy_index(tuned: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "indexes" / "slice"
    shutil.copytree(tuned, copy)
    shutil.copytree(tuned.parent.parent / "indexes" / "models", tmp_path / "indexes" / "models")
    return copy


def test_a_model_the_manifest_names_but_is_gone_is_one_note_and_untuned_search(tuned: Path, tmp_path: Path) -> None:
    index_dir = _copy_index(tuned, tmp_path)
    shutil.rmtree(_model_path(index_dir))
    searcher = open_searcher(Config(index_dir=index_dir, relevance_model=True))
    assert searcher.relevance is None
    assert len(searcher.notes) == 1
    assert searcher.notes[0].startswith("relevance model not used: ")
    assert f"{META_FILE}: no such file" in searcher.notes[0]
    assert f"`rag tune --index {index_dir}` trains one" in searcher.notes[0]
    assert searcher.search("bloom filters", k=3)


def test_a_model_trained_on_another_corpus_is_one_note(tuned: Path, tmp_path: Path) -> None:
    index_dir = _copy_index(tuned, tmp_path)
    meta_path = _model_path(index_dir) / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["episodes"] = ["another-show-1", "another-show-2"]
    meta_path.write_text(json.dumps(meta))
    searcher = open_searcher(Config(index_dir=index_dir, relevance_model=True))
    assert searcher.relevance is None
    assert searcher.notes == (
        f"relevance model not used: {_model_path(index_dir)}: trained on 0% of this index's 4 episodes "
        f"(at least 80% needed); ranking without it (`rag tune --index {index_dir}` trains one)",
    )


def test_a_model_of_an_older_recipe_is_one_note(tuned: Path, tmp_path: Path) -> None:
    index_dir = _copy_index(tuned, tmp_path)
    meta_path = _model_path(index_dir) / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["recipe"] = "ce-v0"
    meta_path.write_text(json.dumps(meta))
    searcher = open_searcher(Config(index_dir=index_dir, relevance_model=True))
    assert searcher.relevance is None
    assert "recipe 'ce-v0', this version uses 'ce-v1'" in searcher.notes[0]


def test_an_unreadable_manifest_entry_is_one_note(tuned: Path, tmp_path: Path) -> None:
    index_dir = _copy_index(tuned, tmp_path)
    manifest = read_manifest(index_dir)
    manifest["relevance"] = "yes please"
    (index_dir / MANIFEST).write_text(json.dumps(manifest))
    searcher = open_searcher(Config(index_dir=index_dir, relevance_model=True))
    assert searcher.relevance is None
    assert searcher.notes == (f"{index_dir}: the manifest's relevance entry is not readable; ranking without it",)


def test_an_index_without_a_model_searches_untuned_without_a_note(built_index: Path) -> None:
    searcher = open_searcher(Config(index_dir=built_index, relevance_model=True))
    assert searcher.relevance is None and searcher.notes == ()


def test_tune_with_too_few_pairs_exits_1_naming_the_count_and_the_threshold(built_index: Path) -> None:
    result = CliRunner().invoke(cli, ["tune", "--index", str(built_index), "-q"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "question/answer pairs for training (74 chapter, 43 turn mined), fewer than the " in result.output
    assert f"the {MIN_TRAINING_PAIRS} needed to learn from; search keeps its untuned ranking" in result.output


def test_make_space_ships_the_model_where_the_shipped_index_finds_it(tuned: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "space"
    subprocess.run([sys.executable, "scripts/make_space.py", "--index", str(tuned), "--out", str(out)],
                   cwd=Path(__file__).parent.parent, capture_output=True, text=True, check=True)
    shipped = out / "indexes" / "dtc"
    assert (_model_path(shipped) / "model-qint8.onnx").is_file()
    assert _model_path(shipped).is_relative_to(out)
    assert "*.onnx filter=lfs" in (out / ".gitattributes").read_text()
    searcher = open_searcher(Config(index_dir=shipped, relevance_model=True))
    assert searcher.relevance is not None and searcher.notes == ()


def test_a_rebuild_of_the_index_keeps_its_model(tuned: Path, tmp_path: Path) -> None:
    from rag.index.build import ingest
    from rag.index.embedding import HashingEmbedder

    index_dir = _copy_index(tuned, tmp_path)
    entry = read_manifest(index_dir)["relevance"]
    ingest([Path(__file__).parent / "data" / "corpus"], index_dir, HashingEmbedder(dim=256), force=True)
    assert read_manifest(index_dir)["relevance"] == entry
    assert open_searcher(Config(index_dir=index_dir, relevance_model=True)).relevance is not None
