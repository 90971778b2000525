"""What a hostile client found (issue 8 §2.2 and §2.8), each a regression test.

- ``Range: bytes=<4301 nines>-`` was a 500 on every media route for every role (Python refuses
  to convert more than 4300 digits); ``?since=9999-12-31T23:59:59-12:00`` was a 500 (the time
  overflows when converted to UTC). Both are 4xx with a message now.
- Requests without a token, or with a wrong one, got 422 before 401; now authentication comes
  first.
- ``HEAD /tickets`` was 405; every GET route answers HEAD like GET, without a body.
- Responses lacked ``X-Content-Type-Options: nosniff``.

The harness's TestClient re-raises any server exception, so a 500 fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.app_harness import ApiHarness, bearer, jpeg_bytes
from tests.api.closed_ticket import ClosedTicket, close_with_after_picture

pytestmark = pytest.mark.timeout(120)

HUGE = "9" * 4301


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


@pytest.fixture
def closed(harness: ApiHarness) -> ClosedTicket:
    ticket = close_with_after_picture(harness)
    live = harness.data_dir / "live" / "lane_a.jpg"
    live.parent.mkdir()
    live.write_bytes(jpeg_bytes(7))
    return ticket


def who(role: str) -> dict[str, str]:
    if role == "none":
        return {}
    if role == "wrong":
        return {"Authorization": "Bearer not-a-configured-token"}
    return bearer(role)


ROLES = ["admin", "reviewer", "grid_lane", "grid_facade", "public", "none", "wrong"]
# route -> expected status per role in ROLES order, for a range that cannot be served: 416 where
# the role may get the file at all; else what the role gets for the file (no file is read).
MEDIA_ROUTES: dict[str, list[int]] = {
    "/tickets/{id}/clip.mp4": [416, 416, 416, 404, 416, 401, 401],
    "/tickets/{id}/snapshot.jpg": [416, 416, 416, 404, 416, 401, 401],
    "/tickets/{id}/snapshot.jpg?after=1": [416, 416, 416, 404, 404, 401, 401],
    "/cameras/lane_a/snapshot.jpg": [416, 416, 416, 404, 403, 401, 401],
}
RANGES = [
    f"bytes={HUGE}-",
    f"bytes=0-{HUGE}",
    f"bytes=-{HUGE}",
    f"bytes={HUGE}-{HUGE}",
    f"bytes=0-1,{HUGE}-",
]
RANGE_CASES = [
    pytest.param(route, role, expected[index], id=f"{route} {role}")
    for route, expected in MEDIA_ROUTES.items()
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("route", "role", "status"), RANGE_CASES)
def test_a_huge_range_is_4xx_on_every_media_route_for_every_role(
    harness: ApiHarness, closed: ClosedTicket, route: str, role: str, status: int
) -> None:
    url = route.replace("{id}", closed.id)
    for method in ("GET", "HEAD"):
        for header in RANGES:
            response = harness.client.request(method, url, headers={**who(role), "Range": header})
            assert response.status_code == status, (method, header[:20], response.text[:200])
            if method == "GET":
                detail = response.json()["detail"]
                assert isinstance(detail, str) and detail
                if status == 416:
                    assert "digits (at most 20)" in detail
            if status == 416:
                assert response.headers["content-range"].startswith("bytes */")


@pytest.mark.parametrize(
    ("since", "words"),
    [
        ("9999-12-31T23:59:59-12:00", "out of range once converted to UTC"),
        ("9999-12-31T23:59:59-00:01", "out of range once converted to UTC"),
        ("0001-01-01T00:00:00+01:00", "out of range once converted to UTC"),
        ("0001-01-01T00:00:00+23:59", "out of range once converted to UTC"),
        ("9999-12-31T23:59:59.999999Z", None),
        ("9999-12-31T23:59:59+12:00", None),
        ("0001-01-01T00:00:00-12:00", None),
        ("0001-01-01T00:00:00", None),
    ],
    ids=[
        "max-west",
        "max-one-minute-west",
        "min-east",
        "min-far-east",
        "max-utc",
        "max-east",
        "min-west",
        "min-naive",
    ],
)
def test_since_at_the_ends_of_time(
    harness: ApiHarness, closed: ClosedTicket, since: str, words: str | None
) -> None:
    for role in ("admin", "grid_lane", "public"):
        response = harness.client.get("/tickets", params={"since": since}, headers=bearer(role))
        if words is None:
            assert response.status_code == 200, response.text
            continue
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["detail"].startswith("query.since: ")
        assert words in body["detail"]
        assert body["errors"][0]["loc"] == "query.since"


# --- authentication comes first ------------------------------------------------------------------

# (method, path, kwargs): requests that are wrong in some other way too.
MALFORMED: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/tickets?staus=closed", {}),
    ("GET", "/tickets?limit=ten", {}),
    ("GET", "/tickets?since=yesterday", {}),
    ("GET", "/tickets?since=9999-12-31T23:59:59-12:00", {}),
    ("HEAD", "/tickets?staus=closed", {}),
    ("GET", "/tickets/a%20b", {}),
    ("GET", "/tickets/{id}?x=1", {}),
    ("GET", "/tickets/{id}/clip.mp4?x=1", {}),
    ("GET", "/tickets/{id}/snapshot.jpg?after=perhaps", {}),
    ("POST", "/tickets/{id}/transition", {"json": {"too": "reported"}}),
    ("POST", "/tickets/{id}/transition?x=1", {"json": {"to": "reported"}}),
    ("POST", "/tickets/{id}/transition", {"content": b"{not json"}),
    ("GET", "/cameras?x=1", {}),
    ("GET", "/cameras/LANE/zones", {}),
    ("PUT", "/cameras/lane_a/zones", {"json": {"zone": {}}}),
    ("GET", "/cameras/lane_a/snapshot.jpg?x=1", {}),
    ("GET", "/stats?cameras=all", {}),
    ("GET", "/metrics?x=1", {}),
]


@pytest.mark.parametrize("role", ["none", "wrong"])
@pytest.mark.parametrize(
    ("method", "path", "kwargs"), MALFORMED, ids=[f"{m} {p}" for m, p, _ in MALFORMED]
)
def test_no_valid_token_is_401_before_any_422(
    harness: ApiHarness,
    closed: ClosedTicket,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    role: str,
) -> None:
    url = path.replace("{id}", closed.id)
    response = harness.client.request(method, url, headers=who(role), **kwargs)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    if method != "HEAD":
        detail = response.json()["detail"]
        assert "bearer" in detail.lower() or "token" in detail.lower()
        assert "unknown query parameter" not in detail


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), MALFORMED, ids=[f"{m} {p}" for m, p, _ in MALFORMED]
)
def test_with_a_valid_token_the_same_requests_are_4xx(
    harness: ApiHarness, closed: ClosedTicket, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    url = path.replace("{id}", closed.id)
    response = harness.client.request(method, url, headers=bearer("admin"), **kwargs)
    assert response.status_code == 422, response.text


def test_a_session_cookie_write_without_the_csrf_header_is_403_before_422(
    harness: ApiHarness, closed: ClosedTicket
) -> None:
    login = harness.client.get(f"/ui/review?token={bearer('admin')['Authorization'][7:]}")
    assert login.status_code in (200, 303), login.text
    assert harness.client.cookies, "the ?token= login set no session cookie"
    response = harness.client.post(f"/tickets/{closed.id}/transition?x=1", json={"too": "reported"})
    assert response.status_code == 403, response.text


def test_health_needs_no_token_and_says_what_is_wrong(harness: ApiHarness) -> None:
    response = harness.client.get("/health?x=1")
    assert response.status_code == 422
    assert "unknown query parameter 'x'" in response.json()["detail"]


# --- HEAD ----------------------------------------------------------------------------------------

HEAD_ROUTES = [
    ("/tickets", "admin"),
    ("/tickets?status=closed&limit=5", "public"),
    ("/tickets/{id}", "reviewer"),
    ("/tickets/{id}/clip.mp4", "grid_lane"),
    ("/tickets/{id}/snapshot.jpg", "public"),
    ("/tickets/{id}/snapshot.jpg?after=1", "admin"),
    ("/cameras", "grid_lane"),
    ("/cameras/lane_a/zones", "admin"),
    ("/cameras/lane_a/snapshot.jpg", "reviewer"),
    ("/stats", "grid_facade"),
    ("/metrics", "admin"),
    ("/health", "none"),
    ("/openapi.json", "none"),
]


@pytest.mark.parametrize(("path", "role"), HEAD_ROUTES, ids=[p for p, _ in HEAD_ROUTES])
def test_head_answers_like_get_without_a_body(
    harness: ApiHarness, closed: ClosedTicket, path: str, role: str
) -> None:
    url = path.replace("{id}", closed.id)
    got = harness.client.get(url, headers=who(role))
    head = harness.client.head(url, headers=who(role))
    assert got.status_code == 200, got.text
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if "content-length" in got.headers:
        assert head.headers["content-length"] == got.headers["content-length"]
    if path.startswith("/tickets") and "." not in path:  # JSON whose length is stable
        assert head.headers["content-length"] == str(len(got.content))


@pytest.mark.parametrize(
    ("path", "role", "status"),
    [
        ("/tickets", "none", 401),
        ("/tickets", "wrong", 401),
        ("/tickets/{id}", "grid_facade", 404),
        ("/metrics", "public", 403),
        ("/tickets?limit=0", "admin", 422),
    ],
    ids=["no-token", "wrong-token", "not-visible", "forbidden", "bad-query"],
)
def test_head_refuses_like_get(
    harness: ApiHarness, closed: ClosedTicket, path: str, role: str, status: int
) -> None:
    url = path.replace("{id}", closed.id)
    head = harness.client.head(url, headers=who(role))
    assert head.status_code == status
    assert head.content == b""
    assert harness.client.get(url, headers=who(role)).status_code == status


# --- nosniff -------------------------------------------------------------------------------------

NOSNIFF_REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/tickets", "admin", {}),
    ("GET", "/tickets/{id}", "public", {}),
    ("GET", "/tickets/{id}/clip.mp4", "reviewer", {}),
    ("GET", "/tickets/{id}/clip.mp4", "reviewer", {"headers": {"Range": "bytes=0-9"}}),
    ("GET", "/tickets/{id}/clip.mp4", "reviewer", {"headers": {"Range": f"bytes={HUGE}-"}}),
    ("GET", "/tickets/{id}/snapshot.jpg", "public", {}),
    ("GET", "/tickets/{id}/snapshot.jpg?after=1", "grid_lane", {}),
    ("HEAD", "/tickets/{id}/clip.mp4", "admin", {}),
    ("GET", "/cameras/lane_a/snapshot.jpg", "admin", {}),
    ("GET", "/cameras/lane_a/zones", "admin", {}),
    ("POST", "/tickets/{id}/transition", "admin", {"json": {"to": "reopened"}}),
    ("GET", "/stats", "public", {}),
    ("GET", "/metrics", "admin", {}),
    ("GET", "/health", "none", {}),
    ("GET", "/openapi.json", "none", {}),
    ("GET", "/tickets", "none", {}),
    ("GET", "/tickets?limit=0", "admin", {}),
    ("GET", "/tickets/nope", "admin", {}),
    ("DELETE", "/tickets", "admin", {}),
    ("GET", "/no/such/route", "none", {}),
    ("POST", "/tickets/{id}/transition", "admin", {"content": b"x" * 70_000}),
    ("GET", "/ui/login", "none", {}),
    ("GET", "/", "none", {"follow_redirects": False}),
]


@pytest.mark.parametrize(
    ("method", "path", "role", "kwargs"),
    NOSNIFF_REQUESTS,
    ids=[f"{m} {p} {r} {sorted(k)}" for m, p, r, k in NOSNIFF_REQUESTS],
)
def test_every_response_says_nosniff(
    harness: ApiHarness,
    closed: ClosedTicket,
    method: str,
    path: str,
    role: str,
    kwargs: dict[str, Any],
) -> None:
    url = path.replace("{id}", closed.id)
    extra = dict(kwargs)
    headers = {**who(role), **extra.pop("headers", {})}
    response = harness.client.request(method, url, headers=headers, **extra)
    assert response.headers.get("x-content-type-options") == "nosniff", (
        response.status_code,
        dict(response.headers),
    )
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


def test_even_an_internal_error_says_nosniff(harness: ApiHarness, tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "tickets.sqlite3") as db:
        db.execute("DROP TABLE tickets")
    client = TestClient(harness.app, raise_server_exceptions=False)
    response = client.get("/tickets", headers=bearer("admin"))
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
