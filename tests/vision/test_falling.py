"""Motion analysis for falling objects: floor scale, background, blobs, blob tracker, physics.

Trajectory tables in normalized units (x in frame widths, y in frame heights, t in seconds at
25 fps). The facade of these tests has 9 floor lines bounding floors 3..10 of a 12-floor
building, each band 0.11 of the frame height (g ≈ 3.3 floors/s² ≈ 0.36 frame heights/s²).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from vision.falling import (
    BackgroundModel,
    Blobs,
    BlobTracker,
    FallReason,
    FallSettings,
    FloorScale,
    MotionState,
    assess_fall,
    coherent_start,
    find_blobs,
    fit_trajectory,
    origin_of,
)

LINES = (0.05, 0.16, 0.27, 0.38, 0.49, 0.60, 0.71, 0.82, 0.93)
FLOORS = FloorScale(LINES, lowest_visible_floor=3, floor_count=12)
FPS = 25.0
G_NORM = 0.36  # frame heights per s² ≈ 3.3 floors/s²
W_PX, H_PX = 480, 270
ASPECT = W_PX / H_PX


def sill(floor: int) -> float:
    """Normalized y of a window sill (3/4 down the band) of a visible floor."""
    i = 10 - floor
    return LINES[i] + 0.75 * (LINES[i + 1] - LINES[i])


def path_points(
    position: Callable[[float], tuple[float, float]],
    duration_s: float,
    noise_px: float = 0.5,
    seed: int = 0,
    t0_s: float = 0.0,
) -> np.ndarray:
    """(n, 3) points (x_norm, y_norm, t) of a path sampled at 25 fps with centroid noise."""
    rng = np.random.default_rng(seed)
    times = t0_s + np.arange(round(duration_s * FPS)) / FPS
    xy = np.array([position(t - t0_s) for t in times], np.float64)
    xy[:, 0] += rng.normal(0, noise_px / W_PX, len(times))
    xy[:, 1] += rng.normal(0, noise_px / H_PX, len(times))
    return np.column_stack([xy, times])


def ballistic(
    x0: float, y0: float, vx: float = 0.0, vy: float = 0.0, a: float = G_NORM
) -> Callable[[float], tuple[float, float]]:
    return lambda t: (x0 + vx * t, y0 + vy * t + 0.5 * a * t * t)


def hover_then_dive(t: float) -> tuple[float, float]:
    """Up and down by ±0.06 for 2.4 s (3 cycles), then a dive that accelerates like a fall."""
    if t < 2.4:
        return (0.5, 0.3 + 0.06 * math.sin(2 * math.pi * t / 0.8))
    d = t - 2.4
    return (0.5, 0.3 + 0.06 * 2 * math.pi / 0.8 * d + 0.5 * G_NORM * d * d)


def leaf_then_fall() -> np.ndarray:
    leaf = np.array([[0.2 + 0.002 * (i % 2), 0.1, i / FPS] for i in range(5)])
    fall = path_points(ballistic(0.5, sill(9)), 1.6, t0_s=5 / FPS)
    return np.vstack([leaf, fall])


# ----- FloorScale ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_norm", "level", "floor"),
    [
        (0.93, 2.0, 3),  # the last line: base of floor 3 (level 2)
        (0.875, 2.5, 3),
        (0.82, 3.0, 4),  # on a line: the floor above it
        (0.05, 10.0, 10),  # the top line: clamped to the top visible floor
        (0.105, 9.5, 10),
        (0.0, 10.0 + 0.05 / 0.11, 10),  # above the top line: extrapolated, clamped
        (0.99, 2.0 - 0.06 / 0.11, 3),  # below the last line: extrapolated, clamped
    ],
    ids=["last-line", "mid-floor-3", "line-floor-4", "top-line", "mid-top", "above", "below"],
)
def test_floor_scale_levels(y_norm: float, level: float, floor: int) -> None:
    assert FLOORS.level_of(y_norm) == pytest.approx(level, abs=1e-9)
    assert FLOORS.floor_at(y_norm) == floor
    assert FLOORS.y_of_level(level) == pytest.approx(y_norm, abs=1e-9)


def test_floor_scale_band_height() -> None:
    assert FLOORS.floors_per_norm(0.5) == pytest.approx(1 / 0.11)
    uneven = FloorScale((0.1, 0.2, 0.5), 1, 2)
    assert uneven.floors_per_norm(0.15) == pytest.approx(10.0)
    assert uneven.floors_per_norm(0.4) == pytest.approx(1 / 0.3)
    assert uneven.floor_at(0.15) == 2 and uneven.floor_at(0.3) == 1


@pytest.mark.parametrize(
    ("lines", "lowest", "count", "error"),
    [
        ((0.5,), 1, 5, "at least 2"),
        ((0.1, 1.2), 1, 5, "0..1"),
        ((0.1, 0.3, 0.3), 1, 5, r"line\[2\] = 0.3 is not below line\[1\]"),
        ((0.1, 0.3), 0, 5, "lowest_visible_floor must be >= 1"),
        ((0.1, 0.2, 0.3, 0.4), 3, 4, r"floor_count \(4\) is below the top visible floor \(5"),
    ],
    ids=["one-line", "outside", "not-increasing", "floor-zero", "count-too-small"],
)
def test_floor_scale_rejects_bad_config(
    lines: tuple[float, ...], lowest: int, count: int, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        FloorScale(lines, lowest, count)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("min_points", 3, "min_points must be >= 4"),
        ("background_tau_s", 0.0, "background_tau_s must be > 0"),
        ("max_fit_rms_norm", -0.1, "max_fit_rms_norm must be finite and >= 0"),
        ("shake_changed_fraction", 1.5, "shake_changed_fraction must lie in 0..1"),
        ("min_accel_z", math.nan, "min_accel_z must be finite"),
    ],
    ids=["min-points", "tau-zero", "negative", "fraction", "nan"],
)
def test_settings_are_validated(field: str, value: float, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        FallSettings(**{field: value})  # type: ignore[arg-type]


# ----- BackgroundModel and find_blobs ---------------------------------------------------------


def facade_frames(n: int, seed: int = 0, noise: float = 2.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = 100 + 40 * rng.random((90, 160))
    return [
        np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]


def test_background_warms_up_then_finds_a_small_spot() -> None:
    model = BackgroundModel()
    frames = facade_frames(40)
    states = [model.update(f, i / FPS).state for i, f in enumerate(frames[:30])]
    assert states[0] is MotionState.WARMUP and states[-1] is MotionState.OK
    spot = frames[30].copy()
    spot[40:42, 70:72] = 250  # 2x2 px bright speck
    fg = model.update(spot, 30 / FPS)
    assert fg.state is MotionState.OK
    assert fg.threshold is not None and fg.threshold.shape == spot.shape
    assert float(fg.threshold.min()) == pytest.approx(FallSettings().min_threshold)
    ys, xs = np.nonzero(fg.mask)
    assert set(ys.tolist()) <= {40, 41} and set(xs.tolist()) <= {70, 71} and len(xs) >= 3


def test_background_ignores_sensor_noise_and_learns_flicker() -> None:
    model = BackgroundModel()
    rng = np.random.default_rng(3)
    frames = facade_frames(100, noise=3.0)
    counts = []
    for i, frame in enumerate(frames):
        flicker = frame.copy()
        flicker[10:20, 10:20] = np.clip(flicker[10:20, 10:20] + rng.normal(0, 25), 0, 255)
        counts.append(int(np.count_nonzero(model.update(flicker, i / FPS).mask)))
    # once learned, neither noise nor the flickering patch is foreground (a rare 4-sigma excursion
    # of the patch may light a few of its pixels: <= 20 of 576,000 pixel-frames)
    assert sum(counts[60:]) <= 20
    # ... because its threshold was raised there, and there only
    fg = model.update(frames[0], 100 / FPS)
    assert fg.threshold is not None
    assert float(np.median(fg.threshold[10:20, 10:20])) > 40
    assert float(np.median(fg.threshold[40:, 40:])) == pytest.approx(14.0)


def test_background_reports_shake_and_resets() -> None:
    model = BackgroundModel()
    frames = facade_frames(60)
    for i, frame in enumerate(frames[:30]):
        model.update(frame, i / FPS)
    shaken = np.roll(frames[30], (4, 5), axis=(0, 1))
    fg = model.update(shaken, 30 / FPS)
    assert fg.state is MotionState.SHAKE and fg.changed_fraction > 0.12
    assert not fg.mask.any()
    # the background now is the shaken view; after the re-warm-up it is quiet there
    later = [
        model.update(np.roll(f, (4, 5), axis=(0, 1)), (31 + i) / FPS)
        for i, f in enumerate(frames[31:])
    ]
    assert later[-1].state is MotionState.OK and not later[-1].mask.any()


@pytest.mark.parametrize(
    ("image", "mask", "error"),
    [
        (np.zeros((10, 10), np.float32), None, "image must be uint8"),
        (np.zeros((10, 10, 3), np.uint8), None, "image must be uint8"),
        (np.zeros((10, 10), np.uint8), np.zeros((5, 5), np.uint8), "mask shape"),
    ],
    ids=["float", "colour", "mask-shape"],
)
def test_background_rejects_bad_input(
    image: np.ndarray, mask: np.ndarray | None, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        BackgroundModel().update(image, 0.0, mask)


def test_find_blobs_joins_streak_fragments_and_applies_bounds_and_offset() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[10, 10] = 255  # a speck
    mask[30:33, 40] = 255  # a streak broken in two fragments one pixel apart
    mask[34:37, 40] = 255
    mask[0:40, 60:80] = 255  # too large
    blobs = find_blobs(mask, min_area_px=1, max_area_px=100, offset_px=(100, 200))
    assert len(blobs) == 2
    order = np.argsort(blobs.centroid_px[:, 1])
    assert blobs.centroid_px[order[0]] == pytest.approx((110, 210))
    assert blobs.centroid_px[order[1]] == pytest.approx((140, 233))
    assert blobs.xyxy_px[order[1]].tolist() == [139, 229, 142, 238]
    assert blobs.threshold.tolist() == [0.0, 0.0]  # no threshold map given: unknown
    assert len(find_blobs(np.zeros((5, 5), np.uint8), 1, 10)) == 0
    levels = np.full(mask.shape, 14.0, np.float32)
    levels[33:36, 38:43] = 55.0  # the streak lies where the scene keeps moving
    sampled = find_blobs(mask, 1, 100, (100, 200), levels)
    assert sorted(sampled.threshold.tolist()) == [14.0, 55.0]


# ----- BlobTracker ----------------------------------------------------------------------------


def blobs_at(points_px: list[tuple[float, float]], threshold: float = 14.0) -> Blobs:
    xy = np.asarray(points_px, np.float64).reshape(-1, 2)
    n = len(xy)
    return Blobs(
        xy, np.full(n, 9, np.int64), np.zeros((n, 4), np.int64), np.full(n, threshold, np.float32)
    )


def run_tracker(frames: list[list[tuple[float, float]]]) -> tuple[list[list[int]], list[int]]:
    """Ids assigned to each frame's blobs (by position), and the ids that ended."""
    tracker = BlobTracker(W_PX, H_PX)
    ids_per_frame: list[list[int]] = []
    ended: list[int] = []
    for i, points in enumerate(frames):
        update = tracker.update(blobs_at(points), i / FPS)
        ended += update.finished
        by_position = {(tr.x_px[-1], tr.y_px[-1]): tr.track_id for tr in update.live}
        ids_per_frame.append([by_position[(float(x), float(y))] for x, y in points])
    return ids_per_frame, ended


