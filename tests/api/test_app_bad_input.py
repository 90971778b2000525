"""Bad API input gets a 4xx with a message, never a 500 (ARCHITECTURE.md §9).

The TestClient re-raises any exception that reaches the server, so a request that would have been
a 500 fails its test loudly instead of passing on a status code.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.app_harness import ApiHarness, MadeTicket, bearer
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


@pytest.fixture
def ticket(harness: ApiHarness) -> MadeTicket:
    return harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)


# (method, path, body, expected status, words in the detail); {id} is the ticket's id.
BAD_REQUESTS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/tickets/{id}/transition", {"to": 5}, 422, "body.to: Input should be a valid string"),
    ("POST", "/tickets/{id}/transition", {"to": None}, 422, "body.to"),
    ("POST", "/tickets/{id}/transition", {"to": ["reported"]}, 422, "body.to"),
    ("POST", "/tickets/{id}/transition", {"to": "reported", "note": 7}, 422, "body.note"),
    ("POST", "/tickets/{id}/transition", {"to": "reported", "x": 1}, 422, "unknown field 'x'"),
    ("POST", "/tickets/{id}/transition", {"To": "reported"}, 422, "body.to: Field required"),
    ("POST", "/tickets/{id}/transition", {}, 422, "body.to: Field required"),
    ("POST", "/tickets/{id}/transition", [], 422, "body"),
    ("POST", "/tickets/{id}/transition", "reported", 422, "body"),
    ("POST", "/tickets/{id}/transition", {"to": ""}, 422, "at least 1 character"),
    ("POST", "/tickets/{id}/transition", {"to": "x" * 40}, 422, "at most 32 characters"),
    ("POST", "/tickets/{id}/transition", {"to": "reported", "note": "n" * 2001}, 422, "2000"),
    ("POST", "/tickets/{id}/transition", {"to": "flying"}, 422, "not a ticket status"),
    ("POST", "/tickets/{id}/transition", {"to": "closed"}, 409, "cannot move to 'closed'"),
    ("POST", "/tickets/nope/transition", {"to": "reported"}, 404, "no ticket"),
    ("POST", "/tickets/../transition", {"to": "reported"}, 404, "no such endpoint"),
    ("POST", "/tickets/%2E%2E/transition", {"to": "reported"}, 422, "path.ticket_id"),
    ("GET", "/tickets/00000000-0000-0000-0000-000000000000", None, 404, "no ticket"),
    ("GET", "/tickets/a b", None, 422, "path.ticket_id"),
    ("GET", "/tickets/{id}/snapshot.jpg?after=perhaps", None, 422, "query.after"),
    ("GET", "/tickets?limit=0", None, 422, "query.limit"),
    ("GET", "/tickets?limit=1001", None, 422, "query.limit"),
    ("GET", "/tickets?limit=ten", None, 422, "query.limit"),
    ("GET", "/tickets?offset=-1", None, 422, "query.offset"),
    ("GET", "/tickets?offset=99999999999999999999", None, 422, "query.offset"),
    ("GET", "/tickets?status=open", None, 422, "query.status"),
    ("GET", "/tickets?kind=fire", None, 422, "query.kind"),
    ("GET", "/tickets?camera=../x", None, 422, "query.camera"),
    ("GET", "/tickets?since=yesterday", None, 422, "query.since"),
    ("GET", "/tickets?since=0.5", None, 422, "query.since: expected an ISO-8601 time"),
    ("GET", "/tickets?since=2026-13-45T99:00:00Z", None, 422, "query.since"),
    ("GET", "/tickets?staus=closed", None, 422, "unknown query parameter 'staus'"),
    ("GET", "/tickets?category=area", None, 422, "query.category"),
    ("GET", "/tickets?category=", None, 422, "query.category"),
    ("GET", "/tickets/nope/deliveries", None, 404, "no ticket"),
    ("GET", "/tickets/a b/deliveries", None, 422, "path.ticket_id"),
    ("GET", "/stats?cameras=all", None, 422, "unknown query parameter 'cameras'"),
    ("GET", "/cameras/nope/zones", None, 404, "no camera 'nope'"),
    ("GET", "/cameras/Lane_A/zones", None, 422, "path.camera_id"),
    ("PUT", "/cameras/nope/zones", {"zones": {}}, 404, "no camera 'nope'"),
    ("PUT", "/cameras/lane_a/zones", {"zones": [1, 2]}, 422, "body.zones"),
    ("PUT", "/cameras/lane_a/zones", {"zone": {}}, 422, "unknown field 'zone'"),
    ("PUT", "/cameras/lane_a/zones", {"zones": {}, "by": "me"}, 422, "unknown field 'by'"),
    ("DELETE", "/tickets/{id}", None, 405, "method DELETE not allowed here; allowed: GET"),
    ("DELETE", "/cameras/lane_a/zones", None, 405, "allowed: GET, HEAD, PUT"),
    ("GET", "/no/such/route", None, 404, "no such endpoint: GET /no/such/route"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    BAD_REQUESTS,
    ids=[f"{m} {p} {json.dumps(b)[:30]}" for m, p, b, _, _ in BAD_REQUESTS],
)
def test_bad_request_gets_4xx_with_a_message(
    harness: ApiHarness,
    ticket: MadeTicket,
    method: str,
    path: str,
    body: Any,
    status: int,
    words: str,
) -> None:
    kwargs: dict[str, Any] = {"headers": bearer("admin")}
    if body is not None:
        kwargs["json"] = body
    response = harness.client.request(method, path.replace("{id}", ticket.id), **kwargs)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert words in detail


@pytest.mark.parametrize(
    ("content", "content_type", "words"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "application/json", "body"),
        (b'{"to": "reported", "to": 5}', "application/json", "body.to"),
        (b"to=reported", "application/x-www-form-urlencoded", "body"),
        (b"", "application/json", "body"),
        (b'{"to": NaN}', "application/json", "body"),
    ],
    ids=["broken-json", "binary", "duplicate-key-last-wins", "form", "empty", "nan"],
)
def test_unparseable_bodies_get_422(
    harness: ApiHarness, ticket: MadeTicket, content: bytes, content_type: str, words: str
) -> None:
    response = harness.client.post(
        f"/tickets/{ticket.id}/transition",
        content=content,
        headers={**bearer("admin"), "Content-Type": content_type},
    )
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def test_huge_body_with_content_length_is_413_before_parsing(
    harness: ApiHarness, ticket: MadeTicket
) -> None:
    body = json.dumps({"to": "reported", "note": "x" * 100_000})
    response = harness.client.post(
        f"/tickets/{ticket.id}/transition",
        content=body,
        headers={**bearer("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "request body too large" in response.json()["detail"]
    assert "65536" in response.json()["detail"]
    assert harness.store.get_ticket(ticket.id).status == "discovered"  # type: ignore[union-attr]


def test_huge_chunked_body_is_413_while_streaming(harness: ApiHarness, ticket: MadeTicket) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"to": "reported", "note": "'
        for _ in range(200):  # 200 x 4 KiB: far past the limit
            sent.append(1)
            yield b"y" * 4096
        yield b'"}'

    response = harness.client.post(
        f"/tickets/{ticket.id}/transition",
        content=chunks(),
        headers={**bearer("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "request body too large" in response.json()["detail"]
    assert harness.store.get_ticket(ticket.id).status == "discovered"  # type: ignore[union-attr]


def test_body_just_under_the_limit_is_accepted(harness: ApiHarness, ticket: MadeTicket) -> None:
    response = harness.client.post(
        f"/tickets/{ticket.id}/transition",
        json={"to": "reported", "note": "z" * 1999},
        headers=bearer("admin"),
    )
    assert response.status_code == 200


def test_bad_content_length_is_400(harness: ApiHarness, ticket: MadeTicket) -> None:
    response = harness.client.post(
        f"/tickets/{ticket.id}/transition",
        content=b'{"to": "reported"}',
        headers={**bearer("admin"), "Content-Type": "application/json", "Content-Length": "-5"},
    )
    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


def test_unexpected_error_is_an_opaque_500(
    harness: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken database is a server fault: 500 with an id, details only in the log."""
    with sqlite3.connect(tmp_path / "tickets.sqlite3") as db:
        db.execute("DROP TABLE tickets")
    client = TestClient(harness.app, raise_server_exceptions=False)
    response = client.get("/tickets", headers=bearer("admin"))
    assert response.status_code == 500
    body = response.json()
    assert body["detail"].startswith("internal error (id ")
    assert "tickets" not in body["detail"].replace("internal error", "")
    assert "sqlite" not in response.text.lower()
    assert any(body["error_id"] in record.getMessage() for record in caplog.records)


