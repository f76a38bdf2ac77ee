"""Retrieval quality and search latency on questions with gold moments.

    python eval/retrieval.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc] [--json] [--out FILE]
    python eval/retrieval.py --questions ../shared/eval/dev-questions.jsonl --folds --option focus_episodes=0

Prints hit@1/5/10, MRR@10, lands@1/5 and the median top-5 span (s) over the
answerable questions for the hybrid search (overall and by type), with bm25-only
and dense-only rows from the same run, search latency p50/p95 (query embedding +
search; the index is loaded first), and bootstrap 95% intervals of the hybrid
hit@5, MRR@10 and lands@1. `--folds` adds the hybrid figures on each half of a
fixed, type-stratified two-fold split: keep a retrieval change only if it wins on
both. `--option NAME=VALUE` (repeatable) passes a keyword argument to the hybrid
`Searcher`, e.g. `--option focus_episodes=0` for an ablation.
Follow-up questions are searched with their history joined to the question.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.config import Config
from rag.evaluation import (
    Question,
    Scored,
    bootstrap_interval,
    eval_parser,
    evaluate_search,
    load_run,
    reciprocal_rank,
    summarize,
    two_fold_split,
    with_and_without_model,
    write_jsonl_atomic,
)
from rag.index.files import read_manifest
from rag.pipeline import open_searcher
from rag.search.searcher import Searcher

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MODES = ("hybrid", "lexical", "dense")
SEARCHER_OPTIONS = tuple(
    name for name, p in inspect.signature(Searcher.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY and name != "mode"
)
BOOTSTRAP_RESAMPLES = 2000
FOLD_SEED = 0


def parse_option(text: str) -> tuple[str, int | float | bool]:
    """`NAME=VALUE` -> (name, value): an int, a float, or true/false.

    >>> parse_option("focus_episodes=0"), parse_option("focus_weight=0.5"), parse_option("merge=false")
    (('focus_episodes', 0), ('focus_weight', 0.5), ('merge', False))
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--option {text!r}: expected NAME=VALUE, e.g. focus_episodes=0")
    if name not in SEARCHER_OPTIONS:
        raise ValueError(f"--option {text}: Searcher has no option {name!r} (options: {', '.join(SEARCHER_OPTIONS)})")
    raw = raw.strip()
    if raw.lower() in ("true", "false"):
        return name, raw.lower() == "true"
    for kind in (int, float):
        try:
            return name, kind(raw)
        except ValueError:
            pass
    raise ValueError(f"--option {text}: value {raw!r} is not an int, a float, true or false")


def intervals(scored: list[Scored]) -> dict[str, list[float]]:
    """Bootstrap 95% intervals of hit@5, MRR@10 and lands@1 over the questions."""
    per_question = {
        "hit@5": [float(s.hit_rank is not None and s.hit_rank <= 5) for s in scored],
        "mrr@10": [reciprocal_rank(s.hit_rank) for s in scored],
        "lands@1": [float(s.landing_rank == 1) for s in scored],
    }
    return {
        name: [round(x, 4) for x in bootstrap_interval(values, n_resamples=BOOTSTRAP_RESAMPLES, seed=0)]
        for name, values in per_question.items()
    }


