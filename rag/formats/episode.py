"""A transcript file in any format plus its optional sidecar -> an `Episode`.

The sidecar is `NAME.yaml` (or `NAME.yml`) beside `NAME.vtt`/`.srt`/`.json`:

    title: How to Build and Scale ML Teams
    url: https://www.youtube.com/watch?v=ScDIB-3O77A   # video, audio file or page
    guests: [Dat Tran]
    season: 1
    date: 2021-02-23
    description: Dat Tran on hiring and MLOps.
    speakers: {SPEAKER_00: Alexey, SPEAKER_01: Dat Tran}   # optional: rename diarized labels

The episode id is the file stem. Without a sidecar the title comes from the file
name, and a repair note says so.

    >>> ep, notes = episode_from_transcript("WEBVTT\\n\\n00:05.000 --> 00:06.000\\nHi\\n", "data-teams.vtt", None)
    >>> ep.id, ep.title, ep.lines[0].sec, notes
    ('data-teams', 'Data teams', 5, ['no sidecar data-teams.yaml; title taken from the file name'])
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rag.corpus import Episode, Line, _as_int, _clean
from rag.errors import TranscriptParseError
from rag.formats import parse_transcript
from rag.moment import Moment, media_link

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
    lines, repairs = parse_transcript(text, name)
    stem = Path(name).stem
    shown_sidecar = sidecar_name or f"{stem}.yaml"
    meta: dict = {}
    if sidecar is None:
        repairs.append(f"no sidecar {Path(shown_sidecar).name}; title taken from the file name")
    else:
        try:
            meta = parse_sidecar(sidecar, shown_sidecar)
        except TranscriptParseError as exc:
            repairs.append(f"{exc}; title taken from the file name")

    people = people or {}
    guests_raw = meta.get("guests") or []
    if isinstance(guests_raw, str):
        guests_raw = [guests_raw]
    guests = tuple(_clean(people.get(str(g), str(g))) for g in guests_raw if g)
    speakers = meta.get("speakers") if isinstance(meta.get("speakers"), dict) else {}
    if speakers:
        names = {str(k): _clean(v) for k, v in speakers.items()}
        lines = [Line(l.text, l.sec, names.get(l.speaker, l.speaker), l.section) for l in lines]

    youtube_id: str | None = None
    media_url: str | None = None
    url = str(meta.get("url") or "").strip()
    if url:
        moment = Moment.parse(url)
        if moment is not None:
            youtube_id = moment.video_id
        elif media_link(url) is not None:
            media_url = url
        else:
            repairs.append(f"sidecar url {url!r} is not an http(s) link; dropped")
    date = meta.get("date")
    return (
        Episode(
            id=stem,
            title=_clean(meta.get("title") or "") or title_from_name(stem),
            youtube_id=youtube_id,
            guests=guests,
            season=_as_int(meta.get("season")),
            number=_as_int(meta.get("episode")),
            date=_clean(date) if date else None,
            lines=tuple(lines),
            source=name,
            media_url=media_url,
        ),
        repairs,
    )
