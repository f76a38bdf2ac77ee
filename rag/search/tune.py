"""`rag tune`: train the relevance model (`rag.search.relevance`) on an index's own transcripts.

    report = tune_index(Path("indexes/dtc"))      # mine, train, export int8, validate, record
    print(report.summary())

1. **Mine** question/answer pairs from the indexed episodes (`rag.search.pairs`), split by
   episode into training and validation parts.
2. **Groups**: each training pair's question with the window where its answer starts
   (the positive) and `NEGATIVES` windows that are not it:
   - near: the same episode, starting 10-90 s before (cut before the question is
     asked, so that the question's own words never teach "not this") or after the
     answer's start: these teach *where* an answer starts;
   - far: the same episode, at least 300 s away: the rest of the conversation;
   - other: the best BM25 passage of another episode: the same words, another story.
3. **Train** a cross-encoder from the packaged all-MiniLM-L6-v2 weights with a listwise
   loss (softmax over each group, the positive first), one epoch, seeded.
4. **Export** it to int8 ONNX, **validate** it on the held-back episodes' pairs (answer
   start among the windows near it, beside the untuned lexical and dense choices), and
   record it in the index manifest.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.atomic import atomic_write
from rag.errors import RagError
from rag.index.files import MANIFEST, Index, load_index, lock_index, read_manifest
from rag.search.pairs import Pair, SpokenLine, mine_store, split_by_episode
from rag.search.relevance import META_FILE, RECIPE, ModelInfo, OnnxRelevanceModel, install_model, model_id, models_dir
from rag.search.training import (
    BASE_MODEL,
    TuneSettings,
    build_groups,
    dense_scorer,
    export_int8,
    lexical_other_window,
    lexical_scorer,
    train_cross_encoder,
    validate,
)


class TuneError(RagError):
    """Training cannot start or finish (too few pairs, no index)."""




@dataclass
class TuneReport:
    pairs: dict[str, int] = field(default_factory=dict)
    training_pairs: int = 0
    validation_pairs: int = 0
    steps: int = 0
    seconds: float = 0.0
    validation: dict[str, dict[str, float]] = field(default_factory=dict)
    model_path: Path | None = None

    def summary(self) -> str:
        mined = ", ".join(f"{n} {kind}" for kind, n in sorted(self.pairs.items()))
        lines = [
            f"mined {sum(self.pairs.values())} pairs ({mined}); {self.training_pairs} for training, "
            f"{self.validation_pairs} held back (other episodes)",
            f"trained {self.steps} steps in {self.seconds / 60:.1f} min",
        ]
        for name, figures in self.validation.items():
            lines.append(f"validation, {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
        if self.model_path:
            lines.append(f"model: {self.model_path}")
        return "\n".join(lines)


def tune_index(index_dir: Path, settings: TuneSettings = TuneSettings(), *, embedder: Any = None,
               show_progress: bool = False, on_progress: Callable[[str], None] = lambda _: None) -> TuneReport:
    """Mine, train, export, validate and record a relevance model for the index at
    `index_dir` (see the module docstring). `embedder`, when given, adds the untuned
    dense scorer to the validation figures."""
    index = load_index(index_dir)
    report = TuneReport()
    lines, pairs = mine_store(index.passages)
    for pair in pairs:
        report.pairs[pair.kind] = report.pairs.get(pair.kind, 0) + 1
    training, validation = split_by_episode(pairs, seed=settings.seed)
    if settings.max_pairs is not None:
        training = training[: settings.max_pairs]
    report.training_pairs, report.validation_pairs = len(training), len(validation)
    questions = [p for p in training if p.kind != "chapter"]
    if len(questions) < settings.min_pairs:
        raise TuneError(
            f"{index_dir}: {len(questions)} question/answer pairs for training ({_kinds(pairs)} mined), "
            f"fewer than the {settings.min_pairs} needed to learn from; search keeps its untuned ranking"
        )
    on_progress(f"building {len(training)} training groups")
    groups = build_groups(training, lines, lexical_other_window(index), seed=settings.seed)
    manifest = read_manifest(index_dir)
    target = models_dir(index_dir) / f"relevance-{model_id(str(manifest.get('corpus_fingerprint', '')), settings.seed, BASE_MODEL)}"
    building = target.with_name(f".{target.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    (building / "trained").mkdir(parents=True)
    started = time.perf_counter()
    on_progress(f"training on {len(groups)} groups (one epoch; the bar counts steps)")
    report.steps = train_cross_encoder(groups, settings, building / "trained", show_progress=show_progress)
    report.seconds = time.perf_counter() - started
    on_progress("exporting the int8 model")
    export_int8(building / "trained", building)
    shutil.rmtree(building / "trained")

    on_progress(f"validating on {len(validation)} pairs of held-back episodes")
    report.validation = _validation(OnnxRelevanceModel(building), index, pairs, validation, lines, embedder)

    meta = {
        "recipe": RECIPE,
        "base_model": BASE_MODEL,
        "pairs": len(training),
        "seed": settings.seed,
        "steps": report.steps,
        "training_minutes": round(report.seconds / 60, 1),
        "corpus_fingerprint": manifest.get("corpus_fingerprint", ""),
        "episodes": sorted(lines),
        "validation": {name: {k: round(v, 4) for k, v in figures.items()} for name, figures in report.validation.items()},
    }
    (building / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    install_model(building, target)
    report.model_path = target
    record_model(index_dir, target)
    return report


def _validation(tuned: OnnxRelevanceModel, index: Index, pairs: Sequence[Pair], validation: Sequence[Pair],
                lines: dict[str, list[SpokenLine]], embedder: Any) -> dict[str, dict[str, float]]:
    """The tuned model against the untuned scorers on the held-back episodes' questions.
    A window counts as an answer start when any mined pair's answer starts there."""
    starts: dict[str, set[int]] = {}
    for pair in pairs:
        if pair.kind != "chapter":
            starts.setdefault(pair.episode_id, set()).add(pair.answer_line)
    held = [p for p in validation if p.kind != "chapter"]
    figures = {"tuned": validate(tuned.score, held, lines, starts),
               "lexical (untuned)": validate(lexical_scorer(index), held, lines, starts)}
    if embedder is not None:
        figures["dense (untuned)"] = validate(dense_scorer(embedder), held, lines, starts)
    return figures


def _kinds(pairs: Sequence[Pair]) -> str:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair.kind] = counts.get(pair.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"


def record_model(index_dir: Path, model_path: Path) -> None:
    """Name the model in the index's manifest (rewritten atomically, under the index lock)."""
    from rag.search.relevance import read_model_info

    info: ModelInfo = read_model_info(model_path)
    with lock_index(index_dir, f"rag tune --index {index_dir}"):
        manifest = read_manifest(index_dir)
        manifest["relevance"] = info.manifest_entry(Path(index_dir).resolve())
        with atomic_write(Path(index_dir) / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
