"""FallingObjectRule: an object falling or thrown down a facade, from motion alone (no detector).

Per frame, at the full frame rate on the luma at the motion width (480x270 for 720p):
background model on the facade zone's bounding rectangle only → foreground inside the zone →
small blobs → blob tracks → for each track not yet part of a fall, the physics test of
:func:`vision.falling.assess_fall`. The first frame at which a track passes opens a hazard (its
``start_pts_s`` is that frame's time); a later track that follows an open fall's fitted path (a
fragment of the same object, or the same object split in two blobs) joins it instead of opening
another; a fall ends when its object made no downward progress for ``end_after_s`` (it landed, left
the zone or was lost), and its tracks never trigger again.

Distractors and what stops them: birds (horizontal or upward flight, or a glide with no
acceleration) fail the acceleration or drop test; foliage and blinking windows have no net
displacement, and tracks that live where the scene keeps moving (leaves whose blobs merge and
split) are not trusted; a slow cradle has no acceleration; rain or snow (more than ``max_blobs``
blobs in one frame that changed since the previous picture: the frozen foreground of a heavily
compressed stream does not count) drops every track and opens nothing; a camera shake or a global
lighting change (more than ``shake_changed_fraction`` of the zone changed) resets the background
and every track.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from vision.falling import (
    BackgroundModel,
    Blobs,
    BlobTrack,
    BlobTracker,
    FallSettings,
    FallVerdict,
    FloorScale,
    MotionState,
    TrajectoryFit,
    assess_fall,
    changed_pixels,
    find_blobs,
    fit_trajectory,
)
from vision.frame_timing import CaptureClock, RepeatDetector
from vision.rules.base import OpenHazard
from vision.types import HazardEvent, HazardKind
from vision.zones import Anchor, PolygonZone


@dataclass(slots=True)
class _Fall:
    """One falling object from its start event to its end event."""

    hazard: OpenHazard
    verdict: FallVerdict  # the verdict that opened the fall
    settings: FallSettings
    clock: CaptureClock  # the rule's: stamps of distinct pictures -> capture times
    track_ids: list[int] = field(default_factory=list)
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, t) by t
    fit: TrajectoryFit | None = None  # of the last fit_window_s of the fall, kept current
    max_y_norm: float = -math.inf
    last_progress_s: float = -math.inf
    seen_t: dict[int, float] = field(default_factory=dict)  # track id -> last time added

    def add(self, track: BlobTrack, width_px: int, height_px: int, since_index: int = 0) -> None:
        """Add the points of ``track`` not yet in this fall (from ``since_index`` on)."""
        since = self.seen_t.get(track.track_id, track.t_s[since_index] - 1e-9)
        times = self.clock.snap(np.asarray(track.t_s))  # physics on capture times
        rows = zip(track.x_px, track.y_px, track.t_s, times, strict=True)
        new = [(x / width_px, y / height_px, float(t), s) for x, y, s, t in rows if s > since]
        if not new:
            return
        self.seen_t[track.track_id] = track.t_s[-1]
        if track.track_id not in self.track_ids:
            self.track_ids.append(track.track_id)
        self.points.extend((x, y, t) for x, y, t, _ in new)
        self.points.sort(key=lambda p: p[2])
        for _, y, _, stamp in new:  # progress on the tracks' clock
            if y > self.max_y_norm + 0.01:
                self.max_y_norm = y
                self.last_progress_s = max(self.last_progress_s, stamp)
        recent = np.asarray(self.points, np.float64)
        recent = recent[recent[:, 2] >= recent[-1, 2] - self.settings.fit_window_s]
        if recent.shape[0] >= 4:
            self.fit = fit_trajectory(recent)

    def continues(self, points: np.ndarray, aspect_ratio: float) -> bool:
        """Whether a track that began after this fall ended continues its parabola: its last
        points within ``merge_distance_norm`` (growing by half of it per second of gap) of the
        fitted path, and its velocity within 30 % (plus ``merge_distance_norm`` per second) of
        the fitted velocity at its time."""
        fit = self.fit
        if fit is None or points.shape[0] < 3:
            return False
        s = self.settings
        recent = points[-4:]
        t = recent[:, 2]
        ahead_s = np.maximum(t - self.points[-1][2], 0.0)
        dx = (recent[:, 0] - fit.x_at(t)) * aspect_ratio
        dy = recent[:, 1] - fit.y_at(t)
        if not bool((np.hypot(dx, dy) <= s.merge_distance_norm * (1 + 0.5 * ahead_s)).all()):
            return False
        span = float(t[-1] - t[0])
        if span <= 0:
            return False
        vx = (recent[-1, 0] - recent[0, 0]) / span * aspect_ratio
        vy = (recent[-1, 1] - recent[0, 1]) / span
        t_mid = 0.5 * (t[0] + t[-1])
        fit_vx = fit.vx_norm_s * aspect_ratio
        fit_vy = fit.v0_norm_s + fit.accel_norm_s2 * (t_mid - fit.t0_s)
        error = math.hypot(vx - fit_vx, vy - fit_vy)
        return error <= 0.3 * math.hypot(fit_vx, fit_vy) + s.merge_distance_norm / 0.04

    def follows(self, points: np.ndarray, aspect_ratio: float) -> bool:
        """Whether the last points of a track lie on this fall's path (a fragment of it).

        The tolerance is ``merge_distance_norm`` plus what an unmodelled acceleration of
        ``accel_allowance_norm_s2`` adds over the extrapolation from the fall's last point.
        """
        if self.fit is None:
            return False
        s = self.settings
        recent = points[-4:]
        t = recent[:, 2]
        ahead_s = np.maximum(t - self.points[-1][2], 0.0)
        dx = (recent[:, 0] - self.fit.x_at(t)) * aspect_ratio  # widths -> heights
        dy = recent[:, 1] - self.fit.y_at(t)
        tolerance = s.merge_distance_norm + 0.5 * s.accel_allowance_norm_s2 * ahead_s**2
        return bool((np.hypot(dx, dy) <= tolerance).all())


class FallingObjectRule:
    """Raises ``falling_object`` hazards from the luma of a facade camera.

    Args:
        camera_id: camera slug.
        zone_id: id of the facade zone.
        polygon_norm: the facade polygon, normalized [x, y] points of the full frame.
        floor_lines_norm: y of the floor boundaries, top to bottom (normalized).
        lowest_visible_floor: floor number whose base is the last line (ground = 1).
        floor_count: floors of the building.
        min_drop_floors: floors the object must be seen to drop.
        settings: tuning of the motion analysis (defaults suit 480-wide luma at 25–30 fps).

    Raises:
        ValueError: on an empty id, a bad polygon or floor lines, ``min_drop_floors`` not
            positive or more than the visible floors, or settings of another type.
    """

    kind = HazardKind.FALLING_OBJECT

    def __init__(
        self,
        camera_id: str,
        zone_id: str,
        polygon_norm: Sequence[Sequence[float]],
        floor_lines_norm: Sequence[float],
        lowest_visible_floor: int,
        floor_count: int,
        min_drop_floors: float,
        *,
        settings: FallSettings | None = None,
    ) -> None:
        if not camera_id:
            raise ValueError("FallingObjectRule: camera_id must not be empty")
        if not zone_id:
            raise ValueError(f"FallingObjectRule {camera_id}: zone_id must not be empty")
        self.camera_id = camera_id
        self.zone_id = zone_id
        self.zone = PolygonZone(zone_id, polygon_norm, Anchor.CENTER)
        try:
            self.floors = FloorScale(tuple(floor_lines_norm), lowest_visible_floor, floor_count)
        except ValueError as exc:
            raise ValueError(f"FallingObjectRule {camera_id}/{zone_id}: {exc}") from exc
        visible = len(self.floors.lines_norm) - 1
        if not 0 < min_drop_floors <= visible:
            raise ValueError(
                f"FallingObjectRule {camera_id}/{zone_id}: min_drop_floors must be in "
                f"(0, {visible}] (the visible floors), got {min_drop_floors}"
            )
        if settings is not None and not isinstance(settings, FallSettings):
            raise ValueError(
                f"FallingObjectRule {camera_id}/{zone_id}: settings must be a FallSettings, got "
                f"{type(settings).__name__}"
            )
        self.min_drop_floors = float(min_drop_floors)
        self.settings = settings or FallSettings()
        self.background = BackgroundModel(self.settings)
        self.state = MotionState.WARMUP
        self.frames_by_state: dict[MotionState, int] = dict.fromkeys(MotionState, 0)
        self._size: tuple[int, int] | None = None
        self._roi = (0, 0, 0, 0)
        self._roi_mask = np.zeros((0, 0), np.uint8)
        self._tracker = BlobTracker(1, 1, self.settings)
        self._max_blob_area_px = 0
        self._falls: list[_Fall] = []
        # Falls ended within ``merge_gap_s``: a later track on their parabola is the same object
        # (lost in rain, a shake or behind a balcony for longer than ``end_after_s``), not a new
        # start. Kept as (fall, ended at capture time).
        self._ended: list[tuple[_Fall, float]] = []
        self._track_fall: dict[int, _Fall] = {}
        self._spent: set[int] = set()  # tracks of ended falls: never trigger again
        self._last_pts_s = -math.inf
        # Physics runs on distinct pictures at their capture times (vision/frame_timing.py).
        self._repeats = RepeatDetector(
            self.settings.repeat_max_block_shift, self.settings.repeat_max_block_diff
        )
        self._clock = CaptureClock()
        self._capture_offset_s = 0.0  # capture time - stamp, of the last distinct picture
        self._previous_roi: np.ndarray | None = None  # zone luma of the last distinct picture
        self.frames_repeated = 0
        # The moving blobs of the last distinct picture (never changed once set: another thread
        # may hold it), for the zone editor's "what is seen now".
        self.last_blobs = Blobs.empty()

    @property
    def active(self) -> bool:
        """Whether a fall is open now."""
        return bool(self._falls)

    @property
    def state_size(self) -> dict[str, int]:
        """How much per-track and per-fall state the rule holds (bounded: pruned as tracks end)."""
        return {
            "tracks": len(self._tracker.tracks),
            "track_falls": len(self._track_fall),
            "spent_tracks": len(self._spent),
            "open_falls": len(self._falls),
            "ended_falls": len(self._ended),
        }

    def _configure(self, width_px: int, height_px: int) -> list[int]:
        """Zone rectangle and mask for a new frame size; returns the ids of dropped tracks."""
        mask = self.zone.mask(width_px, height_px)
        ys, xs = np.nonzero(mask)
        if xs.size == 0:
            raise ValueError(
                f"FallingObjectRule {self.camera_id}/{self.zone_id}: the zone covers no pixel of a "
                f"{width_px}x{height_px} frame"
            )
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        self._roi = (x1, y1, x2, y2)
        self._roi_mask = np.ascontiguousarray(mask[y1:y2, x1:x2] * np.uint8(255))
        self._size = (width_px, height_px)
        self._max_blob_area_px = max(
            int(self.settings.max_blob_area_fraction * width_px * height_px),
            self.settings.min_blob_area_px,
        )
        dropped = list(self._tracker.reset())
        self._tracker = BlobTracker(width_px, height_px, self.settings)
        self.background.reset()
        self._repeats.reset()
        self._previous_roi = None
        return dropped

    def _check_input(self, luma: np.ndarray, pts_s: float, captured_at: datetime) -> None:
        where = f"FallingObjectRule {self.camera_id}/{self.zone_id}"
        if not isinstance(luma, np.ndarray) or luma.dtype != np.uint8 or luma.ndim != 2:
            got = (getattr(luma, "dtype", type(luma).__name__), getattr(luma, "shape", None))
            raise ValueError(f"{where}: luma must be a uint8 (h, w) array, got {got}")
        if luma.shape[0] < 8 or luma.shape[1] < 8:
            raise ValueError(f"{where}: luma of shape {luma.shape} is too small (min 8x8)")
        if not math.isfinite(pts_s) or pts_s <= self._last_pts_s:
            raise ValueError(
                f"{where}: pts_s must be finite and increase, got {pts_s} after {self._last_pts_s}"
            )
        if captured_at.tzinfo is None or captured_at.utcoffset() is None:
            raise ValueError(f"{where}: captured_at must be timezone-aware (UTC)")

    def blob_boxes_norm(self, blobs: Blobs) -> list[list[float]]:
        """``blobs`` (of this rule's frames) as [x1, y1, x2, y2] fractions of the frame."""
        if self._size is None or not len(blobs.area_px):
            return []
        width, height = self._size
        return [
            [
                round(x1 / width, 4),
                round(y1 / height, 4),
                round(x2 / width, 4),
                round(y2 / height, 4),
            ]
            for x1, y1, x2, y2 in blobs.xyxy_px.tolist()
        ]

    def update(self, luma: np.ndarray, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """Analyse one frame.

        Args:
            luma: uint8 (h, w) luma of the whole frame at the motion width.
            pts_s: its stream time (seconds, increasing).
            captured_at: its wall-clock time, UTC.

        Returns:
            Start and end events decided at this frame.

        Raises:
            ValueError: on a luma that is not 2-D uint8 (or smaller than 8x8), a ``pts_s`` that
                does not increase, or a naive ``captured_at``.
        """
        self._check_input(luma, pts_s, captured_at)
        self._last_pts_s = pts_s
        height_px, width_px = luma.shape
        finished: list[int] = []
        if self._size != (width_px, height_px):
            finished += self._configure(width_px, height_px)
        x1, y1, x2, y2 = self._roi
        roi = luma[y1:y2, x1:x2]
        if self._repeats.is_repeat(roi):
            # A repeated picture (an NVR's filler, a re-muxed sensor's duplicate, or nothing
            # moved): no new information, neither "the object stood still" nor "it was missed".
            self.frames_repeated += 1
            now_s = pts_s + self._capture_offset_s
            finished += self._tracker.expire(now_s)  # tracks already missed in a new picture
            for track_id in finished:
                self._track_fall.pop(track_id, None)
                self._spent.discard(track_id)
            return self._end_stale(now_s, pts_s, captured_at)
        t_s = self._clock.time_of(pts_s)
        self._capture_offset_s = t_s - pts_s
        fg = self.background.update(roi, t_s, self._roi_mask)
        previous, self._previous_roi = self._previous_roi, roi.copy()
        state = fg.state
        blobs = Blobs.empty()
        if state is MotionState.OK:
            changed = None
            if previous is not None and previous.shape == roi.shape:
                changed = changed_pixels(roi, previous, self.settings.fresh_min_diff)
            blobs = find_blobs(
                fg.mask,
                self.settings.min_blob_area_px,
                self._max_blob_area_px,
                (x1, y1),
                fg.threshold,
                changed,
            )
            if blobs.fresh_count > self.settings.max_blobs:
                state, blobs = MotionState.CROWDED, Blobs.empty()
        if state in (MotionState.SHAKE, MotionState.CROWDED):
            finished += self._tracker.reset()
        self.state = state
        self.frames_by_state[state] += 1
        self.last_blobs = blobs
        tracked = self._tracker.update(blobs, t_s)
        finished += tracked.finished
        for track_id in finished:
            self._track_fall.pop(track_id, None)
            self._spent.discard(track_id)
        events: list[HazardEvent] = []
        for track in tracked.live:
            event = self._follow(track, t_s, pts_s, captured_at)
            if event is not None:
                events.append(event)
        events += self._end_stale(t_s, pts_s, captured_at)
        return events

    def close(self, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """The stream ended: end every open fall."""
        events = [self._end(fall, pts_s, captured_at) for fall in self._falls]
        self._falls.clear()
        self._ended.clear()
        return events

    def _points(self, track: BlobTrack) -> np.ndarray:
        """The track's points (normalized), timed at the capture times of their pictures."""
        width_px, height_px = self._size or (1, 1)
        points = track.points_norm(width_px, height_px)
        points[:, 2] = self._clock.snap(points[:, 2])
        return points

    def _follow(
        self, track: BlobTrack, t_s: float, pts_s: float, captured_at: datetime
    ) -> HazardEvent | None:
        """Extend the fall this track belongs to, join one, or open one if it passes the test.

        Tracks and the rule's bookkeeping run on capture times (``t_s``: the stamp until the
        clock has found the sensor's grid); the physics re-times a track's points on the grid
        as known now (:meth:`_points`); events carry the stamp ``pts_s``."""
        width_px, height_px = self._size or (1, 1)
        fall = self._track_fall.get(track.track_id)
        if fall is not None:
            fall.add(track, width_px, height_px)
            return None
        if track.track_id in self._spent or len(track) < 2:
            return None
        self._ended = [(f, e) for f, e in self._ended if t_s - e <= self.settings.merge_gap_s]
        if not self._falls and not self._ended and len(track) < self.settings.min_points:
            return None  # no fall to join, too short to test: its points are not needed
        points = self._points(track)
        for fall in self._falls:
            if fall.follows(points, width_px / height_px):
                self._track_fall[track.track_id] = fall
                fall.add(track, width_px, height_px)
                return None
        for fall, _ in self._ended:
            if fall.continues(points, width_px / height_px):
                self._spent.add(track.track_id)  # a fragment of a fall already reported
                return None
        if len(track) < self.settings.min_points:
            return None
        verdict = assess_fall(
            points,
            self.floors,
            self.min_drop_floors,
            self.settings,
            width_px / height_px,
            np.asarray(track.threshold),
        )
        if not verdict.is_fall or verdict.fit is None:
            return None
        if any(f.hazard.start_pts_s == pts_s for f in self._falls):
            # a second object decided at the same frame would get the same hazard id (ids are
            # derived from the start time): it opens at the next picture instead
            return None
        hazard = OpenHazard(self.kind, self.camera_id, self.zone_id, pts_s, captured_at)
        fall = _Fall(hazard, verdict, self.settings, self._clock)
        fall.add(track, width_px, height_px, since_index=verdict.segment_start)
        fall.last_progress_s = t_s
        self._falls.append(fall)
        self._track_fall[track.track_id] = fall
        return hazard.start(**self._fields(fall))

    def _end_stale(self, t_s: float, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """End the falls whose object made no progress for ``end_after_s`` (capture time)."""
        self._ended = [(f, e) for f, e in self._ended if t_s - e <= self.settings.merge_gap_s]
        events = []
        for fall in list(self._falls):
            if t_s - fall.last_progress_s > self.settings.end_after_s:
                events.append(self._end(fall, pts_s, captured_at))
                self._falls.remove(fall)
                self._ended.append((fall, t_s))
        return events

    def _end(self, fall: _Fall, pts_s: float, captured_at: datetime) -> HazardEvent:
        for track_id in fall.track_ids:
            if self._track_fall.pop(track_id, None) is not None:
                self._spent.add(track_id)
        return fall.hazard.end(pts_s, captured_at, **self._fields(fall))

    def _fields(self, fall: _Fall) -> dict[str, Any]:
        """Event fields of a fall: the fit that opened it, the trajectory seen so far."""
        verdict = fall.verdict
        fit = verdict.fit
        pts = np.asarray(fall.points, np.float64)
        top = int(np.argmin(pts[:, 1]))
        drop = self.floors.level_of(float(pts[top, 1])) - self.floors.level_of(
            float(pts[top:, 1].max())
        )
        x1, y1 = np.clip(pts[:, :2].min(axis=0), 0.0, 1.0)
        x2, y2 = np.clip(pts[:, :2].max(axis=0), 0.0, 1.0)
        details: dict[str, Any] = {
            "origin_floor": verdict.origin_floor,
            "drop_floors": round(float(max(drop, verdict.drop_floors)), 2),
            "accel_norm_s2": None if fit is None else round(fit.accel_norm_s2, 4),
            "accel_floors_s2": round(verdict.accel_floors_s2, 3),
            "fit_rms_norm": None if fit is None else round(max(fit.rms_y_norm, fit.rms_x_norm), 5),
            "vx_norm_s": None if fit is None else round(fit.vx_norm_s, 4),
            "trajectory_norm": [[round(x, 4), round(y, 4), round(t, 3)] for x, y, t in pts],
        }
        return {
            "track_ids": list(fall.track_ids),
            "labels": [],
            "score": verdict.score,
            "box_norm": (float(x1), float(y1), float(x2), float(y2)),
            "details": details,
        }