def _span(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _metric_cells(row: dict) -> str:
    return (
        f"{row['hit@1']:>6.3f} {row['hit@5']:>6.3f} {row['hit@10']:>6.3f} {row['mrr@10']:>7.3f} "
        f"{row['lands@1']:>7.3f} {row['lands@5']:>7.3f} {_span(row['span_s_median']):>6}"
    )


METRIC_HEADER = f"{'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR@10':>7} {'lands@1':>7} {'lands@5':>7} {'span s':>6}"


def print_table(reports: dict[str, dict], header: dict, folds: dict[str, dict] | None) -> None:
    print(f"questions: {header['questions']} ({header['n_answerable']} answerable, {header['n_unanswerable']} unanswerable)")
    print(f"index: {header['index']}  model: {header['model']}  passages: {header['passages']}")
    print(f"relevance model: {header['relevance']}")
    if header["options"]:
        print(f"hybrid options: {' '.join(f'{k}={v}' for k, v in header['options'].items())}")
    print(f"machine: {header['machine']}")
    print()
    print(f"{'mode':<8} {METRIC_HEADER} {'p50 ms':>7} {'p95 ms':>7}")
    for mode, report in reports.items():
        print(f"{mode:<8} {_metric_cells(report)} {report['search_ms_p50']:>7.1f} {report['search_ms_p95']:>7.1f}")
    hybrid = reports["hybrid"]
    print()
    print(f"hybrid by type: {'type':<13} {'n':>3} {METRIC_HEADER}")
    for qtype, row in hybrid["by_type"].items():
        print(f"{'':<16}{qtype:<13} {row['n']:>3} {_metric_cells(row)}")
    if folds:
        print()
        print(f"hybrid folds:   {'fold':<13} {'n':>3} {METRIC_HEADER}")
        for name, row in folds.items():
            print(f"{'':<16}{'fold ' + name:<13} {row['n']:>3} {_metric_cells(row)}")
    print()
    print(f"hybrid, bootstrap 95% intervals ({BOOTSTRAP_RESAMPLES} resamples of the {hybrid['n']} answerable questions):")
    for name, (low, high) in hybrid["intervals"].items():
        print(f"  {name:<8} {hybrid[name]:.3f} [{low:.3f}, {high:.3f}]")


COMPARED = ("hit@5", "mrr@10", "lands@1", "lands@5")


def per_question_values(scored: Sequence[Scored], metric: str) -> list[float]:
    """One question's share of `metric` (hit@5, mrr@10, lands@1, lands@5), in order."""
    if metric == "mrr@10":
        return [reciprocal_rank(s.hit_rank) for s in scored]
    rank_of = (lambda s: s.hit_rank) if metric.startswith("hit") else (lambda s: s.landing_rank)
    k = int(metric.partition("@")[2])
    return [float(rank_of(s) is not None and rank_of(s) <= k) for s in scored]


def compare_untuned(questions: list[Question], untuned: dict[str, Scored], tuned: dict[str, Scored]) -> dict:
    """Tuned against untuned hybrid search on the same questions: each metric on all
    answerable questions, on each fold and by type, and the paired bootstrap 95%
    interval of the difference (tuned - untuned) on all and on each fold."""
    fold_a, fold_b = two_fold_split(questions, seed=FOLD_SEED)
    parts = {"all": questions, "fold A": fold_a, "fold B": fold_b}
    parts.update({f"type {t}": [q for q in questions if q.type == t]
                  for t in sorted({q.type for q in questions if q.answerable})})
    table = {}
    for name, part in parts.items():
        ids = [q.id for q in part if q.answerable]
        row: dict[str, Any] = {"n": len(ids)}
        for metric in COMPARED:
            before = per_question_values([untuned[i] for i in ids], metric)
            after = per_question_values([tuned[i] for i in ids], metric)
            difference = [b - a for a, b in zip(before, after)]
            row[metric] = {"untuned": round(float(np.mean(before)), 4) if ids else 0.0,
                           "tuned": round(float(np.mean(after)), 4) if ids else 0.0}
            if not name.startswith("type"):
                low, high = bootstrap_interval(difference, n_resamples=BOOTSTRAP_RESAMPLES, seed=0)
                row[metric]["delta_interval"] = [round(low, 4), round(high, 4)]
        table[name] = row
    return table


def print_comparison(table: dict, note: str) -> None:
    print()
    print(f"untuned -> tuned hybrid ({note}); [paired bootstrap 95% of the difference]")
    print(f"{'':<18} {'n':>3}  " + "  ".join(f"{m:>24}" for m in COMPARED))
    for name, row in table.items():
        cells = []
        for metric in COMPARED:
            cell = row[metric]
            text = f"{cell['untuned']:.3f}->{cell['tuned']:.3f}"
            if "delta_interval" in cell:
                low, high = cell["delta_interval"]
                text += f" [{low:+.2f},{high:+.2f}]"
            cells.append(f"{text:>24}")
        print(f"{name:<18} {row['n']:>3}  " + "  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--out", help="write one JSON line per question (hybrid top 10)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--folds", action="store_true", help="also report the hybrid metrics on each half of a two-fold split")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help=f"keyword argument for the hybrid Searcher (repeatable): {', '.join(SEARCHER_OPTIONS)}")
    parser.add_argument("--compare-index", metavar="DIR",
                        help="also search this index (another backend, say) with the same settings, and print both")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    try:
        options = dict(parse_option(text) for text in args.option)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def hybrid_searcher(config: Config) -> Searcher:
        try:
            searcher = open_searcher(config, **options)
            searcher.search("warm up the model and caches", k=10)
        except (TypeError, ValueError) as exc:
            if not options:
                raise
            raise SystemExit(f"error: --option {' '.join(args.option)}: {exc}") from None
        return searcher

    questions, config, hybrid = load_run(args, hybrid_searcher)
    index = hybrid.index
    modes = ["hybrid", *[m for m in args.modes if m != "hybrid"]]
    searchers = {mode: hybrid if mode == "hybrid" else Searcher(index, hybrid.embedder, mode=mode) for mode in modes}

    results = {mode: evaluate_search(searchers[mode], questions, not args.quiet) for mode in modes}
    comparison = None
    pair = with_and_without_model(hybrid, **options)
    if pair is not None:
        # The search with and without the index's relevance model, in the same run: what
        # `rag tune` buys (the other one of the two is searched again).
        tuned, untuned = pair
        other = evaluate_search(untuned if tuned is hybrid else tuned, questions, not args.quiet)["scored"]
        hybrid_scored = results["hybrid"]["scored"]
        comparison = compare_untuned(questions, *((other, hybrid_scored) if tuned is hybrid else (hybrid_scored, other)))
    reports = {mode: result["report"] for mode, result in results.items()}
    hybrid_scored = results["hybrid"]["scored"]
    reports["hybrid"]["intervals"] = intervals(list(hybrid_scored.values()))
    folds = None
    if args.folds:
        fold_a, fold_b = two_fold_split(questions, seed=FOLD_SEED)
        folds = {name: {k: v for k, v in summarize(fold, hybrid_scored).items() if k != "by_type"}
                 for name, fold in (("A", fold_a), ("B", fold_b))}
    header = {
        "questions": len(questions),
        "n_answerable": sum(q.answerable for q in questions),
        "n_unanswerable": sum(not q.answerable for q in questions),
        "index": str(config.index_dir),
        "model": index.model_id,
        "passages": len(index.passages),
        "options": options,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.out:
        write_jsonl_atomic(args.out, results["hybrid"]["per_question"])
    relevance = index.manifest.get("relevance") or {}
    named = f"{relevance.get('path')} ({relevance.get('pairs')} pairs, seed {relevance.get('seed')})"
    header["relevance"] = named if hybrid.relevance is not None else (
        f"off (RAG_RELEVANCE_MODEL=1 uses {named})" if pair is not None else "none")
    if args.json:
        extra = {"folds": folds} if folds else {}
        if comparison:
            extra["untuned_vs_tuned"] = comparison
        print(json.dumps({**reports["hybrid"], "modes": {m: r for m, r in reports.items() if m != "hybrid"}, **extra, **header}))
    else:
        print_table(reports, header, folds)
        if comparison:
            print_comparison(comparison, named)
    if args.compare_index:
        other = open_searcher(dataclasses.replace(config, index_dir=Path(args.compare_index)), **options)
        print_backends(questions, {str(config.index_dir): results["hybrid"],
                                   args.compare_index: evaluate_search(other, questions, not args.quiet)})
    return 0


def print_backends(questions: list, runs: dict[str, dict]) -> None:
    """The hybrid search of two indexes of the same corpus, side by side: the metrics,
    and how many questions got another top 10."""
    print("\nsame questions, two indexes (hybrid):")
    print(f"{'index':<36} {'backend':<8} {'hit@5':>6} {'lands@5':>8} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for name, run in runs.items():
        report, backend = run["report"], read_manifest(name).get("backend", "builtin")
        print(f"{name:<36} {backend:<8} {report['hit@5']:>6.3f} {report['lands@5']:>8.3f} {report['mrr@10']:>7.3f}"
              f" {report['search_ms_p50']:>7.1f} {report['search_ms_p95']:>7.1f}")
    first, second = ([row["results"] for row in run["per_question"]] for run in runs.values())
    differing = sum(a != b for a, b in zip(first, second))
    a, b = ({q: s.hit_rank is not None and s.hit_rank <= 5 for q, s in run["scored"].items()} for run in runs.values())
    print(f"questions whose top 10 differ: {differing} of {len(questions)}; "
          f"hit@5 differs on {sum(a[q] != b[q] for q in a)}")


if __name__ == "__main__":
    sys.exit(main())
