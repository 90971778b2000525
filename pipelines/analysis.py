"""One camera's analysis: frames in, hazard events out.

Two analyses may run on the same frames (ARCHITECTURE.md §2):
  * object analysis at ``detect.fps``: MotionGate → detector → tracker → Observation → object rules
    (fire lane, e-bike entry);
  * motion analysis at ``motion.fps`` on low-resolution luma → falling-object rules.
Motion gating (what makes a camera cheap, ARCHITECTURE.md §8): the detector runs on a sampled
frame only while something moves in or near a zone (the gate's mask is the zones, grown by
``GATE_MARGIN``) or a track is unsettled (tentative, or confirmed and moving). Tracks at rest (a
parked car, clutter, an e-bike standing in the lift) are re-checked every
``stationary_recheck_s``, and always before the first of them would expire; between checks the
rules see them held (``det_index`` -1, as coasting). With nothing at all in view it still looks
every ``force_detect_every_s``, so that something that arrived unseen is found.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from cameras.schema import CameraConfig
from cameras.source import FpsSampler
from models.detector import Detector
from pipelines.builders import CameraRules, build_rules
from pipelines.config import DEFAULT_DETECTOR, HazardwatchConfig
from vision.motion import MotionGate
from vision.tracker import Tracker
from vision.types import Detections, Frame, HazardEvent, Observation, Tracks

GATE_WIDTH_PX = 320
GATE_MARGIN = 0.08  # motion this close to a zone (a fraction of the frame) counts as "near"
_GATE_MASK_PX = 256  # zones are drawn into a square mask in normalised coordinates


@dataclass(slots=True)
class StageClock:
    """CPU-light wall-clock accounting per stage (ms), for eval, bench and metrics."""

    total_ms: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, stage: str, started: float) -> None:
        self.total_ms[stage] += (time.perf_counter() - started) * 1000
        self.calls[stage] += 1


class CameraAnalysis:
    """Stateful: one per camera. ``process(frame)`` returns the hazard events it caused.

    Args:
        camera_id: the camera's slug.
        rules: the camera's rules (from :func:`pipelines.builders.build_rules`).
        detector: needed when there are object rules.
        class_roles: model label -> role, from ``detector.classes``.
        min_scores: model label -> the lowest score kept for it (``detector.min_scores``).
        detect_fps: object-analysis rate (stream time).
        motion_fps: motion-analysis rate.
        motion_width_px: luma width for the falling-object rules.
        force_detect_every_s: run the detector at least this often even when the gate is quiet.
    """

    def __init__(
        self,
        camera_id: str,
        rules: CameraRules,
        detector: Detector | None,
        class_roles: dict[str, str],
        *,
        detect_fps: float,
        min_scores: dict[str, float] | None = None,
        motion_fps: float,
        motion_width_px: int,
        force_detect_every_s: float = 2.0,
        stationary_recheck_s: float = 3.0,
        use_motion_gate: bool = True,
        gate_mask: np.ndarray | None = None,
    ) -> None:
        if rules.needs_detector and detector is None:
            raise ValueError(f"camera {camera_id}: object rules need a detector")
        self.camera_id = camera_id
        self.rules = rules
        self.detector = detector
        labels: Sequence[str] = detector.labels if detector is not None else ()
        self._role_of_class = [class_roles.get(label, "") for label in labels]
        self._labels = list(labels)
        self._keep_class = np.array([bool(r) for r in self._role_of_class] or [False], bool)
        floors = min_scores or {}
        self._min_score_of_class = np.array(
            [floors.get(label, 0.0) for label in labels] or [0.0], np.float32
        )
        self._detect_sampler = FpsSampler(detect_fps)
        self._motion_sampler = FpsSampler(motion_fps)
        self.motion_width_px = motion_width_px
        self.force_detect_every_s = force_detect_every_s
        self.stationary_recheck_s = stationary_recheck_s
        self.gate = MotionGate(mask=gate_mask) if use_motion_gate else None
        self.detect_fps_target = detect_fps
        self.detect_fps = detect_fps
        self.tracker = Tracker()
        self.last_tracks: Tracks | None = None
        self._last_detect_pts_s: float | None = None
        self.clock = StageClock()
        self.frames = 0
        self.detector_runs = 0
        self.detector_skips = 0
        self.last_pts_s = 0.0
        self.last_captured_at: datetime | None = None

    # ----- public ------------------------------------------------------------------------------

    def process(self, frame: Frame) -> list[HazardEvent]:
        self.frames += 1
        self.last_pts_s = frame.pts_s
        self.last_captured_at = frame.captured_at
        events: list[HazardEvent] = []
        gray: np.ndarray | None = None
        if self.rules.falling_rules and self._motion_sampler.accept(frame.pts_s):
            gray = self._gray(frame.image)
            started = time.perf_counter()
            small = self._resize(gray, self.motion_width_px)
            for falling in self.rules.falling_rules:
                events.extend(falling.update(small, frame.pts_s, frame.captured_at))
            self.clock.add("motion_rules", started)
        if self.rules.object_rules and self._detect_sampler.accept(frame.pts_s):
            if gray is None:
                gray = self._gray(frame.image)
            events.extend(self._object_step(frame, gray))
        return events

    def close(self) -> list[HazardEvent]:
        """End every open hazard (the stream ended)."""
        if self.last_captured_at is None:
            return []
        events: list[HazardEvent] = []
        for rule in (*self.rules.object_rules, *self.rules.falling_rules):
            events.extend(rule.close(self.last_pts_s, self.last_captured_at))
        return events

    def set_detect_fps(self, fps: float) -> None:
        """Sample the object analysis at ``fps`` from now on (the overload policy lowers it
        and restores it; never above the configured ``detect.fps``)."""
        fps = min(fps, self.detect_fps_target)
        if fps != self.detect_fps:
            self.detect_fps = fps
            self._detect_sampler = FpsSampler(fps)

    @property
    def labels(self) -> list[str]:
        """Model labels in class-index order (empty without a detector)."""
        return self._labels

    @property
    def active(self) -> bool:
        return any(r.active for r in (*self.rules.object_rules, *self.rules.falling_rules))

    # ----- stages ------------------------------------------------------------------------------

    def _gray(self, image: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        self.clock.add("luma", started)
        return gray

    @staticmethod
    def _resize(gray: np.ndarray, width_px: int) -> np.ndarray:
        h, w = gray.shape
        if w == width_px:
            return gray
        height_px = max(2, round(h * width_px / w))
        return cv2.resize(gray, (width_px, height_px), interpolation=cv2.INTER_AREA)

    def _should_detect(self, gray: np.ndarray, pts_s: float) -> bool:
        if self.gate is None:
            return True
        started = time.perf_counter()
        result = self.gate.update(self._resize(gray, GATE_WIDTH_PX), pts_s)
        self.clock.add("motion_gate", started)
        # A recalibrating gate (first frame, global change) cannot tell: look.
        if result.moving or result.recalibrated or self.tracker.unsettled_count > 0:
            return True
        last = self._last_detect_pts_s
        if last is None:
            return True
        expiry = self.tracker.earliest_expiry_pts_s()
        if expiry is None:
            return pts_s - last >= self.force_detect_every_s
        # Only tracks at rest: look again every few seconds, and before one would expire
        # (two sampling intervals early, so that a late frame still finds it).
        margin = 2.0 / self.detect_fps
        return pts_s - last >= self.stationary_recheck_s or pts_s >= expiry - margin

    def _object_step(self, frame: Frame, gray: np.ndarray) -> list[HazardEvent]:
        assert self.detector is not None  # guaranteed by __init__
        if self._should_detect(gray, frame.pts_s):
            started = time.perf_counter()
            detections = self.detector.detect([frame.image])[0]
            self.clock.add("inference", started)
            self.detector_runs += 1
            self._last_detect_pts_s = frame.pts_s
            detections = self._with_roles_only(detections)
            tracks = self._track(detections, frame.pts_s)
        else:
            self.detector_skips += 1
            if self.tracker.track_count and self.last_tracks is not None:
                # Tracks at rest, held between re-checks: the tracker's clocks do not run on
                # frames it was not shown, and the rules see the boxes as coasting.
                tracks = _held(self.last_tracks)
                self.last_tracks = tracks
            else:
                tracks = self._track(Detections.empty(), frame.pts_s)
        class_ids = tracks.detections.class_id
        observation = Observation(
            camera_id=self.camera_id,
            pts_s=frame.pts_s,
            captured_at=frame.captured_at,
            width_px=frame.width_px,
            height_px=frame.height_px,
            tracks=tracks,
            roles=tuple(self._role_of_class[c] for c in class_ids),
            labels=tuple(self._labels[c] for c in class_ids),
            luma=gray,
        )
        started = time.perf_counter()
        events: list[HazardEvent] = []
        for rule in self.rules.object_rules:
            events.extend(rule.update(observation))
        self.clock.add("rules", started)
        return events

    def _track(self, detections: Detections, pts_s: float) -> Tracks:
        started = time.perf_counter()
        tracks = self.tracker.update(detections, pts_s)
        self.last_tracks = tracks
        self.clock.add("tracking", started)
        return tracks

    def _with_roles_only(self, detections: Detections) -> Detections:
        if not len(detections):
            return detections
        ids = detections.class_id
        in_range = ids < len(self._keep_class)
        keep = np.zeros(len(ids), bool)
        keep[in_range] = self._keep_class[ids[in_range]] & (
            detections.confidence[in_range] >= self._min_score_of_class[ids[in_range]]
        )
        return detections[keep]


def _held(tracks: Tracks) -> Tracks:
    """The same tracks, marked as coasting (no detection of this frame fed them)."""
    if not len(tracks.det_index) or (tracks.det_index < 0).all():
        return tracks
    return Tracks(
        detections=tracks.detections,
        track_id=tracks.track_id,
        det_index=np.full(len(tracks.det_index), -1, np.int32),
    )


def zone_gate_mask(camera: CameraConfig, margin: float = GATE_MARGIN) -> np.ndarray | None:
    """Where motion counts for the detector's gate: the camera's zones grown by ``margin`` of
    the frame (lines as a band around them), in normalised coordinates (the gate resizes it to
    the frame). None without zones: the whole frame counts."""
    if not camera.zones:
        return None
    size = _GATE_MASK_PX
    mask = np.zeros((size, size), np.uint8)
    grow = max(1, round(margin * size))
    for zone in camera.zones.values():
        points = getattr(zone, "polygon", None) or getattr(zone, "line", None)
        if not points:
            continue
        pts = np.round(np.asarray(points, np.float64) * (size - 1)).astype(np.int32)
        if len(pts) >= 3:
            cv2.fillPoly(mask, [pts], 255)
        cv2.polylines(mask, [pts], len(pts) >= 3, 255, thickness=2 * grow + 1)
    if not mask.any():
        return None
    return cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))


def build_camera_analysis(
    camera_id: str,
    camera: CameraConfig,
    config: HazardwatchConfig,
    detector: Detector | None,
) -> CameraAnalysis:
    """One camera's analysis from the config (its rules, rates and the class roles of the
    detector it uses: its ``detect.model``, else the default)."""
    rules = build_rules(camera_id, camera)
    block = config.detector_configs().get(camera.detect.model or DEFAULT_DETECTOR)
    class_roles = (
        {label: role.value for label, role in block.classes.items()} if block is not None else {}
    )
    return CameraAnalysis(
        camera_id,
        rules,
        detector if rules.needs_detector else None,
        class_roles,
        min_scores=dict(block.min_scores) if block is not None else None,
        detect_fps=camera.detect.fps,
        motion_fps=camera.motion.fps,
        motion_width_px=camera.motion.width,
        gate_mask=zone_gate_mask(camera),
    )
