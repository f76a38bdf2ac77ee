"""`rag ingest FEED.xml`: RSS items with Podcasting 2.0 transcripts -> episodes. No network:
transcripts sit beside the feed or on loopback servers the tests start."""

from __future__ import annotations

import http.server
import json
import select
import socket
import socketserver
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from click.testing import CliRunner

from rag.cli import cli
from rag.errors import CorpusError
from rag.index.build import ingest
from rag.index.embedding import HashingEmbedder
from rag.index.files import load_index
from rag.limits import MAX_TRANSCRIPT_BYTES
from rag.search.searcher import Searcher
from rag.sources.feed import is_feed_url, load_feed
from rag.sources.fetch import fetch_url
from rag.sources.load import load_corpus
from rag.sources.rss import MAX_FEED_BYTES, episode_id, parse_feed

# The tests' servers listen on 127.0.0.1, which feeds may reach only when the operator says so.
LOOPBACK = {"allow_private_hosts": True}


HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"
     xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>Test cast</title>
"""


def item(title: str, guid: str, transcripts: str, guest: str = "", season: int = 2) -> str:
    person = f'<podcast:person role="guest">{guest}</podcast:person><podcast:person>Host Person</podcast:person>' if guest else ""
    return f"""<item><title>{title}</title><guid isPermaLink="false">{guid}</guid>
  <link>https://example.com/{guid}</link><pubDate>Tue, 03 Jun 2025 10:00:00 GMT</pubDate>
  <enclosure url="https://cdn.example.com/{guid}.mp3" length="1" type="audio/mpeg"/>
  <itunes:season>{season}</itunes:season>{person}{transcripts}</item>
"""


def transcript(url: str, kind: str) -> str:
    return f'<podcast:transcript url="{url}" type="{kind}"/>'


def json_transcript(sentence: str) -> str:
    return json.dumps({"version": "1.0.0", "segments": [
        {"speaker": "Host Person", "startTime": 1.0, "endTime": 4.0, "body": "Welcome to the show."},
        {"speaker": "Guest", "startTime": 65.5, "endTime": 70.0, "body": sentence},
    ]})


SRT = "1\n00:00:01,000 --> 00:00:04,000\nHello and welcome.\n\n2\n00:01:05,000 --> 00:01:09,000\n{sentence}\n"


@pytest.fixture
def transcript_server() -> Iterator[str]:
    """A loopback http.server: a JSON transcript at /remote.json, a feed at /podcast/feed.xml."""
    body = json_transcript("Kafka consumer lag grows when partitions are unbalanced.").encode()

    def get(request: http.server.BaseHTTPRequestHandler) -> None:
        if request.path.split("?")[0] == "/podcast/feed.xml":  # a remote feed whose transcript link is relative
            reply(request, 200, (HEAD + item("Remote", "r-1", transcript("../remote.json", "application/json"))
                                 + "</channel></rss>").encode())
        elif request.path == "/remote.json":
            reply(request, 200, body, {"Content-Type": "application/json"})
        else:
            request.send_error(404)

    with serving(get) as base:
        yield base


@contextmanager
def serving(get: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A quiet loopback http.server whose GETs `get` answers; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            get(self)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def reply(request: http.server.BaseHTTPRequestHandler, status: int, body: bytes = b"",
          headers: dict[str, str] | None = None) -> None:
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    if status != 304:
        request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A listening socket that never accepts or answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def local_and_remote_feed(folder: Path, title: str, remote_url: str) -> Path:
    """A feed of two items: "Ok", a transcript beside the feed, and `title`, one at `remote_url`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ok.json").write_text(json_transcript("Feature stores serve features online."))
    feed = folder / "feed.xml"
    feed.write_text(HEAD + item("Ok", "ok", transcript("ok.json", "application/json"))
                    + item(title, title.lower(), transcript(remote_url, "application/json")) + "</channel></rss>")
    return feed


