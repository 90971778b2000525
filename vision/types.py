"""Types that cross stage boundaries.

Every queue between stages carries only these. They are frozen dataclasses with slots; the arrays
they hold are made read-only on construction, so a consumer can never change what a producer (or
another consumer) sees. Each validates its own shapes and dtypes and states the expected and the
actual value when it refuses one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt


class HazardKind(StrEnum):
    """The three hazards the product turns into tickets."""

    FIRE_LANE_BLOCKED = "fire_lane_blocked"
    EBIKE_ENTRY = "ebike_entry"
    FALLING_OBJECT = "falling_object"


class HazardPhase(StrEnum):
    """Lifecycle of one hazard: exactly one start, optional updates, at most one end."""

    START = "start"
    UPDATE = "update"
    END = "end"


class ZoneEventKind(StrEnum):
    """What a track did relative to a zone."""

    ENTER = "enter"
    EXIT = "exit"
    CROSS_IN = "cross_in"
    CROSS_OUT = "cross_out"


def _readonly(array: npt.ArrayLike, dtype: npt.DTypeLike, name: str) -> np.ndarray:
    """Copy-free conversion to ``dtype`` where possible; the result is read-only."""
    try:
        out = np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to {np.dtype(dtype)}: {exc}") from exc
    if out.flags.writeable:
        if out is array:  # never freeze the caller's own array behind their back
            out = out.copy()
        out.flags.writeable = False
    return out


def _check_shape(name: str, array: np.ndarray, expected: tuple[int | None, ...]) -> None:
    ok = array.ndim == len(expected) and all(
        e is None or e == a for e, a in zip(expected, array.shape, strict=True)
    )
    if not ok:
        parts = ["n" if e is None else str(e) for e in expected]
        shown = f"({parts[0]},)" if len(parts) == 1 else "(" + ", ".join(parts) + ")"
        raise ValueError(f"{name} must have shape {shown}, got {array.shape}")


def _check_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded, scaled video frame of one camera.

    Attributes:
        camera_id: slug of the camera.
        seq: index of this frame among the frames decoded from the camera (counts every decoded
            frame, delivered or not, so gaps in ``seq`` show sampling and drops).
        pts_s: stream time in seconds from the first frame of the stream (0.0), monotonic across
            reconnects.
        captured_at: wall-clock time the frame was received, timezone-aware UTC.
        image: uint8 array of shape (H, W, 3), BGR, read-only.
    """

    camera_id: str
    seq: int
    pts_s: float
    captured_at: datetime
    image: np.ndarray

    def __post_init__(self) -> None:
        if not self.camera_id:
            raise ValueError("Frame.camera_id must not be empty")
        if self.seq < 0:
            raise ValueError(f"Frame.seq must be >= 0, got {self.seq}")
        if not math.isfinite(self.pts_s):
            raise ValueError(f"Frame.pts_s must be finite, got {self.pts_s}")
        _check_utc("Frame.captured_at", self.captured_at)
        if not isinstance(self.image, np.ndarray) or self.image.dtype != np.uint8:
            got = getattr(self.image, "dtype", type(self.image).__name__)
            raise ValueError(f"Frame.image must be a uint8 ndarray, got {got}")
        _check_shape("Frame.image", self.image, (None, None, 3))
        if self.image.flags.writeable:
            object.__setattr__(self, "image", _readonly(self.image, np.uint8, "Frame.image"))

    @property
    def width_px(self) -> int:
        return int(self.image.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one image as a struct of arrays.

    Attributes:
        xyxy: float32 (n, 4) boxes in image pixels, x1 <= x2 and y1 <= y2.
        confidence: float32 (n,) scores in [0, 1].
        class_id: int32 (n,) model class indices.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        xyxy = _readonly(self.xyxy, np.float32, "Detections.xyxy")
        if xyxy.size == 0:
            xyxy = _readonly(np.zeros((0, 4), np.float32), np.float32, "Detections.xyxy")
        confidence = _readonly(self.confidence, np.float32, "Detections.confidence")
        class_id = _readonly(self.class_id, np.int32, "Detections.class_id")
        _check_shape("Detections.xyxy", xyxy, (None, 4))
        n = xyxy.shape[0]
        _check_shape("Detections.confidence", confidence, (n,))
        _check_shape("Detections.class_id", class_id, (n,))
        if n:
            if not np.isfinite(xyxy).all():
                raise ValueError("Detections.xyxy must be finite")
            if (xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any():
                raise ValueError("Detections.xyxy must have x1 <= x2 and y1 <= y2")
            if (confidence < 0).any() or (confidence > 1).any():
                raise ValueError("Detections.confidence must lie in [0, 1]")
            if (class_id < 0).any():
                raise ValueError("Detections.class_id must be >= 0")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | npt.ArrayLike) -> Detections:
        """Select by a boolean mask, an index array, a slice or one index (kept 2-D)."""
        idx = _normalize_index(index, len(self))
        return Detections(self.xyxy[idx], self.confidence[idx], self.class_id[idx])

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
        )

    @property
    def area_px(self) -> np.ndarray:
        w = self.xyxy[:, 2] - self.xyxy[:, 0]
        h = self.xyxy[:, 3] - self.xyxy[:, 1]
        return w * h


