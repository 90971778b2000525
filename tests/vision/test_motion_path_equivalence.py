"""The motion path's cheaper code gives exactly what the plain code gave.

The falling-object analysis runs on every frame of every facade camera, so its steps were made
cheaper (uint16 labels, fewer full-size temporaries, OpenCV instead of numpy); the events must
not change by a single bit. Each test runs the step against a plain reference (the code as it
was before) on random and structured inputs and demands identical outputs.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.falling import (
    BackgroundModel,
    Blobs,
    BlobTracker,
    FallSettings,
    Foreground,
    MotionState,
    changed_pixels,
    find_blobs,
    greedy_pairs,
)

pytestmark = pytest.mark.timeout(60)


def reference_find_blobs(
    mask: np.ndarray,
    min_area_px: int,
    max_area_px: int,
    offset_px: tuple[int, int] = (0, 0),
    threshold: np.ndarray | None = None,
    changed: np.ndarray | None = None,
) -> Blobs:
    """find_blobs as it was (int32 labels, boolean masks, np.clip)."""
    if not cv2.countNonZero(mask):
        return Blobs.empty()
    joined = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
    stats, centroids = stats[1:count], centroids[1:count]
    area = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    keep = (area >= min_area_px) & (area <= max_area_px)
    stats, centroids, area = stats[keep], centroids[keep], area[keep]
    fresh = None
    if changed is not None:
        hits = labels[(changed != 0) & (mask != 0)]
        fresh = (np.bincount(hits, minlength=count)[1:count] > 0)[keep]
    levels = np.zeros(len(area), np.float32)
    if threshold is not None and len(area):
        cx = np.clip(np.rint(centroids[:, 0]).astype(np.intp), 0, mask.shape[1] - 1)
        cy = np.clip(np.rint(centroids[:, 1]).astype(np.intp), 0, mask.shape[0] - 1)
        levels = threshold[cy, cx].astype(np.float32)
    ox, oy = offset_px
    x1 = stats[:, cv2.CC_STAT_LEFT].astype(np.int64) + ox
    y1 = stats[:, cv2.CC_STAT_TOP].astype(np.int64) + oy
    xyxy = np.stack(
        [x1, y1, x1 + stats[:, cv2.CC_STAT_WIDTH], y1 + stats[:, cv2.CC_STAT_HEIGHT]], axis=1
    )
    centroids = centroids.astype(np.float64) + np.array([ox, oy])
    return Blobs(centroids, area, xyxy.astype(np.int64), levels, fresh)


def assert_same_blobs(got: Blobs, want: Blobs) -> None:
    for name in ("centroid_px", "area_px", "xyxy_px", "threshold"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    if want.fresh is None:
        assert got.fresh is None
    else:
        assert got.fresh is not None
        np.testing.assert_array_equal(got.fresh, want.fresh)


def random_case(
    seed: int, shape: tuple[int, int], density: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A foreground mask (0/255), a 'changed' map (0/1) and a threshold map."""
    rng = np.random.default_rng(seed)
    mask = np.where(rng.random(shape) < density, 255, 0).astype(np.uint8)
    # some solid blobs too, of several sizes, partly off the edges
    for _ in range(6):
        x, y = int(rng.integers(-5, shape[1])), int(rng.integers(-5, shape[0]))
        cv2.circle(mask, (x, y), int(rng.integers(1, 9)), 255, -1)
    changed = (rng.random(shape) < 0.3).astype(np.uint8)
    threshold = rng.uniform(14, 60, shape).astype(np.float32)
    return mask, changed, threshold


@pytest.mark.parametrize(
    ("shape", "density"),
    [
        ((255, 461), 0.002),  # the facade zone of the bench, sparse
        ((255, 461), 0.02),
        ((255, 461), 0.3),  # dense: many components touching
        ((7, 9), 0.5),  # tiny
        ((600, 600), 0.05),  # too many possible components for uint16 labels: int32 path
    ],
    ids=["facade-sparse", "facade-some", "facade-dense", "tiny", "large-int32"],
)
def test_find_blobs_matches_reference(shape: tuple[int, int], density: float) -> None:
    for seed in range(4):
        mask, changed, threshold = random_case(seed, shape, density)
        for kwargs in (
            {},
            {"threshold": threshold},
            {"threshold": threshold, "changed": changed},
            {"changed": changed.astype(bool)},  # a bool map is read as nonzero = changed
        ):
            got = find_blobs(mask, 2, 400, (10, 8), **kwargs)  # type: ignore[arg-type]
            want = reference_find_blobs(mask, 2, 400, (10, 8), **kwargs)  # type: ignore[arg-type]
            assert_same_blobs(got, want)