# --- property: no JSON body makes the transition or zones routes fail ----------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=_json_values
    | st.fixed_dictionaries({"to": _json_values}, optional={"note": _json_values})
    | st.fixed_dictionaries({"zones": st.dictionaries(st.text(max_size=8), _json_values)})
)
def test_no_json_body_gives_a_500(harness: ApiHarness, ticket: MadeTicket, body: Any) -> None:
    for method, path in (
        ("POST", f"/tickets/{ticket.id}/transition"),
        ("PUT", "/cameras/lane_a/zones"),
    ):
        response = harness.client.request(method, path, json=body, headers=bearer("admin"))
        assert response.status_code < 500, (method, body, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["detail"], str)


def test_405_lists_every_allowed_method(harness: ApiHarness) -> None:
    response = harness.client.patch("/cameras/lane_a/zones", headers=bearer("admin"), json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PUT"


def test_openapi_schema_builds_cleanly(harness: ApiHarness) -> None:
    """The schema (used by clients and by schemathesis) builds without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = harness.client.get("/openapi.json").json()
    clip = schema["paths"]["/tickets/{ticket_id}/clip.mp4"]
    assert set(clip) == {"get", "head"}
    assert "video/mp4" in clip["get"]["responses"]["206"]["content"]
    to = schema["components"]["schemas"]["TransitionRequest"]["properties"]["to"]
    assert "closed" in to["enum"]
    assert harness.client.get("/docs").status_code == 404  # no CDN-backed pages