def fall_px(
    frames: int, y0: float, a_px_frame2: float, x: float = 200.0
) -> list[tuple[float, float]]:
    return [(x, y0 + 0.5 * a_px_frame2 * i * i) for i in range(frames)]


TRACKER_CASES = [
    # (frames of blob positions, expected number of distinct ids over the object's points)
    ("slow-drop", [[p] for p in fall_px(20, 30, 0.4)], 1),
    # entering from above already fast: steps of 76..84 px = 0.28..0.31 of the frame height
    ("fast-30pct-per-frame", [[(200.0, 5 + 75 * i + i * i)] for i in range(4)], 1),
    ("hard-acceleration-3h-s2", [[p] for p in fall_px(20, 5, 3 * H_PX / FPS**2)], 1),
    (
        "gap-of-3-frames",
        [[p] if not 8 <= i <= 10 else [] for i, p in enumerate(fall_px(18, 20, 0.6))],
        1,
    ),
    (
        "sideways-throw",
        [[(100 + 6 * i, 40 + 0.5 * 0.5 * i * i)] for i in range(20)],
        1,
    ),
]


@pytest.mark.parametrize(
    ("frames", "distinct"), [c[1:] for c in TRACKER_CASES], ids=[c[0] for c in TRACKER_CASES]
)
def test_tracker_keeps_one_id_per_object(
    frames: list[list[tuple[float, float]]], distinct: int
) -> None:
    ids, _ = run_tracker(frames)
    assert len({i for frame in ids for i in frame}) == distinct


