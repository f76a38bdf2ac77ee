"""Grow a real index N× with distractor passages, then measure what serving it costs.

    python eval/scale.py --index indexes/dtc --copies 30 [--vector-index auto] [--compare-lexical] [--json]

Distractors: each is the first part of one real passage's lines followed by the rest of
another's, from a different episode, so its words are real transcript words and no
real passage reappears whole. Passages that hold a question's gold moment are never
recombined: in a real library the answer is said in its own episode, not quoted in
thirty others. Its vector mixes the two real vectors by their share of
lines, plus a little noise (`NOISE`), renormalized: it lies in the real embedding
distribution without embedding 10^6 texts (4 min per 14k passages here). Distractors
form their own episodes of the real episodes' average length, each a mix of topics,
with no guests, so that a question's own episode still has to win on its words.

Stages, each timed: generate the distractors; build the index (vectors, bm25, passage
store; `rag.index.save_index`, the vector index by `--vector-index`). Then, in a fresh
process so that its memory is the server's alone: load the index, search the dev
questions (p50/p95, hit@5, MRR@10, lands@5), read the RSS, and last (it reads every
vector) the vector index's recall@10 against an exact search on the same queries.
`--compare-lexical` also builds SQLite FTS5 over the same texts and times it against
bm25s on the same queries. The real index is then served the same way, in the same
run, as the baseline: `search_p50_ratio` is the grown index's p50 over the real one's,
and `*_1x` are the real index's figures. With --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.config import load_config  # noqa: E402
from rag.errors import RagError  # noqa: E402
from rag.evaluation import Question, evaluate_search, hits_gold, load_questions
from rag.index.build import lexical_text  # noqa: E402
from rag.index.chunking import Passage  # noqa: E402
from rag.index.files import load_index, save_index
from rag.index.lexical import LexicalIndex
from rag.index.vectors import VECTOR_KINDS, FaissStore  # noqa: E402
from rag.measure import memory_mb, percentile, private_memory_mb
from rag.pipeline import query_embedder  # noqa: E402
from rag.search.searcher import Searcher  # noqa: E402

DEV_QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev-questions.jsonl"
NOISE = 0.05  # per-dimension noise before renormalizing (a unit vector has ~0.05 per dimension at d=384)
VECTORS_NOTE = "mixed real vectors (two real passages' vectors by line share, plus noise), not embedded text"
LEXICAL_TOP = 100  # the lexical candidates a search takes
BUILD_RECORD = "scale-build.json"  # the build's figures, kept with a --keep index for --reuse


# --------------------------------------------------------------------------- distractors


@dataclass(frozen=True)
class Plan:
    """Which real passages each distractor recombines: the first `cut` lines of `head`, then `tail`'s from `cut`."""

    head: np.ndarray
    tail: np.ndarray
    cut: np.ndarray
    episode: np.ndarray  # the distractor episode each belongs to
    ordinal: np.ndarray


