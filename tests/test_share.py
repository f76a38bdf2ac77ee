"""Share links: signed tokens that freeze an answer (rag/app/share.py), over a real index."""

from __future__ import annotations

import json
import stat
import zlib
from datetime import date
from pathlib import Path

import pytest

from rag.answers.answerer import Answer, Answerer
from rag.answers.citations import Citation
from rag.app.render import render_answer
from rag.app.share import (
    BROKEN,
    CHANGED,
    MAX_PAYLOAD_BYTES,
    MAX_TOKEN_CHARS,
    SharedAnswer,
    SharedMoment,
    ShareLinkError,
    ShareSigner,
    _b64,
    key_file,
    load_signer,
    share_query,
)
from rag.config import Config, load_config
from rag.errors import RagError
from rag.index.chunking import Passage
from rag.index.files import load_index
from rag.search.hits import Hit
from rag.search.searcher import Searcher

KEY = b"k" * 32
BLOOM = "What are bloom filters used for?"


@pytest.fixture
def answerer(built_index: Path, embedder) -> Answerer:  # type: ignore[no-untyped-def]
    return Answerer(Searcher(load_index(built_index), embedder), refusal_min_cosine=0.15)


def test_a_shared_answer_renders_exactly_as_the_live_one(answerer: Answerer) -> None:
    live = answerer.answer(BLOOM)
    assert live.citations and not live.refused
    signer = ShareSigner(KEY)
    shared = signer.open(signer.sign(SharedAnswer.freeze(BLOOM, live, episode=None, asked=date(2026, 12, 4))))
    assert (shared.question, shared.asked, shared.episode, shared.mode) == (BLOOM, date(2026, 12, 4), None, "extractive")
    assert render_answer(shared.to_answer()) == render_answer(live)


def test_a_shared_refusal_keeps_its_closest_moments(answerer: Answerer) -> None:
    refusal = Answerer(answerer.searcher, refusal_min_cosine=0.99).answer(BLOOM)
    assert refusal.refused and refusal.sources
    signer = ShareSigner(KEY)
    shared = signer.open(signer.sign(SharedAnswer.freeze(BLOOM, refusal, episode="building-data-team")))
    assert shared.refused and len(shared.closest) == len(refusal.sources) and shared.episode == "building-data-team"
    assert render_answer(shared.to_answer()) == render_answer(refusal)


def _shared(text: str = "Bloom filters [1].", **changes) -> SharedAnswer:  # type: ignore[no-untyped-def]
    passage = Passage("e#0", "e", "Ep", "", ("Ann",), 61, 90, "Ann: Bloom filters.",
                      "https://www.youtube.com/watch?v=abcdefghijk&t=61s", 0)
    answer = Answer(text, (Citation(1, passage, True),), False, "llm")
    return SharedAnswer.freeze("Why?", answer, asked=date(2026, 12, 4), **changes)


