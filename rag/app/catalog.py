"""What the web chat's filters offer, read once from the loaded index.

    >>> catalog = Catalog({"e1": "Bloom filters"}, ("Ann Lee",), (2,))
    >>> catalog.filters("e1", "", "2")
    (Filters(episode='e1', guest=None, season=2), [])

A filter value a visitor sends is accepted only when the catalog lists it; any other
is ignored with a note for the chat, never searched.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable

from rag.app.render import escape_markdown
from rag.index.store import EpisodeInfo
from rag.search.hits import Filters


@dataclass(frozen=True)
class Catalog:
    """The episodes, guests and seasons of one index."""

    episodes: dict[str, str]  # id -> title, by title
    guests: tuple[str, ...]
    seasons: tuple[int, ...]

    @classmethod
    def from_episodes(cls, infos: Iterable[EpisodeInfo]) -> Catalog:
        episodes: dict[str, str] = {}
        guests: set[str] = set()
        seasons: set[int] = set()
        for info in infos:
            episodes.setdefault(info.id, info.title)
            guests.update(g for g in info.guests if g)
            if info.season is not None:
                seasons.add(info.season)
        ordered = dict(sorted(episodes.items(), key=lambda item: item[1].casefold()))
        return cls(ordered, tuple(sorted(guests, key=str.casefold)), tuple(sorted(seasons)))

    def scope_line(self, episode: str | None) -> str:
        """The heading over the chat when the page is scoped to one episode."""
        if not episode:
            return ""
        if episode not in self.episodes:
            return f"No episode {_shown(episode)} in this index: searching all episodes."
        return f"### Chatting about: {escape_markdown(self.episodes[episode])}"

    def filters(self, episode: Any, guest: Any, season: Any, *, markdown: bool = True) -> tuple[Filters, list[str]]:
        """The filters chosen, each accepted only from this catalog, and a note per value ignored
        (Markdown for the chat; plain text with `markdown=False`, for the MCP tools).

        >>> Catalog({"e1": "Ep"}, ("Ann Lee",), (2,)).filters("e1", "Bob", "2")
        (Filters(episode='e1', guest=None, season=2), ['No guest “Bob” in this index: searched all guests.'])
        """
        notes: list[str] = []

        def known(value: Any, allowed: Any, what: str) -> str | None:
            if value in (None, ""):
                return None
            text = value if isinstance(value, str) else str(value)
            if text in allowed:
                return text
            by_folded = {str(name).casefold(): str(name) for name in allowed}
            close = difflib.get_close_matches(text.casefold(), list(by_folded), n=3, cutoff=0.6)
            hint = f" (closest: {', '.join(_shown(by_folded[c], markdown=markdown) for c in close)})" if close else ""
            notes.append(f"No {what} {_shown(text, markdown=markdown)} in this index{hint}: searched all {what}s.")
            return None

        episode_id = known(episode, self.episodes, "episode")
        guest_name = known(guest, self.guests, "guest")
        season_text = known(season, {str(s) for s in self.seasons}, "season")
        return Filters(episode=episode_id, guest=guest_name, season=int(season_text) if season_text else None), notes

    def episode_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the Episode dropdown, "All episodes" first."""
        return [("All episodes", "")] + [(title, eid) for eid, title in self.episodes.items()]

    def guest_choices(self) -> list[tuple[str, str]]:
        return [("All guests", "")] + [(g, g) for g in self.guests]

    def season_choices(self) -> list[tuple[str, str]]:
        return [("All seasons", "")] + [(f"Season {s}", str(s)) for s in self.seasons]


def _shown(value: str, width: int = 80, *, markdown: bool = True) -> str:
    """A value a visitor typed, quoted back to them: shortened (and escaped for Markdown)."""
    shortened = value if len(value) <= width else value[:width] + "…"
    return f"“{escape_markdown(shortened) if markdown else shortened}”"