def test_tracker_separates_two_objects_falling_side_by_side() -> None:
    left, right = fall_px(20, 20, 0.5, x=150), fall_px(20, 30, 0.6, x=190)
    ids, _ = run_tracker([[a, b] for a, b in zip(left, right, strict=True)])
    assert {frame[0] for frame in ids} != {frame[1] for frame in ids}
    assert len({frame[0] for frame in ids}) == 1 and len({frame[1] for frame in ids}) == 1


def test_tracker_stationary_blob_does_not_jump_after_a_gap() -> None:
    frames = [[(100.0, 50.0)]] * 6 + [[]] * 2 + [[(100.0, 90.0)]]
    ids, ended = run_tracker(frames)
    assert ids[-1][0] != ids[0][0]
    assert ids[0][0] in ended  # not moving: dropped after max_gap_young_s, state pruned


def test_tracker_rejects_a_bad_frame_size() -> None:
    with pytest.raises(ValueError, match="frame size must be positive, got 0x270"):
        BlobTracker(0, 270)


def test_tracker_prunes_ended_tracks_and_resets() -> None:
    tracker = BlobTracker(W_PX, H_PX)
    tracker.update(blobs_at([(10, 10), (300, 200)]), 0.0)
    update = tracker.update(blobs_at([]), 1.0)
    assert sorted(update.finished) == [1, 2] and not tracker.tracks
    tracker.update(blobs_at([(50, 50)]), 1.04)
    assert tracker.reset() == (3,) and not tracker.tracks


