"""Caption timestamps: `01:02:03.456`, `02:03.456`, `00:01:02,345` -> seconds."""

from __future__ import annotations

import re

TIMESTAMP = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_PARTS = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?")


def to_seconds(raw: str) -> float:
    """'01:02.345' -> 62.345; '1:00:00,5' -> 3600.5 (hours optional, '.' or ',' decimals).

    >>> to_seconds("01:02:03,400")
    3723.4
    """
    match = _PARTS.fullmatch(raw.strip())
    if not match:
        raise ValueError(f"bad timestamp {raw!r}")
    hours, minutes, seconds, fraction = match.groups()
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)
