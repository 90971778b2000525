"""One camera's analysis: frames in, hazard events out.

Two analyses may run on the same frames (ARCHITECTURE.md §2):
  * object analysis at ``detect.fps``: MotionGate → detector → tracker → Observation → object rules
    (fire lane, e-bike entry);
  * motion analysis at ``motion.fps`` on low-resolution luma → falling-object rules.
The detector is skipped while nothing moves, no track is alive and no hazard is open, except for
a periodic check so that something that arrived unseen (the gate recalibrating) is still found.
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
        use_motion_gate: bool = True,
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
        self.gate = MotionGate() if use_motion_gate else None
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
        if result.moving or result.recalibrated or self.tracker.track_count > 0 or self.active:
            return True
        last = self._last_detect_pts_s
        return last is None or pts_s - last >= self.force_detect_every_s

    def _object_step(self, frame: Frame, gray: np.ndarray) -> list[HazardEvent]:
        assert self.detector is not None  # guaranteed by __init__
        if self._should_detect(gray, frame.pts_s):
            started = time.perf_counter()
            detections = self.detector.detect([frame.image])[0]
            self.clock.add("inference", started)
            self.detector_runs += 1
            self._last_detect_pts_s = frame.pts_s
            detections = self._with_roles_only(detections)
        else:
            self.detector_skips += 1
            detections = Detections.empty()
        started = time.perf_counter()
        tracks = self.tracker.update(detections, frame.pts_s)
        self.last_tracks = tracks
        self.clock.add("tracking", started)
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
    )
