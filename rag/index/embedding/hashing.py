"""The test embedder: deterministic signed feature hashing of words, no model files.

    >>> embedder = HashingEmbedder(dim=64)
    >>> embedder.model_id, embedder.embed(["hello world", "hello"]).shape
    ('hashing-64', (2, 64))
"""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

import numpy as np

from rag.index.embedding.base import normalize_rows


class HashingEmbedder:
    """Deterministic bag-of-words embedder (signed feature hashing).

    Needs no model files, so tests and tiny demos run anywhere; retrieval quality
    is lexical only.
    """

    _WORD = re.compile(r"\w+", re.UNICODE)

    def __init__(self, dim: int = 256, max_tokens: int = 254) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.model_id = f"hashing-{dim}"
        self.embed_calls = 0  # how many texts were actually embedded (cache tests read it)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._WORD.findall(text)) for text in texts]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embed_calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in self._WORD.findall(text.lower())[: self.max_tokens]:
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return normalize_rows(out)
