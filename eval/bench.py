"""Ingest and search speed, as ratios against baselines measured in the same run.

    python eval/bench.py [--corpus ../shared/corpus] [--index indexes/dtc] [--sample 1000] [--json]
                         [--parts embedding,slice,workers,full] [--workers 2]

1. Embedding throughput: our ingest embedder vs bare fp32
   `SentenceTransformer.encode` on the same passages (the first --sample passages of the
   corpus), same process, same threads. Also the cosine between the two.
2. Ingest of a corpus slice from an empty cache (passages/s, all stages), then unchanged
   re-ingest seconds, then re-ingest after adding one episode.
3. Ingest of the same corpus slice from an empty cache with `--workers N` embedding
   processes, as a ratio to `--workers 1` (each best of two alternating runs), and the
   cosine between the two runs' vectors.
4. Unchanged re-ingest of the full corpus into --index (must already be built from
   --corpus with the default settings; target <= 10 s), search latency p50/p95 on it
   (target p50 <= 25 ms) as ratios to a dense-only search and to the hybrid search
   without locating the moment, and RSS.
5. When --index names a relevance model (`rag tune`): search with it against the same
   search without it (p50 target <= 2x and <= 60 ms), in alternating rounds, the extra
   peak RSS of a serving process that loads it (target <= +300 MB), and the training
   time `rag tune` recorded.
6. The duplicate pass of ingest over 200 / 1,000 / 5,000 synthetic episodes: seconds, and
   the time per episode against the smallest library's (linear: about 1x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.evaluation import load_questions
from rag.index.build import ChunkSettings, chunk_corpus, ingest
from rag.index.chunking import embedding_text
from rag.index.embedding import DEFAULT_MODEL, EmbeddingCache, embedder_key, resolve_model_path
from rag.index.embedding.workers import worker_threads
from rag.index.files import load_index
from rag.measure import memory_mb, percentile
from rag.pipeline import ingest_embedder, ingest_spec, query_embedder
from rag.search.searcher import Searcher
from rag.sources.load import find_corpus_files, load_corpus

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub (nothing above does)

DEV_QUESTIONS = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "dev-questions.jsonl"


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def bench_embedding(corpus: str, sample: int, quantize: str) -> dict:
    from sentence_transformers import SentenceTransformer

    ours = ingest_embedder(Config(quantize=quantize))
    episodes = load_corpus([corpus]).episodes
    passages = chunk_corpus(episodes, ours, ChunkSettings())[:sample]
    texts = [embedding_text(p, True) for p in passages]
    bare = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device="cpu")
    bare.encode(texts[:64], batch_size=32)  # warm-up, both sides
    ours.embed(texts[:64])
    baseline, baseline_s = timed(bare.encode, texts, batch_size=32, normalize_embeddings=True)
    vectors, ours_s = timed(ours.embed, texts)
    cosine = np.sum(np.asarray(baseline, dtype=np.float32) * vectors, axis=1)
    return {
        "passages": len(texts),
        "model": ours.model_id,
        "baseline_fp32_encode_per_s": round(len(texts) / baseline_s, 1),
        "ours_per_s": round(len(texts) / ours_s, 1),
        "ratio": round(baseline_s / ours_s, 2),
        "cosine_mean": round(float(cosine.mean()), 4),
        "cosine_min": round(float(cosine.min()), 4),
    }


def copy_slice(corpus: str, episodes: int, into: Path) -> tuple[Path, Path]:
    """A corpus of the first `episodes` long episode files of `corpus` (with its people) in
    `into`/corpus, and the next long episode file, for adding later."""
    files = find_corpus_files(Path(corpus))
    slice_dir = into / "corpus"
    (slice_dir / "podcast").mkdir(parents=True)
    if (Path(corpus) / "people").is_dir():
        shutil.copytree(Path(corpus) / "people", slice_dir / "people")
    chosen = [p for p in files.episode_files if p.stat().st_size > 20_000][: episodes + 1]
    for path in chosen[:-1]:
        shutil.copy(path, slice_dir / "podcast" / path.name)
    return slice_dir, chosen[-1]


def bench_ingest_slice(corpus: str, episodes: int, quantize: str) -> dict:
    embedder = ingest_embedder(Config(quantize=quantize))
    with tempfile.TemporaryDirectory() as tmp:
        slice_dir, next_episode = copy_slice(corpus, episodes, Path(tmp))
        index_dir, cache_dir = Path(tmp) / "idx", Path(tmp) / "cache"
        first, first_s = timed(ingest, [slice_dir], index_dir, embedder, cache_dir=cache_dir)
        _, unchanged_s = timed(ingest, [slice_dir], index_dir, embedder, cache_dir=cache_dir)
        shutil.copy(next_episode, slice_dir / "podcast" / next_episode.name)
        added, added_s = timed(ingest, [slice_dir], index_dir, embedder, cache_dir=cache_dir)
    return {
        "episodes": first.episodes,
        "passages": first.passages,
        "cold_ingest_s": round(first_s, 1),
        "cold_ingest_passages_per_s": round(first.passages / first_s, 1),
        "unchanged_reingest_s": round(unchanged_s, 2),
        "one_new_episode_s": round(added_s, 2),
        "one_new_episode_embedded": added.embedded,
    }


def bench_workers(corpus: str, episodes: int, quantize: str, workers: int, rounds: int = 2) -> dict:
    """Cold ingest of a slice with `workers` embedding processes vs one (this process),
    alternating, each from an empty cache; the best run of each counts."""
    config = Config(quantize=quantize)
    embedder, spec = ingest_embedder(config), ingest_spec(config)
    seconds: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        slice_dir, _ = copy_slice(corpus, episodes, Path(tmp))
        for run in range(rounds):
            for n in (1, workers):
                out = Path(tmp) / f"run-{run}-workers-{n}"
                report, took = timed(ingest, [slice_dir], out / "idx", embedder, cache_dir=out / "cache",
                                     workers=n, spec=spec)
                seconds[n].append(took)
        texts = [embedding_text(p, True) for p in chunk_corpus(load_corpus([slice_dir]).episodes, embedder, ChunkSettings())]
        one, many = (EmbeddingCache(Path(tmp) / f"run-0-workers-{n}" / "cache", embedder_key(embedder)).lookup(
            texts, embedder.dim) for n in (1, workers))
    cosine = np.sum(one * many, axis=1)
    return {
        "episodes": report.episodes,
        "passages": report.passages,
        "workers": workers,
        "threads_per_worker": worker_threads(workers),
        "workers_1_s": [round(s, 2) for s in seconds[1]],
        f"workers_{workers}_s": [round(s, 2) for s in seconds[workers]],
        "ratio": round(min(seconds[1]) / min(seconds[workers]), 2),
        "cosine_min": round(float(cosine.min()), 6),
    }


# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child of this
# (large) process would report the parent's peak.
_PEAK_RSS = """
import faiss, bm25s, Stemmer, numpy  # the libraries, loaded in both runs
from rag.index.files import load_index
if {load!r}:
    index = load_index({index!r})
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024)
"""


def index_memory_mb(index_dir: str) -> tuple[float, float]:
    """(peak RSS of a fresh process that imports the index libraries, the extra peak
    RSS when it also loads the index): the loaded index's real footprint, measured
    apart from whatever the benchmark process allocated before."""
    import subprocess

    def peak(load: bool) -> float:
        code = _PEAK_RSS.format(load=load, index=index_dir)
        return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)

    base = peak(False)
    return base, peak(True) - base


_SERVING_RSS = """
from pathlib import Path
from rag.config import Config
from rag.pipeline import open_searcher
searcher = open_searcher(Config(index_dir=Path({index!r}), relevance_model={relevance!r}))
for question in ("what is a bloom filter for?", "how do I become a data engineer?", "warm up the model"):
    searcher.search(question, k=10)
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024)
"""


def relevance_memory_mb(index_dir: str) -> tuple[float, float]:
    """(peak RSS of a fresh process serving searches without the relevance model, the
    extra peak RSS with it): what `rag tune`'s model costs a serving process."""
    import subprocess

    def peak(relevance: bool) -> float:
        code = _SERVING_RSS.format(index=index_dir, relevance=relevance)
        return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)

    without = peak(False)
    return without, peak(True) - without


