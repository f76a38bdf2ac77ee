"""Follow-up detection without an LLM: standalone questions keep their own results.

    python eval/followups.py --questions ../shared/eval/dev-questions.jsonl [--index indexes/dtc] [--json]

1. Every non-follow-up question is asked right after an unrelated one (the next
   question in the file whose gold episode differs). Its top-5 moments must be
   exactly those it gets when asked alone; the script counts the questions where
   the conversation changed them, and hit@5 asked alone and asked after.
2. Every follow-up question is asked with its history: the share that the answer
   stage treats as a follow-up, and its hit@5.

The answer stage decides with `rag.answers.followup.is_followup`; no LLM is used.
"""

from __future__ import annotations

import json
import os
import sys

from rag.answers.answerer import Answerer
from rag.answers.followup import search_request
from rag.evaluation import Question, Result, eval_parser, first_hit_rank, load_run
from rag.pipeline import open_answerer
from rag.search.hits import Hit

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def moments(hits: list[Hit]) -> list[tuple[str, int, int]]:
    return [(h.passage.episode_id, h.passage.start_s, h.link_sec) for h in hits]


def hit_at_5(question: Question, hits: list[Hit]) -> bool:
    results = [Result(h.passage.episode_id, h.passage.start_s, h.passage.end_s, h.link_sec) for h in hits]
    return first_hit_rank(question, results[:5]) is not None


def search(answerer: Answerer, question: str, history: list[str]) -> tuple[list[Hit], bool]:
    query, context = search_request(question, history, [])
    return answerer.searcher.search(query, k=5, context=context), bool(context)


def unrelated_before(questions: list[Question], position: int) -> Question:
    question = questions[position]
    episodes = {g.episode for g in question.gold}
    others = questions[position + 1 :] + questions[:position]
    return next(o for o in others if not episodes & {g.episode for g in o.gold})


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    questions, _, answerer = load_run(args, open_answerer)  # no LLM: the detection alone

    standalone = [q for q in questions if q.type != "followup"]
    changed: list[str] = []
    hits_alone = hits_after = 0
    for position, question in enumerate(standalone):
        alone, _ = search(answerer, question.question, [])
        after, _ = search(answerer, question.question, [unrelated_before(standalone, position).question])
        if moments(alone) != moments(after):
            changed.append(question.id)
        if question.answerable:
            hits_alone += hit_at_5(question, alone)
            hits_after += hit_at_5(question, after)
    followups = [q for q in questions if q.type == "followup"]
    resolved = detected = 0
    for question in followups:
        hits, used_context = search(answerer, question.question, list(question.history))
        detected += used_context
        resolved += hit_at_5(question, hits)
    answerable = sum(q.answerable for q in standalone)
    report = {
        "standalone": len(standalone),
        "standalone_changed_by_an_unrelated_question": changed,
        "standalone_hit@5_alone": round(hits_alone / max(answerable, 1), 3),
        "standalone_hit@5_after_unrelated": round(hits_after / max(answerable, 1), 3),
        "followups": len(followups),
        "followups_detected": detected,
        "followups_hit@5": round(resolved / max(len(followups), 1), 3),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"standalone questions asked after an unrelated one: {len(standalone) - len(changed)}/{len(standalone)} "
          f"keep their top-5 moments{' (changed: ' + ', '.join(changed) + ')' if changed else ''}")
    print(f"  hit@5 asked alone {report['standalone_hit@5_alone']:.3f}, after an unrelated question "
          f"{report['standalone_hit@5_after_unrelated']:.3f} ({answerable} answerable)")
    print(f"follow-ups: {detected}/{len(followups)} detected, hit@5 {report['followups_hit@5']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
