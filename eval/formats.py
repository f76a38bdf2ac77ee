"""Retrieval on DTC episodes converted to other transcript formats, against the front-matter originals.

    python eval/formats.py --questions ../shared/eval/dev-questions.jsonl --corpus ../shared/corpus [--episodes N] [--json]

Takes every episode an answerable question points at (or the `--episodes` N that the
most questions point at, ties by id), writes each in every format of
`rag.sources.formats.convert` (transcript + `NAME.yaml` sidecar with title, url, guests,
season, date, description and the section headers as `chapters:`, left out with
`--without-chapters`), ingests the originals (with `people/`) and each format into its
own index of only those episodes, and searches the questions whose gold lies in them.
Prints hit@5, MRR@10 and lands@5 per format and the difference from the original in
questions: hit@5 and lands@5 counts with a paired bootstrap 95% interval, how many
questions changed outcome either way, and which. `--index DIR` keeps the corpora and
indexes there (default: a temporary folder, removed at the end).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from rag.config import load_config
from rag.errors import RagError
from rag.evaluation import (
    Question,
    Result,
    Scored,
    bootstrap_interval,
    eval_parser,
    load_questions,
    retrieval_metrics,
    score_results,
    write_json_atomic,
)
from rag.index.build import ingest
from rag.index.embedding import Embedder
from rag.index.files import load_index
from rag.pipeline import ingest_embedder
from rag.search.searcher import Searcher
from rag.sources.formats.convert import WRITERS, converted_files
from rag.sources.formats.dtc import episode_id_from_path
from rag.sources.load import load_corpus

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ORIGINAL = "original"


@dataclass(frozen=True)
class FormatScore:
    """One variant's retrieval over the chosen questions, and how it differs from the original."""

    name: str  # "original" or a `WRITERS` key
    passages: int
    hit5: int  # questions with a hit in the top 5
    lands5: int  # questions with a landing link in the top 5
    mrr10: float
    changed: int  # questions whose hit@5 or lands@5 differs from the original's
    # Paired bootstrap 95% intervals of the difference from the original, in questions.
    hit5_delta_interval: tuple[int, int] = (0, 0)
    lands5_delta_interval: tuple[int, int] = (0, 0)
    lands5_lost: tuple[str, ...] = ()  # question ids landing in the original's top 5 and not in this one's
    lands5_gained: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    episodes: tuple[str, ...]
    questions: tuple[str, ...]  # ids
    rows: tuple[FormatScore, ...]  # the original first

    def row(self, name: str) -> FormatScore:
        return next(r for r in self.rows if r.name == name)


def pick_episodes(questions: Sequence[Question], available: set[str], n: int | None = None) -> list[str]:
    """The episodes of `available` that answerable questions point at, most questions
    first (ties by id); only the first `n` when given.

    >>> from rag.evaluation import Gold
    >>> qs = [Question(str(i), "?", "fact", (), (Gold(e, 0, 1),)) for i, e in enumerate("abbcc")]
    >>> pick_episodes(qs, {"a", "b", "c"}, 2), pick_episodes(qs, {"a", "b", "c", "d"})
    (['b', 'c'], ['b', 'c', 'a'])
    """
    counts = Counter(episode for q in questions for episode in {g.episode for g in q.gold} if episode in available)
    return sorted(counts, key=lambda e: (-counts[e], e))[:n]


def questions_on(questions: Sequence[Question], episodes: Sequence[str]) -> list[Question]:
    """The answerable questions with a gold location in `episodes`."""
    wanted = set(episodes)
    return [q for q in questions if any(g.episode in wanted for g in q.gold)]


