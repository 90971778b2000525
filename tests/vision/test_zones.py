"""Zones: normalized geometry turned into pixels once per frame size, polygon membership by
footprint overlap with hysteresis, and line crossings with hysteresis, as trajectory tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from vision.types import ZoneEventKind
from vision.zones import (
    Anchor,
    LineZone,
    Membership,
    MembershipState,
    PolygonZone,
    anchor_points,
    footprint_boxes,
)

W_PX, H_PX = 640, 360
IN, OUT = ZoneEventKind.CROSS_IN, ZoneEventKind.CROSS_OUT

# A lane: the middle of the frame, from x 0.25 to 0.75 and y 0.5 to 1.0.
LANE = [(0.25, 0.5), (0.75, 0.5), (0.75, 1.0), (0.25, 1.0)]


# ----- anchors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.BOTTOM_CENTER, [[15, 40], [2, 8]]),
        (Anchor.CENTER, [[15, 25], [2, 5]]),
        (Anchor.TOP_CENTER, [[15, 10], [2, 2]]),
    ],
    ids=["bottom-center", "center", "top-center"],
)
def test_anchor_points(anchor: Anchor, expected: list[list[float]]) -> None:
    boxes = np.array([[10, 10, 20, 40], [0, 2, 4, 8]], np.float32)
    points = anchor_points(boxes, anchor)
    assert points.dtype == np.float32 and points.shape == (2, 2)
    np.testing.assert_allclose(points, expected)


def test_anchor_points_of_no_boxes() -> None:
    assert anchor_points(np.zeros((0, 4)), Anchor.CENTER).shape == (0, 2)


# ----- polygons: pixels and masks per frame size --------------------------------------------------


def test_polygon_pixels_are_computed_once_per_frame_size() -> None:
    zone = PolygonZone("lane", LANE)
    first = zone.polygon_px(W_PX, H_PX)
    np.testing.assert_allclose(first, [[160, 180], [480, 180], [480, 360], [160, 360]])
    assert zone.polygon_px(W_PX, H_PX) is first  # cached
    other = zone.polygon_px(1280, 720)
    np.testing.assert_allclose(other, [[320, 360], [960, 360], [960, 720], [320, 720]])
    again = zone.polygon_px(W_PX, H_PX)
    np.testing.assert_allclose(again, first)  # back to the first size: recomputed, same values


def test_mask_is_cached_per_size_and_follows_the_size() -> None:
    zone = PolygonZone("lane", LANE)
    mask = zone.mask(W_PX, H_PX)
    assert mask.shape == (H_PX, W_PX) and mask.dtype == np.uint8
    assert zone.mask(W_PX, H_PX) is mask
    assert mask.mean() == pytest.approx(zone.area_norm, abs=0.01)
    big = zone.mask(1280, 720)
    assert big.shape == (720, 1280) and big.mean() == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize(
    ("polygon", "area"),
    [(LANE, 0.25), ([(0, 0), (1, 0), (0, 1)], 0.5), ([(0, 0), (1, 0), (1, 1), (0, 1)], 1.0)],
    ids=["lane", "triangle", "whole-frame"],
)
def test_polygon_area(polygon: Sequence[tuple[float, float]], area: float) -> None:
    assert PolygonZone("z", polygon).area_norm == pytest.approx(area)


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([(0, 0), (1, 1)], r"zone z: polygon needs >= 3 \[x, y\] points, got \(2, 2\)"),
        ([(0, 0), (1.2, 0), (1, 1)], "zone z: polygon coordinates must lie in 0..1"),
        ([(0, 0, 0), (1, 0, 0), (1, 1, 0)], r"got \(3, 3\)"),
    ],
    ids=["two-points", "outside-frame", "3d-points"],
)
def test_polygon_rejects_bad_geometry(polygon: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolygonZone("z", polygon)


def test_polygon_rejects_an_empty_frame_size() -> None:
    with pytest.raises(ValueError, match="zone z: frame size must be positive, got 0x360"):
        PolygonZone("z", LANE).polygon_px(0, 360)


# ----- polygons: membership by footprint overlap -------------------------------------------------

# A lane drawn roughly: x 160..480 px, y 180..324 px (its near edge 36 px above the frame bottom).
ROUGH = [(0.25, 0.5), (0.75, 0.5), (0.75, 0.9), (0.25, 0.9)]
CAR = (160, 80)  # a car box, w x h: its footprint is its bottom 20 px (a quarter)


def car_box(x1: float, y2: float) -> tuple[float, float, float, float]:
    return (x1, y2 - CAR[1], x1 + CAR[0], y2)


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.BOTTOM_CENTER, [10, 60, 50, 80]),
        (Anchor.CENTER, [10, 30, 50, 50]),
        (Anchor.TOP_CENTER, [10, 0, 50, 20]),
    ],
)
def test_footprint_is_the_band_at_the_anchor(anchor: Anchor, expected: list[float]) -> None:
    got = footprint_boxes(np.array([[10, 0, 50, 80]]), anchor, 0.25)
    assert got.tolist() == [expected]


@pytest.mark.parametrize(
    ("box", "inside"),
    [
        (car_box(240, 300), True),
        (car_box(240, 334), True),  # bottom 10 px below the near edge: half its footprint in
        (car_box(240, 190), True),  # far edge: bottom 10 px inside, the body above the lane
        (car_box(60, 280), True),  # left edge: centre x 140 outside, 60 of 160 px in
        (car_box(420, 280), True),  # right edge: centre x 500 outside, 60 of 160 px in
        (car_box(240, 342), False),  # near edge by a sliver: 2 of 20 px rows in
        (car_box(240, 182), False),  # far edge by a sliver: 2 px rows in
        (car_box(10, 280), False),  # left edge by a sliver: 10 of 160 px columns in
        (car_box(470, 280), False),  # right edge by a sliver
        ((200, 200, 440, 360), False),  # a truck in front of the lane, covering it in the picture
        (car_box(240, 130), False),  # beyond the far edge
        ((420, 300, 560, 400), False),  # cut by the frame bottom, outside the lane
    ],
    ids=[
        "inside",
        "straddles-near-edge",
        "straddles-far-edge",
        "straddles-left-edge",
        "straddles-right-edge",
        "sliver-near",
        "sliver-far",
        "sliver-left",
        "sliver-right",
        "in-front-covering-the-lane",
        "beyond-far-edge",
        "beyond-frame-bottom",
    ],
)
def test_membership_by_footprint_overlap(box: tuple[float, ...], inside: bool) -> None:
    zone = PolygonZone("lane", ROUGH)
    assert zone.contains_boxes(np.array([box], np.float32), W_PX, H_PX).tolist() == [inside]


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.6], ids=["far", "mid", "near"])
@pytest.mark.parametrize("edge", ["near", "left", "right"])
def test_straddling_any_edge_counts_at_any_size(scale: float, edge: str) -> None:
    # A car whose anchor (bottom-centre) is just outside an edge, at three apparent sizes: it
    # was outside by the anchor; 40 % of its footprint is inside.
    w, h = 160 * scale, 80 * scale
    if edge == "near":
        box = (240, 324 + 0.6 * h / 4 - h, 240 + w, 324 + 0.6 * h / 4)
    elif edge == "left":
        box = (160 - 0.6 * w, 200, 160 + 0.4 * w, 200 + h)
    else:
        box = (480 - 0.4 * w, 200, 480 + 0.6 * w, 200 + h)
    zone = PolygonZone("lane", ROUGH)
    of_footprint, _ = zone.footprint_overlap(np.array([box]), W_PX, H_PX)
    assert of_footprint[0] == pytest.approx(0.4, abs=0.11)  # a pixel row of 10 at far
    assert zone.contains_boxes(np.array([box]), W_PX, H_PX).tolist() == [True]


def test_footprint_overlap_of_the_zone_admits_objects_larger_than_the_zone() -> None:
    # A small zone (a 32 x 36 px patch of a passage) under a van: little of the van's footprint
    # is in it, but the footprint covers most of it.
    passage = [(0.45, 0.8), (0.5, 0.8), (0.5, 0.9), (0.45, 0.9)]
    zone = PolygonZone("passage", passage)
    van = np.array([[200, 200, 500, 330]])
    of_footprint, of_zone = zone.footprint_overlap(van, W_PX, H_PX)
    assert of_footprint[0] < 0.3 and of_zone[0] > 0.5
    assert zone.contains_boxes(van, W_PX, H_PX).tolist() == [True]


def test_membership_hysteresis_keeps_a_box_jittering_on_the_edge() -> None:
    # A parked car's detector box jitters around the near edge: its footprint is 35, 20, 45,
    # 17, 40 % inside. It enters at 35 % and stays (exit below 15 %); one never in stays out.
    zone = PolygonZone("lane", ROUGH)
    state = MembershipState(zone)
    fractions = [0.35, 0.2, 0.45, 0.17, 0.4]
    boxes = [car_box(240, 324 + 20 * (1 - f)) for f in fractions]
    got = [state.update([7], np.array([b]), W_PX, H_PX)[0] for b in boxes]
    assert got == [True] * 5
    late = MembershipState(zone)
    got = [late.update([8], np.array([b]), W_PX, H_PX)[0] for b in boxes[1:2] * 3]
    assert got == [False] * 3


def test_membership_leaves_below_the_exit_overlap_and_forget_prunes() -> None:
    zone = PolygonZone("lane", ROUGH)
    state = MembershipState(zone)
    path = [car_box(240, 300), car_box(240, 338), car_box(240, 344), car_box(240, 320)]
    got = [bool(state.update(["a"], np.array([b]), W_PX, H_PX)[0]) for b in path]
    assert got == [True, True, False, True]  # 30 % in: still a member; 0 %: out
    assert state.tracked_count == 1
    state.forget(["a"])
    assert state.tracked_count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"footprint_height": 0.0}, "footprint_height"),
        ({"enter_overlap": 1.5}, "enter_overlap"),
        ({"exit_overlap": 0.5}, "exit_overlap must be in \\[0, enter_overlap"),
        ({"enter_zone_overlap": 0.0}, "enter_zone_overlap"),
        ({"enter_overlap": float("nan")}, "finite"),
    ],
)
def test_membership_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Membership(**kwargs)


def test_membership_of_no_boxes() -> None:
    state = MembershipState(PolygonZone("lane", ROUGH))
    assert state.update([], np.zeros((0, 4)), W_PX, H_PX).shape == (0,)
    with pytest.raises(ValueError, match="2 keys but 1 boxes"):
        state.update([1, 2], np.zeros((1, 4)), W_PX, H_PX)


@pytest.mark.parametrize(
    ("box", "fraction"),
    [
        ((200, 200, 260, 260), 1.0),
        ((130, 200, 190, 260), 0.5),  # half across the left edge (x 160)
        ((10, 10, 50, 50), 0.0),
        ((440, 320, 520, 400), 0.25),  # half beyond the frame bottom, half of the rest in the lane
        ((300, 250, 300, 280), 0.0),  # no width
    ],
    ids=["inside", "half-in", "outside", "beyond-frame-counts-as-outside", "degenerate"],
)
def test_box_overlap_fraction(box: tuple[float, ...], fraction: float) -> None:
    zone = PolygonZone("lane", LANE)
    got = zone.box_overlap_fraction(np.array([box], np.float32), W_PX, H_PX)
    assert got.tolist() == pytest.approx([fraction], abs=0.03)


# ----- lines: crossing with hysteresis ------------------------------------------------------------

# A door line across the middle, x 0.25..0.75 at y 0.5; inside is up (y decreasing).
DOOR = [(0.25, 0.5), (0.75, 0.5)]
INWARD_UP = (0.0, -1.0)


def box_at(x_norm: float, y_norm: float) -> tuple[float, float, float, float]:
    """A 40 x 80 px box whose bottom-centre is at (x_norm, y_norm)."""
    x, y = x_norm * W_PX, y_norm * H_PX
    return (x - 20, y - 80, x + 20, y)


def run_line(
    zone: LineZone, path: Sequence[tuple[float, float]], track_id: int = 7
) -> list[tuple[int, ZoneEventKind]]:
    """Feed one track along ``path`` (bottom-centre points), one frame each; (frame, kind) out."""
    events = []
    for k, (x, y) in enumerate(path):
        for e in zone.update("cam", [track_id], np.array([box_at(x, y)]), W_PX, H_PX, k * 0.2):
            assert (e.camera_id, e.zone, e.track_id, e.pts_s) == ("cam", "door", track_id, k * 0.2)
            events.append((k, e.kind))
    return events


def walk(x: float, ys: Sequence[float]) -> list[tuple[float, float]]:
    return [(x, y) for y in ys]


LINE_CASES = {
    "jitter-on-the-line": (walk(0.5, [0.6, 0.505, 0.497, 0.503, 0.496, 0.504, 0.6]), []),
    "jitter-straddling-stays-in-band": (walk(0.5, [0.495, 0.505, 0.495, 0.505]), []),
    "real-crossing-in": (walk(0.5, [0.8, 0.7, 0.6, 0.5, 0.4, 0.3]), [(4, IN)]),
    "crossing-in-slowly-through-the-band": (
        walk(0.5, [0.6, 0.509, 0.505, 0.5, 0.495, 0.491, 0.489, 0.4]),
        [(6, IN)],
    ),
    "crossing-out": (walk(0.5, [0.3, 0.45, 0.55, 0.7]), [(2, OUT)]),
    "in-then-out": (walk(0.5, [0.7, 0.3, 0.7]), [(1, IN), (2, OUT)]),
    "enters-band-and-turns-back": (walk(0.5, [0.7, 0.505, 0.6, 0.8]), []),
    "first-seen-inside": (walk(0.5, [0.3, 0.2, 0.1]), []),
    "first-seen-on-the-line-then-in": (walk(0.5, [0.5, 0.3]), []),
    "crossing-left-of-the-segment": (walk(0.1, [0.8, 0.3]), []),
    "crossing-right-of-the-segment": (walk(0.9, [0.8, 0.3]), []),
    "crossing-at-the-segment-end": (walk(0.75, [0.8, 0.3]), [(1, IN)]),
    "around-the-end-then-back-through": (
        [(0.9, 0.8), (0.9, 0.3), (0.5, 0.3), (0.5, 0.8)],
        [(3, OUT)],
    ),
    "one-frame-jump-across": (walk(0.5, [0.9, 0.1]), [(1, IN)]),
}


@pytest.mark.parametrize(("path", "expected"), list(LINE_CASES.values()), ids=list(LINE_CASES))
def test_line_crossing_table(
    path: list[tuple[float, float]], expected: list[tuple[int, ZoneEventKind]]
) -> None:
    assert run_line(LineZone("door", DOOR, INWARD_UP), path) == expected


@pytest.mark.parametrize(
    ("inward", "expected"),
    [((0.0, -1.0), [(1, IN)]), ((0.0, 1.0), [(1, OUT)]), ((0.3, -0.2), [(1, IN)])],
    ids=["up-is-in", "down-is-in", "only-the-side-matters"],
)
def test_line_inward_side(inward: tuple[float, float], expected: list) -> None:
    assert run_line(LineZone("door", DOOR, inward), walk(0.5, [0.8, 0.3])) == expected


def test_line_crossing_on_the_chosen_anchor() -> None:
    # Boxes are 80 px (0.22 of the height) tall: the bottom stays below the line (y 0.55 ->
    # 0.7) while the centre crosses it downwards (y 0.44 -> 0.59).
    path = walk(0.5, [0.55, 0.7])
    by_bottom = run_line(LineZone("door", DOOR, INWARD_UP, anchor=Anchor.BOTTOM_CENTER), path)
    by_centre = run_line(LineZone("door", DOOR, INWARD_UP, anchor=Anchor.CENTER), path)
    assert by_bottom == [] and by_centre == [(1, OUT)]


def test_line_tracks_are_independent_and_forget_prunes_state() -> None:
    zone = LineZone("door", DOOR, INWARD_UP)
    boxes_below = np.array([box_at(0.4, 0.7), box_at(0.6, 0.7)])
    assert zone.update("cam", [1, 2], boxes_below, W_PX, H_PX, 0.0) == []
    assert zone.tracked_count == 2 and zone.side_of(1) == -1
    events = zone.update("cam", [1], np.array([box_at(0.4, 0.3)]), W_PX, H_PX, 0.2)
    assert [(e.track_id, e.kind) for e in events] == [(1, IN)]
    zone.forget([1, 99])
    assert zone.tracked_count == 1 and zone.side_of(1) is None and zone.side_of(2) == -1
    # A forgotten id is unknown again: seen inside, then outside -> nothing, then in -> one event.
    assert zone.update("cam", [1], np.array([box_at(0.4, 0.3)]), W_PX, H_PX, 0.4) == []
    zone.forget([2])
    assert zone.tracked_count == 1


def test_line_state_stays_bounded_when_tracks_are_forgotten() -> None:
    zone = LineZone("door", DOOR, INWARD_UP)
    for tid in range(1, 2001):
        zone.update("cam", [tid], np.array([box_at(0.5, 0.8)]), W_PX, H_PX, tid * 0.2)
        zone.update("cam", [tid], np.array([box_at(0.5, 0.3)]), W_PX, H_PX, tid * 0.2 + 0.1)
        zone.forget([tid])
    assert zone.tracked_count == 0


def test_line_works_in_any_frame_size() -> None:
    zone = LineZone("door", DOOR, INWARD_UP)
    small = np.array([[150, 100, 170, 150]], np.float32)  # bottom y 150 of 180: outside
    assert zone.update("cam", [1], small, 320, 180, 0.0) == []
    big = np.array([[600, 200, 680, 260]], np.float32)  # bottom y 260 of 720: inside
    assert [e.kind for e in zone.update("cam", [1], big, 1280, 720, 0.2)] == [IN]


def test_signed_distance_is_positive_inside() -> None:
    zone = LineZone("door", DOOR, INWARD_UP)
    np.testing.assert_allclose(
        zone.signed_distance_norm(np.array([[0.5, 0.4], [0.5, 0.5], [0.5, 0.7]])), [0.1, 0, -0.2]
    )


@pytest.mark.parametrize(
    ("line", "inward", "kwargs", "message"),
    [
        ([(0.2, 0.5), (0.2, 0.5)], (0, -1), {}, "zone door: line needs two distinct"),
        ([(0.2, 0.5)], (0, -1), {}, "zone door: line needs two distinct"),
        ([(0.2, 0.5), (1.5, 0.5)], (0, -1), {}, "zone door: line coordinates must lie in 0..1"),
        (DOOR, (1, 0), {}, "zone door: inward must not be parallel to the line"),
        (DOOR, (0, -1, 0), {}, r"zone door: inward must be a 2-vector, got \[0.0, -1.0, 0.0\]"),
        (DOOR, (0, -1), {"hysteresis_norm": -0.1}, r"hysteresis_norm must lie in \[0, 0.5\)"),
    ],
    ids=["same-points", "one-point", "outside-frame", "parallel", "3-vector", "neg-hysteresis"],
)
def test_line_rejects_bad_geometry(line: list, inward: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LineZone("door", line, inward, **kwargs)


@pytest.mark.parametrize(
    ("ids", "boxes", "size", "message"),
    [
        ([1, 2], [box_at(0.5, 0.8)], (W_PX, H_PX), "zone door: 2 track ids but 1 boxes"),
        ([1], [box_at(0.5, 0.8)], (0, H_PX), "zone door: frame size must be positive, got 0x360"),
    ],
    ids=["ids-and-boxes-differ", "empty-frame"],
)
def test_line_update_rejects_bad_input(
    ids: list[int], boxes: list, size: tuple[int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LineZone("door", DOOR, INWARD_UP).update("cam", ids, np.array(boxes), *size, 0.0)
