"""Calibrate the refusal gate on the two folds of the dev questions, per moment.

    python eval/gate.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc] [--max-false 1]

A question is answered when one retrieved moment covers it on its own: its cosine,
its coverage and (with a relevance model, `rag tune`) the model's score all pass
(`Answerer.covering_moment`). This script collects every question's per-moment
signals once, then searches a grid of the three thresholds:

- on each fold (rag.evaluation.two_fold_split, seed 0), the thresholds that refuse the
  most unanswerable questions while refusing at most --max-false answerable ones (the
  middle of the best region, so that a small shift in a signal does not flip a
  decision), and what they do on the *other* fold;
- the same on all questions: the values rag/answers/answerer.py ships, with their counts.

Unanswerable questions here are few (11 of 105): every count is printed as a fraction.
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from rag.answers.answerer import Answerer
from rag.answers.followup import search_request
from rag.answers.refusal import COVERAGE_SOURCES, MomentSignals
from rag.evaluation import Question, eval_parser, load_run, two_fold_split
from rag.pipeline import open_answerer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FOLD_SEED = 0
COSINES = [round(0.20 + 0.02 * i, 2) for i in range(14)]  # 0.20 .. 0.46
COVERAGES = [round(0.02 * i, 2) for i in range(26)]  # 0.00 .. 0.50


@dataclass(frozen=True)
class Gate:
    cosine: float
    coverage: float
    relevance: float | None

    def refuses(self, signals: Sequence[MomentSignals]) -> bool:
        return not any(
            s.cosine >= self.cosine and s.coverage >= self.coverage
            and (self.relevance is None or s.relevance is None or s.relevance >= self.relevance)
            for s in signals
        )

    def __str__(self) -> str:
        relevance = "-" if self.relevance is None else f"{self.relevance:.2f}"
        return f"cosine >= {self.cosine:.2f}, coverage >= {self.coverage:.2f}, relevance >= {relevance}"


def collect(answerer: Answerer, questions: Sequence[Question]) -> dict[str, list[MomentSignals]]:
    """Each question's per-moment signals, as the answer stage computes them."""
    signals = {}
    for question in questions:
        query, context = search_request(question.question, question.history, [])
        standalone = f"{context} {query}" if context else query
        hits = answerer.searcher.search(query, k=answerer.k, context=context)
        signals[question.id] = answerer.moment_signals(standalone, hits[:COVERAGE_SOURCES])
    return signals


def counts(gate: Gate, questions: Sequence[Question], signals: dict[str, list[MomentSignals]]) -> tuple[int, int, int, int]:
    """(unanswerable refused, unanswerable, answerable refused, answerable)."""
    unanswerable = [q for q in questions if not q.answerable]
    answerable = [q for q in questions if q.answerable]
    return (sum(gate.refuses(signals[q.id]) for q in unanswerable), len(unanswerable),
            sum(gate.refuses(signals[q.id]) for q in answerable), len(answerable))


def relevance_grid(signals: dict[str, list[MomentSignals]]) -> list[float | None]:
    values = sorted(s.relevance for moments in signals.values() for s in moments if s.relevance is not None)
    if not values:
        return [None]
    return [None, *sorted({round(float(v), 2) for v in np.quantile(values, np.linspace(0.0, 0.6, 31))})]


def pick(questions: Sequence[Question], signals: dict[str, list[MomentSignals]], max_false: int,
         relevances: Sequence[float | None]) -> Gate:
    """The gate that refuses the most unanswerable questions with at most `max_false`
    answerable ones refused (then the fewest of those), from the middle of all such gates."""
    scored = []
    for cosine, coverage, relevance in itertools.product(COSINES, COVERAGES, relevances):
        gate = Gate(cosine, coverage, relevance)
        refused, _, false, _ = counts(gate, questions, signals)
        if false <= max_false:
            scored.append(((refused, -false), gate))
    best = max(key for key, _ in scored)
    region = [gate for key, gate in scored if key == best]
    middle = np.median([[g.cosine, g.coverage, -1e9 if g.relevance is None else g.relevance] for g in region], axis=0)
    return min(region, key=lambda g: abs(g.cosine - middle[0]) / 0.02 + abs(g.coverage - middle[1]) / 0.02
               + (0 if g.relevance is None or middle[2] < -1e8 else abs(g.relevance - middle[2])))


def _fraction(refused: int, total: int) -> str:
    return f"{refused}/{total}"


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__)
    parser.add_argument("--max-false", type=int, default=1, help="answerable questions a fold may refuse [1]")
    args = parser.parse_args(argv)
    questions, _, answerer = load_run(args, open_answerer)  # no LLM: follow-ups keep their scope
    signals = collect(answerer, questions)
    relevances = relevance_grid(signals)
    current = Gate(answerer.refusal_min_cosine, answerer.refusal_min_coverage, answerer.refusal_min_relevance)
    model = "with the relevance model" if relevances != [None] else "without a relevance model"
    print(f"{len(questions)} questions ({sum(not q.answerable for q in questions)} unanswerable), {model}")
    fold_a, fold_b = two_fold_split(questions, seed=FOLD_SEED)
    folds = {"A": fold_a, "B": fold_b}
    for picked_on, reported_on in (("A", "B"), ("B", "A")):
        gate = pick(folds[picked_on], signals, args.max_false, relevances)
        own = counts(gate, folds[picked_on], signals)
        other = counts(gate, folds[reported_on], signals)
        print(f"fold {picked_on} picks {gate}: on {picked_on} refuses {_fraction(*own[:2])} unanswerable, "
              f"{_fraction(*own[2:])} answerable; on {reported_on} {_fraction(*other[:2])} unanswerable, "
              f"{_fraction(*other[2:])} answerable")
    gate = pick(questions, signals, 2 * args.max_false, relevances)
    print(f"all questions pick {gate}: refuses {_fraction(*counts(gate, questions, signals)[:2])} unanswerable, "
          f"{_fraction(*counts(gate, questions, signals)[2:])} answerable")
    for name, part in (("fold A", fold_a), ("fold B", fold_b), ("all", questions)):
        got = counts(current, part, signals)
        print(f"current ({current}) on {name}: {_fraction(*got[:2])} unanswerable, {_fraction(*got[2:])} answerable refused")
    refused = [q.id for q in questions if q.answerable and current.refuses(signals[q.id])]
    passed = [q.id for q in questions if not q.answerable and not current.refuses(signals[q.id])]
    print(f"current gate refuses answerable {', '.join(refused) or 'none'}; answers unanswerable {', '.join(passed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
