"""A normal question's latency while other clients send oversize requests, against its latency alone.

    python app.py --index indexes/dtc &                                   # in another shell
    python eval/bench_abuse.py --url http://127.0.0.1:7860/ [--abusers 4] [--questions 10]

Asks the same question `--questions` times alone, then again while `--abusers` threads
each post a 60 MB chat history to the queue once a second (announced by Content-Length,
then sent as fast as the server takes it; a refusal ends it at once, so a client posting
without pause measures the request rate the machine can refuse, not oversize bodies). Prints p50 of each and their ratio (target <= 1.5x:
the app refuses an oversize body before reading it, so it costs the others nothing),
and how each abuser request ended.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from rag.measure import percentile

QUESTION = "What are bloom filters used for?"
OVERSIZE_BYTES = 60 * 1024 * 1024


def ask_once(url: str) -> float:
    from gradio_client import Client

    started = time.perf_counter()
    Client(url, verbose=False).predict(QUESTION, [], "", "", "", api_name="/ask")
    return time.perf_counter() - started


def abuse(url: str, stop: threading.Event, outcomes: Counter, pause_s: float = 1.0) -> None:
    """Post an oversize chat history every `pause_s` until `stop`; count how each one ended."""
    where = urlsplit(url)
    chunk = b"x" * (1024 * 1024)
    while not stop.is_set():
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        try:
            conn.putrequest("POST", "/gradio_api/queue/join")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(OVERSIZE_BYTES))
            conn.endheaders()
            try:
                for _ in range(OVERSIZE_BYTES // len(chunk)):
                    conn.send(chunk)
            except OSError:
                pass  # the server stopped reading: refused early
            outcomes[f"HTTP {conn.getresponse().status}"] += 1
        except OSError as exc:
            outcomes[type(exc).__name__] += 1
        finally:
            conn.close()
        stop.wait(pause_s)


def abusers(url: str, count: int, stop: Any, shared: Any) -> None:
    """`count` abusing threads until `stop`; their outcomes into `shared`."""
    local_stop, outcomes = threading.Event(), Counter()
    threads = [threading.Thread(target=abuse, args=(url, local_stop, outcomes), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    stop.wait()
    local_stop.set()
    for thread in threads:
        thread.join(timeout=60)
    shared.update(outcomes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('GRADIO_SERVER_PORT', '7860')}/")
    parser.add_argument("--abusers", type=int, default=4)
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args(argv)
    ask_once(args.url)  # warm up
    alone = [ask_once(args.url) for _ in range(args.questions)]
    # The abusers run in another process: threads here would hold this process's GIL, and
    # the measured client would wait for them, not for the server.
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        outcomes_shared = manager.dict()
        stop_shared = manager.Event()
        worker = context.Process(target=abusers, args=(args.url, args.abusers, stop_shared, outcomes_shared))
        worker.start()
        time.sleep(2)
        loaded = [ask_once(args.url) for _ in range(args.questions)]
        stop_shared.set()
        worker.join(timeout=60)
        outcomes = Counter(dict(outcomes_shared))
    p50_alone, p50_loaded = percentile(alone, 50) * 1000, percentile(loaded, 50) * 1000
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"question alone: p50 {p50_alone:.0f} ms over {len(alone)}")
    print(f"with {args.abusers} clients each posting a 60 MB body every second: p50 {p50_loaded:.0f} ms over {len(loaded)} "
          f"= {p50_loaded / max(p50_alone, 1e-9):.2f}x (target <= 1.5x)")
    print(f"abuser requests: {dict(outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
