"""Passages on disk: one SQLite file, read a row at a time, so memory stays flat as the corpus grows.

    DIR/passages.sqlite
        passages(position, episode, data)   one Passage per row (JSON), in vector order
        episodes(code, id, title, season, guests)
        arrays(name, data)                  `episode_codes`, `ordinals`: int32 per passage, read whole at open

A search touches only the passages it returns (`store[i]`, `store.many(ids)`). What
filtering, episode-aware ranking and merging neighbours need for every passage, its
episode and its place in it, is two int32 arrays loaded at open: 11 MB for 1.4M
passages, against several GB for the passages as Python objects.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "passages.sqlite"
    >>> p = Passage("e1#0", "e1", "Bloom filters", "", ("Ann",), 5, 30, "Ann: hi", "", 0)
    >>> write_passages(path, [p])
    1
    >>> store = PassageStore.open(path)
    >>> store[0] == p, len(store), store.episodes[0].title
    (True, 1, 'Bloom filters')
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.chunking import Passage

CACHED_PASSAGES = 4096  # the passages of the last few hundred answers; a few MB
_ROWS_PER_READ = 2048
_SCHEMA = """
CREATE TABLE passages (position INTEGER PRIMARY KEY, episode INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE episodes (code INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                       season INTEGER, guests TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE arrays (name TEXT PRIMARY KEY, data BLOB NOT NULL);
"""


@dataclass(frozen=True)
class EpisodeInfo:
    """What filters and the catalog need of an episode, without its passages."""

    code: int  # position in `PassageStore.episodes`
    id: str
    title: str
    season: int | None
    guests: tuple[str, ...]
    description: str = ""


def passage_to_json(passage: Passage) -> str:
    return json.dumps(dataclasses.asdict(passage), ensure_ascii=False)


def passage_from_json(text: str) -> Passage:
    data = json.loads(text)
    data["speakers"] = tuple(data["speakers"])
    data["guests"] = tuple(data.get("guests") or ())
    data["line_starts"] = tuple(data.get("line_starts") or ())
    return Passage(**data)


def write_passages(path: str | Path, passages: Iterable[Passage]) -> int:
    """Write `passages` (in vector order) to a new SQLite file at `path`; returns how many.

    The caller writes into a directory that is swapped in whole (`rag.index.save_index`),
    so a half-written file is never read.
    """
    path = Path(path)
    path.unlink(missing_ok=True)
    episodes: dict[str, EpisodeInfo] = {}
    codes: list[int] = []
    ordinals: list[int] = []
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA)
        batch: list[tuple[int, int, str]] = []
        for position, passage in enumerate(passages):
            info = episodes.get(passage.episode_id)
            if info is None:
                info = EpisodeInfo(len(episodes), passage.episode_id, passage.episode_title, passage.season,
                                   passage.guests, passage.episode_description)
                episodes[passage.episode_id] = info
            codes.append(info.code)
            ordinals.append(passage.ordinal)
            # The description is the episode's: stored once with it, not on each of its passages.
            batch.append((position, info.code, passage_to_json(replace(passage, episode_description=""))))
            if len(batch) >= _ROWS_PER_READ:
                db.executemany("INSERT INTO passages VALUES (?, ?, ?)", batch)
                batch.clear()
        db.executemany("INSERT INTO passages VALUES (?, ?, ?)", batch)
        db.executemany(
            "INSERT INTO episodes VALUES (?, ?, ?, ?, ?, ?)",
            [(e.code, e.id, e.title, e.season, json.dumps(e.guests, ensure_ascii=False), e.description)
             for e in episodes.values()],
        )
        for name, values in (("episode_codes", codes), ("ordinals", ordinals)):
            db.execute("INSERT INTO arrays VALUES (?, ?)", (name, np.asarray(values, dtype="<i4").tobytes()))
    return len(codes)


class PassageStore(Sequence[Passage]):
    """Read-only passages by position, from `passages.sqlite`; safe to share between threads."""

    def __init__(self, path: Path, db: sqlite3.Connection, episodes: tuple[EpisodeInfo, ...],
                 episode_codes: np.ndarray, ordinals: np.ndarray) -> None:
        self.path = path
        self.episodes = episodes
        self.episode_codes = episode_codes  # int32: the episode (its code) of each passage
        self.ordinals = ordinals  # int32: each passage's place in its episode
        self._db = db
        self._lock = threading.Lock()  # one connection, used by the app's worker threads in turn
        self._cache: OrderedDict[int, Passage] = OrderedDict()

    @classmethod
    def open(cls, path: str | Path) -> PassageStore:
        """Open the store at `path`; raise `IndexCorruptError` naming the file if it is not one."""
        path = Path(path)
        try:
            # immutable: the index directory is never written after its swap, so SQLite may
            # skip locking (and works on read-only mounts).
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=False)
            rows = db.execute("SELECT code, id, title, season, guests, description FROM episodes ORDER BY code")
            episodes = tuple(EpisodeInfo(code, eid, title, season, tuple(json.loads(guests)), description)
                             for code, eid, title, season, guests, description in rows.fetchall())
            arrays = dict(db.execute("SELECT name, data FROM arrays").fetchall())
        except (sqlite3.Error, json.JSONDecodeError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{path}: unreadable passage store ({exc})") from None
        for name in ("episode_codes", "ordinals"):
            if name not in arrays:
                raise IndexCorruptError(f"{path}: passage store lacks its {name} array")
        try:
            codes, ordinals = (np.frombuffer(arrays[name], dtype="<i4") for name in ("episode_codes", "ordinals"))
        except (TypeError, ValueError):  # not bytes, or not a whole number of int32s
            raise IndexCorruptError(f"{path}: passage store's episode_codes or ordinals array is damaged") from None
        if len(codes) != len(ordinals):
            raise IndexCorruptError(f"{path}: {len(codes)} episode codes but {len(ordinals)} ordinals")
        if len(codes) and (codes.min() < 0 or codes.max() >= len(episodes)):
            raise IndexCorruptError(f"{path}: a passage names an episode the store does not list")
        return cls(path, db, episodes, codes, ordinals)

    def __len__(self) -> int:
        return len(self.episode_codes)

    def __getitem__(self, position: int) -> Passage:  # type: ignore[override]
        if not isinstance(position, (int, np.integer)):
            raise TypeError(f"passage positions are integers, not {type(position).__name__}")
        return self.many([int(position)])[0]

    def many(self, positions: Sequence[int]) -> list[Passage]:
        """The passages at `positions`, in that order (one query for those not cached)."""
        wanted = [int(p) for p in positions]
        for position in wanted:
            if not 0 <= position < len(self):
                raise IndexError(f"passage {position} out of range (the store holds {len(self)})")
        with self._lock:
            missing = [p for p in dict.fromkeys(wanted) if p not in self._cache]
            if missing:
                self._read(missing)
            found = [self._cache[p] for p in wanted]
            for position in wanted:
                self._cache.move_to_end(position)
            while len(self._cache) > CACHED_PASSAGES:
                self._cache.popitem(last=False)
        return found

    def _read(self, positions: list[int]) -> None:
        for start in range(0, len(positions), 500):  # SQLite's bound-variable limit
            chunk = positions[start : start + 500]
            marks = ",".join("?" * len(chunk))
            try:
                rows = self._db.execute(f"SELECT position, data FROM passages WHERE position IN ({marks})", chunk)
                for position, data in rows:
                    self._cache[position] = self._with_episode(position, passage_from_json(data))
            except (sqlite3.Error, json.JSONDecodeError, TypeError, KeyError) as exc:
                raise IndexCorruptError(f"{self.path}: unreadable passage ({exc})") from None
            lost = [p for p in chunk if p not in self._cache]
            if lost:
                raise IndexCorruptError(f"{self.path}: passage {lost[0]} is missing")

    def __iter__(self) -> Iterator[Passage]:
        """Every passage in order, read in batches (for evaluation and export, not for serving)."""
        for start in range(0, len(self), _ROWS_PER_READ):
            with self._lock:
                rows = self._db.execute(
                    "SELECT data FROM passages WHERE position >= ? AND position < ? ORDER BY position",
                    (start, start + _ROWS_PER_READ),
                ).fetchall()
            yield from (self._with_episode(start + i, passage_from_json(data)) for i, (data,) in enumerate(rows))

    def _with_episode(self, position: int, passage: Passage) -> Passage:
        description = self.episodes[int(self.episode_codes[position])].description
        return replace(passage, episode_description=description) if description else passage

    def episode_id(self, position: int) -> str:
        return self.episodes[int(self.episode_codes[position])].id

    def positions_by_episode(self) -> dict[str, np.ndarray]:
        """Episode id -> the positions of its passages, ascending."""
        return positions_by_episode(self.episode_codes, self.episodes)

    def close(self) -> None:
        self._db.close()


def positions_by_episode(episode_codes: np.ndarray, episodes: Sequence[EpisodeInfo]) -> dict[str, np.ndarray]:
    """Episode id -> the positions of its passages, ascending, from each passage's episode
    code (a code of -1, an empty position, belongs to no episode)."""
    order = np.argsort(episode_codes, kind="stable")
    bounds = np.searchsorted(episode_codes[order], np.arange(len(episodes) + 1))
    return {info.id: order[bounds[info.code] : bounds[info.code + 1]].astype(np.int64) for info in episodes}