def write_feed(folder: Path, server: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ep1.json").write_text(json_transcript("Vector databases store embeddings for nearest neighbour search."))
    (folder / "ep2.srt").write_text(SRT.format(sentence="Airflow schedules the nightly batch jobs."))
    feed = folder / "feed.xml"
    feed.write_text(HEAD + "".join([
        item("Vectors", "ep-1", transcript("ep1.json", "application/json") + transcript("ep1.html", "text/html"),
             guest="Ann Lee"),
        item("Batch jobs", "ep-2", transcript("ep2.srt", "application/x-subrip"), guest="Bo Chen"),
        item("Notes only", "ep-3", transcript("https://example.com/ep3.html", "text/html")),
        item("Streaming", "ep-4", transcript(f"{server}/remote.json", "application/json"), guest="Cy Diaz"),
        item("No words", "ep-5", ""),
    ]) + "</channel></rss>\n", encoding="utf-8")
    return feed


def test_feed_items_become_episodes_with_guests_season_date_and_audio(tmp_path: Path, transcript_server: str) -> None:
    feed = write_feed(tmp_path / "cast", transcript_server)
    corpus = load_corpus([feed], **LOOPBACK)
    by_id = {e.id: e for e in corpus.episodes}
    assert sorted(by_id) == ["ep-1", "ep-2", "ep-4"]
    assert by_id["ep-1"].guests == ("Ann Lee",)  # the host person is not a guest
    assert (by_id["ep-1"].title, by_id["ep-1"].season, by_id["ep-1"].date) == ("Vectors", 2, "2025-06-03")
    assert (by_id["ep-1"].media_url, by_id["ep-1"].media_is_file) == ("https://cdn.example.com/ep-1.mp3", True)
    assert by_id["ep-1"].url_at(65) == "https://cdn.example.com/ep-1.mp3#t=65"
    assert by_id["ep-2"].lines[1].sec == 65
    assert by_id["ep-4"].lines[1].text == "Kafka consumer lag grows when partitions are unbalanced."
    assert [str(n) for n in corpus.notes] == [
        f"skipped: {feed}: item 'Notes only': no readable transcript (text/html only)",
        f"skipped: {feed}: item 'No words': no transcript",
    ]


def test_ingested_feed_finds_a_sentence_from_each_readable_item(tmp_path: Path, transcript_server: str) -> None:
    feed = write_feed(tmp_path / "cast", transcript_server)
    embedder = HashingEmbedder(dim=256)
    report = ingest([feed], tmp_path / "idx", embedder, **LOOPBACK)
    assert (report.episodes, report.count("skipped")) == (3, 2)
    searcher = Searcher(load_index(tmp_path / "idx"), embedder)
    for question, episode in [("vector databases embeddings", "ep-1"), ("airflow nightly batch", "ep-2"),
                              ("kafka consumer lag partitions", "ep-4")]:
        [top] = searcher.search(question, k=1)
        assert top.passage.episode_id == episode
        assert top.passage.url.startswith(f"https://cdn.example.com/{episode}.mp3#t=")  # the enclosure, kept


def test_cli_ingests_a_feed_and_names_skipped_items(tmp_path: Path, transcript_server: str) -> None:
    feed = write_feed(tmp_path / "cast", transcript_server)
    config = tmp_path / "rag.yaml"
    config.write_text("model: hashing-64\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(feed), "--index", str(tmp_path / "idx"),
                                      "--cache", str(tmp_path / "cache"), "--allow-private-hosts"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"skipped: {feed}: item 'Notes only': no readable transcript (text/html only)" in result.output
    assert "indexed 3 episodes" in result.output


def test_a_feed_url_is_fetched_and_its_relative_transcript_links_resolved(transcript_server: str) -> None:
    corpus = load_corpus([f"{transcript_server}/podcast/feed.xml?key=secret"], **LOOPBACK)
    assert [(e.id, e.source) for e in corpus.episodes] == [("r-1", f"{transcript_server}/remote.json")]
    assert corpus.notes == []


def test_a_transcript_server_that_never_answers_ends_at_the_deadline(tmp_path: Path, silent_server: str) -> None:
    feed = local_and_remote_feed(tmp_path / "cast", "Hangs", f"{silent_server}/t.json")
    started = time.monotonic()
    episodes, notes = load_feed(str(feed), deadline_s=0.5, allow_private=True)
    assert time.monotonic() - started < 5
    assert [e.id for e in episodes] == ["ok"]
    assert [(n.action, n.reason) for n in notes] == [
        ("skipped", f"item 'Hangs': no readable transcript: {silent_server}/t.json: no answer within 0.5 s"),
    ]


def test_a_feed_with_a_dtd_or_entities_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n'
                    "<rss><channel><item><title>&b;</title></item></channel></rss>")
    with pytest.raises(CorpusError) as err:
        load_corpus([bomb])
    assert str(err.value) == f"{bomb}: refused: the feed declares a DTD or entities (<!DOCTYPE/<!ENTITY)"
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE rss SYSTEM "file:///etc/passwd"><rss/>'
    with pytest.raises(CorpusError, match="refused: the feed declares a DTD"):
        parse_feed(utf16.encode("utf-16"), "utf16.xml")


def test_an_oversized_feed_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.rss"
    big.write_bytes(HEAD.encode() + b" " * MAX_FEED_BYTES + b"</channel></rss>")
    with pytest.raises(CorpusError, match=r"big.rss: feed is larger than 20 MB"):
        load_corpus([big])
    with pytest.raises(CorpusError, match="feed.xml: feed is larger than 20 MB"):
        parse_feed(b" " * (MAX_FEED_BYTES + 1), "feed.xml")


def test_a_feed_with_too_many_items_reads_the_first_ones_and_says_so(tmp_path: Path, monkeypatch) -> None:
    import rag.sources.feed

    folder = tmp_path / "cast"
    folder.mkdir()
    (folder / "ep.json").write_text(json_transcript("Data contracts keep producers honest."))
    items = "".join(item(f"Episode {n}", f"e-{n}", transcript("ep.json", "application/json")) for n in range(5))
    (folder / "feed.xml").write_text(HEAD + items + "</channel></rss>")
    monkeypatch.setattr(rag.sources.feed, "MAX_FEED_ITEMS", 3)
    episodes, notes = load_feed(str(folder / "feed.xml"))
    assert [e.title for e in episodes] == ["Episode 0", "Episode 1", "Episode 2"]
    assert [(n.action, n.reason) for n in notes] == [("repaired", "5 items; only the first 3 are read")]


def test_a_remote_feed_cannot_make_ingest_read_local_files(tmp_path: Path, transcript_server: str) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json_transcript("private words"))
    feed = parse_feed((HEAD + item("X", "x", transcript(f"file://{secret}", "application/json"))
                       + "</channel></rss>").encode(), "feed")
    from rag.sources.feed import read_transcript

    with pytest.raises(CorpusError, match="refused: only http"):
        read_transcript(feed[0].transcripts[0], f"{transcript_server}/feed.xml")


