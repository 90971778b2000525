"""Per-camera cross-field checks: geometry, hazard zones, floors, ids."""

from __future__ import annotations

from typing import Any

import pytest

from cameras.schema import CameraConfig
from cameras.schema_checks import (
    CameraParts,
    ConfigIssue,
    all_collinear,
    check_camera,
    find_self_intersection,
    format_path,
    polygon_area2,
    segments_intersect,
    verify_camera_ids,
    verify_floors,
    verify_hazard_zones,
    verify_zones,
)

SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
Point = tuple[float, float]


def _camera(**data: Any) -> CameraConfig:
    return CameraConfig.model_validate(data)


@pytest.mark.parametrize(
    ("p1", "p2", "q1", "q2", "expected"),
    [
        pytest.param((0, 0), (1, 1), (0, 1), (1, 0), True, id="crossing"),
        pytest.param((0, 0), (1, 0), (0, 1), (1, 1), False, id="parallel"),
        pytest.param((0, 0), (1, 0), (2, 0), (3, 0), False, id="collinear-apart"),
        pytest.param((0, 0), (2, 0), (1, 0), (3, 0), True, id="collinear-overlap"),
        pytest.param((0, 0), (1, 0), (1, 0), (1, 1), True, id="touching-at-end"),
        pytest.param((0, 0), (2, 0), (1, 0), (1, 1), True, id="t-junction"),
        pytest.param((0, 0), (1, 0), (0.5, 0.1), (0.5, 1), False, id="near-miss"),
    ],
)
def test_segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point, expected: bool) -> None:
    assert segments_intersect(p1, p2, q1, q2) is expected
    assert segments_intersect(q1, q2, p1, p2) is expected  # symmetric


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param(SQUARE, None, id="square"),
        pytest.param([[0, 0], [1, 1], [1, 0], [0, 1]], (0, 2), id="bow-tie"),
        pytest.param(
            [[0, 0], [1, 0], [0.5, 0.5], [1, 1], [0, 1], [0.5, 0.5]], (1, 4), id="touching-vertex"
        ),
        pytest.param([[0, 0], [1, 0], [0.5, 0], [0.5, 1]], (0, 1), id="spike-folds-back"),
        pytest.param(
            [[0.1, 0.1], [0.5, 0.3], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], None, id="concave-ok"
        ),
    ],
)
def test_find_self_intersection(points: list[list[float]], expected: tuple[int, int]) -> None:
    assert find_self_intersection(points) == expected


def test_area_and_collinearity() -> None:
    assert polygon_area2(SQUARE) == pytest.approx(2 * 0.64)
    assert polygon_area2(list(reversed(SQUARE))) == pytest.approx(-2 * 0.64)
    assert all_collinear([[0, 0], [0.5, 0.5], [1, 1]])
    assert not all_collinear([[0, 0], [0.5, 0.5], [1, 0.9]])


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(
            ["cameras", "lobby", "zones", "lift", "polygon", 2],
            "cameras.lobby.zones.lift.polygon[2]",
            id="nested",
        ),
        pytest.param(
            ["cameras", "lobby", "hazards", 1, "zone"],
            "cameras.lobby.hazards[1].zone",
            id="list-index",
        ),
        pytest.param(["cameras", "Bad.Cam"], 'cameras."Bad.Cam"', id="dotted-key-quoted"),
        pytest.param(["cameras", "a b"], 'cameras."a b"', id="space-quoted"),
        pytest.param([], "", id="empty"),
    ],
)
def test_format_path(parts: list[str | int], expected: str) -> None:
    assert format_path(parts) == expected


