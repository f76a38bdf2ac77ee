"""Which passages a search may return: the episodes its filters admit, narrowed to the
episodes of the guests the question names ("according to Lisa Cohen")."""

from __future__ import annotations

import numpy as np

from rag.index.store import PassageStore
from rag.search.hits import Filters, words_of


class EpisodeScope:
    """Passage positions by episode and episodes by guest, read once per index. Filters
    are per episode, so they are checked once per episode, not once per passage."""

    def __init__(self, store: PassageStore) -> None:
        self.store = store
        self._ids_by_episode = store.positions_by_episode()
        self._episodes_by_guest: dict[str, set[str]] = {}
        for info in store.episodes:
            for guest in info.guests:
                if len(guest.split()) >= 2:  # a full name; a first name alone is too ambiguous
                    self._episodes_by_guest.setdefault(guest.casefold(), set()).add(info.id)

    def ids_of(self, episodes: list[str]) -> np.ndarray:
        """The positions of these episodes' passages, episode by episode."""
        return np.concatenate([self._ids_by_episode[episode] for episode in episodes])

    def named_episodes(self, text: str) -> set[str]:
        """Episodes of the guests whose full name `text` mentions."""
        words = words_of(text)
        return {episode for name, episodes in self._episodes_by_guest.items() if words_of(name) in words
                for episode in episodes}

    def allowed_ids(self, filters: Filters | None) -> np.ndarray | None:
        """Positions of the passages `filters` admit (None: all)."""
        if filters is None or filters.is_empty():
            return None
        chosen = [self._ids_by_episode[info.id] for info in self.store.episodes if filters.matches(info)]
        return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)

    def narrowed_by_names(self, allowed: np.ndarray | None, text: str) -> np.ndarray | None:
        """`allowed` cut to the named guests' episodes, when `text` names one who is in it."""
        named = self.named_episodes(text)
        if not named:
            return allowed
        ids = self.ids_of(sorted(named))
        narrowed = ids if allowed is None else np.intersect1d(ids, allowed)
        return narrowed if len(narrowed) else allowed
