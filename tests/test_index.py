from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rag.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from rag.index.build import ingest
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index, read_manifest
from rag.index.lexical import LexicalIndex
from rag.index.store import write_passages
from rag.index.vectors import FaissStore
from tests.conftest import commit_git_repo, git_config_env


def test_index_round_trips_passages_vectors_and_manifest(built_index: Path, embedder: HashingEmbedder) -> None:
    index = load_index(built_index)
    manifest = json.loads((built_index / "manifest.json").read_text())
    assert manifest["model"] == "hashing-256" and manifest["dim"] == 256
    assert manifest["count"] == len(index.passages) == len(index.vectors) == len(index.lexical)
    assert manifest["episodes"] == 4 and manifest["format_version"] == 4
    assert manifest["vectors"] == {"kind": "flat"}
    assert len(manifest["corpus_fingerprint"]) == 64
    first = index.passages[0]
    scores, ids = index.vectors.search(embedder.embed([first.text + "\n" + first.episode_title])[0], 1)
    assert ids.tolist() == [0] and scores[0] > 0.8


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match=rf"no index at {tmp_path / 'nope'}: build it with `rag ingest"):
        load_index(tmp_path / "nope")


def test_model_mismatch_names_both_models(built_index: Path) -> None:
    with pytest.raises(IndexMismatchError, match=r"was built with model 'hashing-256', not 'other-model'"):
        load_index(built_index, expected_model="other-model")


def test_corrupt_vector_file_is_named(built_index: Path) -> None:
    (built_index / "vectors.npy").write_bytes(b"not an array")
    with pytest.raises(IndexCorruptError, match=rf"{built_index / 'vectors.npy'}: unreadable vectors"):
        load_index(built_index)


def test_corrupt_faiss_file_of_an_ann_index_is_named(tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder) -> None:
    index_dir = tmp_path / "ivf"
    ingest([corpus_dir], index_dir, embedder, vector_index="ivf")
    (index_dir / "faiss.index").write_bytes(b"not a faiss index")
    with pytest.raises(IndexCorruptError, match=rf"{index_dir / 'faiss.index'}: unreadable FAISS index"):
        load_index(index_dir)


