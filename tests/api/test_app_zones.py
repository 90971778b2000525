"""``/cameras``: zones read from the config or the override, edited by admins, validated like the
config file; camera sources never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.app_harness import SECRET_IN_SOURCES, ApiHarness, bearer

pytestmark = pytest.mark.timeout(60)

LANE = [[0.1, 0.3], [0.6, 0.3], [0.9, 0.9], [0.05, 0.95]]
NEW_LANE = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.9], [0.2, 0.9]]


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def test_get_zones_from_the_config(harness: ApiHarness) -> None:
    response = harness.client.get("/cameras/lane_a/zones", headers=bearer("reviewer"))
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "config"
    assert body["zones"]["lane"]["polygon"] == LANE
    assert body["zones"]["lane"]["width_m"] == 4.5
    assert (body["updated_at"], body["by"]) == (None, None)


def test_put_zones_stores_an_override_the_get_returns(harness: ApiHarness) -> None:
    zones = {
        "lane": {"polygon": NEW_LANE, "width_m": 3.0},
        "door": {"line": [[0.1, 0.5], [0.4, 0.5]], "inward": [0, 1]},
    }
    response = harness.client.put(
        "/cameras/lane_a/zones", json={"zones": zones}, headers=bearer("admin")
    )
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["source"] == "override"
    assert saved["by"] == "admin"
    assert saved["zones"]["lane"]["polygon"] == NEW_LANE
    assert saved["zones"]["lane"]["anchor"] == "bottom_center"  # schema defaults filled in
    stored = json.loads((harness.data_dir / "zones" / "lane_a.json").read_text())
    assert stored == {"zones": saved["zones"], "updated_at": saved["updated_at"], "by": "admin"}
    again = harness.client.get("/cameras/lane_a/zones", headers=bearer("grid_lane")).json()
    assert again["zones"] == saved["zones"]
    assert again["source"] == "override"
    assert [p.name for p in (harness.data_dir / "zones").iterdir()] == ["lane_a.json"]


@pytest.mark.parametrize(
    ("zones", "path", "words"),
    [
        (
            {"lane": {"polygon": [[0.1, 0.1], [0.5, 0.5]]}},
            "cameras.lane_a.zones.lane.polygon",
            "at least 3 points",
        ),
        (
            {"lane": {"polygon": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]}},
            "cameras.lane_a.zones.lane.polygon[1]",
            "outside",
        ),
        (
            {"lane": {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}},
            "cameras.lane_a.zones.lane.polygon",
            "intersect",
        ),
        (
            {"lane": {"polygon": LANE, "colour": "red"}},
            "cameras.lane_a.zones.lane.colour",
            "unknown key 'colour'",
        ),
        ({"lane": {"polygon": "square"}}, "cameras.lane_a.zones.lane.polygon", "list"),
        (
            {"lane": {"polygon": LANE, "width_m": -1}},
            "cameras.lane_a.zones.lane.width_m",
            "greater than 0",
        ),
        (
            {"lane": {"line": [[0.1, 0.5], [0.4, 0.5]], "inward": [0, 1]}},
            "cameras.lane_a.hazards[0].zone",
            "polygon",
        ),
        ({"gate": {"polygon": LANE}}, "cameras.lane_a.hazards[0].zone", "does not define"),
        (
            {"lane": {"polygon": LANE, "line": [[0, 0], [1, 1]]}},
            "cameras.lane_a.zones.lane",
            "not both",
        ),
        ({"Bad Name": {"polygon": LANE}}, 'cameras.lane_a.zones."Bad Name"', "slug"),
        ({"lane": 5}, "cameras.lane_a.zones.lane", "mapping"),
    ],
    ids=[
        "two-points",
        "outside-frame",
        "self-intersecting",
        "unknown-key",
        "not-a-list",
        "negative-width",
        "hazard-needs-polygon",
        "hazard-zone-removed",
        "polygon-and-line",
        "bad-zone-id",
        "not-a-mapping",
    ],
)
def test_bad_zones_are_422_with_the_dotted_path(
    harness: ApiHarness, zones: dict[str, Any], path: str, words: str
) -> None:
    response = harness.client.put(
        "/cameras/lane_a/zones", json={"zones": zones}, headers=bearer("admin")
    )
    assert response.status_code == 422, response.text
    body = response.json()
    matching = [error for error in body["errors"] if error["loc"] == path]
    assert matching, body
    assert any(words in error["msg"] for error in matching), body
    assert path in body["detail"] or len(body["errors"]) > 1
    assert not (harness.data_dir / "zones" / "lane_a.json").exists()
    assert SECRET_IN_SOURCES not in response.text


@pytest.mark.parametrize(
    ("role", "camera", "status"),
    [
        ("admin", "lane_a", 200),
        ("reviewer", "lane_a", 403),
        ("grid_lane", "lane_a", 403),
        ("grid_facade", "lane_a", 404),
        ("public", "lane_a", 403),
        ("admin", "nope", 404),
    ],
    ids=["admin", "reviewer", "grid-own", "grid-other", "public", "unknown-camera"],
)
def test_who_may_edit_zones(harness: ApiHarness, role: str, camera: str, status: int) -> None:
    response = harness.client.put(
        f"/cameras/{camera}/zones",
        json={"zones": {"lane": {"polygon": NEW_LANE}}},
        headers=bearer(role),
    )
    assert response.status_code == status, response.text
    assert (harness.data_dir / "zones" / "lane_a.json").exists() == (status == 200)


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("reviewer", 200), ("grid_lane", 200), ("grid_facade", 404), ("public", 403)],
    ids=["admin", "reviewer", "grid-own", "grid-other", "public"],
)
def test_who_may_read_zones(harness: ApiHarness, role: str, status: int) -> None:
    response = harness.client.get("/cameras/lane_a/zones", headers=bearer(role))
    assert response.status_code == status


def test_unreadable_override_falls_back_to_the_config(harness: ApiHarness) -> None:
    (harness.data_dir / "zones").mkdir()
    (harness.data_dir / "zones" / "lane_a.json").write_text("{half a file")
    body = harness.client.get("/cameras/lane_a/zones", headers=bearer("admin")).json()
    assert body["source"] == "config"
    assert body["zones"]["lane"]["polygon"] == LANE


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", ["facade", "lane_a", "lane_b"]),
        ("grid_lane", ["lane_a", "lane_b"]),
        ("grid_facade", ["facade"]),
    ],
    ids=["admin", "grid-lanes", "grid-facade"],
)
def test_camera_list_is_scoped_and_has_no_sources(
    harness: ApiHarness, role: str, expected: list[str]
) -> None:
    response = harness.client.get("/cameras", headers=bearer(role))
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == expected
    assert SECRET_IN_SOURCES not in response.text
    assert "rtsp" not in response.text
    for item in response.json()["items"]:
        assert set(item) == {"id", "name", "area", "enabled", "hazards"}


def test_camera_list_areas(harness: ApiHarness) -> None:
    items = harness.client.get("/cameras", headers=bearer("admin")).json()["items"]
    assert {item["id"]: item["area"] for item in items} == {
        "facade": "block_a",
        "lane_a": "north",
        "lane_b": "block_a",
    }
    assert harness.client.get("/cameras", headers=bearer("public")).status_code == 403