def test_find_blobs_nothing_changed_is_not_fresh() -> None:
    mask, _, _ = random_case(7, (255, 461), 0.01)
    changed = np.zeros(mask.shape, np.uint8)
    got = find_blobs(mask, 1, 10_000, changed=changed)
    assert got.fresh is not None and len(got) > 0
    assert not got.fresh.any()
    assert_same_blobs(got, reference_find_blobs(mask, 1, 10_000, changed=changed))


def reference_greedy_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """BlobTracker._match's loop as it was: every pair of cost <= 1 visited, cheapest first."""
    rows, cols = np.nonzero(cost <= 1.0)
    order = np.argsort(cost[rows, cols], kind="stable")
    used_rows: set[int] = set()
    free = np.ones(cost.shape[1], bool)
    taken = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_rows or not free[c]:
            continue
        used_rows.add(r)
        free[c] = False
        taken.append((r, c))
    return taken


@pytest.mark.parametrize(
    ("rows", "cols", "spread"),
    [
        (0, 5, 1.0),
        (5, 0, 1.0),
        (1, 1, 1.0),
        (26, 23, 2.0),
        (26, 23, 0.6),
        (40, 3, 1.5),
        (3, 40, 1.5),
        (12, 12, 1.0),
    ],
    ids=["no-rows", "no-cols", "one", "foliage", "all-close", "tall", "wide", "square"],
)
def test_greedy_pairs_matches_reference(rows: int, cols: int, spread: float) -> None:
    rng = np.random.default_rng(rows * 100 + cols)
    for _ in range(50):
        cost = rng.uniform(0, spread, (rows, cols))
        cost[rng.random((rows, cols)) < 0.2] = 1.0  # exactly on the gate
        if rows and cols:  # ties between pairs
            cost[rng.integers(0, rows), :] = 0.5
        assert greedy_pairs(cost) == reference_greedy_pairs(cost)


class ReferenceBackgroundModel:
    """BackgroundModel.update as it was (a temporary per step)."""

    def __init__(self, settings: FallSettings) -> None:
        self.settings = settings
        self._mean: np.ndarray | None = None
        self._dev: np.ndarray | None = None
        self._start_s = self._last_s = self._quiet_until_s = 0.0
        self._learning = True

    def update(self, image: np.ndarray, pts_s: float, mask: np.ndarray | None) -> Foreground:
        s = self.settings
        frame = image.astype(np.float32)
        if self._mean is None or self._dev is None:
            self._mean = frame
            self._dev = np.full_like(frame, s.min_threshold / s.threshold_sigma)
            self._start_s = self._last_s = pts_s
            self._quiet_until_s = pts_s + s.warmup_s
            self._learning = True
            return Foreground(np.zeros(image.shape, np.uint8), 0.0, MotionState.WARMUP)
        dt = max(pts_s - self._last_s, 1e-6)
        elapsed = max(pts_s - self._start_s, dt)
        self._last_s = pts_s
        alpha = min(1.0, max(dt / s.background_tau_s, dt / elapsed))
        alpha_dev = min(1.0, max(dt / s.deviation_tau_s, dt / elapsed))
        diff = cv2.absdiff(frame, self._mean)
        threshold = np.maximum(self._dev * s.threshold_sigma, np.float32(s.min_threshold))
        fg = cv2.compare(diff, threshold, cv2.CMP_GT)
        if mask is not None:
            fg = cv2.bitwise_and(fg, fg, mask=mask)
            total = max(cv2.countNonZero(mask), 1)
        else:
            total = fg.size
        changed = cv2.countNonZero(fg) / total
        if self._learning and pts_s >= self._quiet_until_s:
            self._learning = False
        if changed > s.shake_changed_fraction and not self._learning:
            self._mean = frame
            self._quiet_until_s = pts_s + s.rewarm_s
            return Foreground(
                np.zeros(image.shape, np.uint8), changed, MotionState.SHAKE, threshold
            )
        kernel = np.ones((3, 3), np.uint8)
        moving = cv2.dilate(fg, kernel)
        cv2.accumulateWeighted(frame, self._mean, alpha, mask=cv2.bitwise_not(moving))
        cv2.accumulateWeighted(frame, self._mean, alpha * s.foreground_learning, mask=moving)
        cv2.accumulateWeighted(np.minimum(diff, np.float32(s.deviation_cap)), self._dev, alpha_dev)
        if pts_s < self._quiet_until_s:
            return Foreground(
                np.zeros(image.shape, np.uint8), changed, MotionState.WARMUP, threshold
            )
        return Foreground(fg, changed, MotionState.OK, threshold)