def test_a_local_feed_reads_only_files_in_its_own_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.json").write_text(json_transcript("outside words"))
    folder = tmp_path / "cast"
    folder.mkdir()
    feed = folder / "feed.xml"
    feed.write_text(HEAD + item("Out", "out", transcript("../outside.json", "application/json")) + "</channel></rss>")
    episodes, notes = load_feed(str(feed))
    assert episodes == []
    assert notes[0].reason == f"item 'Out': no readable transcript: {folder}/../outside.json: refused: outside the feed's folder"


def test_feed_urls_are_fetched_and_git_urls_still_cloned() -> None:
    assert is_feed_url("https://example.com/feed.xml")
    assert is_feed_url("https://example.com/podcast/feed")
    assert is_feed_url("https://example.com/show.rss?token=1")
    assert not is_feed_url("https://github.com/o/feeds.git")
    assert not is_feed_url("https://github.com/o/corpus")


def test_episode_id_is_a_stable_file_safe_slug_of_the_guid() -> None:
    items = parse_feed((HEAD + item("T", "Ep 1/Ü?", "") + item("Only title", "", "")
                        + item("T", "x" * 100, "") + "</channel></rss>").encode(), "f")
    ids = [episode_id(it, n) for n, it in enumerate(items)]
    assert ids[:2] == ["ep-1", "only-title"]
    assert len(ids[2]) <= 60 and ids[2] == episode_id(items[2], 2)


