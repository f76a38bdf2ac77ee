"""Share links: a finished answer, frozen into a signed token that the link carries.

    signer = ShareSigner(b"k" * 32)
    token = signer.sign(SharedAnswer.freeze("What are bloom filters?", answer, episode=None))
    signer.open(token).question                # -> 'What are bloom filters?'
    signer.open(token[:-2] + "xx")             # -> ShareLinkError: the link was changed

Why a signed token and not a server-side store: a Space without persistent storage loses
its disk at every restart, and a store (SQLite beside the feedback log) would lose every
link with it. A token carries the frozen answer itself, so a link keeps working across
restarts as long as the key stays the same: set `RAG_SHARE_SECRET` (a Space secret) and
links live for good; without it the key is a generated file beside the index, which
lives as long as that disk does. Opening a link reads nothing but the token: no store,
no retrieval, no LLM call. The price is length: the token is the answer, compressed, so
`sign` caps it at `MAX_TOKEN_CHARS` (shortening a very long answer's text, and saying so).

A token is `s1.<payload>.<mac>`: the payload is the answer as compact JSON, zlib
compressed and base64url encoded; the mac is HMAC-SHA256 over the version and payload
with the server's key, compared with `hmac.compare_digest`. The mac is checked before
the payload is even decompressed, so a forged token costs one hash and never renders.
A valid token is still rendered through `rag.app.render` like a live answer (`to_answer`),
so whatever text it carries is escaped, and only http(s) moments become links.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import zlib
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from rag.answers.answerer import Answer
from rag.answers.citations import Citation
from rag.atomic import create_new_file
from rag.config import Config
from rag.errors import RagError
from rag.index.chunking import Passage
from rag.search.hits import Hit

log = logging.getLogger(__name__)

VERSION = "s1"
# Browsers take URLs of megabytes, but proxies and servers in between commonly stop at
# 8 KB for the whole request line (nginx's default buffer); 6,000 characters of token
# leave room for the host, the path and `?episode=`. Measured: 2,000 characters of prose
# with five citations encode to 1,600 (an LLM answer of 600 tokens, the default max_tokens,
# is ~2,500 characters); an extractive answer with three citations to 800.
MAX_TOKEN_CHARS = 6_000
# A token that passed its mac is still inflated with a cap: a bug can never make a
# small link expand into a huge page.
MAX_PAYLOAD_BYTES = 64_000
MAX_QUESTION_CHARS = 2_000  # the chat's own limit (rag/limits.py); a longer one is cut
MAX_MOMENTS = 10  # an answer cites at most k=5 sources, an extractive one up to 3
MAX_TITLE_CHARS = 300
MAX_SPEAKER_CHARS = 120
MAX_URL_CHARS = 1_000
MIN_SECRET_CHARS = 32  # RAG_SHARE_SECRET: at least 32 characters (a 256-bit random key in hex is 64)
KEY_FILE = "share-secret"  # beside the index directory (an ingest swaps the directory itself)
SHORTENED = " …"
_MAC_DOMAIN = b"podcast-rag share link\n"  # this key signs nothing else, but say what is signed
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")  # what each part of a token we made consists of

KeySource = Literal["environment", "file", "memory"]

# What a visitor reads when a link cannot be opened. Never an answer, never a detail of why
# the mac failed: changed by hand, cut off by a mail client, or signed with another key.
CHANGED = ("This share link cannot be opened: it was changed, or it was made by another copy of this app. "
           "Ask the question again below.")
BROKEN = "This share link cannot be opened: it is incomplete or damaged. Ask the question again below."


class ShareLinkError(RagError):
    """A share link that cannot be opened; the message is for the visitor who opened it."""


@dataclass(frozen=True)
class SharedMoment:
    """One cited moment, as frozen into a link: what a citation line needs to be shown."""

    n: int  # the [n] the answer's text uses; 0 for a refusal's closest moments
    episode: str
    title: str
    speaker: str
    second: int
    url: str
    verified: bool = True

    def passage(self) -> Passage:
        """A one-line passage at this moment, so that `rag.app.render` shows it like a live one."""
        speaker = self.speaker.replace("\n", " ")
        return Passage(f"{self.episode}#shared", self.episode, self.title, "", (speaker,), self.second,
                       self.second, f"{speaker}: ", self.url, 0, line_starts=(self.second,))


@dataclass(frozen=True)
class SharedAnswer:
    """A finished answer as a share link freezes it: question, text, citations, date, scope."""

    question: str
    text: str
    mode: str  # "llm" or "extractive"
    refused: bool
    asked: date  # the day it was asked (UTC)
    episode: str | None  # the episode scope it was asked in (`?episode=`), if any
    citations: tuple[SharedMoment, ...]
    closest: tuple[SharedMoment, ...] = ()  # a refusal's closest moments
    shortened: bool = False  # the text was cut to fit the link

    @classmethod
    def freeze(cls, question: str, answer: Answer, *, episode: str | None = None,
               asked: date | None = None) -> SharedAnswer:
        """The parts of `answer` a share link keeps (each field capped; see the limits above)."""
        citations = tuple(
            _moment(c.n, c.passage.episode_id, c.passage.episode_title, c.speaker, c.start_s, c.url, c.verified)
            for c in answer.citations[:MAX_MOMENTS]
        )
        closest = tuple(
            _moment(0, h.passage.episode_id, h.passage.episode_title, h.speaker, h.link_sec, h.url, True)
            for h in (answer.sources if answer.refused else ())[:MAX_MOMENTS]
        )
        return cls(question[:MAX_QUESTION_CHARS], answer.text, answer.mode, answer.refused,
                   asked or datetime.now(timezone.utc).date(), episode or None, citations, closest)

    def to_answer(self) -> Answer:
        """The `Answer` `rag.app.render.render_answer` shows: the same escaping as a live answer."""
        citations = tuple(Citation(m.n, m.passage(), m.verified) for m in self.citations)
        closest = tuple(Hit(m.passage(), 0.0, "shared", link_s=m.second) for m in self.closest)
        return Answer(self.text, citations, self.refused, self.mode, (), self.question, closest)

    def to_json(self) -> dict[str, Any]:
        return {
            "q": self.question, "a": self.text, "m": self.mode, "r": self.refused, "d": self.asked.isoformat(),
            "e": self.episode, "x": self.shortened,
            "c": [_moment_json(m) for m in self.citations], "s": [_moment_json(m) for m in self.closest],
        }

    @classmethod
    def from_json(cls, data: Any) -> SharedAnswer:
        """Checks every field's type: a token from another version never half renders."""
        try:
            fields = (data["q"], data["a"], data["m"], data["r"], data["d"], data["e"], data["x"])
            question, text, mode, refused, asked, episode, shortened = fields
            if not (isinstance(question, str) and isinstance(text, str) and mode in ("llm", "extractive")
                    and isinstance(refused, bool) and isinstance(shortened, bool)
                    and (episode is None or isinstance(episode, str))):
                raise TypeError("a field has the wrong type")
            return cls(question, text, mode, refused, date.fromisoformat(asked), episode,
                       tuple(_moment_from_json(m) for m in data["c"]),
                       tuple(_moment_from_json(m) for m in data["s"]), shortened)
        except (KeyError, TypeError, ValueError) as exc:
            raise ShareLinkError(BROKEN) from exc


