"""Evidence pictures: zone shapes, privacy regions, pixelation, the timeline, annotation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cv2
import numpy as np
import pytest

from cameras.schema import LineZone, PolygonZone
from pipelines.snapshots import (
    HAZARD_COLOUR_BGR,
    TRAJECTORY_COLOUR_BGR,
    ZONE_COLOUR_BGR,
    LineShape,
    PolygonShape,
    PrivacyTimeline,
    annotate_snapshot,
    blur_regions,
    encode_jpeg,
    format_timestamp,
    privacy_regions_norm,
    zone_shape,
    zone_shapes,
)
from vision.types import HazardEvent, HazardKind, HazardPhase

T0 = datetime(2026, 11, 24, 8, 0, 5, tzinfo=UTC)
SQUARE = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]
SQUARE_T = ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9))


def noise_image(width: int = 320, height: int = 240, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 180, size=(height, width, 3), dtype=np.uint8)


def event(**changes: Any) -> HazardEvent:
    values: dict[str, Any] = {
        "event_id": "e1",
        "hazard_id": "h1",
        "phase": HazardPhase.START,
        "kind": HazardKind.FIRE_LANE_BLOCKED,
        "camera_id": "cam",
        "zone": "lane",
        "started_at": T0,
        "start_pts_s": 4.0,
        "score": 0.8,
        "labels": ("car",),
        "box_norm": (0.5, 0.5, 0.75, 0.75),
    }
    values.update(changes)
    return HazardEvent(**values)


def colour_near(image: np.ndarray, xy: tuple[int, int], colour: tuple[int, ...], radius: int = 2):
    x, y = xy
    patch = image[y - radius : y + radius + 1, x - radius : x + radius + 1].reshape(-1, 3)
    distance = np.abs(patch.astype(int) - np.array(colour)).sum(axis=1)
    return bool((distance < 60).any())


# ----- zone shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected", "error"),
    [
        (("polygon", SQUARE), PolygonShape(SQUARE_T), None),
        (
            ("line", [[0.2, 0.8], [0.6, 0.8]], [0, -1]),
            LineShape(((0.2, 0.8), (0.6, 0.8)), (0.0, -1.0)),
            None,
        ),
        (PolygonZone.model_validate({"polygon": SQUARE}), PolygonShape(SQUARE_T), None),
        (
            LineZone.model_validate({"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0.0, -1.0]}),
            LineShape(((0.2, 0.8), (0.6, 0.8)), (0.0, -1.0)),
            None,
        ),
        (("circle", [[0.5, 0.5]]), None, "expected ('polygon', points)"),
        ({"polygon": SQUARE}, None, "expected ('polygon', points)"),
        (("polygon", SQUARE[:2]), None, "needs at least 3 points, got 2"),
        (("polygon", [[0.1, "x"], *SQUARE]), None, "zone 'z'.polygon[0]: expected a point"),
        (("polygon", [[0.1, float("nan")], *SQUARE]), None, "point must be finite"),
        (("line", SQUARE[:3], [0, 1]), None, "needs exactly 2 points, got 3"),
        (("line", SQUARE[:2]), None, "a line is ('line', points, inward)"),
        (("line", SQUARE[:2], "up"), None, "zone 'z'.inward: expected a point"),
    ],
    ids=[
        "polygon",
        "line",
        "config-polygon",
        "config-line",
        "unknown-kind",
        "dict-not-tuple",
        "polygon-too-short",
        "polygon-bad-point",
        "polygon-nan",
        "line-three-points",
        "line-no-inward",
        "line-bad-inward",
    ],
)
def test_zone_shape(spec: Any, expected: Any, error: str | None) -> None:
    if error is not None:
        with pytest.raises(ValueError, match=re.escape(error)):
            zone_shape("z", spec)
        return
    assert zone_shape("z", spec) == expected


def test_zone_shapes_maps_every_zone_and_rejects_a_non_mapping() -> None:
    shapes = zone_shapes({"lane": ("polygon", SQUARE), "door": ("line", SQUARE[:2], [0, 1])})
    assert set(shapes) == {"lane", "door"}
    assert zone_shapes(None) == {}
    with pytest.raises(ValueError, match="expected a mapping"):
        zone_shapes([("lane", ("polygon", SQUARE))])  # type: ignore[arg-type]


# ----- privacy regions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "expected", "error"),
    [
        # person 100x200 px at (100, 20) in a 400x400 image: head = top 22 %, widened 10 %,
        # raised 5 %.
        ([((100, 20, 200, 220), "person")], [(0.225, 0.025, 0.525, 0.16)], None),
        ([((100, 20, 200, 220), "PERSON")], [(0.225, 0.025, 0.525, 0.16)], None),
        # car 200x100 px: plate band = bottom 40 %.
        ([((100, 200, 300, 300), "car")], [(0.25, 0.65, 0.75, 0.75)], None),
        ([((100, 200, 300, 300), "dog")], [], None),
        # a person at the top-left corner: clipped to the frame.
        ([((0, 0, 40, 100), "person")], [(0.0, 0.0, 0.11, 0.055)], None),
        ([((10, 10, 10, 10), "person")], [], None),
        ([((1, 2, 3), "person")], None, r"boxes\[0\]: expected \(\(x1, y1, x2, y2\), label\)"),
        ([((0, 0, 1, 1), "car"), ((5, 5, 1, 1), "car")], None, r"boxes\[1\]: needs x1 <= x2"),
        ([((0, 0, float("inf"), 1), "car")], None, r"boxes\[0\]: coordinates must be finite"),
    ],
    ids=[
        "person-head",
        "label-case",
        "vehicle-plate",
        "other-label",
        "clipped",
        "empty-box",
        "three-numbers",
        "inverted",
        "infinite",
    ],
)
def test_privacy_regions(boxes: list[Any], expected: list[Any] | None, error: str | None) -> None:
    if error is not None:
        with pytest.raises(ValueError, match=error):
            privacy_regions_norm(boxes, 400, 400)
        return
    regions = privacy_regions_norm(boxes, 400, 400)
    assert len(regions) == len(expected or [])
    for got, want in zip(regions, expected or [], strict=True):
        assert got == pytest.approx(want, abs=1e-9)


def test_privacy_regions_rejects_a_bad_image_size() -> None:
    with pytest.raises(ValueError, match="bad image size 0x240"):
        privacy_regions_norm([], 0, 240)


def test_blur_changes_the_region_and_nothing_else() -> None:
    image = noise_image()
    region = (0.25, 0.25, 0.5, 0.5)  # x 80..160, y 60..120
    out = blur_regions(image, [region])
    inside = (slice(60, 120), slice(80, 160))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.mean(np.abs(out[inside].astype(int) - image[inside].astype(int))) > 20
    outside = out.copy()
    outside[inside] = image[inside]
    assert np.array_equal(outside, image)
    # Pixelated: far fewer distinct colours than the noise had.
    cells = np.unique(out[inside].reshape(-1, 3), axis=0)
    assert len(cells) <= 6 * 6


def test_blur_with_no_or_empty_regions_is_a_copy() -> None:
    image = noise_image()
    out = blur_regions(image, [(0.5, 0.5, 0.5, 0.9)])
    assert np.array_equal(out, image) and out is not image


def test_blur_rejects_a_non_image() -> None:
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\) array, got \(4, 4\)"):
        blur_regions(np.zeros((4, 4), np.uint8), [])


# ----- the timeline --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at_s", "hold_s", "expected"),
    [
        (1.0, 0.5, "a"),
        (1.19, 0.5, "a"),
        (1.21, 0.5, "b"),
        (2.6, 0.5, "c"),
        (3.2, 0.5, None),
        (0.3, 0.5, None),
        (0.6, 0.5, "a"),
    ],
    ids=["exact", "nearer-a", "nearer-b", "last-within", "after-hold", "before-hold", "first"],
)
def test_timeline_nearest_within_hold(at_s: float, hold_s: float, expected: str | None) -> None:
    regions = {"a": (0.0, 0.0, 0.1, 0.1), "b": (0.2, 0.2, 0.3, 0.3), "c": (0.5, 0.5, 0.6, 0.6)}
    timeline = PrivacyTimeline(span_s=60.0)
    timeline.add(1.4, [regions["b"]])  # out of order on purpose: kept sorted
    timeline.add(1.0, [regions["a"]])
    timeline.add(2.5, [regions["c"]])
    got = timeline.regions_at(at_s, hold_s)
    assert got == (() if expected is None else (regions[expected],))


def test_timeline_drops_entries_older_than_its_span_and_windows_copy() -> None:
    timeline = PrivacyTimeline(span_s=5.0)
    for t in range(20):
        timeline.add(float(t), [(0.0, 0.0, 0.1, 0.1)])
    assert len(timeline) == 6  # 14..19
    window = timeline.window(16.0, 17.0)
    assert len(window) == 4  # 15, 16, 17, 18: one on either side
    timeline.add(30.0, [])
    assert len(window) == 4 and window.regions_at(16.2, 0.5) == ((0.0, 0.0, 0.1, 0.1),)
    with pytest.raises(ValueError, match="span_s must be > 0"):
        PrivacyTimeline(0.0)


# ----- annotation ----------------------------------------------------------------------------


def test_annotation_draws_zone_boxes_and_caption_below_the_frame() -> None:
    image = noise_image(320, 240)
    shape = zone_shape("lane", ("polygon", [[0.1, 0.2], [0.9, 0.2], [0.9, 0.9], [0.1, 0.9]]))
    out = annotate_snapshot(
        image,
        event=event(),
        camera_name="北门 lane",
        captured_at=T0,
        zone=shape,
        boxes=[((10, 10, 60, 100), "person")],
    )
    assert out.shape[1] == 320 and out.shape[0] > 240
    # The zone outline: midpoints of its edges in the zone colour.
    for x, y in [(160, 48), (160, 216), (32, 132), (288, 132)]:
        assert colour_near(out, (x, y), ZONE_COLOUR_BGR), (x, y)
        assert not colour_near(image, (x, y), ZONE_COLOUR_BGR), (x, y)
    # The hazard box (0.5..0.75 of the frame) in red.
    assert colour_near(out, (200, 120), HAZARD_COLOUR_BGR)
    assert colour_near(out, (240, 180), HAZARD_COLOUR_BGR)
    # The frame keeps its pixels away from the drawings.
    assert np.array_equal(out[140:160, 100:140], image[140:160, 100:140])
    # The caption strip has text on it (not one flat colour).
    strip = out[240:]
    assert strip.std() > 10


def test_annotation_draws_a_line_zone_and_a_trajectory() -> None:
    image = noise_image(320, 240)
    shape = zone_shape("door", ("line", [[0.2, 0.5], [0.8, 0.5]], [0.0, -1.0]))
    falls = event(
        kind=HazardKind.FALLING_OBJECT,
        zone="door",
        box_norm=None,
        details={"origin_floor": 7, "trajectory_norm": [[0.5, 0.1, 0.0], [0.5, 0.3, 0.1]]},
    )
    out = annotate_snapshot(image, event=falls, camera_name="facade", captured_at=T0, zone=shape)
    assert colour_near(out, (96, 120), ZONE_COLOUR_BGR)
    assert colour_near(out, (160, 48), TRAJECTORY_COLOUR_BGR)


@pytest.mark.parametrize(
    "trajectory",
    ["not a list", [[0.1]], [[0.1, "y", 0]], [[float("nan"), 0.2, 0.0]], 42],
    ids=["string", "short-point", "text-value", "nan", "number"],
)
def test_a_malformed_trajectory_is_not_drawn_and_does_not_fail(trajectory: Any) -> None:
    image = noise_image(320, 240)
    bad = event(box_norm=None, details={"trajectory_norm": trajectory})
    out = annotate_snapshot(image, event=bad, camera_name="cam", captured_at=T0)
    assert np.array_equal(out[:240], image)


def test_annotation_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        annotate_snapshot(
            np.zeros((10, 10, 3), np.float32), event=event(), camera_name="c", captured_at=T0
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        annotate_snapshot(
            noise_image(), event=event(), camera_name="c", captured_at=datetime(2026, 1, 1)
        )


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (
            timezone(timedelta(hours=8)),
            "2026-11-24 16:00:05 (UTC+08:00)  =  2026-11-24 08:00:05 UTC",
        ),
        (UTC, "2026-11-24 08:00:05 (UTC+00:00)  =  2026-11-24 08:00:05 UTC"),
        (
            timezone(timedelta(hours=-5)),
            "2026-11-24 03:00:05 (UTC-05:00)  =  2026-11-24 08:00:05 UTC",
        ),
    ],
    ids=["beijing", "utc", "new-york"],
)
def test_timestamp_shows_local_and_utc(tz: timezone, expected: str) -> None:
    assert format_timestamp(T0, tz) == expected


@pytest.mark.parametrize(("quality", "error"), [(85, None), (0, "1..100"), (101, "1..100")])
def test_encode_jpeg(quality: int, error: str | None) -> None:
    if error is not None:
        with pytest.raises(ValueError, match=error):
            encode_jpeg(noise_image(), quality)
        return
    data = encode_jpeg(noise_image(), quality)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert data[:2] == b"\xff\xd8" and decoded.shape == (240, 320, 3)
