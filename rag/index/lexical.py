"""Lexical search: a bm25s index over the passages' words (stemmed, stop words
dropped) and the term weights the refusal gate and the moment locator read."""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from rag.errors import IndexCorruptError


class LexicalSearch(Protocol):
    """Ranked BM25 search over the passages; ids are positions in the passage list."""

    def __len__(self) -> int: ...

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the `k` best documents with a positive score among `allowed`
        (None: all), best first; ties go to the lower id."""
        ...

    def term_idf(self, query: str) -> dict[str, float]:
        """IDF of each distinct term of `query`, tokenized as the index was."""
        ...


class LexicalIndex:
    """BM25 over stemmed words (bm25s + PyStemmer), English stopwords removed."""

    def __init__(self, bm25: Any) -> None:
        self._bm25 = bm25
        self._recent = threading.local()  # this thread's last query and its scores

    @staticmethod
    def tokenize(texts: Sequence[str]) -> list[list[str]]:
        """Each text's terms as bm25s tokenizes them (words of 2+ characters, lower case,
        English stopwords out, Snowball-stemmed), without its per-call set-up.

        A search tokenizes the question and every line of every result: bm25s's
        `tokenize` builds progress bars and a stopword set per call, a third of a
        search's time at 30x (eval/scale.py). tests/test_index.py checks that both
        give the same terms over the test corpus.

            >>> LexicalIndex.tokenize(["Which guest uses Bloom filters?"])
            [['which', 'guest', 'use', 'bloom', 'filter']]
        """
        stem = _stemmer().stemWords
        tokenized = []
        for text in texts:
            words = [word for word in _TERM.findall(text.lower()) if word not in _STOPWORDS]
            tokenized.append(stem(words) if words else [])
        return tokenized

    @classmethod
    def build(cls, texts: Sequence[str]) -> "LexicalIndex":
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index(cls.tokenize(texts), show_progress=False)
        return cls(bm25)

    @classmethod
    def load(cls, path: Path) -> "LexicalIndex":
        """Memory-mapped: a query reads the columns of its own terms, not the whole matrix."""
        import bm25s

        try:
            bm25 = bm25s.BM25.load(str(path), mmap=True, show_progress=False)
            scores = bm25.scores
            docs, data, indices, indptr = (int(scores["num_docs"]), scores["data"], scores["indices"], scores["indptr"])
        except Exception as exc:  # noqa: BLE001 - bm25s raises many kinds on bad files
            raise IndexCorruptError(f"{path}: unreadable bm25 index ({type(exc).__name__}: {exc})") from None
        # The score matrix is read by position at query time: an index out of range would
        # raise mid-search, or read another document's scores.
        if (len(indices) != len(data) or (len(indptr) and indptr[-1] != len(data))
                or (len(indices) and (int(np.min(indices)) < 0 or int(np.max(indices)) >= docs))
                or (len(indptr) > 1 and bool(np.any(np.diff(indptr) < 0)))):
            raise IndexCorruptError(f"{path}: bm25 score matrix does not match its {docs} documents")
        return cls(bm25)

    def __len__(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def term_idf(self, query: str) -> dict[str, float]:
        """IDF of each distinct term of `query`, tokenized as the index was (stemmed, no stopwords).

        Document frequencies come from the bm25s score matrix (one column per vocabulary
        term, CSC: `indptr[i + 1] - indptr[i]` documents contain term i); the IDF is
        bm25s's default (Lucene) one. A term that no document contains gets the IDF of
        df = 0, above every known term's: a word no transcript says is the strongest
        sign that the question asks for something the podcast never covered.

            lexical.term_idf("Who mentioned quantum annealing?")
            {'who': 1.8, 'mention': 2.5, 'quantum': 7.3, 'anneal': 9.1}  # 13,872 passages
        """
        indptr = self._bm25.scores["indptr"]
        vocab = self._bm25.vocab_dict
        weights: dict[str, float] = {}
        for term in self.tokenize([query])[0]:
            column = vocab.get(term)
            known = column is not None and column + 1 < len(indptr)
            df = int(indptr[column + 1] - indptr[column]) if known else 0
            weights[term] = bm25_idf(df, len(self))
        return weights

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (zeros when no word is known).

        bm25s's own `get_scores` sums each term's column with `np.add.at`, which is
        general but about 10x slower than an indexed add; a column lists each document
        at most once, so the indexed add is exact. The sum is what bm25s computes
        (tests/test_index.py compares them); at 1.4M passages it is the lexical side's
        whole cost (eval/scale.py).
        """
        vocab = self._bm25.vocab_dict
        matrix = self._bm25.scores
        data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
        total = np.zeros(len(self), dtype=np.float32)
        for token in self.tokenize([query])[0]:
            column = vocab.get(token)
            if column is None or column + 1 >= len(indptr):
                continue
            start, end = int(indptr[column]), int(indptr[column + 1])
            total[indices[start:end]] += data[start:end]
        return total

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best documents for `query` among `allowed`, best first (`LexicalSearch`).
        A search ranks one query twice (its scope, then the episodes in focus): the
        scores of this thread's last query are kept for the second time."""
        if getattr(self._recent, "query", None) != query:
            self._recent.scores = self.scores(query)
            self._recent.query = query
        scores = self._recent.scores
        ids = np.asarray(top_positions(scores, allowed, k), dtype=np.int64)
        return scores[ids], ids

    def save(self, path: Path) -> None:
        self._bm25.save(str(path), show_progress=False)


def top_positions(scores: np.ndarray, allowed: np.ndarray | None, k: int) -> list[int]:
    """The positions of the `k` best positive `scores` among `allowed` (None: all), best
    first; ties go to the lower position, as a stable sort of the whole array would give."""
    subset = scores if allowed is None else scores[allowed]
    n = min(k, int((subset > 0).sum()))
    if n <= 0:
        return []
    top = np.argpartition(-subset, n - 1)[:n]
    positions = top if allowed is None else np.asarray(allowed, dtype=np.int64)[top]
    order = np.lexsort((positions, -subset[top]))
    return [int(i) for i in positions[order]]


_TERM = re.compile(r"(?u)\b\w\w+\b")  # bm25s's token pattern

_STOPWORDS = frozenset(STOPWORDS_EN)

_stemmers = threading.local()  # a PyStemmer stemmer is not safe to share between threads


def _stemmer() -> Any:
    if not hasattr(_stemmers, "english"):
        import Stemmer

        _stemmers.english = Stemmer.Stemmer("english")
    return _stemmers.english


def bm25_idf(df: int, n_docs: int) -> float:
    """Lucene's BM25 IDF, bm25s's default: log(1 + (N - df + 0.5) / (df + 0.5)); always > 0."""
    return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))


def term_coverage(term_idf: Mapping[str, float], text: str) -> float:
    """IDF-weighted share of the query terms (`LexicalIndex.term_idf`) that `text` contains.

    `text` is tokenized the way the index is, so "annealing" matches "anneal". Missing
    a rare term costs more than missing a common one; no terms at all covers 1.0.

        >>> term_coverage({"bloom": 6.0, "filter": 4.0, "zyx": 9.0}, "Bloom filters are fast")
        0.5263157894736842
    """
    total = sum(term_idf.values())
    if total <= 0:
        return 1.0
    present = set(LexicalIndex.tokenize([text])[0])
    return sum(weight for term, weight in term_idf.items() if term in present) / total