def scene_frames(seed: int, n: int, shape: tuple[int, int]) -> list[np.ndarray]:
    """A noisy textured wall with swaying patches, falling dots and one global light change."""
    rng = np.random.default_rng(seed)
    wall = rng.integers(40, 200, shape).astype(np.float32)
    wall = cv2.GaussianBlur(wall, (0, 0), 2.0)
    frames = []
    for i in range(n):
        image = wall + rng.normal(0, 3, shape)
        image[20:60, 30:90] += 25 * np.sin(i * 0.7) * rng.random((40, 60))  # foliage
        y = (i * 7) % shape[0]
        image[y : y + 3, 100 + i % 50 : 103 + i % 50] = 250  # a falling dot
        if i == n // 2:
            image += 60  # lights on: a shake
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize(
    ("settings", "masked"),
    [
        (FallSettings(), True),
        (FallSettings(), False),
        (FallSettings(threshold_sigma=3.7, min_threshold=9.5, deviation_cap=33.3), True),
    ],
    ids=["defaults-zone", "defaults-whole", "odd-settings"],
)
def test_background_model_matches_reference(settings: FallSettings, masked: bool) -> None:
    shape = (120, 200)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.array([[5, 5], [190, 10], [180, 115], [10, 100]], np.int32)], 255)
    model, reference = BackgroundModel(settings), ReferenceBackgroundModel(settings)
    states = set()
    for i, image in enumerate(scene_frames(3, 120, shape)):
        pts_s = i * 0.04 + (0.013 if i % 7 == 0 else 0.0)  # uneven steps
        got = model.update(image, pts_s, mask if masked else None)
        want = reference.update(image, pts_s, mask if masked else None)
        assert got.state is want.state, f"frame {i}"
        assert got.changed_fraction == want.changed_fraction, f"frame {i}"
        np.testing.assert_array_equal(got.mask, want.mask, err_msg=f"frame {i}")
        if want.threshold is None:
            assert got.threshold is None
        else:
            assert got.threshold is not None and got.threshold.dtype == want.threshold.dtype
            np.testing.assert_array_equal(got.threshold, want.threshold, err_msg=f"frame {i}")
        states.add(want.state)
    assert states == {MotionState.WARMUP, MotionState.OK, MotionState.SHAKE}


@pytest.mark.parametrize("min_diff", [0.0, 0.5, 2.0, 2.5, 12.0, 254.5, 255.0, 300.0])
def test_changed_pixels_matches_numpy(min_diff: float) -> None:
    rng = np.random.default_rng(int(min_diff * 10))
    image = rng.integers(0, 256, (255, 461), dtype=np.uint8)
    previous = rng.integers(0, 256, (255, 461), dtype=np.uint8)
    previous[:100] = image[:100]  # unchanged rows
    previous[100:110] = np.clip(image[100:110].astype(int) + 2, 0, 255)  # near the threshold
    got = changed_pixels(image[5:250, 3:460], previous[5:250, 3:460], min_diff)  # views
    want = np.asarray(cv2.absdiff(image, previous) > min_diff, np.uint8)[5:250, 3:460]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def test_fragment_tails_are_forgotten_with_their_fragments() -> None:
    """The tracker keeps each ended fragment's points for stitching: no longer than the
    fragment itself (per-track state is pruned when the track ends)."""
    rng = np.random.default_rng(5)
    tracker = BlobTracker(480, 270)
    t_s = 0.0
    for i in range(300):  # foliage: blobs that jitter, vanish and come back, plus a fall
        n = int(rng.integers(5, 25))
        xy = rng.uniform([0, 0], [480, 270], (n, 2))
        xy = np.vstack([xy, [[240.0, (i % 40) * 6.0]]])
        area = np.full(len(xy), 6, np.int64)
        boxes = np.zeros((len(xy), 4), np.int64)
        tracker.update(Blobs(xy, area, boxes, np.zeros(len(xy), np.float32)), t_s)
        t_s += 0.04
    assert tracker._tails, "the scene made no fragment to stitch: the test tests nothing"
    for _ in range(40):  # 1.6 s of empty pictures: every fragment is too old to stitch
        tracker.update(Blobs.empty(), t_s)
        t_s += 0.04
    assert not tracker._ended
    assert not tracker._tails