def write_variants(corpus: Path, episodes: Sequence[str], work: Path, formats: Sequence[str],
                   chapters: bool = True) -> dict[str, Path]:
    """Variant name -> its corpus folder: the originals (`podcast/` + `people/`), then one
    folder per format with each episode's transcript and sidecar (with the section
    headers as `chapters:` unless not `chapters`)."""
    original = work / ORIGINAL
    (original / "podcast").mkdir(parents=True)
    for episode in episodes:
        shutil.copy(corpus / "podcast" / f"{episode}.md", original / "podcast")
    if (corpus / "people").is_dir():
        shutil.copytree(corpus / "people", original / "people")
    folders = {ORIGINAL: original}
    loaded = load_corpus([original]).episodes
    for kind in formats:
        folders[kind] = work / kind
        folders[kind].mkdir()
        for episode in loaded:
            for name, text in converted_files(episode, kind, chapters=chapters).items():
                (folders[kind] / name).write_text(text, encoding="utf-8")
    return folders


def score_index(index_dir: Path, embedder: Embedder, questions: Sequence[Question]) -> tuple[int, dict[str, Scored]]:
    """(passages, each question's first hit and landing ranks in the top 10)."""
    searcher = Searcher(load_index(index_dir), embedder)
    scored = {}
    for question in questions:
        hits = searcher.search(question.question, k=10, context=question.context)
        results = [Result(h.passage.episode_id, h.passage.start_s, h.passage.end_s, h.link_sec) for h in hits]
        scored[question.id] = score_results(question, results)
    return len(searcher.index.passages), scored


