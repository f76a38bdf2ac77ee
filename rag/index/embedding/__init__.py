"""Embedders: texts -> 2-D, L2-normalized float32 arrays; `make_embedder` picks one by model id.

Every embedder has a `model_id` (recorded in the index manifest), a `dim`, a
`max_tokens` budget (word pieces it embeds without truncation) and `count_tokens`,
which the chunker uses to size passages.

    base.py                   Embedder protocol, normalize_rows, resolve_model_path, DEFAULT_MODEL
    hashing.py                HashingEmbedder: deterministic, no model files (tests, demos)
    sentence_transformers.py  SentenceTransformerEmbedder: any sentence-transformers model, fp32 torch
    onnx_int8.py              OnnxInt8Embedder: ONNX Runtime, int8 passages and fp32 queries (the default)
    cache.py                  EmbeddingCache, embedder_key: vectors re-used across ingests
    shard.py                  Shard: which texts `rag ingest --shard I/N` embeds
    workers.py                fill_cache: embed what the cache lacks, in this process or N workers

    >>> embedder = make_embedder("hashing-64")
    >>> embedder.embed(["hello world", "hello"]).shape
    (2, 64)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.errors import EmbedderError
from rag.index.embedding.base import DEFAULT_MODEL, Embedder, normalize_rows, resolve_model_path
from rag.index.embedding.cache import EmbeddingCache, embedder_key, text_key
from rag.index.embedding.hashing import HashingEmbedder
from rag.index.embedding.onnx_int8 import OnnxInt8Embedder
from rag.index.embedding.sentence_transformers import SentenceTransformerEmbedder
from rag.index.embedding.shard import Shard

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_QUANTIZE",
    "INT8_SUFFIX",
    "Embedder",
    "EmbedderSpec",
    "EmbeddingCache",
    "HashingEmbedder",
    "OnnxInt8Embedder",
    "SentenceTransformerEmbedder",
    "Shard",
    "embedder_key",
    "make_embedder",
    "normalize_rows",
    "resolve_model_path",
    "text_key",
]

DEFAULT_QUANTIZE = "int8"  # what `rag ingest` embeds passages with unless told otherwise
INT8_SUFFIX = "+onnx-int8"  # how a manifest's model id records int8 passages


def make_embedder(
    model: str = DEFAULT_MODEL,
    *,
    quantize: str | None = None,
    show_progress: bool = False,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
) -> Embedder:
    """Build an embedder from a model id.

    `model` is a sentence-transformers name or path, optionally with the
    `+onnx-int8` suffix that index manifests record, or `hashing-<dim>` for the
    test embedder. `quantize` is "int8" (ONNX Runtime) or "fp32"/None (torch).
    `cache_dir` is the root the ONNX export is cached under (None: the user cache).
    `threads` caps the threads passages are embedded on (None: every core); an
    embedding worker process that shares the machine with others sets it.
    `show_progress` shows sentence-transformers' own bar on long fp32 calls; ingest
    shows its progress per batch for every embedder.

        >>> make_embedder("hashing-32").model_id
        'hashing-32'
        >>> make_embedder("x", quantize="int4")
        Traceback (most recent call last):
        ...
        rag.errors.EmbedderError: unknown quantization 'int4'; use 'int8' or 'fp32'
    """
    if model.startswith("hashing-") and model[len("hashing-"):].isdigit():
        return HashingEmbedder(dim=int(model[len("hashing-"):]))
    if model.endswith(INT8_SUFFIX):
        model, quantize = model[: -len(INT8_SUFFIX)], "int8"
    if quantize not in (None, "", "fp32", "int8"):
        raise EmbedderError(f"unknown quantization {quantize!r}; use 'int8' or 'fp32'")
    if quantize == "int8":
        return OnnxInt8Embedder(model, cache_dir=cache_dir, threads=threads)
    return SentenceTransformerEmbedder(model, show_progress=show_progress, threads=threads)


@dataclass(frozen=True)
class EmbedderSpec:
    """What `make_embedder` needs, as a picklable value: an embedding worker process
    builds its own embedder from it (a loaded model cannot be sent to another process).

        >>> EmbedderSpec("hashing-32").build().model_id
        'hashing-32'
    """

    model: str = DEFAULT_MODEL
    quantize: str | None = None
    cache_dir: str | None = None  # the ONNX export's root, as `make_embedder` takes it

    def build(self, *, threads: int | None = None, show_progress: bool = False) -> Embedder:
        return make_embedder(self.model, quantize=self.quantize, show_progress=show_progress,
                             cache_dir=self.cache_dir, threads=threads)
