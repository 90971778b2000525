"""Motion analysis for objects falling from a facade: foreground → blobs → tracks → physics.

Everything here runs at the full frame rate on the luma plane at low resolution (480 wide by
default), with no detector, and takes time only from stream timestamps (``pts_s``):

* :class:`BackgroundModel` — a running-average background with a per-pixel running mean absolute
  deviation. A pixel is foreground when it differs from the average by more than
  ``max(min_threshold, threshold_sigma * deviation)``; so swaying foliage, rippling glass and
  sensor noise raise their own threshold, while a facade wall stays sensitive enough for a scrap
  of paper that covers two pixels. Foreground is learned 10x slower (no ghost trail behind a
  moving object). Measured on the 346x251 zone rectangle of the office3 clip: 0.19 ms per frame,
  against 0.84 ms for OpenCV's MOG2. No morphological opening: at 480 wide a falling paper is 1–4
  pixels and an opening erases it; a 3x3 dilation instead joins the fragments of a streak.
* :func:`find_blobs` — connected components with area bounds, each with the detection threshold
  under it (high where the scene itself keeps moving).
* :class:`BlobTracker` — nearest-neighbour tracking of small fast blobs: gating around a
  prediction that extrapolates velocity and (non-negative) vertical acceleration, with gates that
  grow with speed and with the time since the track was last seen, so an object moving 10–40 % of
  the frame height per frame, or missed for a few frames, keeps its track.
* :func:`fit_trajectory` / :func:`assess_fall` — the physics test on the physically coherent part
  of a track (:func:`coherent_start`): a least-squares fit of ``y(t) = y0 + v0·t + a·t²/2`` and
  ``x(t) = x0 + vx·t`` in normalized frame units over the last ``fit_window_s`` (an object falling
  towards an upward-looking camera accelerates more and more in the image, so one quadratic holds
  over a window, not over a long fall), accepted when ``a`` is positive and significant in the
  window and over the whole coherent part, the fit is tight, the motion never rises back after
  its highest point, the window is not in clutter, and the object dropped at least
  ``min_drop_floors`` floors (see :class:`FloorScale`).

Normalized units: x in frame widths, y in frame heights (0 at the top, y grows downward), t in
seconds of stream time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from enum import StrEnum

import cv2
import numpy as np


class MotionState(StrEnum):
    """What the background model (or the blob count) says about one frame."""

    OK = "ok"
    WARMUP = "warmup"  # the model is still learning the scene: no blobs reported
    SHAKE = "shake"  # a large fraction of the zone changed at once: background and tracks reset
    CROWDED = "crowded"  # too many blobs at once (rain, snow, noise): no tracks carried through


@dataclass(frozen=True, slots=True)
class FallSettings:
    """Tuning of the falling-object analysis; every default was chosen on real and synthetic clips.

    Attributes:
        background_tau_s: time constant of the running-average background.
        deviation_tau_s: time constant of the per-pixel mean absolute deviation.
        threshold_sigma: a pixel is foreground above this many mean absolute deviations.
        min_threshold: ... and never below this many luma levels.
        foreground_learning: foreground pixels are learned at this fraction of the rate.
        deviation_cap: differences are capped at this many levels before they update the
            deviation, so a passing object raises the threshold under it only a little.
        warmup_s: seconds after start (or a frame-size change) before blobs are reported.
        rewarm_s: seconds after a shake before blobs are reported again.
        shake_changed_fraction: fraction of the zone's pixels changed at once that means a
            camera shake or a global lighting change.
        max_blobs: more blobs than this in one frame, counting only those that changed since
            the previous picture (:attr:`Blobs.fresh`), means rain, snow or noise.
        fresh_min_diff: a pixel changed since the previous picture when it differs by more than
            this many luma levels. Heavy compression holds a block still (the encoder copies it)
            and then moves it in one step: a swaying camera's edges become foreground that stays
            unchanged for many pictures, dozens of blobs that are not motion (rain streaks are
            new in every picture).
        min_blob_area_px: smallest blob (after the 3x3 dilation), in pixels of the analysed frame.
        max_blob_area_fraction: largest blob as a fraction of the frame area.
        max_speed_norm_s: fastest object, in frame heights per second (gate of a one-point track).
        gate_min_norm: smallest gate radius, in frame heights.
        gate_speed_fraction: gate radius grows by this fraction of the distance predicted.
        accel_allowance_norm_s2: unmodelled acceleration the gate allows, frame heights/s².
        max_accel_norm_s2: largest acceleration used in predictions and in the coherence test of
            a trajectory, frame heights/s².
        moving_speed_norm_s: a track slower than this (frame heights/s) is not moving: it may only
            coast ``max_gap_young_s``.
        max_gap_young_s: a track with fewer than 3 points, or not moving, is dropped after this
            long unseen.
        max_gap_s: a moving track is dropped after this long unseen.
        stale_after_s: no track takes a blob of a picture that comes this long after its last
            point, even through a run of repeated pictures (a frozen or still stream).
        stitch_gap_s: a track that ended at most this long before a live track began is joined
            to it (its points prepended) when the points of both lie on one parabola
            (:meth:`BlobTracker.stitch`): a small object that heavy compression erases from a
            few pictures in a row breaks into fragments, none with ``min_points``.
        max_tracks: tracks kept at most; beyond, new blobs start no track.
        max_track_points: points kept per track (the oldest are dropped).
        min_points: points the coherent part of a track needs before the physics test (and
            the least the fit window holds).
        min_span_s: stream time the coherent part must span (a short chain of blobs in busy
            foliage can look like anything).
        fit_window_s: the quadratic is fitted to the last this-many seconds of the trajectory
            (an object falling towards an upward-looking camera accelerates more and more in the
            image, so one quadratic does not hold over a long fall; over ~0.8 s it does).
        min_accel_floors_s2: smallest downward acceleration of a fall, in floors per second²
            (the local floor height converts; g is ~3.3 floors/s² for 3 m floors, and objects
            nearer the camera than the facade look faster, never slower).
        min_accel_z: the acceleration must exceed this many of its standard errors.
        max_fit_rms_norm: largest RMS residual of the y and x fits, in frame heights/widths.
        max_retrace_norm: after its highest point, the object may never rise back by more than
            this (frame heights) above the lowest point it had reached: a fall only goes down.
        min_inlier_fraction: fraction of points the fit must keep after rejecting outliers.
        clutter_threshold: a point whose detection threshold (luma levels) the scene's own motion
            had raised above this lies in clutter (swaying leaves, rippling water, a flag).
        max_clutter_fraction: a fit window whose latest half has more of its points in clutter
            is not trusted: blobs there merge and split, and a track hopping between them can
            mimic anything.
        end_after_s: a fall ends when its object made no progress for this long.
        merge_distance_norm: a track this close to an open fall's fitted path joins that fall.
        merge_gap_s: for this long after a fall ended, a new track on its fitted path is a
            fragment of the same object (no second start).
        max_apex_above_roof_floors: the apex of the fitted parabola (where the object was at
            rest, or at the top of its throw) must lie at most this many floors above the roof:
            a track whose speed its acceleration could only have built up in a fall from far
            above the building (a raindrop streak, a bird diving through) is no object from it.
        max_lateral_accel_ratio: the sideways acceleration (x fitted with a quadratic too) may
            be at most this fraction of the downward one: a falling object keeps its sideways
            speed, a bird turning at constant speed into a dive trades it for downward speed.
        max_speed_trade: the squared sideways speed lost over the fit window may be at most this
            fraction of the squared downward speed gained (the same turn, seen through speeds).
        repeat_max_block_shift, repeat_max_block_diff: a frame whose every 4x4 block of the
            zone's luma is within these many levels of the last distinct picture (mean signed,
            mean absolute difference) repeats it and is not analysed
            (:class:`vision.frame_timing.RepeatDetector`). Kept tight: a real camera's new
            picture of a still scene can be as quiet as a re-encoded repeat.
    """

    background_tau_s: float = 0.4
    deviation_tau_s: float = 2.0
    threshold_sigma: float = 4.0
    min_threshold: float = 14.0
    foreground_learning: float = 0.1
    deviation_cap: float = 40.0
    warmup_s: float = 1.0
    rewarm_s: float = 0.4
    shake_changed_fraction: float = 0.12
    max_blobs: int = 40
    fresh_min_diff: float = 2.0
    min_blob_area_px: int = 2
    max_blob_area_fraction: float = 0.01
    max_speed_norm_s: float = 15.0
    gate_min_norm: float = 0.025
    gate_speed_fraction: float = 0.5
    accel_allowance_norm_s2: float = 3.0
    max_accel_norm_s2: float = 20.0
    moving_speed_norm_s: float = 0.15
    max_gap_young_s: float = 0.1
    max_gap_s: float = 0.25
    stale_after_s: float = 0.5
    stitch_gap_s: float = 0.4
    max_tracks: int = 120
    max_track_points: int = 200
    min_points: int = 10
    min_span_s: float = 0.3
    fit_window_s: float = 0.8
    min_accel_floors_s2: float = 0.6
    min_accel_z: float = 3.0
    max_fit_rms_norm: float = 0.008
    max_retrace_norm: float = 0.02
    min_inlier_fraction: float = 0.75
    clutter_threshold: float = 20.0
    max_clutter_fraction: float = 0.5
    end_after_s: float = 0.5
    merge_distance_norm: float = 0.05
    merge_gap_s: float = 1.5
    max_apex_above_roof_floors: float = 3.0
    max_lateral_accel_ratio: float = 0.35
    max_speed_trade: float = 0.5
    repeat_max_block_shift: float = 3.0
    repeat_max_block_diff: float = 12.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"FallSettings.{f.name} must be finite and >= 0, got {value}")
        positive = (
            "background_tau_s",
            "deviation_tau_s",
            "threshold_sigma",
            "max_speed_norm_s",
            "fit_window_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"FallSettings.{name} must be > 0, got {getattr(self, name)}")
        if self.min_points < 4:
            raise ValueError(f"FallSettings.min_points must be >= 4, got {self.min_points}")
        if self.max_track_points < self.min_points:
            raise ValueError(
                f"FallSettings.max_track_points ({self.max_track_points}) must be >= "
                f"min_points ({self.min_points})"
            )
        for name in ("shake_changed_fraction", "max_blob_area_fraction", "max_clutter_fraction"):
            if getattr(self, name) > 1:
                raise ValueError(f"FallSettings.{name} must lie in 0..1, got {getattr(self, name)}")
        if self.min_inlier_fraction > 1:
            raise ValueError(
                f"FallSettings.min_inlier_fraction must lie in 0..1, got {self.min_inlier_fraction}"
            )
        if self.stale_after_s < max(self.max_gap_s, self.max_gap_young_s):
            raise ValueError(
                f"FallSettings.stale_after_s ({self.stale_after_s}) must be >= max_gap_s "
                f"({self.max_gap_s}) and max_gap_young_s ({self.max_gap_young_s})"
            )


class FloorScale:
    """Converts a normalized image y to a height in floors, from the config's floor lines.

    ``lines_norm`` are the y of floor boundaries from top to bottom; the last line is the base of
    floor ``lowest_visible_floor`` (the ground floor is 1). Heights are in floors above the ground:
    the base of floor ``k`` is at level ``k - 1``, so the band between ``lines[i]`` and
    ``lines[i + 1]`` is floor ``lowest_visible_floor + (N - 2 - i)`` for ``N`` lines. Within a band
    the level is interpolated linearly; above the top line and below the bottom line it is
    extrapolated with the height of the nearest band.

    Args:
        lines_norm: N >= 2 strictly increasing values in 0..1.
        lowest_visible_floor: floor number (>= 1) whose base is the last line.
        floor_count: floors of the building; the top visible floor must not exceed it.

    Raises:
        ValueError: on fewer than 2 lines, lines outside 0..1 or not strictly increasing, a floor
            number below 1, or visible floors above ``floor_count``.
    """

    def __init__(
        self,
        lines_norm: tuple[float, ...] | list[float],
        lowest_visible_floor: int,
        floor_count: int,
    ) -> None:
        lines = np.asarray(lines_norm, np.float64).reshape(-1)
        if lines.size < 2:
            raise ValueError(
                f"floor lines: need at least 2 (N lines bound N-1 floors), got {lines}"
            )
        if not np.isfinite(lines).all() or (lines < 0).any() or (lines > 1).any():
            raise ValueError(f"floor lines must lie in 0..1, got {lines.tolist()}")
        steps = np.diff(lines)
        if (steps <= 0).any():
            bad = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise ValueError(
                f"floor lines must be strictly increasing (top to bottom): line[{bad}] = "
                f"{lines[bad]:g} is not below line[{bad - 1}] = {lines[bad - 1]:g}"
            )
        if lowest_visible_floor < 1:
            raise ValueError(f"lowest_visible_floor must be >= 1, got {lowest_visible_floor}")
        top = lowest_visible_floor + lines.size - 2
        if floor_count < top:
            raise ValueError(
                f"floor_count ({floor_count}) is below the top visible floor ({top} = "
                f"lowest_visible_floor {lowest_visible_floor} + {lines.size} lines - 2)"
            )
        self.lines_norm = lines
        self.lowest_visible_floor = int(lowest_visible_floor)
        self.floor_count = int(floor_count)
        self.top_visible_floor = int(top)
        # level of each line, decreasing from top to bottom
        self._levels = (lowest_visible_floor - 1) + (lines.size - 1 - np.arange(lines.size))

    def level_of(self, y_norm: float) -> float:
        """Height in floors above the ground of image row ``y_norm`` (extrapolated outside)."""
        lines, levels = self.lines_norm, self._levels
        if y_norm <= lines[0]:
            return float(levels[0] + (lines[0] - y_norm) / (lines[1] - lines[0]))
        if y_norm >= lines[-1]:
            return float(levels[-1] - (y_norm - lines[-1]) / (lines[-1] - lines[-2]))
        return float(np.interp(y_norm, lines, levels))

    def y_of_level(self, level: float) -> float:
        """Inverse of :meth:`level_of`: the image row (normalized, may leave 0..1) of a height."""
        lines, levels = self.lines_norm, self._levels
        if level >= levels[0]:
            return float(lines[0] - (level - levels[0]) * (lines[1] - lines[0]))
        if level <= levels[-1]:
            return float(lines[-1] + (levels[-1] - level) * (lines[-1] - lines[-2]))
        return float(np.interp(level, levels[::-1], lines[::-1]))

    def floors_per_norm(self, y_norm: float) -> float:
        """Floors per frame height at row ``y_norm`` (1 / the local band height)."""
        lines = self.lines_norm
        i = int(np.clip(np.searchsorted(lines, y_norm) - 1, 0, lines.size - 2))
        return float(1.0 / (lines[i + 1] - lines[i]))

    def floor_at(self, y_norm: float) -> int:
        """Number of the visible floor whose band holds ``y_norm`` (clamped to the visible ones)."""
        floor = math.floor(self.level_of(y_norm) + 1e-9) + 1
        return int(min(max(floor, self.lowest_visible_floor), self.top_visible_floor))


@dataclass(frozen=True, slots=True)
class Foreground:
    """Output of :meth:`BackgroundModel.update`.

    Attributes:
        mask: uint8 (h, w), 255 where foreground, same size as the image given.
        changed_fraction: fraction of the (masked) pixels that are foreground.
        state: OK, WARMUP (mask is empty) or SHAKE (mask is empty, background was reset).
        threshold: float32 (h, w) per-pixel threshold (luma levels) this frame was compared with;
            high where the scene itself keeps moving. None when the model was (re)started.
    """

    mask: np.ndarray
    changed_fraction: float
    state: MotionState
    threshold: np.ndarray | None = None


_DILATE_KERNEL = np.ones((3, 3), np.uint8)


class BackgroundModel:
    """Running-average background with a per-pixel deviation threshold, time from ``pts_s``.

    Args:
        settings: tuning (time constants, thresholds, shake fraction, warm-up).
    """

    def __init__(self, settings: FallSettings | None = None) -> None:
        self.settings = settings or FallSettings()
        self._mean: np.ndarray | None = None
        self._dev: np.ndarray | None = None
        self._start_s = 0.0
        self._last_s = 0.0
        self._quiet_until_s = 0.0
        self._learning = True  # first warm-up: deviations are still being learned

    def reset(self) -> None:
        """Forget the background: the next frame starts a new warm-up."""
        self._mean = None
        self._dev = None

    def update(self, image: np.ndarray, pts_s: float, mask: np.ndarray | None = None) -> Foreground:
        """Compare ``image`` with the background, then learn it.

        Args:
            image: uint8 (h, w) luma.
            pts_s: its stream time; must increase from call to call.
            mask: optional uint8 (h, w), nonzero where pixels count (a zone); 255 or 1 both work.

        Returns:
            The foreground of this frame.

        Raises:
            ValueError: on an image that is not a 2-D uint8 array, or a mask of another shape.
        """
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 2:
            got = getattr(image, "dtype", type(image).__name__), getattr(image, "shape", None)
            raise ValueError(f"BackgroundModel.update: image must be uint8 (h, w), got {got}")
        if mask is not None and mask.shape != image.shape:
            raise ValueError(
                f"BackgroundModel.update: mask shape {mask.shape} differs from image {image.shape}"
            )
        s = self.settings
        frame = image.astype(np.float32)
        if self._mean is None or self._dev is None or self._mean.shape != frame.shape:
            self._mean = frame
            self._dev = np.full_like(frame, s.min_threshold / s.threshold_sigma)
            self._start_s = self._last_s = pts_s
            self._quiet_until_s = pts_s + s.warmup_s
            self._learning = True
            return Foreground(np.zeros(image.shape, np.uint8), 0.0, MotionState.WARMUP)
        dt = max(pts_s - self._last_s, 1e-6)
        elapsed = max(pts_s - self._start_s, dt)
        self._last_s = pts_s
        # A running mean while young (every frame weighs the same), then exponential forgetting.
        alpha = min(1.0, max(dt / s.background_tau_s, dt / elapsed))
        alpha_dev = min(1.0, max(dt / s.deviation_tau_s, dt / elapsed))
        diff = cv2.absdiff(frame, self._mean)
        # In place: a second full-size temporary costs more than the arithmetic (page faults).
        threshold = self._dev * s.threshold_sigma
        np.maximum(threshold, np.float32(s.min_threshold), out=threshold)
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
            # Shake or a global lighting change: restart the background from this frame (the
            # deviations are kept: they describe the scene, not the camera's position).
            self._mean = frame
            self._quiet_until_s = pts_s + s.rewarm_s
            return Foreground(
                np.zeros(image.shape, np.uint8), changed, MotionState.SHAKE, threshold
            )
        # Selective update: foreground (dilated to cover its soft edges) is learned 10x slower, so
        # a passing object leaves no ghost trail, yet a lasting change is absorbed in seconds.
        moving = cv2.dilate(fg, _DILATE_KERNEL)
        cv2.accumulateWeighted(frame, self._mean, alpha, mask=cv2.bitwise_not(moving))
        cv2.accumulateWeighted(frame, self._mean, alpha * s.foreground_learning, mask=moving)
        cv2.min(diff, float(np.float32(s.deviation_cap)), dst=diff)  # diff is not needed after
        cv2.accumulateWeighted(diff, self._dev, alpha_dev)
        if pts_s < self._quiet_until_s:
            return Foreground(
                np.zeros(image.shape, np.uint8), changed, MotionState.WARMUP, threshold
            )
        return Foreground(fg, changed, MotionState.OK, threshold)


@dataclass(frozen=True, slots=True)
class Blobs:
    """Connected foreground regions of one frame (struct of arrays).

    Attributes:
        centroid_px: float64 (n, 2) centroids (x, y) in pixels of the analysed frame.
        area_px: int64 (n,) areas in pixels.
        xyxy_px: int64 (n, 4) bounding boxes (x1, y1, x2, y2), x2 and y2 exclusive.
        threshold: float32 (n,) detection threshold (luma levels) at each centroid, 0 if unknown.
        fresh: bool (n,) whether the blob holds a pixel that changed since the previous picture
            (None when that is unknown: every blob counts as changed). A blob that did not is
            foreground the background has not learned yet, not motion: at heavy compression the
            encoder moves an edge in one step and then copies it unchanged (skip blocks) for
            many pictures.
    """

    centroid_px: np.ndarray
    area_px: np.ndarray
    xyxy_px: np.ndarray
    threshold: np.ndarray
    fresh: np.ndarray | None = None

    @property
    def fresh_count(self) -> int:
        """Blobs that changed since the previous picture (all of them when unknown)."""
        return len(self) if self.fresh is None else int(np.count_nonzero(self.fresh))

    @classmethod
    def empty(cls) -> Blobs:
        return cls(
            np.zeros((0, 2)),
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.int64),
            np.zeros(0, np.float32),
        )

    def __len__(self) -> int:
        return int(self.area_px.shape[0])


def find_blobs(
    mask: np.ndarray,
    min_area_px: int,
    max_area_px: int,
    offset_px: tuple[int, int] = (0, 0),
    threshold: np.ndarray | None = None,
    changed: np.ndarray | None = None,
) -> Blobs:
    """Connected components of a foreground mask within area bounds.

    The mask is dilated by 3x3 first so that the fragments of one motion-blurred streak join.

    Args:
        mask: uint8 (h, w), nonzero = foreground.
        min_area_px: smallest area kept (after dilation).
        max_area_px: largest area kept.
        offset_px: (x, y) added to centroids and boxes (the mask's origin in the frame).
        threshold: optional float (h, w) detection threshold of the mask's pixels, sampled at
            each centroid.
        changed: optional uint8 (h, w), nonzero where the picture changed since the previous
            one: sets :attr:`Blobs.fresh`.

    Returns:
        The blobs, in frame pixels.
    """
    if not cv2.countNonZero(mask):
        return Blobs.empty()
    joined = cv2.dilate(mask, _DILATE_KERNEL)
    h, w = mask.shape
    # uint16 labels give the same labels, statistics and centroids as int32 ones at a third of
    # the CPU (OpenCV 5, 461x255 facade zone: 185 against 565 us); an 8-connected mask has at
    # most ceil(h/2) * ceil(w/2) components, which must fit.
    ltype = cv2.CV_16U if ((h + 1) // 2) * ((w + 1) // 2) < 65535 else cv2.CV_32S
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        joined, connectivity=8, ltype=ltype
    )
    stats, centroids = stats[1:count], centroids[1:count]
    area = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    keep = (area >= min_area_px) & (area <= max_area_px)
    stats, centroids, area = stats[keep], centroids[keep], area[keep]
    fresh = None
    if changed is not None:
        if changed.shape != mask.shape:
            raise ValueError(
                f"find_blobs: changed shape {changed.shape} differs from mask {mask.shape}"
            )
        hits = labels[_nonzero_in_both(changed, mask)]
        fresh = (np.bincount(hits, minlength=count)[1:count] > 0)[keep]
    levels = np.zeros(len(area), np.float32)
    if threshold is not None and len(area):
        # np.minimum/np.maximum: np.clip's Python wrapper costs more than the clipping here
        cx = np.minimum(np.maximum(np.rint(centroids[:, 0]).astype(np.intp), 0), w - 1)
        cy = np.minimum(np.maximum(np.rint(centroids[:, 1]).astype(np.intp), 0), h - 1)
        levels = threshold[cy, cx].astype(np.float32)
    ox, oy = offset_px
    x1 = stats[:, cv2.CC_STAT_LEFT].astype(np.int64) + ox
    y1 = stats[:, cv2.CC_STAT_TOP].astype(np.int64) + oy
    xyxy = np.stack(
        [x1, y1, x1 + stats[:, cv2.CC_STAT_WIDTH], y1 + stats[:, cv2.CC_STAT_HEIGHT]], axis=1
    )
    centroids = centroids.astype(np.float64) + np.array([ox, oy])
    return Blobs(centroids, area, xyxy.astype(np.int64), levels, fresh)


def changed_pixels(image: np.ndarray, previous: np.ndarray, min_diff: float) -> np.ndarray:
    """Where a picture changed since the previous one (the ``changed`` map of :func:`find_blobs`).

    Args:
        image, previous: uint8 (h, w) luma of one shape.
        min_diff: luma levels (>= 0) the absolute difference must exceed.

    Returns:
        uint8 (h, w), 1 where ``|image - previous| > min_diff``, else 0. (OpenCV's threshold
        compares whole levels with the floor of ``min_diff``: the same test, at a sixth of the
        CPU of numpy's comparison and conversion.)
    """
    _, changed = cv2.threshold(cv2.absdiff(image, previous), min_diff, 1, cv2.THRESH_BINARY)
    return changed


def _nonzero_in_both(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels nonzero in both 2-D arrays of one shape; few pixels are (the
    changed part of the foreground), so OpenCV finds them cheaper than boolean masks would."""
    both = cv2.min(_as_uint8(a), _as_uint8(b))
    points = cv2.findNonZero(both)
    if points is None:
        empty = np.zeros(0, np.intp)
        return empty, empty
    xy = points.reshape(-1, 2)  # (n, 1, 2) or (n, 2) (x, y), by OpenCV version
    return xy[:, 1], xy[:, 0]


def _as_uint8(image: np.ndarray) -> np.ndarray:
    """``image`` when it is uint8, else its nonzero pixels as 1 (uint8)."""
    return image if image.dtype == np.uint8 else np.asarray(image != 0, np.uint8)


@dataclass(slots=True)
class BlobTrack:
    """One blob followed over frames (owned by :class:`BlobTracker`).

    Attributes:
        track_id: id, >= 1, unique for the tracker's life.
        x_px, y_px, t_s: the track's points (pixels of the analysed frame, stream seconds).
        area_px: the area of the blob at each point.
        threshold: the detection threshold (luma levels) under the blob at each point.
        last_seen_s: stream time of the last point.
    """

    track_id: int
    x_px: deque[float]
    y_px: deque[float]
    t_s: deque[float]
    area_px: deque[int]
    threshold: deque[float]
    last_seen_s: float

    def __len__(self) -> int:
        return len(self.t_s)

    def add(self, x_px: float, y_px: float, t_s: float, area_px: int, threshold: float) -> None:
        self.x_px.append(x_px)
        self.y_px.append(y_px)
        self.t_s.append(t_s)
        self.area_px.append(area_px)
        self.threshold.append(threshold)
        self.last_seen_s = t_s

    def speed_px_s(self) -> float:
        """Speed over the last step, pixels per second (0 for a one-point track)."""
        if len(self.t_s) < 2:
            return 0.0
        dt = max(self.t_s[-1] - self.t_s[-2], 1e-6)
        return math.hypot(self.x_px[-1] - self.x_px[-2], self.y_px[-1] - self.y_px[-2]) / dt

    def points_norm(self, width_px: int, height_px: int) -> np.ndarray:
        """float64 (n, 3) points (x / width, y / height, t_s), C-contiguous."""
        points = np.array((self.x_px, self.y_px, self.t_s), np.float64).T.copy()
        points[:, 0] /= width_px
        points[:, 1] /= height_px
        return points


@dataclass(frozen=True, slots=True)
class TrackerUpdate:
    """Result of one :meth:`BlobTracker.update`: the live tracks and the ids that ended."""

    live: tuple[BlobTrack, ...]
    finished: tuple[int, ...]


class BlobTracker:
    """Nearest-neighbour tracker for small fast blobs with gravity-aware prediction.

    Tracks with more points are matched first (their predictions are better); within a tier, the
    pairs of least normalized distance (distance / gate) are taken first. A one-point track accepts
    any blob within ``max_speed_norm_s · dt`` frame heights; a longer one predicts its next
    position from its last velocity and (non-negative, capped) vertical acceleration and accepts
    blobs within ``gate_min + gate_speed_fraction · |predicted step| + accel_allowance · dt² / 2``.
    Unmatched blobs start tracks. A track unseen for ``max_gap_s`` (``max_gap_young_s`` if it has
    fewer than 3 points or is not moving) ends; for ``stitch_gap_s`` it remains a fragment that a
    later moving track on the same parabola takes in (:meth:`stitch`), then it is dropped.

    Args:
        width_px: width of the analysed frame.
        height_px: its height (the unit of the normalized speeds and gates).
        settings: tuning.

    Raises:
        ValueError: on a frame size that is not positive.
    """

    def __init__(self, width_px: int, height_px: int, settings: FallSettings | None = None) -> None:
        if width_px <= 0 or height_px <= 0:
            raise ValueError(
                f"BlobTracker: frame size must be positive, got {width_px}x{height_px}"
            )
        self.width_px = width_px
        self.height_px = height_px
        self.settings = settings or FallSettings()
        self._tracks: dict[int, BlobTrack] = {}
        self._next_id = 1
        self._last_update_s = -math.inf
        # Tracks ended within ``stitch_gap_s`` (2 points or more): fragments a later track may
        # continue.
        self._ended: deque[BlobTrack] = deque(maxlen=self.settings.max_tracks)
        # Per fragment of _ended (by track id): its points and last distinct points (see _tail).
        self._tails: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def expire(self, t_s: float) -> tuple[int, ...]:
        """End the tracks that a picture analysed since their last point did not show, and that
        have been unseen longer than they may coast at ``t_s``; returns their ids.

        For frames that repeat a picture (no update): a track seen in the last picture is not
        missed by its repeats, however long they last.
        """
        finished = []
        for track_id, track in list(self._tracks.items()):
            if track.last_seen_s < self._last_update_s and t_s - track.last_seen_s > self._limit(
                track
            ):
                finished.append(track_id)
                self._retire(self._tracks.pop(track_id))
        return tuple(finished)

    def _retire(self, track: BlobTrack) -> None:
        """Keep an ended track of 2 points or more as a fragment a later track may continue."""
        if len(track) >= 2:
            self._ended.append(track)

    def _limit(self, track: BlobTrack) -> float:
        """How long ``track`` may stay unseen."""
        s = self.settings
        moving = len(track) >= 3 and track.speed_px_s() >= s.moving_speed_norm_s * self.height_px
        return s.max_gap_s if moving else s.max_gap_young_s

    def reset(self) -> tuple[int, ...]:
        """Drop every track (and every ended fragment); returns their ids."""
        ended = tuple(self._tracks)
        self._tracks.clear()
        self._ended.clear()
        self._tails.clear()
        return ended

    @property
    def tracks(self) -> tuple[BlobTrack, ...]:
        return tuple(self._tracks.values())

    def _predict(self, track: BlobTrack, t_s: float) -> tuple[float, float, float]:
        """Predicted (x, y) at ``t_s`` and the gate radius, in pixels."""
        s, h = self.settings, self.height_px
        dt = t_s - track.last_seen_s
        x, y = track.x_px[-1], track.y_px[-1]
        n = len(track)
        if n == 1:
            return x, y, max(s.max_speed_norm_s * h * dt, s.gate_min_norm * h)
        t = track.t_s
        vx = (x - track.x_px[-2]) / max(t[-1] - t[-2], 1e-6)
        vy = (y - track.y_px[-2]) / max(t[-1] - t[-2], 1e-6)
        ay = 0.0
        if n >= 3:
            vy_prev = (track.y_px[-2] - track.y_px[-3]) / max(t[-2] - t[-3], 1e-6)
            ay = (vy - vy_prev) / max((t[-1] - t[-3]) / 2, 1e-6)
            ay = min(max(ay, 0.0), s.max_accel_norm_s2 * h)
        step_x, step_y = vx * dt, vy * dt + 0.5 * ay * dt * dt
        gate = (
            s.gate_min_norm * h
            + s.gate_speed_fraction * math.hypot(step_x, step_y)
            + 0.5 * s.accel_allowance_norm_s2 * h * dt * dt
        )
        return x + step_x, y + step_y, gate

    def update(self, blobs: Blobs, t_s: float) -> TrackerUpdate:
        """Assign this frame's blobs to tracks, start new tracks, end stale ones.

        Args:
            blobs: blobs of the frame at stream time ``t_s``.
            t_s: stream time, later than the previous call's.

        Returns:
            Live tracks (after this frame) and the ids of tracks that ended.
        """
        s = self.settings
        # A track cannot take a blob of this picture when a distinct picture since its last point
        # already missed it and it is past its limit, nor when it went unseen for longer than
        # ``stale_after_s`` however the gap came about: a still scene between two falls is all
        # repeats, and the first fall's track, seen in the last distinct picture, would swallow
        # the second fall's first blob with a gate grown over seconds. (A track seen in the last
        # picture may still take a blob of a new picture that comes a little past its limit: a
        # re-muxed or re-encoded stream spaces distinct pictures unevenly.)
        finished = []
        for track_id, track in list(self._tracks.items()):
            gap = t_s - track.last_seen_s
            missed = track.last_seen_s < self._last_update_s and gap > self._limit(track)
            if missed or gap > s.stale_after_s:
                finished.append(track_id)
                self._retire(self._tracks.pop(track_id))
        free = np.ones(len(blobs), bool)
        tiers: tuple[list[BlobTrack], list[BlobTrack], list[BlobTrack]] = ([], [], [])
        for track in self._tracks.values():
            n = len(track)
            tiers[0 if n >= 3 else 1 if n == 2 else 2].append(track)
        for tier in tiers:
            if tier and free.any():
                self._match(tier, blobs, free, t_s)
        self._last_update_s = t_s
        for track_id, track in list(self._tracks.items()):
            if t_s - track.last_seen_s > self._limit(track):
                finished.append(track_id)
                self._retire(self._tracks.pop(track_id))
        for i in np.flatnonzero(free):
            if len(self._tracks) >= s.max_tracks:
                break
            x, y = blobs.centroid_px[i]
            track = BlobTrack(
                self._next_id,
                deque(maxlen=s.max_track_points),
                deque(maxlen=s.max_track_points),
                deque(maxlen=s.max_track_points),
                deque(maxlen=s.max_track_points),
                deque(maxlen=s.max_track_points),
                t_s,
            )
            track.add(float(x), float(y), t_s, int(blobs.area_px[i]), float(blobs.threshold[i]))
            self._tracks[track.track_id] = track
            self._next_id += 1
        self._stitch_all(t_s)
        return TrackerUpdate(tuple(self._tracks.values()), tuple(finished))

    def _stitch_all(self, t_s: float) -> None:
        """Join ended fragments to the moving live tracks they continue (see :meth:`stitch`)."""
        s = self.settings
        while self._ended and t_s - self._ended[0].last_seen_s > s.stitch_gap_s + s.fit_window_s:
            self._ended.popleft()
        if len(self._tails) > len(self._ended):  # forget the tails of fragments gone
            ids = {fragment.track_id for fragment in self._ended}
            self._tails = {k: v for k, v in self._tails.items() if k in ids}
        if not self._ended:
            return
        moving_px_s = s.moving_speed_norm_s * self.height_px
        for track in self._tracks.values():
            if len(track) >= 4 and track.t_s[-1] == t_s and track.speed_px_s() >= moving_px_s:
                while self.stitch(track):
                    pass

    def stitch(self, track: BlobTrack) -> bool:
        """Prepend to ``track`` the ended fragment it continues, if any; whether one was found.

        A fragment qualifies when it ended before ``track`` began, at most ``stitch_gap_s``
        before, and its last distinct points (up to 4; a point that repeats the one before it
        exactly is a block the encoder copied, not a position) and ``track``'s points of the
        last ``fit_window_s`` fit one trajectory (:func:`fit_trajectory`: y quadratic, x linear
        in time) within ``max_fit_rms_norm``, every point an inlier; the longest such tail of
        the fragment is joined (the object's track before it fell may end in its first drop).
        The gap is bridged by the parabola, not by a wider gate: fragments of anything that
        does not move ballistically (leaves, a bird's wingbeats, noise) do not fit one, and the
        joined track still has to pass :func:`assess_fall`.
        """
        s = self.settings
        first_s = track.t_s[0]
        # Only fragments that ended shortly before the track began; most calls find none, and
        # then the track's own fit below is not needed.
        near = [f for f in self._ended if 0 < first_s - f.last_seen_s <= s.stitch_gap_s]
        if not near:
            return False
        own = track.points_norm(self.width_px, self.height_px)
        recent = own[:, 2] >= own[-1, 2] - s.fit_window_s
        recent[-4:] = True  # a fit needs 4 points
        own = own[recent]
        guess = fit_trajectory(own)
        best: tuple[int, float, BlobTrack, int] | None = None  # (points, rms, fragment, tail)
        for fragment in near:
            gap = first_s - fragment.last_seen_s
            pts, index = self._tail(fragment)
            last = pts[index[-1]]
            reach = s.gate_min_norm + 0.5 * s.accel_allowance_norm_s2 * gap * gap
            miss_y = float(last[1] - guess.y_at(last[2]))
            miss_x = float(last[0] - guess.x_at(last[2])) * self.width_px / self.height_px
            if math.hypot(miss_x, miss_y) > reach:
                continue
            for k in range(len(index), 0, -1):
                fit = fit_trajectory(np.vstack([pts[index[-k:]], own]))
                rms = max(fit.rms_y_norm, fit.rms_x_norm)
                if fit.inliers.all() and rms <= s.max_fit_rms_norm:
                    if best is None or (k, -rms) > (best[0], -best[1]):
                        best = (k, rms, fragment, int(index[-k]))
                    break
        if best is None:
            return False
        _, _, fragment, tail = best
        self._ended.remove(fragment)
        xs, ys = list(fragment.x_px), list(fragment.y_px)
        keep = [tail] + [
            i for i in range(tail + 1, len(xs)) if (xs[i], ys[i]) != (xs[i - 1], ys[i - 1])
        ]
        for name in ("x_px", "y_px", "t_s", "area_px", "threshold"):
            values = list(getattr(fragment, name))
            merged = deque((values[i] for i in keep), maxlen=s.max_track_points)
            merged.extend(getattr(track, name))
            setattr(track, name, merged)
        return True

    def _tail(self, fragment: BlobTrack) -> tuple[np.ndarray, np.ndarray]:
        """A fragment's points (normalized) and the indices of its last distinct points (up to
        4; a point that repeats the one before it is a copied block). A fragment no longer
        changes, and foliage keeps dozens of them near every new track: made once each."""
        found = self._tails.get(fragment.track_id)
        if found is None:
            pts = fragment.points_norm(self.width_px, self.height_px)
            distinct = np.ones(len(pts), bool)
            distinct[1:] = np.any(pts[1:, :2] != pts[:-1, :2], axis=1)
            found = self._tails[fragment.track_id] = (pts, np.flatnonzero(distinct)[-4:])
        return found

    def _match(self, tier: list[BlobTrack], blobs: Blobs, free: np.ndarray, t_s: float) -> None:
        predictions = np.array([self._predict(track, t_s) for track in tier])
        candidates = np.flatnonzero(free)
        xy = blobs.centroid_px[candidates]
        dist = np.hypot(
            xy[None, :, 0] - predictions[:, None, 0], xy[None, :, 1] - predictions[:, None, 1]
        )
        cost = dist / predictions[:, 2:3]
        for r, c in greedy_pairs(cost):
            blob = int(candidates[c])
            free[blob] = False
            x, y = blobs.centroid_px[blob]
            tier[r].add(
                float(x), float(y), t_s, int(blobs.area_px[blob]), float(blobs.threshold[blob])
            )


def greedy_pairs(cost: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: the (row, col) pairs of ``cost <= 1``, cheapest first (ties
    in row-major order), skipping a pair whose row or column is already taken.

    On Python ints, and it stops once every row or every column that has a pair is taken:
    swaying foliage makes hundreds of pairs a frame.

    Args:
        cost: float (rows, cols) normalized distances.

    Returns:
        The pairs taken, in the order taken.
    """
    rows, cols = np.nonzero(cost <= 1.0)
    order = np.argsort(cost[rows, cols], kind="stable")
    pair_rows, pair_cols = rows[order].tolist(), cols[order].tolist()
    rows_left, cols_left = len(set(pair_rows)), len(set(pair_cols))
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    taken: list[tuple[int, int]] = []
    for r, c in zip(pair_rows, pair_cols, strict=True):
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        taken.append((r, c))
        if len(used_rows) == rows_left or len(used_cols) == cols_left:
            break
    return taken


@dataclass(frozen=True, slots=True)
class TrajectoryFit:
    """Least-squares fit of a trajectory in normalized units, ``t`` from ``t0_s``.

    ``y(t) = y0 + v0·t + a·t²/2`` and ``x(t) = x0 + vx·t``.

    Attributes:
        t0_s: stream time of the first point.
        y0, v0_norm_s, accel_norm_s2: y fit (frame heights, per second, per second²).
        accel_se_norm_s2: standard error of the acceleration.
        x0, vx_norm_s: x fit (frame widths, per second).
        rms_y_norm, rms_x_norm: RMS residuals of the inliers.
        inliers: bool (n,) points kept by the outlier rejection.
    """

    t0_s: float
    y0: float
    v0_norm_s: float
    accel_norm_s2: float
    accel_se_norm_s2: float
    x0: float
    vx_norm_s: float
    rms_y_norm: float
    rms_x_norm: float
    inliers: np.ndarray

    def y_at(self, t_s: float | np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, np.float64) - self.t0_s
        return np.asarray(self.y0 + self.v0_norm_s * t + 0.5 * self.accel_norm_s2 * t * t)

    def x_at(self, t_s: float | np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, np.float64) - self.t0_s
        return np.asarray(self.x0 + self.vx_norm_s * t)

    @property
    def apex_t_s(self) -> float | None:
        """Stream time where the vertical velocity is 0 (None without downward acceleration)."""
        if self.accel_norm_s2 <= 0:
            return None
        return self.t0_s - self.v0_norm_s / self.accel_norm_s2


def _fit_y(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients (y0, v0, a), residuals and the standard error of ``a``."""
    design = np.column_stack([np.ones_like(t), t, 0.5 * t * t])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    dof = max(t.size - 3, 1)
    sigma2 = float(resid @ resid) / dof
    try:
        cov = np.linalg.inv(design.T @ design) * sigma2
        se = math.sqrt(max(float(cov[2, 2]), 0.0))
    except np.linalg.LinAlgError:
        se = math.inf
    return coef, resid, se


def fit_trajectory(points_norm: np.ndarray) -> TrajectoryFit:
    """Fit ``y`` quadratic and ``x`` linear in time, with one pass of outlier rejection.

    Points whose y residual exceeds ``max(3 · 1.4826 · median |residual|, 0.004)`` are dropped
    and the fit repeated (a blob of noise picked up by the tracker for a frame must not decide).

    Args:
        points_norm: float (n, 3) rows (x_norm, y_norm, t_s), n >= 4, times increasing.

    Returns:
        The fit.

    Raises:
        ValueError: on fewer than 4 points or a wrong shape.
    """
    pts = np.asarray(points_norm, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < 4:
        raise ValueError(f"fit_trajectory: need (n >= 4, 3) points, got shape {pts.shape}")
    t0 = float(pts[0, 2])
    t, x, y = pts[:, 2] - t0, pts[:, 0], pts[:, 1]
    coef, resid, se = _fit_y(t, y)
    cutoff = max(3.0 * 1.4826 * float(np.median(np.abs(resid))), 0.004)
    inliers = np.abs(resid) <= cutoff
    if not inliers.all() and inliers.sum() >= 4:
        coef, _, se = _fit_y(t[inliers], y[inliers])
    else:
        inliers = np.ones(t.size, bool)
    ti, xi, yi = t[inliers], x[inliers], y[inliers]
    res_y = yi - (coef[0] + coef[1] * ti + 0.5 * coef[2] * ti * ti)
    xcoef = np.polyfit(ti, xi, 1)
    res_x = xi - np.polyval(xcoef, ti)
    return TrajectoryFit(
        t0_s=t0,
        y0=float(coef[0]),
        v0_norm_s=float(coef[1]),
        accel_norm_s2=float(coef[2]),
        accel_se_norm_s2=se,
        x0=float(xcoef[1]),
        vx_norm_s=float(xcoef[0]),
        rms_y_norm=float(np.sqrt(np.mean(res_y * res_y))),
        rms_x_norm=float(np.sqrt(np.mean(res_x * res_x))),
        inliers=inliers,
    )


class FallReason(StrEnum):
    """Why a trajectory is (not yet) a fall; the first failed test is reported."""

    FALL = "fall"
    TOO_FEW_POINTS = "too_few_points"
    SHORT_DROP = "short_drop"
    NOT_ACCELERATING = "not_accelerating"
    POOR_FIT = "poor_fit"
    NOT_MONOTONIC = "not_monotonic"
    CLUTTERED = "cluttered"
    TOO_FAST = "too_fast"
    TURNING = "turning"


@dataclass(frozen=True, slots=True)
class FallVerdict:
    """Result of :func:`assess_fall`.

    Attributes:
        is_fall: every test passed.
        reason: FALL, or the first test that failed.
        fit: the fit of the last ``fit_window_s`` (None before a fit was tried).
        segment_start: index of the first point of the coherent part of the trajectory.
        drop_floors: floors dropped along the coherent part, from its highest point to its last
            (fitted) point.
        accel_floors_s2: the fitted acceleration in floors per second².
        origin_floor: the floor of the highest point of the trajectory (see :func:`origin_of`);
            None before a fit was tried.
        score: 0..1 from the fit quality and the significance of the acceleration.
    """

    is_fall: bool
    reason: FallReason
    fit: TrajectoryFit | None = None
    segment_start: int = 0
    drop_floors: float = 0.0
    accel_floors_s2: float = 0.0
    origin_floor: int | None = None
    score: float = 0.0


def coherent_start(
    points_norm: np.ndarray, aspect_ratio: float, settings: FallSettings | None = None
) -> int:
    """Index where the last physically coherent part of a trajectory begins.

    The tracker may have joined a blob of something else to the head of a track (a leaf that
    flickered where the object then appeared). Between two consecutive steps the velocity of a
    real object changes by at most its acceleration times the time, plus the position noise of
    its centroid; the last pair of steps that breaks this marks the start of the coherent part.

    Args:
        points_norm: float (n, 3) rows (x_norm, y_norm, t_s).
        aspect_ratio: frame width / height (to measure x and y in the same unit).
        settings: tuning (``gate_min_norm`` as the position noise, ``max_accel_norm_s2``).

    Returns:
        The index of the first coherent point (0 when the whole trajectory is coherent).
    """
    s = settings or FallSettings()
    pts = np.asarray(points_norm, np.float64).reshape(-1, 3)
    if pts.shape[0] < 3:
        return 0
    xy = np.column_stack([pts[:, 0] * aspect_ratio, pts[:, 1]])
    dt = np.maximum(np.diff(pts[:, 2]), 1e-6)
    velocity = np.diff(xy, axis=0) / dt[:, None]
    dv = np.hypot(*(velocity[1:] - velocity[:-1]).T)
    allowed = (
        s.gate_min_norm / dt[:-1]
        + s.gate_min_norm / dt[1:]
        + s.max_accel_norm_s2 * (dt[:-1] + dt[1:]) / 2
    )
    bad = np.flatnonzero(dv > allowed)
    return int(bad[-1]) + 1 if bad.size else 0


def origin_of(
    fit: TrajectoryFit, first_point_norm: np.ndarray, top_y_norm: float, floors: FloorScale
) -> int:
    """The floor the object came from: the band holding the highest point of its trajectory.

    That is its apex: observed for an upward throw (``top_y_norm``, the highest point seen);
    back-extrapolated from the fit to where the vertical velocity was 0 when the object was already
    falling when first seen — but never more than one floor above where it was first seen (a
    dropped object is usually seen within a few frames of leaving the window; a longer
    extrapolation of a short fit is noise, and an object at drag-limited speed would extrapolate
    to the sky).

    Args:
        fit: the trajectory fit.
        first_point_norm: (x, y, t) of the first coherent point.
        top_y_norm: the smallest y seen on the coherent part.
        floors: the floor scale.

    Returns:
        The floor number, clamped to the visible floors.
    """
    y_first, t_first = float(first_point_norm[1]), float(first_point_norm[2])
    y_top = top_y_norm
    apex_t = fit.apex_t_s
    if apex_t is not None and apex_t < t_first:
        y_limit = floors.y_of_level(floors.level_of(y_first) + 1.0)
        y_top = min(y_top, max(float(fit.y_at(apex_t)), y_limit))
    return floors.floor_at(y_top)


def _significance(fit: TrajectoryFit) -> float:
    """The fitted acceleration in standard errors."""
    return fit.accel_norm_s2 / fit.accel_se_norm_s2 if fit.accel_se_norm_s2 > 0 else math.inf


def _lateral_accel(points_norm: np.ndarray, aspect_ratio: float) -> float:
    """|sideways acceleration| in frame heights/s² (x fitted with a quadratic), less two of its
    standard errors (0 when it is not significant)."""
    pts = np.asarray(points_norm, np.float64)
    if pts.shape[0] < 5:
        return 0.0
    t = pts[:, 2] - pts[0, 2]
    coef, _, se = _fit_y(t, pts[:, 0] * aspect_ratio)
    return max(abs(float(coef[2])) - 2.0 * se, 0.0)


def _speed_traded(points_norm: np.ndarray, fit: TrajectoryFit, aspect_ratio: float) -> float:
    """The sideways speed² lost over the points, as a fraction of the downward speed² gained.

    Gravity adds ``2·a·Δy`` to the squared downward speed and leaves the sideways speed alone; a
    bird turning into a dive at constant speed gains downward speed only by losing as much
    sideways (fraction ~1). x is fitted with a quadratic to measure its speed at both ends.
    """
    pts = np.asarray(points_norm, np.float64)
    if pts.shape[0] < 5:
        return 0.0
    t = pts[:, 2] - pts[0, 2]
    coef, _, _ = _fit_y(t, pts[:, 0] * aspect_ratio)
    vx0, vx1 = float(coef[1]), float(coef[1] + coef[2] * t[-1])
    t0, t1 = float(pts[0, 2]), float(pts[-1, 2])
    gained = 2.0 * fit.accel_norm_s2 * float(fit.y_at(t1) - fit.y_at(t0))
    if gained <= 0:
        return math.inf
    return (vx0 * vx0 - vx1 * vx1) / gained


def _drop_floors(y_norm: np.ndarray, floors: FloorScale) -> tuple[float, int]:
    """Floors from the highest point to the lowest point after it; and the highest's index."""
    top = int(np.argmin(y_norm))
    return floors.level_of(float(y_norm[top])) - floors.level_of(float(y_norm[top:].max())), top


def assess_fall(
    points_norm: np.ndarray,
    floors: FloorScale,
    min_drop_floors: float,
    settings: FallSettings | None = None,
    aspect_ratio: float = 16 / 9,
    thresholds: np.ndarray | None = None,
) -> FallVerdict:
    """The physics test: is this trajectory an object falling (or thrown) down the facade?

    On the coherent part of the trajectory (:func:`coherent_start`), in order, the first failure
    is the reason: at least ``min_points`` spanning ``min_span_s``; a drop of at least
    ``min_drop_floors`` from the highest point to the lowest after it; a quadratic fit of the window
    with a downward acceleration above ``min_accel_floors_s2`` and ``min_accel_z`` standard errors,
    and the same of a fit of the whole coherent part; not mostly in clutter (with ``thresholds``);
    RMS residuals of y (quadratic) and x (linear: roughly constant horizontal velocity) within
    ``max_fit_rms_norm`` with enough inliers; monotonic downward after the highest point (never
    rising back by more than ``max_retrace_norm``).

    Args:
        points_norm: float (n, 3) rows (x_norm, y_norm, t_s), times increasing.
        floors: the floor scale.
        min_drop_floors: floors the object must be seen to drop.
        settings: tuning.
        aspect_ratio: frame width / height.
        thresholds: optional (n,) detection threshold at each point (luma levels); when given,
            a window whose latest half has more than ``max_clutter_fraction`` of its points above
            ``clutter_threshold`` is CLUTTERED.

    Returns:
        The verdict.
    """
    s = settings or FallSettings()
    pts = np.asarray(points_norm, np.float64).reshape(-1, 3)
    if pts.shape[0] < s.min_points:
        return FallVerdict(False, FallReason.TOO_FEW_POINTS)
    raw_drop, _ = _drop_floors(pts[:, 1], floors)
    if raw_drop < min_drop_floors:
        return FallVerdict(False, FallReason.SHORT_DROP, drop_floors=raw_drop)
    start = coherent_start(pts, aspect_ratio, s)
    seg = pts[start:]
    if seg.shape[0] < s.min_points or seg[-1, 2] - seg[0, 2] < s.min_span_s:
        return FallVerdict(False, FallReason.TOO_FEW_POINTS, segment_start=start)
    in_window = seg[:, 2] >= seg[-1, 2] - s.fit_window_s
    if in_window.sum() < s.min_points:
        in_window[-s.min_points :] = True
    window = seg[in_window]
    drop, top = _drop_floors(seg[:, 1], floors)
    if drop < min_drop_floors:
        return FallVerdict(False, FallReason.SHORT_DROP, segment_start=start, drop_floors=drop)
    fit = fit_trajectory(window)
    per_norm = floors.floors_per_norm(float(np.median(window[:, 1])))
    accel_floors = fit.accel_norm_s2 * per_norm
    origin = origin_of(fit, seg[0], float(seg[top, 1]), floors)

    def verdict(reason: FallReason, score: float = 0.0) -> FallVerdict:
        return FallVerdict(
            reason is FallReason.FALL, reason, fit, start, drop, accel_floors, origin, score
        )

    z = _significance(fit)
    if accel_floors < s.min_accel_floors_s2 or z < s.min_accel_z:
        return verdict(FallReason.NOT_ACCELERATING)
    if thresholds is not None:
        # The latest half of the window only: an object that rested on a sill before it fell
        # raised the threshold there itself, so the slow start of a real fall sits on clutter.
        levels = np.asarray(thresholds, np.float64).reshape(-1)[start:][in_window]
        recent = levels[len(levels) // 2 :]
        if float((recent > s.clutter_threshold).mean()) > s.max_clutter_fraction:
            return verdict(FallReason.CLUTTERED)
    if seg.shape[0] > window.shape[0]:
        # The whole coherent part must accelerate too: a slow cradle whose blob jitters can
        # look accelerated over the last window, never over its whole, steady descent.
        whole = fit_trajectory(seg)
        whole_floors = whole.accel_norm_s2 * floors.floors_per_norm(float(np.median(seg[:, 1])))
        if whole_floors < s.min_accel_floors_s2 or _significance(whole) < s.min_accel_z:
            return verdict(FallReason.NOT_ACCELERATING)
    inlier_fraction = float(fit.inliers.mean())
    if (
        fit.rms_y_norm > s.max_fit_rms_norm
        or fit.rms_x_norm > s.max_fit_rms_norm
        or inlier_fraction < s.min_inlier_fraction
        or not fit.inliers[-1]
    ):
        # ... and the newest point must lie on the parabola: a blob that jumped away from a
        # still track (a leaf, a flickering window) is not yet a fall.
        return verdict(FallReason.POOR_FIT)
    apex_t = fit.apex_t_s
    if apex_t is not None:
        apex_level = floors.level_of(float(fit.y_at(apex_t)))
        if apex_level > floors.floor_count + s.max_apex_above_roof_floors:
            return verdict(FallReason.TOO_FAST)
    if (
        _lateral_accel(window[fit.inliers], aspect_ratio)
        > s.max_lateral_accel_ratio * max(fit.accel_norm_s2, 1e-9)
        or _speed_traded(window[fit.inliers], fit, aspect_ratio) > s.max_speed_trade
    ):
        return verdict(FallReason.TURNING)
    after_top = seg[top:, 1]
    retrace = float((np.maximum.accumulate(after_top) - after_top).max())
    if retrace > s.max_retrace_norm:
        return verdict(FallReason.NOT_MONOTONIC)
    quality = 1.0 - max(fit.rms_y_norm, fit.rms_x_norm) / max(s.max_fit_rms_norm, 1e-9)
    significance = min(1.0, z / (2.0 * max(s.min_accel_z, 1e-9)))
    score = min(max(0.5 + 0.5 * quality * significance, 0.0), 1.0) * inlier_fraction
    return verdict(FallReason.FALL, round(score, 3))