def _within(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def _format_score(name: str, passages: int, scored: dict[str, Scored], baseline: dict[str, Scored]) -> FormatScore:
    outcome = {q: (_within(s.hit_rank, 5), _within(s.landing_rank, 5)) for q, s in scored.items()}
    base = {q: (_within(s.hit_rank, 5), _within(s.landing_rank, 5)) for q, s in baseline.items()}
    return FormatScore(
        name=name,
        passages=passages,
        hit5=sum(hit for hit, _ in outcome.values()),
        lands5=sum(lands for _, lands in outcome.values()),
        mrr10=float(retrieval_metrics(list(scored.values()))["mrr@10"] or 0.0),
        changed=sum(outcome[q] != base[q] for q in outcome),
        hit5_delta_interval=delta_interval([outcome[q][0] - base[q][0] for q in outcome]),
        lands5_delta_interval=delta_interval([outcome[q][1] - base[q][1] for q in outcome]),
        lands5_lost=tuple(q for q in outcome if base[q][1] and not outcome[q][1]),
        lands5_gained=tuple(q for q in outcome if outcome[q][1] and not base[q][1]),
    )


def delta_interval(differences: Sequence[int]) -> tuple[int, int]:
    """Paired bootstrap 95% interval of a sum of per-question differences (each -1, 0 or
    +1: this variant against the original on the same question), in questions.

    >>> delta_interval([0] * 30), delta_interval([-1] * 3 + [0] * 27)
    ((0, 0), (-6, 0))
    """
    low, high = bootstrap_interval(differences)
    return round(low * len(differences)), round(high * len(differences))


def compare_formats(
    corpus: Path, questions: Sequence[Question], embedder: Embedder, work: Path, *,
    n_episodes: int | None = None, formats: Sequence[str] = tuple(WRITERS), chapters: bool = True,
    show_progress: bool = False,
) -> Comparison:
    """Ingest the chosen episodes as they are and in each of `formats` (under `work`) and
    score the questions on them. Raises `RagError` when no question points at an episode
    of `corpus`."""
    available = {episode_id_from_path(p) for p in (corpus / "podcast").glob("*.md")}
    episodes = pick_episodes(questions, available, n_episodes)
    chosen = questions_on(questions, episodes)
    if not chosen:
        raise RagError(f"{corpus}: no question has its gold in an episode of {corpus / 'podcast'}")
    folders = write_variants(corpus, episodes, work, formats, chapters)
    scores: dict[str, tuple[int, dict[str, Scored]]] = {}
    for name, folder in tqdm(folders.items(), desc="variants", disable=not show_progress):
        index_dir = work / "indexes" / name
        ingest([folder], index_dir, embedder, cache_dir=work / "cache")
        scores[name] = score_index(index_dir, embedder, chosen)
    baseline = scores[ORIGINAL][1]
    rows = tuple(_format_score(name, passages, scored, baseline) for name, (passages, scored) in scores.items())
    return Comparison(tuple(episodes), tuple(q.id for q in chosen), rows)


def print_table(comparison: Comparison, header: dict) -> None:
    n = len(comparison.questions)
    chapters = "with the section headers as sidecar chapters" if header["chapters"] else "without chapters"
    print(f"episodes: {len(comparison.episodes)} (those the questions point at), converted {chapters}; "
          f"questions: {n} answerable")
    print(f"model: {header['model']}  machine: {header['machine']}")
    print()
    print(f"{'format':<10} {'passages':>8} {'hit@5':>6} {'MRR@10':>7} {'lands@5':>7}  "
          f"{'Δ hit@5':>13} {'Δ lands@5':>13} {'changed':>7}")
    original = comparison.row(ORIGINAL)
    for row in comparison.rows:
        print(f"{row.name:<10} {row.passages:>8} {row.hit5 / n:>6.3f} {row.mrr10:>7.3f} {row.lands5 / n:>7.3f}  "
              f"{_delta(row.hit5 - original.hit5, row.hit5_delta_interval):>13} "
              f"{_delta(row.lands5 - original.lands5, row.lands5_delta_interval):>13} {row.changed:>7d}")
    print()
    print("Δ: questions gained (+) or lost (-) against the front-matter original [paired bootstrap 95%]; "
          "changed: questions whose hit@5 or lands@5 differs either way")
    for row in comparison.rows[1:]:
        if row.lands5_lost or row.lands5_gained:
            print(f"{row.name}: lands@5 lost {' '.join(row.lands5_lost) or '-'}; gained {' '.join(row.lands5_gained) or '-'}")


def _delta(difference: int, interval: tuple[int, int]) -> str:
    return f"{difference:+d} [{interval[0]:+d}, {interval[1]:+d}]"


def main(argv: list[str] | None = None) -> int:
    parser = eval_parser(__doc__, index_help="a new folder to keep the corpora and indexes in [a temporary one, removed]")
    parser.add_argument("--corpus", required=True, help="a DTC corpus folder (podcast/ + people/)")
    parser.add_argument("--episodes", type=int,
                        help="convert only the N episodes most questions point at [every one a question points at]")
    parser.add_argument("--model", help="embedding model [the configured one, as `rag ingest` uses]")
    parser.add_argument("--formats", nargs="+", default=list(WRITERS), choices=list(WRITERS))
    parser.add_argument("--without-chapters", action="store_true",
                        help="leave the section headers out of the sidecars (as a podcast without chapters)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--out", help="also write the JSON object to this file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        parser.error(f"--episodes must be at least 1, got {args.episodes}")

    if args.index and Path(args.index).exists() and any(Path(args.index).iterdir()):
        parser.error(f"--index {args.index}: not empty; give a new folder")
    work = Path(args.index) if args.index else Path(tempfile.mkdtemp(prefix="formats-eval-"))
    try:
        embedder = ingest_embedder(load_config().with_overrides(model=args.model), show_progress=not args.quiet)
        comparison = compare_formats(Path(args.corpus), load_questions(args.questions), embedder, work,
                                     n_episodes=args.episodes, formats=args.formats,
                                     chapters=not args.without_chapters, show_progress=not args.quiet)
    except (RagError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.index:
            shutil.rmtree(work, ignore_errors=True)
    header = {"model": embedder.model_id, "chapters": not args.without_chapters,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    report = {**asdict(comparison), **header}
    if args.out:
        write_json_atomic(args.out, report)
    if args.json:
        print(json.dumps(report))
    else:
        print_table(comparison, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