def test_any_change_to_a_token_or_another_key_is_refused_with_a_message() -> None:
    signer = ShareSigner(KEY)
    token = signer.sign(_shared())
    assert token is not None and token.startswith("s1.")
    version, payload, mac = token.split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    for changed in (f"{version}.{flipped}.{mac}", f"{version}.{payload}.{mac[:-1]}x",
                    f"{version}.{payload}.{_b64(b'0' * 32)}"):
        with pytest.raises(ShareLinkError) as error:
            signer.open(changed)
        assert str(error.value) == CHANGED
    with pytest.raises(ShareLinkError, match="made by another copy of this app"):
        ShareSigner(b"another key, 32 bytes long......").open(token)
    for broken in ("", "s1", "s1..", f"s2.{payload}.{mac}", token[: len(token) // 2], "x" * (MAX_TOKEN_CHARS + 1),
                   f"s1.{payload}.{mac[:-1]}é", f"s1.{payload}=.{mac}", f"s1.{payload}.{mac}.x"):
        with pytest.raises(ShareLinkError) as error:
            signer.open(broken)
        assert str(error.value) in (BROKEN, CHANGED)


def test_a_signed_payload_is_inflated_with_a_cap_and_checked_field_by_field() -> None:
    signer = ShareSigner(KEY)

    def signed(data: bytes) -> str:
        payload = _b64(zlib.compress(data, 9))
        return f"s1.{payload}.{signer._mac(payload)}"

    bomb = json.dumps({"q": "x" * (MAX_PAYLOAD_BYTES * 4)}).encode()
    deep = b"[" * 20_000 + b"]" * 20_000  # json.loads would raise RecursionError
    for token in (signed(bomb), signed(b"not json"), signed(b'{"q": 1}'), signed(deep),
                  signed(json.dumps({**_shared().to_json(), "m": "evil"}).encode())):
        with pytest.raises(ShareLinkError, match="incomplete or damaged"):
            signer.open(token)


def test_a_long_answer_is_shortened_to_fit_the_link_and_says_so() -> None:
    words = " ".join(f"word{n}" for n in range(6_000))  # ~50,000 characters, little to compress
    signer = ShareSigner(KEY)
    token = signer.sign(_shared(words))
    assert token is not None and len(token) <= MAX_TOKEN_CHARS
    shared = signer.open(token)
    assert shared.shortened and shared.text.endswith(" …") and words.startswith(shared.text[:-2])
    assert signer.open(signer.sign(_shared())).shortened is False


def test_even_a_validly_signed_answer_renders_escaped_with_http_links_only() -> None:
    moment = SharedMoment(1, "e", "<script>alert(3)</script>", "Ann", 5, "javascript:alert(4)")
    evil = SharedAnswer("<b>q</b>", '<img src=x onerror="alert(1)"> [1] [see](javascript:alert(2))', "llm", False,
                        date(2026, 12, 4), None, (moment,))
    signer = ShareSigner(KEY)
    rendered = render_answer(signer.open(signer.sign(evil)).to_answer())
    assert "<img" not in rendered and "<script" not in rendered and "javascript:" not in rendered
    assert "&lt;script&gt;alert\\(3\\)&lt;/script&gt;" in rendered  # shown as text, not a link


def test_share_query_keeps_the_episode_scope() -> None:
    assert share_query("s1.a.b") == "?share=s1.a.b"
    assert share_query("s1.a.b", "ep 1&x") == "?episode=ep+1%26x&share=s1.a.b"


def test_the_generated_key_is_created_once_0600_beside_the_index(tmp_path: Path) -> None:
    config = Config(index_dir=tmp_path / "indexes" / "dtc")
    first = load_signer(config)
    path = key_file(config)
    assert path == tmp_path / "indexes" / "share-secret" and first.source == "file"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 64
    token = first.sign(_shared())
    assert token is not None
    again = load_signer(config)  # a restart with the same disk: old links still open
    assert again.open(token).question == "Why?"
    assert sorted(p.name for p in path.parent.iterdir()) == ["share-secret"]  # no temporary file left


def test_rag_share_secret_wins_and_a_short_one_is_refused_by_name(tmp_path: Path) -> None:
    secret = "s" * 40
    signer = load_signer(load_config(env={"RAG_INDEX": str(tmp_path / "idx"), "RAG_SHARE_SECRET": secret}))
    assert signer.source == "environment" and not key_file(Config(index_dir=tmp_path / "idx")).exists()
    token = signer.sign(_shared())
    assert token is not None and ShareSigner(secret.encode()).open(token).question == "Why?"
    with pytest.raises(RagError, match=r"^RAG_SHARE_SECRET is 5 characters long; use at least 32"):
        load_signer(load_config(env={"RAG_SHARE_SECRET": "short"}))
    assert secret not in repr(load_config(env={"RAG_SHARE_SECRET": secret}))


def test_an_unwritable_key_folder_falls_back_to_a_key_in_memory(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    signer = load_signer(Config(index_dir=blocker / "idx"))
    assert signer.source == "memory" and "stop working when the app restarts" in caplog.text
    token = signer.sign(_shared())
    assert token is not None and signer.open(token).question == "Why?"


def test_a_key_in_a_config_file_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "rag.yaml"
    config_file.write_text("share_secret: " + "s" * 40)
    with pytest.raises(RagError, match="unknown config key\\(s\\) share_secret"):
        load_config(config_file, env={})


def test_closest_moments_of_a_refusal_open_at_their_second() -> None:
    passage = Passage("e#0", "e", "Ep", "", ("Ann", "Bob"), 61, 90, "Ann: Hi.\nBob: Yes.",
                      "https://www.youtube.com/watch?v=abcdefghijk&t=61s", 0, line_starts=(61, 75))
    refusal = Answer("Not covered.", (), True, "llm", sources=(Hit(passage, 0.2, "hybrid", link_s=75),))
    moment = SharedAnswer.freeze("q", refusal).closest[0]
    assert (moment.speaker, moment.second, moment.url) == ("Bob", 75, "https://www.youtube.com/watch?v=abcdefghijk&t=75s")
