"""A relevance model trained on the podcast itself: (question, window of talk) -> score.

A cross-encoder reads the question together with a short window of transcript that
starts at one line, and scores how well that window *begins* the answer. It is
trained by `rag tune` (`rag.search.tune`) from the packaged all-MiniLM-L6-v2 weights on the
interviewers' own questions and the lines where their answers start (`rag.search.pairs`),
and runs as an int8 ONNX model at search time.

    model = load_relevance_model(index)          # None when the index has none (a note says why)
    model.score("what is a bloom filter for?", ["Ann: A Bloom filter tells you ...", ...])

On disk it is a folder (written whole, then renamed into place), beside the index:

    DIR/../models/relevance-<id>/
        model-qint8.onnx    the int8 export served
        tokenizer.json
        relevance.json      recipe, base model, pair count, seed, corpus fingerprint,
                            episode ids trained on, validation figures

and the index's manifest names it under `relevance`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from rag.errors import RagError

RECIPE = "ce-v1"  # bump when windows, inputs or the export change: older models are then not used
WINDOW_WORDS = 48  # about 20 s of talk: enough to tell an answer's start from the middle of a story
MAX_TOKENS = 96  # question + window word pieces; the question keeps at most QUESTION_TOKENS of them
QUESTION_TOKENS = 32
# A model serves an index whose episodes it mostly saw; a library grown past that
# deserves a model that read the new shows (`rag tune` again).
MIN_EPISODE_OVERLAP = 0.8
MODEL_FILE = "model-qint8.onnx"
META_FILE = "relevance.json"


class RelevanceModel(Protocol):
    """Scores windows of talk for a question; higher is more relevant. One float per window."""

    def score(self, question: str, windows: Sequence[str]) -> np.ndarray: ...


def window_text(lines: Sequence[tuple[str, str]], start: int, max_words: int = WINDOW_WORDS) -> str:
    """The talk that starts at line `start`: "Speaker: words" lines (a line without a
    speaker has no label) up to `max_words` words in all.

    >>> lines = [("Ann", "So what is it?"), ("Bob", "It is a filter for sets."), ("", "Yes.")]
    >>> window_text(lines, 1, 4), window_text(lines, 1, 7)
    ('Bob: It is a filter', 'Bob: It is a filter for sets.\\nYes.')
    """
    parts: list[str] = []
    left = max_words
    for speaker, text in lines[start:]:
        words = text.split()[:left]
        if not words:
            continue
        parts.append(f"{speaker}: {' '.join(words)}" if speaker else " ".join(words))
        left -= len(words)
        if left <= 0:
            break
    return "\n".join(parts)


@dataclass(frozen=True)
class ModelInfo:
    """What `relevance.json` says of a trained model."""

    path: Path
    recipe: str
    base_model: str
    pairs: int
    seed: int
    corpus_fingerprint: str
    episodes: tuple[str, ...]
    validation: Mapping[str, Any]

    def manifest_entry(self, index_dir: Path) -> dict[str, Any]:
        """What the index manifest records: where the model is, and what it is."""
        return {
            "path": os.path.relpath(self.path, index_dir),
            "recipe": self.recipe,
            "base_model": self.base_model,
            "pairs": self.pairs,
            "seed": self.seed,
            "corpus_fingerprint": self.corpus_fingerprint,
            "validation": dict(self.validation),
        }


def read_model_info(path: Path) -> ModelInfo:
    """The metadata of the model folder at `path`; `RelevanceModelError` naming the file if unreadable."""
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return ModelInfo(path, str(meta["recipe"]), str(meta["base_model"]), int(meta["pairs"]), int(meta["seed"]),
                         str(meta["corpus_fingerprint"]), tuple(str(e) for e in meta["episodes"]),
                         dict(meta.get("validation") or {}))
    except FileNotFoundError:
        raise RelevanceModelError(f"{meta_path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RelevanceModelError(f"{meta_path}: unreadable ({type(exc).__name__}: {exc})") from None


class RelevanceModelError(RagError):
    """A relevance model that cannot be used (missing, unreadable, or for another corpus)."""


def model_id(corpus_fingerprint: str, seed: int, base_model: str) -> str:
    return hashlib.sha256(f"{RECIPE}:{base_model}:{seed}:{corpus_fingerprint}".encode()).hexdigest()[:12]


def models_dir(index_dir: Path) -> Path:
    """Where an index's trained models live: beside the index, so that a rebuild of the
    index (which swaps its directory) keeps them."""
    return index_dir.resolve().parent / "models"


def check_model(info: ModelInfo, episode_ids: Sequence[str]) -> None:
    """Raise `RelevanceModelError` unless the model fits an index of `episode_ids`: the
    same recipe, and at least `MIN_EPISODE_OVERLAP` of the index's episodes seen in training."""
    if info.recipe != RECIPE:
        raise RelevanceModelError(f"{info.path}: recipe {info.recipe!r}, this version uses {RECIPE!r}")
    if not episode_ids:
        return
    seen = set(info.episodes)
    share = sum(e in seen for e in episode_ids) / len(episode_ids)
    if share < MIN_EPISODE_OVERLAP:
        raise RelevanceModelError(
            f"{info.path}: trained on {share:.0%} of this index's {len(episode_ids)} episodes "
            f"(at least {MIN_EPISODE_OVERLAP:.0%} needed)"
        )