def plan_distractors(passages: Sequence[Passage], count: int, seed: int = 0,
                     questions: Sequence[Question] = ()) -> Plan:
    rng = np.random.default_rng(seed)
    episode_of = np.array([p.episode_id for p in passages])
    sources = np.array([i for i, p in enumerate(passages)
                        if not any(hits_gold(q, p.episode_id, p.start_s, p.end_s) for q in questions)])
    head = sources[rng.integers(0, len(sources), count)]
    tail = sources[rng.integers(0, len(sources), count)]
    same = episode_of[head] == episode_of[tail]
    while same.any():  # a tail from the head's own episode would rebuild that episode's moment
        tail[same] = sources[rng.integers(0, len(sources), int(same.sum()))]
        same = episode_of[head] == episode_of[tail]
    lines = np.array([max(1, p.text.count("\n") + 1) for p in passages])
    cut = np.maximum(1, (lines[head] * rng.uniform(0.3, 0.7, count)).astype(int))
    per_episode = max(1, round(len(passages) / len(set(episode_of.tolist()))))
    positions = np.arange(count)
    return Plan(head, tail, cut, positions // per_episode, positions % per_episode)


def distractor_vectors(plan: Plan, vectors: np.ndarray, lines: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    out = np.empty((len(plan.head), vectors.shape[1]), dtype=np.float32)
    for start in range(0, len(out), 65536):
        part = slice(start, start + 65536)
        head, tail, cut = plan.head[part], plan.tail[part], plan.cut[part]
        tail_lines = np.maximum(1, lines[tail] - cut)
        weight = (cut / (cut + tail_lines))[:, None].astype(np.float32)
        mixed = weight * vectors[head] + (1 - weight) * vectors[tail]
        mixed += NOISE * rng.standard_normal(mixed.shape, dtype=np.float32)
        out[part] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return out


def distractor_passages(plan: Plan, passages: Sequence[Passage]) -> Iterator[Passage]:
    split = [p.text.split("\n") for p in passages]
    for i in range(len(plan.head)):
        head, tail, cut = int(plan.head[i]), int(plan.tail[i]), int(plan.cut[i])
        text_lines = split[head][:cut] + split[tail][cut:]
        ordinal, episode = int(plan.ordinal[i]), int(plan.episode[i])
        start = ordinal * 60
        yield Passage(
            id=f"scale-{episode}#{ordinal}", episode_id=f"scale-{episode}", episode_title=f"Library episode {episode}",
            section="", speakers=tuple(dict.fromkeys(line.partition(": ")[0] for line in text_lines)),
            start_s=start, end_s=start + 59, text="\n".join(text_lines), url="", ordinal=ordinal,
            line_starts=tuple(start + 5 * n for n in range(len(text_lines))),
        )


def lexical_token_ids(plan: Plan, passages: Sequence[Passage]) -> tuple[list[list[int]], dict[str, int]]:
    """bm25s token ids of every real passage then every distractor, without tokenizing 10^6 texts:
    each real line is tokenized once and a distractor's ids are its lines' ids joined
    (tokens are words, so this equals tokenizing the joined text)."""
    vocab: dict[str, int] = {"": 0}

    def ids_of(texts: list[str]) -> list[list[int]]:
        return [[vocab.setdefault(token, len(vocab)) for token in tokens] for tokens in LexicalIndex.tokenize(texts)]

    line_ids: list[list[list[int]]] = []
    real: list[list[int]] = []
    for passage in tqdm(passages, desc="tokenizing real lines", unit="passage", leave=False):
        head = lexical_text(passage)[: -len(passage.text)] if passage.text else lexical_text(passage)
        lines = ids_of(passage.text.split("\n"))
        line_ids.append(lines)
        real.append(ids_of([head])[0] + [t for line in lines for t in line])
    titles: dict[int, list[int]] = {}
    distractors: list[list[int]] = []
    for i in tqdm(range(len(plan.head)), desc="distractor tokens", unit="passage", leave=False):
        episode = int(plan.episode[i])
        if episode not in titles:
            titles[episode] = ids_of([f"Library episode {episode}\n"])[0]
        head, tail, cut = int(plan.head[i]), int(plan.tail[i]), int(plan.cut[i])
        parts = line_ids[head][:cut] + line_ids[tail][cut:]
        distractors.append(titles[episode] + [t for line in parts for t in line])
    return real + distractors, vocab


def build_scaled_index(source: Path, target: Path, copies: int, kind: str, seed: int,
                       questions: Sequence[Question] = ()) -> dict:
    index = load_index(source)
    passages = list(index.passages)
    vectors = np.asarray(index.vectors.vectors, dtype=np.float32)
    started = time.perf_counter()
    count = len(passages) * (copies - 1)
    plan = plan_distractors(passages, count, seed, questions)
    lines = np.array([p.text.count("\n") + 1 for p in passages])
    all_vectors = np.concatenate([vectors, distractor_vectors(plan, vectors, lines, seed)]) if count else vectors
    token_ids, vocab = lexical_token_ids(plan, passages)
    generate_s = time.perf_counter() - started

    started = time.perf_counter()
    import bm25s

    with _stage(f"vector index ({kind}) over {len(all_vectors):,} vectors"):
        store = FaissStore.build(all_vectors, kind)
    with _stage("bm25 index"):
        bm25 = bm25s.BM25()
        bm25.index(bm25s.tokenization.Tokenized(ids=token_ids, vocab=vocab), show_progress=False)
    del token_ids
    all_passages = _chain(passages, distractor_passages(plan, passages), len(passages) + count)
    with _stage("writing the index"):
        save_index(target, all_passages, store, LexicalIndex(bm25),
                   {**{k: v for k, v in index.manifest.items() if k in ("model", "embedder", "chunking")},
                    "episodes": len(index.passages.episodes) + int(plan.episode.max() + 1 if count else 0),
                    "scale_copies": copies, "scale_source": str(source)})
    return {"generate_s": round(generate_s, 1), "build_s": round(time.perf_counter() - started, 1),
            "vector_index": store.kind}


class _chain(Sequence[Passage]):
    """The real passages then the distractors, streamed once into the passage store."""

    def __init__(self, real: Sequence[Passage], extra: Iterator[Passage], total: int) -> None:
        self._real, self._extra, self._total = real, extra, total

    def __len__(self) -> int:
        return self._total

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        raise TypeError("streamed once; iterate instead")

    def __iter__(self) -> Iterator[Passage]:
        yield from self._real
        yield from tqdm(self._extra, total=self._total - len(self._real), desc="passages", unit="passage", leave=False)


class _stage:
    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        print(f"  {self.what} ...", file=sys.stderr, flush=True)
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        print(f"  {self.what}: {time.perf_counter() - self.started:.1f}s", file=sys.stderr, flush=True)


def build_milvus_copy(scaled: Path, target: Path, uri: str) -> dict:
    """The grown index written again into a Milvus collection (`rag.index.milvus`): the
    same passages, vectors and BM25 text, as `rag ingest --backend milvus` writes them."""
    from rag.index.files import save_manifest_only
    from rag.index.milvus.collection import rows, term_counts, write_index

    index = load_index(scaled)
    count, dim = len(index.passages), int(index.vectors.dim)
    started = time.perf_counter()
    with _stage("term counts"):
        counts = term_counts(lexical_text(p) for p in index.passages)
    alias = "rag_" + target.name.replace("-", "_")
    with _stage(f"writing {count:,} passages into Milvus ({uri})"):
        entry = write_index(uri, alias, dim, count, rows(index.passages, index.vectors.vectors,
                                                         (lexical_text(p) for p in index.passages), {}), counts)
    manifest = {k: v for k, v in index.manifest.items() if k not in ("vectors", "format_version", "dim", "count")}
    save_manifest_only(target, {**manifest, "backend": "milvus", "engine": {"uri": uri, "alias": alias},
                                "milvus": entry}, dim, count)
    return {"build_s": round(time.perf_counter() - started, 1)}


def disk_mb(*paths: Path) -> float:
    files = [f for path in paths if path.exists() for f in ([path] if path.is_file() else path.rglob("*")) if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


# --------------------------------------------------------------------------- measuring a served index


def measure(index_dir: Path, questions_path: Path, exact_from: Path | None = None) -> dict:
    """Load `index_dir` and serve the dev questions from it; run in a fresh process.
    Recall is against an exact scan of `exact_from`'s vectors (default: the index's own)."""
    questions = load_questions([questions_path])
    started = time.perf_counter()
    index = load_index(index_dir)
    load_s = time.perf_counter() - started
    embedder = query_embedder(index, load_config())
    searcher = Searcher(index, embedder)
    searcher.search("warm up the model and caches", k=10)
    result = evaluate_search(searcher, questions, show_progress=True)
    rss, peak = memory_mb()
    private = private_memory_mb()
    exact = np.load(exact_from / "vectors.npy", mmap_mode="r") if exact_from else index.vectors.vectors
    recall = vector_recall(index, embedder.embed_queries([q.search_text() for q in questions]), exact)
    report = result["report"]
    return {
        "passages": len(index.passages), "load_s": round(load_s, 2), "rss_mb": round(rss), "rss_peak_mb": round(peak),
        "rss_private_mb": None if private is None else round(private),
        "search_ms_p50": report["search_ms_p50"], "search_ms_p95": report["search_ms_p95"],
        "recall_at_10": round(recall, 4), "hit@5": round(report["hit@5"], 4), "mrr@10": round(report["mrr@10"], 4),
        "lands@5": round(report["lands@5"], 4), "vector_index": index.vectors.kind,
        "disk_mb": disk_mb(index_dir, *([Path(index.manifest["milvus"]["uri"])] if "milvus" in index.manifest else [])),
    }


def vector_recall(index, queries: np.ndarray, vectors: np.ndarray, k: int = 10) -> float:  # type: ignore[no-untyped-def]
    """Share of the exact top `k` (a scan of every vector) that the index's own search returns."""
    found = 0
    for query in tqdm(queries, desc="recall@10 vs exact", leave=False):
        scores = np.concatenate([vectors[s : s + 262144] @ query for s in range(0, len(vectors), 262144)])
        exact = set(np.argpartition(-scores, k)[:k].tolist())
        _, ids = index.vectors.search(query, k)
        found += len(exact & set(ids.tolist()))
    return found / (k * len(queries))


# --------------------------------------------------------------------------- the lexical alternative


def compare_lexical(index_dir: Path, questions_path: Path) -> dict:
    """bm25s (memory-mapped) against SQLite FTS5 on the same texts and queries: build, size, p50, overlap."""
    index = load_index(index_dir)
    queries = [q.search_text() for q in load_questions([questions_path])]
    path = index_dir.parent / f".{index_dir.name}.fts5.sqlite"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    with sqlite3.connect(path) as db:
        db.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='porter unicode61')")
        rows = ((i, lexical_text(p)) for i, p in enumerate(index.passages))
        db.executemany("INSERT INTO fts(rowid, body) VALUES (?, ?)", tqdm(rows, total=len(index.passages), desc="fts5", leave=False))
        db.execute("INSERT INTO fts(fts) VALUES ('optimize')")
    fts_build_s = time.perf_counter() - started
    fts_ms, bm25_ms, overlap = [], [], []
    with sqlite3.connect(path) as db:
        for query in queries:
            terms = LexicalIndex.tokenize([query])[0]
            match = " OR ".join(f'"{t}"' for t in terms if t.isalnum())
            started = time.perf_counter()
            fts = [r[0] for r in db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (match, LEXICAL_TOP))] if match else []
            fts_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            scores = index.lexical.scores(query)
            top = np.argpartition(-scores, LEXICAL_TOP)[:LEXICAL_TOP]
            bm25_ms.append((time.perf_counter() - started) * 1000)
            overlap.append(len(set(fts) & set(top.tolist())) / LEXICAL_TOP)
    size = path.stat().st_size
    path.unlink()
    bm25_size = sum(f.stat().st_size for f in (index_dir / "bm25").iterdir())
    return {"bm25s_ms_p50": round(percentile(bm25_ms, 50), 2), "fts5_ms_p50": round(percentile(fts_ms, 50), 2),
            "bm25s_ms_p95": round(percentile(bm25_ms, 95), 2), "fts5_ms_p95": round(percentile(fts_ms, 95), 2),
            "fts5_build_s": round(fts_build_s, 1), "fts5_mb": round(size / 2**20), "bm25s_mb": round(bm25_size / 2**20),
            "top100_overlap": round(float(np.mean(overlap)), 3)}


# --------------------------------------------------------------------------- main


def _in_fresh_process(flag: str, index_dir: Path, questions: Path, *extra: str) -> dict:
    done = subprocess.run([sys.executable, __file__, flag, str(index_dir), "--questions", str(questions), *extra],
                          stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: {flag} {index_dir} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="indexes/dtc", help="the real index to grow [indexes/dtc]")
    parser.add_argument("--copies", type=int, default=10, help="grow to this many times the real passages")
    parser.add_argument("--vector-index", choices=VECTOR_KINDS, default="auto")
    parser.add_argument("--questions", type=Path, default=DEV_QUESTIONS)
    parser.add_argument("--work", type=Path, help="where the grown index goes [indexes/scale-<copies>x]")
    parser.add_argument("--keep", action="store_true", help="keep the grown index afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="serve the index --keep left in --work instead of building it again")
    parser.add_argument("--compare-lexical", action="store_true", help="also time SQLite FTS5 against bm25s")
    parser.add_argument("--backend", choices=["builtin", "milvus"], default="builtin",
                        help="milvus: also write the grown index into Milvus Lite and serve it beside the built-in one")
    parser.add_argument("--exact-from", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh serving process
    parser.add_argument("--lexical", type=Path, help=argparse.SUPPRESS)
    return parser


def serve_on_milvus(work: Path, questions: Path) -> dict:
    """The grown index copied into Milvus Lite, then served as the built-in one was."""
    target = work.with_name(work.name + "-milvus")
    lite = work.with_name(work.name + "-milvus.db")
    try:
        built = build_milvus_copy(work, target, str(lite.resolve()))
        return {**built, **_in_fresh_process("--measure", target, questions, "--exact-from", str(work))}
    finally:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(lite, ignore_errors=True)


def print_backends(runs: dict[str, dict]) -> None:
    """Both backends over the same grown index, in the same run."""
    print(f"{'backend':<8} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9} {'RSS MB':>7} {'disk MB':>8} "
          f"{'hit@5':>6} {'lands@5':>7}", file=sys.stderr)
    for name, run in runs.items():
        print(f"{name:<8} {run['build_s']:>8} {run['search_ms_p50']:>8} {run['search_ms_p95']:>8} "
              f"{run['recall_at_10']:>9} {run['rss_mb']:>7} {run['disk_mb']:>8} {run['hit@5']:>6} {run['lands@5']:>7}",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args.exact_from)))
        return 0
    if args.lexical:
        print(json.dumps(compare_lexical(args.lexical, args.questions)))
        return 0
    if args.copies < 1:
        parser.error(f"--copies must be at least 1, got {args.copies}")
    if not args.questions.exists():
        parser.error(f"no question file at {args.questions}")
    work = args.work or Path("indexes") / f"scale-{args.copies}x"
    record = work / BUILD_RECORD
    if args.reuse and record.exists():
        built = json.loads(record.read_text(encoding="utf-8"))
        print(f"serving the {args.copies}x index kept in {work}", file=sys.stderr)
    else:
        print(f"growing {args.index} to {args.copies}x into {work}", file=sys.stderr)
        try:
            built = build_scaled_index(Path(args.index), work, args.copies, args.vector_index, args.seed,
                                       load_questions([args.questions]))
        except RagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        record.write_text(json.dumps(built), encoding="utf-8")
    milvus: dict = {}
    try:
        served = _in_fresh_process("--measure", work, args.questions)
        lexical = _in_fresh_process("--lexical", work, args.questions) if args.compare_lexical else {}
        if args.backend == "milvus":
            milvus = serve_on_milvus(work, args.questions)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    # The real index, served the same way in the same run: the baseline for speed and quality.
    real = _in_fresh_process("--measure", Path(args.index), args.questions)
    baseline = {
        "baseline_search_ms_p50": real["search_ms_p50"],
        "search_p50_ratio": round(served["search_ms_p50"] / real["search_ms_p50"], 2),
        **{f"{name}_1x": real[name] for name in ("hit@5", "mrr@10", "lands@5", "rss_mb", "rss_private_mb", "load_s")},
    }
    if milvus:
        print_backends({"builtin": {**built, **served}, "milvus": milvus})
    result = {"copies": args.copies, **built, **served, **baseline, **lexical, "distractor_vectors": VECTORS_NOTE,
              **({"milvus": milvus} if milvus else {}),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"}
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
