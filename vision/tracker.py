"""Multi-object tracking over detections, ByteTrack-style, with time measured in stream seconds.

What it keeps from ByteTrack (Zhang et al., 2022): a constant-velocity Kalman filter per track,
two-stage association (high-score detections first, then low-score ones against the tracks that
are still active, which recovers partly occluded objects the detector is unsure of), IoU matching,
and new tracks only from high-score detections. What it changes for our cameras:

* **Time, not frames.** Every buffer is in seconds of ``pts_s``; the filter predicts over the real
  gap between two updates (the constant-velocity model integrated over ``dt``), so a detector
  running at a varying rate, or dropped frames, change nothing but the gap.
* **Stationary objects are kept.** A track whose centre moved less than ``stationary_speed`` box
  sizes per second over ``stationary_window_s`` is stationary (a parked car, a box left in a lane).
  When the detector misses it, it is kept at its last box at rest for ``stationary_coast_ratio``
  times as long as it has been seen at rest (at least ``lost_s``, at most ``stationary_lost_s``):
  a car parked for a minute survives a 30 s gap, while something seen at rest for half a second
  (often a false or partial detection) does not linger. It is matched by IoU with its last
  measured boxes instead of a prediction, so a car passing in front of a parked one (whose box
  overlaps it) neither steals it nor is stolen. A stationary track turns moving again only when
  its centre moves faster than ``moving_speed`` while its box keeps its size (a box that shrinks
  or grows while its centre shifts is being occluded or uncovered, not driven away).
* **Class flicker.** Matching across classes is allowed when the boxes agree well
  (``cross_class_iou``; a small penalty breaks ties); each track reports the majority class of
  its history, so car ↔ truck flicker keeps one id.
* **Duplicates.** Detectors with per-class NMS report one vehicle as "truck 0.67" and "car 0.48";
  a new track is never started from a detection overlapping an existing track's box by more than
  ``duplicate_iou``.
* **Low frame rates.** A track with a single hit has no velocity yet, so its box is compared with
  a buffered IoU (both boxes enlarged by ``new_track_buffer``, as in C-BIoU), which lets a fast
  object's second detection, at 5 detections per second, still match its first.

Confirmation: a new track is tentative (not reported, no id) until it has ``min_hits`` hits, or
at once when its detection's confidence is at least ``confirm_confidence``; a tentative track
that goes ``tentative_lost_s`` without a hit is dropped silently. Ids are given at confirmation,
from 1, in order. When a confirmed track expires its id is reported once in ``ended_track_ids``
and all its state is dropped.

Known limit: when two objects of similar size cross with the same speed and one of them is not
detected while they overlap, the prediction decides which is which; objects that stop or turn
while hidden may swap ids (the limit of every motion-only tracker).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields

import numpy as np

from vision.types import Detections, Tracks

__all__ = ["Tracker", "TrackerSettings", "box_iou_xyxy"]

# A measurement refreshes a stationary track's box at rest only when it agrees with it this well
# (detector jitter on a resting object stays above it; a box cut by an occluder falls below).
_REST_REFRESH_IOU = 0.8
# A box whose area changed by more than this factor while its centre moved is being occluded or
# uncovered: that motion does not make a stationary track moving.
_STEADY_AREA_RATIO = 0.7


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """Tuning of :class:`Tracker`. Times are seconds of stream time; speeds are in box sizes
    (the square root of the box area) per second, so they hold for near and far objects alike.

    Attributes:
        high_confidence: detections at or above this score take part in the first association.
        low_confidence: detections in [low_confidence, high_confidence) only extend active tracks.
        new_track_confidence: minimum score of a detection that starts a track.
        confirm_confidence: a new track with a detection at least this confident is confirmed at
            once; others need ``min_hits``.
        min_hits: hits that confirm a tentative track.
        match_iou: minimum IoU of a match in the first and the tentative association.
        low_match_iou: minimum IoU of a match with a low-score detection.
        duplicate_iou: a detection overlapping a tracked box by this IoU never starts a track.
        new_track_buffer: each side of both boxes is enlarged by this fraction of the box size
            when a single-hit track (no velocity yet) is matched.
        cross_class_iou: a detection whose class differs from the track's majority class
            matches only with at least this IoU (class flicker keeps the box; a handbag's track
            must not jump onto the person next to it).
        class_mismatch_penalty: subtracted from the IoU when the detection's class differs from
            the track's majority class (breaks ties; does not forbid the match).
        lost_s: how long a moving track is kept (coasting on its prediction) without a hit.
        stationary_lost_s: longest a stationary track is kept (at its box at rest).
        stationary_coast_ratio: a stationary track is kept this many times as long as it has
            been seen at rest (then clamped to [lost_s, stationary_lost_s]).
        tentative_lost_s: how long a tentative track waits for its next hit.
        stationary_window_s: time over which the centre speed is measured.
        stationary_speed: below this centre speed a track becomes stationary.
        moving_speed: above this centre speed (with a box of stable size) a stationary track
            becomes moving again.
        measurement_std: detector box noise, as a fraction of the box size.
        position_accel_std: process noise of the centre (box sizes per second squared).
        size_accel_std: process noise of the width and height (box sizes per second squared).
        initial_velocity_std: uncertainty of a new track's velocity (box sizes per second).
    """

    high_confidence: float = 0.4
    low_confidence: float = 0.1
    new_track_confidence: float = 0.4
    confirm_confidence: float = 0.6
    min_hits: int = 2
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    duplicate_iou: float = 0.6
    new_track_buffer: float = 0.3
    cross_class_iou: float = 0.5
    class_mismatch_penalty: float = 0.05
    lost_s: float = 1.5
    stationary_lost_s: float = 30.0
    stationary_coast_ratio: float = 2.0
    tentative_lost_s: float = 1.0
    stationary_window_s: float = 1.0
    stationary_speed: float = 0.1
    moving_speed: float = 0.3
    measurement_std: float = 0.05
    position_accel_std: float = 2.0
    size_accel_std: float = 1.0
    initial_velocity_std: float = 2.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"TrackerSettings.{f.name} must be a finite number, got {value!r}")
        unit_fields = (
            "high_confidence",
            "low_confidence",
            "new_track_confidence",
            "confirm_confidence",
            "match_iou",
            "low_match_iou",
            "duplicate_iou",
            "cross_class_iou",
            "class_mismatch_penalty",
        )
        for name in unit_fields:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TrackerSettings.{name} must lie in [0, 1], got {value}")
        positive_fields = (
            "lost_s",
            "stationary_lost_s",
            "stationary_coast_ratio",
            "tentative_lost_s",
            "stationary_window_s",
            "stationary_speed",
            "moving_speed",
            "measurement_std",
            "position_accel_std",
            "size_accel_std",
            "initial_velocity_std",
        )
        for name in positive_fields:
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"TrackerSettings.{name} must be > 0, got {value}")
        if not isinstance(self.min_hits, int) or self.min_hits < 1:
            raise ValueError(
                f"TrackerSettings.min_hits must be an integer >= 1, got {self.min_hits}"
            )
        if self.new_track_buffer < 0:
            raise ValueError(
                f"TrackerSettings.new_track_buffer must be >= 0, got {self.new_track_buffer}"
            )
        if self.low_confidence > self.high_confidence:
            raise ValueError(
                f"TrackerSettings.low_confidence ({self.low_confidence}) must not exceed "
                f"high_confidence ({self.high_confidence})"
            )
        if self.new_track_confidence < self.high_confidence:
            raise ValueError(
                f"TrackerSettings.new_track_confidence ({self.new_track_confidence}) must be at "
                f"least high_confidence ({self.high_confidence})"
            )
        if self.moving_speed < self.stationary_speed:
            raise ValueError(
                f"TrackerSettings.moving_speed ({self.moving_speed}) must be at least "
                f"stationary_speed ({self.stationary_speed})"
            )
        if self.stationary_lost_s < self.lost_s:
            raise ValueError(
                f"TrackerSettings.stationary_lost_s ({self.stationary_lost_s}) must be at least "
                f"lost_s ({self.lost_s})"
            )


def box_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of two sets of boxes.

    Args:
        a: float (n, 4) boxes (x1, y1, x2, y2).
        b: float (m, 4) boxes in the same units.

    Returns:
        float64 (n, m) IoU in [0, 1]; 0 where both boxes have no area.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _buffered(xyxy: np.ndarray, ratio: float) -> np.ndarray:
    """Boxes with each side pushed out by ``ratio`` of their width / height."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    w = (xyxy[:, 2] - xyxy[:, 0]) * ratio
    h = (xyxy[:, 3] - xyxy[:, 1]) * ratio
    return xyxy + np.stack([-w, -h, w, h], axis=1)