Z = "cameras.cam.zones"


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        pytest.param(
            {
                "ok": {"polygon": SQUARE},
                "door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0, -1]},
            },
            [],
            id="valid",
        ),
        pytest.param(
            {"lift": {"polygon": [[0.1, 0.1], [0.9, 0.1]]}},
            [(f"{Z}.lift.polygon", "a polygon needs at least 3 points, got 2")],
            id="two-points",
        ),
        pytest.param(
            {"lift": {"polygon": [[0.1, 0.1], [0.9, 0.1], [1.5, 0.9]]}},
            [(f"{Z}.lift.polygon[2]", "x = 1.5 must lie in 0..1")],
            id="x-1.5",
        ),
        pytest.param(
            {"lift": {"polygon": [[-0.1, 0.1], [0.9, 2], [0.5, 0.9]]}},
            [
                (f"{Z}.lift.polygon[0]", "x = -0.1 must lie in 0..1"),
                (f"{Z}.lift.polygon[1]", "y = 2 must lie in 0..1"),
            ],
            id="two-outside",
        ),
        pytest.param(
            {"bow": {"polygon": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}},
            [(f"{Z}.bow.polygon", "self-intersecting: edge [0]-[1] meets edge [2]-[3]")],
            id="bow-tie",
        ),
        pytest.param(
            {"flat": {"polygon": [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]}},
            [(f"{Z}.flat.polygon", "zero area (its points are collinear)")],
            id="collinear",
        ),
        pytest.param(
            {"rep": {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.1, 0.1], [0.5, 0.9]]}},
            [(f"{Z}.rep.polygon[2]", "repeats point [0]")],
            id="repeated-point",
        ),
        pytest.param(
            {"door": {"line": [[0.2, 0.8], [0.2, 0.8]], "inward": [0, -1]}},
            [(f"{Z}.door.line", "the two points of a line must differ")],
            id="line-same-points",
        ),
        pytest.param(
            {"door": {"line": [[0.2, 0.8]], "inward": [0, -1]}},
            [(f"{Z}.door.line", "exactly 2 points, got 1")],
            id="line-one-point",
        ),
        pytest.param(
            {"door": {"line": [[0.2, 0.8], [0.6, 1.2]], "inward": [0, -1]}},
            [(f"{Z}.door.line[1]", "y = 1.2 must lie in 0..1")],
            id="line-outside",
        ),
        pytest.param(
            {"door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0, 0]}},
            [(f"{Z}.door.inward", "inward must not be [0, 0]")],
            id="inward-zero",
        ),
        pytest.param(
            {"door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [-2, 0]}},
            [(f"{Z}.door.inward", "inward [-2, 0] is parallel to the line")],
            id="inward-parallel",
        ),
    ],
)
def test_verify_zones(zones: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    issues = verify_zones("cam", _camera(zones=zones))
    assert len(issues) == len(expected), issues
    for issue, (path, message) in zip(issues, expected, strict=True):
        assert issue.path == path
        assert message in issue.message
        zone_id = path.split(".")[3].split("[")[0]
        assert f"zone '{zone_id}' of camera 'cam'" in issue.message


ZONES = {
    "lane": {"polygon": SQUARE},
    "door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0, -1]},
}


@pytest.mark.parametrize(
    ("hazards", "expected"),
    [
        pytest.param(
            [
                {"kind": "fire_lane_blocked", "zone": "lane"},
                {"kind": "ebike_entry", "zone": "door"},
                {"kind": "ebike_entry", "zone": "lane"},
            ],
            [],
            id="valid",
        ),
        pytest.param(
            [
                {"kind": "fire_lane_blocked", "zone": "lane"},
                {"kind": "ebike_entry", "zone": "lift"},
            ],
            [
                (
                    "cameras.cam.hazards[1].zone",
                    "zone 'lift', which camera 'cam' does not define (zones: lane, door)",
                )
            ],
            id="missing-zone",
        ),
        pytest.param(
            [{"kind": "ebike_entry", "zone": "dor"}],
            [("cameras.cam.hazards[0].zone", "did you mean 'door'?")],
            id="typo",
        ),
        pytest.param(
            [{"kind": "fire_lane_blocked", "zone": "door"}],
            [
                (
                    "cameras.cam.hazards[0].zone",
                    "fire_lane_blocked needs a polygon zone, but zone 'door' of camera 'cam' "
                    "is a line",
                )
            ],
            id="fire-lane-on-line",
        ),
        pytest.param(
            [{"kind": "falling_object", "zone": "door"}],
            [("cameras.cam.hazards[0].zone", "falling_object needs a polygon zone")],
            id="falling-on-line",
        ),
        pytest.param(
            [
                {"kind": "ebike_entry", "zone": "door"},
                {"kind": "ebike_entry", "zone": "door", "min_duration_s": 3},
            ],
            [
                (
                    "cameras.cam.hazards[1]",
                    "already has a ebike_entry hazard on zone 'door' (hazards[0])",
                )
            ],
            id="same-kind-same-zone",
        ),
    ],
)
def test_verify_hazard_zones(
    hazards: list[dict[str, Any]], expected: list[tuple[str, str]]
) -> None:
    issues = verify_hazard_zones("cam", _camera(zones=ZONES, hazards=hazards))
    assert [(i.path, m in i.message) for i, (_, m) in zip(issues, expected, strict=True)] == [
        (p, True) for p, _ in expected
    ], issues
    assert len(issues) == len(expected)


FALLING = [{"kind": "falling_object", "zone": "facade"}]
FACADE = {"facade": {"polygon": SQUARE}}


@pytest.mark.parametrize(
    ("floors", "hazards", "expected"),
    [
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.2, 0.3, 0.4]},
            FALLING,
            [],
            id="valid",
        ),
        pytest.param(
            {"count": 5, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 0.6, 0.9]},
            FALLING,
            [],
            id="top-floor-equals-count",
        ),
        pytest.param(
            None,
            FALLING,
            [
                (
                    "cameras.cam.floors",
                    "has a falling_object hazard (hazards[0]) but no 'floors' section",
                )
            ],
            id="falling-without-floors",
        ),
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 0.2, 0.5]},
            FALLING,
            [
                (
                    "cameras.cam.floors.lines[2]",
                    "y = 0.2 must be greater than the line before it (0.3)",
                )
            ],
            id="unordered",
        ),
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 0.3, 0.5]},
            FALLING,
            [("cameras.cam.floors.lines[2]", "strictly increasing")],
            id="equal-lines",
        ),
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 1.2]},
            FALLING,
            [("cameras.cam.floors.lines[2]", "y = 1.2 must lie in 0..1")],
            id="line-outside",
        ),
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.5]},
            [],
            [("cameras.cam.floors.lines", "at least 2 boundaries")],
            id="one-line",
        ),
        pytest.param(
            {"count": 4, "lowest_visible_floor": 3, "lines": [0.1, 0.3, 0.6, 0.9]},
            FALLING,
            [
                (
                    "cameras.cam.floors",
                    "4 lines bound 3 floors, from floor 3 up to floor 5, but count is 4",
                )
            ],
            id="too-many-floors",
        ),
        pytest.param(
            {"count": 18, "lowest_visible_floor": 3, "lines": [0.1, 0.5, 0.9]},
            [{"kind": "falling_object", "zone": "facade", "min_drop_floors": 3}],
            [
                (
                    "cameras.cam.hazards[0].min_drop_floors",
                    "min_drop_floors = 3 is more than the 2 floors visible",
                )
            ],
            id="drop-more-than-visible",
        ),
    ],
)
def test_verify_floors(
    floors: dict[str, Any] | None,
    hazards: list[dict[str, Any]],
    expected: list[tuple[str, str]],
) -> None:
    issues = verify_floors("cam", _camera(zones=FACADE, floors=floors, hazards=hazards))
    assert len(issues) == len(expected), issues
    for issue, (path, message) in zip(issues, expected, strict=True):
        assert issue.path == path
        assert message in issue.message


