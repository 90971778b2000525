"""Hazard events and zone statuses as the pipelines publish them, for store and service tests.

Events are made with :class:`vision.types.HazardEvent` and ``to_dict()``, the contract type, with
``evidence`` filled the way the evidence writer fills it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from vision.types import HazardEvent, HazardKind, HazardPhase

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def evidence_for(hazard_id: str, camera_id: str = "lane") -> dict[str, Any]:
    base = f"evidence/{camera_id}/2025-03-01/{hazard_id}"
    files = {
        "clip": f"{base}/clip.mp4",
        "snapshot": f"{base}/snapshot.jpg",
        "snapshot_public": f"{base}/snapshot_public.jpg",
        "privacy": f"{base}/privacy.json",  # the public clip is made from it (api.public_copy)
    }
    return {**files, "sha256": {name: sha(path) for name, path in files.items()}}


def event(
    phase: str = "start",
    *,
    hazard_id: str | None = None,
    kind: str = "fire_lane_blocked",
    camera_id: str = "lane",
    zone: str = "lane",
    started_at: datetime = T0,
    ended_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    labels: tuple[str, ...] = ("car",),
    score: float = 0.8,
) -> dict[str, Any]:
    """A hazard event dict (new event id each call); ``end`` gets ``ended_at`` if not given."""
    hazard_id = hazard_id or str(uuid.uuid4())
    if phase == "end" and ended_at is None:
        ended_at = started_at + timedelta(minutes=5)
    end_pts = None if ended_at is None else 12.0 + (ended_at - started_at).total_seconds()
    if evidence is None:
        evidence = evidence_for(hazard_id, camera_id) if phase == "start" else {}
    return HazardEvent(
        event_id=str(uuid.uuid4()),
        hazard_id=hazard_id,
        phase=HazardPhase(phase),
        kind=HazardKind(kind),
        camera_id=camera_id,
        zone=zone,
        started_at=started_at,
        start_pts_s=12.0,
        ended_at=ended_at,
        end_pts_s=end_pts,
        track_ids=(7,),
        labels=labels,
        score=score,
        box_norm=(0.1, 0.2, 0.5, 0.9),
        details=details if details is not None else {"occupancy": 0.4},
        evidence=evidence,
    ).to_dict()


def zone_status(
    *,
    camera_id: str = "lane",
    zone: str = "lane",
    kind: str = "fire_lane_blocked",
    state: str = "clear",
    clear_for_s: float = 600.0,
    at: datetime = T0 + timedelta(hours=1),
    snapshot: str | None = "evidence/lane/after.jpg",
) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "zone": zone,
        "kind": kind,
        "state": state,
        "clear_for_s": clear_for_s,
        "at": at.isoformat().replace("+00:00", "Z"),
        "snapshot": snapshot,
        "snapshot_sha256": None if snapshot is None else sha(snapshot),
    }
