from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.evaluation import Gold, Question, first_hit_rank, hits_gold, load_questions, percentile, retrieval_metrics

ROOT = Path(__file__).parent.parent


def question(*gold: Gold, history: tuple[str, ...] = ()) -> Question:
    return Question("Q1", "why?", "fact", history, gold)


def test_hit_rule_uses_same_episode_and_30s_slack() -> None:
    q = question(Gold("ep", 100, 120))
    assert hits_gold(q, "ep", 140, 150) and hits_gold(q, "ep", 40, 70)
    assert not hits_gold(q, "ep", 151, 200) and not hits_gold(q, "ep", 0, 69)
    assert not hits_gold(q, "other", 100, 120)


def test_any_gold_location_counts_and_rank_is_one_based() -> None:
    q = question(Gold("a", 10, 10), Gold("b", 500, 500))
    assert first_hit_rank(q, [("x", 0, 9), ("b", 480, 490), ("a", 10, 10)]) == 2
    assert first_hit_rank(q, [("x", 0, 9)]) is None


def test_metrics_and_percentile() -> None:
    metrics = retrieval_metrics([1, 3, None, 10])
    assert metrics == {"hit@1": 0.25, "hit@5": 0.5, "hit@10": 0.75, "mrr@10": pytest.approx((1 + 1 / 3 + 0.1) / 4)}
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0 and percentile([], 95) == 0.0


def test_followup_searches_with_its_history() -> None:
    q = question(history=("Who is Eugene Yan?",))
    assert q.search_text() == "Who is Eugene Yan? why?"


def test_bad_question_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "A", "question": "ok?", "gold": []}\n{"id": "B"}\n')
    with pytest.raises(RagError, match=rf"{path}:2: bad question"):
        load_questions([path])


def write_questions(path: Path, unanswerable: str, gold_span: tuple[int, int]) -> Path:
    rows = [
        {"id": "A", "question": "What are bloom filters used for?", "type": "list",
         "gold": [{"episode": "algorithms-data-structures-for-engineers", "start_sec": gold_span[0], "end_sec": gold_span[1]}]},
        {"id": "B", "question": unanswerable, "type": "unanswerable", "gold": []},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_script(script: str, questions: Path, index: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, script, "--questions", str(questions), "--index", str(index), "--quiet", *extra],
        cwd=ROOT, capture_output=True, text=True, check=True, env=env,
    )


def test_retrieval_script_reports_json_and_per_question_lines(tmp_path: Path, built_index: Path) -> None:
    questions = write_questions(tmp_path / "q.jsonl", "How do I bake sourdough bread?", (2083, 2245))
    out = tmp_path / "out.jsonl"
    result = run_script("eval/retrieval.py", questions, built_index, "--json", "--out", str(out))
    report = json.loads(result.stdout)
    for key in ("n", "hit@1", "hit@5", "hit@10", "mrr@10", "by_type", "search_ms_p50", "search_ms_p95"):
        assert key in report
    assert report["n"] == 1 and set(report["modes"]) == {"lexical", "dense"}
    assert report["by_type"]["list"]["n"] == 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["A", "B"]
    assert set(lines[0]["results"][0]) == {"episode", "start_sec", "end_sec", "score"}
    assert len(lines[0]["results"]) <= 10


def test_retrieval_script_exits_1_on_missing_index(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "A", "question": "q?", "gold": []}\n')
    result = subprocess.run(
        [sys.executable, "eval/retrieval.py", "--questions", str(questions), "--index", str(tmp_path / "none")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 1 and result.stderr.startswith(f"error: no index at {tmp_path / 'none'}")


def test_answers_script_summary_and_out_lines(tmp_path: Path, built_index: Path) -> None:
    questions = write_questions(tmp_path / "q.jsonl", "zyxwv qwertyuiop asdfgh", (1500, 3500))
    out = tmp_path / "answers.jsonl"
    env = {**os.environ, "OPENAI_BASE_URL": "", "OPENAI_API_KEY": "", "HF_TOKEN": "", "RAG_REFUSAL_MIN_COSINE": "0.15"}
    result = run_script("eval/answers.py", questions, built_index, "--json", "--out", str(out), env=env)
    summary = json.loads(result.stdout)
    assert summary["mode"] == "extractive" and summary["n_answerable"] == 1
    assert summary["cites_gold"] == 1.0 and summary["refused_unanswerable"] == 1.0
    assert summary["false_refusals"] == 0.0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["A", "B"]
    assert set(lines[0]) == {"id", "answer", "refused", "citations"}
    assert set(lines[0]["citations"][0]) == {"episode", "start_sec", "end_sec", "url"}
    assert lines[1]["refused"] is True


def test_answers_script_with_llm_and_judge(tmp_path: Path, built_index: Path) -> None:
    from tests.fake_llm import FakeLLMServer, Reply

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps(
        {"id": "A", "question": "What are bloom filters used for?", "type": "list",
         "gold": [{"episode": "algorithms-data-structures-for-engineers", "start_sec": 1500, "end_sec": 3500}]}) + "\n")
    replies = [Reply("Bloom filters check membership [1]."),
               Reply('{"faithfulness": 4, "relevance": 5, "reason": "grounded"}')]
    with FakeLLMServer(replies) as server:
        result = subprocess.run(
            [sys.executable, "eval/answers.py", "--questions", str(questions), "--index", str(built_index),
             "--json", "--judge", "--quiet"],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-judge",
                 "RAG_LLM_MODEL": "judge-model", "HF_TOKEN": "", "RAG_REFUSAL_MIN_COSINE": "0.15"},
        )
    summary = json.loads(result.stdout)
    assert summary["mode"] == "llm" and summary["cites_gold"] == 1.0
    assert summary["judge"] == {"n": 1, "faithfulness": 4.0, "relevance": 5.0}
    answer_request, judge_request = server.chat_requests()
    assert "Bloom filters check membership [1]." in judge_request.body["messages"][0]["content"]
    assert "sk-judge" not in result.stdout + result.stderr
