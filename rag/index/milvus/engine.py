"""Connecting to Milvus, a Lite file or a server, and every call under one deadline.

Each failure becomes one `RagError` whose message names the URI (without credentials):
`IndexUnavailableError` when the engine does not answer (nothing listening, no answer
before the deadline, the Lite file open in another process), `IndexCorruptError` when it
answers but the collection is not what the manifest says.

pymilvus takes a `timeout` on each call (its client-level timeout only bounds
connecting), so `Engine.call` passes `timeout_s` to every one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexUnavailableError, RagError
from rag.urls import public_url

TOKEN_ENV = "MILVUS_TOKEN"  # a server's token: read from the environment, never written down
TIMEOUT_ENV = "RAG_MILVUS_TIMEOUT"  # seconds for connecting and for each search or read
DEFAULT_TIMEOUT_S = 10.0
# Sealing, indexing and loading a large collection take minutes (Milvus Lite at 138k
# passages: over 10 s to load): writes and loads get their own, longer deadline.
WRITE_TIMEOUT_S = 900.0
INSTALL_HINT = "the Milvus backend needs pymilvus and milvus-lite: pip install 'podcast-rag[milvus]'"

# Milvus Lite runs inside this process: the first client on a path starts its server, which
# holds the file's lock until released. Count our users per path, to release with the last.
_lite_users: dict[str, int] = {}
_lite_lock = threading.Lock()


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_uri(uri: str) -> str:
    """`uri` as the engine takes it: a Lite file as an absolute path ending in .db, or an
    http(s) address without credentials in it (the token comes from MILVUS_TOKEN)."""
    uri = uri.strip()
    if is_remote(uri):
        if public_url(uri) != uri:
            raise RagError(f"{public_url(uri)}: put the Milvus token in {TOKEN_ENV}, not in the URI")
        return uri.rstrip("/")
    if "://" in uri:
        raise RagError(f"{public_url(uri)}: a Milvus URI is a Lite file (*.db) or http(s)://host:19530")
    path = Path(uri).expanduser().resolve()
    if path.suffix != ".db":
        raise RagError(f"{uri}: a Milvus Lite file must end in .db")
    return str(path)


class Engine:
    """One client on one URI; `call` runs a client method under the deadline."""

    def __init__(self, uri: str, *, timeout_s: float | None = None) -> None:
        self.uri = check_uri(uri)
        self.timeout_s = timeout_s if timeout_s is not None else deadline_from_env()
        self.lite_path = None if is_remote(self.uri) else self.uri
        self._closed = False
        pymilvus = _pymilvus()
        # pymilvus logs each failed call with a traceback on its own handler; the failure
        # reaches the user once, as our error.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        # Milvus Lite serves in this process: its gRPC server logs each call pymilvus probes and
        # Lite does not implement (AllocTimestamp at connect), though the client goes on.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        if self.lite_path is not None:
            Path(self.lite_path).parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            token = os.environ.get(TOKEN_ENV, "") if self.lite_path is None else ""
            self.client = pymilvus.MilvusClient(uri=self.uri, token=token, timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - pymilvus, gRPC and Lite each raise their own kinds
            raise self._unavailable(exc, time.monotonic() - started, probe_lock=True) from None
        if self.lite_path is not None:
            with _lite_lock:
                _lite_users[self.lite_path] = _lite_users.get(self.lite_path, 0) + 1

    @property
    def shown(self) -> str:
        return public_url(self.uri)

    def call(self, method: str, *args: Any, deadline_s: float | None = None, **kwargs: Any) -> Any:
        """`method` of the client under `deadline_s` (default: the engine's `timeout_s`)."""
        if self._closed:
            raise IndexUnavailableError(f"{self.shown}: the connection to Milvus is closed")
        started = time.monotonic()
        try:
            return getattr(self.client, method)(*args, timeout=deadline_s or self.timeout_s, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated into one line naming the URI
            raise self._translated(exc, time.monotonic() - started) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.client.close()
        finally:
            if self.lite_path is not None:
                _release_lite(self.lite_path)

    def _unavailable(self, exc: BaseException, seconds: float, probe_lock: bool = False) -> RagError:
        # Only before this process opened the file: once open, the lock is ours.
        if probe_lock and self.lite_path is not None and _lite_locked(self.lite_path):
            return IndexUnavailableError(
                f"{self.lite_path} is open in another process (Milvus Lite allows one); stop it, "
                f"or serve the index from a Milvus server")
        return IndexUnavailableError(
            f"{self.shown}: Milvus did not answer within {self.timeout_s:g} s ({seconds:.1f} s): {_message(exc)}"
            if seconds < self.timeout_s + 1 else f"{self.shown}: Milvus did not answer in {seconds:.0f} s: {_message(exc)}")

    def _translated(self, exc: BaseException, seconds: float) -> RagError:
        message = _message(exc)
        lowered = message.lower()
        if (type(exc).__name__ in ("MilvusUnavailableException", "RpcError") or "deadline" in lowered
                or "unavailable" in lowered or "retry timeout" in lowered or "connect" in lowered):
            return self._unavailable(exc, seconds)
        return IndexCorruptError(f"{self.shown}: Milvus refused the request: {message}")


def deadline_from_env(env: dict[str, str] | None = None) -> float:
    """RAG_MILVUS_TIMEOUT seconds (a positive number), else 10."""
    raw = (os.environ if env is None else env).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 600:
        raise RagError(f"{TIMEOUT_ENV}={raw[:20]!r}: seconds between 0 and 600")
    return seconds


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise RagError(INSTALL_HINT) from None
    return pymilvus


def _message(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if callable(code):  # a gRPC error
        details = getattr(exc, "details", None)
        return f"{getattr(code(), 'name', code())}: {details() if callable(details) else ''}".strip()
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:300]


def _lite_locked(path: str) -> bool:
    """Whether another process holds the Lite file's lock (its server's LOCK file)."""
    import fcntl

    lock = os.path.join(path, "LOCK")
    if not os.path.exists(lock):
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _release_lite(path: str) -> None:
    with _lite_lock:
        users = _lite_users.get(path, 0) - 1
        if users > 0:
            _lite_users[path] = users
            return
        _lite_users.pop(path, None)
    try:
        from milvus_lite import server_manager_instance

        server_manager_instance.release_server(path)
    except Exception:  # noqa: BLE001 - the process is done with the file either way
        pass
