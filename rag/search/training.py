"""Training the relevance model: listwise groups of windows around each mined answer,
a cross-encoder trained from the packaged MiniLM weights, its int8 export, and
validation on the held-back episodes' pairs."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rag.index.files import Index
from rag.index.lexical import LexicalIndex
from rag.search.locate import line_scores, question_terms
from rag.search.pairs import Pair, SpokenLine
from rag.search.relevance import (
    MAX_TOKENS,
    MODEL_FILE,
    QUESTION_TOKENS,
    window_text,
)

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MIN_TRAINING_PAIRS = 200  # fewer question/answer turns than this teach noise, not the podcast


@dataclass(frozen=True)
class TuneSettings:
    seed: int = 0
    epochs: int = 1
    batch_groups: int = 8
    learning_rate: float = 5e-5
    max_steps: int | None = None  # None: every group once per epoch
    max_pairs: int | None = None  # training pairs used (None: all)
    min_pairs: int = MIN_TRAINING_PAIRS  # fewer question pairs than this: no training

NEGATIVES = 4  # per group: 2 near, 1 far, 1 other episode (fewer near ones when there are none)

NEAR_S = (10, 90)

FAR_S = 300

VALIDATION_RADIUS_S = 300  # validation ranks the windows that start this close to the answer


LANDS_BEFORE_S, LANDS_AFTER_S = 60, 10  # the eval README's lands rule, applied to pairs


@dataclass(frozen=True)
class Group:
    question: str
    windows: tuple[str, ...]  # the positive first


def labelled(lines: Sequence[SpokenLine]) -> list[tuple[str, str]]:
    return [(line.speaker, line.text) for line in lines]


def question_line(lines: Sequence[SpokenLine], pair: Pair) -> int:
    """The first line of the turn that asks `pair`'s question (its answer line for a chapter)."""
    if pair.kind == "chapter":
        return pair.answer_line
    start = pair.answer_line - 1
    asker = lines[start].speaker
    while start > 0 and asker and lines[start - 1].speaker == asker:
        start -= 1
    return max(start, 0)


def near_starts(lines: Sequence[SpokenLine], pair: Pair) -> tuple[list[int], list[int]]:
    """Lines starting 10-90 s before (and before the question) / after the answer's start."""
    low, high = NEAR_S
    asked = question_line(lines, pair)
    before = [i for i in range(asked) if low <= pair.answer_sec - lines[i].sec <= high]
    after = [i for i in range(pair.answer_line + 1, len(lines)) if low <= lines[i].sec - pair.answer_sec <= high]
    return before, after


def build_groups(
    pairs: Sequence[Pair],
    lines: dict[str, list[SpokenLine]],
    other_episode_window: Callable[[Pair], str | None],
    seed: int = 0,
) -> list[Group]:
    """One `Group` per pair (see the module docstring); deterministic for a seed."""
    rng = random.Random(seed)
    groups = []
    for pair in pairs:
        episode = lines[pair.episode_id]
        text = labelled(episode)
        positive = window_text(text, pair.answer_line)
        before, after = near_starts(episode, pair)
        asked = question_line(episode, pair)
        negatives: list[str] = []
        for side in (before, after):
            if side:
                start = rng.choice(side)
                # A window before the answer stops where the question starts.
                negatives.append(window_text(text[:asked] if side is before else text, start))
        far = [i for i, line in enumerate(episode) if abs(line.sec - pair.answer_sec) >= FAR_S]
        other = other_episode_window(pair)
        if other:
            negatives.append(other)
        while len(negatives) < NEGATIVES and far:
            negatives.append(window_text(text, rng.choice(far)))
        negatives = [n for n in dict.fromkeys(negatives) if n and n != positive]
        if negatives:
            groups.append(Group(pair.question, (positive, *negatives[:NEGATIVES])))
    return groups


def lexical_other_window(index: Index) -> Callable[[Pair], str | None]:
    """For a pair, the window at the best-matching line of the best BM25 passage from
    another episode: retrieval's hard negative."""
    store = index.passages

    def find(pair: Pair) -> str | None:
        scores = index.lexical.scores(pair.question)
        top = np.argsort(-scores)[:20]
        for position in top:
            if scores[position] <= 0:
                return None
            if store.episode_id(int(position)) == pair.episode_id:
                continue
            pieces = store[int(position)].spoken_lines()
            weights = question_terms(index.lexical, pair.question)
            line_score = line_scores(weights, LexicalIndex.tokenize([words for _, words in pieces]))
            best = max(range(len(pieces)), key=lambda i: (line_score[i], -i))
            return window_text(pieces, best)
        return None

    return find