def test_corrupt_passage_store_is_named(built_index: Path) -> None:
    (built_index / "passages.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    with pytest.raises(IndexCorruptError, match=rf"{built_index / 'passages.sqlite'}: unreadable passage store"):
        load_index(built_index)


def test_corrupt_manifest_is_named(built_index: Path) -> None:
    (built_index / "manifest.json").write_text("{broken")
    with pytest.raises(IndexCorruptError, match=rf"{built_index / 'manifest.json'}: unreadable manifest"):
        load_index(built_index)


def test_passage_count_mismatch_is_reported(built_index: Path) -> None:
    passages = list(load_index(built_index).passages)
    write_passages(built_index / "passages.sqlite", passages[:-1])
    with pytest.raises(IndexCorruptError, match=rf"manifest says {len(passages)} passages but found {len(passages) - 1} passages"):
        load_index(built_index)


def test_filtered_vector_search_only_returns_allowed_ids() -> None:
    vectors = HashingEmbedder(dim=32).embed([f"doc {i} text" for i in range(20)])
    store = FaissStore.build(vectors)
    _, ids = store.search(vectors[3], 5, allowed=np.array([7, 11]))
    assert sorted(ids.tolist()) == [7, 11]


def test_unchanged_reingest_embeds_nothing(tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder) -> None:
    index_dir = tmp_path / "idx"
    first = ingest([corpus_dir], index_dir, embedder)
    assert first.embedded == first.passages > 0
    calls = embedder.embed_calls
    again = ingest([corpus_dir], index_dir, embedder)
    assert again.up_to_date and embedder.embed_calls == calls
    forced = ingest([corpus_dir], index_dir, embedder, force=True)
    assert (forced.embedded, forced.from_cache) == (0, first.passages)
    assert embedder.embed_calls == calls


def test_adding_one_episode_embeds_only_its_passages(tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder) -> None:
    index_dir = tmp_path / "idx"
    first = ingest([corpus_dir], index_dir, embedder)
    new_episode = (corpus_dir / "podcast" / "building-data-team.md").read_text()
    new_episode = new_episode.replace("ScDIB-3O77A", "NEWVIDEO123").replace("Dat needs no introduction", "Dat is back")
    (corpus_dir / "podcast" / "new-episode.md").write_text(new_episode)
    second = ingest([corpus_dir], index_dir, embedder)
    new_passages = [p for p in load_index(index_dir).passages if p.episode_id == "new-episode"]
    assert second.passages == first.passages + len(new_passages)
    assert second.embedded == 1  # only the one passage whose text differs from the twin episode
    assert read_manifest(index_dir)["episodes"] == 5


def test_cache_is_keyed_by_model(tmp_path: Path, corpus_dir: Path) -> None:
    ingest([corpus_dir], tmp_path / "a", HashingEmbedder(dim=256), cache_dir=tmp_path / "cache")
    other = HashingEmbedder(dim=128)
    report = ingest([corpus_dir], tmp_path / "b", other, cache_dir=tmp_path / "cache")
    assert report.embedded == report.passages and other.embed_calls == report.passages


SLOW_INGEST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag.index.embedding import HashingEmbedder
    from rag.index import lexical as index_module
    from rag.index.build import ingest

    original = index_module.LexicalIndex.save
    def slow_save(self, path):
        original(self, path)
        Path(sys.argv[3]).write_text("writing")
        time.sleep(60)
    index_module.LexicalIndex.save = slow_save
    ingest([sys.argv[1]], sys.argv[2], HashingEmbedder(), force=True)
    """
)


def test_ingest_killed_mid_write_leaves_previous_index_usable(tmp_path: Path, built_index: Path, corpus_dir: Path) -> None:
    before = load_index(built_index)
    (corpus_dir / "podcast" / "building-data-team.md").unlink()
    marker = tmp_path / "marker"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_INGEST, str(corpus_dir), str(built_index), str(marker)],
        cwd=Path(__file__).parent.parent,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "child ingest exited before writing"
            assert time.monotonic() < deadline, "child ingest never reached the write"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    after = load_index(built_index)
    assert [p.id for p in after.passages] == [p.id for p in before.passages]
    leftovers = [p.name for p in built_index.parent.iterdir() if p.name.startswith(".test.building-")]
    assert leftovers  # the half-written build is still there, never in place of the index
    report = ingest([corpus_dir], built_index, HashingEmbedder())
    assert report.episodes == 3
    assert not [p for p in built_index.parent.iterdir() if p.name.startswith(".test.building-")]


def test_swap_interrupted_between_renames_is_recovered(built_index: Path) -> None:
    previous = built_index.with_name(f".{built_index.name}.previous")
    os.replace(built_index, previous)  # as if killed right after the first rename
    assert len(load_index(built_index).passages) > 0
    from rag.index.files import recover_interrupted_swap

    recover_interrupted_swap(built_index)
    assert (built_index / "manifest.json").exists() and not previous.exists()


FIRST_LINE = "Today we have pleasure to have Dat as a guest."


@pytest.mark.parametrize(
    ("old", "new", "corrected"),
    [
        ("  who: Alexey\n", "  who: Alexey Grigorev\n", (("Alexey Grigorev", 126), "Guest Overview & Career Snapshot")),
        ("  sec: 126\n", "  sec: 127\n", (("Alexey", 127), "Guest Overview & Career Snapshot")),
        ("- header: Guest Overview & Career Snapshot\n", "- header: Guest Overview\n", (("Alexey", 126), "Guest Overview")),
    ],
)
def test_a_corrected_speaker_second_or_header_rebuilds_the_index(
    tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder, old: str, new: str, corrected: tuple
) -> None:
    index_dir = tmp_path / "idx"
    ingest([corpus_dir], index_dir, embedder)
    episode_file = corpus_dir / "podcast" / "building-data-team.md"
    text = episode_file.read_text()
    assert old in text
    episode_file.write_text(text.replace(old, new, 1))
    report = ingest([corpus_dir], index_dir, embedder)
    assert not report.up_to_date
    [passage] = [p for p in load_index(index_dir).passages if FIRST_LINE in p.text]
    assert (passage.line_at(0), passage.section) == corrected


class VersionedEmbedder(HashingEmbedder):
    """The same model id under another recipe: as an ONNX export after `_RECIPE_VERSION` is bumped."""

    def __init__(self, recipe_version: str) -> None:
        super().__init__(dim=256)
        self.recipe_version = recipe_version


def test_cached_vectors_are_not_reused_under_another_recipe_version(tmp_path: Path, corpus_dir: Path) -> None:
    cache = tmp_path / "cache"
    first = ingest([corpus_dir], tmp_path / "idx", VersionedEmbedder("v1"), cache_dir=cache)
    same = VersionedEmbedder("v1")
    assert ingest([corpus_dir], tmp_path / "copy", same, cache_dir=cache).from_cache == first.passages
    assert same.embed_calls == 0
    ingest([corpus_dir], tmp_path / "other", HashingEmbedder(dim=128), cache_dir=cache)  # another model
    old_recipe = cache / "hashing-256_v1.npz"
    assert old_recipe.exists()
    bumped = VersionedEmbedder("v2")
    report = ingest([corpus_dir], tmp_path / "idx", bumped, cache_dir=cache)
    assert not report.up_to_date and report.embedded == report.passages == bumped.embed_calls
    assert load_index(tmp_path / "idx", expected_model="hashing-256").model_id == "hashing-256"
    # The old recipe's vectors are never read again: removed, and the summary says so.
    assert report.removed_cache_files == [old_recipe] and str(old_recipe) in report.summary()
    assert sorted(p.name for p in cache.glob("*.npz")) == ["hashing-128.npz", "hashing-256_v2.npz"]


def test_git_credentials_stay_out_of_progress_notes_and_manifest(
    tmp_path: Path, corpus_dir: Path, embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    (corpus_dir / "podcast" / "empty.md").write_text("")
    repo = commit_git_repo(corpus_dir)
    url = "https://user:s3cr3t@example.invalid/corpus.git"
    git_config_env(monkeypatch, {f"url.file://{repo}.insteadOf": url})  # the clone may use the credentials
    shown: list[str] = []
    report = ingest([url], tmp_path / "idx", embedder, on_note=lambda n: shown.append(str(n)), on_progress=shown.append)
    assert report.episodes == 4 and report.count("skipped") == 1
    manifest = (tmp_path / "idx" / "manifest.json").read_text()
    assert json.loads(manifest)["sources"] == ["https://example.invalid/corpus.git"]
    assert shown[0] == "reading transcripts from https://example.invalid/corpus.git"
    assert not [text for text in [*shown, manifest] if "s3cr3t" in text or "user" in text]
    assert list((tmp_path / "cache" / "git").iterdir()) == []  # the checkout is gone


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag.index.embedding import HashingEmbedder
    from rag.index.build import ingest

    class WaitingEmbedder(HashingEmbedder):
        def embed(self, texts):
            Path(sys.argv[3]).write_text("embedding")
            deadline = time.monotonic() + 60
            while not Path(sys.argv[4]).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return super().embed(texts)

    print(ingest([sys.argv[1]], sys.argv[2], WaitingEmbedder()).summary())
    """
)