def test_a_non_web_enclosure_never_becomes_the_episode_link(tmp_path: Path) -> None:
    folder = tmp_path / "cast"
    folder.mkdir()
    (folder / "ep1.json").write_text(json_transcript("Data contracts keep producers honest."))
    feed = folder / "feed.xml"
    feed.write_text((HEAD + item("X", "x", transcript("ep1.json", "application/json")) + "</channel></rss>")
                    .replace("https://cdn.example.com/x.mp3", "javascript:alert(1)"))
    [episode], _ = load_feed(str(feed))
    assert (episode.media_url, episode.media_is_file) == ("https://example.com/x", False)  # the item's <link>


def test_a_fetch_error_never_shows_the_url_password(silent_server: str) -> None:
    from rag.sources.fetch import fetch_url

    port = silent_server.rsplit(":", 1)[1]
    with pytest.raises(CorpusError) as err:
        fetch_url(f"http://user:sk-secret@127.0.0.1:{port}x/t.json", max_bytes=10, deadline_s=0.5)
    assert "sk-secret" not in str(err.value)
    assert str(err.value).startswith("http://127.0.0.1")


def test_a_feed_file_without_an_xml_suffix_is_recognised_by_its_content(tmp_path: Path) -> None:
    from rag.sources.load import is_feed_source

    folder = tmp_path / "cast"
    folder.mkdir()
    (folder / "ep1.json").write_text(json_transcript("Data contracts keep producers honest."))
    feed = folder / "podcast"
    feed.write_text(HEAD + item("X", "x", transcript("ep1.json", "application/json")) + "</channel></rss>")
    assert is_feed_source(str(feed)) and not is_feed_source(str(folder))
    assert [e.id for e in load_corpus([feed]).episodes] == ["x"]


# --------------------------------------------------------------------------- one deadline per fetch


class StallingServer(socketserver.ThreadingTCPServer):
    """A loopback server that accepts, reads the request and then stalls as its path says:
    /silent never answers, /dribble-headers sends a header byte every 0.1 s, /dribble-body
    sends full headers and then a body byte every 0.1 s. Records when each client hung up."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StallingHandler)
        self.stop = threading.Event()
        self.hung_up_at: list[float] = []


class StallingHandler(socketserver.BaseRequestHandler):
    server: StallingServer

    def handle(self) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += self.request.recv(4096)
        path = request.split(b" ")[1].decode()
        if path == "/dribble-headers":
            self.request.sendall(b"HTTP/1.1 200 OK\r\n")
            trickle = b"X-Slow: " + b"a" * 10_000
        elif path == "/dribble-body":
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            trickle = b"b" * 1_000_000
        else:
            trickle = b""
        for byte in [trickle[i:i + 1] for i in range(len(trickle))] or iter(lambda: b"", None):
            if self.server.stop.is_set() or self.client_hung_up():
                return
            try:
                self.request.sendall(byte)
            except OSError:
                self.server.hung_up_at.append(time.monotonic())
                return

    def client_hung_up(self) -> bool:
        """Wait 0.1 s for the client; True (and the time noted) once it has closed."""
        readable, _, _ = select.select([self.request], [], [], 0.1)
        if readable and not self.request.recv(1, socket.MSG_PEEK):
            self.server.hung_up_at.append(time.monotonic())
            return True
        return False


@pytest.fixture
def stalling_server() -> Iterator[StallingServer]:
    server = StallingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stall", ["silent", "dribble-headers", "dribble-body"])
def test_a_stalling_server_fails_at_the_deadline_and_is_hung_up_on(stalling_server: StallingServer, stall: str) -> None:
    url = f"http://127.0.0.1:{stalling_server.server_address[1]}/{stall}"
    started = time.monotonic()
    with pytest.raises(CorpusError) as err:
        fetch_url(url, max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=1.0, allow_private=True)
    ended = time.monotonic()
    assert str(err.value) == f"{url}: no answer within 1 s"
    assert 0.95 <= ended - started < 1.5
    time.sleep(0.3)
    assert stalling_server.hung_up_at and stalling_server.hung_up_at[0] - ended < 0.3  # the connection is closed too


def test_a_server_that_answers_in_time_gives_its_body(transcript_server: str) -> None:
    body = fetch_url(f"{transcript_server}/remote.json", max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=1.0,
                     allow_private=True)
    assert json.loads(body)["segments"][1]["body"] == "Kafka consumer lag grows when partitions are unbalanced."


def test_a_body_over_the_size_cap_is_refused(transcript_server: str) -> None:
    with pytest.raises(CorpusError, match=r"/remote\.json: larger than 0 MB$"):
        fetch_url(f"{transcript_server}/remote.json", max_bytes=100, deadline_s=1.0, allow_private=True)


# --------------------------------------------------------------------------- a feed inside a folder


def write_folder_with_feed(folder: Path, feed_name: str) -> Path:
    """A feed linking ep1.json and ep2.srt (and a missing ep3.vtt), beside them a plain
    transcript with its sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ep1.json").write_text(json_transcript("Vector databases store embeddings for nearest neighbour search."))
    (folder / "ep2.srt").write_text(SRT.format(sentence="Airflow schedules the nightly batch jobs."))
    (folder / "talk.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:04.000\n<v Ann>Dashboards need owners.\n")
    (folder / "talk.yaml").write_text("title: A talk\nguests: [Ann]\n")
    feed = folder / feed_name
    feed.write_text(HEAD + item("Vectors", "ep-1", transcript("ep1.json", "application/json"), guest="Ann Lee")
                    + item("Batch jobs", "ep-2", transcript("ep2.srt", "application/x-subrip"))
                    + item("Lost", "ep-3", transcript("ep3.vtt", "text/vtt")) + "</channel></rss>\n")
    return feed


