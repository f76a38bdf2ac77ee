"""RSS feeds -> `FeedItem`s: a podcast feed parsed safely (no DTD, no entities, size
and item caps), with each item's transcript links (Podcasting 2.0) and its media."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable
from xml.parsers import expat

from rag.errors import CorpusError
from rag.limits import megabytes

# A big real feed (~1,000 items with show notes) is 2-5 MB; 20 MB leaves room and
# still bounds the memory one `rag ingest URL` can take.
MAX_FEED_BYTES = 20 * 1024 * 1024

# The longest-running shows have a few thousand episodes; 20 MB of bare items could be
# 100,000, each a fetch of up to 20 s. Feeds list the newest first: those are read.
MAX_FEED_ITEMS = 10_000

PODCAST_NS = (
    "https://podcastindex.org/namespace/1.0",
    "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md",  # older feeds
)


ITUNES_NS = ("http://www.itunes.com/dtds/podcast-1.0.dtd",)

# Readable transcript types, best first: JSON has speakers and exact times; VTT and
# SRT have times. text/html (and text/plain) have no times and are never used.
TRANSCRIPT_TYPES = ("application/json", "text/vtt", "application/x-subrip", "application/srt", "text/srt")

Parser = Callable[[str, str], "tuple[list, list[str]]"]


@dataclass(frozen=True)
class TranscriptLink:
    url: str  # as written in the feed: absolute, or relative to the feed
    type: str  # MIME type, lower case, parameters dropped


@dataclass(frozen=True)
class FeedItem:
    title: str
    guid: str
    audio_url: str | None  # the `<enclosure>` URL when its type is audio/* (or not given)
    link: str | None
    date: str | None  # ISO date (YYYY-MM-DD) from pubDate; the raw text when unparsable
    transcripts: tuple[TranscriptLink, ...]
    guests: tuple[str, ...]
    season: int | None
    number: int | None

    def readable_transcripts(self) -> list[TranscriptLink]:
        """The transcripts `parse_transcript` can read, best type first."""
        readable = [t for t in self.transcripts if t.type in TRANSCRIPT_TYPES]
        return sorted(readable, key=lambda t: TRANSCRIPT_TYPES.index(t.type))


def is_feed_text(head: bytes) -> bool:
    """Whether the first bytes of a file look like an RSS feed (`<?xml` ... `<rss`)."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"<?xml") and b"<rss" in head


def parse_feed(data: bytes, name: str) -> list[FeedItem]:
    """The items of an RSS feed's bytes, in feed order.

    Raises `CorpusError` naming `name` for a document with a DTD or entity
    declaration, one over `MAX_FEED_BYTES`, broken XML, or XML that is not RSS.
    """
    if len(data) > MAX_FEED_BYTES:
        raise CorpusError(f"{name}: feed is larger than {megabytes(MAX_FEED_BYTES)}")
    _refuse_dtd(data, name)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise CorpusError(f"{name}: not a readable XML feed: {exc}") from None
    if root.tag != "rss" or root.find("channel") is None:
        raise CorpusError(f"{name}: not an RSS feed (no <rss><channel>)")
    return [_item(element) for element in root.find("channel").iter("item")]  # type: ignore[union-attr]


class _Declared(Exception):
    pass


def _refuse_dtd(data: bytes, name: str) -> None:
    """Raise `CorpusError` when the document has a DTD or an entity declaration.

    defusedxml is not installed, so ElementTree gets only documents without a DTD:
    without one there is no entity to expand ("billion laughs") and no external
    entity to fetch, and a real feed never needs either. expat reads the bytes in
    whatever encoding they declare, so a UTF-16 `<!DOCTYPE` is caught as well as
    a UTF-8 one (defusedxml's own approach).
    """

    def refuse(*_: object) -> None:
        raise _Declared

    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse
    scanner.EntityDeclHandler = refuse
    try:
        scanner.Parse(data, True)
    except _Declared:
        raise CorpusError(f"{name}: refused: the feed declares a DTD or entities (<!DOCTYPE/<!ENTITY)") from None
    except expat.ExpatError:
        pass  # ElementTree reports broken XML with its line and column


def _local(tag: str, namespaces: tuple[str, ...]) -> str | None:
    """`{ns}name` -> `name` when ns is one of `namespaces`."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return name if ns in namespaces else None
    return None


def _item(element: ET.Element) -> FeedItem:
    title = _text(element.findtext("title"))
    guid = _text(element.findtext("guid"))
    audio_url = None
    enclosure = element.find("enclosure")
    if enclosure is not None and enclosure.get("url"):
        kind = (enclosure.get("type") or "audio/").lower()
        if kind.startswith(("audio/", "video/")):
            audio_url = enclosure.get("url", "").strip()
    transcripts: list[TranscriptLink] = []
    guests: list[str] = []
    season = number = None
    for child in element:
        podcast = _local(child.tag, PODCAST_NS)
        itunes = _local(child.tag, ITUNES_NS)
        if podcast == "transcript" and child.get("url"):
            kind = (child.get("type") or "").split(";")[0].strip().lower()
            transcripts.append(TranscriptLink(child.get("url", "").strip(), kind))
        elif podcast == "person" and (child.get("role") or "host").strip().lower() == "guest":
            if _text(child.text):
                guests.append(_text(child.text))
        elif "season" in (podcast, itunes):
            season = season if season is not None else _as_int(child.text)
        elif "episode" in (podcast, itunes):
            number = number if number is not None else _as_int(child.text)
    return FeedItem(
        title=title,
        guid=guid,
        audio_url=audio_url or None,
        link=_text(element.findtext("link")) or None,
        date=_date(element.findtext("pubDate")),
        transcripts=tuple(transcripts),
        guests=tuple(dict.fromkeys(guests)),
        season=season,
        number=number,
    )


def web_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL: a page or player must never get a
    `javascript:` or `file:` link from a feed."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


def _as_int(value: str | None) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def _date(raw: str | None) -> str | None:
    text = _text(raw)
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).date().isoformat()
    except (TypeError, ValueError):
        return text


_SLUG_JUNK = re.compile(r"[^a-z0-9]+")


def episode_id(item: FeedItem, position: int) -> str:
    """A stable, file-name-safe id: the guid's slug (else the title's), at most 60
    characters; a longer one is cut and ends in a hash of the whole guid.

        >>> episode_id(FeedItem("Hi", "https://ex.com/ep/1", None, None, None, (), (), None, None), 0)
        'https-ex-com-ep-1'
    """
    key = item.guid or item.title or f"item-{position + 1}"
    slug = _SLUG_JUNK.sub("-", key.lower()).strip("-") or f"item-{position + 1}"
    if len(slug) > 60:
        slug = f"{slug[:51].rstrip('-')}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    return slug