def test_second_ingest_into_a_locked_index_fails_at_once_and_the_first_completes(
    tmp_path: Path, corpus_dir: Path
) -> None:
    index_dir, marker, release = tmp_path / "idx", tmp_path / "embedding", tmp_path / "release"
    repo_root = Path(__file__).parent.parent
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(corpus_dir), str(index_dir), str(marker), str(release)],
        cwd=repo_root, stdout=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert first.poll() is None, "first ingest exited before embedding"
            assert time.monotonic() < deadline, "first ingest never started embedding"
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ingest", str(corpus_dir), "--index", str(index_dir),
             "--model", "hashing-256", "-q"],
            cwd=repo_root, capture_output=True, text=True, timeout=120,
        )
        assert first.poll() is None
    finally:
        release.touch()
        out, _ = first.communicate(timeout=60)
    assert (second.returncode, second.stdout) == (1, "")
    holder = f"-c {corpus_dir} {index_dir} {marker} {release}"
    assert second.stderr == (
        f"Error: {index_dir}: another ingest is building this index (pid {first.pid}: {holder}); "
        "wait for it to finish, or stop that process\n"
    )
    assert first.returncode == 0 and out.startswith("indexed 4 episodes, ")
    index = load_index(index_dir)
    assert index.manifest["episodes"] == 4 and len(index.passages) == index.manifest["count"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".idx")) == [".idx.lock"]


