"""A hazard's evidence written by the real parts: a clip played through a VideoSource into a
ClipRecorder and an EvidenceWriter (tests of evidence encrypted at rest)."""

from __future__ import annotations

import base64
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from cameras.clips import ClipRecorder
from cameras.ring import PacketRing
from cameras.source import SourceSettings, VideoSource
from pipelines.evidence import EvidenceWriter
from pipelines.snapshots import LabeledBox
from vision.types import HazardEvent, HazardKind, HazardPhase

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
ENTRY_A = f"ka:{base64.b64encode(KEY_A).decode()}"
ENTRY_B = f"kb:{base64.b64encode(KEY_B).decode()}"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
PERSON: LabeledBox = ((40, 40, 100, 220), "person")


def write_hazard(
    data_dir: Path,
    clip: Path,
    *,
    camera_id: str = "cam",
    zone: str = "lane",
    hazard_id: str = "hz-enc",
    started_at: datetime = T0,
    capture_at_s: float = 2.0,
) -> HazardEvent:
    """Play ``clip`` (at least ``capture_at_s + 1`` s long) into a recorder and an evidence
    writer (1 s pre- and post-roll), capture at ``capture_at_s``; the resolved event."""
    recorder = ClipRecorder(PacketRing(max_duration_s=15.0), camera_id=camera_id)
    writer = EvidenceWriter(
        data_dir, camera_id, camera_id, recorder, pre_s=1.0, post_s=1.0, min_free_bytes=0
    )
    settings = SourceSettings(camera_id=camera_id, url=str(clip), fps=None, width_px=None)
    source = VideoSource(settings, on_packet=recorder.feed)
    future: Future[HazardEvent] | None = None
    for frame in source.frames():
        writer.observe(frame, [PERSON])
        if future is None and frame.pts_s >= capture_at_s:
            event = HazardEvent(
                event_id=f"ev-{hazard_id}",
                hazard_id=hazard_id,
                phase=HazardPhase.START,
                kind=HazardKind.FIRE_LANE_BLOCKED,
                camera_id=camera_id,
                zone=zone,
                started_at=started_at,
                start_pts_s=frame.pts_s,
                score=0.8,
                labels=("car",),
                box_norm=(0.6, 0.5, 0.9, 0.9),
            )
            future = writer.capture(event, frame, [PERSON])
    recorder.close()
    if future is None:
        raise ValueError(f"{clip} is shorter than {capture_at_s} s: nothing was captured")
    result = future.result(timeout=60)
    writer.close()
    return result
