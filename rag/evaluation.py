"""The dev/held-out question format and the retrieval rules (../shared/eval/README.md).

A result *hits* a gold location when it overlaps it (30 s slack); it *lands* when
the second its link opens at plays the gold moment within a minute of the click.

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> hits_gold(q, "ep", 140, 200), hits_gold(q, "ep", 151, 200)
    (True, False)
    >>> lands_gold(q, "ep", 40), lands_gold(q, "ep", 111)
    (True, False)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

import numpy as np
from tqdm import tqdm

from rag.answers.llm import LLMSettings
from rag.atomic import atomic_write
from rag.config import Config, load_config
from rag.errors import RagError
from rag.measure import percentile, span_median

if TYPE_CHECKING:
    from rag.search.searcher import Searcher


T = TypeVar("T")

GOLD_SLACK_S = 30

# docs/architecture.md, "Landing on the moment": the link may open up to a minute before the gold
# second (the listener hears it within a minute) and at most 10 s after (not skipped).
LAND_BEFORE_S = 60

LAND_AFTER_S = 10


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
        """Earlier user turns joined to the question: a standalone text for follow-ups."""
        return " ".join([*self.history, self.question])

    @property
    def context(self) -> str:
        """Earlier user turns: the scope a follow-up's search keeps (`Searcher.search(context=)`)."""
        return " ".join(self.history)


@dataclass(frozen=True)
class Result:
    """One ranked result as the scorer sees it: its span and the second its link opens at.

    >>> Result("ep", 100, 160).opens_at, Result("ep", 100, 160, link_sec=130).opens_at
    (100, 130)
    """

    episode: str
    start_sec: int
    end_sec: int
    link_sec: int | None = None  # None: the link opens at start_sec

    @property
    def opens_at(self) -> int:
        return self.start_sec if self.link_sec is None else self.link_sec

    @property
    def width(self) -> int:
        return self.end_sec - self.start_sec


@dataclass(frozen=True)
class Scored:
    """One answerable question's ranked results, reduced to what the metrics need.

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> score_results(q, [Result("x", 0, 50), Result("ep", 90, 150, link_sec=95)])
    Scored(hit_rank=2, landing_rank=2, widths=(50, 60))
    """

    hit_rank: int | None
    landing_rank: int | None
    widths: tuple[int, ...]  # end - start of the top 5 results


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


def lands_gold(question: Question, episode: str, link_sec: int) -> bool:
    """Same episode, and the link second lies in [gold start - 60, gold start + 10].

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> [lands_gold(q, "ep", s) for s in (39, 40, 110, 111)]
    [False, True, True, False]
    """
    return any(
        gold.episode == episode and gold.start_sec - LAND_BEFORE_S <= link_sec <= gold.start_sec + LAND_AFTER_S
        for gold in question.gold
    )


def first_hit_rank(question: Question, results: Sequence[Result]) -> int | None:
    """1-based rank of the first result that hits a gold location, else None.

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> first_hit_rank(q, [Result("x", 0, 50), Result("ep", 140, 200)])
    2
    """
    for rank, result in enumerate(results, 1):
        if hits_gold(question, result.episode, result.start_sec, result.end_sec):
            return rank
    return None


def first_landing_rank(question: Question, results: Sequence[Result]) -> int | None:
    """1-based rank of the first result whose link lands on a gold location, else None.

    >>> q = Question("D1", "q?", "fact", (), (Gold("ep", 100, 120),))
    >>> first_landing_rank(q, [Result("ep", 30, 200), Result("ep", 30, 200, link_sec=95)])
    2
    """
    for rank, result in enumerate(results, 1):
        if lands_gold(question, result.episode, result.opens_at):
            return rank
    return None


def score_results(question: Question, results: Sequence[Result]) -> Scored:
    """First hit rank and first landing rank in the top 10, and the top 5 span widths."""
    top = list(results[:10])
    return Scored(first_hit_rank(question, top), first_landing_rank(question, top), tuple(r.width for r in top[:5]))


