"""Request body size limit, enforced before any parsing.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is answered 413 at once,
without reading the body; a body without a length (chunked) is counted as it streams, and the
request is answered 413 as soon as it passes the limit. Either way the endpoint never sees a
body larger than the limit, so JSON parsing and validation never work on a huge input.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised inside the wrapped ``receive`` when the streamed body passes the limit.

    An HTTP exception, so that a framework reading the body (FastAPI turns other errors while
    reading into a 400) lets it through and it is answered 413 with its message.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


class BodyLimitMiddleware:
    """Answer 413 to request bodies larger than ``max_body_bytes``.

    Args:
        app: the ASGI app to protect.
        max_body_bytes: the largest body accepted, in bytes.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reject(send, 400, "Content-Length must be a non-negative integer")
            return
        if declared is not None and declared > self.max_body_bytes:
            await _reject(send, 413, self._message(declared))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self._message(received, streamed=True))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:  # the app answered before reading it all; nothing more can be said
                return
            await _reject(send, 413, str(exc.detail))

    def _message(self, size: int, *, streamed: bool = False) -> str:
        what = f"at least {size} bytes" if streamed else f"{size} bytes"
        return f"request body too large: {what}; the limit is {self.max_body_bytes} bytes"


def _content_length(scope: Scope) -> int | None:
    """The declared length; ``None`` when absent, ``-1`` when unparseable."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


async def _reject(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
