"""One http(s) GET with one deadline for all of it: DNS, connect, TLS, headers and body.

urllib's `timeout` bounds each socket wait, not the request: a server that sends a
byte every few seconds, in its headers or its body, never trips it, and the DNS
lookup has no timeout at all. So the request runs in a worker thread, and when the
deadline passes the caller gets a `CorpusError` at once while every socket the
worker opened is shut down, which ends the worker's blocked read too.

    >>> fetch_url("ftp://example.com/feed.xml", max_bytes=10)
    Traceback (most recent call last):
    ...
    rag.errors.CorpusError: ftp://example.com/feed.xml: refused: only http(s) URLs are fetched
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar, Union

from rag.atomic import atomic_write
from rag.errors import CorpusError, RagError
from rag.limits import megabytes, read_capped
from rag.urls import public_url

T = TypeVar("T")

# Per request, from the DNS lookup to the last byte: a server that never answers ends here.
FETCH_DEADLINE_S = 20.0
_CHUNK = 64 * 1024
PRIVATE_HOSTS_HINT = "feeds on an internal network need `rag ingest --allow-private-hosts` (RAG_ALLOW_PRIVATE_HOSTS=1)"


def forbidden_address(address: str) -> str | None:
    """What kind of address `address` (an IP as the resolver gives it) is when a fetch
    must not reach it: the machine itself, its private networks, the cloud's metadata
    service (link-local 169.254.169.254), multicast and reserved ranges, however the
    URL wrote them (a decimal, octal or IPv4-mapped IPv6 host resolves to one of these).
    None for a public address.

    >>> [forbidden_address(a) for a in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::ffff:127.0.0.1", "93.184.215.14")]
    ['loopback', 'private', 'link-local', 'loopback', None]
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparsable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "not public"


class _ForbiddenHost(OSError):
    """A host that resolves to an address fetches must not reach (`forbidden_address`)."""


PrivateHosts = Union[bool, frozenset]  # True: any host; a set: these host names (lower case) only


def _resolve_allowed(host: str, port: int, allowed: frozenset = frozenset()) -> list[tuple]:
    """`getaddrinfo` of (host, port), refused as a whole when any address is forbidden
    (a name that resolves to a public and a private address is not half trusted), unless
    the operator named `host` in `allowed`."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if host.lower() in allowed:
        return found
    for *_, sockaddr in found:
        kind = forbidden_address(str(sockaddr[0]))
        if kind:
            raise _ForbiddenHost(f"{host} is a {kind} address ({sockaddr[0]}); {PRIVATE_HOSTS_HINT}")
    return found


def _connect_checked(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                     source_address: Any = None, allowed: frozenset = frozenset()) -> socket.socket:
    """`socket.create_connection`, to an address resolved once and checked: what is
    connected to is what was checked (no second lookup for a rebinding name to answer)."""
    host, port = address
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in _resolve_allowed(host, port, allowed):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"{host}: no address")


class _SocketWatch:
    """The sockets of one request; `expire` shuts them down (and any opened later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []  # duplicates: they outlive an SSL wrap of the original
        self._expired = False

    def add(self, sock: socket.socket) -> None:
        copy = sock.dup()
        with self._lock:
            if not self._expired:
                self._sockets.append(copy)
                return
        _shut(copy)

    def expire(self) -> None:
        with self._lock:
            self._expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def release(self) -> None:
        """Close the duplicates after a request that ended by itself."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer or the worker
    sock.close()


class _WatchedConnections:
    """A urllib handler's `do_open` that registers each new connection's socket and, unless
    `allow_private`, connects only to public addresses (every redirect hop opens its own)."""

    watch: _SocketWatch
    allow_private: PrivateHosts = False

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        watch = self.watch
        allow_private = self.allow_private

        def connection(host: str, **options: Any) -> http.client.HTTPConnection:
            conn = http_class(host, **options)
            # http.client's hook for opening the TCP socket; TLS then verifies the name.
            if allow_private is True:
                create = conn._create_connection
            else:
                allowed = allow_private or frozenset()
                create = lambda *args, **kw: _connect_checked(*args, **kw, allowed=allowed)  # noqa: E731

            def create_and_watch(*args: Any, **kw: Any) -> socket.socket:
                sock = create(*args, **kw)
                watch.add(sock)
                return sock

            conn._create_connection = create_and_watch
            return conn

        return super().do_open(connection, req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_WatchedConnections, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_WatchedConnections, urllib.request.HTTPSHandler):
    pass


def _opener(watch: _SocketWatch, allow_private: PrivateHosts = False) -> urllib.request.OpenerDirector:
    """urllib's opener without its file:, ftp: and data: handlers (a redirect can lead
    only to another http(s) URL), its connections watched by `watch` and kept to public
    addresses unless `allow_private`."""
    opener = urllib.request.OpenerDirector()
    http_handler, https_handler = _HTTPHandler(), _HTTPSHandler()
    http_handler.watch = https_handler.watch = watch
    http_handler.allow_private = https_handler.allow_private = allow_private
    for handler in (urllib.request.ProxyHandler(), http_handler, https_handler, urllib.request.HTTPRedirectHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


@dataclass(frozen=True)
class Fetched:
    """One response: its body (None: 304, the copy the request named is still current)
    and the validators a later request can send (`If-None-Match`, `If-Modified-Since`)."""

    body: bytes | None
    etag: str = ""
    last_modified: str = ""


def fetch_url(url: str, *, max_bytes: int, deadline_s: float = FETCH_DEADLINE_S,
              allow_private: PrivateHosts = False) -> bytes:
    """The body of an http(s) URL, read within `deadline_s` seconds in all.

    Raises `CorpusError` naming the URL without credentials on another scheme, a host
    (or a redirect's) that resolves to a non-public address unless `allow_private` (True:
    any host; a set of host names: those), an
    HTTP error, a body over `max_bytes` or the deadline passing.
    """
    body = fetch_response(url, max_bytes=max_bytes, deadline_s=deadline_s, allow_private=allow_private).body
    assert body is not None  # only a conditional request is answered 304
    return body


def fetch_response(url: str, *, max_bytes: int, deadline_s: float = FETCH_DEADLINE_S,
                   etag: str = "", last_modified: str = "", allow_private: PrivateHosts = False) -> Fetched:
    """`fetch_url`, conditional when `etag` or `last_modified` (of a copy kept before) is
    given: a 304 answer has no body, and the copy is current."""
    shown = public_url(url)
    if not url.lower().startswith(("https://", "http://")):
        raise CorpusError(f"{shown}: refused: only http(s) URLs are fetched")
    watch = _SocketWatch()
    outcome: list[Fetched | CorpusError] = []
    headers = {name: value for name, value in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if value}

    def run() -> None:
        try:
            outcome.append(_download(urllib.request.Request(url, headers=headers), shown, max_bytes, deadline_s,
                                     _opener(watch, allow_private)))
        except CorpusError as exc:
            outcome.append(exc)
        except Exception as exc:  # noqa: BLE001 - the caller gets one CorpusError, whatever broke
            outcome.append(CorpusError(f"{shown}: cannot fetch: {type(exc).__name__}"))

    worker = threading.Thread(target=run, name=f"fetch {shown}", daemon=True)
    worker.start()
    worker.join(deadline_s)
    if not outcome:
        watch.expire()  # the worker's read fails now; a DNS lookup ends on its own
        raise CorpusError(f"{shown}: no answer within {deadline_s:g} s")
    watch.release()
    if isinstance(outcome[0], CorpusError):
        raise outcome[0]
    return outcome[0]


def _download(request: urllib.request.Request, shown: str, max_bytes: int, deadline_s: float,
              opener: urllib.request.OpenerDirector) -> Fetched:
    try:
        # The socket timeout only bounds a worker nobody waits for; `fetch_url` keeps the deadline.
        with opener.open(request, timeout=deadline_s) as response:
            if not response.geturl().lower().startswith(("https://", "http://")):
                raise CorpusError(f"{shown}: refused: redirected away from http(s)")
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise CorpusError(f"{shown}: larger than {megabytes(max_bytes)}")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), _header(response, "ETag"), _header(response, "Last-Modified"))
    except (socket.timeout, TimeoutError):
        raise CorpusError(f"{shown}: no answer within {deadline_s:g} s") from None
    except urllib.error.HTTPError as exc:
        if exc.code == 304 and request.headers:
            return Fetched(None, _header(exc, "ETag"), _header(exc, "Last-Modified"))
        raise CorpusError(f"{shown}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, _ForbiddenHost):
            raise CorpusError(f"{shown}: refused: {exc.reason}") from None
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise CorpusError(f"{shown}: no answer within {deadline_s:g} s") from None
        raise CorpusError(f"{shown}: cannot fetch: {exc.reason}") from None
    except (ValueError, http.client.InvalidURL):  # their messages quote the URL, password and all
        raise CorpusError(f"{shown}: cannot fetch: invalid URL") from None
    except http.client.HTTPException as exc:
        raise CorpusError(f"{shown}: cannot fetch: {type(exc).__name__}") from None
    except _ForbiddenHost as exc:
        raise CorpusError(f"{shown}: refused: {exc}") from None
    except OSError as exc:
        raise CorpusError(f"{shown}: cannot fetch: {exc.strerror or type(exc).__name__}") from None


def _header(response: Any, name: str) -> str:
    return _validator(response.headers.get(name))


def _validator(value: object) -> str:
    """An ETag or Last-Modified to send back later: one line, bounded, else "" (it comes
    from a server, or from a file a person could edit)."""
    text = str(value or "").strip()
    return text if len(text) <= 200 and text.isprintable() else ""


class LastGoodCopies:
    """The last good body fetched from each URL, kept in `folder`, served when the URL fails.

    An index is rebuilt from what its sources give now: a feed re-ingested every day
    would drop yesterday's episodes whenever its host, or one transcript's, is down,
    slow, or answers with something unreadable. With these copies that costs a note, not
    the episodes. A body becomes the copy only once it was read without error. Files are
    named by a hash of the URL (its credentials and query never reach a file name) and
    written atomically.
    """

    def __init__(self, folder: str | Path, *, allow_private: PrivateHosts = False) -> None:
        self.folder = Path(folder)
        self.allow_private = allow_private  # see `fetch_response`

    def read(self, url: str, read: Callable[[bytes], T], *, max_bytes: int,
             deadline_s: float = FETCH_DEADLINE_S) -> tuple[T, str]:
        """(`read(body)`, note) for the body fetched now, which then becomes the copy, and
        no note; or, when the fetch or `read` fails (`RagError`) and a copy is kept,
        `read(copy)` and a note naming the failure and the copy's date. Without a copy the
        failure is raised. A kept copy makes the request conditional: a 304 reads the
        copy, with no note and no body sent again."""
        kept = self._kept(url, max_bytes)
        validators = self._validators(url) if kept is not None else {}
        try:
            fetched = fetch_response(url, max_bytes=max_bytes, deadline_s=deadline_s,
                                     allow_private=self.allow_private, **validators)
            if fetched.body is None and kept is not None:
                with contextlib.suppress(OSError):  # the date only feeds a later note
                    os.utime(self._path(url))  # found current today
                return read(kept[0]), ""
            assert fetched.body is not None
            result = read(fetched.body)
        except RagError as failure:
            if kept is None:
                raise
            copy, fetched_on = kept
            return read(copy), f"{failure}; used the copy fetched on {fetched_on}"
        try:
            with atomic_write(self._path(url)) as tmp:
                tmp.write_bytes(fetched.body)
            with atomic_write(self._path(url).with_suffix(".json")) as tmp:
                tmp.write_text(json.dumps({"etag": fetched.etag, "last_modified": fetched.last_modified}))
        except OSError:
            pass  # no copy kept (a full or read-only disk): this fetch still counts
        return result, ""

    def _path(self, url: str) -> Path:
        return self.folder / f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:32]}.body"

    def _validators(self, url: str) -> dict[str, str]:
        """The ETag and Last-Modified the copy came with ({} when unknown or unreadable)."""
        try:
            data = json.loads(self._path(url).with_suffix(".json").read_text(encoding="utf-8"))
            return {"etag": _validator(data.get("etag")), "last_modified": _validator(data.get("last_modified"))}
        except (OSError, ValueError, AttributeError):
            return {}

    def _kept(self, url: str, max_bytes: int) -> tuple[bytes, str] | None:
        """(the copy, the day it was fetched or last found current), or None."""
        path = self._path(url)
        try:
            copy = read_capped(path, max_bytes)
            fetched_on = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).date().isoformat()
        except OSError:
            return None
        return None if copy is None else (copy, fetched_on)


def fetch_and_read(url: str, read: Callable[[bytes], T], *, max_bytes: int, deadline_s: float = FETCH_DEADLINE_S,
                   copies: LastGoodCopies | None = None, allow_private: PrivateHosts = False) -> tuple[T, str]:
    """`read` of the body of `url`, through `copies` when given (`LastGoodCopies.read`,
    which has its own `allow_private`)."""
    if copies is None:
        return read(fetch_url(url, max_bytes=max_bytes, deadline_s=deadline_s, allow_private=allow_private)), ""
    return copies.read(url, read, max_bytes=max_bytes, deadline_s=deadline_s)