def bench_relevance(index_dir: str, questions: list[tuple[str, str]]) -> dict | None:
    """Search with the index's relevance model against the same search without it, in
    one process (p50/p95 and their ratio), and the model's memory; None without a model."""
    from rag.pipeline import open_searcher

    tuned = open_searcher(Config(index_dir=Path(index_dir), relevance_model=True))
    if tuned.relevance is None:
        return None
    untuned = Searcher(tuned.index, tuned.embedder)
    # Alternating rounds, so that a noisy neighbour slows both alike.
    with_model, without_model = [], []
    for _ in range(3):
        without_model += search_latencies(untuned, questions, rounds=1)
        with_model += search_latencies(tuned, questions, rounds=1)
    serving_mb, model_mb = relevance_memory_mb(index_dir)
    entry = tuned.index.manifest.get("relevance") or {}
    meta_path = (Path(index_dir) / str(entry.get("path", "")) / "relevance.json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return {
        "model": str(entry.get("path")),
        "training_minutes_recorded": meta.get("training_minutes"),
        "training_steps": meta.get("steps"),
        "untuned_ms_p50": round(percentile(without_model, 50), 2),
        "untuned_ms_p95": round(percentile(without_model, 95), 2),
        "tuned_ms_p50": round(percentile(with_model, 50), 2),
        "tuned_ms_p95": round(percentile(with_model, 95), 2),
        "tuned_vs_untuned_p50": round(percentile(with_model, 50) / max(percentile(without_model, 50), 1e-9), 2),
        "serving_rss_mb": round(serving_mb, 1),
        "model_rss_mb": round(model_mb, 1),
    }