@pytest.mark.parametrize("feed_name", ["feed.xml", "podcast"])
def test_a_folder_with_a_feed_ingests_its_items_and_the_other_transcripts_once(tmp_path: Path, feed_name: str) -> None:
    feed = write_folder_with_feed(tmp_path / "cast", feed_name)
    corpus = load_corpus([tmp_path / "cast"])
    by_id = {e.id: e for e in corpus.episodes}
    assert sorted(by_id) == ["ep-1", "ep-2", "talk"]
    assert (by_id["ep-1"].title, by_id["ep-1"].guests, by_id["ep-1"].media_url) == (
        "Vectors", ("Ann Lee",), "https://cdn.example.com/ep-1.mp3")  # the feed's metadata, not the file name
    assert by_id["ep-1"].source == str(tmp_path / "cast" / "ep1.json")
    assert (by_id["talk"].title, by_id["talk"].guests) == ("A talk", ("Ann",))
    assert [str(n) for n in corpus.notes] == [
        f"skipped: {feed}: item 'Lost': no readable transcript: {tmp_path / 'cast' / 'ep3.vtt'}: "
        "cannot read the transcript: No such file or directory",
    ]


def test_rag_ingest_of_a_folder_with_a_feed_searches_every_episode(tmp_path: Path) -> None:
    write_folder_with_feed(tmp_path / "cast", "feed.xml")
    config = tmp_path / "rag.yaml"
    config.write_text("model: hashing-256\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "ingest", str(tmp_path / "cast"), "--index",
                                      str(tmp_path / "idx"), "--cache", str(tmp_path / "cache"), "--allow-private-hosts"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "indexed 3 episodes" in result.output and "duplicates 0" in result.output
    searcher = Searcher(load_index(tmp_path / "idx"), HashingEmbedder(dim=256))
    for question, episode in [("vector databases embeddings", "ep-1"), ("airflow nightly batch", "ep-2"),
                              ("dashboards owners", "talk")]:
        assert searcher.search(question, k=1)[0].passage.episode_id == episode


def test_a_broken_feed_in_a_folder_is_named_and_the_transcripts_still_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "cast"
    write_folder_with_feed(folder, "feed.xml")
    (folder / "feed.xml").write_text(HEAD + "<item><title>cut off")
    corpus = load_corpus([folder])
    assert sorted(e.id for e in corpus.episodes) == ["ep1", "ep2", "talk"]
    assert [n.action for n in corpus.notes if n.path == str(folder / "feed.xml")] == ["error"]


@pytest.fixture
def flaky_host() -> Iterator[tuple[str, dict[str, bool]]]:
    """A loopback host serving /feed.xml and the transcript it links; 503 for both while
    `state["down"]`, a 200 maintenance page for both while `state["broken"]`."""
    state: dict = {"down": False, "broken": False, "log": []}  # log: (path, status) of each request
    pages = {
        "/feed.xml": (HEAD + item("Lag", "lag-1", transcript("lag.json", "application/json")) + "</channel></rss>").encode(),
        "/lag.json": json_transcript("Kafka consumer lag grows when partitions are unbalanced.").encode(),
    }

    def get(request: http.server.BaseHTTPRequestHandler) -> None:
        if state["down"] or request.path not in pages:
            state["log"].append((request.path, 503 if state["down"] else 404))
            request.send_error(503 if state["down"] else 404)
            return
        if state["broken"]:
            body, etag = b"<html><body>Back soon: maintenance</body></html>", ""
        else:
            body, etag = pages[request.path], f'"{hash(pages[request.path]) & 0xFFFF:x}"'
        status = 304 if etag and request.headers.get("If-None-Match") == etag else 200
        state["log"].append((request.path, status))
        reply(request, status, body if status == 200 else b"", {"ETag": etag} if etag else {})

    state["pages"] = pages
    with serving(get) as base:
        yield base, state


def test_a_host_that_is_down_costs_a_note_not_the_episodes_fetched_before(
        tmp_path: Path, corpus_dir: Path, flaky_host: tuple[str, dict[str, bool]]) -> None:
    # The index is rebuilt from what the sources give now: without the last good copies, a
    # feed re-ingested daily beside a folder would lose its episodes on any day its host is down.
    base, state = flaky_host
    embedder, index, cache = HashingEmbedder(dim=256), tmp_path / "idx", tmp_path / "cache"
    sources = [f"{base}/feed.xml", corpus_dir]
    first = ingest(sources, index, embedder, **LOOPBACK, cache_dir=cache)
    assert first.episodes == 5 and first.count("repaired") == 0
    state["down"] = True
    again = ingest(sources, index, embedder, **LOOPBACK, cache_dir=cache, force=True)
    assert again.episodes == 5
    today = time.strftime("%Y-%m-%d", time.gmtime())
    fetch_notes = [str(n) for n in again.notes if n.action == "repaired"]
    assert fetch_notes == [
        f"repaired: {base}/feed.xml: HTTP 503; used the copy fetched on {today}",
        f"repaired: {base}/feed.xml: item 'Lag': {base}/lag.json: HTTP 503; used the copy fetched on {today}",
    ]
    [top] = Searcher(load_index(index), embedder).search("kafka consumer lag", k=1)
    assert top.passage.episode_id == "lag-1"
    # Up but serving a maintenance page: unreadable bodies never replace the good copies.
    state.update(down=False, broken=True)
    broken = ingest(sources, index, embedder, **LOOPBACK, cache_dir=cache, force=True)
    assert broken.episodes == 5
    assert [n.reason for n in broken.notes if n.action == "repaired"] == [
        f"not an RSS feed (no <rss><channel>); used the copy fetched on {today}",
        f"item 'Lag': {base}/lag.json: not a transcript (expected WebVTT, SRT, Whisper JSON, Podcasting 2.0 JSON "
        f"or DTC Markdown); used the copy fetched on {today}",
    ]
    state.update(down=True, broken=False)
    assert ingest(sources, index, embedder, **LOOPBACK, cache_dir=cache, force=True).episodes == 5
    with pytest.raises(CorpusError, match="HTTP 503"):  # without copies the feed is simply unreadable
        load_corpus([f"{base}/feed.xml"], **LOOPBACK)
    assert not any(cache.rglob("*127.0.0.1*"))  # copies are named by a hash, never by the URL


def test_a_feed_re_ingested_asks_only_for_what_changed(tmp_path: Path, flaky_host: tuple[str, dict]) -> None:
    base, state = flaky_host
    embedder, index, cache = HashingEmbedder(dim=256), tmp_path / "idx", tmp_path / "cache"
    ingest([f"{base}/feed.xml"], index, embedder, cache_dir=cache, **LOOPBACK)
    assert state["log"] == [("/feed.xml", 200), ("/lag.json", 200)]
    state["log"].clear()
    again = ingest([f"{base}/feed.xml"], index, embedder, cache_dir=cache, **LOOPBACK)
    assert again.up_to_date and again.notes == []
    assert state["log"] == [("/feed.xml", 304), ("/lag.json", 304)]  # nothing sent twice
    state["log"].clear()
    state["pages"]["/lag.json"] = json_transcript("Airflow retries a failed task three times.").encode()
    changed = ingest([f"{base}/feed.xml"], index, embedder, cache_dir=cache, **LOOPBACK)
    assert state["log"] == [("/feed.xml", 304), ("/lag.json", 200)] and not changed.up_to_date
    [top] = Searcher(load_index(index), embedder).search("airflow retries failed task", k=1)
    assert "Airflow retries" in top.passage.text


def test_a_hand_edited_validator_is_not_sent(tmp_path: Path, flaky_host: tuple[str, dict]) -> None:
    base, state = flaky_host
    embedder, index, cache = HashingEmbedder(dim=256), tmp_path / "idx", tmp_path / "cache"
    ingest([f"{base}/feed.xml"], index, embedder, cache_dir=cache, **LOOPBACK)
    for kept in (cache / "fetched").glob("*.json"):
        kept.write_text(json.dumps({"etag": '"1"\r\nX-Injected: yes', "last_modified": ["not", "text"]}))
    state["log"].clear()
    again = ingest([f"{base}/feed.xml"], index, embedder, cache_dir=cache, **LOOPBACK)
    assert again.notes == [] and state["log"] == [("/feed.xml", 200), ("/lag.json", 200)]  # plain requests


# --------------------------------------------------------------------------- internal addresses


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.7", "private"), ("172.16.4.4", "private"), ("192.168.1.1", "private"), ("::ffff:192.168.1.1", "private"),
    ("fd00::1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not public"), ("93.184.215.14", None), ("2606:4700::1111", None),
])
def test_every_non_public_address_is_named_and_refused(address: str, kind: str | None) -> None:
    from rag.sources.fetch import forbidden_address

    assert forbidden_address(address) == kind