def _normalize_index(index: int | slice | npt.ArrayLike, n: int) -> Any:
    if isinstance(index, (int, np.integer)):
        if not -n <= int(index) < n:
            raise IndexError(f"index {index} out of range for {n} detections")
        return [int(index)]
    if isinstance(index, slice):
        return index
    arr = np.asarray(index)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"boolean mask must have shape ({n},), got {arr.shape}")
        return arr
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise IndexError(f"index array must be boolean or integer, got {arr.dtype}")
    return arr.astype(np.intp)


@dataclass(frozen=True, slots=True)
class Tracks:
    """Tracked detections: each row is a detection with a persistent ``track_id``.

    Attributes:
        detections: the tracked boxes (their own boxes may be predicted for coasting tracks).
        track_id: int64 (n,) ids, unique within one frame, >= 1.
        det_index: int32 (n,) index of the detection of this frame that fed the track, -1 when
            the track coasted through a frame without a matching detection.
    """

    detections: Detections
    track_id: np.ndarray
    det_index: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.detections)
        track_id = _readonly(self.track_id, np.int64, "Tracks.track_id")
        det_index = _readonly(self.det_index, np.int32, "Tracks.det_index")
        _check_shape("Tracks.track_id", track_id, (n,))
        _check_shape("Tracks.det_index", det_index, (n,))
        if n:
            if (track_id < 1).any():
                raise ValueError("Tracks.track_id must be >= 1")
            if np.unique(track_id).size != n:
                raise ValueError("Tracks.track_id must be unique within a frame")
            if (det_index < -1).any():
                raise ValueError("Tracks.det_index must be >= -1")
        object.__setattr__(self, "track_id", track_id)
        object.__setattr__(self, "det_index", det_index)

    @classmethod
    def empty(cls) -> Tracks:
        return cls(Detections.empty(), np.zeros(0, np.int64), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.detections)

    def __getitem__(self, index: int | slice | npt.ArrayLike) -> Tracks:
        idx = _normalize_index(index, len(self))
        return Tracks(self.detections[idx], self.track_id[idx], self.det_index[idx])


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """A track entering, leaving or crossing a zone, at stream time ``pts_s``."""

    camera_id: str
    zone: str
    kind: ZoneEventKind
    track_id: int
    pts_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ZoneEventKind(self.kind))
        if self.track_id < 1:
            raise ValueError(f"ZoneEvent.track_id must be >= 1, got {self.track_id}")
        if not math.isfinite(self.pts_s):
            raise ValueError(f"ZoneEvent.pts_s must be finite, got {self.pts_s}")


@dataclass(frozen=True, slots=True)
class EvidenceClip:
    """A finished evidence clip on disk (stream-copied, never re-encoded).

    Attributes:
        path: file path of the MP4.
        start_pts_s: stream time of the clip's first (key) frame.
        end_pts_s: stream time just past the clip's last frame.
        sha256: hex digest of the file.
        size_bytes: file size.
        packets: number of video packets written.
    """

    path: str
    start_pts_s: float
    end_pts_s: float
    sha256: str
    size_bytes: int
    packets: int

    def __post_init__(self) -> None:
        if self.end_pts_s < self.start_pts_s:
            raise ValueError(
                f"EvidenceClip.end_pts_s ({self.end_pts_s}) is before start_pts_s "
                f"({self.start_pts_s})"
            )
        if len(self.sha256) != 64:
            raise ValueError(f"EvidenceClip.sha256 must be 64 hex digits, got {self.sha256!r}")

    @property
    def duration_s(self) -> float:
        return self.end_pts_s - self.start_pts_s


