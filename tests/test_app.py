"""The web chat over a real index (HashingEmbedder), driven through Gradio's own client."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from gradio_client import Client

from rag.answers.answerer import Answer
from rag.answers.citations import Citation
from rag.app.layout import build_app, launch_kwargs
from rag.app.render import escape_markdown, render_answer
from rag.config import load_config
from rag.index.files import load_index
from rag.moment import Moment
from tests.fake_llm import FakeLLMServer, Reply

ROOT = Path(__file__).parent.parent
DEEP_LINK = re.compile(r"\]\((https://www\.youtube\.com/watch\?v=([A-Za-z0-9_-]{11})&t=(\d+)s)\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(index: Path, **extra: str) -> dict[str, str]:
    return {"RAG_INDEX": str(index), "RAG_REFUSAL_MIN_COSINE": "0.15", **extra}


@contextmanager
def running_app(env: dict[str, str], feedback: Path) -> Iterator[str]:
    demo = build_app(load_config(env=env), feedback_path=feedback)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def chat_args(question: str, chat: list | None = None, episode: str = "", guest: str = "", season: str = "") -> tuple:
    """The chat endpoint's inputs (it is undocumented, so gradio_client knows no defaults)."""
    return question, chat or [], episode, guest, season


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def video_of(index: Path, episode: str) -> str:
    passage = next(p for p in load_index(index).passages if p.episode_id == episode)
    moment = Moment.parse(passage.url)
    assert moment
    return moment.video_id


def page_config(url: str) -> str:
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        return response.read().decode()


def test_offline_answer_cites_moments_with_deep_links(built_index: Path, tmp_path: Path) -> None:
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        chat, box, sources, player = Client(url, verbose=False).predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
    answer = text_of(chat[-1])
    assert text_of(chat[0]) == "What are bloom filters used for?"
    assert box == ""
    links = DEEP_LINK.findall(answer)
    assert links, answer
    assert "**Sources**" in answer and "Bloom Filters" in answer
    assert re.search(r"— Marcello La Rocca @ \d+:\d\d\]\(https://www\.youtube\.com/watch\?v=RiQa-9LguW8&t=\d+s\)", answer) \
        or re.search(r"— Alexey @ \d+:\d\d\]\(https://www\.youtube\.com/watch\?v=RiQa-9LguW8&t=\d+s\)", answer)
    # Sources panel: episode, speakers, time range, excerpt, both kinds of link.
    assert "Marcello La Rocca" in sources and "▶ play here](https://www.youtube-nocookie.com/embed/RiQa-9LguW8?start=" in sources
    assert re.search(r"\d+:\d\d–\d+:\d\d", sources)
    # The player is cued at the first citation's second.
    first_second = links[0][2]
    assert f'src="https://www.youtube-nocookie.com/embed/RiQa-9LguW8?start={first_second}"' in player


def test_llm_answer_streams_and_links_its_markers(built_index: Path, tmp_path: Path) -> None:
    reply = Reply("Bloom filters check whether an item was already seen, with false positives [1]. " * 3, chunk_words=2)
    with FakeLLMServer(default=reply) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model", OPENAI_API_KEY="sk-test-secret")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            config = page_config(url)
            job = Client(url, verbose=False).submit(*chat_args("What are bloom filters used for?"), api_name="/ask")
            final = job.result(timeout=60)
            partials = [text_of(out[0][-1]) for out in job.outputs() if out[0] and len(out[0]) == 2]
    badge = json.dumps(f"Answers written by {escape_markdown('fake-model')}")[1:-1]  # as the page config holds it
    assert badge in config and llm.base_url not in config and "sk-test-secret" not in config
    streamed = [p for p in partials if p.endswith("▌") and len(p) > 1]
    assert len(streamed) >= 5, partials  # one update per 2-word delta, before the final message
    assert all(len(a) <= len(b) for a, b in zip(streamed, streamed[1:]))
    answer = text_of(final[0][-1])
    assert "▌" not in answer
    assert re.search(r"positives \[\\\[1\\\]\]\(https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s\)\.", answer), answer


