"""A second of an episode, as a link: YouTube (`Moment`), a media file (`MediaMoment`) or
a page with no known player (`PageMoment`). `media_link(url)` reads any of them.

    >>> media_link("https://cdn.example/ep1.mp3#t=75")
    MediaMoment(url='https://cdn.example/ep1.mp3', second=75)
    >>> media_link("https://pod.example/ep1", second=75).label_suffix
    ' (at 1:15)'

A YouTube moment alone: `Moment(video_id, second)` parses and formats its own links.

    >>> moment = Moment.parse("https://youtu.be/dQw4w9WgXcQ?t=75")
    >>> moment
    Moment(video_id='dQw4w9WgXcQ', second=75)
    >>> moment.watch_url
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s'
    >>> moment.at(90).embed_url
    'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=90'

Every link the app shows or stores is built here, and every link it is given is read
here: `Moment.parse` takes only the three YouTube forms, and `media_link` takes only
http(s) URLs (anything else is None: no link).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Union
from urllib.parse import parse_qs, urlparse, urlsplit

# What youtube.com/watch?v= takes. The player's click handler (PLAYER_JS in rag/app/layout.py)
# checks ids with this same pattern.
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_WATCH_HOSTS = ("www.youtube.com", "youtube.com")
_SHORT_HOST = "youtu.be"
_EMBED_HOST = "www.youtube-nocookie.com"
_EMBED_PATH = "/embed/"


def _set_second(moment: object, what: str) -> None:
    """Store a frozen moment's `second` as an int, refusing a negative one."""
    second = int(moment.second)  # type: ignore[attr-defined]
    if second < 0:
        raise ValueError(f"negative second {moment.second!r} for {what}")  # type: ignore[attr-defined]
    object.__setattr__(moment, "second", second)


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
        _set_second(self, f"video {self.video_id}")

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

    @property
    def link_url(self) -> str:
        """What citations link to (every link kind has one): the watch page."""
        return self.watch_url

    label_suffix = ""  # the link opens at the second: the label needs no hint

    def at(self, second: int) -> Moment:
        """The same video at another second."""
        return replace(self, second=second)


# Media files a browser plays in <audio>/<video>; `#t=N` (W3C Media Fragments) opens them at N.
AUDIO_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav")
VIDEO_EXTENSIONS = (".mp4", ".webm")
_TIME_FRAGMENT = re.compile(r"t=(\d+)(?:\.\d*)?(?:,[\d.]*)?")
_WEB_SCHEMES = ("http", "https")


def _web_url(url: str) -> tuple[str, str] | None:
    """(url without fragment, fragment) of an http(s) URL with a host; None otherwise."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.hostname or any(c in url for c in "\"'<> \n\r\t"):
        return None
    return parts._replace(fragment="").geturl(), parts.fragment


def _clock(seconds: int) -> str:
    hours, rest = divmod(max(int(seconds), 0), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class MediaMoment:
    """An audio or video file (http(s) URL, no fragment) and the second to play it from.

    >>> MediaMoment("https://cdn.example/ep1.mp3", 90).link_url
    'https://cdn.example/ep1.mp3#t=90'
    >>> MediaMoment("https://cdn.example/ep1.webm").kind
    'video'
    """

    url: str
    second: int = 0

    def __post_init__(self) -> None:
        web = _web_url(self.url)
        if web is None or web[1]:
            raise ValueError(f"not an http(s) media URL without a fragment: {self.url!r}")
        _set_second(self, self.url)

    @property
    def link_url(self) -> str:
        """The file at this second (`#t=N`): what citations link to and passages store."""
        return f"{self.url}#t={self.second}"

    @property
    def kind(self) -> str:
        """"video" for .mp4/.webm files, else "audio": the player element to use."""
        return "video" if urlsplit(self.url).path.lower().endswith(VIDEO_EXTENSIONS) else "audio"

    label_suffix = ""  # the player opens at the second

    def at(self, second: int) -> MediaMoment:
        return replace(self, second=second)


@dataclass(frozen=True)
class PageMoment:
    """A page (http(s) URL) with no player we know: linked as is, its label says when."""

    url: str
    second: int = 0

    def __post_init__(self) -> None:
        if _web_url(self.url) is None:
            raise ValueError(f"not an http(s) URL: {self.url!r}")
        _set_second(self, self.url)

    @property
    def link_url(self) -> str:
        return self.url

    @property
    def label_suffix(self) -> str:
        """What a link's label adds, as the page cannot open at the second."""
        return f" (at {_clock(self.second)})"

    def at(self, second: int) -> PageMoment:
        return replace(self, second=second)


MediaLink = Union[Moment, MediaMoment, PageMoment]


def media_link(url: str | None, second: int | None = None, *, media: bool = False) -> MediaLink | None:
    """The link kind of an http(s) URL, at `second` (default: the second the URL itself
    names, else 0); None for anything that is not http(s).

    YouTube links are `Moment`s; a URL whose path ends in a media extension, that
    carries a `#t=N` fragment, or that the caller knows is a media file (`media=True`:
    an RSS enclosure) is a `MediaMoment`; any other http(s) URL is a `PageMoment`.

    >>> media_link("https://youtu.be/dQw4w9WgXcQ?t=75").link_url
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s'
    >>> media_link("https://anchor.example/play/123", 61, media=True).link_url
    'https://anchor.example/play/123#t=61'
    >>> media_link("javascript:alert(1)") is None
    True
    """
    link: MediaLink | None = Moment.parse(url or "")
    if link is None:
        web = _web_url(url or "")
        if web is None:
            return None
        bare, fragment = web
        timed = _TIME_FRAGMENT.fullmatch(fragment)
        if media or timed or urlsplit(bare).path.lower().endswith(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS):
            link = MediaMoment(bare, int(timed[1]) if timed else 0)
        else:
            link = PageMoment(url.strip())
    return link if second is None else link.at(second)
