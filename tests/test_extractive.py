"""Extractive answers: which moment is quoted, when a second quote is added, what is pointed to."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answers.extractive import QUOTE_WINDOW_S, ExtractiveAnswerer
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.searcher import Searcher

BLOOM = "What are bloom filters used for?"


@pytest.fixture
def searcher(built_index: Path, embedder: HashingEmbedder) -> Searcher:
    return Searcher(load_index(built_index), embedder)


def test_extractive_answer_quotes_the_moment_the_top_link_opens_on(searcher: Searcher, embedder: HashingEmbedder) -> None:
    hits = searcher.search(BLOOM, k=5)
    final = ExtractiveAnswerer(embedder).quote(BLOOM, hits)
    assert final is not None
    quotes = [line for line in final.text.splitlines() if line.startswith("- ")]
    assert 1 <= len(quotes) <= 2
    for line in quotes:
        n = int(line.rsplit("[", 1)[1].rstrip("]"))
        quoted = line.split("“", 1)[1].rsplit("”", 1)[0]
        assert quoted.split(". ")[0] in hits[n - 1].passage.text
    # The first quote is from the top hit, said within QUOTE_WINDOW_S after its link,
    # and its citation, the first one, opens at the quoted line.
    top = hits[0]
    first = final.citations[0]
    assert quotes[0].endswith("[1]") and first.n == 1
    assert quotes[0].startswith(f"- {first.speaker}: ")
    assert top.link_sec <= first.start_s <= top.link_sec + QUOTE_WINDOW_S
    assert first.url.endswith(f"&t={first.start_s}s")
    assert "bloom" in quotes[0].lower()
    # The next moments are pointed to, each opening at its own link, never quoted as filler.
    pointers = [c for c in final.citations if f"[{c.n}]" not in "".join(quotes)]
    assert f"Also discussed: {' '.join(f'[{c.n}]' for c in pointers)}" in final.text
    for citation in pointers:
        assert citation.start_s == hits[citation.n - 1].link_sec


def test_a_second_quote_must_answer_nearly_as_well_as_the_first(searcher: Searcher, embedder: HashingEmbedder) -> None:
    hits = searcher.search(BLOOM, k=5)
    strict = ExtractiveAnswerer(embedder, second_quote_margin=-1.0)  # no other span can beat the first by a whole cosine
    loose = ExtractiveAnswerer(embedder, second_quote_margin=10.0)
    count = lambda quotes: sum(line.startswith("- ") for line in quotes.text.splitlines())  # noqa: E731
    assert count(strict.quote(BLOOM, hits)) == 1
    answer = loose.quote(BLOOM, hits)
    assert count(answer) == 2
    # Never a quote from another episode: those are pointed to, not quoted.
    quoted = {int(line.rsplit("[", 1)[1].rstrip("]")) for line in answer.text.splitlines() if line.startswith("- ")}
    assert {hits[n - 1].passage.episode_id for n in quoted} == {hits[0].passage.episode_id}


def test_nothing_to_quote_without_hits(embedder: HashingEmbedder) -> None:
    assert ExtractiveAnswerer(embedder).quote(BLOOM, []) is None


def test_a_quote_from_captions_without_spaces_after_punctuation_starts_a_sentence_and_is_bounded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    from rag.answers.answerer import Answerer
    from rag.index.build import ingest
    from rag.index.embedding import HashingEmbedder
    from rag.index.files import load_index
    from rag.search.searcher import Searcher

    episode = Path(__file__).resolve().parents[2] / "shared" / "external" / "virtual-coffee"
    embedder = HashingEmbedder(dim=256)
    ingest([episode], tmp_path / "idx", embedder)
    answerer = Answerer(Searcher(load_index(tmp_path / "idx"), embedder), None, refusal_min_cosine=0.0,
                        refusal_min_coverage=0.0)
    answer = answerer.answer("Which superpower that only works while sleeping would Bekah pick?",
                             filters=None)
    assert not answer.refused and answer.citations[0].passage.episode_id == "virtual-coffee-s8e3"
    first = answer.text.splitlines()[0]
    quoted = first.split("“", 1)[1].rsplit("”", 1)[0]
    assert len(quoted.removesuffix(" …").split()) <= 60
    assert quoted[0].isupper(), quoted  # a sentence start, not the middle of one
    assert "?My name" not in quoted and ".Like" not in quoted