class OnnxRelevanceModel:
    """`RelevanceModel` over the int8 ONNX export: each (question, window) pair alone, as
    the embedder runs passages (no padding, and a score that does not depend on batch-mates)."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = path
        from rag.index.embedding.onnx_int8 import _session

        try:
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            self._session = _session(ort, path / MODEL_FILE, threads=1)  # one pair a run, as the embedder
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime and tokenizers raise their own types
            raise RelevanceModelError(f"{path}: cannot load the relevance model ({type(exc).__name__}: {exc})") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._threads = max(1, threads or os.cpu_count() or 1)
        self._pool_lock = threading.Lock()
        self._pool: Any = None

    def score(self, question: str, windows: Sequence[str]) -> np.ndarray:
        feeds = [encode_pair(self._tokenizer, question, window) for window in windows]
        out = np.empty(len(feeds), dtype=np.float32)

        def run(row: int) -> None:
            ids, types = feeds[row]
            batch = {"input_ids": ids[None, :], "attention_mask": np.ones_like(ids)[None, :], "token_type_ids": types[None, :]}
            out[row] = float(self._session.run(None, {k: v for k, v in batch.items() if k in self._inputs})[0].reshape(-1)[0])

        if len(feeds) <= 1 or self._threads == 1:
            for row in range(len(feeds)):
                run(row)
        else:
            list(self._executor().map(run, range(len(feeds))))
        return out

    def _executor(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="relevance")
            return self._pool


def encode_pair(tokenizer: Any, question: str, window: str) -> tuple[np.ndarray, np.ndarray]:
    """[CLS] question [SEP] window [SEP] as int64 ids and token types, within `MAX_TOKENS`:
    the question keeps at most `QUESTION_TOKENS` word pieces, the window the rest."""
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    q = tokenizer.encode(question, add_special_tokens=False).ids[:QUESTION_TOKENS]
    w = tokenizer.encode(window, add_special_tokens=False).ids[: MAX_TOKENS - len(q) - 3]
    ids = np.asarray([cls_id, *q, sep_id, *w, sep_id], dtype=np.int64)
    types = np.asarray([0] * (len(q) + 2) + [1] * (len(w) + 1), dtype=np.int64)
    return ids, types


def load_relevance_model(index_dir: Path, manifest: Mapping[str, Any], episode_ids: Sequence[str],
                         notes: list[str]) -> OnnxRelevanceModel | None:
    """The relevance model the manifest names, checked against the index; None (with
    one line in `notes`) when there is none or it cannot serve this index."""
    entry = manifest.get("relevance")
    if not entry:
        return None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
        notes.append(f"{index_dir}: the manifest's relevance entry is not readable; ranking without it")
        return None
    path = (index_dir / entry["path"]).resolve()
    try:
        info = read_model_info(path)
        check_model(info, episode_ids)
        return OnnxRelevanceModel(path)
    except RelevanceModelError as exc:
        notes.append(f"relevance model not used: {exc}; ranking without it (`rag tune --index {index_dir}` trains one)")
        return None


def install_model(building: Path, target: Path) -> None:
    """Move the finished model folder `building` to `target` in one rename (a previous
    model there is replaced only once the new one is complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    os.rename(building, target)
    shutil.rmtree(old, ignore_errors=True)
