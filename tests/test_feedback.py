from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from rag.feedback import FeedbackLog, feedback_record

ROOT = Path(__file__).parent.parent


def test_record_holds_question_answer_citations_vote_and_time() -> None:
    record = feedback_record(
        "What are bloom filters?", "A set sketch [1].", [{"n": 1, "label": "Ep — Ann @ 1:00"}], "down",
        mode="llm", filters={"episode": "ep1", "guest": None}, now=datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc),
    )
    assert record == {
        "time": "2026-05-01T12:00:00+00:00",
        "vote": "down",
        "question": "What are bloom filters?",
        "answer": "A set sketch [1].",
        "citations": [{"n": 1, "label": "Ep — Ann @ 1:00"}],
        "mode": "llm",
        "filters": {"episode": "ep1"},
    }


def test_vote_must_be_up_or_down() -> None:
    with pytest.raises(ValueError, match="vote must be 'up' or 'down', not 'meh'"):
        feedback_record("q", "a", [], "meh")


def test_api_keys_never_reach_the_log(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "fb.jsonl", secrets=["sk-live-123", None])
    log.append(feedback_record("my key is sk-live-123?", "echo sk-live-123", [{"url": "x?key=sk-live-123"}], "up"))
    raw = (tmp_path / "fb.jsonl").read_text()
    assert "sk-live-123" not in raw
    assert log.read()[0]["answer"] == "echo [redacted]"


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
        "import sys; from rag.feedback import FeedbackLog, feedback_record\n"
        "log = FeedbackLog(sys.argv[1])\n"
        "for i in range(40): log.append(feedback_record(sys.argv[2] + str(i), 'y' * 30000, [], 'down'))\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(path), f"p{n}-"], cwd=ROOT) for n in range(4)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    records = FeedbackLog(path).read()
    assert len(records) == 160
    assert {r["question"] for r in records} == {f"p{n}-{i}" for n in range(4) for i in range(40)}