@pytest.fixture
def internal_service() -> Iterator[tuple[str, list[str]]]:
    """A loopback service standing in for an internal one: a transcript-shaped secret,
    and a log of every request that reached it."""
    seen: list[str] = []

    def get(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(request.path)
        reply(request, 200, json_transcript("The internal payroll secret is forty two.").encode(),
              {"Content-Type": "application/json"})

    with serving(get) as base:
        yield base, seen


def test_a_fetch_of_an_internal_host_is_refused_in_every_written_form(internal_service: tuple[str, list[str]]) -> None:
    base, seen = internal_service
    port = base.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "0x7f.1", "127.1"):
        url = f"http://{host}:{port}/admin/delete?all=1"
        with pytest.raises(CorpusError) as err:
            fetch_url(url, max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=2.0)
        shown = url.partition("?")[0]  # a query can hold a key: never shown
        assert str(err.value).startswith(f"{shown}: refused: {host} is a loopback address (127.0.0.1); "), host
        assert str(err.value).endswith("need `rag ingest --allow-private-hosts` (RAG_ALLOW_PRIVATE_HOSTS=1)")
    assert seen == []  # not one request reached the service
    assert fetch_url(f"{base}/t.json", max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=2.0, allow_private=True)
    assert seen == ["/t.json"]


