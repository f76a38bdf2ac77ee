"""Calibrate the refusal threshold on questions with and without gold moments.

    python eval/calibrate.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc]

Prints each question's retrieval confidence (best question-passage cosine among
the retrieved moments, as the answer stage computes it), the range of each class,
and the threshold halfway across the widest gap that keeps false refusals of
answerable questions at or under --max-false-refusals. rag/answer.py's
REFUSAL_MIN_COSINE is set from this output.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag.answer import Answerer, rewrite_followup  # noqa: E402
from rag.embedding import make_embedder  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.evaluation import load_questions  # noqa: E402
from rag.index import load_index  # noqa: E402
from rag.retrieve import Searcher  # noqa: E402


def suggest_threshold(answerable: list[float], unanswerable: list[float], max_false: float) -> float:
    """Midpoint of the gap below the lowest answerable confidence we may not refuse."""
    ordered = sorted(answerable)
    allowed_false = int(max_false * len(ordered))
    floor = ordered[allowed_false] if ordered else 1.0
    below = [c for c in unanswerable if c < floor]
    return round(((max(below) if below else floor - 0.1) + floor) / 2, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", nargs="+", required=True)
    parser.add_argument("--index", default=os.environ.get("RAG_INDEX", "indexes/dtc"))
    parser.add_argument("--max-false-refusals", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        index = load_index(args.index)
        questions = load_questions(args.questions)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    answerer = Answerer(Searcher(index, make_embedder(index.model_id)))
    scores: dict[bool, list[float]] = {True: [], False: []}
    for question in questions:
        standalone = rewrite_followup(question.question, question.history)
        confidence = answerer.confidence(standalone, answerer.searcher.search(standalone, k=answerer.k))
        scores[question.answerable].append(confidence)
        print(f"{question.id:<6} {question.type:<13} {confidence:.3f}")
    for label, values in (("answerable", scores[True]), ("unanswerable", scores[False])):
        if values:
            print(f"{label:<13} n={len(values):<3} min {min(values):.3f}  max {max(values):.3f}")
    threshold = suggest_threshold(scores[True], scores[False], args.max_false_refusals)
    refused = sum(c < threshold for c in scores[False])
    false = sum(c < threshold for c in scores[True])
    print(f"suggested threshold {threshold}: refuses {refused}/{len(scores[False])} unanswerable, "
          f"{false}/{len(scores[True])} answerable (model {index.model_id}; current {answerer.refusal_min_cosine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
