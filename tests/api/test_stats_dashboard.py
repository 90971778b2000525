"""The dashboard's numbers (api.dashboard_stats) and ``GET /stats/dashboard``: counts, heat points,
overdue, scope per role, hostile queries.

Expected counts are computed here from the tickets the test made, with ``collections.Counter``
and ``zoneinfo``, never with the code under test.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.dashboard_stats import (
    KINDS,
    LEVELS,
    STATUSES,
    Window,
    daily_counts,
    heat_points,
    overdue_tickets,
    parse_time_zone,
    ticket_location,
    zone_centre,
)
from api.errors import InvalidQuery
from api.store import TicketView
from tests.api.app_harness import TOKENS, ApiHarness, bearer, jpeg_bytes
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2026, 12, 6, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def view(
    *,
    created_at: datetime,
    started_at: datetime | None = None,
    kind: str = "fire_lane_blocked",
    status: str = "discovered",
    level: str = "yellow",
    camera_id: str = "lane_a",
    zone: str = "lane",
    details: dict[str, Any] | None = None,
    deadline_at: datetime | None = None,
) -> TicketView:
    return TicketView(
        id=str(uuid.uuid4()),
        code=f"north-X-{uuid.uuid4().hex[:4]}",
        kind=kind,
        status=status,
        level=level,
        camera_id=camera_id,
        zone=zone,
        area="north",
        created_at=created_at,
        updated_at=created_at,
        deadline_at=deadline_at,
        hazard_ids=["h1"],
        evidence={},
        history=[],
        details=details or {},
        labels=[],
        score=0.5,
        started_at=started_at or created_at,
        ended_at=None,
        escalations=0,
    )


def random_tickets(seed: int, n: int) -> list[TicketView]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        created = NOW - timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
        out.append(
            view(
                created_at=created,
                started_at=created - timedelta(seconds=rng.randrange(0, 600)),
                kind=rng.choice(KINDS),
                status=rng.choice(STATUSES),
                level=rng.choice(LEVELS),
            )
        )
    return out


@pytest.mark.parametrize("tz_name", ["UTC", "Asia/Shanghai", "America/Los_Angeles"])
@pytest.mark.parametrize("days", [1, 7, 14])
def test_daily_counts_match_an_independent_count(tz_name: str, days: int) -> None:
    tickets = random_tickets(days, 300)
    tz = ZoneInfo(tz_name)
    first = NOW.astimezone(tz).date() - timedelta(days=days - 1)
    inside = [t for t in tickets if t.created_at.astimezone(tz).date() >= first]
    data = daily_counts(tickets, Window(NOW, days, tz))

    assert data["count"] == len(inside)
    assert data["days"][0] == first.isoformat() and len(data["days"]) == days
    for group in ("kind", "status", "level"):
        expected = Counter(
            (getattr(t, group), t.created_at.astimezone(tz).date().isoformat()) for t in inside
        )
        got = Counter(
            {
                (key, day): count
                for key, counts in data["series"][group].items()
                for day, count in zip(data["days"], counts, strict=True)
                if count
            }
        )
        assert got == expected, group
        assert data["totals"][group] == {
            key: sum(1 for t in inside if getattr(t, group) == key) for key in data["series"][group]
        }
    hours = Counter(t.started_at.astimezone(tz).hour for t in inside)
    assert data["hours"] == [hours.get(h, 0) for h in range(24)]


def test_a_ticket_counts_on_its_local_day_and_hour() -> None:
    # 23:30 UTC on 5 Dec is 07:30 on 6 Dec in Shanghai
    late = view(created_at=datetime(2026, 12, 5, 23, 30, tzinfo=UTC))
    utc = daily_counts([late], Window(NOW, 2, ZoneInfo("UTC")))
    local = daily_counts([late], Window(NOW, 2, SHANGHAI))
    assert utc["series"]["kind"]["fire_lane_blocked"] == [1, 0]
    assert local["series"]["kind"]["fire_lane_blocked"] == [0, 1]
    assert utc["hours"][23] == 1 and local["hours"][7] == 1


@pytest.mark.parametrize(
    ("details", "zone", "expected"),
    [
        ({"box_norm": [0.2, 0.4, 0.6, 0.8]}, "lane", (0.4, 0.6, "box")),
        (
            {"trajectory_norm": [[0.5, 0.6, 0.0], [0.52, 0.2, 0.3], [0.55, 0.9, 0.9]]},
            "lane",
            (0.52, 0.2, "trajectory"),
        ),
        ({"occupancy": 0.4}, "lane", (0.5, 0.25, "zone")),
        ({"box_norm": [0.2, 0.4, 7.0, 0.8]}, "lane", (0.5, 0.25, "zone")),  # bad box: zone
        ({"trajectory_norm": "nonsense"}, "lane", (0.5, 0.25, "zone")),
        ({}, "unknown-zone", None),
    ],
    ids=["box", "trajectory-origin", "zone", "bad-box", "bad-trajectory", "nothing"],
)
def test_ticket_location(
    details: dict[str, Any], zone: str, expected: tuple[float, float, str] | None
) -> None:
    got = ticket_location(view(created_at=NOW, zone=zone, details=details), {"lane": (0.5, 0.25)})
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[:2] == pytest.approx(expected[:2]) and got[2] == expected[2]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ({"polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}, (0.5, 0.5)),
        ({"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0, -1]}, (0.4, 0.8)),
        ({"polygon": [[0, 0], [2, 0], [1, 1]]}, None),
        ({"polygon": "x"}, None),
        ({}, None),
    ],
    ids=["polygon", "line", "outside-0..1", "malformed", "empty"],
)
def test_zone_centre(zone: dict[str, Any], expected: tuple[float, float] | None) -> None:
    got = zone_centre(zone)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_heat_points_per_camera_only_inside_the_window() -> None:
    window = Window(NOW, 3, ZoneInfo("UTC"))
    inside = [view(created_at=NOW - timedelta(hours=h), camera_id="lane_a") for h in range(5)]
    old = view(created_at=NOW - timedelta(days=5), camera_id="lane_a")
    other = view(created_at=NOW, camera_id="facade")  # not a shown camera
    lost = view(created_at=NOW, camera_id="lane_a", zone="gone")
    heat = heat_points([*inside, old, other, lost], window, {"lane_a": {"lane": (0.3, 0.6)}})
    assert set(heat) == {"lane_a"}
    assert sorted(p["ticket"] for p in heat["lane_a"]["points"]) == sorted(t.id for t in inside)
    assert heat["lane_a"]["unplaced"] == 1


def test_overdue_lists_open_tickets_past_their_deadline_most_overdue_first() -> None:
    late = [
        view(created_at=NOW, deadline_at=NOW - timedelta(hours=h), status="reported")
        for h in (1, 5, 3)
    ]
    closed_late = view(created_at=NOW, deadline_at=NOW - timedelta(hours=9), status="closed")
    not_yet = view(created_at=NOW, deadline_at=NOW + timedelta(hours=1))
    no_deadline = view(created_at=NOW)
    out = overdue_tickets([*late, closed_late, not_yet, no_deadline], NOW)
    assert out["total"] == 3
    assert [item["overdue_s"] for item in out["items"]] == [5 * 3600, 3 * 3600, 3600]


@pytest.mark.parametrize(
    "name", ["", "../../etc/passwd", "/etc/localtime", "Nope/Zone", "x" * 65, "UTC\x00"]
)
def test_hostile_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidQuery, match="tz"):
        parse_time_zone(name)


def test_window_refuses_days_out_of_range() -> None:
    for days in (0, 367):
        with pytest.raises(InvalidQuery, match="days"):
            Window(NOW, days, ZoneInfo("UTC"))


# --- the route ---------------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def _seed(harness: ApiHarness) -> dict[str, list[str]]:
    """Tickets on each camera; a closed one on lane_a (what the public may see)."""
    made: dict[str, list[str]] = {"lane_a": [], "lane_b": [], "facade": []}
    first = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    harness.walk_to(first.id, ["reported", "verified", "rectifying", "rechecked", "closed"])
    made["lane_a"].append(first.id)
    made["lane_a"].append(harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED).id)
    made["lane_b"].append(harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY).id)
    made["facade"].append(harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT).id)
    return made


def _get(harness: ApiHarness, role: str, query: str = "days=366") -> Any:
    response = harness.client.get(f"/stats/dashboard?{query}", headers=bearer(role))
    assert response.status_code == 200, response.text
    return response.json()


def _points(data: Any) -> dict[str, set[str]]:
    return {cid: {p["ticket"] for p in rec["points"]} for cid, rec in data["heat"].items()}


def test_admin_sees_every_camera_and_ticket(harness: ApiHarness) -> None:
    made = _seed(harness)
    data = _get(harness, "admin")
    assert data["count"] == 4
    assert _points(data) == {cid: set(ids) for cid, ids in made.items()}
    assert [c["id"] for c in data["cameras"]] == ["facade", "lane_a", "lane_b"]
    assert data["overdue"]["total"] == 3  # the harness's clock is weeks ago: open ones are late
    # Placed by each hazard's own box, which the store keeps in the ticket's details.
    assert {p["source"] for rec in data["heat"].values() for p in rec["points"]} == {"box"}


def test_grid_worker_sees_only_their_cameras(harness: ApiHarness) -> None:
    made = _seed(harness)
    data = _get(harness, "grid_lane")
    own = set(TOKENS["grid_lane"][2])
    assert {c["id"] for c in data["cameras"]} == own
    assert _points(data) == {cid: set(made[cid]) for cid in own}
    assert data["count"] == sum(len(made[cid]) for cid in own)
    assert {item["camera_id"] for item in data["overdue"]["items"]} <= own
    assert all(c["last_error"] is None for c in data["cameras"])  # error text: staff only


def test_public_sees_closed_counts_and_nothing_about_cameras(harness: ApiHarness) -> None:
    _seed(harness)
    data = _get(harness, "public")
    assert data["count"] == 1
    assert data["totals"]["status"]["closed"] == 1
    assert sum(data["totals"]["status"].values()) == 1
    assert data["cameras"] == [] and data["heat"] == {} and data["redis"] is None
    assert data["overdue"] == {"total": 0, "items": []}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("days=0", "days"),
        ("days=367", "days"),
        ("days=abc", "days"),
        ("days=1e9", "days"),
        ("tz=Nope%2FZone", "tz"),
        ("tz=..%2F..%2Fetc%2Fpasswd", "tz"),
        ("tz=" + "x" * 80, "tz"),
        ("tz=", "tz"),
        ("camera=lane_a", "camera"),
    ],
)
def test_hostile_queries_get_422_naming_the_parameter(
    harness: ApiHarness, query: str, says: str
) -> None:
    response = harness.client.get(f"/stats/dashboard?{query}", headers=bearer("admin"))
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


def test_without_a_token_401_before_judging_the_query(harness: ApiHarness) -> None:
    assert harness.client.get("/stats/dashboard?days=0").status_code == 401


def test_page_draws_the_record_and_escapes_a_bad_query(harness: ApiHarness) -> None:
    made = _seed(harness)
    live = harness.data_dir / "live" / "lane_a.jpg"
    live.parent.mkdir()
    live.write_bytes(jpeg_bytes(1))
    response = harness.client.get("/ui/dashboard?days=366&tz=%3Cscript%3E", headers=bearer("admin"))
    assert response.status_code == 200
    page = response.text
    assert "<script>" not in page.replace("<script nonce=", "")
    assert "&lt;script&gt;" in page  # the refused value is shown escaped, with the message
    for cid, ids in made.items():
        for ticket_id in ids:
            assert f'data-ticket="{ticket_id}"' in page, cid
    assert '<img src="/cameras/lane_a/snapshot.jpg?t=' in page
    assert "/cameras/facade/snapshot.jpg" not in page  # no live picture: not asked


def test_a_hotspot_is_listed_and_ringed_on_its_camera_but_not_counted_as_a_hazard(
    harness: ApiHarness,
) -> None:
    for _ in range(3):  # three repeats in one zone: one hazard ticket and one hotspot ticket
        harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    [spot] = harness.store.list_tickets(category="hotspot")[0]
    data = _get(harness, "admin")
    assert data["count"] == 1  # the hazard ticket; the hotspot is no hazard of its own
    [listed] = data["hotspots"]
    assert (listed["id"], listed["code"], listed["level"]) == (spot.id, spot.code, "yellow")
    assert (listed["hazards"], listed["members"]) == (3, 1)
    centre = data["heat"]["lane_a"]["zones"]["lane"]
    xs, ys = [p[0] for p in centre], [p[1] for p in centre]
    assert min(xs) <= listed["centre"][0] <= max(xs) and min(ys) <= listed["centre"][1] <= max(ys)
    assert _get(harness, "public")["hotspots"] == []
    page = harness.client.get("/ui/dashboard?days=366", headers=bearer("admin")).text
    assert 'id="hotspot_card" data-total="1"' in page
    assert f'<circle class="hotspot" data-ticket="{spot.id}" data-level="yellow"' in page
    assert f'href="/ui/review?ticket={spot.id}"' in page