def _to_cxcywh(xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = xyxy[..., 0], xyxy[..., 1], xyxy[..., 2], xyxy[..., 3]
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


def _to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    cx, cy = cxcywh[..., 0], cxcywh[..., 1]
    w = np.maximum(cxcywh[..., 2], 1.0)
    h = np.maximum(cxcywh[..., 3], 1.0)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _size_px(xyxy: np.ndarray) -> float:
    """Box size: square root of the area, at least 1 px."""
    x1, y1, x2, y2 = xyxy.tolist()
    w, h = x2 - x1, y2 - y1
    return max(math.sqrt(max(w * h, 0.0)), 1.0)


def _iou_pair(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two single boxes (x1, y1, x2, y2)."""
    ax1, ay1, ax2, ay2 = a.tolist()
    bx1, by1, bx2, by2 = b.tolist()
    inter = max(min(ax2, bx2) - max(ax1, bx1), 0.0) * max(min(ay2, by2) - max(ay1, by1), 0.0)
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def _greedy_match(scores: np.ndarray, gate: float) -> list[tuple[int, int]]:
    """Pairs (row, col) taken greedily by descending score, each row and column at most once.

    Ties are broken by row then column, so the result is deterministic.
    """
    if scores.size == 0:
        return []
    rows, cols = np.nonzero(scores >= gate)
    if rows.size == 0:
        return []
    order = np.lexsort((cols, rows, -scores[rows, cols]))
    taken_rows: set[int] = set()
    taken_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in taken_rows or c in taken_cols:
            continue
        taken_rows.add(r)
        taken_cols.add(c)
        pairs.append((r, c))
    return pairs


@dataclass(slots=True)
class _Track:
    """State of one track. ``mean`` rows are (position, velocity) of (cx, cy, w, h); ``cov`` rows
    are the (pos-pos, pos-vel, vel-vel) covariances of each coordinate's 2-state filter."""

    key: int
    track_id: int  # 0 while tentative
    mean: np.ndarray  # float64 (2, 4)
    cov: np.ndarray  # float64 (3, 4)
    state_pts_s: float
    last_hit_pts_s: float
    last_box: np.ndarray  # float64 (4,), last measured box
    rest_box: np.ndarray  # float64 (4,), last full box measured at rest
    rest_refreshed_pts_s: float
    rest_since_pts_s: float  # start of the measurement window in which it came to rest
    confidence: float
    hits: int = 1
    majority: int = 0
    stationary: bool = False
    history: deque[tuple[float, np.ndarray]] = field(default_factory=lambda: deque(maxlen=256))
    votes: dict[int, list[float]] = field(default_factory=dict)

    def predicted_box(self, pts_s: float) -> np.ndarray:
        dt = max(pts_s - self.state_pts_s, 0.0)
        cx, cy, w, h = (self.mean[0] + self.mean[1] * dt).tolist()
        w, h = max(w, 1.0), max(h, 1.0)
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])

    def vote(self, class_id: int, confidence: float) -> None:
        """Count one detection's class; ``majority`` is the most frequent (then most confident,
        then lowest) class id."""
        tally = self.votes.setdefault(class_id, [0.0, 0.0])
        tally[0] += 1.0
        tally[1] += confidence
        self.majority = max(self.votes.items(), key=lambda kv: (kv[1][0], kv[1][1], -kv[0]))[0]