def _iso_utc(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class HazardEvent:
    """One phase of one hazard: the event contract of ARCHITECTURE.md §5.

    ``box_norm`` is (x1, y1, x2, y2) in 0..1 of the full frame. ``details`` holds kind-specific
    values (occupancy, clear_width_m, origin_floor, trajectory_norm). ``evidence`` is filled by
    the evidence writer (clip, snapshot and their sha256).
    """

    event_id: str
    hazard_id: str
    phase: HazardPhase
    kind: HazardKind
    camera_id: str
    zone: str
    started_at: datetime
    start_pts_s: float
    ended_at: datetime | None = None
    end_pts_s: float | None = None
    track_ids: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()
    score: float = 0.0
    box_norm: tuple[float, float, float, float] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", HazardPhase(self.phase))
        object.__setattr__(self, "kind", HazardKind(self.kind))
        for name in ("event_id", "hazard_id", "camera_id", "zone"):
            if not getattr(self, name):
                raise ValueError(f"HazardEvent.{name} must not be empty")
        _check_utc("HazardEvent.started_at", self.started_at)
        _check_utc("HazardEvent.ended_at", self.ended_at)
        if not math.isfinite(self.start_pts_s):
            raise ValueError(f"HazardEvent.start_pts_s must be finite, got {self.start_pts_s}")
        if self.phase is HazardPhase.END and (self.ended_at is None or self.end_pts_s is None):
            raise ValueError("HazardEvent with phase 'end' needs ended_at and end_pts_s")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"HazardEvent.score must lie in [0, 1], got {self.score}")
        if self.box_norm is not None:
            box = tuple(float(v) for v in self.box_norm)
            if len(box) != 4 or not all(-1e-6 <= v <= 1 + 1e-6 for v in box):
                raise ValueError(f"HazardEvent.box_norm must be 4 values in 0..1, got {box}")
            object.__setattr__(self, "box_norm", box)
        object.__setattr__(self, "track_ids", tuple(int(t) for t in self.track_ids))
        object.__setattr__(self, "labels", tuple(str(label) for label in self.labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the fields of the event contract."""
        return {
            "event_id": self.event_id,
            "hazard_id": self.hazard_id,
            "phase": self.phase.value,
            "kind": self.kind.value,
            "camera_id": self.camera_id,
            "zone": self.zone,
            "started_at": _iso_utc(self.started_at),
            "ended_at": _iso_utc(self.ended_at),
            "start_pts_s": self.start_pts_s,
            "end_pts_s": self.end_pts_s,
            "track_ids": list(self.track_ids),
            "labels": list(self.labels),
            "score": self.score,
            "box_norm": None if self.box_norm is None else list(self.box_norm),
            "details": dict(self.details),
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HazardEvent:
        """Inverse of :meth:`to_dict`; raises ValueError naming the missing or bad field."""
        required = ("event_id", "hazard_id", "phase", "kind", "camera_id", "zone")
        missing = [k for k in (*required, "started_at", "start_pts_s") if k not in data]
        if missing:
            raise ValueError(f"HazardEvent: missing fields {missing}")
        try:
            return cls(
                event_id=str(data["event_id"]),
                hazard_id=str(data["hazard_id"]),
                phase=HazardPhase(data["phase"]),
                kind=HazardKind(data["kind"]),
                camera_id=str(data["camera_id"]),
                zone=str(data["zone"]),
                started_at=_parse_iso(data["started_at"]),
                ended_at=None if data.get("ended_at") is None else _parse_iso(data["ended_at"]),
                start_pts_s=float(data["start_pts_s"]),
                end_pts_s=None if data.get("end_pts_s") is None else float(data["end_pts_s"]),
                track_ids=tuple(data.get("track_ids") or ()),
                labels=tuple(data.get("labels") or ()),
                score=float(data.get("score") or 0.0),
                box_norm=None if data.get("box_norm") is None else tuple(data["box_norm"]),
                details=dict(data.get("details") or {}),
                evidence=dict(data.get("evidence") or {}),
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"HazardEvent: bad field: {exc}") from exc


def _parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    _check_utc("timestamp", parsed)
    return parsed


@dataclass(frozen=True, slots=True)
class Observation:
    """What the object rules (fire lane, e-bike entry) see of one analysed frame.

    Attributes:
        camera_id: slug of the camera.
        pts_s: stream time of the frame.
        captured_at: wall-clock time of the frame, UTC.
        width_px: width of the analysed frame (boxes are in its pixels).
        height_px: height of the analysed frame.
        tracks: tracked boxes of this frame.
        roles: role of each track row (``vehicle``, ``ebike``, ``bicycle``, ``person``,
            ``clutter``), ``""`` when its class has none.
        labels: model label of each track row.
        luma: optional uint8 (h, w) luma of the frame at analysis size, read-only, for
            class-agnostic static-foreground models.
    """

    camera_id: str
    pts_s: float
    captured_at: datetime
    width_px: int
    height_px: int
    tracks: Tracks
    roles: tuple[str, ...]
    labels: tuple[str, ...]
    luma: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.tracks)
        if len(self.roles) != n or len(self.labels) != n:
            raise ValueError(
                f"Observation: {n} tracks but {len(self.roles)} roles and {len(self.labels)} labels"
            )
        if self.width_px <= 0 or self.height_px <= 0:
            raise ValueError(f"Observation: bad frame size {self.width_px}x{self.height_px}")
        _check_utc("Observation.captured_at", self.captured_at)
        if self.luma is not None:
            if not isinstance(self.luma, np.ndarray) or self.luma.dtype != np.uint8:
                raise ValueError("Observation.luma must be a uint8 ndarray")
            _check_shape("Observation.luma", self.luma, (None, None))
            if self.luma.flags.writeable:
                object.__setattr__(self, "luma", _readonly(self.luma, np.uint8, "luma"))
