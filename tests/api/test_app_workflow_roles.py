"""Who may move a ticket, over HTTP: the status × target × role matrix and the separation of
duties (ARCHITECTURE.md §12: the field reports, verifies and rectifies; the office cancels, reopens,
rechecks and closes; whoever rectifies does not recheck or close)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.app_harness import ApiHarness, bearer
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)

FIELD = {"admin", "reviewer", "grid_lane"}
OFFICE = {"admin", "reviewer"}
# Written out independently of api.workflow.TRANSITIONS: target -> roles (token names).
WORKFLOW = {
    "discovered": {"reported": FIELD, "rejected": OFFICE},
    "reported": {"verified": FIELD, "rejected": OFFICE},
    "verified": {"rectifying": FIELD},
    "rectifying": {"rechecked": OFFICE},
    "rechecked": {"closed": OFFICE, "reopened": OFFICE},
    "closed": {"reopened": OFFICE},
    "rejected": {"reopened": OFFICE},
    "reopened": {"verified": FIELD, "rectifying": FIELD, "rejected": OFFICE},
}
PATHS = {
    "discovered": [],
    "reported": ["reported"],
    "verified": ["reported", "verified"],
    "rectifying": ["reported", "verified", "rectifying"],
    "rechecked": ["reported", "verified", "rectifying", "rechecked"],
    "closed": ["reported", "verified", "rectifying", "rechecked", "closed"],
    "rejected": ["rejected"],
    "reopened": ["rejected", "reopened"],
}
ROLE_NAMES = {"admin": "admin", "reviewer": "reviewer", "grid_lane": "grid_worker"}
CALLERS = ["admin", "reviewer", "grid_lane", "grid_facade", "public"]


def expected_status(current: str, target: str, caller: str) -> int:
    if caller == "public":
        return 403  # the public changes nothing
    if caller == "grid_facade":
        return 404  # a lane ticket does not exist for the facade's grid worker
    if target not in WORKFLOW[current]:
        return 409
    return 200 if caller in WORKFLOW[current][target] else 403


def allowed_for(current: str, caller: str) -> list[str]:
    return [target for target, roles in WORKFLOW[current].items() if caller in roles]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path_factory.mktemp("roles"), media_cache)
    yield made
    made.close()


_zones = itertools.count()


def ticket_in(harness: ApiHarness, status: str) -> str:
    """A new lane_a ticket (its own zone, so it never attaches to another) walked to ``status``
    by set-up actors that are none of the callers under test."""
    made = harness.add_ticket(
        "lane_a", f"zone-{next(_zones)}", HazardKind.FIRE_LANE_BLOCKED, evidence={}
    )
    if PATHS[status]:
        harness.walk_to(made.id, PATHS[status], actor="setup-field", checker="setup-office")
    return made.id


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("target", list(PATHS))
@pytest.mark.parametrize("current", list(PATHS))
def test_transition_matrix(harness: ApiHarness, current: str, target: str, caller: str) -> None:
    ticket_id = ticket_in(harness, current)
    url = f"/tickets/{ticket_id}"
    expected = expected_status(current, target, caller)
    shown = harness.client.get(url, headers=bearer(caller))
    if caller in ROLE_NAMES:  # what the review page draws its buttons from
        assert shown.json()["allowed_transitions"] == allowed_for(current, caller)
    response = harness.client.post(f"{url}/transition", json={"to": target}, headers=bearer(caller))
    assert response.status_code == expected, response.text
    after = harness.store.get_ticket(ticket_id)
    assert after is not None
    assert after.status == (target if expected == 200 else current)
    body = response.json()
    if expected == 409:
        assert body["allowed"] == allowed_for(current, caller)
    if expected == 403 and caller != "public":
        roles = ", ".join(sorted(ROLE_NAMES[c] for c in WORKFLOW[current][target]))
        assert f"the role {ROLE_NAMES[caller]} may not" in body["detail"]
        assert body["detail"].endswith(f"allowed roles: {roles}")


def test_a_grid_worker_cannot_run_the_workflow_alone(harness: ApiHarness) -> None:
    """Issue 8 §2.3: rejected → reopened → rectifying → rechecked → closed were all 200."""
    ticket_id = ticket_in(harness, "discovered")
    url = f"/tickets/{ticket_id}/transition"
    grid = bearer("grid_lane")
    refused = harness.client.post(url, json={"to": "rejected"}, headers=grid)
    assert refused.status_code == 403
    assert "grid_worker may not cancel it (注销)" in refused.json()["detail"]
    for step in ("reported", "verified", "rectifying"):
        assert harness.client.post(url, json={"to": step}, headers=grid).status_code == 200
    for step in ("rechecked", "closed"):
        response = harness.client.post(url, json={"to": step}, headers=grid)
        assert response.status_code in (403, 409), response.text
    ticket = harness.client.get(f"/tickets/{ticket_id}", headers=grid).json()
    assert ticket["status"] == "rectifying"
    assert ticket["allowed_transitions"] == []


def test_whoever_rectifies_may_not_recheck_or_close_over_http(harness: ApiHarness) -> None:
    ticket_id = ticket_in(harness, "verified")
    url = f"/tickets/{ticket_id}"
    reviewer, admin = bearer("reviewer"), bearer("admin")
    moved = harness.client.post(f"{url}/transition", json={"to": "rectifying"}, headers=reviewer)
    assert moved.status_code == 200
    assert moved.json()["allowed_transitions"] == []  # not its own recheck
    assert harness.client.get(url, headers=admin).json()["allowed_transitions"] == ["rechecked"]
    refused = harness.client.post(f"{url}/transition", json={"to": "rechecked"}, headers=reviewer)
    assert refused.status_code == 403
    assert "'reviewer' rectified this ticket" in refused.json()["detail"]
    rechecked = harness.client.post(f"{url}/transition", json={"to": "rechecked"}, headers=admin)
    assert rechecked.status_code == 200
    assert rechecked.json()["allowed_transitions"] == ["closed", "reopened"]
    shown = harness.client.get(url, headers=reviewer).json()
    assert shown["allowed_transitions"] == ["reopened"]
    closing = harness.client.post(f"{url}/transition", json={"to": "closed"}, headers=reviewer)
    assert closing.status_code == 403
    closed = harness.client.post(f"{url}/transition", json={"to": "closed"}, headers=admin)
    assert closed.status_code == 200, closed.text


def test_the_list_shows_each_caller_its_own_moves(harness: ApiHarness) -> None:
    ticket_id = ticket_in(harness, "reported")
    for caller, expected in (("grid_lane", ["verified"]), ("admin", ["verified", "rejected"])):
        listing = harness.client.get("/tickets", params={"limit": 1000}, headers=bearer(caller))
        [item] = [t for t in listing.json()["items"] if t["id"] == ticket_id]
        assert item["allowed_transitions"] == expected
