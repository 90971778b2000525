"""Role × endpoint matrix over every route of the app (issue 8, "Must show").

Every route the app serves (enumerated from ``app.routes``, included routers expanded) must have
a row here, and every row must be a route: a new route fails
:func:`test_every_route_is_in_the_matrix` until its row, with the expected status for each role,
is added. The roles are the columns: admin, reviewer, a grid worker of the resource's camera,
a grid worker of other cameras only, the public, no token, and a token nobody configured.

The resources: a closed ticket of camera ``lane_a`` (so the public may see it) with every kind of
evidence, and ``lane_a``'s live picture. Rows that change something (a transition, zones, a
login) get a fresh app per cell, so cells never depend on each other's order.

Transitions follow the workflow table of :mod:`api.workflow` (report, verify, rectify: field and
office; cancel, reopen, recheck, close: the office; public: nothing), one representative
transition per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.api.app_harness import TOKENS, ApiHarness, bearer, jpeg_bytes
from tests.api.closed_ticket import ClosedTicket, close_with_after_picture
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)

ROLES = ("admin", "reviewer", "grid_own", "grid_other", "public", "none", "wrong")
# The harness's tokens for the grid columns: lane_a is grid_lane's camera, not grid_facade's.
TOKEN_OF = {"grid_own": "grid_lane", "grid_other": "grid_facade"}
OWN_CAMERA = "lane_a"


@dataclass(frozen=True)
class Row:
    """One request to one route, and the status each role gets (in :data:`ROLES` order)."""

    method: str
    route: str  # the path template as the app declares it
    url: str  # the request: {id} is the ticket, {cam} the own camera
    expected: tuple[int, ...]
    action: str = ""  # set-up and body of a row that changes something (a fresh app per cell)

    @property
    def name(self) -> str:
        return f"{self.method} {self.url}" + (f" [{self.action}]" if self.action else "")


def _read(method: str, route: str, expected: tuple[int, ...], url: str | None = None) -> Row:
    return Row(method, route, url or route.replace("{ticket_id}", "{id}"), expected)


def _get_and_head(route: str, expected: tuple[int, ...], url: str | None = None) -> list[Row]:
    return [_read("GET", route, expected, url), _read("HEAD", route, expected, url)]


#                       admin rev  own  other pub  none wrong
OPEN_TO_ALL = (200, 200, 200, 200, 200, 200, 200)
ANY_TOKEN = (200, 200, 200, 200, 200, 401, 401)
STAFF_ONLY = (200, 200, 403, 403, 403, 401, 401)
ADMIN_ONLY = (200, 403, 403, 403, 403, 401, 401)
TICKET_OF_OWN_CAMERA = (200, 200, 200, 404, 200, 401, 401)  # closed: the public sees it
NOT_PUBLIC_ITEM = (200, 200, 200, 404, 404, 401, 401)
CAMERA_VIEW = (200, 200, 200, 404, 403, 401, 401)
CAMERA_LIST = (200, 200, 200, 200, 403, 401, 401)
PAGE = (200, 200, 200, 200, 200, 303, 303)  # no valid session or token: to the login form
ADMIN_PAGE = (200, 403, 403, 403, 403, 303, 303)  # like the admin's API it calls (/dispatch)
REDIRECT = (303,) * 7

TICKET = "/tickets/{ticket_id}"
ZONES = "/cameras/{camera_id}/zones"

ROWS: list[Row] = [
    *_get_and_head("/health", OPEN_TO_ALL),
    *_get_and_head("/openapi.json", OPEN_TO_ALL),
    *_get_and_head("/metrics", STAFF_ONLY),
    *_get_and_head("/stats", ANY_TOKEN),
    *_get_and_head("/stats/dashboard", ANY_TOKEN),  # scope: tests/api/test_stats_dashboard.py
    *_get_and_head("/tickets", ANY_TOKEN),
    *_get_and_head(TICKET, TICKET_OF_OWN_CAMERA),
    *_get_and_head(f"{TICKET}/clip.mp4", TICKET_OF_OWN_CAMERA),
    *_get_and_head(f"{TICKET}/snapshot.jpg", TICKET_OF_OWN_CAMERA),
    _read("GET", f"{TICKET}/snapshot.jpg", NOT_PUBLIC_ITEM, "/tickets/{id}/snapshot.jpg?after=1"),
    *_get_and_head("/cameras", CAMERA_LIST),
    *_get_and_head(ZONES, CAMERA_VIEW, "/cameras/{cam}/zones"),
    *_get_and_head("/cameras/{camera_id}/snapshot.jpg", CAMERA_VIEW, "/cameras/{cam}/snapshot.jpg"),
    *_get_and_head("/cameras/{camera_id}/live", CAMERA_VIEW, "/cameras/{cam}/live"),
    # Transitions, one representative per row (a fresh ticket in the right status per cell).
    Row("POST", f"{TICKET}/transition", "/tickets/{id}/transition",
        (200, 200, 200, 404, 403, 401, 401), "report"),  # discovered -> reported: the field
    Row("POST", f"{TICKET}/transition", "/tickets/{id}/transition",
        (200, 200, 403, 404, 403, 401, 401), "reject"),  # discovered -> rejected: the office
    Row("POST", f"{TICKET}/transition", "/tickets/{id}/transition",
        (200, 200, 403, 404, 403, 401, 401), "recheck"),  # rectifying -> rechecked: the office
    Row("POST", f"{TICKET}/transition", "/tickets/{id}/transition",
        (403, 403, 403, 404, 403, 401, 401), "close-own-rectification"),  # rectifier may not
    Row("PUT", ZONES, "/cameras/{cam}/zones", (200, 403, 403, 404, 403, 401, 401), "zones"),
    # Dispatch: the mapping is the admin's; reassigning a ticket is the office's.
    *_get_and_head("/dispatch", ADMIN_ONLY),
    Row("PUT", "/dispatch", "/dispatch", ADMIN_ONLY, "dispatch"),
    Row("POST", f"{TICKET}/assign", "/tickets/{id}/assign",
        (200, 200, 403, 403, 403, 401, 401), "assign"),
    # Annotations: the office only (the role is judged before the ticket and the body).
    *_get_and_head(f"{TICKET}/annotations", STAFF_ONLY),
    *_get_and_head(f"{TICKET}/frames/{{t_ms}}.jpg", STAFF_ONLY, "/tickets/{id}/frames/480.jpg"),
    Row("PUT", f"{TICKET}/annotations", "/tickets/{id}/annotations", STAFF_ONLY, "annotate"),
    # Notification deliveries: staff, the grid worker of the ticket's camera included.
    *_get_and_head(f"{TICKET}/deliveries", (200, 200, 200, 404, 403, 401, 401)),
    # Pages: a token in the header works like a session; without one, the login form.
    *_get_and_head("/", REDIRECT),
    *_get_and_head("/ui", REDIRECT),
    *_get_and_head("/ui/", REDIRECT),
    *_get_and_head("/ui/login", OPEN_TO_ALL),
    Row("POST", "/ui/login", "/ui/login", (303, 303, 303, 303, 303, 401, 401), "login"),
    Row("POST", "/ui/logout", "/ui/logout", REDIRECT, "logout"),
    *_get_and_head("/ui/review", PAGE),
    *_get_and_head("/ui/dashboard", PAGE),
    *_get_and_head("/ui/zones", PAGE),
    *_get_and_head("/ui/dispatch", ADMIN_PAGE),
]  # fmt: skip

CELLS = [
    pytest.param(row, role, row.expected[index], id=f"{row.name} {role}")
    for row in ROWS
    for index, role in enumerate(ROLES)
]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, included routers expanded."""
    served: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path, methods = context.path, context.methods
        if path is None or not methods:
            raise AssertionError(f"a route without a path or methods: {context!r}")
        served |= {(method, path) for method in methods}
    return served


