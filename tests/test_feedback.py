from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rag.app.feedback import MAX_RECORD_BYTES, FeedbackLog, answer_details, feedback_record

ROOT = Path(__file__).parent.parent


def test_record_holds_question_answer_citations_vote_and_time() -> None:
    record = feedback_record(
        "What are bloom filters?", "A set sketch [1].", [{"n": 1, "label": "Ep — Ann @ 1:00"}], "down",
        answer_id="a1", mode="llm", filters={"episode": "ep1", "guest": None},
        now=datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc),
    )
    assert record == {
        "time": "2026-05-01T12:00:00+00:00",
        "answer_id": "a1",
        "vote": "down",
        "question": "What are bloom filters?",
        "answer": "A set sketch [1].",
        "citations": [{"n": 1, "label": "Ep — Ann @ 1:00"}],
        "mode": "llm",
        "filters": {"episode": "ep1"},
    }


def test_vote_must_be_up_down_or_none() -> None:
    with pytest.raises(ValueError, match="vote must be 'up', 'down' or 'none', not 'meh'"):
        feedback_record("q", "a", [], "meh")


def test_api_keys_never_reach_the_log(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb.jsonl", secrets=["sk-live-123", None])
    log.append(feedback_record("my key is sk-live-123?", "echo sk-live-123", [{"url": "x?key=sk-live-123"}], "up"))
    raw = (tmp_path / "fb.jsonl").read_text()
    assert "sk-live-123" not in raw
    assert log.read().records[0]["answer"] == "echo [redacted]"


def test_concurrent_threads_never_interleave_lines(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb.jsonl")
    big = "x" * 20_000  # larger than a pipe buffer, so a torn write would show

    def vote(worker: int) -> None:
        for i in range(25):
            log.append(feedback_record(f"{worker}-{i}", big, [], "up"))

    threads = [threading.Thread(target=vote, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "fb.jsonl").read_text().splitlines()
    assert len(lines) == 200
    assert sorted(json.loads(line)["question"] for line in lines) == sorted(f"{w}-{i}" for w in range(8) for i in range(25))


def test_concurrent_processes_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "fb.jsonl"
    script = (
        "import sys; from rag.app.feedback import FeedbackLog, feedback_record\n"
        "log = FeedbackLog(sys.argv[1])\n"
        "for i in range(40): log.append(feedback_record(sys.argv[2] + str(i), 'y' * 30000, [], 'down'))\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), f"p{n}-"], cwd=ROOT) for n in range(4)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    records = FeedbackLog(path).read().records
    assert len(records) == 160
    assert {r["question"] for r in records} == {f"p{n}-{i}" for n in range(4) for i in range(40)}


DETAILS = answer_details("What are bloom filters?", "A set sketch [1].", [{"n": 1}], mode="llm")


def test_clicks_on_one_answer_fold_into_its_last_vote(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb.jsonl")
    t0, t1 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc), datetime(2026, 5, 1, 12, 1, tzinfo=timezone.utc)
    log.vote("a1", "up", DETAILS, now=t0)
    log.vote("a1", "down", DETAILS, now=t1)
    log.vote("a2", "up", {**DETAILS, "question": "Other?"}, now=t1)
    lines = [json.loads(line) for line in (tmp_path / "fb.jsonl").read_text().split("\n") if line]
    assert lines[1] == {"time": "2026-05-01T12:01:00+00:00", "answer_id": "a1", "vote": "down"}  # no second copy
    votes = log.read()
    assert votes.skipped == 0
    assert [(r["answer_id"], r["vote"], r["question"]) for r in votes.records] == [
        ("a1", "down", "What are bloom filters?"), ("a2", "up", "Other?"),
    ]
    assert votes.records[0]["time"] == "2026-05-01T12:01:00+00:00" and votes.records[0]["citations"] == [{"n": 1}]
    log.vote("a1", "none", DETAILS)  # the same thumb clicked again takes the vote back
    assert log.read().records[0]["vote"] == "none"


def test_line_separator_in_a_question_round_trips(tmp_path: Path) -> None:
    question = "first line\u2028second\u2029third\x85fourth"  # str.splitlines splits on each
    log = FeedbackLog(tmp_path / "fb.jsonl")
    log.vote("a1", "up", {**DETAILS, "question": question})
    raw = (tmp_path / "fb.jsonl").read_bytes()
    assert raw.count(b"\n") == 1 and raw.isascii()
    assert log.read().records[0]["question"] == question
    # A file written before the fix (raw U+2028 inside a line) still reads: lines end at "\n" only.
    older = tmp_path / "old.jsonl"
    older.write_text(json.dumps({"vote": "up", "question": question}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert FeedbackLog(older).read().records == [{"vote": "up", "question": question}]


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "fb.jsonl"
    log = FeedbackLog(path)
    log.vote("a1", "up", DETAILS)
    with path.open("ab") as f:
        f.write(b'{"answer_id": "a2", "vote": "do\n[1, 2]\n\xff\xfe\n')  # torn line, not an object, not UTF-8
    log.vote("a3", "down", DETAILS)
    votes = log.read()
    assert [r["answer_id"] for r in votes.records] == ["a1", "a3"] and votes.skipped == 3


def test_a_record_is_capped_and_says_what_was_cut(tmp_path: Path) -> None:
    path = tmp_path / "fb.jsonl"
    log = FeedbackLog(path)
    log.vote("a1", "up", {**DETAILS, "answer": "é" * 50_000})
    assert len(path.read_bytes()) <= MAX_RECORD_BYTES == 16_384
    record = log.read().records[0]
    assert record["truncated"] == {"answer": 50_000}
    assert record["question"] == "What are bloom filters?" and set(record["answer"]) == {"é"}

    small = FeedbackLog(tmp_path / "small.jsonl", max_record_bytes=400)
    small.vote("a2", "down", {**DETAILS, "question": "q" * 1_000, "answer": "a" * 1_000})
    assert len((tmp_path / "small.jsonl").read_bytes()) <= 400
    record = small.read().records[0]
    assert record["truncated"] == {"answer": 1_000, "question": 1_000}
    assert record["answer"] == "" and record["question"].startswith("qqq") and record["vote"] == "down"


def test_a_flood_of_clicks_writes_only_changes_and_at_most_ten_per_answer(tmp_path: Path) -> None:
    from rag.app.feedback import MAX_VOTES_PER_ANSWER

    log = FeedbackLog(tmp_path / "fb.jsonl")
    for _ in range(500):
        log.vote("a1", "up", {"question": "q"})  # the same vote again and again
    assert len((tmp_path / "fb.jsonl").read_bytes().splitlines()) == 1
    for n in range(1000):
        log.vote("a1", "down" if n % 2 == 0 else "up")
    assert len((tmp_path / "fb.jsonl").read_bytes().splitlines()) == MAX_VOTES_PER_ANSWER


def test_the_log_rotates_once_at_its_size_cap_and_reads_both_files(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb.jsonl", max_bytes=4_000)
    for n in range(200):
        log.vote(f"a{n}", "up", {"question": f"question {n}"})
    assert (tmp_path / "fb.jsonl").stat().st_size <= 4_000
    assert (tmp_path / "fb.jsonl.1").stat().st_size <= 4_000
    votes = log.read()
    assert votes.skipped == 0 and votes.records[-1]["answer_id"] == "a199"
    assert len(votes.records) < 200  # the oldest went with the rotation before last
