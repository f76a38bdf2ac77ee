"""DataTalks.Club Markdown files -> `Episode`s.

The episode files are Markdown with YAML front matter (the DataTalks.Club website
layout): `title`, `guests`, `season`, `episode`, `ids.youtube` and a `transcript`
list of `{header: ...}` and `{line, sec, time, who}` items. Real files are messy, so
every oddity has a deliberate outcome: the file is either skipped or repaired, and
one `FileNote` says which and why.

    >>> people = {"dattran": "Dat Tran"}
    >>> text = "---\\ntitle: Hi\\nguests: [dattran]\\nids: {youtube: ScDIB-3O77A}\\n" \\
    ...        "transcript:\\n- line: Hello\\n  sec: 5\\n  who: Dat\\n---\\n"
    >>> episode, repairs = parse_episode(text, "hi.md", people)
    >>> episode.lines[0].speaker, episode.lines[0].sec, repairs
    ('Dat Tran', 5, [])
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Sequence

import yaml

from rag.errors import TranscriptParseError
from rag.moment import VIDEO_ID, media_link
from rag.sources.episode import Episode, Line, as_int, clean_field, guest_names, parse_timestamp

_PASTED_YOUTUBE_ID = re.compile(rf"({VIDEO_ID.pattern})[&?#].*")  # a valid id, then a pasted link's tail

# libyaml's loader is ~10x faster than the pure-Python one: it keeps re-ingest quick.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def episode_id_from_path(path: str | Path) -> str:
    """`x.md` -> `x`; `x.md.md` -> `x.md` (only one `.md` is removed)."""
    name = Path(path).name
    return name[: -len(".md")] if name.endswith(".md") else name


def split_front_matter(text: str, name: str) -> tuple[str, int, int]:
    """Return (yaml_text, first_yaml_line_number, junk_line_count).

    Anything before the first `---` line is junk that some exports left behind;
    it is counted so that the caller can report the repair.
    """
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "---")
    except StopIteration:
        raise TranscriptParseError(f"{name}: no YAML front matter (no '---' line)") from None
    try:
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise TranscriptParseError(
            f"{name}:{start + 1}: front matter is never closed (no second '---' line)"
        ) from None
    junk = sum(1 for line in lines[:start] if line.strip())
    return "\n".join(lines[start + 1 : end]), start + 2, junk


def _speaker_names(guests: Sequence[str]) -> dict[str, str]:
    """Map how transcripts name a guest (first name or full name) to the display name."""
    names: dict[str, str] = {}
    for display in guests:
        names.setdefault(display.casefold(), display)
        first = display.split()[0].casefold() if display.split() else ""
        if first:
            names.setdefault(first, display)
    return names


def parse_episode(text: str, name: str, people: dict[str, str]) -> tuple[Episode, list[str]]:
    """Parse one episode file's text.

    Returns the episode and the repairs made (human-readable phrases, empty when the
    file was clean). Raises `TranscriptParseError` when the file cannot be indexed.
    """
    if not text.strip():
        raise TranscriptParseError(f"{name}: empty file")
    meta, junk = _front_matter(text, name)
    repairs: list[str] = []
    if junk:
        repairs.append(f"ignored {junk} line(s) of junk before the front matter")
    episode_id = episode_id_from_path(name)
    if Path(name).name.endswith(".md.md"):
        repairs.append(f"file name ends in '.md.md'; episode id is {episode_id!r}")
    guests = guest_names(meta.get("guests"), people)
    youtube_id = _youtube_id(meta.get("ids"), repairs)
    lines, line_repairs = _parse_transcript(_transcript_items(meta, name), _speaker_names(guests))
    repairs.extend(line_repairs)
    if not lines:
        raise TranscriptParseError(f"{name}: transcript has no spoken lines")
    return (
        Episode(
            id=episode_id,
            title=clean_field(meta.get("title") or meta.get("short") or episode_id),
            youtube_id=youtube_id,
            guests=guests,
            season=as_int(meta.get("season")),
            number=as_int(meta.get("episode")),
            date=clean_field(meta.get("date") or meta.get("dateadded") or "") or None,
            lines=tuple(lines),
            source=name,
            media_url=_media_file_link(meta.get("links")) if youtube_id is None else None,
            description=clean_field(meta.get("description") or ""),
        ),
        repairs,
    )


def _front_matter(text: str, name: str) -> tuple[dict, int]:
    """(the front matter's mapping, junk lines before it); raises `TranscriptParseError`
    naming the file (and the line, for broken YAML)."""
    yaml_text, first_line, junk = split_front_matter(text, name)
    try:
        meta = yaml.load(yaml_text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{first_line + mark.line}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TranscriptParseError(f"{where}: broken YAML front matter: {problem}") from None
    if not isinstance(meta, dict):
        raise TranscriptParseError(f"{name}: front matter is not a mapping")
    return meta, junk


def _youtube_id(ids: object, repairs: list[str]) -> str | None:
    """The `ids: {youtube: ...}` video id, repaired or dropped (with a note in `repairs`)."""
    if not isinstance(ids, dict) or not ids.get("youtube"):
        return None
    youtube_id = str(ids["youtube"]).strip()
    if VIDEO_ID.fullmatch(youtube_id):
        return youtube_id
    # A pasted link's tail ("NfAJAr7FvyY&t") leaves a valid id in front of it.
    pasted = _PASTED_YOUTUBE_ID.fullmatch(youtube_id)
    if pasted:
        repairs.append(f"YouTube id {youtube_id!r} cut to {pasted[1]!r}")
        return pasted[1]
    repairs.append(f"invalid YouTube id {youtube_id!r} dropped (no video link)")
    return None


def _transcript_items(meta: dict, name: str) -> list:
    transcript = meta.get("transcript")
    if not transcript:
        raise TranscriptParseError(f"{name}: no transcript")
    if not isinstance(transcript, list):
        raise TranscriptParseError(f"{name}: 'transcript' is not a list")
    return transcript


# `links:` keys of a DTC file that name the episode's own audio file (played in the page).
MEDIA_LINK_KEYS = ("mp3", "audio")


def _media_file_link(links: object) -> str | None:
    """The http(s) audio file of a DTC file's `links:` (`mp3:` or `audio:`), else None."""
    if not isinstance(links, dict):
        return None
    for key in MEDIA_LINK_KEYS:
        url = str(links.get(key) or "").strip()
        if media_link(url, media=True):
            return url
    return None


def _parse_transcript(items: list, speakers: dict[str, str]) -> tuple[list[Line], list[str]]:
    counts: Counter[str] = Counter()
    timed_texts = {
        clean_field(item["line"])
        for item in items
        if isinstance(item, dict) and "line" in item and parse_timestamp(item.get("sec")) is not None
    }
    lines: list[Line] = []
    section = ""
    previous_sec = 0
    for item in items:
        if not isinstance(item, dict):
            counts["item(s) that are not mappings ignored"] += 1
            continue
        if "header" in item and "line" not in item:
            section = clean_field(item["header"])
            continue
        if "line" not in item:
            counts["item(s) with neither 'line' nor 'header' ignored"] += 1
            continue
        text = clean_field(item["line"])
        if not text:
            counts["empty line(s) dropped"] += 1
            continue
        sec = parse_timestamp(item.get("sec"))
        if sec is None:
            if text in timed_texts:
                # Some exports repeat a line once without its timestamp just
                # before the timed copy; keeping both would index it twice.
                counts["untimed duplicate line(s) dropped"] += 1
                continue
            sec = parse_timestamp(item.get("time"))
            if sec is not None:
                counts["line(s) without 'sec' timed from 'time'"] += 1
            else:
                sec = previous_sec
                counts["line(s) without 'sec' or 'time' given the previous line's second"] += 1
        who = clean_field(item.get("who") or "")
        if not who:
            counts["line(s) without 'who' left without a speaker"] += 1
        lines.append(Line(text=text, sec=sec, speaker=speakers.get(who.casefold(), who), section=section))
        previous_sec = sec
    return lines, [f"{n} {what}" for what, n in counts.items()]


def parse_people_file(text: str, name: str) -> tuple[str, str]:
    """Return (person id, display name) from a people file's front matter."""
    yaml_text, _, _ = split_front_matter(text, name)
    try:
        meta = yaml.load(yaml_text, Loader=_YamlLoader)
    except yaml.YAMLError:
        raise TranscriptParseError(f"{name}: broken YAML front matter") from None
    if not isinstance(meta, dict) or not meta.get("title"):
        raise TranscriptParseError(f"{name}: people file has no 'title'")
    return episode_id_from_path(name), " ".join(str(meta["title"]).split())
