"""Drive N concurrent chat sessions through `gradio_client` against a running app.

    python app.py --index indexes/dtc &                       # in another shell
    python eval/bench_app.py --url http://127.0.0.1:7860/ --sessions 20

Each session is its own client (its own Gradio session) asking one question from
the list, all at once. Prints whether every session got a cited answer, and the
latency p50/p95 (submit -> final answer, queueing included); `--json` writes them.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from rag.evaluation import write_json_atomic
from rag.measure import percentile
from rag.moment import media_link

QUESTIONS = [
    "What are bloom filters used for?",
    "How do you build a data team from scratch?",
    "How should data scientists write documentation?",
    "What is technical debt in machine learning systems?",
    "How do I get my first job as a data engineer?",
]
_LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")  # the URL of a Markdown link


def cites_a_moment(text: str) -> bool:
    """True when a chat message links a moment (YouTube, media file or page), as every cited answer does.

    >>> cites_a_moment("Bloom filters [\\[1\\]](https://www.youtube.com/watch?v=RiQa-9LguW8&t=1902s).")
    True
    """
    return any(media_link(url) for url in _LINK_TARGET.findall(text))


def one_session(url: str, question: str) -> tuple[float, bool, str]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    try:
        chat, *_ = client.predict(question, [], "", "", "", api_name="/ask")  # question, chat, episode, guest, season
    except Exception as exc:  # noqa: BLE001 - a failed session is a result, not a crash
        return time.perf_counter() - started, False, f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - started
    content = chat[-1]["content"] if chat else ""
    text = content if isinstance(content, str) else "".join(part.get("text", "") for part in content)
    return elapsed, cites_a_moment(text), text[:120]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('GRADIO_SERVER_PORT', '7860')}/")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--json", dest="json_path", help="Also write the figures here.")
    args = parser.parse_args(argv)

    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.sessions)]
    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.sessions) as pool:
        results = list(pool.map(lambda q: one_session(args.url, q), questions))
    wall = time.perf_counter() - wall
    latencies = [r[0] for r in results]
    answered = sum(1 for r in results if r[1])
    report = {
        "url": args.url,
        "sessions": args.sessions,
        "answered_with_citation": answered,
        "all_answered": answered == args.sessions,
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(percentile(latencies, 95), 3),
        "latency_max_s": round(max(latencies), 3),
        "wall_s": round(wall, 3),
        "hardware": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}",
    }
    print(f"{args.sessions} concurrent sessions against {args.url} ({report['hardware']})")
    print(f"answered with a cited deep link: {answered}/{args.sessions}  all answered: {report['all_answered']}")
    print(f"latency p50 {report['latency_p50_s']:.2f}s  p95 {report['latency_p95_s']:.2f}s  max {report['latency_max_s']:.2f}s  wall {wall:.2f}s")
    for latency, ok, text in results:
        if not ok:
            print(f"  not answered ({latency:.2f}s): {text}")
    if args.json_path:
        write_json_atomic(args.json_path, report)
    return 0 if report["all_answered"] else 1


if __name__ == "__main__":
    sys.exit(main())
