from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.evaluation import (
    Gold,
    Question,
    Result,
    Scored,
    bootstrap_interval,
    first_hit_rank,
    first_landing_rank,
    hits_gold,
    lands_gold,
    load_questions,
    retrieval_metrics,
    score_results,
    two_fold_split,
    write_jsonl_atomic,
)
from rag.index.files import load_index
from rag.measure import memory_mb, percentile, private_memory_mb, span_median

ROOT = Path(__file__).parent.parent
SCORE_PY = ROOT.parent / "shared" / "eval" / "score.py"


def question(*gold: Gold, history: tuple[str, ...] = ()) -> Question:
    return Question("Q1", "why?", "fact", history, gold)


def test_hit_rule_uses_same_episode_and_30s_slack() -> None:
    q = question(Gold("ep", 100, 120))
    assert hits_gold(q, "ep", 140, 150) and hits_gold(q, "ep", 40, 70)
    assert not hits_gold(q, "ep", 151, 200) and not hits_gold(q, "ep", 0, 69)
    assert not hits_gold(q, "other", 100, 120)


def test_any_gold_location_counts_and_rank_is_one_based() -> None:
    q = question(Gold("a", 10, 10), Gold("b", 500, 500))
    assert first_hit_rank(q, [Result("x", 0, 9), Result("b", 480, 490), Result("a", 10, 10)]) == 2
    assert first_hit_rank(q, [Result("x", 0, 9)]) is None


def test_lands_when_link_opens_within_a_minute_before_gold() -> None:
    q = question(Gold("ep", 1000, 1200))
    assert lands_gold(q, "ep", 940) and lands_gold(q, "ep", 1000) and lands_gold(q, "ep", 1010)
    assert not lands_gold(q, "ep", 939)  # more than a minute of waiting
    assert not lands_gold(q, "ep", 1011)  # the moment is skipped, though still inside the gold span
    assert not lands_gold(q, "other", 1000)


def test_landing_on_any_gold_location_counts() -> None:
    q = question(Gold("a", 100, 100), Gold("b", 500, 500))
    assert lands_gold(q, "b", 450) and not lands_gold(q, "a", 450)


def test_first_landing_rank_skips_hits_whose_link_opens_too_early() -> None:
    q = question(Gold("ep", 1000, 1020))
    early = Result("ep", 900, 1100)  # hits the gold span, but opens 100 s before it
    inside = Result("ep", 900, 1100, link_sec=995)
    assert first_hit_rank(q, [early, inside]) == 1
    assert first_landing_rank(q, [early, inside]) == 2
    assert first_landing_rank(q, [early]) is None


def test_result_without_link_second_opens_at_its_start() -> None:
    q = question(Gold("ep", 1000, 1020))
    assert first_landing_rank(q, [Result("ep", 950, 1100)]) == 1
    assert first_landing_rank(q, [Result("ep", 950, 1100, link_sec=1050)]) is None


def test_score_results_ranks_within_top_10_and_measures_top_5_widths() -> None:
    q = question(Gold("ep", 1000, 1020))
    misses = [Result("x", 0, 10 * (i + 1)) for i in range(10)]
    assert score_results(q, [*misses, Result("ep", 1000, 1020)]) == Scored(None, None, (10, 20, 30, 40, 50))
    assert score_results(q, [*misses[:3], Result("ep", 990, 1100)]) == Scored(4, 4, (10, 20, 30, 110))


def test_metrics_count_hits_lands_and_pooled_span_median() -> None:
    scored = [Scored(1, 1, (60, 60)), Scored(3, None, (30,)), Scored(None, None, (200, 10)), Scored(10, 5, ())]
    assert retrieval_metrics(scored) == {
        "hit@1": 0.25, "hit@5": 0.5, "hit@10": 0.75, "mrr@10": pytest.approx((1 + 1 / 3 + 0.1) / 4),
        "lands@1": 0.25, "lands@5": 0.5, "span_s_median": 60,
    }
    assert retrieval_metrics([])["span_s_median"] is None and retrieval_metrics([])["hit@5"] == 0.0


def test_span_median_takes_the_upper_middle_like_the_reference_scorer() -> None:
    assert span_median([40, 10, 30, 20]) == 30 and span_median([5, 1, 3]) == 3 and span_median([]) is None


def test_percentile_is_nearest_rank_over_0_to_100() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0 and percentile([], 95) == 0.0
    assert percentile([1, 2, 3, 4], 25) == 1 and percentile([1, 2, 3, 4], 26) == 2 and percentile([1, 2, 3, 4], 100) == 4


def test_bootstrap_interval_contains_the_mean_and_is_deterministic() -> None:
    values = [1.0] * 30 + [0.0] * 10  # mean 0.75
    low, high = bootstrap_interval(values)
    assert 0.55 < low < 0.75 < high < 0.9
    assert bootstrap_interval(values) == (low, high)
    assert bootstrap_interval(values, seed=1) != (low, high)
    assert bootstrap_interval([0.5] * 12) == (0.5, 0.5)


