"""What an ingest reports: one summary line for the terminal, the app and the logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.index.embedding import Shard
from rag.sources.episode import FileNote


def counted(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless `n` is 1.

    >>> counted(1, "episode"), counted(4, "passage")
    ('1 episode', '4 passages')
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class IngestReport:
    episodes: int = 0
    passages: int = 0
    embedded: int = 0
    from_cache: int = 0
    seconds: float = 0.0
    up_to_date: bool = False
    notes: list[FileNote] = field(default_factory=list)
    removed_cache_files: list[Path] = field(default_factory=list)  # vectors of another recipe
    updated_in_place: tuple[int, int] | None = None  # a Milvus index: episodes dropped, episodes written

    def count(self, action: str) -> int:
        return sum(1 for note in self.notes if note.action == action)

    def summary(self) -> str:
        skipped = self.count("skipped") + self.count("error")
        counts = f"{counted(self.episodes, 'episode')}, {counted(self.passages, 'passage')}"
        head = (
            f"index up to date: {counts}"
            if self.up_to_date
            else f"indexed {counts} ({self.embedded} embedded, {self.from_cache} from cache)"
        )
        removed = (f"; removed {', '.join(map(str, self.removed_cache_files))} (vectors of another recipe of "
                   "this model, never read again)" if self.removed_cache_files else "")
        if self.updated_in_place is not None:
            head += (f"; updated in place: {counted(self.updated_in_place[0], 'episode')} dropped, "
                     f"{counted(self.updated_in_place[1], 'episode')} written")
        return (
            f"{head}; skipped {skipped}, repaired {self.count('repaired')}, "
            f"duplicates {self.count('duplicate')} in {self.seconds:.1f}s{removed}"
        )


@dataclass(frozen=True)
class ShardReport:
    shard: Shard
    episodes: int  # in the whole corpus: every shard reads all of it
    passages: int  # distinct passage texts in this shard
    embedded: int
    cache_file: Path
    seconds: float
    written: tuple[int, bool] | None = None  # a Milvus index: rows written, and whether this shard completed it

    def summary(self) -> str:
        engine = ""
        if self.written is not None:
            engine = f"; wrote {self.written[0]} passages to Milvus" + ("; all shards in: published" if self.written[1] else "")
        return (
            f"shard {self.shard}: embedded {self.embedded} passages into {self.cache_file} "
            f"({self.passages - self.embedded} of its {self.passages} were cached; "
            f"{self.episodes} episodes read){engine} in {self.seconds:.1f}s"
        )
