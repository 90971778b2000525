"""Boundary types: validated on construction, read-only arrays, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from vision.types import (
    Detections,
    EvidenceClip,
    Frame,
    HazardEvent,
    HazardKind,
    HazardPhase,
    Tracks,
    ZoneEvent,
    ZoneEventKind,
)

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def image(h: int = 4, w: int = 6) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def dets(n: int = 3) -> Detections:
    xyxy = np.array([[i, i, i + 10, i + 20] for i in range(n)], np.float32).reshape(-1, 4)
    return Detections(xyxy, np.linspace(0.5, 0.9, n, dtype=np.float32), np.arange(n))


# ----- Frame --------------------------------------------------------------------------------------


def test_frame_image_is_read_only_and_caller_array_untouched() -> None:
    mine = image()
    frame = Frame("cam", 0, 0.0, NOW, mine)
    assert not frame.image.flags.writeable
    assert mine.flags.writeable  # a copy was frozen, not the caller's array
    with pytest.raises(ValueError):
        frame.image[0, 0, 0] = 1
    assert (frame.width_px, frame.height_px) == (6, 4)


def test_frame_keeps_an_already_frozen_array_without_copying() -> None:
    frozen = image()
    frozen.flags.writeable = False
    assert Frame("cam", 0, 0.0, NOW, frozen).image is frozen


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"camera_id": ""}, "camera_id must not be empty"),
        ({"seq": -1}, "seq must be >= 0"),
        ({"pts_s": float("nan")}, "pts_s must be finite"),
        ({"captured_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"image": np.zeros((4, 6, 3), np.float32)}, "uint8 ndarray, got float32"),
        ({"image": np.zeros((4, 6), np.uint8)}, r"shape \(n, n, 3\), got \(4, 6\)"),
        ({"image": [[0]]}, "uint8 ndarray, got list"),
    ],
    ids=["empty-camera", "negative-seq", "nan-pts", "naive-time", "float-image", "gray", "list"],
)
def test_frame_rejects_bad_values(kwargs: dict, message: str) -> None:
    args = {"camera_id": "cam", "seq": 0, "pts_s": 0.0, "captured_at": NOW, "image": image()}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Frame(**args)


# ----- Detections ---------------------------------------------------------------------------------


def test_detections_convert_dtypes_and_freeze() -> None:
    d = Detections([[0, 0, 1, 1]], [0.5], [2])
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int32
    assert not d.xyxy.flags.writeable
    assert len(d) == 1


@pytest.mark.parametrize(
    ("xyxy", "confidence", "class_id", "message"),
    [
        (
            np.zeros((2, 3)),
            np.zeros(2),
            np.zeros(2),
            r"xyxy must have shape \(n, 4\), got \(2, 3\)",
        ),
        (
            np.zeros((2, 4)),
            np.zeros(3),
            np.zeros(2),
            r"confidence must have shape \(2,\), got \(3,\)",
        ),
        (np.zeros((2, 4)), np.zeros(2), np.zeros((2, 1)), r"class_id must have shape \(2,\)"),
        ([[5, 0, 1, 1]], [0.5], [0], "x1 <= x2"),
        ([[0, 0, 1, 1]], [1.5], [0], r"confidence must lie in \[0, 1\]"),
        ([[0, 0, 1, np.inf]], [0.5], [0], "finite"),
        ([[0, 0, 1, 1]], [0.5], [-1], "class_id must be >= 0"),
        ([["a", 0, 1, 1]], [0.5], [0], "cannot convert"),
    ],
    ids=["xyxy-3-cols", "conf-len", "class-2d", "x-swapped", "conf>1", "inf", "neg-class", "text"],
)
def test_detections_reject_bad_arrays(xyxy, confidence, class_id, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        Detections(xyxy, confidence, class_id)


def test_detections_indexing_and_merge() -> None:
    d = dets(4)
    mask = np.array([True, False, True, False])
    assert d[mask].class_id.tolist() == [0, 2]
    assert d[[3, 1]].class_id.tolist() == [3, 1]
    assert d[1:3].class_id.tolist() == [1, 2]
    assert d[-1].xyxy.shape == (1, 4)
    assert len(Detections.merge([d, d[mask]])) == 6
    assert len(Detections.merge([])) == 0
    assert d.area_px.tolist() == [200.0] * 4
    with pytest.raises(IndexError, match=r"mask must have shape \(4,\)"):
        d[np.array([True, False])]
    with pytest.raises(IndexError, match="out of range"):
        d[7]


def test_empty_detections() -> None:
    e = Detections.empty()
    assert len(e) == 0 and e.xyxy.shape == (0, 4)
    assert len(Detections([], [], [])) == 0


# ----- Tracks -------------------------------------------------------------------------------------


def test_tracks_validate_ids() -> None:
    t = Tracks(dets(3), [5, 6, 7], [0, -1, 2])
    assert t[np.array([False, True, True])].track_id.tolist() == [6, 7]
    with pytest.raises(ValueError, match="unique"):
        Tracks(dets(2), [5, 5], [0, 1])
    with pytest.raises(ValueError, match=">= 1"):
        Tracks(dets(1), [0], [0])
    with pytest.raises(ValueError, match=r"track_id must have shape \(2,\)"):
        Tracks(dets(2), [1], [0, 1])
    assert len(Tracks.empty()) == 0


# ----- events -------------------------------------------------------------------------------------


def test_zone_event_coerces_kind() -> None:
    ev = ZoneEvent("cam", "door", "cross_in", 3, 1.5)  # type: ignore[arg-type]
    assert ev.kind is ZoneEventKind.CROSS_IN
    with pytest.raises(ValueError):
        ZoneEvent("cam", "door", "sideways", 3, 1.5)  # type: ignore[arg-type]


def hazard(**overrides: object) -> HazardEvent:
    args: dict = {
        "event_id": "e1", "hazard_id": "h1", "phase": "start", "kind": "fire_lane_blocked",
        "camera_id": "north_lane", "zone": "lane", "started_at": NOW, "start_pts_s": 12.4,
        "track_ids": [7], "labels": ["car"], "score": 0.81, "box_norm": (0.1, 0.2, 0.3, 0.4),
        "details": {"occupancy": 0.42},
    }  # fmt: skip
    args.update(overrides)
    return HazardEvent(**args)


def test_hazard_event_round_trips_through_json() -> None:
    ev = hazard()
    data = json.loads(json.dumps(ev.to_dict()))
    assert set(data) == {
        "event_id", "hazard_id", "phase", "kind", "camera_id", "zone", "started_at", "ended_at",
        "start_pts_s", "end_pts_s", "track_ids", "labels", "score", "box_norm", "details",
        "evidence",
    }  # fmt: skip
    assert data["started_at"] == "2026-11-24T08:30:00Z"
    assert HazardEvent.from_dict(data) == ev
    assert ev.phase is HazardPhase.START and ev.kind is HazardKind.FIRE_LANE_BLOCKED


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phase": "end"}, "needs ended_at and end_pts_s"),
        ({"score": 1.2}, r"score must lie in \[0, 1\]"),
        ({"box_norm": (0, 0, 1.5, 1)}, "box_norm must be 4 values in 0..1"),
        ({"kind": "flood"}, "flood"),
        ({"zone": ""}, "zone must not be empty"),
        ({"started_at": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
    ids=["end-without-time", "score", "box", "unknown-kind", "empty-zone", "naive-time"],
)
def test_hazard_event_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hazard(**overrides)


def test_hazard_event_from_dict_names_missing_fields() -> None:
    with pytest.raises(ValueError, match=r"missing fields \['zone'\]"):
        HazardEvent.from_dict({k: v for k, v in hazard().to_dict().items() if k != "zone"})


def test_evidence_clip_checks() -> None:
    clip = EvidenceClip("/x.mp4", 1.0, 3.5, "0" * 64, 10, 5)
    assert clip.duration_s == 2.5
    with pytest.raises(ValueError, match="before start_pts_s"):
        EvidenceClip("/x.mp4", 3.0, 1.0, "0" * 64, 10, 5)
    with pytest.raises(ValueError, match="64 hex"):
        EvidenceClip("/x.mp4", 1.0, 3.0, "abc", 10, 5)
