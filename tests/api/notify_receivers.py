"""Real receivers for the notification channel tests: an HTTP server on loopback that records
each request and answers from a script (fail twice, then succeed; always fail; a bot's errcode),
and an SMTP server (``aiosmtpd``) that keeps the messages it was sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.notifications import notification
from api.store import TicketView
from api.workflow import TicketStatus
from tests.support.servers import free_port


@dataclass(frozen=True)
class Request:
    """One request as the receiver got it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1: answers with ``statuses`` in turn (the last one repeats),
    the body ``answer`` (JSON) with a 2xx."""

    statuses: Sequence[int] = (200,)
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                receiver.requests.append(
                    Request(
                        parts.path,
                        parse_qs(parts.query),
                        {k: v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
                payload = json.dumps(receiver.answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


class MailBox:
    """An ``aiosmtpd`` server on loopback keeping every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                parsed = message_from_bytes(envelope.content, policy=policy.default)
                box.messages.append(parsed)  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()


def sample_view(**overrides: Any) -> TicketView:
    """A ticket as the store shows it (for rendering and channel tests without a database)."""
    from datetime import UTC, datetime

    at = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": "7f1c2a9e-0000-4000-8000-000000000001",
        "code": "block_a-FALL-R-0007",
        "kind": "falling_object",
        "status": TicketStatus.DISCOVERED.value,
        "level": "red",
        "camera_id": "facade",
        "zone": "south_wall",
        "area": "block_a",
        "created_at": at,
        "updated_at": at,
        "deadline_at": datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
        "hazard_ids": ["h1"],
        "evidence": {},
        "history": [{"at": at, "actor": "system", "action": "created", "note": None}],
        "details": {},
        "labels": [],
        "score": 0.9,
        "started_at": at,
        "ended_at": None,
        "escalations": 0,
    }
    values.update(overrides)
    return TicketView(**values)


def sample_note(note_type: str = "urgent_ticket", **overrides: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    at = datetime(2026, 12, 6, 2, 0, 1, tzinfo=UTC)
    return notification(note_type, sample_view(**overrides), at)
