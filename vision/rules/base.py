"""What every hazard rule shares: one open hazard's lifecycle and its events.

A rule decides *when* a hazard starts, updates and ends; :class:`OpenHazard` turns those decisions
into contract events (ARCHITECTURE.md §5) with stable ids: exactly one ``start``, rate-limited
``update``s, at most one ``end``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from vision.types import HazardEvent, HazardKind, HazardPhase

# Namespace for deterministic ids: the same hazard replayed gives the same ids (idempotent).
HAZARD_NAMESPACE = uuid.UUID("5f0c2b8e-7a4d-4c1e-9b2a-6d3f1e8a9c01")


class HazardRule(Protocol):
    """The interface pipelines drive; each rule adds its own ``update`` signature."""

    kind: HazardKind
    camera_id: str
    zone_id: str

    def close(self, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """The stream ended: end every open hazard."""
        ...

    @property
    def active(self) -> bool:
        """Whether a hazard is open now (used for the automatic recheck)."""
        ...


class OpenHazard:
    """One hazard from its start to its end.

    Args:
        kind: hazard kind.
        camera_id: camera slug.
        zone: zone id.
        start_pts_s: stream time at which the rule decided (after debouncing).
        started_at: wall-clock time of that frame.
        update_interval_s: minimum stream time between two ``update`` events.
    """

    def __init__(
        self,
        kind: HazardKind,
        camera_id: str,
        zone: str,
        start_pts_s: float,
        started_at: datetime,
        update_interval_s: float = 10.0,
    ) -> None:
        self.kind = kind
        self.camera_id = camera_id
        self.zone = zone
        self.start_pts_s = start_pts_s
        self.started_at = started_at
        self.update_interval_s = update_interval_s
        self.hazard_id = str(
            uuid.uuid5(
                HAZARD_NAMESPACE,
                f"{camera_id}/{zone}/{kind.value}/{started_at.isoformat()}/{start_pts_s:.3f}",
            )
        )
        self._events = 0
        self._last_update_pts_s = start_pts_s
        self.ended = False

    def _event(
        self,
        phase: HazardPhase,
        *,
        track_ids: Sequence[int],
        labels: Sequence[str],
        score: float,
        box_norm: tuple[float, float, float, float] | None,
        details: Mapping[str, Any],
        end_pts_s: float | None = None,
        ended_at: datetime | None = None,
    ) -> HazardEvent:
        event_id = str(uuid.uuid5(uuid.UUID(self.hazard_id), f"{phase.value}/{self._events}"))
        self._events += 1
        return HazardEvent(
            event_id=event_id,
            hazard_id=self.hazard_id,
            phase=phase,
            kind=self.kind,
            camera_id=self.camera_id,
            zone=self.zone,
            started_at=self.started_at,
            start_pts_s=self.start_pts_s,
            ended_at=ended_at,
            end_pts_s=end_pts_s,
            track_ids=tuple(track_ids),
            labels=tuple(dict.fromkeys(labels)),
            score=float(min(max(score, 0.0), 1.0)),
            box_norm=box_norm,
            details=dict(details),
        )

    def start(self, **fields: Any) -> HazardEvent:
        if self._events:
            raise RuntimeError(f"hazard {self.hazard_id} already started")
        return self._event(HazardPhase.START, **fields)

    def update(self, pts_s: float, **fields: Any) -> HazardEvent | None:
        """An update event, or None while the rate limit holds."""
        if self.ended or pts_s - self._last_update_pts_s < self.update_interval_s:
            return None
        self._last_update_pts_s = pts_s
        return self._event(HazardPhase.UPDATE, **fields)

    def end(self, pts_s: float, ended_at: datetime, **fields: Any) -> HazardEvent:
        if self.ended:
            raise RuntimeError(f"hazard {self.hazard_id} already ended")
        self.ended = True
        ended_at = max(ended_at, self.started_at)
        return self._event(HazardPhase.END, end_pts_s=pts_s, ended_at=ended_at, **fields)


def box_norm_of(
    xyxy: Sequence[float], width_px: int, height_px: int
) -> tuple[float, float, float, float]:
    """A pixel box as normalized (x1, y1, x2, y2), clipped to 0..1."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    clip = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
    return (clip(x1 / width_px), clip(y1 / height_px), clip(x2 / width_px), clip(y2 / height_px))
