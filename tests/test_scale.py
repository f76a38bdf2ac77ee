"""eval/scale.py on the small real slice: the grown index is real, searchable, and measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rag.evaluation import hits_gold, load_questions
from rag.index.files import load_index
from tests.test_evaluation import ROOT, slice_questions

sys.path.insert(0, str(ROOT / "eval"))
import scale  # noqa: E402


def test_distractors_recombine_two_episodes_and_never_repeat_a_passage(tmp_path: Path, built_index: Path) -> None:
    index = load_index(built_index)
    passages = list(index.passages)
    questions = load_questions([slice_questions(tmp_path / "q.jsonl")])
    plan = scale.plan_distractors(passages, 3 * len(passages), questions=questions)
    episode_of = np.array([p.episode_id for p in passages])
    assert not (episode_of[plan.head] == episode_of[plan.tail]).any()
    gold = {i for i, p in enumerate(passages) if any(hits_gold(q, p.episode_id, p.start_s, p.end_s) for q in questions)}
    assert gold and not gold & (set(plan.head.tolist()) | set(plan.tail.tolist()))
    real_texts = {p.text for p in passages}
    made = list(scale.distractor_passages(plan, passages))
    assert len(made) == 3 * len(passages) and not any(d.text in real_texts for d in made if "\n" in d.text)
    lines = np.array([p.text.count("\n") + 1 for p in passages])
    vectors = scale.distractor_vectors(plan, np.asarray(index.vectors.vectors), lines)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # A mix of two real vectors stays close to both of them: the real distribution, not noise.
    head_cos = np.sum(vectors * index.vectors.vectors[plan.head], axis=1)
    assert np.median(head_cos) > 0.5


def test_scale_script_grows_an_index_and_reports_every_figure(tmp_path: Path, built_index: Path) -> None:
    questions = slice_questions(tmp_path / "q.jsonl")
    work = tmp_path / "grown"
    result = subprocess.run(
        [sys.executable, "eval/scale.py", "--index", str(built_index), "--copies", "3", "--vector-index", "ivf",
         "--questions", str(questions), "--work", str(work), "--keep", "--compare-lexical", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("passages", "build_s", "load_s", "rss_mb", "search_ms_p50", "search_ms_p95", "recall_at_10",
                "hit@5", "mrr@10", "lands@5", "fts5_ms_p50", "bm25s_ms_p50", "search_p50_ratio", "hit@5_1x"):
        assert isinstance(report[key], (int, float)), key
    real = len(load_index(built_index).passages)
    assert report["passages"] == 3 * real and report["vector_index"] == "ivf"
    assert 0.8 <= report["recall_at_10"] <= 1.0 and 0 <= report["hit@5"] <= 1
    # The private part of the serving process's memory, without the mapped index files' pages.
    assert 0 < report["rss_private_mb"] <= report["rss_mb"]
    grown = load_index(work)
    assert len(grown.passages.episodes) > len(load_index(built_index).passages.episodes)
    assert grown.passages[0] == load_index(built_index).passages[0]
    assert "mixed real vectors" in report["distractor_vectors"]


def test_scale_script_names_a_missing_index_in_one_line(tmp_path: Path) -> None:
    questions = slice_questions(tmp_path / "q.jsonl")
    result = subprocess.run([sys.executable, "eval/scale.py", "--index", str(tmp_path / "nope"), "--copies", "2",
                             "--questions", str(questions), "--work", str(tmp_path / "grown")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: no index at {tmp_path / 'nope'}: build it with `rag ingest CORPUS --index {tmp_path / 'nope'}`")


def test_scale_script_serves_the_grown_index_from_milvus_beside_the_builtin_one(tmp_path: Path, built_index: Path) -> None:
    questions = slice_questions(tmp_path / "q.jsonl")
    result = subprocess.run(
        [sys.executable, "eval/scale.py", "--index", str(built_index), "--copies", "2", "--vector-index", "flat",
         "--questions", str(questions), "--work", str(tmp_path / "grown"), "--backend", "milvus", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    milvus = report["milvus"]
    assert milvus["passages"] == report["passages"] and milvus["vector_index"] == "milvus-flat"
    assert milvus["recall_at_10"] == 1.0  # the engine's FLAT index is exact
    for key in ("hit@5", "mrr@10", "lands@5"):
        assert milvus[key] == report[key], key  # the same ranking on the engine's candidates
    for key in ("build_s", "search_ms_p50", "search_ms_p95", "rss_mb", "disk_mb"):
        assert milvus[key] > 0 and report[key] >= 0, key  # a tiny built-in build rounds to 0.0 s
    assert "milvus" in result.stderr and not list(tmp_path.glob("grown-milvus*"))
