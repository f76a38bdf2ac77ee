"""What reaches the server before Gradio does: request bodies over the limit are
refused unread, and uploads are refused outright."""

from __future__ import annotations

from typing import Any

MAX_UPLOAD_BYTES = 0

# A request's body: a question, the filters and the chat the page holds (each answer a few KB;
# the chat is cut to the session's records). 60 MB of chat history cost 53 s of server time
# and its validation errors 18 MB of log; a body over this is refused before it is read.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


class RequestBodyLimit:
    """ASGI middleware: a request body over `max_bytes` (by its Content-Length, or as it
    arrives) gets a short 413 and is never handed to the app, parsed or logged."""

    def __init__(self, app: Any, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = refused = False

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b"")) if message.get("type") == "http.request" else 0
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started, refused
            if received > self.max_bytes and not started:
                # The app answered the cut-off body itself (a 400 for broken JSON): the
                # visitor gets the reason instead.
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if not started and not refused:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = f"request body over {self.max_bytes // (1024 * 1024)} MB".encode()
        await send({"type": "http.response.start", "status": 413,
                    # Closing stops the rest of the body from being received at all.
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


# Gradio's cache (anything a component ever wrote there) is emptied hourly of files over an hour old.
DELETE_CACHE = (3600, 3600)
