"""``PUT /cameras/{id}/zones`` with floors and hazards: validated like the config file, stored in
the override beside the zones, kept by later zone-only edits, the replaced file backed up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.pages.zones import hazard_fields
from tests.api.app_harness import ApiHarness, bearer

pytestmark = pytest.mark.timeout(60)

LANE = [[0.1, 0.3], [0.6, 0.3], [0.9, 0.9], [0.05, 0.95]]
FACADE = {"facade": {"polygon": [[0.05, 0.02], [0.95, 0.02], [0.95, 0.96], [0.05, 0.96]]}}


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def _put(harness: ApiHarness, camera: str, body: dict[str, Any]) -> Any:
    return harness.client.put(f"/cameras/{camera}/zones", json=body, headers=bearer("admin"))


def _stored(harness: ApiHarness, camera: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((harness.data_dir / "zones" / f"{camera}.json").read_text())
    return data


def test_get_shows_the_configured_floors_and_hazards(harness: ApiHarness) -> None:
    body = harness.client.get("/cameras/facade/zones", headers=bearer("admin")).json()
    assert body["floors"]["count"] == 18
    assert body["floors"]["lines"][0] == 0.05
    assert body["hazards"] == [{"kind": "falling_object", "zone": "facade", "min_drop_floors": 2}]


def test_hazard_parameters_are_edited_and_kept_by_a_later_zone_edit(harness: ApiHarness) -> None:
    zones = {"lane2": {"polygon": LANE}}
    hazards = [{"kind": "fire_lane_blocked", "zone": "lane2", "dwell_s": 45}]
    response = _put(harness, "lane_a", {"zones": zones, "hazards": hazards})
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["hazards"][0]["dwell_s"] == 45
    assert saved["hazards"][0]["clear_s"] == 10.0  # schema defaults filled in
    assert _stored(harness, "lane_a")["hazards"] == saved["hazards"]
    assert "floors" not in _stored(harness, "lane_a")  # not given: not frozen into the file
    # A later edit of the zones alone is checked against the stored hazards (which name lane2).
    moved = {"lane2": {"polygon": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.9], [0.2, 0.9]]}}
    again = _put(harness, "lane_a", {"zones": moved})
    assert again.status_code == 200, again.text
    assert again.json()["hazards"][0]["dwell_s"] == 45
    backup = json.loads((harness.data_dir / "zones" / "lane_a.json.bak").read_text())
    assert backup["zones"] == saved["zones"]  # the file the second edit replaced


def test_floor_lines_are_edited(harness: ApiHarness) -> None:
    floors = {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 0.5, 0.7, 0.9]}
    response = _put(harness, "facade", {"zones": FACADE, "floors": floors})
    assert response.status_code == 200, response.text
    assert response.json()["floors"]["lines"] == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert (
        harness.client.get("/cameras/facade/zones", headers=bearer("admin")).json()["floors"]
        == floors
    )


@pytest.mark.parametrize(
    ("camera", "body", "path"),
    [
        (
            "lane_a",
            {"zones": {"lane": {"polygon": LANE}},
             "hazards": [{"kind": "fire_lane_blocked", "zone": "lane", "dwell_s": 0}]},
            "cameras.lane_a.hazards[0].dwell_s",
        ),
        (
            "lane_a",
            {"zones": {"lane": {"polygon": LANE}},
             "hazards": [{"kind": "fire_lane_blocked", "zone": "nowhere"}]},
            "cameras.lane_a.hazards[0].zone",
        ),
        (
            "facade",
            {"zones": FACADE,
             "floors": {"count": 18, "lowest_visible_floor": 3, "lines": [0.5, 0.3, 0.9]}},
            "cameras.facade.floors.lines",
        ),
        (
            "facade",
            {"zones": FACADE, "floors": None},
            "cameras.facade",
        ),
    ],
    ids=["dwell-below-bound", "hazard-names-no-zone", "floor-lines-unordered", "floors-removed"],
)  # fmt: skip
def test_bad_floors_and_hazards_are_422_with_the_dotted_path(
    harness: ApiHarness, camera: str, body: dict[str, Any], path: str
) -> None:
    response = _put(harness, camera, body)
    assert response.status_code == 422, response.text
    locs = [error["loc"] for error in response.json()["errors"]]
    assert any(loc.startswith(path) for loc in locs), locs
    assert not (harness.data_dir / "zones" / f"{camera}.json").exists()


def test_the_editor_offers_each_hazard_parameter_with_the_schema_bounds() -> None:
    fields = {kind: {f["name"]: f for f in items} for kind, items in hazard_fields().items()}
    assert set(fields) == {"fire_lane_blocked", "ebike_entry", "falling_object"}
    dwell = fields["fire_lane_blocked"]["dwell_s"]
    assert (dwell["type"], dwell["min"], dwell["max"]) == ("number", 1.0, 3600.0)
    assert fields["fire_lane_blocked"]["membership.enter_overlap"]["max"] == 1.0
    assert fields["ebike_entry"]["min_detections"]["nullable"] is True
    assert fields["ebike_entry"]["allow_bicycles"]["type"] == "boolean"
    assert fields["falling_object"]["min_drop_floors"]["type"] == "integer"
    assert "zone" not in fields["fire_lane_blocked"]  # chosen from the zones, not typed
    assert "action" not in fields["ebike_entry"]  # not a number: left as configured


def test_values_at_the_offered_bounds_are_accepted(harness: ApiHarness) -> None:
    offered = {f["name"]: f for f in hazard_fields()["fire_lane_blocked"]}
    hazard = {
        "kind": "fire_lane_blocked",
        "zone": "lane",
        "dwell_s": offered["dwell_s"]["max"],
        "clear_s": offered["clear_s"]["min"],
    }
    response = _put(harness, "lane_a", {"zones": {"lane": {"polygon": LANE}}, "hazards": [hazard]})
    assert response.status_code == 200, response.text