def train_cross_encoder(groups: Sequence[Group], settings: TuneSettings, out_dir: Path,
                        show_progress: bool = False) -> int:
    """Fine-tune the packaged MiniLM as a cross-encoder on `groups`; save it (transformers
    format) to `out_dir`. Returns the number of optimizer steps."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers import logging as hf_logging

    from rag.index.embedding.base import resolve_model_path

    hf_logging.set_verbosity_error()  # the new head's "newly initialized" report is expected
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    base = resolve_model_path(BASE_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    order = list(range(len(groups)))
    batches: list[list[int]] = []
    for epoch in range(settings.epochs):
        random.Random(settings.seed + epoch).shuffle(order)
        batches += [order[i : i + settings.batch_groups] for i in range(0, len(order), settings.batch_groups)]
    if settings.max_steps is not None:
        batches = batches[: settings.max_steps]
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    warmup = max(1, len(batches) // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (len(batches) - step) / max(1, len(batches) - warmup)))
    )
    model.train()
    progress = tqdm(batches, desc="training", unit="step", disable=not show_progress)
    for batch in progress:
        questions = [_clip_question(tokenizer, groups[g].question) for g in batch for _ in groups[g].windows]
        windows = [w for g in batch for w in groups[g].windows]
        encoded = tokenizer(questions, windows, truncation="only_second", max_length=MAX_TOKENS,
                            padding=True, return_tensors="pt")
        logits = model(**encoded).logits.view(-1)
        loss = torch.zeros(())
        offset = 0
        for g in batch:
            size = len(groups[g].windows)
            loss = loss + torch.nn.functional.cross_entropy(logits[offset : offset + size][None, :],
                                                            torch.zeros(1, dtype=torch.long))
            offset += size
        loss = loss / len(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        progress.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return len(batches)


def _clip_question(tokenizer: Any, question: str) -> str:
    ids = tokenizer(question, add_special_tokens=False)["input_ids"][:QUESTION_TOKENS]
    return tokenizer.decode(ids)


def export_int8(trained_dir: Path, out_dir: Path) -> None:
    """The trained cross-encoder as int8 ONNX (MatMul weights per channel), with its tokenizer."""
    import warnings

    import torch
    from transformers import AutoModelForSequenceClassification

    from rag.index.embedding.onnx_int8 import _quantize_int8

    model = AutoModelForSequenceClassification.from_pretrained(trained_dir, attn_implementation="eager").eval()

    class _Scorer(torch.nn.Module):
        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.classifier(input_ids=input_ids, attention_mask=attention_mask,
                                   token_type_ids=token_type_ids).logits

    wrapper = _Scorer(model).eval()
    dummy = (torch.tensor([[101, 7592, 102, 2088, 102]]), torch.ones(1, 5, dtype=torch.long),
             torch.tensor([[0, 0, 0, 1, 1]]))
    fp32 = out_dir / "model-fp32.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(wrapper, dummy, str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["score"], opset_version=17, do_constant_folding=True, dynamo=False,
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")})
    _quantize_int8(str(fp32), str(out_dir / MODEL_FILE))  # the embedder's recipe: per-channel MatMul weights
    fp32.unlink()
    shutil.copy(trained_dir / "tokenizer.json", out_dir / "tokenizer.json")


def validation_candidates(lines: Sequence[SpokenLine], pair: Pair) -> list[int]:
    """Lines whose windows validation ranks for `pair`: those starting within
    `VALIDATION_RADIUS_S` of the answer's start, the question's own turn left out
    (its words are the query)."""
    asked = question_line(lines, pair)
    return [i for i, line in enumerate(lines)
            if abs(line.sec - pair.answer_sec) <= VALIDATION_RADIUS_S and not asked <= i < pair.answer_line]


def validate(
    score_windows: Callable[[str, list[str]], np.ndarray],
    pairs: Sequence[Pair],
    lines: dict[str, list[SpokenLine]],
    answer_starts: dict[str, set[int]],
) -> dict[str, float]:
    """How a scorer ranks the windows near each pair's answer: MRR of the answer's own
    window, the share whose top window lands (opens 60 s before to 10 s after the
    answer) and the share whose top window starts where some answer starts (the
    mechanism: does it find answer starts, or just the topic?)."""
    reciprocal, lands, at_start = [], [], []
    for pair in pairs:
        episode = lines[pair.episode_id]
        text = labelled(episode)
        candidates = validation_candidates(episode, pair)
        if pair.answer_line not in candidates:
            continue
        scores = np.asarray(score_windows(pair.question, [window_text(text, i) for i in candidates]), dtype=np.float64)
        order = sorted(range(len(candidates)), key=lambda k: (-scores[k], candidates[k]))
        rank = next(r for r, k in enumerate(order, 1) if candidates[k] == pair.answer_line)
        top = candidates[order[0]]
        reciprocal.append(1.0 / rank if rank <= 10 else 0.0)
        lands.append(float(-LANDS_BEFORE_S <= episode[top].sec - pair.answer_sec <= LANDS_AFTER_S))
        at_start.append(float(top in answer_starts.get(pair.episode_id, set())))
    n = len(reciprocal)
    return {"pairs": float(n), "mrr@10": float(np.mean(reciprocal)) if n else 0.0,
            "lands@1": float(np.mean(lands)) if n else 0.0, "starts_at_answer": float(np.mean(at_start)) if n else 0.0}


def lexical_scorer(index: Index) -> Callable[[str, list[str]], np.ndarray]:
    """Today's untuned locator as a window scorer: the IDF-weighted share of the
    question's terms in each window's first line (`rag.search.locate`)."""

    def score(question: str, windows: list[str]) -> np.ndarray:
        weights = question_terms(index.lexical, question)
        first_lines = [w.split("\n", 1)[0].partition(": ")[2] or w.split("\n", 1)[0] for w in windows]
        return np.asarray(line_scores(weights, LexicalIndex.tokenize(first_lines)))

    return score


def dense_scorer(embedder: Any) -> Callable[[str, list[str]], np.ndarray]:
    """The untuned bi-encoder as a window scorer: cosine of question and window."""

    def score(question: str, windows: list[str]) -> np.ndarray:
        return embedder.embed(windows) @ embedder.embed_queries([question])[0]

    return score
