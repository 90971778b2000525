"""E-bike entry: an e-bike inside a lift car, or crossing a stair door line inward.

ARCHITECTURE.md §1 describes the hazard.

One hazard per (zone, e-bike). An *episode* follows one e-bike from its first sighting in the zone
to its hazard's end; it holds the ids the tracker gave it, so a track lost for a moment and found
again under a new id at the same place (IoU with the episode's last box >= ``reid_iou``) stays
the same e-bike and the same hazard: re-triggers are merged and detector flicker never makes the
hazard flap.

* **Polygon** (lift car): an e-bike in the car for ``min_duration_s`` of stream time (short
  misses, up to ``clear_s``, do not restart the count) raises the hazard, also when it was
  already there when the camera started. It ends when the e-bike has not been seen
  inside for ``clear_s``. "In the car" is footprint overlap with hysteresis, per track, as for the
  fire lane (:class:`vision.zones.Membership`, ARCHITECTURE.md §4): a box straddling the polygon's
  edge (a roughly drawn car floor, a bike half through the door) counts once enough of its ground
  band is inside, and a box jittering on the edge does not restart the count.
* **Line** (stair door): an inward crossing (``CROSS_IN`` of :class:`vision.zones.LineZone`, with
  its hysteresis) raises the hazard once ``min_duration_s`` has passed without the e-bike crossing
  back out (0 = at once). It ends when the e-bike has crossed back out and stayed out for
  ``clear_s``, or has not been seen for ``clear_s``. A crossing back in within ``clear_s`` is the
  same hazard. Pass-bys (moving along the line, or past the door outside the segment) and
  outward crossings do nothing.

Which tracks are e-bikes: a track whose role was one of ``ebike_roles`` (or, when bicycles are
not allowed, ``bicycle_roles``) in at least half of the frames it was seen in. A person alone
never counts; a rider's e-bike is its own track. Per-track state (role votes, line sides) is
dropped as soon as a track leaves the tracker's output.

Event fields: ``track_ids`` the e-bike's ids, ``labels`` its labels, ``score`` its highest
confidence, ``box_norm`` its last box; ``details``: ``zone_type`` (``polygon`` or ``line``),
``first_seen_pts_s`` (first inside, or the inward crossing) and ``duration_s`` (since then).
The optional door-hold action is fired by the pipeline on ``start`` and ``end`` events
(:mod:`pipelines.actions`); the rule itself stays pure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vision.rules.base import OpenHazard, box_norm_of
from vision.rules.boxes import iou_xyxy
from vision.types import HazardEvent, HazardKind, Observation, ZoneEventKind
from vision.zones import LineZone, MembershipState, PolygonZone

# Stream times are sums of float steps: compare durations with this tolerance.
EPS_S = 1e-6
# A lift-car e-bike is confirmed by detections in at least this many frames (not by a track that
# lives on after one or two: a tall table beside a person scored 0.95 "e-bike" in two frames of a
# real indoor clip, and the track coasting for min_duration_s raised a false entry).
MIN_DETECTIONS_POLYGON = 3


@dataclass(slots=True)
class _Episode:
    """One e-bike in (or through) the zone."""

    key: int
    track_ids: list[int]
    first_pts_s: float
    last_seen_pts_s: float
    box_norm: tuple[float, float, float, float]  # last box backed by a detection
    labels: list[str]
    confidence: float
    hazard: OpenHazard | None = None
    out_since_pts_s: float | None = None
    seen: bool = False  # some track of it is in this frame (maybe coasting)
    detected: bool = False  # some track of it has a detection in this frame
    ever_detected: bool = False
    ids_changed: bool = False
    hits: int = 0  # frames in which a detection counted as an e-bike backed it
    hit: bool = False  # ... this frame


@dataclass(slots=True)
class _Votes:
    counted: int = 0
    total: int = 0
    labels: dict[str, int] = field(default_factory=dict)


class EbikeEntryRule:
    """E-bike inside a lift car (polygon zone) or entering through a door line (line zone).

    Args:
        camera_id: camera slug.
        zone_id: the zone's id (must be the zone's own id).
        zone: a :class:`PolygonZone` (lift car) or a :class:`LineZone` (door line).
        min_duration_s: polygon: seconds the e-bike must be inside; line: seconds after the
            inward crossing without crossing back. None means 1.0 for a polygon, 0.0 for a line.
        allow_bicycles: when False, tracks with a bicycle role count as e-bikes.
        ebike_roles: roles that are e-bikes.
        bicycle_roles: roles that are bicycles.
        clear_s: seconds without the e-bike (or outside, for a line) before the hazard ends;
            shorter detector misses are bridged.
        reid_iou: IoU with an episode's last box for a new track id to be the same e-bike.
        update_interval_s: minimum stream time between two update events.

    Raises:
        ValueError: on a wrong zone type or id, or an out-of-range argument.
    """

    kind = HazardKind.EBIKE_ENTRY

    def __init__(
        self,
        camera_id: str,
        zone_id: str,
        zone: PolygonZone | LineZone,
        min_duration_s: float | None = None,
        allow_bicycles: bool = True,
        ebike_roles: Sequence[str] = ("ebike",),
        bicycle_roles: Sequence[str] = ("bicycle",),
        clear_s: float = 2.0,
        *,
        min_detections: int | None = None,
        reid_iou: float = 0.3,
        update_interval_s: float = 10.0,
    ) -> None:
        where = f"ebike entry {camera_id}/{zone_id}"
        if not isinstance(zone, PolygonZone | LineZone):
            raise ValueError(
                f"{where}: zone must be a PolygonZone or a LineZone, got {type(zone).__name__}"
            )
        if zone.zone_id != zone_id:
            raise ValueError(f"{where}: zone object is '{zone.zone_id}', not '{zone_id}'")
        if min_duration_s is None:
            min_duration_s = 1.0 if isinstance(zone, PolygonZone) else 0.0
        if min_detections is None:
            min_detections = MIN_DETECTIONS_POLYGON if isinstance(zone, PolygonZone) else 1
        checks = [
            (min_duration_s >= 0, f"min_duration_s must be >= 0, got {min_duration_s}"),
            (min_detections >= 1, f"min_detections must be >= 1, got {min_detections}"),
            (clear_s >= 0, f"clear_s must be >= 0, got {clear_s}"),
            (bool(ebike_roles), "ebike_roles must not be empty"),
            (0 < reid_iou <= 1, f"reid_iou must be in (0, 1], got {reid_iou}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{where}: {message}")
        self.camera_id = camera_id
        self.zone_id = zone_id
        self.zone = zone
        self.min_duration_s = min_duration_s
        self.min_detections = min_detections
        self.allow_bicycles = allow_bicycles
        counted = set(ebike_roles)
        if not allow_bicycles:
            counted |= set(bicycle_roles)
        self.counted_roles = frozenset(counted)
        self.clear_s = clear_s
        self.reid_iou = reid_iou
        self.update_interval_s = update_interval_s
        self._votes: dict[int, _Votes] = {}
        self._members = MembershipState(zone) if isinstance(zone, PolygonZone) else None
        self._episodes: list[_Episode] = []
        self._next_key = 1
        self._last_pts_s: float | None = None

    # ----- public ----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return any(e.hazard is not None for e in self._episodes)

    @property
    def open_count(self) -> int:
        """Number of open hazards (one per e-bike)."""
        return sum(e.hazard is not None for e in self._episodes)

    @property
    def tracked_count(self) -> int:
        """Number of tracks with per-track state (pruned when tracks end)."""
        return len(self._votes)

    def update(self, obs: Observation) -> list[HazardEvent]:
        """Feed one analysed frame; return the hazard events it caused.

        Raises:
            ValueError: when the observation is for another camera or goes back in time.
        """
        self._check(obs)
        ids = [int(t) for t in obs.tracks.track_id]
        self._prune(ids)
        counted = self._vote(obs, ids)
        boxes = [box_norm_of(b, obs.width_px, obs.height_px) for b in obs.tracks.detections.xyxy]
        for episode in self._episodes:
            episode.seen = episode.detected = episode.hit = False
        if isinstance(self.zone, PolygonZone):
            self._polygon_step(obs, ids, boxes, counted)
        else:
            self._line_step(obs, self.zone, ids, boxes, counted)
        return self._decide(obs)

    def close(self, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """End every open hazard (the stream ended)."""
        events = [self._end(e, pts_s, captured_at) for e in self._episodes if e.hazard]
        self._episodes = []
        return events

    # ----- per-frame stages ------------------------------------------------------------------

    def _check(self, obs: Observation) -> None:
        where = f"ebike entry {self.camera_id}/{self.zone_id}"
        if obs.camera_id != self.camera_id:
            raise ValueError(f"{where}: observation of camera '{obs.camera_id}'")
        if self._last_pts_s is not None and obs.pts_s < self._last_pts_s:
            raise ValueError(
                f"{where}: pts_s went backwards ({obs.pts_s} after {self._last_pts_s})"
            )
        self._last_pts_s = obs.pts_s

    def _prune(self, ids: list[int]) -> None:
        gone = set(self._votes) - set(ids)
        for tid in gone:
            del self._votes[tid]
        if isinstance(self.zone, LineZone):
            self.zone.forget(gone)
        if self._members is not None:
            self._members.forget(gone)

    def _vote(self, obs: Observation, ids: list[int]) -> list[bool]:
        """Whether each row is an e-bike by the majority of its track's roles so far."""
        out: list[bool] = []
        for tid, role, label in zip(ids, obs.roles, obs.labels, strict=True):
            votes = self._votes.setdefault(tid, _Votes())
            votes.total += 1
            votes.counted += role in self.counted_roles
            if role in self.counted_roles:
                votes.labels[label] = votes.labels.get(label, 0) + 1
            out.append(votes.counted > 0 and 2 * votes.counted >= votes.total)
        return out

    def _label(self, tid: int, fallback: str) -> str:
        labels = self._votes[tid].labels
        return max(labels, key=labels.__getitem__) if labels else fallback

    def _see(
        self, episode: _Episode, obs: Observation, row: int, box: Any, counted: bool = True
    ) -> None:
        tid = int(obs.tracks.track_id[row])
        if tid not in episode.track_ids:
            episode.track_ids.append(tid)
            episode.ids_changed = True
        label = self._label(tid, obs.labels[row] or obs.roles[row])
        if label not in episode.labels:
            episode.labels.append(label)
        episode.seen = True
        episode.last_seen_pts_s = obs.pts_s
        detected = bool(obs.tracks.det_index[row] >= 0)
        if detected or not episode.ever_detected:
            episode.box_norm = box  # a coasting prediction never replaces a detected box
        if detected and counted and not episode.hit:
            episode.hit = True  # once per frame, however many of its tracks are detected
            episode.hits += 1
        episode.detected |= detected
        episode.ever_detected |= detected
        episode.confidence = max(episode.confidence, float(obs.tracks.detections.confidence[row]))

    def _episode_of(self, tid: int) -> _Episode | None:
        return next((e for e in self._episodes if tid in e.track_ids), None)

    def _reidentify(self, box: Any) -> _Episode | None:
        """An episode without a detection this frame whose last detected box overlaps ``box``.

        Its tracks are gone, or only coasting (a track whose prediction flew on when the e-bike
        stopped while the detector missed it, and the tracker started a new one where it is).
        """
        best, best_episode = self.reid_iou, None
        for episode in self._episodes:
            if episode.detected or episode.out_since_pts_s is not None:
                continue
            iou = iou_xyxy(box, episode.box_norm)
            if iou >= best:
                best, best_episode = iou, episode
        return best_episode

    def _new_episode(self, obs: Observation, row: int, box: Any) -> _Episode:
        episode = _Episode(
            key=self._next_key,
            track_ids=[],
            first_pts_s=obs.pts_s,
            last_seen_pts_s=obs.pts_s,
            box_norm=box,
            labels=[],
            confidence=0.0,
        )
        self._next_key += 1
        self._episodes.append(episode)
        self._see(episode, obs, row, box)
        episode.ids_changed = False
        return episode

    def _polygon_step(
        self, obs: Observation, ids: list[int], boxes: list[Any], counted: list[bool]
    ) -> None:
        if self._members is None or not ids:
            return
        inside = self._members.update(ids, obs.tracks.detections.xyxy, obs.width_px, obs.height_px)
        rows = [i for i in range(len(ids)) if counted[i] and inside[i]]
        pending: list[int] = []
        for row in rows:
            episode = self._episode_of(ids[row])
            if episode is None:
                pending.append(row)
            else:
                self._see(episode, obs, row, boxes[row])
        for row in pending:
            episode = self._reidentify(boxes[row])
            if episode is None:
                self._new_episode(obs, row, boxes[row])
            else:
                self._see(episode, obs, row, boxes[row])

    def _line_step(
        self,
        obs: Observation,
        zone: LineZone,
        ids: list[int],
        boxes: list[Any],
        counted: list[bool],
    ) -> None:
        xyxy = obs.tracks.detections.xyxy
        crossings = zone.update(obs.camera_id, ids, xyxy, obs.width_px, obs.height_px, obs.pts_s)
        row_of = {tid: i for i, tid in enumerate(ids)}
        for row, tid in enumerate(ids):
            episode = self._episode_of(tid)
            if episode is not None:
                self._see(episode, obs, row, boxes[row], counted[row])
        for crossing in crossings:
            row = row_of[crossing.track_id]
            episode = self._episode_of(crossing.track_id)
            if crossing.kind is ZoneEventKind.CROSS_OUT:
                if episode is not None:
                    episode.out_since_pts_s = obs.pts_s
                continue
            if not counted[row]:
                continue
            if episode is not None:
                episode.out_since_pts_s = None  # back in within clear_s: the same hazard
            else:
                self._new_episode(obs, row, boxes[row])  # came from outside: a new e-bike
        for row, tid in enumerate(ids):
            # A new id on the inner side where an e-bike was a moment ago is that e-bike.
            if counted[row] and zone.side_of(tid) != -1 and self._episode_of(tid) is None:
                episode = self._reidentify(boxes[row])
                if episode is not None:
                    self._see(episode, obs, row, boxes[row])

    # ----- decisions -------------------------------------------------------------------------

    def _decide(self, obs: Observation) -> list[HazardEvent]:
        pts = obs.pts_s
        events: list[HazardEvent] = []
        keep: list[_Episode] = []
        for episode in self._episodes:
            out_for = None if episode.out_since_pts_s is None else pts - episode.out_since_pts_s
            gone = pts - episode.last_seen_pts_s >= self.clear_s - EPS_S
            left = out_for is not None and out_for >= self.clear_s - EPS_S
            if episode.hazard is None:
                if gone or out_for is not None:
                    continue  # left (or crossed back out) before it was confirmed
                confirmed = episode.hits >= self.min_detections
                if (
                    episode.seen
                    and confirmed
                    and pts - episode.first_pts_s >= self.min_duration_s - EPS_S
                ):
                    events.append(self._start(episode, obs))
                keep.append(episode)
            elif gone or left:
                events.append(self._end(episode, pts, obs.captured_at))
            else:
                keep.append(episode)
                if episode.ids_changed:
                    update = episode.hazard.update(pts, **self._fields(episode, pts))
                    if update is not None:
                        episode.ids_changed = False
                        events.append(update)
        self._episodes = keep
        return events

    def _fields(self, episode: _Episode, pts_s: float) -> dict[str, Any]:
        return {
            "track_ids": list(episode.track_ids),
            "labels": list(episode.labels),
            "score": episode.confidence,
            "box_norm": episode.box_norm,
            "details": {
                "zone_type": "polygon" if isinstance(self.zone, PolygonZone) else "line",
                "first_seen_pts_s": round(episode.first_pts_s, 3),
                "duration_s": round(pts_s - episode.first_pts_s, 3),
            },
        }

    def _start(self, episode: _Episode, obs: Observation) -> HazardEvent:
        hazard = OpenHazard(
            self.kind,
            self.camera_id,
            self.zone_id,
            obs.pts_s,
            obs.captured_at,
            update_interval_s=self.update_interval_s,
        )
        if any(e.hazard and e.hazard.hazard_id == hazard.hazard_id for e in self._episodes):
            # Two e-bikes confirmed in the same frame would share OpenHazard's id (camera, zone,
            # kind, time): tell them apart, deterministically, by the e-bike's first track id.
            hazard.hazard_id = str(
                uuid.uuid5(uuid.UUID(hazard.hazard_id), f"track/{episode.track_ids[0]}")
            )
        episode.hazard = hazard
        episode.ids_changed = False
        return hazard.start(**self._fields(episode, obs.pts_s))

    def _end(self, episode: _Episode, pts_s: float, captured_at: datetime) -> HazardEvent:
        hazard = episode.hazard
        if hazard is None:
            raise RuntimeError("episode has no open hazard")
        episode.hazard = None
        return hazard.end(pts_s, captured_at, **self._fields(episode, pts_s))