# ----- fit, coherence, origin -----------------------------------------------------------------


def test_fit_recovers_a_parabola_and_rejects_an_outlier() -> None:
    pts = path_points(ballistic(0.3, 0.2, vx=0.1, vy=0.05, a=0.8), 1.0, noise_px=0.0, t0_s=2.0)
    pts[10, 1] += 0.1  # one wrong blob
    fit = fit_trajectory(pts)
    assert not fit.inliers[10] and fit.inliers.sum() == len(pts) - 1
    assert fit.accel_norm_s2 == pytest.approx(0.8, abs=1e-6)
    assert fit.v0_norm_s == pytest.approx(0.05, abs=1e-6)
    assert fit.vx_norm_s == pytest.approx(0.1, abs=1e-6)
    assert fit.rms_y_norm < 1e-9 and fit.t0_s == 2.0
    assert fit.apex_t_s == pytest.approx(2.0 - 0.05 / 0.8)
    with pytest.raises(ValueError, match=r"need \(n >= 4, 3\) points"):
        fit_trajectory(pts[:3])


def test_coherent_start_cuts_a_foreign_head() -> None:
    assert coherent_start(leaf_then_fall(), ASPECT) == 5
    assert coherent_start(path_points(ballistic(0.5, 0.2), 1.0), ASPECT) == 0


def test_origin_is_at_most_one_floor_above_first_seen() -> None:
    # first seen falling fast at y = 0.30 (floor 8); the fit's apex is far above the frame
    pts = path_points(ballistic(0.5, 0.30, vy=0.5), 0.8, noise_px=0.0)
    fit = fit_trajectory(pts)
    assert fit.apex_t_s is not None and float(fit.y_at(fit.apex_t_s)) < 0.0
    assert origin_of(fit, pts[0], float(pts[:, 1].min()), FLOORS) == 9


# ----- the physics test: trajectory table -----------------------------------------------------

SLOW = FallSettings(max_track_points=400)

