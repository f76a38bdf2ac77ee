from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rag.index.build import ingest
from rag.index.chunking import Passage
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.fusion import locate_moment, merge_adjacent, rrf_fuse
from rag.search.hits import Filters, Hit
from rag.search.searcher import Searcher
from tests.conftest import write_episode


def test_rrf_ranks_hit_found_by_both_first() -> None:
    fused = rrf_fuse([[10, 20, 30], [30, 40]])
    assert [doc for doc, _ in fused] == [30, 10, 20, 40]


def test_rrf_weights_shift_the_order() -> None:
    assert rrf_fuse([[1], [2]], weights=[1.0, 2.0])[0][0] == 2
    assert rrf_fuse([[1], [2]], weights=[2.0, 1.0])[0][0] == 1


def passage(ordinal: int, episode: str = "ep", start: int = 0) -> Passage:
    return Passage(f"{episode}#{ordinal}", episode, "T", "S", ("A",), start, start + 9, f"A: line {ordinal}", "", ordinal,
                   line_starts=(start,))


def test_adjacent_windows_of_one_moment_merge_at_the_best_rank() -> None:
    hits = [Hit(passage(5, start=50), 0.9, "hybrid"), Hit(passage(1, "other"), 0.8, "hybrid"),
            Hit(passage(6, start=60), 0.7, "hybrid"), Hit(passage(8, start=80), 0.6, "hybrid")]
    merged = merge_adjacent(hits)
    # The merged moment keeps its best passage's span: a neighbour adds context, not length.
    assert [(h.passage.id, h.passage.start_s, h.passage.end_s, h.score) for h in merged] == [
        ("ep#5+ep#6", 50, 59, 0.9), ("other#1", 0, 9, 0.8), ("ep#8", 80, 89, 0.6)]
    assert merged[0].passage.text == "A: line 5\nA: line 6"
    assert merged[0].passage.line_starts == (50, 60)
    assert merge_adjacent(hits, union_spans=True)[0].passage.end_s == 69


def moment(lines: list[tuple[int, str]]) -> Hit:
    text = "\n".join(line for _, line in lines)
    seconds = tuple(second for second, _ in lines)
    return Hit(Passage("ep#0", "ep", "T", "S", ("Ann",), min(seconds), max(seconds), text,
                       "https://www.youtube.com/watch?v=abcdefghijk&t=0s", 0, guests=("Ann",), line_starts=seconds),
               1.0, "hybrid")


def test_link_opens_at_the_line_that_answers_inside_the_span() -> None:
    hit = moment([(100, "Ann: We started the company in Berlin."), (160, "Alexey: What about hiring?"),
                  (230, "Ann: Bloom filters answer membership questions cheaply."), (300, "Ann: Anyway.")])
    located = locate_moment(hit, {"bloom": 6.0, "filter": 4.0, "membership": 5.0})
    assert located.link_sec == 230
    assert located.passage.start_s <= located.link_sec <= located.passage.end_s
    assert located.url == "https://www.youtube.com/watch?v=abcdefghijk&t=230s"
    assert located.label() == "T — Ann @ 3:50"


def test_link_opens_at_the_hosts_question_just_before_the_answer() -> None:
    hit = moment([(100, "Ann: Something else entirely."), (215, "Alexey: And what are bloom filters for?"),
                  (230, "Ann: They answer membership questions cheaply, bloom filters.")])
    assert locate_moment(hit, {"bloom": 6.0, "filter": 4.0, "membership": 5.0}).link_sec == 215


def test_link_opens_at_the_span_start_when_no_line_matches() -> None:
    hit = moment([(100, "Ann: One."), (130, "Ann: Two.")])
    assert locate_moment(hit, {"kubernetes": 7.0}).link_sec == 100


def test_a_merged_neighbours_supporting_line_stretches_the_span_to_include_the_link() -> None:
    hit = moment([(100, "Ann: Bloom filters are probabilistic."), (200, "Ann: Nothing here.")])
    narrowed = Hit(replace(hit.passage, start_s=200, end_s=200), 1.0, "hybrid")
    located = locate_moment(narrowed, {"bloom": 6.0, "filter": 4.0})
    assert (located.link_sec, located.passage.start_s, located.passage.end_s) == (100, 100, 200)


def test_search_results_carry_a_link_inside_their_span(searcher: Searcher) -> None:
    hits = searcher.search("bloom filters", k=5)
    for hit in hits:
        assert hit.passage.start_s <= hit.link_sec <= hit.passage.end_s
        assert hit.link_sec in hit.passage.line_starts
        if hit.passage.url:
            assert hit.url.endswith(f"&t={hit.link_sec}s")
    top = hits[0]
    line = next(i for i, s in enumerate(top.passage.line_starts) if s == top.link_sec)
    window = [top.passage.text.split("\n")[i].lower() for i in range(line, len(top.passage.line_starts))
              if top.passage.line_starts[i] - top.link_sec <= 30]
    assert any("bloom" in text for text in window)


@pytest.fixture
def searcher(built_index: Path, embedder: HashingEmbedder) -> Searcher:
    return Searcher(load_index(built_index), embedder)