def token_of(role: str) -> str | None:
    if role == "none":
        return None
    if role == "wrong":
        return "not-a-configured-token"
    return TOKENS[TOKEN_OF.get(role, role)][0]


def headers_of(role: str) -> dict[str, str]:
    token = token_of(role)
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def prepare(harness: ApiHarness) -> ClosedTicket:
    closed = close_with_after_picture(harness, OWN_CAMERA)
    live = harness.data_dir / "live" / f"{OWN_CAMERA}.jpg"
    live.parent.mkdir(exist_ok=True)
    live.write_bytes(jpeg_bytes(3))
    return closed


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, media_cache: Path
) -> Iterator[tuple[ApiHarness, ClosedTicket]]:
    """One app for the rows that change nothing."""
    harness = ApiHarness(tmp_path_factory.mktemp("matrix"), media_cache)
    try:
        yield harness, prepare(harness)
    finally:
        harness.close()


def test_every_route_is_in_the_matrix(shared: tuple[ApiHarness, ClosedTicket]) -> None:
    harness, _ = shared
    served = served_routes(harness.app)
    listed = {(row.method, row.route) for row in ROWS}
    assert len(served) > 30, f"the route enumeration found too little: {sorted(served)}"
    assert served - listed == set(), "routes without a row in the matrix (add them)"
    assert listed - served == set(), "rows of the matrix that are no route (remove them)"
    for path in harness.app.openapi()["paths"]:  # the schema's view agrees
        assert any(route == path for _, route in served), path