PHYSICS_CASES: list[tuple[str, np.ndarray, float, FallReason, int | None]] = [
    # id, points, min_drop_floors, expected reason, expected origin floor (None: not checked)
    ("drop-from-rest-floor-9", path_points(ballistic(0.4, sill(9)), 1.6), 2, FallReason.FALL, 9),
    (
        "drop-noisy-1.5px",
        path_points(ballistic(0.4, sill(9)), 1.6, 1.5, seed=2),
        2,
        FallReason.FALL,
        9,
    ),
    ("drop-floor-5", path_points(ballistic(0.6, sill(5)), 1.6), 2, FallReason.FALL, 5),
    (
        "sideways-throw-floor-8",
        path_points(ballistic(0.2, sill(8), vx=0.15), 1.6),
        2,
        FallReason.FALL,
        8,
    ),
    (
        "upward-throw-floor-6-apex-in-7",  # apex 0.087 above the sill: in floor 7's band
        path_points(ballistic(0.5, sill(6), vx=0.05, vy=-0.25), 2.0),
        2,
        FallReason.FALL,
        7,
    ),
    (
        "first-seen-falling-fast",  # back-extrapolation limited to one floor above first seen
        path_points(ballistic(0.5, 0.30, vy=0.5), 0.8),
        2,
        FallReason.FALL,
        9,
    ),
    ("from-above-top-line", path_points(ballistic(0.5, 0.01), 1.8), 2, FallReason.FALL, 10),
    ("near-camera-fast", path_points(ballistic(0.5, 0.2, a=3.0), 0.5), 2, FallReason.FALL, 9),
    ("leaf-head-then-fall", leaf_then_fall(), 2, FallReason.FALL, 9),
    ("drop-one-floor-min-1", path_points(ballistic(0.4, sill(9)), 0.9), 1, FallReason.FALL, 9),
    (
        "drop-one-floor-min-2",
        path_points(ballistic(0.4, sill(9)), 0.9),
        2,
        FallReason.SHORT_DROP,
        None,
    ),
    (
        "bird-horizontal",
        path_points(lambda t: (0.1 + 0.3 * t, 0.3 + 0.01 * math.sin(25 * t)), 2.0),
        2,
        FallReason.SHORT_DROP,
        None,
    ),
    (
        "bird-upward",
        path_points(ballistic(0.3, 0.8, vx=0.2, vy=-0.3, a=0.0), 2.0),
        2,
        FallReason.SHORT_DROP,
        None,
    ),
    (
        "bird-glide-down",  # 4.5 floors at constant speed
        path_points(lambda t: (0.1 + 0.2 * t, 0.1 + 0.25 * t + 0.004 * math.sin(25 * t)), 2.0),
        2,
        FallReason.NOT_ACCELERATING,
        None,
    ),
    (
        "bird-landing-decelerates",
        path_points(ballistic(0.3, 0.1, vx=0.1, vy=0.6, a=-0.3), 1.8),
        2,
        FallReason.NOT_ACCELERATING,
        None,
    ),
    (
        "cradle-slow",
        path_points(ballistic(0.5, 0.1, vy=0.05, a=0.0), 8.0),
        2,
        FallReason.NOT_ACCELERATING,
        None,
    ),
    (
        "foliage-oscillating",
        path_points(
            lambda t: (0.3 + 0.01 * math.sin(9 * t), 0.5 + 0.015 * math.sin(9 * t + 1)), 4.0
        ),
        2,
        FallReason.SHORT_DROP,
        None,
    ),
    ("blinking-light", path_points(lambda t: (0.6, 0.4), 3.0), 2, FallReason.SHORT_DROP, None),
    (
        "bird-hovering-then-diving",  # the dive fits a fall, but half the way down went up
        path_points(hover_then_dive, 3.2),
        2,
        FallReason.NOT_MONOTONIC,
        None,
    ),
    (
        "fluttering-leaf",  # accelerates, but swings sideways: x is not linear in t
        path_points(lambda t: (0.4 + 0.03 * math.sin(12 * t), 0.2 + 0.5 * G_NORM * t * t), 1.8),
        2,
        FallReason.POOR_FIT,
        None,
    ),
    (
        "swinging-sign",  # up and down by 1.5 floors, accelerating on each way down
        path_points(lambda t: (0.5, 0.4 + 0.08 * math.sin(4 * t)), 4.0),
        2,
        FallReason.SHORT_DROP,
        None,
    ),
    (
        "too-few-points",
        path_points(ballistic(0.4, sill(9), a=3.0), 0.2),
        1,
        FallReason.TOO_FEW_POINTS,
        None,
    ),
]


