from __future__ import annotations

import doctest

import pytest

import rag.moment
from rag.moment import MediaMoment, Moment, PageMoment, media_link

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


# --------------------------------------------------------------------------- every medium

AUDIO = "https://cdn.example/show/ep1.mp3"


@pytest.mark.parametrize("extension", [".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".mp4", ".webm", ".MP3"])
def test_a_media_file_url_is_a_media_moment(extension: str) -> None:
    url = f"https://cdn.example/ep1{extension}"
    assert media_link(url) == MediaMoment(url, 0)
    assert media_link(url, 75).link_url == f"{url}#t=75"


def test_a_media_moment_round_trips_through_its_t_fragment() -> None:
    moment = MediaMoment(AUDIO, 3723)
    assert moment.link_url == f"{AUDIO}#t=3723"
    assert media_link(moment.link_url) == moment
    assert media_link(moment.link_url, 5) == MediaMoment(AUDIO, 5)
    assert media_link(f"{AUDIO}#t=12.5") == MediaMoment(AUDIO, 12)  # fractional seconds: the whole second
    assert media_link("http://127.0.0.1:8000/a.wav#t=3") == MediaMoment("http://127.0.0.1:8000/a.wav", 3)


def test_a_t_fragment_or_the_feed_makes_an_extensionless_url_a_media_file() -> None:
    enclosure = "https://anchor.example/s/123/podcast/play/456"
    assert media_link(enclosure) == PageMoment(enclosure)
    assert media_link(enclosure, 61, media=True) == MediaMoment(enclosure, 61)
    assert media_link(f"{enclosure}#t=61") == MediaMoment(enclosure, 61)  # as the index stores it


def test_audio_plays_in_audio_and_video_files_in_video() -> None:
    assert MediaMoment(AUDIO).kind == "audio"
    assert MediaMoment("https://cdn.example/ep1.webm?x=1").kind == "video"


def test_a_page_links_as_is_and_its_label_says_when() -> None:
    page = "https://podcast.example/episodes/ep1?ref=rag"
    link = media_link(page, 75)
    assert link == PageMoment(page, 75)
    assert link.link_url == page
    assert link.label_suffix == " (at 1:15)"
    assert PageMoment(page, 3723).label_suffix == " (at 1:02:03)"
    assert Moment(VIDEO, 75).label_suffix == "" and MediaMoment(AUDIO, 75).label_suffix == ""


def test_youtube_links_keep_their_moment() -> None:
    assert media_link(f"https://youtu.be/{VIDEO}?t=75") == Moment(VIDEO, 75)
    assert media_link(f"https://youtu.be/{VIDEO}?t=75", 90).link_url == f"https://www.youtube.com/watch?v={VIDEO}&t=90s"


@pytest.mark.parametrize("url", [
    None,
    "",
    "not a url",
    "javascript:alert(1)//x.mp3",
    "data:audio/wav;base64,AAAA",
    "file:///etc/passwd.mp3",
    "ftp://cdn.example/ep1.mp3",
    "https:///no-host.mp3",
    'https://cdn.example/ep1.mp3"onerror="alert(1)',
    "https://cdn.example/<b>.mp3",
    "https://cdn.example/a b.mp3",
    "https://[::1/ep1.mp3",
])
def test_only_http_urls_are_ever_linked(url: str | None) -> None:
    assert media_link(url) is None


def test_media_and_page_moments_refuse_what_media_link_refuses() -> None:
    with pytest.raises(ValueError, match="not an http"):
        MediaMoment("javascript:alert(1)")
    with pytest.raises(ValueError, match="not an http"):
        MediaMoment(f"{AUDIO}#t=5")  # the second is a field, not part of the URL
    with pytest.raises(ValueError, match="not an http"):
        PageMoment("mailto:a@example.com")
    with pytest.raises(ValueError, match="negative second"):
        MediaMoment(AUDIO, -1)