class Tracker:
    """ByteTrack-style multi-object tracker in stream time (see the module docstring).

    Args:
        settings: tuning; the defaults suit 1–25 detections per second of a COCO detector.

    Example:
        >>> tracker = Tracker()
        >>> tracks = tracker.update(detections, pts_s=frame.pts_s)  # doctest: +SKIP
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        if settings is not None and not isinstance(settings, TrackerSettings):
            raise TypeError(
                f"Tracker: settings must be a TrackerSettings, got {type(settings).__name__}"
            )
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._next_key = 1
        self._next_id = 1
        self._last_pts_s: float | None = None
        self._ended: tuple[int, ...] = ()

    # ----- public state ---------------------------------------------------------------------------

    @property
    def ended_track_ids(self) -> tuple[int, ...]:
        """Ids of the confirmed tracks removed by the last :meth:`update` (prune your state)."""
        return self._ended

    @property
    def track_count(self) -> int:
        """Tracks held now, tentative ones included (bounded: expired tracks are dropped)."""
        return len(self._tracks)

    @property
    def unsettled_count(self) -> int:
        """Tracks that need the detector on every sampled frame: tentative ones (not yet
        confirmed) and confirmed ones that move. Stationary confirmed tracks do not."""
        return sum(1 for t in self._tracks if not t.track_id or not t.stationary)

    def earliest_expiry_pts_s(self) -> float | None:
        """Stream time at which the first track would expire without another hit (None
        without tracks): a detector that skips frames must look again before then."""
        if not self._tracks:
            return None
        s = self.settings
        return min(
            t.last_hit_pts_s + (self._coast_window(t) if t.track_id else s.tentative_lost_s)
            for t in self._tracks
        )

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so they are never reused)."""
        self._ended = tuple(t.track_id for t in self._tracks if t.track_id)
        self._tracks = []
        self._last_pts_s = None

    # ----- update ---------------------------------------------------------------------------------

    def update(self, detections: Detections, pts_s: float) -> Tracks:
        """Associate this frame's detections with the tracks.

        Args:
            detections: this frame's detections (pixels of the analysed frame).
            pts_s: stream time of the frame in seconds; must not decrease between calls.

        Returns:
            Confirmed tracks, ordered by id: those matched now (``det_index`` is the row of
            ``detections``, box and confidence are the detection's, class is the track's majority
            class) and those still within their coast window (``det_index`` -1; box at rest for
            stationary tracks, predicted otherwise; confidence decayed linearly to 0 at the end
            of the window).

        Raises:
            TypeError: ``detections`` is not a :class:`~vision.types.Detections`.
            ValueError: ``pts_s`` is not finite or is earlier than the previous update's.
        """
        self._check_input(detections, pts_s)
        self._expire(pts_s)
        s = self.settings
        boxes = detections.xyxy.astype(np.float64)
        conf = detections.confidence
        cls = detections.class_id
        high = np.flatnonzero(conf >= s.high_confidence)
        low = np.flatnonzero((conf >= s.low_confidence) & (conf < s.high_confidence))

        confirmed = [t for t in self._tracks if t.track_id]
        tentative = [t for t in self._tracks if not t.track_id]
        matches: list[tuple[_Track, int]] = []

        # Stage 1: every confirmed track (active or coasting) against the high-score detections.
        pairs = self._associate(confirmed, boxes, cls, high, pts_s, s.match_iou)
        matches += pairs
        matched_tracks = {t.key for t, _ in pairs}
        free_high = np.setdiff1d(high, [d for _, d in pairs]).astype(np.intp)

        # Stage 2: tracks active at the previous update (or at rest) against low-score ones.
        previous = self._last_pts_s
        active = [
            t
            for t in confirmed
            if t.key not in matched_tracks and (t.stationary or t.last_hit_pts_s == previous)
        ]
        matches += self._associate(active, boxes, cls, low, pts_s, s.low_match_iou)

        # Stage 3: tentative tracks against the high-score detections left.
        pairs = self._associate(tentative, boxes, cls, free_high, pts_s, s.match_iou)
        matches += pairs
        free_high = np.setdiff1d(free_high, [d for _, d in pairs]).astype(np.intp)

        self._apply(matches, boxes, conf, cls, pts_s)
        matches += self._start_tracks(free_high, boxes, conf, cls, pts_s)
        self._last_pts_s = pts_s
        return self._output(matches, boxes, conf, pts_s)

    def _check_input(self, detections: Detections, pts_s: float) -> None:
        if not isinstance(detections, Detections):
            raise TypeError(
                f"Tracker.update: detections must be vision.types.Detections, "
                f"got {type(detections).__name__}"
            )
        if not isinstance(pts_s, (int, float)) or not math.isfinite(pts_s):
            raise ValueError(f"Tracker.update: pts_s must be a finite number, got {pts_s!r}")
        if self._last_pts_s is not None and pts_s < self._last_pts_s:
            raise ValueError(
                f"Tracker.update: pts_s went backwards: {pts_s} after {self._last_pts_s} "
                "(stream time must not decrease; call reset() after a discontinuity)"
            )

    def _expire(self, pts_s: float) -> None:
        """Drop tracks whose buffer ran out; remember the confirmed ids that ended."""
        s = self.settings
        kept: list[_Track] = []
        ended: list[int] = []
        for t in self._tracks:
            gap = pts_s - t.last_hit_pts_s
            if t.track_id:
                window = self._coast_window(t)
                if gap > window:
                    ended.append(t.track_id)
                    continue
            elif gap > s.tentative_lost_s:
                continue
            kept.append(t)
        self._tracks = kept
        self._ended = tuple(ended)

    def _associate(
        self,
        tracks: list[_Track],
        boxes: np.ndarray,
        cls: np.ndarray,
        det_rows: np.ndarray,
        pts_s: float,
        gate: float,
    ) -> list[tuple[_Track, int]]:
        """Greedy IoU matching of ``tracks`` with the detections ``det_rows``."""
        if not tracks or det_rows.size == 0:
            return []
        s = self.settings
        dets = boxes[det_rows]
        # Moving tracks are compared with their prediction; stationary ones with their last
        # measured box and their box at rest (the better of the two counts).
        means = np.stack([t.mean for t in tracks])
        dts = np.array([max(pts_s - t.state_pts_s, 0.0) for t in tracks])
        first = _to_xyxy(means[:, 0] + means[:, 1] * dts[:, None])
        second = first.copy()
        for i, t in enumerate(tracks):
            if t.stationary:
                first[i], second[i] = t.last_box, t.rest_box
        scores = np.maximum(box_iou_xyxy(first, dets), box_iou_xyxy(second, dets))
        fresh = np.array([t.hits == 1 and not t.stationary for t in tracks])
        if fresh.any() and s.new_track_buffer > 0:
            buffered = box_iou_xyxy(
                _buffered(first[fresh], s.new_track_buffer), _buffered(dets, s.new_track_buffer)
            )
            scores[fresh] = np.maximum(scores[fresh], buffered)
        majority = np.array([t.majority for t in tracks])
        mismatch = majority[:, None] != cls[det_rows][None, :]
        scores = np.where(mismatch & (scores < s.cross_class_iou), -1.0, scores)
        scores -= s.class_mismatch_penalty * mismatch
        return [(tracks[r], int(det_rows[c])) for r, c in _greedy_match(scores, gate)]

    # ----- state changes --------------------------------------------------------------------------

    def _apply(
        self,
        matches: list[tuple[_Track, int]],
        boxes: np.ndarray,
        conf: np.ndarray,
        cls: np.ndarray,
        pts_s: float,
    ) -> None:
        if not matches:
            return
        tracks = [t for t, _ in matches]
        rows = np.array([d for _, d in matches], np.intp)
        means = np.stack([t.mean for t in tracks])
        covs = np.stack([t.cov for t in tracks])
        dts = np.array([max(pts_s - t.state_pts_s, 0.0) for t in tracks])
        means, covs = self._kalman_step(means, covs, dts, _to_cxcywh(boxes[rows]))
        for i, (t, d) in enumerate(matches):
            t.mean, t.cov, t.state_pts_s = means[i], covs[i], pts_s
            self._observe(t, boxes[d], float(conf[d]), int(cls[d]), pts_s)

    def _observe(
        self, t: _Track, box: np.ndarray, confidence: float, class_id: int, pts_s: float
    ) -> None:
        """Record one hit: history, stationary state, box at rest, class vote, confirmation."""
        s = self.settings
        t.hits += 1
        t.last_hit_pts_s = pts_s
        t.confidence = confidence
        t.vote(class_id, confidence)
        t.history.append((pts_s, box.copy()))
        while len(t.history) > 1 and t.history[0][0] < pts_s - s.stationary_window_s - 1e-9:
            t.history.popleft()
        self._update_motion_state(t, box, pts_s)
        t.last_box = box.copy()
        if not t.track_id and (t.hits >= s.min_hits or confidence >= s.confirm_confidence):
            t.track_id = self._take_id()

    def _update_motion_state(self, t: _Track, box: np.ndarray, pts_s: float) -> None:
        s = self.settings
        t0, box0 = t.history[0]
        span = pts_s - t0
        if span >= s.stationary_window_s / 2:
            size0, size1 = _size_px(box0), _size_px(box)
            (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = box0.tolist(), box.tolist()
            dx, dy = (bx1 + bx2 - ax1 - ax2) / 2, (by1 + by2 - ay1 - ay2) / 2
            speed = math.hypot(dx, dy) / span / ((size0 + size1) / 2)
            area_ratio = (size1 / size0) ** 2
            if not t.stationary and speed < s.stationary_speed:
                t.stationary = True
                t.rest_since_pts_s = t0
                t.rest_box = box.copy()
                t.rest_refreshed_pts_s = pts_s
                return
            steady_size = _STEADY_AREA_RATIO <= area_ratio <= 1.0 / _STEADY_AREA_RATIO
            if t.stationary and speed > s.moving_speed and steady_size:
                t.stationary = False
                return
        if t.stationary:
            # Refresh the box at rest with consistent, unoccluded measurements; re-seed it when
            # the object settled into a new shape (a door opened, more clutter) for a while.
            overlap_rest = _iou_pair(box, t.rest_box)
            overlap_last = _iou_pair(box, t.last_box)
            stale = pts_s - t.rest_refreshed_pts_s > 2 * s.stationary_window_s
            if overlap_rest >= _REST_REFRESH_IOU or (stale and overlap_last >= _REST_REFRESH_IOU):
                t.rest_box = box.copy()
                t.rest_refreshed_pts_s = pts_s

    def _kalman_step(
        self, means: np.ndarray, covs: np.ndarray, dts: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predict over ``dts`` and update with measurements ``z`` (cx, cy, w, h), batched.

        The 8-state constant-velocity filter with diagonal noise is four independent 2-state
        filters (one per coordinate), so it is computed element-wise: exact and cheap.
        """
        s = self.settings
        pos, vel = means[:, 0], means[:, 1]
        p_pp, p_pv, p_vv = covs[:, 0], covs[:, 1], covs[:, 2]
        size = np.sqrt(np.maximum(pos[:, 2] * pos[:, 3], 1.0))[:, None]
        accel = np.array(
            [s.position_accel_std, s.position_accel_std, s.size_accel_std, s.size_accel_std]
        )
        q = (accel[None, :] * size) ** 2  # white-acceleration spectral density, px^2/s^3
        dt = dts[:, None]
        pos = pos + vel * dt
        p_pp = p_pp + 2 * dt * p_pv + dt**2 * p_vv + q * dt**3 / 3
        p_pv = p_pv + dt * p_vv + q * dt**2 / 2
        p_vv = p_vv + q * dt
        r = (s.measurement_std * size) ** 2
        innovation = z - pos
        s_inv = 1.0 / (p_pp + r)
        k_pos, k_vel = p_pp * s_inv, p_pv * s_inv
        pos = pos + k_pos * innovation
        vel = vel + k_vel * innovation
        new_cov = np.stack([(1 - k_pos) * p_pp, (1 - k_pos) * p_pv, p_vv - k_vel * p_pv], axis=1)
        return np.stack([pos, vel], axis=1), new_cov

    def _start_tracks(
        self,
        rows: np.ndarray,
        boxes: np.ndarray,
        conf: np.ndarray,
        cls: np.ndarray,
        pts_s: float,
    ) -> list[tuple[_Track, int]]:
        """Start tentative (or at once confirmed) tracks; returns them with their detection."""
        s = self.settings
        candidates = [int(d) for d in rows if conf[d] >= s.new_track_confidence]
        if not candidates:
            return []
        candidates.sort(key=lambda d: (-float(conf[d]), d))
        taken = [
            t.last_box if t.last_hit_pts_s == pts_s else self._coast_box(t, pts_s)
            for t in self._tracks
        ]
        started: list[tuple[_Track, int]] = []
        for d in candidates:
            box = boxes[d]
            if taken and box_iou_xyxy(box, np.stack(taken)).max() >= s.duplicate_iou:
                continue
            taken.append(box)
            track = self._new_track(box, float(conf[d]), int(cls[d]), pts_s)
            self._tracks.append(track)
            started.append((track, d))
        return started

    def _new_track(self, box: np.ndarray, confidence: float, class_id: int, pts_s: float) -> _Track:
        s = self.settings
        size = _size_px(box)
        pos_var = (2 * s.measurement_std * size) ** 2
        vel_var = (s.initial_velocity_std * size) ** 2
        track = _Track(
            key=self._next_key,
            track_id=0,
            mean=np.stack([_to_cxcywh(box), np.zeros(4)]),
            cov=np.stack([np.full(4, pos_var), np.zeros(4), np.full(4, vel_var)]),
            state_pts_s=pts_s,
            last_hit_pts_s=pts_s,
            last_box=box.copy(),
            rest_box=box.copy(),
            rest_refreshed_pts_s=pts_s,
            rest_since_pts_s=pts_s,
            confidence=confidence,
        )
        self._next_key += 1
        track.vote(class_id, confidence)
        track.history.append((pts_s, box.copy()))
        if confidence >= s.confirm_confidence or s.min_hits <= 1:
            track.track_id = self._take_id()
        return track

    def _take_id(self) -> int:
        track_id = self._next_id
        self._next_id += 1
        return track_id

    # ----- output ---------------------------------------------------------------------------------

    def _coast_window(self, t: _Track) -> float:
        """How long ``t`` is kept after its last hit."""
        s = self.settings
        if not t.stationary:
            return s.lost_s
        at_rest_s = t.last_hit_pts_s - t.rest_since_pts_s
        return min(max(s.stationary_coast_ratio * at_rest_s, s.lost_s), s.stationary_lost_s)

    def _coast_box(self, t: _Track, pts_s: float) -> np.ndarray:
        return t.rest_box if t.stationary else t.predicted_box(pts_s)

    def _output(
        self,
        matches: list[tuple[_Track, int]],
        boxes: np.ndarray,
        conf: np.ndarray,
        pts_s: float,
    ) -> Tracks:
        det_of = {t.key: d for t, d in matches}
        rows: list[tuple[int, np.ndarray, float, int, int]] = []
        for t in self._tracks:
            if not t.track_id:
                continue
            d = det_of.get(t.key, -1)
            if d >= 0:
                rows.append((t.track_id, boxes[d], float(conf[d]), t.majority, d))
                continue
            window = self._coast_window(t)
            decay = max(0.0, 1.0 - (pts_s - t.last_hit_pts_s) / window)
            box = self._coast_box(t, pts_s)
            rows.append((t.track_id, box, t.confidence * decay, t.majority, -1))
        if not rows:
            return Tracks.empty()
        rows.sort(key=lambda r: r[0])
        detections = Detections(
            np.stack([r[1] for r in rows]).astype(np.float32),
            np.array([r[2] for r in rows], np.float32),
            np.array([r[3] for r in rows], np.int32),
        )
        return Tracks(
            detections,
            np.array([r[0] for r in rows], np.int64),
            np.array([r[4] for r in rows], np.int32),
        )