def test_a_feed_that_links_an_internal_transcript_skips_it_unless_the_operator_allows(
        tmp_path: Path, internal_service: tuple[str, list[str]]) -> None:
    base, seen = internal_service
    feed = local_and_remote_feed(tmp_path / "cast", "Secret", f"{base}/secret.json")
    corpus = load_corpus([feed])
    assert [e.id for e in corpus.episodes] == ["ok"]
    [note] = [str(n) for n in corpus.notes]
    assert note.startswith(f"skipped: {feed}: item 'Secret': no readable transcript: {base}/secret.json: refused: "
                           "127.0.0.1 is a loopback address")
    assert seen == []
    def ingest_with(*flags: str) -> str:
        return CliRunner().invoke(cli, ["ingest", str(feed), "--index", str(tmp_path / "idx"), "--model", "hashing-64",
                                        "--force", *flags, "-q"], catch_exceptions=False).output

    assert ingest_with("--private-host", "localhost").startswith("indexed 1 episode")  # another host named
    assert seen == []
    assert ingest_with("--private-host", "127.0.0.1").startswith("indexed 2 episodes")
    assert ingest_with("--allow-private-hosts").startswith("indexed 2 episodes")
    assert seen == ["/secret.json", "/secret.json"]


def test_a_huge_title_and_guest_name_are_cut_where_they_enter(tmp_path: Path) -> None:
    folder = tmp_path / "cast"
    folder.mkdir()
    (folder / "ep1.json").write_text(json_transcript("Vector databases store embeddings for nearest neighbour search."))
    feed = folder / "feed.xml"
    feed.write_text(HEAD + item("T" * 2_000_000, "big", transcript("ep1.json", "application/json"), guest="G" * 1_000_000)
                    + "</channel></rss>")
    embedder = HashingEmbedder(dim=64)
    report = ingest([feed], tmp_path / "idx", embedder)
    assert report.episodes == 1
    assert [n.reason for n in report.notes if n.action == "repaired"] == [
        "title cut to 300 characters; a guest's name cut to 100 characters"]
    passages = list(load_index(tmp_path / "idx").passages)
    assert passages and all(len(p.episode_title) == 300 and p.episode_title.endswith("…") for p in passages)
    assert all(len(guest) == 100 for p in passages for guest in p.guests)


