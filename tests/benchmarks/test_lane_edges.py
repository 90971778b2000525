"""Issue 9's zone-edge scenarios: vehicles parked across each edge of a roughly drawn lane zone,
and e-bikes left across the lift car's edge.

The generator places a vehicle so that a stated fraction of its footprint (the bottom quarter of
its box) is in the zone; these tests check that geometry against the zone code the rules use,
and that the clips' bottom-centre anchors are outside the zone (what made them misses before).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scenarios import lane, lift
from benchmarks.scenarios.actors import SpriteActor
from benchmarks.scenarios.errors import ScenarioError
from benchmarks.scenarios.sprites import MaskStyle, Sprite
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


def _ebike_sprite() -> Sprite:
    bgr = np.full((200, 160, 3), 90, np.uint8)
    alpha = np.ones((200, 160), np.float32)
    return Sprite("test_ebike", "motorbike", bgr, alpha, MaskStyle.FEATHER, (0, 0, 160, 200))


@pytest.mark.parametrize("inside", [0.42, 0.36, 0.07])
def test_lift_straddle_leaves_the_ebike_across_the_car_edge(inside: float) -> None:
    image = np.zeros((lift.HEIGHT_PX, lift.WIDTH_PX, 3), np.uint8)
    plan = lift.plan_lift_straddle(
        np.random.default_rng(3), _ebike_sprite(), image, "x", inside=inside
    )
    actor = plan.actors[0]
    assert isinstance(actor, SpriteActor)
    x1, y1, x2, y2 = actor.box_at(plan.duration_s - 0.1, lift.WIDTH_PX, lift.HEIGHT_PX) or (0,) * 4
    zone = PolygonZone(lift.LIFT_ZONE_ID, lift.LIFT_POLYGON_NORM)
    box = np.array([[x1, y1, x2, y2]], float)
    of_footprint, _ = zone.footprint_overlap(box, lift.WIDTH_PX, lift.HEIGHT_PX)
    assert of_footprint[0] == pytest.approx(inside, abs=0.02)
    assert not lift.in_lift(((x1 + x2) / 2, y2))  # its anchor is outside the car
    if inside >= 0.3:
        (truth,) = plan.label.expected
        assert truth.end_s is None and 0 < truth.onset_s < plan.duration_s
        assert "positive" in plan.label.tags
    else:
        assert plan.label.expected == () and "negative" in plan.label.tags