def test_bootstrap_interval_narrows_with_more_questions_and_lower_level() -> None:
    low, high = bootstrap_interval([1.0, 0.0] * 10)
    more_low, more_high = bootstrap_interval([1.0, 0.0] * 200)
    assert more_high - more_low < (high - low) / 2
    narrow_low, narrow_high = bootstrap_interval([1.0, 0.0] * 10, level=0.5)
    assert low <= narrow_low and narrow_high <= high and narrow_high - narrow_low < high - low


def test_bootstrap_interval_rejects_a_level_outside_0_1() -> None:
    with pytest.raises(ValueError, match="level must be between 0 and 1, got 95"):
        bootstrap_interval([1.0], level=95)


def typed_questions() -> list[Question]:
    return [Question(f"{t[0].upper()}{i}", "?", t, (), ()) for t in ("fact", "who", "list") for i in range(5)]


def test_two_fold_split_is_stable_and_stratified() -> None:
    questions = typed_questions()
    fold_a, fold_b = two_fold_split(questions)
    # Pinned: a change here would silently reshuffle every team's before/after comparisons.
    assert [q.id for q in fold_a] == ["F1", "F3", "F4", "W0", "W1", "W2", "L1", "L3"]
    assert [q.id for q in fold_b] == ["F0", "F2", "W3", "W4", "L0", "L2", "L4"]
    for qtype in ("fact", "who", "list"):
        assert abs(sum(q.type == qtype for q in fold_a) - sum(q.type == qtype for q in fold_b)) == 1
    reordered_a, _ = two_fold_split(list(reversed(questions)))
    assert {q.id for q in reordered_a} == {q.id for q in fold_a}
    assert {q.id for q in two_fold_split(questions, seed=1)[0]} != {q.id for q in fold_a}


def test_two_fold_split_does_not_depend_on_the_process_hash_seed() -> None:
    code = "from rag.evaluation import Question, two_fold_split; " \
           "print([q.id for q in two_fold_split([Question(f'Q{i}', '?', 'fact', (), ()) for i in range(20)])[0]])"
    outputs = {
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1 and outputs.pop().count("Q") == 10


def test_jsonl_is_written_whole_and_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "out.jsonl"
    write_jsonl_atomic(out, [{"id": "D1"}, {"id": "D2"}])
    assert out.read_text() == '{"id": "D1"}\n{"id": "D2"}\n'
    with pytest.raises(TypeError):
        write_jsonl_atomic(out, [{"id": "D3"}, {"id": object()}])
    assert out.read_text() == '{"id": "D1"}\n{"id": "D2"}\n'
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]  # no temporary file left behind


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
    assert set(lines[0]["results"][0]) == {"episode", "start_sec", "end_sec", "link_sec", "score"}
    assert len(lines[0]["results"]) <= 10
    for key in ("lands@1", "lands@5", "span_s_median"):
        assert key in report and key in report["modes"]["dense"] and key in report["by_type"]["list"]
    assert set(report["intervals"]) == {"hit@5", "mrr@10", "lands@1"}
    low, high = report["intervals"]["hit@5"]
    assert low <= report["hit@5"] <= high


