"""Mining the interviewers' questions and where their answers start (rag.search.pairs)."""

from __future__ import annotations

from pathlib import Path

from rag.index.build import ingest
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.pairs import (
    Pair,
    SpokenLine,
    drop_stock_questions,
    is_validation_episode,
    mine_pairs,
    mine_store,
    question_of,
    split_by_episode,
)

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"


def test_mining_finds_the_host_questions_of_a_known_episode_with_their_answer_starts(built_index: Path) -> None:
    lines, pairs = mine_store(load_index(built_index).passages)
    episode = "algorithms-data-structures-for-engineers"
    turns = [(p.question, p.answer_sec) for p in pairs if p.episode_id == episode and p.kind == "turn"]
    assert turns[:3] == [
        ("Can you tell us about your career journey so far?", 191),
        ("Does Tundra have anything to do with forests in Russia?", 252),
        ("How should people approach learning algorithms?", 319),
    ]
    assert ("How do I learn how to use Bloom filters?", 1081) in turns
    assert len(turns) == 17
    bloom = next(p for p in pairs if p.question == "How do I learn how to use Bloom filters?")
    answer = lines[episode][bloom.answer_line]
    assert answer.speaker == "Marcello La Rocca" and answer.sec == 1081
    assert lines[episode][bloom.answer_line - 1].speaker == "Alexey"


def test_every_chapter_gives_its_title_and_first_line(built_index: Path) -> None:
    lines, pairs = mine_store(load_index(built_index).passages)
    chapters = [p for p in pairs if p.kind == "chapter"]
    assert chapters
    for pair in chapters:
        episode = lines[pair.episode_id]
        assert episode[pair.answer_line].section == pair.question
        assert pair.answer_line == 0 or episode[pair.answer_line - 1].section != pair.question


def test_tags_fillers_and_guest_questions_are_not_questions() -> None:
    lines = [
        SpokenLine("Host", 0, "It's basically SQL on top of files, right?", ""),
        SpokenLine("Guest", 5, "Yes, more or less, it scans the parquet files and pushes the filters down to them.", ""),
        SpokenLine("Host", 20, "Really?", ""),
        SpokenLine("Guest", 22, "Yes, and you know what the funny thing is about all of this? Nobody reads the docs.", ""),
        SpokenLine("Host", 40, "Why does nobody read the docs, do you think?", ""),
        SpokenLine("Guest", 45, "Short.", ""),
    ]
    assert mine_pairs("e", lines, guests=("Guest",)) == []
    assert question_of("Why not?") is None


def test_a_transcript_without_speakers_pairs_question_lines_with_the_next_line() -> None:
    lines = [
        SpokenLine("", 0, "So what got you into open source maintenance in the first place?", ""),
        SpokenLine("", 6, "I fixed a bug in a library I used at work and the maintainer asked me to help review.", ""),
        SpokenLine("", 15, "Is it hard?", ""),
        SpokenLine("", 17, "What do you mean?", ""),
    ]
    assert mine_pairs("e", lines) == [
        Pair("e", "So what got you into open source maintenance in the first place?", 1, 6, "line")
    ]


def test_stock_questions_are_kept_once_and_the_split_is_by_episode(built_index: Path) -> None:
    _, pairs = mine_store(load_index(built_index).passages)
    assert len({" ".join(p.question.casefold().split()) for p in pairs}) == len(
        drop_stock_questions(pairs + pairs))
    training, validation = split_by_episode(pairs)
    assert sorted(training + validation, key=id) == sorted(pairs, key=id)
    assert not {p.episode_id for p in training} & {p.episode_id for p in validation}
    assert split_by_episode(pairs) == (training, validation)
    assert all(is_validation_episode(p.episode_id) for p in validation)


def test_speakerless_vtt_episodes_give_line_pairs_and_no_turns(tmp_path: Path) -> None:
    index_dir = tmp_path / "talk-python"
    ingest([EXTERNAL / "talk-python"], index_dir, HashingEmbedder(dim=64))
    _, pairs = mine_store(load_index(index_dir).passages)
    kinds = {p.kind for p in pairs}
    assert "turn" not in kinds
    assert sum(p.kind == "line" for p in pairs) > 0
