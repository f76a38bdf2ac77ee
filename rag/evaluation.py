"""The dev/held-out question format and the retrieval hit rule (../shared/eval/README.md).

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> hits_gold(q, "ep", 140, 200), hits_gold(q, "ep", 151, 200)
    (True, False)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from rag.errors import RagError

GOLD_SLACK_S = 30


@dataclass(frozen=True)
class Gold:
    episode: str
    start_sec: int
    end_sec: int


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    type: str
    history: tuple[str, ...]
    gold: tuple[Gold, ...]
    answer: str = ""
    quote: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    def search_text(self) -> str:
        """What retrieval sees: earlier user turns joined to the question (follow-ups)."""
        return " ".join([*self.history, self.question])


def load_questions(paths: Iterable[str | Path]) -> list[Question]:
    questions: list[Question] = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise RagError(f"{path}: cannot read questions ({exc.strerror})") from None
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                questions.append(
                    Question(
                        id=str(data["id"]),
                        question=str(data["question"]),
                        type=str(data.get("type", "")),
                        history=tuple(data.get("history") or ()),
                        gold=tuple(Gold(g["episode"], int(g["start_sec"]), int(g["end_sec"])) for g in data.get("gold") or ()),
                        answer=str(data.get("answer", "")),
                        quote=str(data.get("quote", "")),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise RagError(f"{path}:{lineno}: bad question ({type(exc).__name__}: {exc})") from None
    return questions


def hits_gold(question: Question, episode: str, start_sec: int, end_sec: int) -> bool:
    """Same episode, and [start, end] overlaps [gold start - 30, gold end + 30]."""
    return any(
        gold.episode == episode and start_sec <= gold.end_sec + GOLD_SLACK_S and end_sec >= gold.start_sec - GOLD_SLACK_S
        for gold in question.gold
    )


def first_hit_rank(question: Question, results: Sequence[tuple[str, int, int]]) -> int | None:
    """1-based rank of the first result that hits a gold location, else None."""
    for rank, (episode, start, end) in enumerate(results, 1):
        if hits_gold(question, episode, start, end):
            return rank
    return None


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def retrieval_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1/5/10 and MRR@10 over answerable questions' first-hit ranks."""
    n = len(ranks)
    if n == 0:
        return {"hit@1": 0.0, "hit@5": 0.0, "hit@10": 0.0, "mrr@10": 0.0}
    return {
        "hit@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "hit@10": sum(1 for r in ranks if r is not None and r <= 10) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }
