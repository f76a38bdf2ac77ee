"""Answer quality: citations on gold moments, first citations landing, refusals, verification, latency.

    python eval/answers.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc] [--json] [--out FILE] [--judge]

Uses the LLM configured by the environment (OPENAI_BASE_URL / OPENAI_API_KEY /
RAG_LLM_MODEL, or HF_TOKEN); with none, the extractive answerer. Follow-up
questions get their history. A first citation *lands* when the second its link
opens at is within a minute before the gold moment (eval README); the shares of
answerable questions citing a gold moment and with a landing first citation come
with bootstrap 95% intervals. `--judge` (needs an LLM) adds an LLM-as-judge score
of faithfulness and relevance, 1-5, reported separately.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time

from tqdm import tqdm

from rag.answers.answerer import Answer, Answerer
from rag.answers.prompts import format_sources
from rag.errors import LLMError
from rag.evaluation import (
    Question,
    bootstrap_interval,
    eval_parser,
    hits_gold,
    lands_gold,
    load_run,
    two_fold_split,
    with_and_without_model,
    write_jsonl_atomic,
)
from rag.measure import percentile
from rag.pipeline import open_answerer

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def judge(answerer: Answerer, question: Question, answer: Answer) -> dict | None:
    """LLM-as-judge (as in LLM Zoomcamp): faithfulness and relevance, 1-5."""
    assert answerer.llm is not None
    prompt = answerer.prompts.judge.format(
        sources=format_sources(answer.sources, answerer.prompts), question=question.question, answer=answer.text
    )
    try:
        reply = answerer.llm.complete([{"role": "user", "content": prompt}])
        match = re.search(r"\{.*\}", reply, re.S)
        scores = json.loads(match.group(0)) if match else None
        return {"faithfulness": float(scores["faithfulness"]), "relevance": float(scores["relevance"])} if scores else None
    except (LLMError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def evaluate(answerer: Answerer, questions: list[Question], use_judge: bool, show_progress: bool) -> tuple[dict, list[dict]]:
    rows = []
    latencies = []
    for question in tqdm(questions, desc="answers", disable=not show_progress):
        started = time.perf_counter()
        answer = answerer.answer(question.question, question.history)
        latencies.append((time.perf_counter() - started) * 1000)
        on_gold = [hits_gold(question, c.passage.episode_id, c.passage.start_s, c.passage.end_s) for c in answer.citations]
        first = answer.citations[0] if answer.citations else None
        first_lands = first is not None and lands_gold(question, first.passage.episode_id, first.start_s)
        row = {
            "id": question.id,
            "type": question.type,
            "answerable": question.answerable,
            "answer": answer.text,
            "refused": answer.refused,
            "mode": answer.mode,
            "confidence": round(answer.confidence, 4),
            "warnings": list(answer.warnings),
            "first_citation_lands": first_lands,
            "citations": [
                {"episode": c.passage.episode_id, "start_sec": c.passage.start_s, "end_sec": c.passage.end_s,
                 "url": c.url, "verified": c.verified, "on_gold": gold}
                for c, gold in zip(answer.citations, on_gold)
            ],
        }
        if use_judge and not answer.refused:
            row["judge"] = judge(answerer, question, answer)
        rows.append(row)

    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    citations = [c for r in answerable for c in r["citations"]]
    all_citations = [c for r in rows for c in r["citations"]]
    cites_gold = [float(any(c["on_gold"] for c in r["citations"])) for r in answerable]
    first_lands = [float(r["first_citation_lands"]) for r in answerable]
    summary = {
        "n": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "mode": rows[0]["mode"] if rows else answerer.mode,
        "cites_gold": _share(sum(cites_gold), len(answerable)),
        "first_citation_lands": _share(sum(first_lands), len(answerable)),
        "intervals": {"cites_gold": _interval(cites_gold), "first_citation_lands": _interval(first_lands)},
        "citation_precision": _share(sum(c["on_gold"] for c in citations), len(citations)),
        "verified_citations": _share(sum(c["verified"] for c in all_citations), len(all_citations)),
        "refused_unanswerable": _share(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "false_refusals": _share(sum(r["refused"] for r in answerable), len(answerable)),
        "latency_ms_p50": round(percentile(latencies, 50), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
    }
    judged = [r["judge"] for r in rows if r.get("judge")]
    if use_judge:
        summary["judge"] = {
            "n": len(judged),
            "faithfulness": _share(sum(j["faithfulness"] for j in judged), len(judged)),
            "relevance": _share(sum(j["relevance"] for j in judged), len(judged)),
        }
    return summary, rows


def _share(part: float, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _interval(per_question: list[float]) -> list[float]:
    """Bootstrap 95% interval of a share (2000 resamples, seed 0)."""
    return [round(x, 4) for x in bootstrap_interval(per_question)]


def compare_untuned(questions: list[Question], untuned: list[dict], tuned: list[dict]) -> dict:
    """Tuned against untuned answers, row by row: on all questions, each fold and each
    type, the share citing gold and with a landing first citation (answerable), and the
    refusals of each kind; on all and each fold, the paired bootstrap 95% interval of
    the difference in first citations landing."""
    before, after = ({r["id"]: r for r in rows} for rows in (untuned, tuned))
    fold_a, fold_b = two_fold_split(questions, seed=0)
    parts = {"all": questions, "fold A": fold_a, "fold B": fold_b}
    parts.update({f"type {t}": [q for q in questions if q.type == t] for t in sorted({q.type for q in questions})})
    table = {}
    for name, part in parts.items():
        answerable = [q.id for q in part if q.answerable]
        unanswerable = [q.id for q in part if not q.answerable]
        row: dict = {"n": len(part)}
        for label, rows in (("untuned", before), ("tuned", after)):
            row[label] = {
                "cites_gold": _share(sum(any(c["on_gold"] for c in rows[i]["citations"]) for i in answerable), len(answerable)),
                "first_citation_lands": _share(sum(rows[i]["first_citation_lands"] for i in answerable), len(answerable)),
                "answerable_refused": f"{sum(rows[i]['refused'] for i in answerable)}/{len(answerable)}",
                "unanswerable_refused": f"{sum(rows[i]['refused'] for i in unanswerable)}/{len(unanswerable)}",
            }
        if not name.startswith("type") and answerable:
            difference = [float(after[i]["first_citation_lands"]) - float(before[i]["first_citation_lands"]) for i in answerable]
            row["first_lands_delta_interval"] = _interval(difference)
        table[name] = row
    return table


def print_comparison(table: dict) -> None:
    print("\nuntuned -> tuned (the index's relevance model); [paired bootstrap 95% of the first-lands difference]")
    print(f"{'':<18} {'n':>3} {'cites gold':>13} {'first lands':>28} {'answerable refused':>19} {'unanswerable refused':>21}")
    for name, row in table.items():
        u, t = row["untuned"], row["tuned"]
        lands = f"{u['first_citation_lands']:.3f}->{t['first_citation_lands']:.3f}"
        if "first_lands_delta_interval" in row:
            low, high = row["first_lands_delta_interval"]
            lands += f" [{low:+.2f},{high:+.2f}]"
        print(f"{name:<18} {row['n']:>3} {u['cites_gold']:.3f}->{t['cites_gold']:.3f} {lands:>28} "
              f"{u['answerable_refused'] + '->' + t['answerable_refused']:>19} "
              f"{u['unanswerable_refused'] + '->' + t['unanswerable_refused']:>21}")


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="one JSON line per question")
    parser.add_argument("--judge", action="store_true", help="LLM-as-judge scores (needs an LLM)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    questions, config, answerer = load_run(args, open_answerer, llm=True)
    if args.judge and answerer.llm is None:
        print("error: --judge needs an LLM (set OPENAI_BASE_URL/OPENAI_API_KEY/RAG_LLM_MODEL or HF_TOKEN)", file=sys.stderr)
        return 1
    summary, rows = evaluate(answerer, questions, args.judge, not args.quiet)
    comparison = None
    pair = with_and_without_model(answerer.searcher)
    if pair is not None:
        # The answers with and without the index's relevance model, in the same run.
        tuned, untuned = pair
        other = dataclasses.replace(answerer, searcher=untuned if tuned is answerer.searcher else tuned)
        other_rows = evaluate(other, questions, False, not args.quiet)[1]
        comparison = compare_untuned(questions, *((other_rows, rows) if tuned is answerer.searcher else (rows, other_rows)))
        summary["untuned_vs_tuned"] = comparison
    if args.out:
        write_jsonl_atomic(args.out, (
            {"id": r["id"], "answer": r["answer"], "refused": r["refused"],
             "citations": [{k: c[k] for k in ("episode", "start_sec", "end_sec", "url")} for c in r["citations"]]}
            for r in rows
        ))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"questions: {summary['n']} ({summary['n_answerable']} answerable, {summary['n_unanswerable']} unanswerable)")
    print(f"index: {config.index_dir}  answer mode: {summary['mode']}"
          + (f" ({config.llm.describe()})" if answerer.llm else ""))
    print()
    for key, label in (("cites_gold", "answerable citing a gold moment "), ("first_citation_lands", "first citation lands on gold    ")):
        low, high = summary["intervals"][key]
        print(f"{label} {summary[key]:.3f} [{low:.3f}, {high:.3f}]")
    print(f"citation precision               {summary['citation_precision']:.3f}")
    print(f"verified citations               {summary['verified_citations']:.3f}")
    print(f"unanswerable refused             {summary['refused_unanswerable']:.3f}")
    print(f"answerable refused (false)       {summary['false_refusals']:.3f}")
    print(f"latency p50 / p95 ms             {summary['latency_ms_p50']} / {summary['latency_ms_p95']}")
    if "judge" in summary:
        j = summary["judge"]
        print(f"LLM judge (n={j['n']}): faithfulness {j['faithfulness']:.2f}/5, relevance {j['relevance']:.2f}/5")
    if comparison:
        print_comparison(comparison)
    for row in rows:
        if row["answerable"] and (row["refused"] or not any(c["on_gold"] for c in row["citations"])):
            print(f"  missed {row['id']} ({row['type']}): refused={row['refused']}, confidence {row['confidence']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