@pytest.mark.parametrize(
    ("points", "min_drop", "reason", "origin"),
    [c[1:] for c in PHYSICS_CASES],
    ids=[c[0] for c in PHYSICS_CASES],
)
def test_physics_table(
    points: np.ndarray, min_drop: float, reason: FallReason, origin: int | None
) -> None:
    verdict = assess_fall(points, FLOORS, min_drop, SLOW, ASPECT)
    assert verdict.reason is reason, verdict
    assert verdict.is_fall == (reason is FallReason.FALL)
    if origin is not None:
        assert verdict.origin_floor == origin
    if verdict.is_fall:
        assert verdict.drop_floors >= min_drop
        assert 0.5 <= verdict.score <= 1.0
        assert verdict.accel_floors_s2 >= SLOW.min_accel_floors_s2


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        (lambda n: np.full(n, 14.0), FallReason.FALL),
        (lambda n: np.full(n, 45.0), FallReason.CLUTTERED),
        # rested on a sill first: the slow start lies on its own raised threshold
        (lambda n: np.where(np.arange(n) < n - 10, 45.0, 14.0), FallReason.FALL),
        # the latest points hop between leaf blobs
        (lambda n: np.where(np.arange(n) < n - 8, 14.0, 45.0), FallReason.CLUTTERED),
    ],
    ids=["quiet-facade", "all-in-foliage", "start-on-own-sill", "ends-in-foliage"],
)
def test_physics_distrusts_tracks_in_clutter(
    levels: Callable[[int], np.ndarray], reason: FallReason
) -> None:
    pts = path_points(ballistic(0.4, sill(9)), 1.5)
    verdict = assess_fall(pts, FLOORS, 2, SLOW, ASPECT, thresholds=levels(len(pts)))
    assert verdict.reason is reason


def test_physics_needs_acceleration_over_the_whole_track() -> None:
    """A steady 2.6 s descent of 2 floors whose blob centroid wobbles by ±0.01 (a cradle): its
    last 0.8 s alone curve like a fall, the whole track does not."""

    def cradle(t: float) -> tuple[float, float]:
        return (0.5, 0.15 + 0.09 * t + 0.01 * math.sin(2 * math.pi * t / 1.2))

    pts = path_points(cradle, 2.6)
    last = pts[pts[:, 2] >= pts[-1, 2] - SLOW.fit_window_s]
    assert assess_fall(last, FLOORS, 0.5, SLOW, ASPECT).reason is FallReason.FALL
    assert assess_fall(pts, FLOORS, 2, SLOW, ASPECT).reason is FallReason.NOT_ACCELERATING


def test_physics_decides_as_soon_as_two_floors_are_dropped() -> None:
    """Fed frame by frame, the first passing prefix is the one that first spans 2 floors."""
    pts = path_points(ballistic(0.4, sill(9)), 2.0)
    first = next(
        n for n in range(5, len(pts)) if assess_fall(pts[:n], FLOORS, 2, SLOW, ASPECT).is_fall
    )
    drop_time_s = math.sqrt(2 * 2 * 0.11 / G_NORM)  # 2 floors from rest
    assert abs(pts[first - 1, 2] - drop_time_s) <= 0.2


def test_track_seen_in_the_last_picture_takes_a_slightly_late_picture_but_not_a_stale_one() -> None:
    """Repeated pictures between two distinct ones (a re-muxed or re-encoded stream) may space
    them a little past a young track's limit: the track still takes the next picture's blob. But
    a picture that comes after a still or frozen stretch longer than ``stale_after_s`` starts a
    new track, even though no picture missed the old one (the looped end-to-end clip's second
    fall went into the first fall's track; the near-repeat fast drop of the suite was missed when
    every late picture was refused)."""
    settings = FallSettings()
    tracker = BlobTracker(W_PX, H_PX, settings)
    (first,) = tracker.update(blobs_at([(200.0, 40.0)]), 0.0).live
    late = settings.max_gap_young_s + 0.03
    assert tracker.expire(late) == ()  # repeats only: not missed
    (same,) = tracker.update(blobs_at([(200.0, 44.0)]), late).live
    assert same.track_id == first.track_id and len(same) == 2
    stale = late + settings.stale_after_s + 0.05
    assert tracker.expire(stale) == ()  # a frozen stream: still not missed by any picture
    update = tracker.update(blobs_at([(205.0, 60.0)]), stale)
    assert update.finished == (first.track_id,)
    assert [t.track_id for t in update.live] != [first.track_id]