def slice_questions(path: Path) -> Path:
    """Questions on the tests/data slice whose hybrid results mix hits, landings and misses."""
    rows = [
        ("S1", "How should data scientists write documentation?", "technical-writing-for-data-scientists", 1560, 1600),
        ("S2", "What is technical debt in machine learning systems?", "software-engineering-for-machine-learning", 500, 540),
        ("S3", "How do you build a data team from scratch?", "building-data-team", 1000, 1050),
        ("S4", "Who should be the first hire in a data team?", "building-data-team", 1700, 1720),
        ("S5", "What are bloom filters used for?", "technical-writing-for-data-scientists", 100, 120),
    ]
    lines = [{"id": i, "question": q, "type": "fact" if i < "S4" else "who",
              "gold": [{"episode": e, "start_sec": s, "end_sec": t}]} for i, q, e, s, t in rows]
    lines.append({"id": "S6", "question": "How do I bake sourdough bread?", "type": "unanswerable", "gold": []})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_retrieval_figures_agree_with_the_reference_scorer(tmp_path: Path, built_index: Path) -> None:
    questions = slice_questions(tmp_path / "q.jsonl")
    out = tmp_path / "out.jsonl"
    report = json.loads(run_script("eval/retrieval.py", questions, built_index, "--json", "--out", str(out)).stdout)
    reference = json.loads(subprocess.run(
        [sys.executable, str(SCORE_PY), str(questions), str(out)], cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout)
    assert reference["n"] == report["n"] == 5 and reference["missing"] == []
    assert reference["hit@10"] > 0 and reference["span_s_median"] is not None  # not agreeing on nothing
    for key in ("hit@1", "hit@5", "hit@10", "mrr@10", "lands@1", "lands@5"):
        assert round(report[key], 3) == reference[key], key
    assert report["span_s_median"] == reference["span_s_median"]


def test_retrieval_script_prints_folds_intervals_and_passes_options(tmp_path: Path, built_index: Path) -> None:
    questions = slice_questions(tmp_path / "q.jsonl")
    args = ("--folds", "--modes", "hybrid", "--option", "focus_episodes=0", "--option", "merge=false")
    out = tmp_path / "out.jsonl"
    report = json.loads(run_script("eval/retrieval.py", questions, built_index, "--json", "--out", str(out), *args).stdout)
    assert report["options"] == {"focus_episodes": 0, "merge": False}
    spans = {(p.episode_id, p.start_s, p.end_s) for p in load_index(built_index).passages}
    returned = [(r["episode"], r["start_sec"], r["end_sec"]) for line in out.read_text().splitlines() for r in json.loads(line)["results"]]
    assert returned and set(returned) <= spans  # merge=false reached the Searcher: no merged spans
    assert report["folds"]["A"]["n"] + report["folds"]["B"]["n"] == report["n"] == 5
    table = run_script("eval/retrieval.py", questions, built_index, *args).stdout
    assert "hybrid options: focus_episodes=0 merge=False" in table
    assert "lands@1 lands@5 span s" in table
    assert [line.split()[:2] for line in table.splitlines() if line.strip().startswith("fold ")] == [["fold", "A"], ["fold", "B"]]
    hit5 = next(line for line in table.splitlines() if line.strip().startswith("hit@5 "))
    assert hit5.strip().startswith(f"hit@5    {report['hit@5']:.3f} [")


def test_retrieval_script_exits_1_on_unknown_option(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "A", "question": "q?", "gold": []}\n')
    result = subprocess.run(
        [sys.executable, "eval/retrieval.py", "--questions", str(questions), "--option", "focus_episode=0"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --option focus_episode=0: Searcher has no option 'focus_episode' (options: ")
    assert "focus_episodes" in result.stderr


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
    assert 0.0 <= summary["first_citation_lands"] <= summary["cites_gold"]
    for key in ("cites_gold", "first_citation_lands"):
        low, high = summary["intervals"][key]
        assert low <= summary[key] <= high
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["A", "B"]
    assert set(lines[0]) == {"id", "answer", "refused", "citations"}
    assert set(lines[0]["citations"][0]) == {"episode", "start_sec", "end_sec", "url"}
    assert lines[1]["refused"] is True


def test_answers_script_counts_a_first_citation_landing_only_near_the_gold_start(tmp_path: Path, built_index: Path) -> None:
    env = {**os.environ, "OPENAI_BASE_URL": "", "OPENAI_API_KEY": "", "HF_TOKEN": "", "RAG_REFUSAL_MIN_COSINE": "0.15"}
    asked = "What are bloom filters used for?"
    episode = "algorithms-data-structures-for-engineers"
    probe = write_questions(tmp_path / "probe.jsonl", "zyxwv qwertyuiop asdfgh", (0, 5000))
    run_script("eval/answers.py", probe, built_index, "--out", str(tmp_path / "probe-out.jsonl"), env=env)
    first = json.loads((tmp_path / "probe-out.jsonl").read_text().splitlines()[0])["citations"][0]
    second = int(re.search(r"&t=(\d+)s", first["url"]).group(1))  # where the first citation's link opens
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "near", "question": asked, "type": "list", "gold": [{"episode": episode, "start_sec": second + 5, "end_sec": second + 5}]},
        {"id": "late", "question": asked, "type": "list", "gold": [{"episode": episode, "start_sec": second - 11, "end_sec": second}]},
    ]))
    summary = json.loads(run_script("eval/answers.py", questions, built_index, "--json", env=env).stdout)
    assert summary["first_citation_lands"] == 0.5  # "late": the link opens 11 s after the gold start
    assert summary["intervals"]["first_citation_lands"] == [0.0, 1.0]
    table = run_script("eval/answers.py", questions, built_index, env=env).stdout
    assert re.search(r"^answerable citing a gold moment  \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$", table, re.M)
    assert "first citation lands on gold     0.500 [0.000, 1.000]" in table


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


def test_private_memory_leaves_out_the_pages_of_a_mapped_file(tmp_path: Path) -> None:
    import mmap

    data = tmp_path / "big.bin"
    data.write_bytes(b"\1" * (64 << 20))
    before_rss, before_private = memory_mb()[0], private_memory_mb()
    with open(data, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        touched = sum(mapped[i] for i in range(0, len(mapped), 4096))  # fault every page in
        rss, private = memory_mb()[0], private_memory_mb()
    assert touched == (64 << 20) // 4096
    assert before_private is not None and private is not None
    assert rss - before_rss > 50  # the mapped file's pages count in VmRSS ...
    assert private - before_private < 10  # ... not in the private memory
