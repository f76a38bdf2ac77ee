"""A second of a YouTube video: `Moment(video_id, second)` parses and formats its own links.

    >>> moment = Moment.parse("https://youtu.be/dQw4w9WgXcQ?t=75")
    >>> moment
    Moment(video_id='dQw4w9WgXcQ', second=75)
    >>> moment.watch_url
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s'
    >>> moment.at(90).embed_url
    'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90'

Every link the app shows or stores is built here, and every link it is given is read
here: anything that is not one of the three YouTube forms parses to None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlparse

# What youtube.com/watch?v= takes. The player's click handler (PLAYER_JS in rag/web.py)
# checks ids with this same pattern.
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_WATCH_HOSTS = ("www.youtube.com", "youtube.com")
_SHORT_HOST = "youtu.be"
_EMBED_HOST = "www.youtube-nocookie.com"
_EMBED_PATH = "/embed/"


@dataclass(frozen=True)
class Moment:
    """A video (11-character YouTube id) and the second to open it at.

    >>> Moment("too-short")
    Traceback (most recent call last):
    ...
    ValueError: not a YouTube video id: 'too-short'
    """

    video_id: str
    second: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.video_id, str) or not VIDEO_ID.fullmatch(self.video_id):
            raise ValueError(f"not a YouTube video id: {self.video_id!r}")
        if int(self.second) < 0:
            raise ValueError(f"negative second {self.second!r} for video {self.video_id}")
        object.__setattr__(self, "second", int(self.second))

    @classmethod
    def parse(cls, url: str) -> Moment | None:
        """The moment a https YouTube link opens at: a watch link (`t=75s` or `t=75`), a
        youtu.be link, or the privacy-enhanced embed link (`start=75`); None for anything
        else. A missing or unreadable time is second 0.

        >>> Moment.parse("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s")
        Moment(video_id='dQw4w9WgXcQ', second=75)
        >>> Moment.parse("https://evil.example/watch?v=dQw4w9WgXcQ") is None
        True
        """
        try:
            parsed = urlparse(url or "")
        except ValueError:
            return None
        if parsed.scheme != "https":
            return None
        query = parse_qs(parsed.query)
        if parsed.hostname in _WATCH_HOSTS and parsed.path == "/watch":
            video, time = (query.get("v") or [""])[0], query.get("t")
        elif parsed.hostname == _SHORT_HOST:
            video, time = parsed.path[1:], query.get("t")
        elif parsed.hostname == _EMBED_HOST and parsed.path.startswith(_EMBED_PATH):
            video, time = parsed.path[len(_EMBED_PATH) :], query.get("start")
        else:
            return None
        if not VIDEO_ID.fullmatch(video):
            return None
        raw = (time or ["0"])[0].removesuffix("s")
        return cls(video, int(raw) if raw.isdigit() else 0)

    @property
    def watch_url(self) -> str:
        """The YouTube page at this second: what citations link to and passages store."""
        return f"https://www.youtube.com/watch?v={self.video_id}&t={self.second}s"

    @property
    def embed_url(self) -> str:
        """The privacy-enhanced (youtube-nocookie) player at this second."""
        return f"https://www.youtube-nocookie.com/embed/{self.video_id}?start={self.second}"

    def at(self, second: int) -> Moment:
        """The same video at another second."""
        return replace(self, second=second)
