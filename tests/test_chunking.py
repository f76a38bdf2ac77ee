from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.chunking import chunk_episode, embedding_text, format_timestamp, speaker_label
from rag.index.embedding import HashingEmbedder
from rag.sources.episode import Episode, Line
from rag.sources.load import load_corpus

count_words = HashingEmbedder().count_tokens


def make_episode(lines: list[Line]) -> Episode:
    return Episode("ep", "Title", "vid123abcde", ("Ann Lee",), 2, 5, None, tuple(lines), "ep.md")


def real_episodes(corpus_dir: Path) -> list[Episode]:
    return load_corpus([corpus_dir]).episodes


@pytest.mark.parametrize("max_tokens", [40, 120, 254])
def test_chunks_respect_budget_sections_and_time_order(corpus_dir: Path, max_tokens: int) -> None:
    for episode in real_episodes(corpus_dir):
        passages = chunk_episode(episode, count_words, max_tokens, with_context=True)
        assert passages, episode.id
        for passage in passages:
            text_cost = count_words([passage.text])[0] + passage.text.count("\n")
            assert text_cost <= max_tokens
            if max_tokens >= 120:  # room for the context header too
                assert count_words([embedding_text(passage, True)])[0] + passage.text.count("\n") + 1 <= max_tokens
            assert passage.episode_id == episode.id
            sections = {line.section for line in episode.lines if line.sec >= passage.start_s and line.sec <= passage.end_s}
            assert passage.section in sections
        line_secs = [line.sec for line in episode.lines]
        if line_secs == sorted(line_secs):  # real transcripts sometimes step back
            starts = [p.start_s for p in passages]
            assert starts == sorted(starts)
        assert all(p.start_s <= p.end_s for p in passages)
        assert [p.ordinal for p in passages] == list(range(len(passages)))


def test_passage_never_crosses_a_section() -> None:
    lines = [Line(f"line {i} words", 10 * i, "Ann Lee", "A" if i < 3 else "B") for i in range(6)]
    passages = chunk_episode(make_episode(lines), count_words, 200)
    assert [(p.section, p.start_s, p.end_s) for p in passages] == [("A", 0, 20), ("B", 30, 50)]


def test_every_line_is_in_exactly_one_passage_without_overlap(corpus_dir: Path) -> None:
    for episode in real_episodes(corpus_dir):
        passages = chunk_episode(episode, count_words, 100)
        pieces = [piece for p in passages for piece in p.text.split("\n")]
        # Long lines are split into several pieces, each labelled with its speaker.
        assert " ".join(pieces).split() != [] and len(pieces) >= len(episode.lines)
        spoken = [word for piece in pieces for word in piece.split(": ", 1)[1].split()]
        assert spoken == [word for line in episode.lines for word in line.text.split()]


def test_overlap_repeats_the_last_line_in_the_next_passage() -> None:
    lines = [Line(f"sentence number {i} here", i, "Ann Lee", "S") for i in range(10)]
    passages = chunk_episode(make_episode(lines), count_words, 32, overlap_lines=1)
    for before, after in zip(passages, passages[1:]):
        assert after.text.split("\n")[0] == before.text.split("\n")[-1]
    covered = {line for p in passages for line in p.text.split("\n")}
    assert covered == {speaker_label(line) for line in lines}


def test_long_line_splits_at_sentences_and_keeps_its_second() -> None:
    sentences = [f"Sentence {i} has exactly seven words." for i in range(30)]
    long_line = Line(" ".join(sentences), 300, "Ann Lee", "S")
    passages = chunk_episode(make_episode([long_line]), count_words, 40)
    assert len(passages) > 1
    assert all(p.start_s == 300 and p.url.endswith("&t=300s") for p in passages)
    assert all(p.text.split(": ", 1)[1].endswith(".") for p in passages)
    rebuilt = " ".join(p.text.split(": ", 1)[1] for p in passages)
    assert rebuilt == long_line.text


def test_run_on_sentence_splits_at_words_without_losing_any() -> None:
    words = [f"w{i}" for i in range(200)]
    passages = chunk_episode(make_episode([Line(" ".join(words), 5, "Ann Lee", "S")]), count_words, 50)
    assert all(count_words([p.text])[0] <= 50 for p in passages)
    assert " ".join(p.text.split(": ", 1)[1] for p in passages).split() == words


def test_passage_knows_speakers_url_and_label() -> None:
    lines = [Line("Hi.", 61, "Alexey", "Intro"), Line("Hello! Glad to be here.", 65, "Ann Lee", "Intro")]
    [passage] = chunk_episode(make_episode(lines), count_words, 100)
    assert passage.speakers == ("Ann Lee", "Alexey")  # who spoke most first
    assert passage.text == "Alexey: Hi.\nAnn Lee: Hello! Glad to be here."
    assert (passage.start_s, passage.end_s, passage.season, passage.guests) == (61, 65, 2, ("Ann Lee",))
    assert passage.url == "https://www.youtube.com/watch?v=vid123abcde&t=61s"
    assert passage.label() == "Title — Ann Lee @ 1:01"
    assert passage.line_starts == (61, 65) and passage.line_at(1) == ("Ann Lee", 65)


def test_format_timestamp() -> None:
    assert [format_timestamp(s) for s in (0, 75, 3723)] == ["0:00", "1:15", "1:02:03"]