def test_a_stalling_transcript_host_is_given_up_after_three_timeouts_and_the_feed_has_one_deadline(
        tmp_path: Path, silent_server: str) -> None:
    folder = tmp_path / "cast"
    folder.mkdir()
    feed = folder / "feed.xml"
    feed.write_text(HEAD + "".join(item(f"Hangs {n}", f"h{n}", transcript(f"{silent_server}/t{n}.json", "application/json"))
                                   for n in range(6)) + "</channel></rss>")
    started = time.monotonic()
    episodes, notes = load_feed(str(feed), deadline_s=0.3, allow_private=True)
    assert time.monotonic() - started < 3  # three time-outs, then no more waiting
    assert episodes == []
    reasons = [n.reason for n in notes]
    assert [r.endswith("no answer within 0.3 s") for r in reasons] == [True] * 3 + [False] * 3
    assert reasons[3] == "item 'Hangs 3': no readable transcript: 127.0.0.1 timed out 3 times in a row; not asked again"
    started = time.monotonic()
    episodes, notes = load_feed(str(feed), deadline_s=5, allow_private=True, feed_deadline_s=0.5)
    assert time.monotonic() - started < 2
    assert notes[-1].reason == "5 items not read: the feed's deadline (0.5 s for all its fetches) passed"


def test_every_redirect_hop_is_checked_and_an_allowed_host_allows_only_itself() -> None:
    seen: list[str] = []

    def get(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(request.path)
        if request.path == "/feed.xml":  # hop 1: a host the operator allowed, sending the fetch on
            port = request.server.server_address[1]
            reply(request, 302, b"", {"Location": f"http://localhost:{port}/secret.json"})
        else:
            reply(request, 200, json_transcript("The internal secret.").encode(), {"Content-Type": "application/json"})

    with serving(get) as base:
        with pytest.raises(CorpusError) as err:
            fetch_url(f"{base}/feed.xml", max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=2.0,
                      allow_private=frozenset({"127.0.0.1"}))
        assert "refused: localhost is a loopback address (127.0.0.1)" in str(err.value)
        assert seen == ["/feed.xml"]  # the redirect's target was never asked
        assert fetch_url(f"{base}/feed.xml", max_bytes=MAX_TRANSCRIPT_BYTES, deadline_s=2.0,
                         allow_private=frozenset({"127.0.0.1", "localhost"}))
