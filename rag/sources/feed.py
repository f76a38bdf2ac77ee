"""A podcast's RSS feed -> `Episode`s, one per item with a readable transcript.

The feed is RSS 2.0 with the Podcasting 2.0 namespace: each `<item>` brings its
title, guid, `<enclosure>` audio, `<link>`, `<pubDate>`, `<podcast:person
role="guest">`, `<itunes:season>`/`<podcast:season>` and `<podcast:transcript url=
type=>` links. The best readable transcript (`TRANSCRIPT_TYPES`) is fetched and
parsed by `rag.sources.formats.parse_transcript`; an item without one becomes a note.

    >>> xml = b'''<?xml version="1.0"?><rss version="2.0"
    ...   xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><item>
    ...   <title>Hi</title><guid>ep-1</guid>
    ...   <podcast:transcript url="ep1.srt" type="application/x-subrip"/>
    ... </item></channel></rss>'''
    >>> item = parse_feed(xml, "feed.xml")[0]
    >>> item.title, item.guid, item.transcripts[0].url
    ('Hi', 'ep-1', 'ep1.srt')
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from tqdm import tqdm

from rag.errors import CorpusError, TranscriptParseError
from rag.limits import MAX_TRANSCRIPT_BYTES, megabytes, read_capped
from rag.sources.episode import Episode, Line
from rag.sources.fetch import FETCH_DEADLINE_S, LastGoodCopies, PrivateHosts, fetch_and_read
from rag.sources.formats import parse_transcript
from rag.sources.rss import (
    MAX_FEED_BYTES,
    MAX_FEED_ITEMS,
    FeedItem,
    Parser,
    TranscriptLink,
    episode_id,
    parse_feed,
    web_url,
)
from rag.urls import public_url

# One feed's whole ingest, however many items and fetches: a feed that stalls every fetch
# would otherwise hold the ingest (and its lock) for 10,000 x 5 x 20 s. The rest of its
# items are named in one note, and a re-ingest serves them from their last good copies.
FEED_DEADLINE_S = 30 * 60.0

# A transcript host that times out this many times in a row is not asked again in this ingest.
HOST_TIMEOUTS = 3


def is_feed_url(source: str) -> bool:
    """An http(s) URL to fetch as a feed rather than clone: its path ends in .xml,
    .rss or .feed, or contains 'feed', and does not end in .git."""
    if not source.lower().startswith(("https://", "http://")):
        return False
    path = urlsplit(source).path.lower().rstrip("/")
    if path.endswith(".git"):
        return False
    return path.endswith((".xml", ".rss", ".feed")) or "feed" in path


def read_feed(source: str, copies: LastGoodCopies | None = None, *,
              allow_private: PrivateHosts = False) -> tuple[list[FeedItem], str, str]:
    """(items, base, note) of the feed at a local path or an http(s) URL: base resolves
    relative links; the note says when a failed fetch, or a fetched feed that would not
    parse, was replaced by the last good copy (`copies`)."""
    if is_feed_url(source):
        shown = public_url(source)
        items, note = fetch_and_read(source, lambda body: parse_feed(body, shown), max_bytes=MAX_FEED_BYTES,
                                     copies=copies, allow_private=allow_private)
        return items, source, note.removeprefix(f"{shown}: ")
    path = Path(source)
    return parse_feed(_read_local(path, source, MAX_FEED_BYTES, "feed"), source), str(path), ""


def _read_local(path: Path, shown: str, max_bytes: int, what: str) -> bytes:
    """The bytes of a local feed or transcript; `CorpusError` naming it when it cannot be
    read or holds more than `max_bytes` (no more than that is read)."""
    try:
        data = read_capped(path, max_bytes)
    except OSError as exc:
        raise CorpusError(f"{shown}: cannot read the {what}: {exc.strerror or exc}") from None
    if data is None:
        raise CorpusError(f"{shown}: {what} is larger than {megabytes(max_bytes)}")
    return data


def read_transcript(link: TranscriptLink, base: str, parse: Parser | None = None, *,
                    deadline_s: float = FETCH_DEADLINE_S, copies: LastGoodCopies | None = None,
                    allow_private: PrivateHosts = False) -> tuple[tuple[list, list[str]], str, str]:
    """(`parse`'s (lines, repairs), shown name, note) of a transcript link, resolved
    against the feed at `base`; the note says when a failed fetch, or a fetched
    transcript that would not read, was replaced by the last good copy (`copies`).

    A local feed reads relative paths and file:// URLs inside its own folder, or
    fetches http(s) URLs. A remote feed fetches http(s) URLs only: it must never
    make the ingest read a file of this machine.
    """
    parse = parse or parse_transcript
    remote_feed = "://" in base
    target = urljoin(base, link.url) if remote_feed else link.url
    if target.lower().startswith(("https://", "http://")):
        shown = public_url(target)
        parsed, note = fetch_and_read(target, lambda body: _parse_body(body, shown, parse),
                                      max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=deadline_s, copies=copies,
                                      allow_private=allow_private)
        return parsed, shown, note
    path, shown = local_transcript_path(link, base)
    return _parse_body(_read_local(path, shown, MAX_TRANSCRIPT_BYTES, "transcript"), shown, parse), shown, ""


def _parse_body(body: bytes, shown: str, parse: Parser) -> tuple[list, list[str]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CorpusError(f"{shown}: not a UTF-8 text file") from None
    lines, repairs = parse(text, shown)
    if not lines:
        raise TranscriptParseError(f"{shown}: transcript has no spoken lines")
    return lines, repairs


def local_transcript_path(link: TranscriptLink, base: str) -> tuple[Path, str]:
    """(resolved path, shown name) of a link to a file beside the local feed at `base`.

    Raises `CorpusError` for a link out of the feed's folder, any URL but file://,
    and any link of a remote feed.
    """
    lowered = link.url.lower()
    if "://" in base or ("://" in link.url and not lowered.startswith("file://")):
        target = urljoin(base, link.url) if "://" in base else link.url
        raise CorpusError(f"{public_url(target)}: refused: only http(s) transcripts (or files beside a local feed)")
    folder = Path(base).parent.resolve()
    relative = unquote(urlsplit(link.url).path) if lowered.startswith("file://") else link.url
    shown = str(Path(base).parent / relative)
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise CorpusError(f"{shown}: refused: outside the feed's folder")
    return path, shown


def local_transcript_files(feed: Path) -> set[Path]:
    """The resolved files beside the local `feed` that its items link as readable
    transcripts: a folder ingest reads them through the feed, not a second time on
    their own. Empty for a feed that cannot be read (loading it names the problem)."""
    try:
        items, base, _ = read_feed(str(feed))
    except CorpusError:
        return set()
    files = set()
    for item in items:
        for link in item.readable_transcripts():
            if link.url.lower().startswith(("https://", "http://")):
                continue
            try:
                files.add(local_transcript_path(link, base)[0])
            except CorpusError:
                continue  # refused links are named when the feed is loaded
    return files


@dataclass(frozen=True)
class FeedNote:
    """What happened to one item (the caller makes it a `FileNote` on the feed)."""

    action: str  # "skipped" | "repaired"
    reason: str


class _HostWatch:
    """Consecutive time-outs per transcript host, and the hosts given up on."""

    def __init__(self, limit: int = HOST_TIMEOUTS) -> None:
        self.limit = limit
        self.timeouts: dict[str, int] = {}

    def given_up(self, host: str) -> bool:
        return self.timeouts.get(host, 0) >= self.limit

    def record(self, host: str, timed_out: bool) -> None:
        self.timeouts[host] = self.timeouts.get(host, 0) + 1 if timed_out else 0


def load_feed(source: str, *, deadline_s: float = FETCH_DEADLINE_S, parse: Parser | None = None,
              show_progress: bool = False, copies: LastGoodCopies | None = None,
              allow_private: PrivateHosts = False, feed_deadline_s: float = FEED_DEADLINE_S) -> tuple[list, list[FeedNote]]:
    """Episodes of the feed at `source` (a path or http(s) URL) and one note per item
    that was skipped or repaired. Raises `CorpusError` when the feed itself cannot
    be read; an item's failure is a note and the rest goes on. With `copies`, a fetch
    that fails (the feed's or a transcript's) is served from its last good copy, with
    a note. Hosts that resolve to loopback, private, link-local or other non-public
    addresses are refused (`rag.sources.fetch.forbidden_address`) unless `allow_private`. The
    whole feed has `feed_deadline_s`; a transcript host that times out `HOST_TIMEOUTS`
    times in a row is not asked again (each is one note).
    """
    parse = parse or parse_transcript
    items, base, feed_note = read_feed(source, copies, allow_private=allow_private)
    episodes: list[Episode] = []
    notes = [FeedNote("repaired", feed_note)] if feed_note else []
    if len(items) > MAX_FEED_ITEMS:
        notes.append(FeedNote("repaired", f"{len(items):,} items; only the first {MAX_FEED_ITEMS:,} are read"))
        items = items[:MAX_FEED_ITEMS]
    seen: set[str] = set()
    ends = time.monotonic() + feed_deadline_s
    hosts = _HostWatch()
    for position, item in enumerate(tqdm(items, desc="feed items", unit="item", disable=not show_progress)):
        left = ends - time.monotonic()
        if left <= 0:
            budget = f"{feed_deadline_s / 60:g} min" if feed_deadline_s >= 60 else f"{feed_deadline_s:g} s"
            notes.append(FeedNote("skipped", f"{len(items) - position:,} items not read: the feed's deadline "
                                             f"({budget} for all its fetches) passed"))
            break
        label = f"item {item.title!r}" if item.title else f"item {position + 1}"
        try:
            lines, repairs, name = _item_transcript(item, base, min(deadline_s, left), parse, copies, allow_private,
                                                    hosts)
        except _Unreadable as exc:
            notes.append(FeedNote("skipped", f"{label}: {exc}"))
            continue
        if repairs:
            notes.append(FeedNote("repaired", f"{label}: {'; '.join(repairs)}"))
        ident = episode_id(item, position)
        if ident in seen:
            ident = f"{ident}-{position + 1}"
        seen.add(ident)
        episodes.append(_item_episode(item, ident, lines, name))
    return episodes, notes


class _Unreadable(Exception):
    """Why an item has no transcript to index (the item's note)."""


def _item_transcript(item: FeedItem, base: str, deadline_s: float, parse: Parser,
                     copies: LastGoodCopies | None, allow_private: PrivateHosts = False,
                     hosts: _HostWatch | None = None) -> tuple[list, list[str], str]:
    """(lines, repairs, shown name) of the item's best transcript that reads; the next
    type is tried when one fails. Raises `_Unreadable` saying why none did."""
    readable = item.readable_transcripts()
    if not readable:
        kinds = sorted({t.type or "no type" for t in item.transcripts})
        raise _Unreadable(f"no readable transcript ({', '.join(kinds)} only)" if kinds else "no transcript")
    failures: list[str] = []
    hosts = hosts or _HostWatch()
    for link in readable:
        host = urlsplit(urljoin(base, link.url) if "://" in base else link.url).hostname or ""
        if host and hosts.given_up(host):
            failures.append(f"{host} timed out {hosts.limit} times in a row; not asked again")
            continue
        try:
            (lines, repairs), name, fetch_note = read_transcript(link, base, parse, deadline_s=deadline_s,
                                                                 copies=copies, allow_private=allow_private)
            hosts.record(host, timed_out=False)
            return lines, [fetch_note, *repairs] if fetch_note else repairs, name
        except (CorpusError, TranscriptParseError) as exc:
            hosts.record(host, timed_out=" no answer within " in str(exc))
            failures.append(str(exc))
    raise _Unreadable(f"no readable transcript: {'; '.join(failures)}")


def _item_episode(item: FeedItem, ident: str, lines: list[Line], source: str) -> Episode:
    """The item as an `Episode`."""
    return Episode(
        id=ident,
        title=item.title or ident,
        youtube_id=None,
        guests=item.guests,
        season=item.season,
        number=item.number,
        date=item.date,
        lines=tuple(lines),
        source=source,
        media_url=web_url(item.audio_url) or web_url(item.link),
        media_is_file=web_url(item.audio_url) is not None,  # an enclosure plays in the <audio> player
    )
