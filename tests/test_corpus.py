from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from rag.errors import CorpusError, TranscriptParseError
from rag.sources.episode import parse_timestamp
from rag.sources.formats.dtc import episode_id_from_path, parse_episode
from rag.sources.git import public_source
from rag.sources.load import load_corpus
from tests.conftest import DATA, commit_git_repo, episode_text, git_config_env, write_episode


def notes_for(corpus, name: str) -> list[str]:
    return [f"{n.action}: {n.reason}" for n in corpus.notes if Path(n.path).name == name]


def test_real_episode_has_title_guests_season_and_video(corpus_dir: Path) -> None:
    corpus = load_corpus([corpus_dir])
    episode = next(e for e in corpus.episodes if e.id == "building-data-team")
    assert episode.title.startswith("How to Build and Scale ML Teams")
    assert episode.guests == ("Dat Tran",)
    assert (episode.season, episode.number, episode.youtube_id) == (1, 3, "ScDIB-3O77A")
    assert episode.date == "2021-02-23"
    assert episode.url_at(126) == "https://www.youtube.com/watch?v=ScDIB-3O77A&t=126s"


def test_guest_first_name_becomes_display_name_and_sections_follow_headers(corpus_dir: Path) -> None:
    episode = next(e for e in load_corpus([corpus_dir]).episodes if e.id == "building-data-team")
    first, second = episode.lines[0], episode.lines[1]
    assert (first.speaker, first.sec, first.section) == ("Alexey", 126, "Guest Overview & Career Snapshot")
    assert second.speaker == "Dat Tran"


def test_clean_real_corpus_slice_has_no_notes(corpus_dir: Path) -> None:
    corpus = load_corpus([corpus_dir])
    assert len(corpus.episodes) == 4
    assert corpus.notes == []


def test_junk_before_front_matter_is_ignored_and_reported(tmp_path: Path) -> None:
    write_episode(tmp_path / "eps", "junky.md", "_\nstray text\n" + episode_text())
    corpus = load_corpus([tmp_path / "eps"])
    assert [e.id for e in corpus.episodes] == ["junky"]
    assert notes_for(corpus, "junky.md") == ["repaired: ignored 2 line(s) of junk before the front matter"]


def test_broken_yaml_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    write_episode(tmp_path / "eps", "broken.md", "---\ntitle: ok\nguests: [a\nids: {youtube: x}\n---\n")
    write_episode(tmp_path / "eps", "good.md", episode_text())
    corpus = load_corpus([tmp_path / "eps"])
    assert [e.id for e in corpus.episodes] == ["good"]
    [note] = notes_for(corpus, "broken.md")
    assert note.startswith("skipped: ") and "broken YAML front matter" in note
    assert str(tmp_path / "eps" / "broken.md") + ":" in str(corpus.notes[0])