def synthetic_episodes(count: int, lines: int = 150) -> list:
    """`count` episodes of `lines` lines each (about an hour of talk), every tenth a copy of
    the one before under another id: what the duplicate pass reads."""
    from rag.sources.episode import Episode, Line

    episodes = []
    for n in range(count):
        source = n - 1 if n % 10 == 9 else n
        text = tuple(Line(f"Episode {source} line {i}: what was said about topic {source * 7 + i}.", i * 20,
                          "Host" if i % 2 else "Guest", "") for i in range(lines))
        episodes.append(Episode(f"ep-{n}", f"Episode {n}", None, ("Guest",), None, None, None, text, f"ep-{n}.md"))
    return episodes


def bench_dedup(sizes: tuple[int, ...] = (200, 1000, 5000)) -> dict:
    """Seconds of ingest's duplicate pass (`drop_duplicate_episodes`) over synthetic libraries,
    and each size's time per episode as a ratio to the smallest: ~1 when it grows linearly."""
    from rag.sources.dedup import drop_duplicate_episodes

    rows = {}
    for size in sizes:
        episodes = synthetic_episodes(size)
        notes: list = []
        kept, seconds = timed(drop_duplicate_episodes, episodes, notes)
        rows[size] = {"seconds": round(seconds, 3), "kept": len(kept), "duplicates": len(notes)}
    base = rows[sizes[0]]["seconds"] / sizes[0]
    for size in sizes:
        rows[size]["per_episode_vs_smallest"] = round(rows[size]["seconds"] / size / max(base, 1e-12), 2)
    return rows


def search_latencies(searcher: Searcher, questions: list[tuple[str, str]], rounds: int = 3) -> list[float]:
    searcher.search("warm up", k=10)
    latencies = []
    for _ in range(rounds):
        for question, context in questions:
            _, seconds = timed(searcher.search, question, 10, context=context)
            latencies.append(seconds * 1000)
    return latencies


