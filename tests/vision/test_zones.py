"""Zones: normalized geometry turned into pixels once per frame size, membership on an anchor
point, and line crossings with hysteresis, as trajectory tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from vision.types import ZoneEventKind
from vision.zones import Anchor, LineZone, PolygonZone, anchor_points

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


# ----- polygons: membership ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "anchor", "inside"),
    [
        ((300, 250, 340, 300), Anchor.BOTTOM_CENTER, True),
        ((300, 50, 340, 100), Anchor.BOTTOM_CENTER, False),
        ((140, 250, 180, 300), Anchor.BOTTOM_CENTER, True),  # anchor x 160: on the left edge
        ((139, 250, 179, 300), Anchor.BOTTOM_CENTER, False),  # 1 px left of the edge
        ((300, 140, 340, 180), Anchor.BOTTOM_CENTER, True),  # anchor y 180: on the top edge
        ((300, 139, 340, 179), Anchor.BOTTOM_CENTER, False),  # 1 px above
        ((300, 120, 340, 200), Anchor.BOTTOM_CENTER, True),  # bottom inside, centre outside
        ((300, 120, 340, 200), Anchor.CENTER, False),
        ((300, 120, 340, 200), Anchor.TOP_CENTER, False),
        ((420, 300, 480, 360), Anchor.BOTTOM_CENTER, True),  # clipped at the frame bottom
        ((600, 300, 640, 360), Anchor.BOTTOM_CENTER, False),  # at the frame border, outside lane
    ],
    ids=[
        "inside",
        "above-lane",
        "on-left-edge",
        "just-left-of-edge",
        "on-top-edge",
        "just-above-edge",
        "bottom-in-centre-out-by-bottom",
        "bottom-in-centre-out-by-centre",
        "bottom-in-centre-out-by-top",
        "at-frame-bottom",
        "at-frame-corner",
    ],
)
def test_contains_boxes_decides_on_the_anchor(
    box: tuple[float, ...], anchor: Anchor, inside: bool
) -> None:
    zone = PolygonZone("lane", LANE, anchor=anchor)
    assert zone.contains_boxes(np.array([box], np.float32), W_PX, H_PX).tolist() == [inside]


def test_contains_boxes_flicker_at_the_edge_is_decided_per_frame() -> None:
    # A box whose anchor jitters across the left edge: membership is the anchor's, frame by frame.
    zone = PolygonZone("lane", LANE)
    xs = [158, 162, 159, 161, 157]
    boxes = np.array([[x - 20, 250, x + 20, 300] for x in xs], np.float32)
    assert zone.contains_boxes(boxes, W_PX, H_PX).tolist() == [False, True, False, True, False]


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