def test_followup_sends_earlier_questions_as_history(built_index: Path, tmp_path: Path) -> None:
    replies = [
        Reply("Bloom filters test set membership [1]."),  # first answer
        Reply("Bloom filters in crawlers"),  # the rewritten follow-up (non-streamed)
        Reply("Crawlers use them to skip visited pages [1]."),
    ]
    with FakeLLMServer(replies) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            client = Client(url, verbose=False)
            chat, *_ = client.predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
            chat, *_ = client.predict(*chat_args("And where are they used?", chat), api_name="/ask")
        requests = llm.chat_requests()
    assert len(requests) == 3
    rewrite_prompt = json.dumps(requests[1].body["messages"])
    assert "What are bloom filters used for?" in rewrite_prompt and "And where are they used?" in rewrite_prompt
    assert "Bloom filters in crawlers" in json.dumps(requests[2].body["messages"])
    assert len(chat) == 4 and "skip visited pages" in text_of(chat[3])


def test_episode_filter_keeps_every_citation_in_that_episode(built_index: Path, tmp_path: Path) -> None:
    episode = "building-data-team"
    video = video_of(built_index, episode)
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        chat, _, sources, _ = Client(url, verbose=False).predict(
            "What are bloom filters used for?", [], episode, "", "", api_name="/ask"
        )
    links = DEEP_LINK.findall(text_of(chat[-1])) + DEEP_LINK.findall(sources)
    assert links
    assert {video_id for _, video_id, _ in links} == {video}


def test_transcript_markup_is_escaped_not_rendered(tmp_path: Path) -> None:
    passage_text = 'Ann: Try <script>alert(1)</script> and <img src=x onerror="alert(2)"> here.'
    from rag.index.chunking import Passage

    passage = Passage("e#0", "e", "Title <b>x</b>", "", ("Ann",), 61, 90, passage_text,
                      "https://www.youtube.com/watch?v=abcdefghijk&t=61s", 0)
    answer = Answer('<img src=x onerror="alert(3)"> [1] ![pic](http://evil.test/x.png)', (Citation(1, passage, True),), False, "llm")
    rendered = render_answer(answer)
    assert "<img" not in rendered and "<b>" not in rendered
    assert '&lt;img src=x onerror="alert\\(3\\)"&gt;' in rendered
    assert "\\!\\[pic\\]\\(http\\://evil.test/x.png\\)" in rendered  # no image, no link
    assert "[\\[1\\]](https://www.youtube.com/watch?v=abcdefghijk&t=61s)" in rendered
    assert escape_markdown(passage_text).count("&lt;script&gt;") == 1


def test_bare_urls_in_an_llm_answer_are_text_not_links() -> None:
    from markdown_it import MarkdownIt

    from rag.index.chunking import Passage

    passage = Passage("e#0", "e", "Title", "", ("Ann",), 61, 90, "Ann: Bloom filters.",
                      "https://www.youtube.com/watch?v=abcdefghijk&t=61s", 0)
    text = ("Bloom filters [1]. Details at https://evil.example/x and HTTP://evil.example/y, "
            "www.evil.example or mail me@evil.example")
    rendered = render_answer(Answer(text, (Citation(1, passage, True),), False, "llm"))
    ours = "(https://www.youtube.com/watch?v=abcdefghijk&t=61s)"
    assert rendered.count(ours) == 2  # the [1] marker and the Sources line
    # What GFM (Gradio's marked) autolinks: a URL scheme, "www.", an e-mail address.
    rest = rendered.replace(ours, "")
    assert not re.search(r"(?i)(https?|ftp)://|www\.|\w@\w", rest)
    assert "https\\://evil.example/x" in rendered and "www\\.evil.example" in rendered
    html_out = MarkdownIt("commonmark").render(rendered)
    assert html_out.count("<a ") == 2 and "evil.example" in html_out and 'href="https://evil' not in html_out