def retrieval_metrics(scored: Sequence[Scored]) -> dict[str, float | None]:
    """hit@1/5/10, MRR@10, lands@1/5 and the median top-5 span over answerable questions.

    >>> m = retrieval_metrics([Scored(1, 2, (30, 60)), Scored(None, None, (90,))])
    >>> m["hit@1"], m["mrr@10"], m["lands@1"], m["lands@5"], m["span_s_median"]
    (0.5, 0.5, 0.0, 0.5, 60)
    """
    n = len(scored)
    hit_ranks = [s.hit_rank for s in scored]
    landing_ranks = [s.landing_rank for s in scored]
    widths = [w for s in scored for w in s.widths]

    def share(ranks: list[int | None], k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n if n else 0.0

    return {
        "hit@1": share(hit_ranks, 1),
        "hit@5": share(hit_ranks, 5),
        "hit@10": share(hit_ranks, 10),
        "mrr@10": sum(reciprocal_rank(r) for r in hit_ranks) / n if n else 0.0,
        "lands@1": share(landing_ranks, 1),
        "lands@5": share(landing_ranks, 5),
        "span_s_median": span_median(widths),
    }


def reciprocal_rank(rank: int | None, k: int = 10) -> float:
    """1/rank within the top k, else 0 (one question's share of MRR@k)."""
    return 1 / rank if rank is not None and rank <= k else 0.0


def bootstrap_interval(
    per_question_values: Sequence[float], n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of per-question values (e.g. hit@5 as 0/1).

    Resamples the questions with replacement `n_resamples` times; the interval is the
    (1 - level)/2 and (1 + level)/2 nearest-rank percentiles of the resampled means.
    The same values and seed give the same interval. (0.0, 0.0) for no values.

    >>> bootstrap_interval([1, 1, 1, 1])
    (1.0, 1.0)
    >>> low, high = bootstrap_interval([1, 0] * 20); low < 0.5 < high
    True
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    values = np.asarray(per_question_values, dtype=np.float64)
    if values.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(percentile(means.tolist(), tail)), float(percentile(means.tolist(), 100 - tail))


def stable_hash(text: str, seed: int = 0) -> int:
    """A hash of `text` that is the same in every process (unlike the salted `hash()`)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode("utf-8")).digest()[:8], "big")


def two_fold_split(questions: Sequence[Question], seed: int = 0) -> tuple[list[Question], list[Question]]:
    """Two halves, stratified by question type, for "keep a change only if it wins on both".

    Within each type, questions are ordered by a stable hash of their id and dealt
    to the folds in turn; a type's odd one out goes to the fold that is smaller so
    far. The split depends only on the ids, types and seed, so every run agrees.
    Each fold keeps the input order.

    >>> qs = [Question(f"Q{i}", "?", "fact" if i < 4 else "who", (), ()) for i in range(6)]
    >>> a, b = two_fold_split(qs)
    >>> len(a), len(b), sorted(q.type for q in a) == sorted(q.type for q in b)
    (3, 3, True)
    """
    by_type: dict[str, list[int]] = defaultdict(list)
    for position, question in enumerate(questions):
        by_type[question.type].append(position)
    in_a: set[int] = set()
    sizes = [0, 0]
    for qtype in sorted(by_type):
        ordered = sorted(by_type[qtype], key=lambda i: (stable_hash(questions[i].id, seed), questions[i].id, i))
        first = 0 if sizes[0] <= sizes[1] else 1
        for turn, position in enumerate(ordered):
            fold = (first + turn) % 2
            sizes[fold] += 1
            if fold == 0:
                in_a.add(position)
    fold_a = [q for i, q in enumerate(questions) if i in in_a]
    fold_b = [q for i, q in enumerate(questions) if i not in in_a]
    return fold_a, fold_b


def evaluate_search(searcher: Searcher, questions: list[Question], show_progress: bool = False) -> dict:
    """Search every question (top 10, follow-ups with their history): the metrics, each
    question's results, and the scores of the answerable ones, keyed by question id."""
    scored: dict[str, Scored] = {}
    latencies_ms: list[float] = []
    per_question = []
    for question in tqdm(questions, desc=searcher.mode, disable=not show_progress, leave=False):
        started = time.perf_counter()
        hits = searcher.search(question.question, k=10, context=question.context)
        latencies_ms.append((time.perf_counter() - started) * 1000)
        results = [Result(h.passage.episode_id, h.passage.start_s, h.passage.end_s, h.link_sec) for h in hits]
        per_question.append(
            {
                "id": question.id,
                "results": [
                    {"episode": r.episode, "start_sec": r.start_sec, "end_sec": r.end_sec, "link_sec": r.opens_at,
                     "score": round(h.score, 6)}
                    for r, h in zip(results, hits)
                ],
            }
        )
        if question.answerable:
            scored[question.id] = score_results(question, results)
    report = {
        **summarize(questions, scored),
        "search_ms_p50": round(percentile(latencies_ms, 50), 2),
        "search_ms_p95": round(percentile(latencies_ms, 95), 2),
    }
    return {"report": report, "per_question": per_question, "scored": scored}


def summarize(questions: list[Question], scored: dict[str, Scored]) -> dict:
    """n and the metrics of the answerable `questions`, overall and by type."""
    by_type: dict[str, list[Scored]] = defaultdict(list)
    rows: list[Scored] = []
    for question in questions:
        if question.answerable:
            rows.append(scored[question.id])
            by_type[question.type].append(scored[question.id])
    return {
        "n": len(rows),
        **retrieval_metrics(rows),
        "by_type": {t: {"n": len(r), **retrieval_metrics(r)} for t, r in sorted(by_type.items())},
    }


def with_and_without_model(searcher: Searcher, **options: Any) -> tuple[Searcher, Searcher] | None:
    """(the search with the relevance model its index names, the same search without
    it), whichever of the two `searcher` is, for an untuned/tuned comparison in one run;
    None when the index names no usable model. `options` are the searcher's own."""
    from rag.search.relevance import load_relevance_model
    from rag.search.searcher import Searcher

    index = searcher.index
    if searcher.relevance is not None:
        return searcher, Searcher(index, searcher.embedder, **{**options, "relevance": None})
    notes: list[str] = []
    model = load_relevance_model(index.directory, index.manifest, [e.id for e in index.passages.episodes], notes)
    if model is None:
        return None
    return Searcher(index, searcher.embedder, **{**options, "relevance": model}), searcher


def eval_parser(description: str, *, index_help: str = "index directory [RAG_INDEX or indexes/dtc]") -> argparse.ArgumentParser:
    """An eval script's parser: `description` (its docstring) as help, `--questions` and `--index`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", nargs="+", required=True, help="JSONL question files")
    parser.add_argument("--index", help=index_help)
    return parser


def load_run(
    args: argparse.Namespace, build: Callable[[Config], T], *, llm: bool = False
) -> tuple[list[Question], Config, T]:
    """The questions, the config and `build(config)` (e.g. `rag.pipeline.open_answerer`).

    The config is the file and environment (RAG_CONFIG, RAG_*) with `--index` over them;
    the configured LLM is kept only when `llm`. A `RagError` (no such file, no index)
    exits with status 1 and one line, `error: ...`, on stderr.
    """
    try:
        config = load_config().with_overrides(index_dir=args.index)
        if not llm:
            config = dataclasses.replace(config, llm=LLMSettings())
        questions = load_questions(args.questions)
        return questions, config, build(config)
    except RagError as exc:
        raise SystemExit(f"error: {exc}") from None


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> None:
    """One JSON object per line; readers see the old file or the whole new one (`atomic_write`)."""
    with atomic_write(path) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_json_atomic(path: str | Path, data: dict) -> None:
    """`data` as indented JSON, written as `write_jsonl_atomic` writes."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