def _ticket_for(harness: ApiHarness, action: str) -> str:
    """A fresh ticket of the own camera in the status the row's transition starts from."""
    made = harness.add_ticket(OWN_CAMERA, "lane", HazardKind.FIRE_LANE_BLOCKED)
    if action in ("recheck", "close-own-rectification"):
        for status in ("reported", "verified", "rectifying"):
            harness.store.transition(made.id, status, actor="field-crew")
    if action == "close-own-rectification":
        # Each role's own token rectifies, the automatic recheck confirms; then it tries to close.
        harness.store.transition(made.id, "rechecked", actor="system")
    return made.id


_TRANSITION_TARGET = {
    "report": "reported",
    "reject": "rejected",
    "recheck": "rechecked",
    "close-own-rectification": "closed",
}


def _changing_request(harness: ApiHarness, row: Row, role: str) -> tuple[str, dict[str, Any]]:
    """Set up a fresh app for a row that changes something; the URL and request arguments."""
    kwargs: dict[str, Any] = {"headers": headers_of(role)}
    if row.action in _TRANSITION_TARGET:
        ticket_id = _ticket_for(harness, row.action)
        if row.action == "close-own-rectification":
            _rectify_as(harness, ticket_id, role)
        kwargs["json"] = {"to": _TRANSITION_TARGET[row.action], "note": "matrix"}
        return row.url.replace("{id}", ticket_id), kwargs
    if row.action == "annotate":
        ticket_id = _ticket_for(harness, row.action)
        box = {"class": "ebike", "xyxy": [0.1, 0.2, 0.4, 0.6]}
        kwargs["json"] = {"frames": [{"frame": {"source": "clip", "t_ms": 480}, "boxes": [box]}]}
        return row.url.replace("{id}", ticket_id), kwargs
    if row.action == "zones":
        zones = harness.client.get(f"/cameras/{OWN_CAMERA}/zones", headers=bearer("admin"))
        kwargs["json"] = {"zones": zones.json()["zones"]}
        return row.url.replace("{cam}", OWN_CAMERA), kwargs
    if row.action == "dispatch":
        kwargs["json"] = {"cameras": {OWN_CAMERA: {"unit": {"name": "Property office"}}}}
        return row.url, kwargs
    if row.action == "assign":
        ticket_id = _ticket_for(harness, row.action)
        kwargs["json"] = {"unit": {"name": "Security office"}, "reason": "matrix"}
        return row.url.replace("{id}", ticket_id), kwargs
    if row.action in ("login", "logout"):
        token = token_of(role)
        same_site = {"Origin": "http://testserver"}
        kwargs["headers"] = {**same_site, **(kwargs["headers"] if row.action == "logout" else {})}
        if row.action == "login":
            kwargs["data"] = {"token": token or "", "next": "/ui/review"}
        return row.url, kwargs
    raise AssertionError(f"no set-up for action {row.action!r}")


def _rectify_as(harness: ApiHarness, ticket_id: str, role: str) -> None:
    """Record the role's own token as the rectifier of the current round (reopen, rectify)."""
    name = TOKEN_OF.get(role, role)
    if name not in TOKENS:
        return  # no token, or a wrong one: nobody to record
    for status in ("reopened", "rectifying", "rechecked"):
        actor = name if status == "rectifying" else "system"
        harness.store.transition(ticket_id, status, actor=actor)


@pytest.mark.parametrize(("row", "role", "status"), CELLS)
def test_access_matrix(
    request: pytest.FixtureRequest, media_cache: Path, row: Row, role: str, status: int
) -> None:
    if not row.action:
        harness, closed = request.getfixturevalue("shared")
        url = row.url.replace("{id}", closed.id).replace("{cam}", OWN_CAMERA)
        kwargs: dict[str, Any] = {"headers": headers_of(role)}
        response = harness.client.request(row.method, url, follow_redirects=False, **kwargs)
        _check(response, row, role, status)
        return
    fresh = ApiHarness(request.getfixturevalue("tmp_path"), media_cache)
    try:
        url, kwargs = _changing_request(fresh, row, role)
        response = fresh.client.request(row.method, url, follow_redirects=False, **kwargs)
        _check(response, row, role, status)
    finally:
        fresh.close()


def _check(response: httpx.Response, row: Row, role: str, status: int) -> None:
    assert response.status_code == status, (row.name, role, response.text[:300])
    assert response.headers.get("x-content-type-options") == "nosniff"
    if row.method == "HEAD":
        assert response.content == b""
    elif status >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        assert isinstance(response.json()["detail"], str)
    if status == 401 and not row.route.startswith("/ui"):
        assert response.headers["www-authenticate"] == "Bearer"