@pytest.mark.parametrize(
    ("camera_id", "zone_id", "expected_paths"),
    [
        pytest.param("lobby_1", "lift-car", [], id="valid"),
        pytest.param("Lobby", "lift", ["cameras.Lobby"], id="uppercase-camera"),
        pytest.param("lobby", "lift car", ['cameras.lobby.zones."lift car"'], id="space-zone"),
        pytest.param(
            "_lobby",
            "-lift",
            ["cameras._lobby", "cameras._lobby.zones.-lift"],
            id="leading-punctuation",
        ),
        pytest.param("a" * 64, "z", ["cameras." + "a" * 64], id="too-long"),
    ],
)
def test_verify_camera_ids(camera_id: str, zone_id: str, expected_paths: list[str]) -> None:
    issues = verify_camera_ids(camera_id, _camera(zones={zone_id: {"polygon": SQUARE}}))
    assert [issue.path for issue in issues] == expected_paths
    assert all("is not a slug" in issue.message for issue in issues)


def test_check_camera_collects_everything() -> None:
    camera = _camera(
        zones={"Bow": {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}},
        hazards=[{"kind": "falling_object", "zone": "nope"}],
    )
    issues = check_camera("cam", camera)
    assert [issue.path for issue in issues] == [
        "cameras.cam.zones.Bow",
        "cameras.cam.zones.Bow.polygon",
        "cameras.cam.hazards[0].zone",
        "cameras.cam.floors",
    ]
    assert all(isinstance(issue, ConfigIssue) for issue in issues)


@pytest.mark.parametrize(
    ("raw", "zones", "hazards", "floors", "expected"),
    [
        pytest.param(
            {
                "colour": "red",
                "zones": {"lane": {"polygon": [[0, 0], [1, 0]], "colour": "red"}},
                "hazards": [{"kind": "fire_lane_blocked", "zone": "gate"}],
            },
            {"lane": True},
            [True],
            None,
            ["cameras.cam.zones.lane.polygon", "cameras.cam.hazards[0].zone"],
            id="unknown-keys-set-aside",
        ),
        pytest.param(
            {
                "zones": {"lane": {"polygon": SQUARE, "anchor": "middle"}},
                "hazards": [
                    {"kind": "smoke", "zone": "lane"},
                    {"kind": "falling_object", "zone": "lane", "min_drop_floors": 0},
                    {"kind": "fire_lane_blocked", "zone": "lane"},
                ],
                "floors": {"count": 0, "lowest_visible_floor": 1, "lines": [0.1, 0.2]},
            },
            {"lane": False},
            [False, False, True],
            False,
            [],
            id="invalid-parts-skipped-not-called-missing",
        ),
        pytest.param(
            {"zones": [1, 2], "hazards": {"kind": "x"}, "floors": 3},
            {},
            [],
            False,
            [],
            id="wrong-containers",
        ),
        pytest.param("not a camera", {}, [], None, [], id="not-a-mapping"),
    ],
)
def test_camera_parts_from_raw(
    raw: Any,
    zones: dict[str, bool],
    hazards: list[bool],
    floors: bool | None,
    expected: list[str],
) -> None:
    parts = CameraParts.from_raw(raw)
    assert {zone_id: zone is not None for zone_id, zone in parts.zones.items()} == zones
    assert [hazard is not None for hazard in parts.hazards] == hazards
    given = floors is not None
    assert parts.floors_given is given and (parts.floors is not None) is bool(floors)
    assert [issue.path for issue in check_camera("cam", parts)] == expected


def test_parts_of_a_valid_camera_check_the_same() -> None:
    camera = _camera(
        zones={"Bow": {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}},
        hazards=[{"kind": "falling_object", "zone": "nope"}],
    )
    assert check_camera("cam", CameraParts.of(camera)) == check_camera("cam", camera)
