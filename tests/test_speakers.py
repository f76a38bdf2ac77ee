"""Speakers as real podcast files give them (issue #22): turns, stage directions, short
names, and no speaker text where the transcript names nobody.

The real files are in ../shared/external (see SOURCES.md there); they are read in
place, never copied into the repository.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answers.extractive import ExtractiveAnswerer
from rag.cli import cli
from rag.index.build import ingest
from rag.index.chunking import Passage, chunk_episode
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.search.hits import Hit
from rag.sources.episode import Episode, Line
from rag.sources.formats.speakers import drop_stage_directions
from rag.sources.formats.srt import parse_srt
from rag.sources.formats.vtt import parse_vtt
from rag.sources.sidecar import episode_from_transcript, sidecar_path

EXTERNAL = Path(__file__).resolve().parents[2] / "shared" / "external"
BUZZSPROUT = EXTERNAL / "buzzsprout-example" / "buzzsprout-10-things-we-wish-we-knew.vtt"


def read_episode(path: Path) -> Episode:
    sidecar = sidecar_path(path)
    episode, _ = episode_from_transcript(path.read_text(encoding="utf-8"), path.name,
                                         sidecar.read_text(encoding="utf-8") if sidecar else None, sidecar_name=str(sidecar))
    return episode


def turns(lines: tuple[Line, ...]) -> list[tuple[int, str]]:
    """(second, speaker) of each turn's first line."""
    return [(x.sec, x.speaker) for i, x in enumerate(lines) if i == 0 or lines[i - 1].speaker != x.speaker]


def words_by_speaker(episode: Episode) -> Counter[str]:
    return Counter({speaker: sum(len(x.text.split()) for x in episode.lines if x.speaker == speaker)
                    for speaker in {x.speaker for x in episode.lines}})


# --------------------------------------------------------------------------- turns


def test_a_voice_tag_holds_until_the_next_tag_or_prefix() -> None:
    text = ("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Travis> When you first\n\n"
            "00:02.000 --> 00:03.000\nget started.\n\n"
            "00:04.000 --> 00:05.000\nGilon: So is there\n\n"
            "00:05.000 --> 00:06.000\nan ideal length?\n\n"
            "00:07.000 --> 00:08.000\n<v Travis> Be a guest.\n")
    lines, notes = parse_vtt(text, "a.vtt")
    assert lines == [Line("When you first get started.", 1, "Travis", ""), Line("So is there an ideal length?", 4, "Gilon", ""),
                     Line("Be a guest.", 7, "Travis", "")]
    assert notes == []


def test_buzzsprout_travis_speaks_most_and_gilon_only_his_three_turns() -> None:
    episode = read_episode(BUZZSPROUT)
    assert all(line.speaker for line in episode.lines)
    assert words_by_speaker(episode).most_common(1)[0][0] == "Travis"
    assert turns(episode.lines) == [(0, "Travis"), (53, "Sarah"), (102, "Travis"), (219, "Gilon"), (263, "Travis"),
                                    (322, "Gilon"), (376, "Travis"), (562, "Sarah"), (617, "Gilon"), (691, "Travis")]


# --------------------------------------------------------------------------- stage directions


def test_stage_directions_are_no_speaker_and_no_words_even_across_cues() -> None:
    text = ("1\n00:00:01,000 --> 00:00:02,000\nDavid: It's good to have community in that [Bekah\n\n"
            "2\n00:00:02,000 --> 00:00:03,000\nchuckles]. But yeah,\n\n"
            "3\n00:00:03,000 --> 00:00:04,000\n[chuckles] less code (laughing) (in 2020).\n\n"
            "4\n00:00:05,000 --> 00:00:06,000\n[Dan and Bekah\nchuckle]\n\n"
            "5\n00:00:07,000 --> 00:00:08,000\n[Dat Tran] Fine.\n")
    lines, _ = parse_srt(text, "a.srt")
    assert lines == [Line("It's good to have community in that. But yeah, less code (in 2020).", 1, "David", ""),
                     Line("Fine.", 7, "Dat Tran", "")]


@pytest.mark.parametrize(("said", "spoken"), [
    ("[laughter]", ""),
    ("(music) Welcome back.", "Welcome back."),
    ("[crosstalk] Sorry, go ahead.", "Sorry, go ahead."),
    ("[Laughs]. Anyway", "Anyway"),
    ("as [Dat] said", "as [Dat] said"),
    ("an API (application programming interface)", "an API (application programming interface)"),
])
def test_only_stage_directions_are_dropped_from_the_words(said: str, spoken: str) -> None:
    assert drop_stage_directions(said) == spoken


@pytest.mark.parametrize(("episode_id", "speakers"), [
    ("virtual-coffee-s6e1", {"Bekah Hawrot Weigel", "Dan Ott", "David Alpert"}),
    ("virtual-coffee-s6e4", {"Bekah Hawrot Weigel", "Dan Ott", "Sadie Jay"}),
    ("virtual-coffee-s8e3", {"Bekah", "Dan", "Carmen Kolohe"}),  # no full name for the hosts in this one
])
def test_virtual_coffee_speakers_are_its_people_each_once_and_no_stage_direction(episode_id: str, speakers: set[str]) -> None:
    episode = read_episode(EXTERNAL / "virtual-coffee" / f"{episode_id}.srt")
    assert {line.speaker for line in episode.lines} == speakers
    assert not [line.text for line in episode.lines if "[" in line.text or "]" in line.text]


