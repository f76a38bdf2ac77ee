"""What every reader produces: an `Episode` of timed, attributed `Line`s, and a
`FileNote` for each input that was skipped or repaired on the way."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from rag.moment import Moment, media_link


@dataclass(frozen=True)
class Line:
    """One spoken transcript line."""

    text: str
    sec: int
    speaker: str  # display name; "" when the transcript does not say
    section: str  # the nearest `header:` above it; "" before the first one


@dataclass(frozen=True)
class Episode:
    id: str  # the file name without one `.md`
    title: str
    youtube_id: str | None  # a `rag.moment.VIDEO_ID`; parse_episode repairs or drops any other
    guests: tuple[str, ...]  # display names
    season: int | None
    number: int | None
    date: str | None
    lines: tuple[Line, ...]
    source: str  # the file it came from
    # The episode's page, audio or video file (an http(s) URL) when there is no YouTube
    # id: sidecar metadata, a feed's enclosure or a DTC file's `links:`. See rag.moment.
    media_url: str | None = None
    # True when `media_url` is known to be an audio/video file even without a media
    # extension (an RSS enclosure): it then plays in the page's <audio> player.
    media_is_file: bool = False
    # What the episode is about, in a sentence or two: DTC front matter `description:`,
    # a sidecar's `description:`. "" when none.
    description: str = ""

    def url_at(self, sec: int) -> str:
        """Link that opens the episode at `sec`: the YouTube video (`&t=Ns`), else the
        media file (`#t=N`), else the page as is; "" when it has none (or not http(s))."""
        if self.youtube_id:
            return Moment(self.youtube_id, sec).watch_url
        link = media_link(self.media_url, sec, media=self.media_is_file)
        return link.link_url if link else ""

    def transcript_fingerprint(self) -> str:
        """Hash of the spoken words only: two files with the same words are duplicates,
        even when one resolves the speakers differently."""
        digest = hashlib.sha256()
        for line in self.lines:
            digest.update(line.text.encode("utf-8") + b"\x00")
        return digest.hexdigest()

    def fingerprint(self) -> str:
        """Hash of everything that reaches the index: metadata and every line's text,
        second, speaker and section (all fields but `source`). A corrected speaker,
        second or header changes it, so that re-ingest rebuilds the index."""
        record = [
            self.id, self.title, self.youtube_id, list(self.guests), self.season, self.number, self.date,
            [[line.text, line.sec, line.speaker, line.section] for line in self.lines],
        ]
        if self.media_url:  # only then: the fingerprints of episodes without one stay as they were
            record.append([self.media_url, self.media_is_file])
        if self.description:  # likewise
            record.append(["description", self.description])
        return hashlib.sha256(json.dumps(record, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FileNote:
    """What happened to one input file that was not simply indexed as is."""

    path: str
    action: str  # "skipped" | "repaired" | "duplicate" | "error"
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.path}: {self.reason}"


def parse_timestamp(raw: object) -> int | None:
    """'1:02:03' -> 3723, '2:06' -> 126, 75 -> 75; None when unusable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return int(raw) if raw >= 0 else None
    if not isinstance(raw, str):
        return None
    parts = raw.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def guest_names(raw: object, people: dict[str, str]) -> tuple[str, ...]:
    """Display names of a `guests:` value (a list or one id); ids found in `people` are
    replaced by their names.

    >>> guest_names(["dattran", "Ann  Lee"], {"dattran": "Dat Tran"}), guest_names("x", {})
    (('Dat Tran', 'Ann Lee'), ('x',))
    """
    ids = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return tuple(clean_field(people.get(str(g), str(g))) for g in ids if g)


def as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def clean_field(value: object) -> str:
    return " ".join(str(value).split())
