"""Calibrate the refusal and citation-support thresholds on the dev questions.

    python eval/calibrate.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc]

Prints each question's retrieval confidence (best question-passage cosine among
the retrieved moments, as the answer stage computes it), the range of each class,
and the threshold halfway across the widest gap that keeps false refusals of
answerable questions at or under --max-false-refusals. rag/answer.py's
REFUSAL_MIN_COSINE is set from this output.

Then the citation check: each sentence of a reference answer (a paraphrase, like an
LLM's) against its gold passage (supported) and against a passage of the same episode
far from it (unsupported), with the share of each accepted under candidate thresholds
(word overlap OR sentence cosine). SUPPORT_MIN_OVERLAP / SUPPORT_MIN_COSINE come from it.
"""

from __future__ import annotations

import argparse
import random
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from rag.answer import Answerer, lexical_support, rewrite_followup, split_sentences  # noqa: E402
from rag.embedding import make_embedder  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.evaluation import Question, hits_gold, load_questions  # noqa: E402
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
    support_calibration(answerer, questions)
    return 0


def support_calibration(answerer: Answerer, questions: list[Question]) -> None:
    embedder, passages = answerer.searcher.embedder, answerer.searcher.index.passages
    rng = random.Random(0)
    scores: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for question in questions:
        quote = " ".join(question.quote.split())[:40]
        gold = [p for p in passages if quote and hits_gold(question, p.episode_id, p.start_s, p.end_s) and quote in " ".join(p.text.split())]
        if not gold:
            continue
        far = [p for p in passages if p.episode_id == gold[0].episode_id and abs(p.ordinal - gold[0].ordinal) > 5]
        pairs = [(gold[0], True)] + ([(rng.choice(far), False)] if far else [])
        for claim in split_sentences(question.answer):
            for passage, supported in pairs:
                vectors = embedder.embed([claim, *(split_sentences(passage.text) or [passage.text])])
                scores[supported].append((lexical_support(claim, passage.text), float(np.max(vectors[1:] @ vectors[0]))))
    print(f"\ncitation support: {len(scores[True])} supported and {len(scores[False])} unsupported claim-passage pairs")
    for overlap in (0.4, 0.5, 0.6):
        for cosine in (0.45, 0.5, 0.55, 0.6):
            accepted = {k: np.mean([o >= overlap or c >= cosine for o, c in v]) if v else 0.0 for k, v in scores.items()}
            print(f"  overlap >= {overlap} or cosine >= {cosine}: supported accepted {accepted[True]:.2f}, "
                  f"unsupported accepted {accepted[False]:.2f}")
    print(f"current: overlap >= {answerer.support_min_overlap} or cosine >= {answerer.support_min_cosine}")


if __name__ == "__main__":
    sys.exit(main())
