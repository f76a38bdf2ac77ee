"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests.

It answers `/v1/chat/completions` from a script of responses (plain JSON or SSE
streaming, failures, stalls) and records every request it received.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stall_s: float = 0.0  # sleep before answering (or mid-stream when streaming)
    malformed_sse: bool = False
    chunk_words: int = 3  # words per streamed delta
    keepalive_only: bool = False  # stream SSE comments (": ping") forever, never a token
    endless: bool = False  # stream `text` as a delta over and over, never [DONE]
    ping_s: float = 0.1  # between two keep-alive comments
    echo: bool = False  # reply with the request's own messages, as a base model that echoes its prompt


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeLLMServer:
    def __init__(self, replies: list[Reply] | None = None, default: Reply | None = None) -> None:
        self.replies = list(replies or [])
        self.default = default or Reply("I have no scripted answer.")
        self.received: list[Received] = []
        self.streams_ended = threading.Semaphore(0)  # released when a streamed reply ends or its client left
        self._stop = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    reply = server.replies.pop(0) if server.replies else server.default
                if reply.echo:
                    reply = replace(reply, text="\n".join(str(m.get("content", "")) for m in body.get("messages", [])))
                if not self.path.endswith("/chat/completions"):
                    return self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                if reply.status != 200:
                    time.sleep(reply.stall_s)
                    message = reply.text or f"scripted {reply.status}"
                    return self._send_json(reply.status, {"error": {"message": message}}, reply.headers)
                if body.get("stream"):
                    return self._stream(reply, body)
                time.sleep(reply.stall_s)
                self._send_json(200, completion(reply.text, body.get("model", "")))

            def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: Reply, body: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                words = reply.text.split(" ")
                pieces = [" ".join(words[i : i + reply.chunk_words]) for i in range(0, len(words), reply.chunk_words)]
                try:
                    while reply.keepalive_only and not server._stop.is_set():
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()
                        time.sleep(reply.ping_s)
                    while reply.endless and not server._stop.is_set():
                        self.wfile.write(f"data: {json.dumps(chunk(reply.text, body.get('model', '')))}\n\n".encode())
                        self.wfile.flush()
                    for index, piece in enumerate(pieces):
                        delta = piece if index == 0 else " " + piece
                        if reply.malformed_sse and index == 1:
                            self.wfile.write(b"data: {not json at all\n\n")
                            self.wfile.flush()
                        self.wfile.write(f"data: {json.dumps(chunk(delta, body.get('model', '')))}\n\n".encode())
                        self.wfile.flush()
                        if reply.stall_s and index == 0:
                            time.sleep(reply.stall_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                server.streams_ended.release()
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def chat_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/chat/completions")]


@contextmanager
def stalled_listener() -> Iterator[str]:
    """The base URL of a port whose connects stall: it listens but never accepts,
    and its one-place backlog is already taken, so the kernel drops new SYNs."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"


def completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def chunk(delta: str, model: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}],
    }
