"""Tickets over HTTP against the real SQLite store: roles, listing, transitions, media choice."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.after_picture import AfterPictureKeeper
from pipelines.evidence_layout import live_after_name
from tests.api.app_harness import (
    CLOSING_PATH,
    SECRET_IN_SOURCES,
    ApiHarness,
    MadeTicket,
    bearer,
    jpeg_bytes,
)
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)


class Site:
    """Four open tickets on three cameras, and one closed ticket on lane_a."""

    def __init__(self, harness: ApiHarness) -> None:
        self.h = harness
        self.closed = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, seed=1)
        harness.walk_to(self.closed.id, CLOSING_PATH)
        self.lane_a = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, seed=2)
        self.passage = harness.add_ticket("lane_b", "passage", HazardKind.FIRE_LANE_BLOCKED, seed=3)
        self.door = harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY, seed=4)
        self.facade = harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT, seed=5)

    @property
    def all(self) -> list[MadeTicket]:
        return [self.closed, self.lane_a, self.passage, self.door, self.facade]


@pytest.fixture
def site(tmp_path: Path, media_cache: Path) -> Iterator[Site]:
    harness = ApiHarness(tmp_path, media_cache)
    yield Site(harness)
    harness.close()


def _ids(response_json: dict) -> set[str]:
    return {item["id"] for item in response_json["items"]}


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("admin", {"closed", "lane_a", "passage", "door", "facade"}),
        ("reviewer", {"closed", "lane_a", "passage", "door", "facade"}),
        ("grid_lane", {"closed", "lane_a", "passage", "door"}),
        ("grid_facade", {"facade"}),
        ("public", {"closed"}),
    ],
    ids=["admin", "reviewer", "grid-lanes", "grid-facade", "public"],
)
def test_each_role_lists_what_it_may_see(site: Site, role: str, visible: set[str]) -> None:
    response = site.h.client.get("/tickets", headers=bearer(role))
    assert response.status_code == 200, response.text
    expected = {getattr(site, name).id for name in visible}
    assert _ids(response.json()) == expected
    assert response.json()["total"] == len(expected)
    for ticket in site.all:
        got = site.h.client.get(f"/tickets/{ticket.id}", headers=bearer(role))
        if ticket.id in expected:
            assert got.status_code == 200
            assert got.json()["id"] == ticket.id
        else:  # exactly like an unknown id: nothing leaks
            assert got.status_code == 404
            assert got.json()["detail"] == f"no ticket with id or code {ticket.id!r}"


def test_grid_worker_of_another_camera_sees_nothing_of_it(site: Site) -> None:
    headers = bearer("grid_facade")
    client = site.h.client
    ticket = site.lane_a.id
    assert client.get("/tickets?camera=lane_a", headers=headers).json() == {
        "items": [],
        "total": 0,
        "limit": 100,
        "offset": 0,
    }
    for path in (f"/tickets/{ticket}", f"/tickets/{ticket}/clip.mp4"):
        assert client.get(path, headers=headers).status_code == 404
    assert client.get(f"/tickets/{ticket}/snapshot.jpg", headers=headers).status_code == 404
    moved = client.post(f"/tickets/{ticket}/transition", json={"to": "reported"}, headers=headers)
    assert moved.status_code == 404
    assert site.h.store.get_ticket(ticket).status == "discovered"  # type: ignore[union-attr]


def test_list_is_newest_first_and_pages(site: Site) -> None:
    client, headers = site.h.client, bearer("admin")
    everything = client.get("/tickets", headers=headers).json()["items"]
    created = [item["created_at"] for item in everything]
    assert created == sorted(created, reverse=True)
    assert everything[0]["id"] == site.facade.id
    page = client.get("/tickets?limit=2&offset=1", headers=headers).json()
    assert [item["id"] for item in page["items"]] == [item["id"] for item in everything[1:3]]
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=closed", {"closed"}),
        ("status=discovered", {"lane_a", "passage", "door", "facade"}),
        ("kind=ebike_entry", {"door"}),
        ("camera=lane_b", {"passage", "door"}),
        ("camera=lane_b&kind=fire_lane_blocked", {"passage"}),
        ("since=2099-01-01T00:00:00Z", set()),
        ("since=2000-01-01T00:00:00", {"closed", "lane_a", "passage", "door", "facade"}),
    ],
    ids=["status", "status-open", "kind", "camera", "camera+kind", "since-future", "since-naive"],
)
def test_list_filters(site: Site, query: str, expected: set[str]) -> None:
    response = site.h.client.get(f"/tickets?{query}", headers=bearer("reviewer"))
    assert response.status_code == 200, response.text
    assert _ids(response.json()) == {getattr(site, name).id for name in expected}


def test_ticket_has_the_contract_fields(site: Site) -> None:
    ticket = site.h.client.get(f"/tickets/{site.lane_a.id}", headers=bearer("admin")).json()
    for key in (
        "id",
        "code",
        "kind",
        "status",
        "level",
        "camera_id",
        "zone",
        "created_at",
        "deadline_at",
        "hazard_ids",
        "evidence",
        "history",
    ):
        assert key in ticket, key
    assert ticket["code"] == "north-FIRE-Y-0002"
    assert (
        ticket["evidence"]["clip_sha256"]
        == hashlib.sha256(site.lane_a.files["clip"].read_bytes()).hexdigest()
    )
    assert ticket["allowed_transitions"] == ["reported", "rejected"]
    assert ticket["links"]["clip"] == f"/tickets/{site.lane_a.id}/clip.mp4"


def test_ticket_is_found_by_its_code_too(site: Site) -> None:
    response = site.h.client.get("/tickets/north-FIRE-Y-0002", headers=bearer("admin"))
    assert response.status_code == 200
    assert response.json()["id"] == site.lane_a.id


def test_transitions_through_to_closed_and_wrong_ones_refused(site: Site) -> None:
    client, headers = site.h.client, bearer("reviewer")
    url = f"/tickets/{site.lane_a.id}/transition"
    wrong = client.post(url, json={"to": "closed"}, headers=headers)
    assert wrong.status_code == 409
    assert wrong.json() == {
        "detail": "a 'discovered' ticket cannot move to 'closed'; allowed: reported, rejected",
        "current": "discovered",
        "allowed": ["reported", "rejected"],
    }
    for status in CLOSING_PATH:
        # Whoever rectified may not recheck or close: the admin does those two.
        who = bearer("admin") if status in ("rechecked", "closed") else headers
        moved = client.post(url, json={"to": status, "note": f"now {status}"}, headers=who)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    history = moved.json()["history"]
    assert [entry["to"] for entry in history[-5:]] == CLOSING_PATH
    assert [entry["actor"] for entry in history[-5:]] == ["reviewer"] * 3 + ["admin"] * 2
    assert history[-1]["note"] == "now closed"
    again = client.post(url, json={"to": "closed"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["allowed"] == ["reopened"]


def test_unknown_target_status_is_422_with_the_allowed_ones(site: Site) -> None:
    response = site.h.client.post(
        f"/tickets/{site.lane_a.id}/transition", json={"to": "flying"}, headers=bearer("admin")
    )
    assert response.status_code == 422
    assert "'flying' is not a ticket status" in response.json()["detail"]
    assert response.json()["allowed"] == ["reported", "rejected"]


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("reviewer", 200), ("grid_lane", 200), ("public", 403)],
    ids=["admin", "reviewer", "grid-own-camera", "public"],
)
def test_who_may_transition(site: Site, role: str, status: int) -> None:
    response = site.h.client.post(
        f"/tickets/{site.passage.id}/transition", json={"to": "reported"}, headers=bearer(role)
    )
    assert response.status_code == status, response.text
    expected = "reported" if status == 200 else "discovered"
    assert site.h.store.get_ticket(site.passage.id).status == expected  # type: ignore[union-attr]


def test_public_view_hides_actors_notes_paths_and_sources(site: Site) -> None:
    response = site.h.client.get(f"/tickets/{site.closed.id}", headers=bearer("public"))
    assert response.status_code == 200
    body = response.json()
    text = response.text
    assert str(site.h.data_dir) not in text  # no file paths
    assert SECRET_IN_SOURCES not in text
    assert "allowed_transitions" not in body
    assert "transition" not in body["links"]
    assert all(entry["note"] is None for entry in body["history"])
    assert {entry["actor"] for entry in body["history"]} <= {"system", "r***", "a***"}
    public_clip_sha = hashlib.sha256(site.closed.files["clip_public"].read_bytes()).hexdigest()
    assert body["evidence"]["clip_sha256"] == public_clip_sha


@pytest.mark.parametrize(
    ("role", "route", "file_key"),
    [
        ("public", "clip.mp4", "clip_public"),
        ("public", "snapshot.jpg", "snapshot_public"),
        ("reviewer", "clip.mp4", "clip"),
        ("reviewer", "snapshot.jpg", "snapshot"),
        ("grid_lane", "snapshot.jpg", "snapshot"),
    ],
    ids=["public-clip", "public-snapshot", "staff-clip", "staff-snapshot", "grid-snapshot"],
)
def test_media_route_serves_the_right_copy(
    site: Site, role: str, route: str, file_key: str
) -> None:
    response = site.h.client.get(f"/tickets/{site.closed.id}/{route}", headers=bearer(role))
    assert response.status_code == 200, response.text
    assert response.content == site.closed.files[file_key].read_bytes()
    expected_type = "video/mp4" if route.endswith(".mp4") else "image/jpeg"
    assert response.headers["content-type"] == expected_type
    assert response.headers["etag"].strip('"') == hashlib.sha256(response.content).hexdigest()


def test_public_never_gets_unblurred_media(site: Site) -> None:
    client, headers = site.h.client, bearer("public")
    for route in ("clip.mp4", "snapshot.jpg"):
        body = client.get(f"/tickets/{site.closed.id}/{route}", headers=headers).content
        for private in ("clip", "snapshot"):
            assert body != site.closed.files[private].read_bytes()
    after = client.get(f"/tickets/{site.closed.id}/snapshot.jpg?after=1", headers=headers)
    assert after.status_code == 404
    assert "not published" in after.json()["detail"]


def test_missing_evidence_is_404_naming_the_reason(site: Site) -> None:
    site.h.walk_to(site.door.id, ["rejected"])  # so that the next e-bike hazard is a new ticket
    lonely = site.h.add_ticket(
        "lane_b", "door", HazardKind.EBIKE_ENTRY, evidence={"error": "disk full"}
    )
    assert lonely.id != site.door.id
    for route, what in (("clip.mp4", "clip"), ("snapshot.jpg", "snapshot")):
        response = site.h.client.get(f"/tickets/{lonely.id}/{route}", headers=bearer("admin"))
        assert response.status_code == 404
        assert response.json()["detail"] == (
            f"ticket '{lonely.id}' has no {what} (evidence error: disk full)"
        )


def test_after_snapshot_of_the_automatic_recheck(site: Site) -> None:
    client, ticket = site.h.client, site.lane_a
    url = f"/tickets/{ticket.id}/snapshot.jpg?after=1"
    none_yet = client.get(url, headers=bearer("admin"))
    assert none_yet.status_code == 404
    assert none_yet.json()["detail"] == f"ticket '{ticket.id}' has no after-snapshot"
    site.h.walk_to(ticket.id, ["reported", "verified", "rectifying"])
    # The pipeline's live picture of the clear zone; the recheck keeps a copy of it.
    after = site.h.data_dir / "live" / live_after_name("lane_a", "lane", "fire_lane_blocked")
    after.parent.mkdir(parents=True)
    after.write_bytes(jpeg_bytes(99))
    moved = site.h.store.apply_zone_status(
        {
            "camera_id": "lane_a",
            "zone": "lane",
            "kind": "fire_lane_blocked",
            "state": "clear",
            "clear_for_s": 900.0,
            "at": "2026-11-21T08:00:00Z",
            "snapshot": str(after),
            "snapshot_sha256": hashlib.sha256(after.read_bytes()).hexdigest(),
        },
        after_pictures=AfterPictureKeeper(site.h.data_dir),
    )
    assert [view.status for view in moved] == ["rechecked"]
    got = client.get(url, headers=bearer("reviewer"))
    assert got.status_code == 200
    assert got.content == after.read_bytes()
    body = client.get(f"/tickets/{ticket.id}", headers=bearer("reviewer")).json()
    assert body["links"]["after_snapshot"] == f"/tickets/{ticket.id}/snapshot.jpg?after=1"


def test_stats_follow_the_role(site: Site) -> None:
    client = site.h.client
    staff = client.get("/stats", headers=bearer("reviewer")).json()
    assert staff["total"] == 5
    assert staff["by_camera_kind"]["lane_b"] == {
        "fire_lane_blocked": 1,
        "ebike_entry": 1,
        "falling_object": 0,
    }
    grid = client.get("/stats", headers=bearer("grid_facade")).json()
    assert grid["total"] == 1
    assert set(grid["by_camera_kind"]) == {"facade"}
    public = client.get("/stats", headers=bearer("public")).json()
    assert public["total"] == 1
    assert public["by_status"] == {"closed": 1}


@pytest.mark.parametrize(
    "query",
    ["status=discovered", "status=rectifying", "camera=facade", "kind=falling_object", ""],
    ids=["discovered", "rectifying", "camera", "kind", "none"],
)
def test_public_filters_never_widen_past_closed(site: Site, query: str) -> None:
    response = site.h.client.get(f"/tickets?{query}", headers=bearer("public"))
    assert response.status_code == 200
    assert all(item["status"] == "closed" for item in response.json()["items"])
    assert _ids(response.json()) <= {site.closed.id}