def test_lexical_scores_equal_bm25s_own_scoring(built_index: Path) -> None:
    lexical = load_index(built_index).lexical
    for query in ("data team hiring", "bloom filters bloom", "technical writing documentation for data scientists",
                  "zebra"):
        tokens = [t for t in lexical.tokenize([query])[0] if t in lexical._bm25.vocab_dict]
        expected = lexical._bm25.get_scores(tokens) if tokens else np.zeros(len(lexical))
        np.testing.assert_allclose(lexical.scores(query), expected, rtol=1e-6)


def test_lexical_search_ranks_positive_scores_within_the_allowed_ids(built_index: Path) -> None:
    lexical = load_index(built_index).lexical
    queries = ("data team hiring", "bloom filters", "data team hiring", "zebra")
    allowed = np.arange(0, len(lexical), 3, dtype=np.int64)
    for query in queries:  # the third repeats the first: the kept scores must be this query's
        scores = lexical.scores(query)
        for subset in (None, allowed):
            candidates = np.arange(len(lexical)) if subset is None else subset
            ranked = sorted((i for i in candidates if scores[i] > 0), key=lambda i: (-scores[i], i))[:7]
            got_scores, got_ids = lexical.search(query, 7, subset)
            assert got_ids.tolist() == [int(i) for i in ranked]
            np.testing.assert_allclose(got_scores, scores[ranked])
    assert lexical.search("zebra", 5)[1].tolist() == []


def test_tokenize_gives_the_terms_bm25s_gives(corpus_dir: Path) -> None:
    import bm25s
    import Stemmer

    from rag.sources.load import load_corpus

    texts = [line.text for episode in load_corpus([corpus_dir]).episodes for line in episode.lines]
    texts += ["", "a I to", "Café naïve ÜBER co-operate 3.5 x_y", "Which guest uses Bloom filters?"]
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                              show_progress=False)
    assert LexicalIndex.tokenize(texts) == expected


@pytest.mark.parametrize("field, value", [("count", "lots"), ("count", -1), ("count", True), ("dim", "wide"),
                                          ("vectors", ["flat"])])
def test_a_manifest_field_of_the_wrong_type_is_named(built_index: Path, field: str, value: object) -> None:
    manifest = json.loads((built_index / "manifest.json").read_text())
    manifest[field] = value
    (built_index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match=rf"^{re.escape(str(built_index / 'manifest.json'))}: '{field}' "):
        load_index(built_index)


def test_nan_vectors_are_refused_naming_the_row(built_index: Path) -> None:
    vectors = np.load(built_index / "vectors.npy")
    vectors[3, 7] = np.nan
    np.save(built_index / "vectors.npy", vectors)
    with pytest.raises(IndexCorruptError, match=rf"{re.escape(str(built_index / 'vectors.npy'))}: vector 3 is not finite"):
        load_index(built_index)


def test_a_damaged_ordinals_array_is_named(built_index: Path) -> None:
    import sqlite3

    with sqlite3.connect(built_index / "passages.sqlite") as db:
        db.execute("UPDATE arrays SET data = ? WHERE name = 'ordinals'", (b"\x00" * 7,))
    with pytest.raises(IndexCorruptError, match="episode_codes or ordinals array is damaged"):
        load_index(built_index)


def test_bm25_indices_out_of_range_are_refused(built_index: Path) -> None:
    path = built_index / "bm25" / "indices.csc.index.npy"
    indices = np.load(path)
    indices[0] = 10_000_000
    np.save(path, indices)
    with pytest.raises(IndexCorruptError, match="bm25 score matrix does not match its"):
        load_index(built_index)
