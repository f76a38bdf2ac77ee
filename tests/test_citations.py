"""Citation markers, the claims citing each source, and their check against the passage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.answers.citations import (
    SUPPORT_MIN_COSINE,
    SUPPORT_MIN_OVERLAP,
    CitationVerifier,
    claims_by_source,
    parse_citations,
)
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.searcher import Searcher

BLOOM = "What are bloom filters used for?"


@pytest.fixture
def searcher(built_index: Path, embedder: HashingEmbedder) -> Searcher:
    return Searcher(load_index(built_index), embedder)


def test_parse_citations_forms_and_out_of_range() -> None:
    text, cited, warnings = parse_citations("First [2]. Second [1, 3]. Third [ 2 ][7]. Fourth[1][2].", 3)
    assert text == "First [2]. Second [1][3]. Third [2]. Fourth[1][2]."
    assert cited == [2, 1, 3]
    assert warnings == ["dropped citation [7]: there are only 3 sources"]


def test_claims_are_attributed_to_the_sources_they_cite() -> None:
    claims = claims_by_source("Bloom filters test membership [1]. They use hashes [1][2]. No source here.")
    assert claims == {1: ["Bloom filters test membership.", "They use hashes."], 2: ["They use hashes."]}
    after_period = claims_by_source("Bloom filters test membership. [1] They use hashes. [2]\n[3]")
    assert after_period == {1: ["Bloom filters test membership."], 2: ["They use hashes."], 3: ["They use hashes."]}


def test_verifier_pins_a_supported_claim_to_its_line_and_flags_the_others(searcher: Searcher,
                                                                          embedder: HashingEmbedder) -> None:
    hits = searcher.search(BLOOM, k=5)
    lines = hits[0].passage.text.split("\n")
    index = max(i for i, line in enumerate(lines) if "?" not in line and len(line.split()) > 8)
    spoken = lines[index].split(": ", 1)[1]
    text = f"{spoken} [1]. Quantum annealing optimises stock portfolios overnight [2]."
    said, unsaid, uncited = CitationVerifier(embedder).verify(text, [1, 2, 3], hits)
    assert (said.n, said.passage, said.verified, said.line) == (1, hits[0].passage, True, index)
    assert (unsaid.n, unsaid.verified) == (2, False)
    assert (uncited.n, uncited.verified, uncited.line) == (3, False, 0)  # no sentence cites [3]


def test_verifier_thresholds_default_to_the_calibrated_ones(embedder: HashingEmbedder) -> None:
    verifier = CitationVerifier(embedder)
    assert (verifier.min_cosine, verifier.min_overlap) == (SUPPORT_MIN_COSINE, SUPPORT_MIN_OVERLAP)


@pytest.mark.parametrize("reply", [
    "Bloom" + " " * 100_000 + "x [1].",
    "Bloom [" + " " * 100_000 + "x",
    "Bloom." + " " * 100_000 + "x [1]",
    "Bloom" + " \t" * 50_000 + "x",
    "Bloom" + "\n" * 100_000 + "x [1].",
])
def test_citation_parsing_is_linear_in_runs_of_spaces(reply: str) -> None:
    # A correctness guard against quadratic regexes on untrusted LLM output (50,000
    # spaces took over a second before, 100,000 about five), not a speed benchmark.
    started = time.monotonic()
    text, _, _ = parse_citations(reply, 3)
    claims_by_source(text)
    claims_by_source(reply)
    assert time.monotonic() - started < 2


def test_a_bracket_of_thousands_of_digits_is_text_not_a_citation() -> None:
    from rag.answers.answerer import Answer
    from rag.app.render import render_answer

    huge = "[" + "9" * 5000 + "]"
    clean, cited, _ = parse_citations(f"Bloom filters {huge} are fast [1].", 3)
    assert cited == [1] and "9" * 5000 in clean
    rendered = render_answer(Answer(f"Bloom filters {huge}.", (), False, "llm"))
    assert "9" * 5000 in rendered