def test_a_sidecar_speakers_mapping_names_a_short_label_no_transcript_name_could() -> None:
    srt = ("1\n00:00:01,000 --> 00:00:02,000\nDan: Hi.\n\n2\n00:00:03,000 --> 00:00:04,000\nBekah: Hello.\n\n"
           "3\n00:00:05,000 --> 00:00:06,000\nCarmen: Hey.\n")
    sidecar = "title: T\nguests: [Carmen Kolohe]\nhosts: [Dan Ott, Dan Brown]\nspeakers: {Bekah: Bekah Hawrot Weigel}\n"
    episode, notes = episode_from_transcript(srt, "ep.srt", sidecar)
    # "Dan" could be either host; "Bekah" the mapping names; "Carmen" the one guest of that name.
    assert [line.speaker for line in episode.lines] == ["Dan", "Bekah Hawrot Weigel", "Carmen Kolohe"]
    assert episode.guests == ("Carmen Kolohe",) and notes == []
    _, notes = episode_from_transcript(srt, "ep.srt", "speakers: [Bekah]\n")
    assert notes == ["sidecar speakers: ['Bekah'] is not a mapping of label to name; ignored"]


# --------------------------------------------------------------------------- no speaker, no speaker text


def test_a_line_without_a_speaker_is_just_its_words_and_line_at_names_nobody() -> None:
    episode = Episode("e", "T", None, (), None, None, None,
                      (Line("Note: said by nobody known.", 0, "", ""), Line("Note: this.", 9, "Ann", "")), "e.vtt")
    (passage,) = chunk_episode(episode, lambda texts: [len(t.split()) for t in texts], 100)
    assert passage.text == "Note: said by nobody known.\nAnn: Note: this."
    assert [passage.line_at(0), passage.line_at(1)] == [("", 0), ("Ann", 9)]
    assert passage.spoken_lines() == [("", "Note: said by nobody known."), ("Ann", "Note: this.")]


@pytest.fixture(scope="module")
def talk_python_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("talk-python") / "index"
    ingest([EXTERNAL / "talk-python"], index_dir, HashingEmbedder(dim=64))
    return index_dir


def test_an_index_of_talk_python_holds_no_unknown_speaker_text(talk_python_index: Path) -> None:
    passages = load_index(talk_python_index).passages
    assert len({p.episode_id for p in passages}) == 3
    assert [p.id for p in passages if "Unknown speaker" in p.text or p.speakers] == []
    assert all(p.line_at(i)[0] == "" for p in passages for i in range(len(p.line_starts)))


def test_search_json_gives_a_null_speaker_when_nobody_is_named(talk_python_index: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "outlier detection", "--index", str(talk_python_index), "-k", "3",
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    assert [(r["speaker"], r["speakers"]) for r in results] == [(None, [])] * 3
    assert "Unknown speaker" not in result.output


def test_an_extractive_quote_names_no_unknown_speaker(talk_python_index: Path) -> None:
    passages = load_index(talk_python_index).passages
    passage: Passage = next(p for p in passages if "outlier" in p.text)
    hit = Hit(passage, 1.0, "dense")
    quotes = ExtractiveAnswerer(HashingEmbedder(dim=64)).quote("What is outlier detection?", [hit])
    assert quotes is not None
    assert quotes.text.startswith("- “") and "Unknown speaker" not in quotes.text


# --------------------------------------------------------------------------- eval/speakers.py


def test_the_speaker_report_counts_cues_turns_and_words_of_every_real_file(capsys: pytest.CaptureFixture[str]) -> None:
    from eval.speakers import main

    assert main(["--external", str(EXTERNAL), "--json"]) == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert len(rows) == 10
    assert rows["buzzsprout-example/buzzsprout-10-things-we-wish-we-knew.vtt"] == {
        "name": "buzzsprout-example/buzzsprout-10-things-we-wish-we-knew.vtt", "format": "vtt", "cues": 222,
        "lines": 13, "turns": 10, "sentences": 137, "words": {"Travis": 1568, "Gilon": 640, "Sarah": 284},
    }
    # Captions that glue sentences ("...going?Good.So") are cut into sentences all the same.
    assert rows["virtual-coffee/virtual-coffee-s8e3.srt"]["sentences"] > 3 * rows["virtual-coffee/virtual-coffee-s8e3.srt"]["lines"]
    assert {name: list(row["words"]) for name, row in rows.items() if not name.startswith("virtual-coffee")} == {
        name: (["Travis", "Gilon", "Sarah"] if name.startswith("buzzsprout") else ["-"]) for name in rows
        if not name.startswith("virtual-coffee")
    }


def test_the_speaker_report_names_a_file_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from eval.speakers import main

    (tmp_path / "show").mkdir()
    (tmp_path / "show" / "ep.vtt").write_text("WEBVTT\n\nno cue here\n")
    assert main(["--external", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"{tmp_path / 'show' / 'ep.vtt'}: cannot be read: "
                                       "ep.vtt: no WebVTT cue (no 'start --> end' timing line)\n")
