"""The web chat in a real browser: Playwright driving Debian's Chromium (`apt-get install chromium`).

Screenshots of every test land in one temporary folder, printed at the end of the run.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from rag.index.build import ingest
from rag.index.embedding import HashingEmbedder
from tests.conftest import episode_text, write_episode
from tests.fake_llm import FakeLLMServer, Reply
from tests.test_app import env_for, running_app, video_of

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEEP = "a[href*='youtube.com/watch'][href*='t=']"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `apt-get install chromium` (or set CHROMIUM)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("screenshots")
    yield folder
    print(f"\nscreenshots: {folder}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    yield page
    context.close()


def ask(page: Page, question: str) -> None:
    page.wait_for_selector("#rag-question textarea")
    page.fill("#rag-question textarea", question)
    page.keyboard.press("Enter")


def last_answer(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#rag-chat .message-row").last


def test_question_streams_an_answer_with_deep_links(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    text = "Bloom filters check whether a page was already visited, accepting some false positives [1]."
    with FakeLLMServer(default=Reply(text, chunk_words=2, stall_s=2.0)) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            page.goto(url)
            assert page.inner_text("#rag-mode").strip() == "Answers written by fake-model"
            ask(page, "What are bloom filters used for?")
            # Mid-stream: the first delta is shown, with the cursor, while the server stalls.
            page.wait_for_function(
                "() => { const t = document.querySelector('#rag-chat').innerText; "
                "return t.includes('Bloom filters') && t.includes('▌') && !t.includes('false positives'); }",
                timeout=20000,
            )
            page.screenshot(path=shots / "streaming.png")
            page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
            page.screenshot(path=shots / "answered.png")
            answer = last_answer(page).inner_text()
            assert "false positives" in answer and "▌" not in answer
            links = page.locator(f"#rag-chat {DEEP}")
            label_link = links.filter(has_text=re.compile(r" — .+ @ \d+:\d\d$")).first
            href = label_link.get_attribute("href") or ""
            assert re.fullmatch(r"https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s", href)
            assert label_link.get_attribute("target") == "_blank"
            assert page.locator("#rag-sources a[href*='youtube-nocookie.com/embed/']").count() >= 1


def test_episode_url_scopes_every_citation(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    episode = "building-data-team"
    video = video_of(built_index, episode)
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.goto(f"{url}?episode={episode}")
        page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('Chatting about')")
        assert "How to Build and Scale ML Teams" in page.inner_text("#rag-scope")
        ask(page, "What are bloom filters used for?")  # the best match lives in another episode
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        page.screenshot(path=shots / "episode-scope.png")
        hrefs = [a.get_attribute("href") or "" for a in page.locator(f"#rag-chat {DEEP}, #rag-sources {DEEP}").all()]
    assert hrefs
    assert all(f"v={video}&" in href for href in hrefs), hrefs


def test_transcript_and_llm_markup_never_executes(tmp_path: Path, corpus_dir: Path, page: Page, shots: Path) -> None:
    payload = "<script>window.__xss = 1; alert(1)</script> <img src=x onerror=window.__xss=2;alert(2)> zebrafrobnication"
    write_episode(corpus_dir / "podcast", "xss.md", episode_text(title="XSS <img src=x onerror=alert(5)>", topic=payload, youtube="abcdefghijk"))
    index = tmp_path / "xss-index"
    ingest([corpus_dir], index, HashingEmbedder(dim=256))
    reply = Reply('It is about <img src=x onerror="window.__xss=3;alert(3)"> zebrafrobnication [1]. <script>alert(4)</script>')
    with FakeLLMServer(default=reply) as llm:
        # Threshold 0: this test is about rendering, not about refusing.
        env = env_for(index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model", RAG_REFUSAL_MIN_COSINE="0")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            page.goto(f"{url}?episode=xss")  # the hashing embedder would not rank it first unscoped
            page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('Chatting about')")
            ask(page, "What is zebrafrobnication?")
            page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
            page.wait_for_function("() => (document.querySelector('#rag-sources')?.innerText || '').includes('zebrafrobnication')")
            page.wait_for_timeout(1000)  # give any injected handler time to fire
            page.screenshot(path=shots / "markup-escaped.png")
            assert page.evaluate("window.__xss") is None
            assert page.dialogs == []  # type: ignore[attr-defined]
            # The markup is shown as text, not turned into elements.
            assert "<script>window.__xss = 1; alert(1)</script>" in page.inner_text("#rag-sources")
            assert '<img src=x onerror="window.__xss=3;alert(3)">' in last_answer(page).inner_text()
            assert page.locator("#rag-chat img[src='x'], #rag-sources img[src='x'], #rag-chat script, #rag-sources script").count() == 0


def test_thumbs_down_is_logged_and_play_here_drives_the_player(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    feedback = tmp_path / "fb.jsonl"
    with running_app(env_for(built_index), feedback) as url:
        page.goto(url)
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        cued = page.get_attribute("#rag-player iframe", "src") or ""
        assert re.fullmatch(r"https://www\.youtube-nocookie\.com/embed/[\w-]{11}\?start=\d+", cued)
        play = page.locator("#rag-sources a[href*='youtube-nocookie.com/embed/']").nth(1)
        target = play.get_attribute("href")
        play.click()
        page.wait_for_function(f"() => document.querySelector('#rag-player iframe').src === {target + '&autoplay=1'!r}")
        assert len(page.context.pages) == 1  # played here, not in a new tab
        page.get_by_role("button", name="Dislike").last.click()
        page.wait_for_function("() => true")
        for _ in range(50):
            if feedback.exists() and feedback.read_text().strip():
                break
            page.wait_for_timeout(100)
        page.screenshot(path=shots / "feedback.png")
    import json

    records = [json.loads(line) for line in feedback.read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert (record["vote"], record["question"], record["mode"]) == ("down", "What are bloom filters used for?", "extractive")
    assert record["citations"] and all("&t=" in c["url"] for c in record["citations"])
    assert record["answer"].startswith("- ")


def test_votes_attach_to_their_own_turn_and_fold_to_the_last_click(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    from rag.app.feedback import FeedbackLog

    feedback = tmp_path / "fb.jsonl"

    def lines() -> int:
        return len(feedback.read_text().splitlines()) if feedback.exists() else 0

    def wait_for_lines(n: int) -> None:
        for _ in range(50):
            if lines() >= n:
                return
            page.wait_for_timeout(100)

    with running_app(env_for(built_index, RAG_MAX_QUESTION_CHARS="40"), feedback) as url:
        page.goto(url)
        ask(page, "x" * 41)  # an error turn: no answer, no record
        page.wait_for_function("() => document.querySelector('#rag-chat').innerText.includes('the limit is 40')")
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        bots = page.locator("#rag-chat .message-buttons-left")  # the thumbs under each bot message
        assert bots.count() == 2
        bots.nth(0).get_by_role("button", name="Dislike", exact=True).click()  # on the error message: not logged
        page.wait_for_timeout(500)
        assert lines() == 0
        bots.nth(1).get_by_role("button", name="Like", exact=True).click()
        wait_for_lines(1)
        bots.nth(1).get_by_role("button", name="Dislike", exact=True).click()  # changed their mind
        wait_for_lines(2)
        page.screenshot(path=shots / "votes.png")
    assert lines() == 2
    votes = FeedbackLog(feedback).read()
    assert votes.skipped == 0 and len(votes.records) == 1
    record = votes.records[0]
    assert (record["vote"], record["question"]) == ("down", "What are bloom filters used for?")
    assert record["citations"] and record["answer_id"]


def test_unknown_episode_in_the_url_is_ignored_with_a_note(built_index: Path, tmp_path: Path, page: Page) -> None:
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.goto(f"{url}?episode=" + "nope" * 40)
        page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('No episode')")
        assert page.inner_text("#rag-scope") == f"No episode “{'nope' * 20}…” in this index: searching all episodes."
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        assert "Bloom Filters" in last_answer(page).inner_text()


def tone_wav(path: Path, seconds: int = 40, rate: int = 8000) -> Path:
    """A mono 16-bit WAV of a quiet 440 Hz sine tone: a real audio file, no package needed."""
    import math
    import struct
    import wave

    frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * n / rate))) for n in range(rate * seconds))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A loopback http.server for `folder` that answers byte ranges (what a browser seeks with)."""
    import http.server
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

        def do_GET(self) -> None:
            ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            path = Path(self.translate_path(self.path))
            if not ranged or not path.is_file():
                return super().do_GET()
            data = path.read_bytes()
            start = int(ranged[1])
            end = min(int(ranged[2]) if ranged[2] else len(data) - 1, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Type", self.guess_type(str(path)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            self.wfile.write(data[start : end + 1])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


AUDIO_EPISODE = """---
title: Audio only
guests: [annlee]
links:
  spotify: https://open.spotify.com/episode/x
  mp3: {audio}
transcript:
- header: Intro
- line: Welcome to the show, today we talk about sourdough.
  sec: 3
  who: Alexey
- line: Thanks for having me. Zebrafrobnication keeps sourdough starters alive for weeks.
  sec: 17
  who: Ann
- line: And what about rye flour in a starter?
  sec: 29
  who: Alexey
---
"""


def test_an_audio_only_citation_plays_in_the_page_from_the_cited_second(tmp_path: Path, page: Page, shots: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    tone_wav(media / "episode.wav")
    with serving(media) as files:
        audio = f"{files}/episode.wav"
        write_episode(tmp_path / "corpus", "audio-only.md", AUDIO_EPISODE.format(audio=audio))
        index = tmp_path / "audio-index"
        ingest([tmp_path / "corpus"], index, HashingEmbedder(dim=256))
        with running_app(env_for(index, RAG_REFUSAL_MIN_COSINE="0"), tmp_path / "fb.jsonl") as url:
            page.goto(url)
            ask(page, "What keeps sourdough starters alive? zebrafrobnication")
            cited = f"#rag-chat a[href^='{audio}#t=']"
            page.wait_for_selector(cited, timeout=30000)
            link = page.locator(cited).first
            href = link.get_attribute("href") or ""
            second = int(href.rsplit("#t=", 1)[1])
            # The answer cued the page's own <audio> player (no YouTube), not yet loading.
            player = page.locator("#rag-player audio")
            assert player.get_attribute("src") == href and player.get_attribute("preload") == "none"
            assert page.locator("#rag-player iframe").count() == 0
            page.evaluate("document.querySelector('#rag-player audio').currentTime = 0")
            link.click()
            page.wait_for_function(
                f"() => {{ const a = document.querySelector('#rag-player audio'); "
                f"return a && a.readyState > 0 && Math.abs(a.currentTime - {second}) <= 1; }}",
                timeout=15000,
            )
            page.screenshot(path=shots / "audio-citation.png")
            assert len(page.context.pages) == 1  # played here, not opened in a new tab
            assert second == 17, href  # the line that answers
            # A YouTube "play here" link afterwards swaps the <audio> back for the YouTube player.
            page.evaluate("() => { const a = document.createElement('a'); a.id = 'yt'; a.textContent = 'yt'; "
                          "a.href = 'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=42'; "
                          "document.querySelector('#rag-sources').appendChild(a); }")
            page.click("#yt")
            page.wait_for_function("() => (document.querySelector('#rag-player iframe')?.src || '') === "
                                   "'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=42&autoplay=1'")
            assert page.locator("#rag-player audio").count() == 0


# --------------------------------------------------------------------------- visitors

# What an environment variable or setting name looks like: OPENAI_BASE_URL, RAG_INDEX, HF_TOKEN.
SETTING_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
SHARE = "#rag-chat a:text('Share this answer')"


def test_the_page_never_shows_setting_names_or_setup_steps(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    with running_app(env_for(built_index, RAG_MAX_QUESTION_CHARS="60"), tmp_path / "fb.jsonl") as url:
        page.goto(url)
        page.wait_for_selector("#rag-chat .placeholder-content, #rag-chat [class*='placeholder']")
        empty = page.inner_text("body")
        assert "Ask anything discussed on the podcast: answers cite the episode, the speaker and the second." in empty
        assert "What are bloom filters used for?" in empty  # the examples are offered
        assert page.inner_text("#rag-mode").strip() == "Answers quote the transcripts"
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        ask(page, "x" * 61)
        page.wait_for_function("() => document.querySelector('#rag-chat').innerText.includes('the limit is 60')")
        page.screenshot(path=shots / "visitor-copy.png")
        text = page.inner_text("body")
    assert not SETTING_NAME.findall(text), SETTING_NAME.findall(text)
    assert "restart" not in text.lower() and "Offline mode" not in text and "rag ingest" not in text
    with FakeLLMServer(default=Reply("Bloom filters check membership [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            page.goto(url)
            page.wait_for_selector("#rag-mode")
            assert page.inner_text("#rag-mode").strip() == "Answers written by fake-model"
            ask(page, "What are bloom filters used for?")
            page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
            text = page.inner_text("body")
    assert not SETTING_NAME.findall(text) and llm.base_url not in text


def test_the_share_link_reopens_the_same_answer_frozen_in_a_fresh_context(
    built_index: Path, tmp_path: Path, browser: Browser, page: Page, shots: Path
) -> None:
    from datetime import datetime, timezone

    episode = "building-data-team"
    question = "How do you hire data scientists for a data team?"
    with FakeLLMServer(default=Reply("Hire for curiosity, then teach the stack [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            page.goto(f"{url}?episode={episode}")
            page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('Chatting about')")
            ask(page, question)
            page.wait_for_selector(SHARE, timeout=30000)
            answer = last_answer(page).inner_text()
            link = page.eval_on_selector(SHARE, "a => a.href")  # absolute: this app's URL
            requests = len(llm.chat_requests())
            assert requests == 1 and link.startswith(f"{url}?episode={episode}&share=s1.")
            fresh = browser.new_context(viewport={"width": 1400, "height": 1000})  # no cookies, no session
            try:
                shared = fresh.new_page()
                shared.goto(link)
                shared.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
                shared.screenshot(path=shots / "shared-answer.png")
                messages = shared.locator("#rag-chat .message-row")
                reopened = messages.last.inner_text()
                assert messages.first.inner_text().strip() == question
                assert "How to Build and Scale ML Teams" in shared.inner_text("#rag-scope")  # the scope is kept
                hrefs = [a.get_attribute("href") for a in shared.locator(f"#rag-chat {DEEP}").all()]
                original = [a.get_attribute("href") for a in page.locator(f"#rag-chat {DEEP}").all()]
            finally:
                fresh.close()
            assert len(llm.chat_requests()) == requests  # opening it asked the LLM nothing
    today = datetime.now(timezone.utc).date()
    header = f"Shared answer, asked on {today.day} {today:%B %Y}, shown as it was given."
    assert reopened.startswith(header)
    assert reopened[len(header):].strip() == answer.strip()  # the same text, citations and share link
    assert hrefs == original


def test_a_tampered_share_link_is_refused_and_shows_no_answer(built_index: Path, tmp_path: Path, page: Page, shots: Path) -> None:
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.goto(url)
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(SHARE, timeout=30000)
        link = page.eval_on_selector(SHARE, "a => a.href")
        head, payload, mac = link.split("share=", 1)[1].split(".")
        middle = len(payload) // 2
        tampered = f"{head}.{payload[:middle]}{'A' if payload[middle] != 'A' else 'B'}{payload[middle + 1:]}.{mac}"
        page.goto(f"{url}?share={tampered}")
        page.wait_for_function("() => (document.querySelector('#rag-chat')?.innerText || '').includes('cannot be opened')", timeout=30000)
        page.screenshot(path=shots / "tampered-link.png")
        chat = page.inner_text("#rag-chat")
        assert "This share link cannot be opened: it was changed, or it was made by another copy of this app." in chat
        assert page.locator(f"#rag-chat {DEEP}").count() == 0 and "Sources" not in chat and "Bloom" not in chat
        page.goto(f"{url}?share=s1.nonsense")
        page.wait_for_function("() => (document.querySelector('#rag-chat')?.innerText || '').includes('incomplete or damaged')")
        assert page.locator(f"#rag-chat {DEEP}").count() == 0


def test_a_validly_signed_link_with_markup_renders_it_as_text(built_index: Path, tmp_path: Path, page: Page) -> None:
    from datetime import date

    from rag.app.share import SharedAnswer, SharedMoment, ShareSigner

    secret = "test-share-secret-" + "x" * 32
    moment = SharedMoment(1, "e", "<img src=x onerror=window.__xss=1;alert(1)>", "Ann", 5, "javascript:alert(2)")
    shared = SharedAnswer('<script>window.__xss=2</script>', '<img src=x onerror="window.__xss=3"> [1]', "llm", False,
                          date(2026, 12, 4), None, (moment,))
    token = ShareSigner(secret.encode()).sign(shared)
    with running_app(env_for(built_index, RAG_SHARE_SECRET=secret), tmp_path / "fb.jsonl") as url:
        page.goto(f"{url}?share={token}")
        page.wait_for_function("() => (document.querySelector('#rag-chat')?.innerText || '').includes('Shared answer')")
        page.wait_for_timeout(500)
        assert page.evaluate("window.__xss") is None and page.dialogs == []  # type: ignore[attr-defined]
        assert '<img src=x onerror="window.__xss=3">' in last_answer(page).inner_text()
        assert page.locator("#rag-chat img[src='x'], #rag-chat script, #rag-chat a[href^='javascript']").count() == 0


def test_the_layout_fits_a_390px_phone(built_index: Path, tmp_path: Path, browser: Browser, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
            page.goto(url)
            ask(page, "What are bloom filters used for?")
            page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
            page.wait_for_selector(SHARE)
            page.screenshot(path=shots / "phone.png", full_page=True)
            width = page.evaluate("document.documentElement.scrollWidth")
            boxes = {sel: page.locator(sel).bounding_box() for sel in ("#rag-chat", "#rag-question", "#rag-player", "#rag-sources")}
            share = page.locator(SHARE).bounding_box()
    finally:
        context.close()
    assert width <= 390  # nothing scrolls sideways
    for selector, box in boxes.items():
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
        assert box["width"] >= 300, (selector, box)  # each part uses the width, none squeezed beside another
    assert boxes["#rag-chat"]["y"] < boxes["#rag-player"]["y"] < boxes["#rag-sources"]["y"]  # stacked: chat first
    assert share is not None and share["x"] + share["width"] <= 390


PLANTED = [  # what a visitor types or puts in a URL, hoping the page makes it a link
    "https://evil%2Eexample%2Ecom/login",
    "http://2130706433/admin",
    "https://evil.example/x",
    "//evil.example/login",
    "www.evil.example",
    "mail me at victim@evil.example",
]


@pytest.mark.parametrize("planted", PLANTED)
def test_no_visitor_text_becomes_a_link_on_the_page(built_index: Path, tmp_path: Path, page: Page, planted: str) -> None:
    from urllib.parse import quote

    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.goto(f"{url}?episode={quote(planted, safe='')}")
        page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('No episode')")
        assert page.eval_on_selector_all("#rag-scope a", "links => links.map(a => a.href)") == []
        assert "evil" in page.inner_text("#rag-scope") or "2130706433" in page.inner_text("#rag-scope")


def test_a_question_sent_before_the_page_finished_loading_keeps_the_urls_episode(
        built_index: Path, tmp_path: Path, page: Page) -> None:
    import time as clock

    episode = "building-data-team"
    video = video_of(built_index, episode)
    held: list[str] = []

    def slow_load(route) -> None:  # type: ignore[no-untyped-def]
        # The page's load handler (not queued) answers late, as under load.
        if "/run/" in route.request.url or "/api/predict" in route.request.url:
            held.append(route.request.url)
            clock.sleep(4)
        route.continue_()

    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.route("**/gradio_api/**", slow_load)
        page.goto(f"{url}?episode={episode}", wait_until="domcontentloaded")
        ask(page, "What are bloom filters used for?")  # asked at once: the scope is not set yet
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        hrefs = [a.get_attribute("href") or "" for a in page.locator(f"#rag-chat {DEEP}").all()]
    assert held, "the load handler was not delayed: the test did not make the race"
    assert hrefs and all(f"v={video}&" in href for href in hrefs), hrefs


def test_choosing_all_episodes_on_a_scoped_page_searches_every_episode(built_index: Path, tmp_path: Path, page: Page) -> None:
    bloom_video = video_of(built_index, "algorithms-data-structures-for-engineers")
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        page.goto(f"{url}?episode=building-data-team")
        page.wait_for_function("() => (document.querySelector('#rag-scope')?.innerText || '').includes('Chatting about')")
        page.click("#rag-episode input")
        page.get_by_role("option", name="All episodes").click()
        page.wait_for_function("() => !window.location.search.includes('episode=')")
        ask(page, "What are bloom filters used for?")
        page.wait_for_selector(f"#rag-chat {DEEP}", timeout=30000)
        hrefs = [a.get_attribute("href") or "" for a in page.locator(f"#rag-chat {DEEP}").all()]
    assert any(f"v={bloom_video}&" in href for href in hrefs), hrefs
