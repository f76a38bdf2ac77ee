"""Calibrate the refusal and citation-support thresholds on the dev questions.

    python eval/calibrate.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc]

Prints each question's retrieval confidence (best question-passage cosine among
the retrieved moments, as the answer stage computes it), the range of each class,
and the threshold halfway across the widest gap that keeps false refusals of
answerable questions at or under --max-false-refusals. rag/answers/answerer.py's
REFUSAL_MIN_COSINE is set from this output.

Then the second refusal signal, coverage (the IDF-weighted share of the question's
terms found in the best of the top passages, as the answer stage computes it), with
the cosine gate fixed at its current value: the trade-off curve (unanswerable
refused against answerable falsely refused) over a grid of coverage thresholds, and
a 2-fold check (rag.evaluation.two_fold_split): the threshold picked on one half
(the same midpoint-of-the-gap rule) is reported on the other. rag/answers/answerer.py's
REFUSAL_MIN_COVERAGE is set from this output.

Then the citation check: each sentence of a reference answer (a paraphrase, like an
LLM's) against its gold passage (supported) and against a passage of the same episode
far from it (unsupported), with the share of each accepted under candidate thresholds
(word overlap OR sentence cosine). rag/answers/citations.py's
SUPPORT_MIN_OVERLAP / SUPPORT_MIN_COSINE come from it.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np

from rag.answers.answerer import Answerer
from rag.answers.citations import lexical_support, split_sentences
from rag.answers.followup import search_request
from rag.evaluation import Question, eval_parser, hits_gold, load_run, two_fold_split
from rag.pipeline import open_answerer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FOLD_SEED = 0  # the seed eval/retrieval.py splits with
COVERAGE_GRID = [round(0.02 * i, 2) for i in range(0, 41)]  # 0.00 .. 0.80


def suggest_threshold(answerable: list[float], unanswerable: list[float], max_false: float) -> float:
    """Midpoint of the gap below the lowest answerable confidence we may not refuse."""
    ordered = sorted(answerable)
    allowed_false = int(max_false * len(ordered))
    floor = ordered[allowed_false] if ordered else 1.0
    below = [c for c in unanswerable if c < floor]
    return round(((max(below) if below else floor - 0.1) + floor) / 2, 3)


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__)
    parser.add_argument("--max-false-refusals", type=float, default=0.0)
    args = parser.parse_args(argv)
    questions, _, answerer = load_run(args, open_answerer)  # no LLM: follow-ups keep their scope
    index = answerer.searcher.index
    scores: dict[bool, list[float]] = {True: [], False: []}
    points: list[tuple[Question, float, float]] = []
    print(f"{'id':<6} {'type':<13} cosine coverage")
    for question in questions:
        query, context = search_request(question.question, question.history, [])
        standalone = f"{context} {query}" if context else query
        hits = answerer.searcher.search(query, k=answerer.k, context=context)
        signals = answerer.moment_signals(standalone, hits)
        confidence = max((m.cosine for m in signals), default=0.0)
        coverage = max((m.coverage for m in signals), default=0.0)
        scores[question.answerable].append(confidence)
        points.append((question, confidence, coverage))
        print(f"{question.id:<6} {question.type:<13} {confidence:.3f}  {coverage:.3f}")
    for label, values in (("answerable", scores[True]), ("unanswerable", scores[False])):
        if values:
            print(f"{label:<13} n={len(values):<3} min {min(values):.3f}  max {max(values):.3f}")
    threshold = suggest_threshold(scores[True], scores[False], args.max_false_refusals)
    refused = sum(c < threshold for c in scores[False])
    false = sum(c < threshold for c in scores[True])
    print(f"suggested threshold {threshold}: refuses {refused}/{len(scores[False])} unanswerable, "
          f"{false}/{len(scores[True])} answerable (model {index.model_id}; current {answerer.refusal_min_cosine})")
    coverage_calibration(answerer, points, args.max_false_refusals)
    support_calibration(answerer, questions)
    return 0


def refusals(points: list[tuple[Question, float, float]], min_cosine: float, min_coverage: float) -> tuple[str, str]:
    """("refused/total" unanswerable, "refused/total" answerable) under both gates."""
    counts = {True: [0, 0], False: [0, 0]}
    for question, cosine, coverage in points:
        counts[question.answerable][0] += cosine < min_cosine or coverage < min_coverage
        counts[question.answerable][1] += 1
    return tuple(f"{refused}/{total}" for refused, total in (counts[False], counts[True]))  # type: ignore[return-value]


def pick_coverage(points: list[tuple[Question, float, float]], min_cosine: float, max_false: float) -> float:
    """`suggest_threshold` on the coverage of the questions the cosine gate lets through."""
    passed = [(q, coverage) for q, cosine, coverage in points if cosine >= min_cosine]
    return suggest_threshold([c for q, c in passed if q.answerable], [c for q, c in passed if not q.answerable], max_false)


def coverage_calibration(answerer: Answerer, points: list[tuple[Question, float, float]], max_false: float) -> None:
    min_cosine, current = answerer.refusal_min_cosine, answerer.refusal_min_coverage
    print(f"\ncoverage, with the cosine gate at {min_cosine}: refused unanswerable / answerable")
    for threshold in COVERAGE_GRID:
        unanswerable, answerable = refusals(points, min_cosine, threshold)
        print(f"  coverage < {threshold:.2f}: {unanswerable:>5}  {answerable:>5}")
    ids = {q.id for q, _, _ in points}
    fold_a, fold_b = (
        {q.id for q in fold if q.id in ids} for fold in two_fold_split([q for q, _, _ in points], seed=FOLD_SEED)
    )
    halves = {"A": [p for p in points if p[0].id in fold_a], "B": [p for p in points if p[0].id in fold_b]}
    for picked_on, reported_on in (("A", "B"), ("B", "A")):
        threshold = pick_coverage(halves[picked_on], min_cosine, max_false)
        unanswerable, answerable = refusals(halves[reported_on], min_cosine, threshold)
        own_unanswerable, own_answerable = refusals(halves[picked_on], min_cosine, threshold)
        print(f"fold {picked_on} picks coverage {threshold} (on {picked_on}: {own_unanswerable} unanswerable, "
              f"{own_answerable} answerable refused) -> on fold {reported_on}: {unanswerable} unanswerable, "
              f"{answerable} answerable refused")
    threshold = pick_coverage(points, min_cosine, max_false)
    print(f"all questions pick coverage {threshold}: {' unanswerable, '.join(refusals(points, min_cosine, threshold))} answerable refused")
    figures = "; ".join(f"fold {name} {' unanswerable, '.join(refusals(half, min_cosine, current))} answerable"
                        for name, half in halves.items())
    print(f"current {current}: {figures}; all {' unanswerable, '.join(refusals(points, min_cosine, current))} answerable refused")


def support_calibration(answerer: Answerer, questions: list[Question]) -> None:
    embedder, passages = answerer.searcher.embedder, list(answerer.searcher.index.passages)
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
