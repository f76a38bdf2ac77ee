"""What search returns and takes: a `Hit` (a passage, its score and the moment to
open) and `Filters` (episode, guest, season), with the closest names for a typo."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Sequence

from rag.index.chunking import UNKNOWN_SPEAKER, Passage, format_timestamp
from rag.index.store import EpisodeInfo

_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Hit:
    """A retrieved moment: the passage (its span), its score, and the second to open.

    `link_s` is where, inside the span, the answer to the question starts; a
    listener who clicks `url` hears it. None means the span's own start.
    """

    passage: Passage
    score: float
    source: str  # "hybrid", "dense" or "lexical"
    link_s: int | None = None
    relevance: float | None = None  # the trained relevance model's score of the moment (`rag.search.rescore`), if any

    @property
    def link_sec(self) -> int:
        return self.passage.start_s if self.link_s is None else self.link_s

    @property
    def url(self) -> str:
        """The episode at `link_sec` (YouTube, media file or page: `Passage.url_at`)."""
        return self.passage.url_at(self.link_sec)

    @property
    def link_line(self) -> int:
        """Index of the passage line the link opens at (0 when no line starts there)."""
        return next((i for i, second in enumerate(self.passage.line_starts) if second == self.link_sec), 0)

    @property
    def speaker(self) -> str:
        """Who speaks at `link_sec` (the passage's main voice when the line names nobody)."""
        speaker, _ = self.passage.line_at(self.link_line)
        return speaker or (self.passage.speakers[0] if self.passage.speakers else UNKNOWN_SPEAKER)

    def label(self) -> str:
        """`Episode title — Speaker @ mm:ss` at the moment the link opens."""
        return f"{self.passage.episode_title} — {self.speaker} @ {format_timestamp(self.link_sec)}"


@dataclass(frozen=True)
class Filters:
    episode: str | None = None
    guest: str | None = None  # case-insensitive part of a guest's display name
    season: int | None = None

    def is_empty(self) -> bool:
        return self.episode is None and not self.guest and self.season is None

    def matches(self, episode: EpisodeInfo) -> bool:
        """Whether the filters admit `episode` (every filter is a property of the episode)."""
        if self.episode is not None and episode.id != self.episode:
            return False
        if self.season is not None and episode.season != self.season:
            return False
        if self.guest:
            wanted = self.guest.casefold()
            if not any(wanted in guest.casefold() for guest in episode.guests):
                return False
        return True


def unmatched_filters(filters: Filters, episodes: Sequence[EpisodeInfo], where: str) -> str | None:
    """Why `filters` admit no episode of `episodes` (the index at `where`), naming the
    closest guests or episodes; None when some episode matches.

    >>> infos = [EpisodeInfo(0, "osmnx", "OSMnx", 1, ("Geoff Boeing",))]
    >>> unmatched_filters(Filters(guest="Jeff Boeing"), infos, "idx")
    "no guest matches 'Jeff Boeing' in idx; closest: Geoff Boeing"
    >>> unmatched_filters(Filters(guest="boeing"), infos, "idx") is None
    True
    """
    if filters.is_empty() or any(filters.matches(info) for info in episodes):
        return None
    guests = sorted({g for info in episodes for g in info.guests}, key=str.casefold)
    if filters.episode is not None and all(info.id != filters.episode for info in episodes):
        return _with_closest(f"no episode {filters.episode!r} in {where}", filters.episode, [i.id for i in episodes])
    if filters.guest and not any(Filters(guest=filters.guest).matches(info) for info in episodes):
        return _with_closest(f"no guest matches {filters.guest!r} in {where}", filters.guest, guests)
    if filters.season is not None and all(info.season != filters.season for info in episodes):
        seasons = sorted({info.season for info in episodes if info.season is not None})
        return f"no season {filters.season} in {where}" + (f"; seasons: {', '.join(map(str, seasons))}" if seasons else "")
    return f"no episode in {where} matches these filters together"


def _with_closest(message: str, wanted: str, names: Sequence[str]) -> str:
    """`message`, then the (up to three) `names` closest to `wanted`, case aside."""
    by_folded = {name.casefold(): name for name in names}
    close = difflib.get_close_matches(wanted.casefold(), list(by_folded), n=3, cutoff=0.6)
    return f"{message}; closest: {', '.join(by_folded[c] for c in close)}" if close else message


def words_of(text: str) -> str:
    """Case-folded words separated (and surrounded) by single spaces, for whole-word matching."""
    return " " + " ".join(_WORD.findall(text.casefold())) + " "
