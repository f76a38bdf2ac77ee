"""Every transcript line's terms, for scoring single lines against a question.

A passage holds a minute or two of talk; a question usually matches one line of
it (the host's question, or the sentence with the rare word). `LineTerms` keeps a
sparse lines × terms matrix, so the IDF-weighted share of a question's terms in
each of the corpus's ~28k lines is one sparse product (about a millisecond).

    >>> from rag.chunking import Passage
    >>> p = Passage("e#0", "e", "T", "", ("Ann",), 0, 9, "Ann: Hello\\nAnn: Bloom filters", "", 0, line_starts=(0, 9))
    >>> lines = LineTerms.build([p])
    >>> lines.scores({"bloom": 2.0, "filter": 1.0}).tolist()
    [0.0, 1.0]
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import scipy.sparse

from rag.chunking import Passage
from rag.index import LexicalIndex


class LineTerms:
    """Which (stemmed, stopword-free) terms each line of each passage contains."""

    def __init__(self, matrix: scipy.sparse.csr_matrix, vocabulary: dict[str, int], first_line: np.ndarray) -> None:
        self._matrix = matrix
        self._vocabulary = vocabulary
        # first_line[i] is the row of passage i's first line; first_line[-1] the row count.
        self.first_line = first_line

    @classmethod
    def build(cls, passages: Sequence[Passage]) -> "LineTerms":
        texts: list[str] = []
        first_line = [0]
        for passage in passages:
            lines = passage.text.split("\n")
            texts.extend(lines)
            first_line.append(first_line[-1] + len(lines))
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        columns: list[int] = []
        for row, terms in enumerate(LexicalIndex.tokenize(texts) if texts else []):
            for term in set(terms):
                rows.append(row)
                columns.append(vocabulary.setdefault(term, len(vocabulary)))
        matrix = scipy.sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(texts), max(len(vocabulary), 1))
        )
        return cls(matrix, vocabulary, np.asarray(first_line, dtype=np.int64))

    def scores(self, term_weights: Mapping[str, float]) -> np.ndarray:
        """Per line, the IDF-weighted share of the question's terms it contains (0..1)."""
        total = sum(term_weights.values())
        weights = np.zeros(self._matrix.shape[1], dtype=np.float32)
        for term, weight in term_weights.items():
            column = self._vocabulary.get(term)
            if column is not None:
                weights[column] = weight
        if total <= 0:
            return np.zeros(self._matrix.shape[0], dtype=np.float32)
        return np.asarray(self._matrix @ weights, dtype=np.float32) / total

    def lines_of(self, passage: int) -> slice:
        return slice(int(self.first_line[passage]), int(self.first_line[passage + 1]))

    def best_per_passage(self, line_scores: np.ndarray) -> np.ndarray:
        """Each passage's best line score."""
        counts = np.diff(self.first_line)
        out = np.zeros(len(counts), dtype=np.float32)
        nonempty = counts > 0
        out[nonempty] = np.maximum.reduceat(line_scores, self.first_line[:-1][nonempty])
        return out