def test_a_refusal_says_so_then_links_its_closest_moments() -> None:
    from rag.index.chunking import Passage
    from rag.search.hits import Hit

    passage = Passage("e#0", "e", "Bloom *Filters*", "", ("Ann",), 61, 90, "Ann: Bloom filters.",
                      "https://www.youtube.com/watch?v=abcdefghijk&t=61s", 0)
    unlinked = Passage("f#0", "f", "No video", "", ("Bob",), 5, 9, "Bob: Hi.", "", 0)
    refusal = Answer("That is not covered in the podcast.", (), True, "llm",
                     sources=(Hit(passage, 0.2, "hybrid", link_s=75), Hit(unlinked, 0.1, "hybrid")))
    assert render_answer(refusal) == (
        "That is not covered in the podcast.\n\nThe closest moments I found:\n\n"
        "- [Bloom \\*Filters\\* — Ann @ 1:15](https://www.youtube.com/watch?v=abcdefghijk&t=75s)\n"
        "- No video — Bob @ 0:05"
    )
    assert render_answer(replace(refusal, sources=())) == "That is not covered in the podcast."


def test_an_audio_citation_links_its_file_at_the_second_and_cues_the_audio_player() -> None:
    from rag.app.render import player_html, render_sources
    from rag.index.chunking import Passage
    from rag.search.hits import Hit

    audio = "https://cdn.example/ep&1.mp3"
    passage = Passage("e#0", "e", "Audio <only>", "", ("Ann", "Bob"), 61, 90, "Ann: Bloom filters.\nBob: Yes.",
                      f"{audio}#t=61", 0, line_starts=(61, 75))
    answer = Answer("Bloom filters [1].", (Citation(1, passage, True, line=1),), False, "llm",
                    sources=(Hit(passage, 0.9, "hybrid", link_s=75),))
    rendered = render_answer(answer)
    assert "[\\[1\\]](https://cdn.example/ep&1.mp3#t=75)" in rendered
    assert "1. [Audio &lt;only&gt; — Bob @ 1:15](https://cdn.example/ep&1.mp3#t=75)" in rendered
    assert "[▶ play here](https://cdn.example/ep&1.mp3#t=75)" in render_sources(answer)
    assert player_html(answer.citations[0]) == (
        '<audio controls preload="none" src="https://cdn.example/ep&amp;1.mp3#t=75" '
        'data-rag-media="https://cdn.example/ep&amp;1.mp3"></audio><p>Audio &lt;only&gt; — Bob @ 1:15</p>'
    )


def test_a_page_citation_links_the_page_and_says_when() -> None:
    from rag.app.render import player_html, render_sources
    from rag.index.chunking import Passage
    from rag.search.hits import Hit

    page = "https://podcast.example/ep(1)"
    passage = Passage("e#0", "e", "Paged", "", ("Ann",), 61, 90, "Ann: Bloom filters.", page, 0)
    answer = Answer("Bloom filters [1].", (Citation(1, passage, True),), False, "llm",
                    sources=(Hit(passage, 0.9, "hybrid", link_s=75),))
    rendered = render_answer(answer)
    assert "[\\[1\\]](https://podcast.example/ep%281%29)" in rendered
    assert "1. [Paged — Ann @ 1:01 \\(at 1:01\\)](https://podcast.example/ep%281%29)" in rendered
    assert "[episode page ↗ \\(at 1:15\\)](https://podcast.example/ep%281%29)" in render_sources(answer)
    assert 'src="about:blank"' in player_html(answer.citations[0])  # no player for a page


def test_a_non_http_media_url_is_never_a_link_or_a_player() -> None:
    from rag.app.render import player_html, render_sources
    from rag.index.chunking import Passage
    from rag.search.hits import Hit

    passage = Passage("e#0", "e", "Bad", "", ("Ann",), 61, 90, "Ann: Hi.", "javascript:alert(1)//a.mp3#t=61", 0)
    answer = Answer("Hi [1].", (Citation(1, passage, True),), False, "llm", sources=(Hit(passage, 0.9, "hybrid"),))
    assert "javascript" not in render_answer(answer) + render_sources(answer) + player_html(answer.citations[0])