def _moment(n: int, episode: str, title: str, speaker: str, second: int, url: str, verified: bool) -> SharedMoment:
    return SharedMoment(n, episode[:MAX_TITLE_CHARS], title[:MAX_TITLE_CHARS], speaker[:MAX_SPEAKER_CHARS],
                        int(second), url if len(url) <= MAX_URL_CHARS else "", verified)


def _moment_json(m: SharedMoment) -> list[Any]:
    return [m.n, m.episode, m.title, m.speaker, m.second, m.url, m.verified]


def _moment_from_json(item: Any) -> SharedMoment:
    n, episode, title, speaker, second, url, verified = item
    if not (type(n) is int and type(second) is int and second >= 0 and isinstance(verified, bool)
            and all(isinstance(v, str) for v in (episode, title, speaker, url))):
        raise TypeError("a moment has the wrong type")
    return SharedMoment(n, episode, title, speaker, second, url, verified)


class ShareSigner:
    """Signs `SharedAnswer`s into link tokens and opens them again, with one server key.

    >>> signer = ShareSigner(b"k" * 32)
    >>> shared = SharedAnswer("Why?", "Because [1].", "llm", False, date(2026, 1, 2), None, ())
    >>> signer.open(signer.sign(shared)) == shared
    True
    >>> ShareSigner(b"x" * 32).open(signer.sign(shared))
    Traceback (most recent call last):
    ...
    rag.app.share.ShareLinkError: This share link cannot be opened: it was changed, or it was made by another copy of this app. Ask the question again below.
    """

    def __init__(self, key: bytes, source: KeySource = "memory", *, max_token_chars: int = MAX_TOKEN_CHARS) -> None:
        if len(key) < 16:
            raise ValueError("a share key needs at least 16 bytes")
        self._key = key
        self.source = source
        self.max_token_chars = max_token_chars

    def sign(self, shared: SharedAnswer) -> str | None:
        """The token for `shared`; a text too long for `max_token_chars` is cut (marked
        `shortened`, with " …"). None when even an empty text does not fit (never in practice)."""
        text = shared.text
        while True:
            token = self._token(shared)
            if len(token) <= self.max_token_chars:
                return token
            if not text:
                return None
            text = text[: len(text) * 3 // 4].rstrip()
            shared = replace(shared, text=text + SHORTENED if text else "", shortened=True)

    def open(self, token: str) -> SharedAnswer:
        """The answer `token` froze; `ShareLinkError` (a message for the visitor) when the
        token is too long, malformed, changed, or signed with another key."""
        if not isinstance(token, str) or len(token) > self.max_token_chars:
            raise ShareLinkError(BROKEN)
        version, _, rest = token.strip().partition(".")
        payload, _, mac = rest.partition(".")
        if version != VERSION or not _BASE64URL.fullmatch(payload) or not _BASE64URL.fullmatch(mac):
            raise ShareLinkError(BROKEN)  # also keeps compare_digest to the ASCII it accepts
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise ShareLinkError(CHANGED)
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(_unb64(payload), MAX_PAYLOAD_BYTES)
            if inflater.unconsumed_tail or not inflater.eof:
                raise ValueError("payload too large or truncated")
            if json_depth(data) > MAX_PAYLOAD_DEPTH:  # json.loads recurses per level
                raise ValueError("payload nested too deep")
            return SharedAnswer.from_json(json.loads(data))
        except (ValueError, RecursionError, zlib.error, binascii.Error, UnicodeDecodeError) as exc:
            raise ShareLinkError(BROKEN) from exc

    def _token(self, shared: SharedAnswer) -> str:
        data = json.dumps(shared.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        payload = _b64(zlib.compress(data, 9))
        return f"{VERSION}.{payload}.{self._mac(payload)}"

    def _mac(self, payload: str) -> str:
        message = _MAC_DOMAIN + VERSION.encode() + b"." + payload.encode("ascii")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())


def share_query(token: str, episode: str | None = None) -> str:
    """The query string that opens a shared answer on this app's page, keeping its episode scope.

    >>> share_query("s1.abc.def", "building-data-team")
    '?episode=building-data-team&share=s1.abc.def'
    """
    return "?" + urlencode({**({"episode": episode} if episode else {}), "share": token})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_file(config: Config) -> Path:
    """Where the generated key lives: beside the index directory, which an ingest swaps whole."""
    return config.index_dir.parent / KEY_FILE


def load_signer(config: Config) -> ShareSigner:
    """The app's signer: `RAG_SHARE_SECRET` when set (links survive restarts and rebuilds
    anywhere), else a random key generated once into `key_file(config)` (0600, created
    atomically; links live as long as that file), else, when that folder cannot be
    written, a key in memory (links die with the process; logged)."""
    if config.share_secret:
        if len(config.share_secret) < MIN_SECRET_CHARS:
            raise RagError(f"RAG_SHARE_SECRET is {len(config.share_secret)} characters long; "
                           f"use at least {MIN_SECRET_CHARS} random ones (e.g. `openssl rand -hex 32`)")
        return ShareSigner(config.share_secret.encode("utf-8"), "environment")
    path = key_file(config)
    try:
        create_new_file(path, secrets.token_hex(32).encode("ascii"))
        key = path.read_bytes().strip()
        if len(key) < MIN_SECRET_CHARS:
            raise RagError(f"{path}: share key too short ({len(key)} bytes); delete it to make a new one")
        return ShareSigner(key, "file")
    except OSError as exc:
        log.warning("cannot keep a share key in %s (%s): share links will stop working when the app restarts",
                    path, exc.strerror or exc)
        return ShareSigner(secrets.token_bytes(32), "memory")


MAX_PAYLOAD_DEPTH = 8  # an answer is an object of lists of objects; a signed token is still checked


def json_depth(data: bytes) -> int:
    """The deepest nesting of `[`/`{` in JSON text, strings skipped; one pass, no recursion.

    >>> json_depth(b'{"a": [1, {"b": "[[["}]}'), json_depth(b"[" * 20000)
    (3, 20000)
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