def test_binary_and_empty_files_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "eps"
    folder.mkdir()
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (folder / "latin1.md").write_bytes("---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    (folder / "empty.md").write_text("")
    write_episode(folder, "good.md", episode_text())
    corpus = load_corpus([folder])
    assert [e.id for e in corpus.episodes] == ["good"]
    assert notes_for(corpus, "binary.md") == ["skipped: binary file, not a transcript"]
    assert notes_for(corpus, "latin1.md") == ["skipped: not a UTF-8 text file"]
    assert notes_for(corpus, "empty.md") == ["skipped: empty file"]


def test_a_transcript_or_sidecar_over_the_size_limit_is_skipped_unread(tmp_path: Path) -> None:
    from rag.limits import MAX_TRANSCRIPT_BYTES

    folder = tmp_path / "eps"
    write_episode(folder, "good.md", episode_text())
    cue = "00:01.000 --> 00:02.000\nHello there.\n\n"
    (folder / "marathon.vtt").write_text("WEBVTT\n\n" + cue * (MAX_TRANSCRIPT_BYTES // len(cue) + 1))
    (folder / "talk.vtt").write_text("WEBVTT\n\n" + cue)
    (folder / "talk.yaml").write_text("title: Talk\ndescription: " + "x" * MAX_TRANSCRIPT_BYTES + "\n")
    corpus = load_corpus([folder])
    assert [e.id for e in corpus.episodes] == ["good"]
    assert notes_for(corpus, "marathon.vtt") == ["skipped: larger than 20 MB, not read"]
    assert notes_for(corpus, "talk.vtt") == [f"skipped: {folder / 'talk.yaml'}: larger than 20 MB, not read"]


def test_file_without_transcript_is_skipped(tmp_path: Path) -> None:
    write_episode(tmp_path / "eps", "notes-only.md", "---\ntitle: Show notes\nids: {youtube: x}\n---\nBody\n")
    corpus = load_corpus([tmp_path / "eps"])
    assert corpus.episodes == []
    assert notes_for(corpus, "notes-only.md") == ["skipped: no transcript"]


def test_line_without_sec_uses_time_then_the_previous_second() -> None:
    text = """---
title: T
transcript:
- line: first
  sec: 100
  who: A
- line: timed by time only
  time: '2:05'
  who: A
- line: no timestamp at all
  who: A
---
"""
    episode, repairs = parse_episode(text, "t.md", {})
    assert [line.sec for line in episode.lines] == [100, 125, 125]
    assert sorted(repairs) == [
        "1 line(s) without 'sec' or 'time' given the previous line's second",
        "1 line(s) without 'sec' timed from 'time'",
    ]


def test_untimed_copy_of_a_timed_line_is_dropped() -> None:
    text = """---
title: T
transcript:
- line: Hello there everyone.
- line: Hello there everyone.
  sec: 74
  who: Alexey
---
"""
    episode, repairs = parse_episode(text, "t.md", {})
    assert [(line.text, line.sec) for line in episode.lines] == [("Hello there everyone.", 74)]
    assert repairs == ["1 untimed duplicate line(s) dropped"]


def test_line_without_who_and_items_that_are_not_mappings() -> None:
    text = """---
title: T
transcript:
- just a string
- 42
- line: nobody said this
  sec: 3
- line: ''
  sec: 4
  who: A
---
"""
    episode, repairs = parse_episode(text, "t.md", {})
    assert [(line.text, line.speaker) for line in episode.lines] == [("nobody said this", "")]
    assert sorted(repairs) == [
        "1 empty line(s) dropped",
        "1 line(s) without 'who' left without a speaker",
        "2 item(s) that are not mappings ignored",
    ]


def test_transcript_with_no_spoken_line_is_an_error() -> None:
    with pytest.raises(TranscriptParseError, match=r"^x\.md: transcript has no spoken lines$"):
        parse_episode("---\ntitle: T\ntranscript:\n- header: Only a header\n---\n", "x.md", {})


def test_duplicate_youtube_id_keeps_one_and_says_which(tmp_path: Path) -> None:
    folder = tmp_path / "eps"
    write_episode(folder, "a-first.md", episode_text(youtube="sameVideoId", topic="kafka"))
    write_episode(folder, "b-second.md", episode_text(youtube="sameVideoId", topic="flink"))
    corpus = load_corpus([folder])
    assert [e.id for e in corpus.episodes] == ["a-first"]
    [note] = notes_for(corpus, "b-second.md")
    assert note.startswith(f"duplicate: same YouTube id as {folder / 'a-first.md'}; kept 'a-first'")


def test_duplicate_transcript_keeps_the_episode_whose_guest_speaks(tmp_path: Path) -> None:
    # Same transcript (spoken by Ann) filed under another guest's episode first.
    write_episode(tmp_path / "podcast", "a-wrong.md", episode_text(guest="bobsmith", youtube="videoNumbr1"))
    write_episode(tmp_path / "podcast", "b-right.md", episode_text(guest="annlee", youtube="videoNumbr2"))
    write_episode(tmp_path / "people", "annlee.md", "---\ntitle: Ann Lee\n---\n")
    write_episode(tmp_path / "people", "bobsmith.md", "---\ntitle: Bob Smith\n---\n")
    corpus = load_corpus([tmp_path])
    assert [e.id for e in corpus.episodes] == ["b-right"]
    [note] = notes_for(corpus, "a-wrong.md")
    assert "same transcript as" in note and "its guest Ann Lee speaks in the transcript" in note


def test_md_md_file_keeps_one_md_in_its_id(tmp_path: Path) -> None:
    write_episode(tmp_path / "eps", "mentoring.md.md", episode_text())
    corpus = load_corpus([tmp_path / "eps"])
    assert [e.id for e in corpus.episodes] == ["mentoring.md"]
    assert episode_id_from_path("x.md.md") == "x.md"
    assert notes_for(corpus, "mentoring.md.md") == [
        "repaired: file name ends in '.md.md'; episode id is 'mentoring.md'"
    ]


def test_older_seed_layout_is_read() -> None:
    corpus = load_corpus([DATA / "seed-layout"])
    [episode] = corpus.episodes
    assert episode.id == "s11e01-seed-version"
    assert episode.title == "From Testing Phones to Managing NLP Projects"
    assert episode.youtube_id == "-xumbiXOlA8"
    assert episode.lines[0].sec == 75 and episode.lines[0].section == ""
    assert any(line.section == "Alvaro’s background" for line in episode.lines)


def test_website_layout_with_underscore_folders(tmp_path: Path) -> None:
    write_episode(tmp_path / "_podcast", "ep.md", episode_text(guest="annlee"))
    write_episode(tmp_path / "_people", "annlee.md", "---\ntitle: Ann Lee\n---\n")
    [episode] = load_corpus([tmp_path]).episodes
    assert episode.guests == ("Ann Lee",)


def test_missing_source_is_reported_and_the_others_are_read(tmp_path: Path, corpus_dir: Path) -> None:
    corpus = load_corpus([tmp_path / "nope", corpus_dir])
    assert len(corpus.episodes) == 4
    assert [str(n) for n in corpus.notes] == [f"error: {tmp_path / 'nope'}: no such file or folder"]


def test_only_missing_sources_raise(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus([tmp_path / "nope"])


def test_git_url_source_is_shallow_cloned(tmp_path: Path) -> None:
    repo = tmp_path / "website"
    write_episode(repo / "_podcast", "ep.md", episode_text())
    write_episode(repo / "_people", "annlee.md", "---\ntitle: Ann Lee\n---\n")
    commit_git_repo(repo)
    corpus = load_corpus([f"file://{repo}"], clone_dir=tmp_path / "clones")
    assert [(e.id, e.guests) for e in corpus.episodes] == [("ep", ("Ann Lee",))]


def test_bad_git_url_names_the_url(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"^file:///nonexistent/repo: git clone failed: fatal: "):
        load_corpus(["file:///nonexistent/repo"], clone_dir=tmp_path / "clones")


def test_clone_goes_to_a_private_folder_removed_afterwards(tmp_path: Path) -> None:
    repo = commit_git_repo(write_episode(tmp_path / "website" / "_podcast", "ep.md", episode_text()).parent.parent)
    clones = tmp_path / "clones"
    (clones / "someone-elses-checkout").mkdir(parents=True)
    corpus = load_corpus([f"file://{repo}", str(repo)], clone_dir=clones)
    assert [e.id for e in corpus.episodes] == ["ep"] and corpus.count("duplicate") == 1
    assert [p.name for p in clones.iterdir()] == ["someone-elses-checkout"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ssh://example.invalid/corpus.git", "ssh://example.invalid/corpus.git"),
        ("ssh://user:secret@example.invalid/corpus.git", "ssh://example.invalid/corpus.git"),
        ("git://example.invalid/corpus.git", "git://example.invalid/corpus.git"),
        ("http://example.invalid/corpus.git?token=secret", "http://example.invalid/corpus.git"),
        ("git@example.invalid:corpus.git", "example.invalid:corpus.git"),
        ("ext::sh -c touch% pwned", "ext::sh -c touch% pwned"),
        ("ftp://example.invalid/corpus.git", "ftp://example.invalid/corpus.git"),
    ],
)
def test_only_https_file_and_local_git_sources_are_cloned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError) as caught:
        load_corpus([url], clone_dir=tmp_path / "clones")
    assert str(caught.value) == f"{shown}: refused: only https:// and file:// URLs or local paths can be cloned"
    assert not (tmp_path / "pwned").exists()


def test_git_url_credentials_never_appear_in_errors(tmp_path: Path) -> None:
    url = "https://user:s3cr3t@127.0.0.1:1/corpus.git?private_token=t0k3n"  # nothing listens on port 1
    with pytest.raises(CorpusError) as caught:
        load_corpus([url], clone_dir=tmp_path / "clones")
    message = str(caught.value)
    assert message.startswith("https://127.0.0.1:1/corpus.git: git clone failed: fatal: ")
    assert "s3cr3t" not in message and "t0k3n" not in message and "user" not in message


def test_a_source_that_looks_like_an_option_reaches_git_as_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusError) as caught:
        load_corpus(["--upload-pack=touch pwned.git"], clone_dir=tmp_path / "clones")
    assert str(caught.value) == (
        "--upload-pack=touch pwned.git: git clone failed: "
        "fatal: repository '--upload-pack=touch pwned.git' does not exist"
    )
    assert not (tmp_path / "pwned.git").exists()


def test_git_config_cannot_turn_an_https_clone_into_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git_config_env(monkeypatch, {"url.ssh://git@example.invalid/.insteadOf": "https://example.invalid/"})
    monkeypatch.setenv("GIT_SSH_COMMAND", "false")
    with pytest.raises(CorpusError) as caught:
        load_corpus(["https://example.invalid/corpus.git"], clone_dir=tmp_path / "clones")
    assert str(caught.value) == "https://example.invalid/corpus.git: git clone failed: fatal: transport 'ssh' not allowed"


def test_cloned_symlinks_are_plain_files(tmp_path: Path) -> None:
    repo = tmp_path / "website"
    write_episode(repo / "_podcast", "ep.md", episode_text())
    os.symlink("ep.md", repo / "_podcast" / "link.md")
    commit_git_repo(repo)
    corpus = load_corpus([f"file://{repo}"], clone_dir=tmp_path / "clones")
    assert [e.id for e in corpus.episodes] == ["ep"]
    assert notes_for(corpus, "link.md") == ["skipped: no YAML front matter (no '---' line)"]


def test_public_source_strips_user_info_and_query_from_every_url() -> None:
    text = "rag ingest https://user:tok@github.com/o/c.git?x=1#top --index idx user:pw@host:repo.git"
    assert public_source(text) == "rag ingest https://github.com/o/c.git --index idx host:repo.git"
    assert public_source("/data/corpus@2024/podcast") == "/data/corpus@2024/podcast"


def test_symlinks_that_leave_the_corpus_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_episode(outside, "secret.md", episode_text(title="Secret", topic="passwords", youtube="secretVideo"))
    write_episode(outside, "ghost.md", "---\ntitle: Ghost Writer\n---\n")
    corpus_dir = tmp_path / "corpus"
    write_episode(corpus_dir / "podcast", "ep.md", episode_text(topic="kafka"))
    write_episode(corpus_dir / "drafts", "draft.md", episode_text(topic="flink", youtube="draftVideo1"))
    write_episode(corpus_dir / "people", "annlee.md", "---\ntitle: Ann Lee\n---\n")
    os.symlink(outside / "secret.md", corpus_dir / "podcast" / "leak.md")
    os.symlink(outside / "ghost.md", corpus_dir / "people" / "ghost.md")
    os.symlink(corpus_dir / "drafts" / "draft.md", corpus_dir / "podcast" / "draft.md")  # inside: fine
    os.symlink(corpus_dir, tmp_path / "alias")  # a linked corpus folder is read as itself
    for source in (corpus_dir, tmp_path / "alias"):
        corpus = load_corpus([source])
        assert sorted(e.id for e in corpus.episodes) == ["draft", "ep"]
        assert [str(n) for n in corpus.notes] == [
            f"skipped: {source / 'podcast' / 'leak.md'}: symlink points outside the corpus",
            f"skipped: {source / 'people' / 'ghost.md'}: symlink points outside the corpus",
        ]


def test_titles_and_names_are_single_line() -> None:
    text = """---
title: |
  Streaming
  at   scale
guests: ["ann\\nlee", bobsmith]
ids: {youtube: ScDIB-3O77A}
transcript:
- line: Hello
  sec: 1
  who: "Bob\\n  Smith"
---
"""
    episode, repairs = parse_episode(text, "t.md", {"bobsmith": "Bob\nSmith"})
    assert episode.title == "Streaming at scale"
    assert episode.guests == ("ann lee", "Bob Smith")
    assert episode.lines[0].speaker == "Bob Smith"
    assert (episode.youtube_id, repairs) == ("ScDIB-3O77A", [])


@pytest.mark.parametrize("raw", ["vid123", "ScDIB-3O77A\" onclick=\"x", "https://youtu.be/ScDIB-3O77A", "ScDIB-3O77"])
def test_invalid_youtube_id_is_dropped_and_reported(raw: str) -> None:
    text = "---\ntitle: T\nids:\n  youtube: '" + raw + "'\ntranscript:\n- line: Hi\n  sec: 4\n  who: A\n---\n"
    episode, repairs = parse_episode(text, "t.md", {})
    assert (episode.youtube_id, episode.url_at(4)) == (None, "")
    assert repairs == [f"invalid YouTube id {raw!r} dropped (no video link)"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2:06", 126), ("1:02:03", 3723), (75, 75), ("", None), ("ab", None), (-1, None), (True, None)],
)
def test_parse_timestamp(raw: object, expected: int | None) -> None:
    assert parse_timestamp(raw) == expected


def test_a_pasted_link_tail_after_a_youtube_id_is_cut_off() -> None:
    text = "---\ntitle: T\nids:\n  youtube: 'NfAJAr7FvyY&t'\ntranscript:\n- line: Hi\n  sec: 4\n  who: A\n---\n"
    episode, repairs = parse_episode(text, "t.md", {})
    assert episode.url_at(4) == "https://www.youtube.com/watch?v=NfAJAr7FvyY&t=4s"
    assert repairs == ["YouTube id 'NfAJAr7FvyY&t' cut to 'NfAJAr7FvyY'"]


def _dtc_file(ids: str = "", links: str = "") -> str:
    return f"---\ntitle: T\n{ids}{links}transcript:\n- line: Hi\n  sec: 4\n  who: A\n---\n"


def test_a_dtc_file_without_a_video_plays_its_links_mp3() -> None:
    text = _dtc_file(links="links:\n  spotify: https://open.spotify.com/episode/x\n  mp3: https://cdn.example/ep.mp3\n")
    episode, repairs = parse_episode(text, "t.md", {})
    assert (episode.youtube_id, episode.media_url, repairs) == (None, "https://cdn.example/ep.mp3", [])
    assert episode.url_at(75) == "https://cdn.example/ep.mp3#t=75"


def test_a_dtc_file_with_a_video_keeps_youtube_and_ignores_other_links() -> None:
    text = _dtc_file(ids="ids:\n  youtube: dQw4w9WgXcQ\n", links="links:\n  mp3: https://cdn.example/ep.mp3\n")
    episode, _ = parse_episode(text, "t.md", {})
    assert (episode.media_url, episode.url_at(75)) == (None, "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s")


@pytest.mark.parametrize("mp3", ["javascript:alert(1)", "file:///etc/passwd", "''", "[1, 2]"])
def test_a_links_mp3_that_is_not_http_gives_no_link(mp3: str) -> None:
    episode, _ = parse_episode(_dtc_file(links=f"links:\n  mp3: {mp3}\n"), "t.md", {})
    assert (episode.media_url, episode.url_at(4)) == (None, "")


def test_episode_url_at_links_every_medium() -> None:
    from rag.sources.episode import Episode

    bare = Episode("e", "T", None, (), None, None, None, (), "e.md")
    assert bare.url_at(5) == ""
    assert replace(bare, media_url="https://cdn.example/e.m4a").url_at(5) == "https://cdn.example/e.m4a#t=5"
    assert replace(bare, media_url="https://feed.example/play/9", media_is_file=True).url_at(5) == \
        "https://feed.example/play/9#t=5"
    assert replace(bare, media_url="https://podcast.example/e").url_at(5) == "https://podcast.example/e"
    assert replace(bare, media_url="ftp://podcast.example/e.mp3").url_at(5) == ""
    assert replace(bare, youtube_id="dQw4w9WgXcQ", media_url="https://cdn.example/e.mp3").url_at(5) == \
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=5s"


def test_a_media_url_changes_the_fingerprint_and_none_keeps_the_old_one() -> None:
    from rag.sources.episode import Episode

    bare = Episode("e", "T", None, (), None, None, None, (), "e.md")
    assert replace(bare, media_url="https://cdn.example/e.mp3").fingerprint() != bare.fingerprint()
    # What the fingerprint was before media links: an index built then is not rebuilt.
    assert bare.fingerprint() == "d5af7b38b8d8eb21ef640a4e7c90c948dfe9e36cb995f7141eb2dd8978d22f12"


def test_the_front_matter_description_is_stored_and_changes_the_fingerprint() -> None:
    text = episode_text().replace("title: Test episode\n", "title: Test episode\ndescription: 'Streaming for\n  beginners.'\n")
    episode, repairs = parse_episode(text, "e.md", {})
    assert (episode.description, repairs) == ("Streaming for beginners.", [])
    without, _ = parse_episode(episode_text(), "e.md", {})
    assert without.description == "" and without.fingerprint() != episode.fingerprint()
    assert without.fingerprint() == replace(episode, description="").fingerprint()  # no description: as before
