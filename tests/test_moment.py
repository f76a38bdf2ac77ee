from __future__ import annotations

import doctest

import pytest

import rag.moment
from rag.moment import Moment

VIDEO = "dQw4w9WgXcQ"


def test_doctests_pass() -> None:
    assert doctest.testmod(rag.moment).failed == 0


@pytest.mark.parametrize("url", [
    f"https://www.youtube.com/watch?v={VIDEO}&t=75s",
    f"https://youtube.com/watch?t=75&v={VIDEO}",
    f"https://youtu.be/{VIDEO}?t=75",
    f"https://www.youtube-nocookie.com/embed/{VIDEO}?start=75",
    f"https://www.youtube-nocookie.com/embed/{VIDEO}?start=75&autoplay=1",
])
def test_every_youtube_link_form_parses_to_the_same_moment(url: str) -> None:
    assert Moment.parse(url) == Moment(VIDEO, 75)


def test_a_link_without_a_readable_time_opens_at_second_zero() -> None:
    assert Moment.parse(f"https://www.youtube.com/watch?v={VIDEO}") == Moment(VIDEO, 0)
    assert Moment.parse(f"https://www.youtube.com/watch?v={VIDEO}&t=1m15s") == Moment(VIDEO, 0)


@pytest.mark.parametrize("url", [
    "",
    "not a url",
    f"http://www.youtube.com/watch?v={VIDEO}&t=75s",  # not https
    f"https://evil.example/watch?v={VIDEO}&t=75s",
    f"https://www.youtube.com.evil.example/watch?v={VIDEO}",
    f"https://www.youtube.com/embed/{VIDEO}",  # only the nocookie embed
    f"https://www.youtube.com/?v={VIDEO}",  # not /watch
    "https://www.youtube.com/watch?v=short&t=75s",
    f"https://www.youtube.com/watch?v={VIDEO}x&t=75s",
    f'https://www.youtube.com/watch?v={VIDEO}"onclick="x',
    f"javascript:alert('https://youtu.be/{VIDEO}')",
    "https://[::1/watch",  # urlparse raises on this one
])
def test_anything_else_parses_to_none(url: str) -> None:
    assert Moment.parse(url) is None


def test_watch_and_embed_urls_round_trip() -> None:
    moment = Moment(VIDEO, 3723)
    assert moment.watch_url == f"https://www.youtube.com/watch?v={VIDEO}&t=3723s"
    assert moment.embed_url == f"https://www.youtube-nocookie.com/embed/{VIDEO}?start=3723"
    assert Moment.parse(moment.watch_url) == moment
    assert Moment.parse(moment.embed_url) == moment


def test_at_moves_the_second_and_keeps_the_video() -> None:
    assert Moment(VIDEO, 5).at(61) == Moment(VIDEO, 61)


@pytest.mark.parametrize("video_id", ["", "short", VIDEO + "x", "dQw4w9WgXc!", "dQw4w9WgXc\n"])
def test_an_invalid_video_id_is_refused_by_name(video_id: str) -> None:
    with pytest.raises(ValueError) as error:
        Moment(video_id, 0)
    assert str(error.value) == f"not a YouTube video id: {video_id!r}"


def test_a_negative_second_is_refused() -> None:
    with pytest.raises(ValueError, match=f"negative second -1 for video {VIDEO}"):
        Moment(VIDEO, -1)