def test_missing_index_page_says_not_ready_and_the_log_says_how_to_build_it(tmp_path: Path, caplog) -> None:
    missing = tmp_path / "none"
    with running_app(env_for(missing), tmp_path / "fb.jsonl") as url:
        config = page_config(url)
    assert "The podcast's search index is not available right now" in config
    assert "rag ingest" not in config and "RAG_INDEX" not in config and str(missing) not in config
    assert f"no index at {missing}" in caplog.text
    assert f"rag ingest ../shared/corpus --index {missing}" in caplog.text
    assert "Traceback" not in config


def test_app_script_serves_the_build_instructions_without_traceback(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index", str(tmp_path / "none")],
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                config = page_config(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "app.py did not start within 60s"
                time.sleep(0.5)
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "not available right now" in config
    assert f"no index at {tmp_path / 'none'}" in output  # the operator reads it in the terminal
    assert f"rag ingest ../shared/corpus --index {tmp_path / 'none'}" in output
    assert "No LLM configured: answers quote the transcripts." in output
    assert f"Share links are signed with the key in {tmp_path / 'share-secret'}" in output
    assert "Traceback" not in output


def test_the_page_and_the_llm_call_the_podcast_by_its_name(tmp_path: Path, corpus_dir: Path) -> None:
    from rag.index.build import ingest
    from rag.index.embedding import HashingEmbedder

    index = tmp_path / "idx"
    ingest([corpus_dir], index, HashingEmbedder(dim=256), name="Hard Fork")
    with FakeLLMServer(default=Reply("Bloom filters check membership [1].")) as llm:
        env = env_for(index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            config = page_config(url)
            Client(url, verbose=False).predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
        system = llm.chat_requests()[0].body["messages"][0]["content"]
    assert "Ask Hard Fork" in config and "DataTalks" not in config
    assert system.startswith("You answer questions about Hard Fork using ONLY the numbered")
    # The operator's setting wins over the index's name; the page escapes it.
    with running_app(env_for(index, RAG_PODCAST_NAME="The *Real* Show"), tmp_path / "fb.jsonl") as url:
        config = page_config(url)
    assert json.dumps(f"## Ask {escape_markdown('The *Real* Show')}")[1:-1] in config and "Hard Fork" not in config


def test_missing_index_is_built_at_start_up_then_answers(tmp_path: Path, corpus_dir: Path) -> None:
    index = tmp_path / "idx"
    config = load_config(env=env_for(index, RAG_MODEL="hashing-256"))
    demo = build_app(config, feedback_path=tmp_path / "fb.jsonl", build_from=str(corpus_dir), build_name="Built Show")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        assert "Ask Built Show" in page_config(f"http://127.0.0.1:{port}/")  # named while it builds
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        deadline = time.monotonic() + 60
        while True:
            chat, _, sources, _ = client.predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
            reply = text_of(chat[-1])
            if not reply.startswith("⏳"):
                break
            assert "Building the search index" in reply
            assert time.monotonic() < deadline, "the start-up build never finished"
            time.sleep(0.5)
    finally:
        demo.close()
    assert DEEP_LINK.search(reply), reply
    assert json.loads((index / "manifest.json").read_text())["podcast"] == "Built Show"


def test_start_up_build_reports_progress_and_failure(tmp_path: Path, corpus_dir: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    from rag.app.live import IndexBuild

    config = load_config(env=env_for(tmp_path / "idx", RAG_MODEL="hashing-256"))
    statuses: list[str] = []
    build = IndexBuild(config, str(corpus_dir))
    original = build._progress
    build._progress = lambda text: (statuses.append(text), original(text))  # type: ignore[method-assign]
    assert build.message().startswith("⏳ Building the search index from ")
    build.start()
    assert build.wait(60) and build.error is None and build.answerer is not None
    assert build.message() == "" and build.status == "ready"
    assert any(s.startswith("embedding passages: 0 of ") for s in statuses) and "writing the index" in statuses

    broken = IndexBuild(load_config(env=env_for(tmp_path / "idx2", RAG_MODEL="hashing-256")), str(tmp_path / "nope")).start()
    assert broken.wait(60) and broken.answerer is None
    # Visitors learn that it is not ready; the details (here a path of the machine) go to the log.
    assert broken.message() == "⚠️ The search index is not ready: building it failed. The app's log says why."
    assert "no such file or folder" in (broken.error or "") and "no such file or folder" in caplog.text


def test_too_long_question_gets_the_limit_in_the_chat_and_no_llm_request(built_index: Path, tmp_path: Path) -> None:
    with FakeLLMServer(default=Reply("Bloom filters check membership [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            chat, box, _, _ = Client(url, verbose=False).predict(*chat_args("a" * 2_001), api_name="/ask")
        assert llm.chat_requests() == []
    assert text_of(chat[1]) == "⚠️ the question is 2,001 characters long; the limit is 2,000"  # no setting name
    assert text_of(chat[0]) == "a" * 2_000 + " …"  # echoed cut to the limit
    assert box == ""


def test_filters_outside_the_catalog_are_ignored_with_a_note(built_index: Path, tmp_path: Path) -> None:
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        chat, _, sources, _ = Client(url, verbose=False).predict(
            "What are bloom filters used for?", [], "no-such-episode", "Nobody " * 30, "99", api_name="/ask"
        )
    answer = text_of(chat[-1])
    assert answer.startswith(
        "*No episode “no\\-such\\-episode” in this index: searched all episodes.*\n\n"
        f"*No guest “{'Nobody ' * 11}Nob…” in this index: searched all guests.*\n\n"  # shortened to 80
        "*No season “99” in this index: searched all seasons.*\n\n"
    ), answer
    assert DEEP_LINK.search(answer) and "Bloom Filters" in answer  # answered over everything


def test_session_keeps_only_the_last_records(built_index: Path, tmp_path: Path) -> None:
    with FakeLLMServer(default=Reply("Bloom filters check membership [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model", RAG_MAX_SESSION_RECORDS="1")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            client = Client(url, verbose=False)
            chat, *_ = client.predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
            chat, *_ = client.predict(*chat_args("How should a data scientist write technical documentation?", chat), api_name="/ask")
            chat, *_ = client.predict(*chat_args("And where are they used?", chat), api_name="/ask")
        prompts = [json.dumps(r.body["messages"]) for r in llm.chat_requests()]
    rewrite = next(p for p in prompts if "And where are they used?" in p and "technical documentation" in p)
    assert "What are bloom filters used for?" not in rewrite  # the first turn is no longer kept


def test_the_build_page_never_shows_credentials_of_a_corpus_url(tmp_path: Path) -> None:
    from rag.app.live import IndexBuild

    build = IndexBuild(load_config(env=env_for(tmp_path / "idx")), "https://reader:ghp_secret@github.com/o/corpus.git")
    shown = build.message()
    assert "ghp_secret" not in shown and "reader" not in shown
    assert "github\\.com/o/corpus\\.git" in shown  # escaped for Markdown


def test_a_share_link_opens_with_no_index_at_all(built_index: Path, tmp_path: Path) -> None:
    """Opening a shared answer reads only the link: it shows even while the index is
    still being built (here: a build that failed), so it cannot have searched anything."""
    import gradio as gr
    from starlette.requests import Request

    from rag.app.chat import ChatApp
    from rag.app.feedback import FeedbackLog
    from rag.app.live import IndexBuild, LiveIndex
    from rag.app.share import SharedAnswer, ShareSigner, share_query
    from rag.pipeline import open_answerer

    config = load_config(env=env_for(built_index))
    answer = open_answerer(config).answer("What are bloom filters used for?")
    signer = ShareSigner(b"k" * 32)
    token = signer.sign(SharedAnswer.freeze("What are bloom filters used for?", answer))
    assert token is not None
    failed = IndexBuild(load_config(env=env_for(tmp_path / "none")), str(tmp_path / "nope")).start()
    assert failed.wait(30)
    no_index = LiveIndex(build=failed)
    assert no_index.answerer is None and no_index.state == "failed"
    chat_app = ChatApp(config, no_index, FeedbackLog(tmp_path / "fb.jsonl"), signer)
    query = share_query(token)[1:]
    request = gr.Request(request=Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                                          "query_string": query.encode()}))
    _, _, chat, records, sources, player = chat_app.on_load(request)
    assert text_of(chat[0]) == "What are bloom filters used for?"
    assert text_of(chat[1]).endswith(render_answer(answer) + f"\n\n[Share this answer]({share_query(token)})")
    assert records[0]["question"] == "What are bloom filters used for?" and records[0]["message"] == 1
    assert "youtube-nocookie.com/embed/" in player


def test_a_filter_value_not_in_the_index_is_ignored_with_the_closest_names() -> None:
    from rag.app.catalog import Catalog

    catalog = Catalog({"osmnx": "OSMnx"}, ("Geoff Boeing", "Ann Lee"), ())
    filters, notes = catalog.filters("", "Jeff Boeing", "", markdown=False)
    assert filters.guest is None
    assert notes == ["No guest “Jeff Boeing” in this index (closest: “Geoff Boeing”): searched all guests."]


def test_the_app_refuses_uploads_and_keeps_nothing(built_index: Path, tmp_path: Path) -> None:
    import tempfile
    import urllib.error

    boundary = "----podcastrag"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * 2048 + f"\r\n--{boundary}--\r\n".encode()
    cache = Path(tempfile.gettempdir()) / "gradio"
    before = {p for p in cache.rglob("big.bin")} if cache.exists() else set()
    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        request = urllib.request.Request(f"{url}gradio_api/upload", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    after = {p for p in cache.rglob("big.bin")} if cache.exists() else set()
    assert after == before


def test_llm_answers_past_a_visitors_budget_are_quotes_with_a_note(built_index: Path, tmp_path: Path) -> None:
    with FakeLLMServer(default=Reply("Bloom filters test set membership [1].")) as llm:
        env = env_for(built_index, OPENAI_BASE_URL=llm.base_url, RAG_LLM_MODEL="fake-model",
                      RAG_LLM_ANSWERS_PER_HOUR="2")
        with running_app(env, tmp_path / "fb.jsonl") as url:
            answers = []
            for _ in range(3):  # a fresh client each time: a new session, the same address
                chat, *_ = Client(url, verbose=False).predict(*chat_args("What are bloom filters used for?"),
                                                             api_name="/ask")
                answers.append(text_of(chat[-1]))
            tool = json.loads(Client(url, verbose=False).predict("What are bloom filters used for?", "", "",
                                                                 api_name="/ask_podcast"))
        requests = llm.chat_requests()
    assert len(requests) == 2  # the third answer and the tool's were not written by the LLM
    assert all(a.startswith("Bloom filters test set membership") for a in answers[:2])
    assert answers[2].startswith("*LLM-written answers are limited to 2 an hour for each visitor: "
                                 "these are quotes from the transcripts.*")
    assert "“" in answers[2]  # the quotes
    assert tool["mode"] == "extractive" and tool["notes"] == [
        "LLM-written answers are limited to 2 an hour for each visitor: these are quotes from the transcripts."]


def test_an_oversize_request_body_gets_a_short_413_before_it_is_read(built_index: Path, tmp_path: Path) -> None:
    import http.client
    from urllib.parse import urlsplit

    from rag.app.http import MAX_REQUEST_BYTES

    with running_app(env_for(built_index), tmp_path / "fb.jsonl") as url:
        where = urlsplit(url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        conn.putrequest("POST", "/gradio_api/queue/join")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(60 * 1024 * 1024))  # a 60 MB chat history, announced
        conn.endheaders()  # ... and not one byte of it sent: the answer comes first
        response = conn.getresponse()
        assert (response.status, response.read()) == (413, b"request body over 2 MB")
        conn.close()
        # Sent without announcing its size, it is cut off as it arrives.
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
        body = b'{"data": ["' + b"x" * (MAX_REQUEST_BYTES + 10) + b'"]}'
        conn.putrequest("POST", "/gradio_api/queue/join")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        try:
            for start in range(0, len(body), 65536):
                piece = body[start : start + 65536]
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while still sending
        assert conn.getresponse().status == 413
        conn.close()
        # A normal question still goes through.
        chat, *_ = Client(url, verbose=False).predict(*chat_args("What are bloom filters used for?"), api_name="/ask")
    assert "Bloom" in text_of(chat[-1])