def test_search_finds_the_episode_that_discusses_it(searcher: Searcher) -> None:
    [top, *_] = searcher.search("bloom filters", k=5)
    assert top.passage.episode_id == "algorithms-data-structures-for-engineers"
    assert "bloom" in top.passage.text.lower()


def test_episode_filter_is_applied_inside_retrieval(searcher: Searcher) -> None:
    question = "bloom filters"  # only the algorithms episode talks about them
    hits = searcher.search(question, k=5, filters=Filters(episode="building-data-team"))
    assert len(hits) == 5
    assert {h.passage.episode_id for h in hits} == {"building-data-team"}


def test_guest_and_season_filters(searcher: Searcher) -> None:
    hits = searcher.search("writing", k=3, filters=Filters(guest="eugene"))
    assert hits and {h.passage.guests for h in hits} == {("Eugene Yan",)}
    season = searcher.index.passages[0].season
    hits = searcher.search("data", k=10, filters=Filters(season=season))
    assert hits and all(h.passage.season == season for h in hits)
    assert searcher.search("data", k=3, filters=Filters(season=999)) == []


def test_results_are_diverse_no_repeated_moment(searcher: Searcher) -> None:
    hits = searcher.search("algorithms data structures", k=10)
    ordinals = [(h.passage.episode_id, {int(part.split("#")[1]) for part in h.passage.id.split("+")}) for h in hits]
    for i, (episode, own) in enumerate(ordinals):
        assert len(own) <= 3
        for other_episode, other in ordinals[i + 1:]:
            if episode == other_episode:
                assert not own & other  # never the same passage twice
                touching = any(abs(a - b) == 1 for a in own for b in other)
                assert not touching or len(own) + len(other) > 3  # merged unless too long


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_single_mode_searchers(built_index: Path, embedder: HashingEmbedder, mode: str) -> None:
    hits = Searcher(load_index(built_index), embedder, mode=mode).search("bloom filters", k=3)
    assert hits[0].source == mode and hits[0].passage.episode_id == "algorithms-data-structures-for-engineers"


def test_blank_question_returns_nothing_and_bad_k_is_refused(searcher: Searcher) -> None:
    assert searcher.search("   ", k=3) == []
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        searcher.search("data", k=0)


def test_a_question_naming_a_guest_searches_that_guests_episodes(searcher: Searcher) -> None:
    assert searcher.scope.named_episodes("What does Eugene Yan think about bloom filters?") == {"technical-writing-for-data-scientists"}
    assert searcher.scope.named_episodes("what does eugene think?") == set()  # a first name alone is ambiguous
    hits = searcher.search("What does Eugene Yan think about bloom filters?", k=5)
    assert hits and {h.passage.episode_id for h in hits} == {"technical-writing-for-data-scientists"}
    unscoped = Searcher(searcher.index, searcher.embedder, name_scope=False).search(
        "What does Eugene Yan think about bloom filters?", k=5)
    assert "algorithms-data-structures-for-engineers" in {h.passage.episode_id for h in unscoped}
    # An explicit filter that excludes the named guest wins over the name.
    scoped = searcher.search("What does Eugene Yan think about bloom filters?", k=3,
                             filters=Filters(episode="building-data-team"))
    assert {h.passage.episode_id for h in scoped} == {"building-data-team"}


def sectioned_episode(title: str, video: str, lines: list[str]) -> str:
    """Front matter whose every line sits in its own section (so in its own passage)."""
    items = []
    for n, line in enumerate(lines):
        items.append(f"- header: Part {n}\n- line: {line}\n  sec: {60 * n}\n  time: '{n}:00'\n  who: Guest")
    return f"---\ntitle: {title}\nguests: []\nids:\n  youtube: {video}\ntranscript:\n" + "\n".join(items) + "\n---\n"


def test_the_passage_both_rankings_put_first_is_not_crowded_out_by_busier_episodes(
        tmp_path: Path, embedder: HashingEmbedder) -> None:
    # Episode focus ranks episodes by the summed scores of their passages, so shows that
    # mention "startup" and "compute" in every part outweigh the one that answers once.
    filler = "We talked about hiring, teams and the weather in Berlin for a while."
    podcast = tmp_path / "corpus" / "podcast"
    write_episode(podcast, "heat.md", sectioned_episode("Heat", "heatvideo01", [
        filler, "Leafcloud is a startup that puts its compute in basements; the waste heat warms the tap water.", filler]))
    for n in range(3):
        parts = [f"Every startup needs compute, show {n} part {i}." if i % 2 == 0 else f"{filler} ({n}.{i})"
                 for i in range(9)]
        write_episode(podcast, f"startups-{n}.md", sectioned_episode(f"Startups {n}", f"startupvid{n}", parts))
    index_dir = tmp_path / "index"
    ingest([tmp_path / "corpus"], index_dir, embedder)
    question = "Which startup warms tap water with the waste heat of its compute?"
    searcher = Searcher(load_index(index_dir), embedder, focus_episodes=2)
    unfocused = Searcher(searcher.index, embedder, focus_episodes=0).search(question, k=1)
    assert unfocused[0].passage.episode_id == "heat"  # first in both rankings, before any focus

    hits = searcher.search(question, k=5)

    assert hits[0].passage.episode_id == "heat"
    assert "tap water" in hits[0].passage.text
