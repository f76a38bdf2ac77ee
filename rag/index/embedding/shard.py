"""Which texts `rag ingest --shard I/N` embeds: shard I of N, numbered from 1.

A text belongs to the shard its hash picks (`text_key`, the key the embedding cache
already uses), so every machine computes the same split with no coordination, the
shards never overlap, a text repeated in several episodes is embedded once, and
episodes of very different lengths still spread evenly.

    >>> Shard.parse("2/4")
    Shard(number=2, count=4)
    >>> str(Shard.parse(" 1/2 ")), Shard(1, 2).file_tag
    ('1/2', 'shard-1-of-2')
    >>> Shard.parse("0/2")
    Traceback (most recent call last):
    ...
    ValueError: '0/2' is not a shard: use I/N with 1 <= I <= N, e.g. 1/4 for the first of four
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    number: int  # 1..count, as Slurm's --array=1-N numbers its tasks
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.number <= self.count:
            raise ValueError(f"{str(self)!r} is not a shard: {_FORM}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        number, slash, count = text.strip().partition("/")
        if not (slash and number.strip().isdigit() and count.strip().isdigit()):
            raise ValueError(f"{text!r} is not a shard: {_FORM}")
        try:
            return cls(int(number), int(count))
        except ValueError:
            raise ValueError(f"{text!r} is not a shard: {_FORM}") from None

    def __str__(self) -> str:
        return f"{self.number}/{self.count}"

    @property
    def file_tag(self) -> str:
        """How this shard's cache file is named: `<cache>.shard-1-of-2.npz`."""
        return f"shard-{self.number}-of-{self.count}"

    def holds(self, text_key: str) -> bool:
        """Whether the text with this `text_key` (a sha256 hex digest) is this shard's to embed."""
        return int(text_key[:16], 16) % self.count == self.number - 1


_FORM = "use I/N with 1 <= I <= N, e.g. 1/4 for the first of four"
