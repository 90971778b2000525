"""Headers every response carries, and HEAD answered like GET without a body.

A pure ASGI middleware, outside the routes, so that it covers every answer the app gives:
JSON, media, pages, the 401/404/413/416/422 error answers and the redirects alike.

- ``X-Content-Type-Options: nosniff``: a browser must take a response for the type it is
  declared as. Evidence files and JSON texts come partly from outside (event fields, notes);
  without it a browser may sniff a JSON error or a JPEG into HTML and run it.
- ``HEAD``: RFC 9110 §9.3.2 — the same status and headers as GET, no body. The app registers a
  HEAD route beside every GET route (:func:`api.app.create_app`); this middleware drops the body
  those routes produce, keeping ``Content-Length`` as GET would send it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = (b"x-content-type-options", b"nosniff")


def with_nosniff(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``X-Content-Type-Options: nosniff`` (replacing any other value)."""
    kept = [(name, value) for name, value in headers if name.lower() != NOSNIFF[0]]
    return [*kept, NOSNIFF]


class ResponseHeadersMiddleware:
    """Add ``X-Content-Type-Options: nosniff`` to every HTTP response; strip HEAD bodies.

    Args:
        app: the ASGI app to wrap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_nosniff(list(message.get("headers", [])))}
            elif message["type"] == "http.response.body" and head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_headers)