def bench_full_index(corpus: str, index_dir: str, questions: list[tuple[str, str]]) -> dict:
    index, load_s = timed(load_index, index_dir)
    embedder = query_embedder(index, Config(index_dir=Path(index_dir)))
    after_model = memory_mb()[0]
    report, reingest_s = timed(ingest, [corpus], index_dir, embedder)
    # Baselines in the same process: a dense-only search (query embedding + one FAISS
    # scan) and the hybrid search without locating the moment in each hit.
    latencies = search_latencies(Searcher(index, embedder), questions)
    dense = search_latencies(Searcher(index, embedder, mode="dense", locate=False), questions)
    unlocated = search_latencies(Searcher(index, embedder, locate=False), questions)
    libraries_mb, index_mb = index_memory_mb(index_dir)
    return {
        "passages": len(index.passages),
        "index_load_s": round(load_s, 2),
        "rss_libraries_mb": round(libraries_mb, 1),
        "rss_index_mb": round(index_mb, 1),
        "rss_total_mb": round(after_model, 1),
        "unchanged_full_reingest_s": round(reingest_s, 2),
        "unchanged_full_reingest_up_to_date": report.up_to_date,
        "search_ms_p50": round(percentile(latencies, 50), 2),
        "search_ms_p95": round(percentile(latencies, 95), 2),
        "searches": len(latencies),
        "dense_only_ms_p50": round(percentile(dense, 50), 2),
        "search_vs_dense_only": round(percentile(latencies, 50) / max(percentile(dense, 50), 1e-9), 2),
        "without_locating_ms_p50": round(percentile(unlocated, 50), 2),
        "search_vs_without_locating": round(percentile(latencies, 50) / max(percentile(unlocated, 50), 1e-9), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="../shared/corpus")
    parser.add_argument("--index", default="indexes/dtc", help="full-corpus index for parts 3 (skipped if missing)")
    parser.add_argument("--sample", type=int, default=1000, help="passages for the throughput comparison")
    parser.add_argument("--slice-episodes", type=int, default=10)
    parser.add_argument("--quantize", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--questions", default=str(DEV_QUESTIONS))
    parser.add_argument("--workers", type=int, default=2, help="embedding processes for part 3, against 1")
    parser.add_argument("--parts", default="embedding,slice,workers,full,relevance,dedup",
                        help="which parts to run, comma-separated (embedding, slice, workers, full, relevance, dedup)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))

    import torch

    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f} at start",
    }
    if "embedding" in parts:
        results["embedding"] = bench_embedding(args.corpus, args.sample, args.quantize)
    if "slice" in parts:
        results["ingest_slice"] = bench_ingest_slice(args.corpus, args.slice_episodes, args.quantize)
    if "workers" in parts:
        results["ingest_workers"] = bench_workers(args.corpus, args.slice_episodes, args.quantize, args.workers)
    if "full" in parts and Path(args.index, "manifest.json").exists():
        questions = (
            [(q.question, q.context) for q in load_questions([args.questions])]
            if Path(args.questions).exists() else [("data engineering", "")]
        )
        results["full_index"] = bench_full_index(args.corpus, args.index, questions)
    if "dedup" in parts:
        results["dedup"] = bench_dedup()
    if "relevance" in parts and Path(args.index, "manifest.json").exists():
        questions = (
            [(q.question, q.context) for q in load_questions([args.questions])]
            if Path(args.questions).exists() else [("data engineering", "")]
        )
        relevance = bench_relevance(args.index, questions)
        if relevance:
            results["relevance"] = relevance
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    if "ingest_slice" in results and "embedding" in results:
        slice_, embedding = results["ingest_slice"], results["embedding"]
        # Everything but embedding (parsing, chunking, cache, FAISS and BM25 build, writing),
        # as a share of the time the embedder alone needs for the same passages.
        slice_["cold_ingest_vs_embedding_alone"] = round(
            slice_["cold_ingest_s"] / (slice_["passages"] / embedding["ours_per_s"]), 2)
    if args.json:
        print(json.dumps(results))
        return 0
    print_report(results)
    return 0


def print_report(results: dict) -> None:
    print(f"machine: {results['machine']}")
    if "embedding" in results:
        e = results["embedding"]
        print(f"\nembedding {e['passages']} passages ({e['model']}):")
        print(f"  bare fp32 SentenceTransformer.encode  {e['baseline_fp32_encode_per_s']:>7} passages/s")
        print(f"  ours                                  {e['ours_per_s']:>7} passages/s  ratio {e['ratio']}x")
        print(f"  cosine to fp32: mean {e['cosine_mean']}, min {e['cosine_min']}")
    if "ingest_slice" in results:
        s = results["ingest_slice"]
        print(f"\ningest of {s['episodes']} episodes ({s['passages']} passages), empty cache:")
        print(f"  cold {s['cold_ingest_s']} s ({s['cold_ingest_passages_per_s']} passages/s, all stages)")
        if "cold_ingest_vs_embedding_alone" in s:
            print(f"  = {s['cold_ingest_vs_embedding_alone']}x the time the embedder alone takes for those passages")
        print(f"  unchanged re-ingest {s['unchanged_reingest_s']} s; one new episode {s['one_new_episode_s']} s "
              f"({s['one_new_episode_embedded']} passages embedded)")
    if "ingest_workers" in results:
        w = results["ingest_workers"]
        n = w["workers"]
        print(f"\ningest of {w['episodes']} episodes ({w['passages']} passages), empty cache, "
              f"--workers {n} ({w['threads_per_worker']} thread(s) each) vs --workers 1:")
        print(f"  --workers 1  {w['workers_1_s']} s")
        print(f"  --workers {n}  {w[f'workers_{n}_s']} s  ratio {w['ratio']}x (best run of each)")
        print(f"  vectors of the two: cosine min {w['cosine_min']}")
    if "full_index" in results:
        f = results["full_index"]
        print(f"\nfull index ({f['passages']} passages): load {f['index_load_s']} s; peak RSS of a fresh process: "
              f"{f['rss_libraries_mb']} MB with the libraries, +{f['rss_index_mb']} MB with the index loaded; "
              f"this process with both models {f['rss_total_mb']} MB")
        print(f"  unchanged full re-ingest {f['unchanged_full_reingest_s']} s (up to date: {f['unchanged_full_reingest_up_to_date']})")
        print(f"  search p50 {f['search_ms_p50']} ms (target <= 25), p95 {f['search_ms_p95']} ms over {f['searches']} searches")
        print(f"  = {f['search_vs_dense_only']}x a dense-only search (p50 {f['dense_only_ms_p50']} ms), "
              f"{f['search_vs_without_locating']}x hybrid without locating the moment (p50 {f['without_locating_ms_p50']} ms)")
    if "relevance" in results:
        r = results["relevance"]
        print(f"\nrelevance model ({r['model']}; trained in {r['training_minutes_recorded']} min, "
              f"{r['training_steps']} steps, as `rag tune` recorded it):")
        print(f"  search p50 {r['tuned_ms_p50']} ms (target <= 60), p95 {r['tuned_ms_p95']} ms = "
              f"{r['tuned_vs_untuned_p50']}x the same search without it (p50 {r['untuned_ms_p50']} ms; target <= 2x)")
        print(f"  serving process peak RSS {r['serving_rss_mb']} MB without it, +{r['model_rss_mb']} MB with it "
              f"(target <= +300 MB)")
    if "dedup" in results:
        print("\nduplicate pass of ingest over synthetic libraries (every tenth episode a copy):")
        for size, row in results["dedup"].items():
            print(f"  {size:>5} episodes: {row['seconds']:>7} s, {row['duplicates']} duplicates; "
                  f"time per episode {row['per_episode_vs_smallest']}x the smallest library's")
    print(f"\nload average at end: {results['load_average_at_end']}")


if __name__ == "__main__":
    sys.exit(main())
