"""A transcript file in any format plus its optional sidecar -> an `Episode`.

The sidecar is `NAME.yaml` (or `NAME.yml`) beside `NAME.vtt`/`.srt`/`.json`:

    title: How to Build and Scale ML Teams
    url: https://www.youtube.com/watch?v=ScDIB-3O77A   # video, audio file or page
    guests: [Dat Tran]
    season: 1
    date: 2021-02-23
    description: Dat Tran on hiring and MLOps.
    speakers: {SPEAKER_00: Alexey, SPEAKER_01: Dat Tran}   # optional: rename labels (diarized, or "Bekah")
    hosts: [Alexey Grigorev]   # optional: only to tell who a first-name label is
    chapters: [{start: 0, title: Intro}, {start: "2:06", title: Dat's background}]  # optional: sections

The episode id is the file stem. Without a sidecar the title comes from the file
name, and a repair note says so. A speaker label that is the first name of exactly one
full name among the transcript's speakers, the guests and the hosts is that person
("Bekah:" after "Bekah Hawrot Weigel:"; `rag.sources.formats.speakers.name_speakers`).

    >>> ep, notes = episode_from_transcript("WEBVTT\\n\\n00:05.000 --> 00:06.000\\nHi\\n", "data-teams.vtt", None)
    >>> ep.id, ep.title, ep.lines[0].sec, notes
    ('data-teams', 'Data teams', 5, ['no sidecar data-teams.yaml; title taken from the file name'])
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rag.errors import TranscriptParseError
from rag.moment import Moment, media_link
from rag.sources.episode import Episode, as_int, clean_field, guest_names
from rag.sources.formats import parse_transcript
from rag.sources.formats.chapters import parse_chapters, with_chapters
from rag.sources.formats.speakers import name_speakers

SIDECAR_SUFFIXES = (".yaml", ".yml")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def sidecar_path(transcript: Path) -> Path | None:
    """`NAME.yaml` or `NAME.yml` beside `transcript`, when one exists."""
    for suffix in SIDECAR_SUFFIXES:
        candidate = transcript.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def parse_sidecar(text: str, name: str) -> dict:
    """The sidecar's mapping; raises `TranscriptParseError` naming `name` when unreadable."""
    try:
        meta = yaml.load(text, Loader=_Loader) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise TranscriptParseError(f"{where}: broken YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(meta, dict):
        raise TranscriptParseError(f"{name}: sidecar is not a mapping")
    return meta


def title_from_name(stem: str) -> str:
    """'data-teams_2021' -> 'Data teams 2021'."""
    words = stem.replace("-", " ").replace("_", " ").split()
    text = " ".join(words) or stem
    return text[:1].upper() + text[1:]


def episode_from_transcript(
    text: str, name: str, sidecar: str | None, people: dict[str, str] | None = None,
    sidecar_name: str | None = None,
) -> tuple[Episode, list[str]]:
    """Parse a transcript (`parse_transcript`) and its sidecar text (None: no sidecar).

    Returns the episode and the repairs made. A broken sidecar is a repair note, not
    an error; an unreadable transcript raises `TranscriptParseError`.
    """
    stem = Path(name).stem
    sidecar_notes: list[str] = []
    meta = _sidecar_meta(sidecar, sidecar_name or f"{stem}.yaml", sidecar_notes)
    chapters, chapter_notes = parse_chapters(meta.get("chapters"), Path(sidecar_name or f"{stem}.yaml").name)
    lines, repairs = parse_transcript(text, name, [c.start for c in chapters])
    repairs += sidecar_notes + chapter_notes
    youtube_id, media_url = _episode_link(meta, repairs)
    date = meta.get("date")
    guests = guest_names(meta.get("guests"), people or {})
    known = guests + guest_names(meta.get("hosts"), people or {})
    lines = name_speakers(lines, _speaker_renames(meta.get("speakers"), repairs), known)
    return (
        Episode(
            id=stem,
            title=clean_field(meta.get("title") or "") or title_from_name(stem),
            youtube_id=youtube_id,
            guests=guests,
            season=as_int(meta.get("season")),
            number=as_int(meta.get("episode")),
            date=clean_field(date) if date else None,
            lines=tuple(with_chapters(lines, chapters)),
            source=name,
            media_url=media_url,
            description=clean_field(meta.get("description") or ""),
        ),
        repairs,
    )


def _sidecar_meta(sidecar: str | None, shown: str, repairs: list[str]) -> dict:
    """The sidecar's mapping; {} (and a note in `repairs`) when there is none or it is broken."""
    if sidecar is None:
        repairs.append(f"no sidecar {Path(shown).name}; title taken from the file name")
        return {}
    try:
        return parse_sidecar(sidecar, shown)
    except TranscriptParseError as exc:
        repairs.append(f"{exc}; title taken from the file name")
        return {}


def _speaker_renames(names: object, repairs: list[str]) -> dict[str, str]:
    """The sidecar's `speakers:` as {label: name}; anything but a mapping is a note in `repairs`."""
    if names is None:
        return {}
    if not isinstance(names, dict):
        repairs.append(f"sidecar speakers: {names!r} is not a mapping of label to name; ignored")
        return {}
    return {str(label): clean_field(str(name)) for label, name in names.items() if name is not None and clean_field(str(name))}


def _episode_link(meta: dict, repairs: list[str]) -> tuple[str | None, str | None]:
    """(YouTube id, media or page url) of the sidecar's `url:`; a non-http(s) url is a note."""
    url = str(meta.get("url") or "").strip()
    if not url:
        return None, None
    moment = Moment.parse(url)
    if moment is not None:
        return moment.video_id, None
    if media_link(url) is not None:
        return None, url
    repairs.append(f"sidecar url {url!r} is not an http(s) link; dropped")
    return None, None
