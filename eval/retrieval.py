"""Retrieval quality and search latency on questions with gold moments.

    python eval/retrieval.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc] [--json] [--out FILE]

Prints hit@1/5/10 and MRR@10 over the answerable questions (overall and by type)
for the hybrid search, with bm25-only and dense-only rows from the same run, then
search latency p50/p95 (query embedding + search; the index is loaded first).
Follow-up questions are searched with their history joined to the question.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tqdm import tqdm  # noqa: E402

from rag.embedding import make_embedder  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.evaluation import Question, first_hit_rank, load_questions, percentile, retrieval_metrics  # noqa: E402
from rag.index import load_index  # noqa: E402
from rag.retrieve import Searcher  # noqa: E402

MODES = ("hybrid", "lexical", "dense")


def evaluate_mode(searcher: Searcher, questions: list[Question], show_progress: bool) -> dict:
    ranks_by_type: dict[str, list[int | None]] = defaultdict(list)
    all_ranks: list[int | None] = []
    latencies_ms: list[float] = []
    per_question = []
    for question in tqdm(questions, desc=searcher.mode, disable=not show_progress, leave=False):
        started = time.perf_counter()
        hits = searcher.search(question.search_text(), k=10)
        latencies_ms.append((time.perf_counter() - started) * 1000)
        results = [(h.passage.episode_id, h.passage.start_s, h.passage.end_s) for h in hits]
        per_question.append(
            {
                "id": question.id,
                "results": [
                    {"episode": h.passage.episode_id, "start_sec": h.passage.start_s, "end_sec": h.passage.end_s, "score": round(h.score, 6)}
                    for h in hits
                ],
            }
        )
        if not question.answerable:
            continue
        rank = first_hit_rank(question, results)
        all_ranks.append(rank)
        ranks_by_type[question.type].append(rank)
    report = {
        "n": len(all_ranks),
        **retrieval_metrics(all_ranks),
        "by_type": {t: {"n": len(r), **retrieval_metrics(r)} for t, r in sorted(ranks_by_type.items())},
        "search_ms_p50": round(percentile(latencies_ms, 50), 2),
        "search_ms_p95": round(percentile(latencies_ms, 95), 2),
    }
    return {"report": report, "per_question": per_question}


def print_table(reports: dict[str, dict], header: dict) -> None:
    print(f"questions: {header['questions']} ({header['n_answerable']} answerable, {header['n_unanswerable']} unanswerable)")
    print(f"index: {header['index']}  model: {header['model']}  passages: {header['passages']}")
    print(f"machine: {header['machine']}")
    print()
    print(f"{'mode':<8} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for mode, report in reports.items():
        print(
            f"{mode:<8} {report['hit@1']:>6.3f} {report['hit@5']:>6.3f} {report['hit@10']:>6.3f} "
            f"{report['mrr@10']:>7.3f} {report['search_ms_p50']:>7.1f} {report['search_ms_p95']:>7.1f}"
        )
    hybrid = reports["hybrid"]
    print()
    print(f"hybrid by type: {'type':<13} {'n':>3} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR@10':>7}")
    for qtype, row in hybrid["by_type"].items():
        print(f"{'':<16}{qtype:<13} {row['n']:>3} {row['hit@1']:>6.3f} {row['hit@5']:>6.3f} {row['hit@10']:>6.3f} {row['mrr@10']:>7.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", nargs="+", required=True, help="JSONL question files")
    parser.add_argument("--index", default=os.environ.get("RAG_INDEX", "indexes/dtc"))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--out", help="write one JSON line per question (hybrid top 10)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    try:
        questions = load_questions(args.questions)
        index = load_index(args.index)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    embedder = make_embedder(index.model_id)
    modes = ["hybrid", *[m for m in args.modes if m != "hybrid"]]
    searchers = {mode: Searcher(index, embedder, mode=mode) for mode in modes}
    searchers["hybrid"].search("warm up the model and caches", k=10)

    results = {mode: evaluate_mode(searchers[mode], questions, not args.quiet) for mode in modes}
    reports = {mode: result["report"] for mode, result in results.items()}
    header = {
        "questions": len(questions),
        "n_answerable": sum(q.answerable for q in questions),
        "n_unanswerable": sum(not q.answerable for q in questions),
        "index": str(args.index),
        "model": index.model_id,
        "passages": len(index.passages),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in results["hybrid"]["per_question"]), encoding="utf-8")
        os.replace(tmp, out)
    if args.json:
        print(json.dumps({**reports["hybrid"], "modes": {m: r for m, r in reports.items() if m != "hybrid"}, **header}))
    else:
        print_table(reports, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
