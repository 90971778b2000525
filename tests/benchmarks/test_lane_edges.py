"""Issue 9's lane-edge scenarios: vehicles parked across each edge of a roughly drawn lane zone.

The generator places a vehicle so that a stated fraction of its footprint (the bottom quarter of
its box) is in the zone; these tests check that geometry against the zone code the rules use,
and that the clips' bottom-centre anchors are outside the zone (what made them misses before).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scenarios import lane
from benchmarks.scenarios.errors import ScenarioError
from vision.zones import PolygonZone

SIZES = [(90.0, 60.0), (180.0, 112.0), (300.0, 150.0)]  # far, mid, near (w, h in px)


def _box(edge: str, size: tuple[float, float], inside: float) -> tuple[float, ...]:
    w, h = size
    x, y = lane.straddle_point(edge, w, h, inside, 0.8 * lane.HEIGHT_PX)
    return (x - w / 2, y - h, x + w / 2, y)


@pytest.mark.parametrize("size", SIZES, ids=["far", "mid", "near"])
@pytest.mark.parametrize("inside", [0.06, 0.45, 0.75])
@pytest.mark.parametrize("edge", lane.EDGES)
def test_straddle_puts_that_much_of_the_footprint_in_the_zone(
    edge: str, inside: float, size: tuple[float, float]
) -> None:
    zone = PolygonZone(lane.ZONE_ID, lane.ROUGH_POLYGON_NORM)
    box = np.array([_box(edge, size, inside)])
    of_footprint, _ = zone.footprint_overlap(box, lane.WIDTH_PX, lane.HEIGHT_PX)
    band_px = lane.FOOTPRINT_FRACTION * size[1] if edge in ("near", "far") else size[0]
    assert of_footprint[0] == pytest.approx(
        inside, abs=0.02 + 2.0 / band_px
    )  # edge rows rasterised in
    assert zone.contains_boxes(box, lane.WIDTH_PX, lane.HEIGHT_PX)[0] == (inside > 0.3)


@pytest.mark.parametrize("edge", ["near", "left", "right"])
def test_straddling_vehicles_have_their_anchor_outside(edge: str) -> None:
    x1, _, x2, y2 = _box(edge, SIZES[1], 0.45)
    polygon = np.array(lane.ROUGH_POLYGON_NORM) * (lane.WIDTH_PX, lane.HEIGHT_PX)
    (left, far), (right, near) = polygon[0], polygon[2]
    cx = (x1 + x2) / 2
    assert not (left <= cx <= right and far <= y2 <= near)


def test_the_rough_camera_differs_from_the_lane_camera_only_by_its_zone() -> None:
    plain, rough = lane.camera_config(), lane.rough_camera_config()
    assert plain["hazards"] == rough["hazards"] and plain["detect"] == rough["detect"]
    assert plain["zones"] != rough["zones"]


@pytest.mark.parametrize(("edge", "inside"), [("top", 0.5), ("near", 1.2), ("left", -0.1)])
def test_straddle_refuses_bad_arguments(edge: str, inside: float) -> None:
    with pytest.raises(ScenarioError, match="straddle"):
        lane.straddle_point(edge, 100, 50, inside, 200)
