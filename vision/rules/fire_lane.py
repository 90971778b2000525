"""Fire lane blocked: a blocker at rest inside the lane for ``dwell_s`` (ARCHITECTURE.md §1, §4).

One hazard per lane zone: the lane is blocked or it is not. The rule keeps *rest records*: one per
object that came to rest inside the lane, whatever the tracker calls it.

* A tracked blocker (a detector role such as ``vehicle``) gets a rest record once its box centre
  has stayed within ``rest_speed_norm_per_s × rest_window_s`` of where it is now for
  ``rest_window_s``; its rest onset is the first moment of that stay. A car that crawls through
  the lane never stays within that radius, and a record whose object drifts away (its box no
  longer overlaps the rest box by ``rest_iou``, nor keeps its centre in it while still) stops
  being confirmed; when its own track is seen driving off, the record is marked departed.
* Records are matched to this frame's tracks by id first and then by location (IoU with the rest
  box), so an id switch mid-dwell or a track that vanished and came back at the same place keeps
  its rest onset. Coasting tracks (``det_index == -1``) confirm their record too, and so does
  static foreground covering a quarter of the record's rest box: a parked car hidden from the
  detector for a while stays the same blocker. An unconfirmed record is kept for
  ``max_absence_s``; a departed one is never confirmed by static foreground again.
* Class-agnostic clutter: regions of static foreground (:class:`vision.background.
  StaticForeground`) inside the lane that no track (nor a resting blocker's rest box) explains
  become records with label ``clutter`` (boxes, furniture, unknown things the detector has no
  class for). A clutter record rests since its pixels became static, so a bag put down beside
  the person who brought it counts from when it was put down, not from when they left. Regions
  fragment and join (a passer-by hides the middle of a box): every region overlapping a record
  belongs to it, and records that one region joins are merged into the oldest.
* Ghosts: a static region where a departed blocker stood is the road it revealed (it was there
  when the camera started, so the long-term background held it); the rule absorbs it into the
  background (:meth:`vision.background.StaticForeground.absorb`) instead of calling it clutter.
  Limit: something left exactly where a vehicle then drives away from is absorbed with it.

The lane is blocked when the records at rest for at least ``dwell_s`` cover at least
``min_occupancy`` of the lane's area (their boxes clipped to the lane, or their static-foreground
pixels for clutter). While a hazard is open, any resting blocker keeps it open (a second car that
parks while the first is there continues the same hazard); it ends once the lane has been clear
for ``clear_s``.

Lane membership is decided on footprints, not on one anchor point (:class:`vision.zones.
Membership`, ARCHITECTURE.md §4): a tracked blocker comes to rest *in the lane* when at least
``enter_overlap`` of its box's ground band is inside the polygon, and a record leaves the lane only
when that falls below ``exit_overlap``, so a car straddling any edge of a roughly drawn lane counts
and a box jittering on an edge cannot make the hazard flap. When the static-foreground model runs,
the still pixels around a resting blocker's box give a second footprint (the object as the
pixels show it, whatever the detector's box does), and the better of the two decides: a large
still object whose detector box is borderline, or missing in some frames, is still caught. A new
clutter region must pass the same test with its own bounding box (something standing nearer the
camera, whose picture merely covers the lane, is not in it); once it is a record, the region is
followed wherever it stays static.

Occupancy and the clear width are computed on a coarse grid (``grid_width_px`` wide) over the
frame. ``clear_width_m`` (when the lane's real width is known): the lane's long axis is taken from
its minimum-area rectangle; cross-sections perpendicular to it are sampled every grid pixel; on
each, the longest contiguous free run divided by the lane's extent on that cross-section, times
``width_m``, is the free passage there (measuring relative to each cross-section's own extent keeps
it right under perspective); the minimum over cross-sections is reported. It is an upper bound
when the free runs of successive cross-sections do not connect.

Event fields: ``labels`` are the blockers' labels (``clutter`` for untracked static foreground),
``track_ids`` those of tracked blockers, ``box_norm`` the union of the blockers' boxes, ``score``
the largest blocker confidence, where a clutter region's confidence is its solidity (the fraction
of its bounding box that is static foreground), a measure of how object-like it is.
``details``: ``occupancy``, ``clear_width_m`` (when ``width_m``), ``dwell_s`` (how long the
longest-resting blocker has rested) and ``blockers`` (label, track id, box, dwell of each).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cv2
import numpy as np

from vision.background import StaticForeground
from vision.rules.base import OpenHazard
from vision.rules.boxes import iou_xyxy, overlap_of_smaller_xyxy
from vision.types import HazardEvent, HazardKind, Observation
from vision.zones import Anchor, Membership, PolygonZone

CLUTTER = "clutter"
# A blocker seen within this many seconds is still listed on the hazard (short detector misses
# do not make the listed blockers, hence update events, flicker).
LIST_GRACE_S = 2.0
# Stream times are sums of float steps: compare durations with this tolerance.
EPS_S = 1e-6


@dataclass(slots=True)
class _Rest:
    """One object at rest in (or at the edge of) the lane."""

    key: int
    origin_norm: np.ndarray  # (4,) box where it came to rest: drift is measured against it
    box_norm: np.ndarray  # (4,) latest box
    label: str
    track_id: int | None
    confidence: float
    rest_since_pts_s: float
    last_seen_pts_s: float
    inside: bool = True
    seen: bool = False
    departed_pts_s: float | None = None  # its own track drove away from the rest place
    footprint: np.ndarray | None = None  # grid mask for clutter, None for tracked blockers

    @property
    def is_clutter(self) -> bool:
        return self.footprint is not None


@dataclass(slots=True)
class _Track:
    """Short motion history of one track (normalized box centres)."""

    samples: deque[tuple[float, float, float]] = field(default_factory=deque)


class _LaneGrid:
    """The lane rasterised on the analysis grid, with cross-sections for the clear width."""

    def __init__(self, zone: PolygonZone, width_px: int, height_px: int) -> None:
        self.size = (width_px, height_px)
        self.mask = zone.mask(width_px, height_px).astype(bool)
        self.area_px = max(int(self.mask.sum()), 1)
        self.xs, self.ys, self.valid = self._sections(zone.polygon_px(width_px, height_px))
        self.valid_count = self.valid.sum(axis=1)

    def _sections(self, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w, h = self.size
        corners = cv2.boxPoints(cv2.minAreaRect(poly.astype(np.float32)))
        e1, e2 = corners[1] - corners[0], corners[2] - corners[1]
        long_e, short_e = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
        length, breadth = float(np.hypot(*long_e)), float(np.hypot(*short_e))
        u = long_e / max(length, 1e-6)
        v = short_e / max(breadth, 1e-6)
        origin = corners.mean(axis=0) - u * length / 2 - v * breadth / 2
        s = (np.arange(max(math.ceil(length), 1)) + 0.5)[:, None, None]
        t = np.arange(0.0, breadth + 0.5, 0.5)[None, :, None]
        points = origin + u * s + v * t  # (sections, samples, 2)
        xs = np.clip(np.round(points[..., 0]).astype(np.intp), 0, w - 1)
        ys = np.clip(np.round(points[..., 1]).astype(np.intp), 0, h - 1)
        valid = self.mask[ys, xs]
        keep = valid.sum(axis=1) >= 2
        if not keep.any():  # a degenerate (tiny) lane: no cross-section to measure
            keep[:] = True
        return xs[keep], ys[keep], valid[keep]

    def occupancy(self, occupied: np.ndarray) -> float:
        return float((occupied & self.mask).sum()) / self.area_px

    def clear_fraction(self, occupied: np.ndarray) -> float:
        """Narrowest free passage across the lane as a fraction of its width (1.0 = all free)."""
        free = self.valid & ~occupied[self.ys, self.xs]
        count = np.cumsum(free, axis=1)
        reset = np.maximum.accumulate(np.where(free, 0, count), axis=1)
        longest = (count - reset).max(axis=1)
        fraction = longest / np.maximum(self.valid_count, 1)
        return float(min(fraction.min(), 1.0))


class FireLaneRule:
    """Fire lane (or evacuation passage) blocked by a resting object.

    Args:
        camera_id: camera slug.
        zone_id: the lane zone's id.
        polygon_norm: the lane polygon, normalized (x right, y down).
        dwell_s: seconds a blocker must rest in the lane before the hazard starts.
        min_occupancy: fraction of the lane's area the resting blockers must cover.
        clear_s: seconds the lane must stay clear before the hazard ends.
        width_m: real width of the lane across its short side; enables ``clear_width_m``.
        blocker_roles: roles that block (``clutter`` enables untracked static foreground).
        anchor: where a box's footprint lies (the bottom band by default).
        rest_speed_norm_per_s: a blocker moving slower than this (box centre, normalized units
            per second, measured over ``rest_window_s``) is at rest.
        use_static_foreground: run the dual-rate static-foreground model on ``Observation.luma``
            (clutter, and confirmation of blockers the detector misses).
        rest_window_s: how long a blocker must stay put before it counts as resting.
        rest_iou: IoU with the rest box needed to keep (or re-identify) a resting blocker.
        max_absence_s: a resting blocker not confirmed for this long is forgotten (default:
            ``max(clear_s, 10)``).
        membership: footprint band and enter/exit overlaps deciding lane membership.
        grid_width_px: width of the occupancy / static-foreground grid.
        update_interval_s: minimum stream time between two update events.
        static_foreground: a configured model to use instead of the default one.

    Raises:
        ValueError: on an invalid polygon or an out-of-range argument.
    """

    kind = HazardKind.FIRE_LANE_BLOCKED

    def __init__(
        self,
        camera_id: str,
        zone_id: str,
        polygon_norm: Sequence[Sequence[float]],
        dwell_s: float,
        min_occupancy: float,
        clear_s: float,
        width_m: float | None = None,
        blocker_roles: Sequence[str] = ("vehicle", "bicycle", "ebike", CLUTTER),
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        rest_speed_norm_per_s: float = 0.01,
        use_static_foreground: bool = True,
        *,
        rest_window_s: float = 2.0,
        rest_iou: float = 0.5,
        max_absence_s: float | None = None,
        membership: Membership | None = None,
        grid_width_px: int = 160,
        update_interval_s: float = 10.0,
        static_foreground: StaticForeground | None = None,
    ) -> None:
        where = f"fire lane {camera_id}/{zone_id}"
        checks = [
            (dwell_s >= 0, f"dwell_s must be >= 0, got {dwell_s}"),
            (0 <= min_occupancy <= 1, f"min_occupancy must be in [0, 1], got {min_occupancy}"),
            (clear_s >= 0, f"clear_s must be >= 0, got {clear_s}"),
            (width_m is None or width_m > 0, f"width_m must be > 0, got {width_m}"),
            (bool(blocker_roles), "blocker_roles must not be empty"),
            (
                rest_speed_norm_per_s > 0,
                f"rest_speed_norm_per_s must be > 0, got {rest_speed_norm_per_s}",
            ),
            (rest_window_s > 0, f"rest_window_s must be > 0, got {rest_window_s}"),
            (0 < rest_iou <= 1, f"rest_iou must be in (0, 1], got {rest_iou}"),
            (grid_width_px >= 16, f"grid_width_px must be >= 16, got {grid_width_px}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{where}: {message}")
        self.camera_id = camera_id
        self.zone_id = zone_id
        self.membership = membership if membership is not None else Membership()
        self.zone = PolygonZone(zone_id, polygon_norm, anchor, self.membership)  # frame pixels
        self._grid_zone = PolygonZone(zone_id, polygon_norm, anchor, self.membership)  # grid px
        self.dwell_s = dwell_s
        self.min_occupancy = min_occupancy
        self.clear_s = clear_s
        self.width_m = width_m
        self.blocker_roles = frozenset(blocker_roles)
        self.anchor = Anchor(anchor)
        self.rest_radius_norm = rest_speed_norm_per_s * rest_window_s
        self.rest_window_s = rest_window_s
        self.rest_iou = rest_iou
        self.max_absence_s = max(clear_s, 10.0) if max_absence_s is None else max_absence_s
        self.grid_width_px = grid_width_px
        self.update_interval_s = update_interval_s
        self.static: StaticForeground | None = None
        if use_static_foreground:
            self.static = static_foreground if static_foreground is not None else StaticForeground()
        self._tracks: dict[int, _Track] = {}
        self._records: list[_Rest] = []
        self._next_key = 1
        self._grid: _LaneGrid | None = None
        self._open: OpenHazard | None = None
        self._clear_since_pts_s: float | None = None
        self._listed_keys: tuple[int, ...] = ()
        self._update_pending = False
        self._last_fields: dict[str, Any] | None = None
        self._last_pts_s: float | None = None
        self._last_occupied: np.ndarray | None = None
        self._last_occupancy = 0.0

    # ----- public ----------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._open is not None

    @property
    def resting_count(self) -> int:
        """Number of rest records held (for tests and metrics)."""
        return len(self._records)

    @property
    def tracked_count(self) -> int:
        """Number of tracks with motion state (pruned when tracks end)."""
        return len(self._tracks)

    def update(self, obs: Observation) -> list[HazardEvent]:
        """Feed one analysed frame; return the hazard events it caused.

        Raises:
            ValueError: when the observation is for another camera or goes back in time.
        """
        self._check(obs)
        grid = self._lane_grid(obs.width_px, obs.height_px)
        boxes = _normalized_boxes(obs)
        self._update_histories(obs, boxes)
        for record in self._records:
            record.seen = False
        static_ok = self._update_static(obs, grid)
        used = self._match_own_tracks(obs, boxes)
        used |= self._adopt_tracks(obs, boxes, used)
        self._new_track_records(obs, boxes, used)
        if static_ok:
            self._match_static(obs, boxes, grid)
        self._records = [
            r for r in self._records if obs.pts_s - r.last_seen_pts_s <= self.max_absence_s
        ]
        return self._decide(obs, grid)

    def close(self, pts_s: float, captured_at: datetime) -> list[HazardEvent]:
        """End the open hazard (the stream ended)."""
        if self._open is None:
            return []
        # The lane is still blocked as last seen: report that occupancy, not an empty lane.
        return [self._end(pts_s, captured_at, None, self._last_occupied, self._last_occupancy)]

    # ----- per-frame stages ------------------------------------------------------------------

    def _check(self, obs: Observation) -> None:
        if obs.camera_id != self.camera_id:
            raise ValueError(
                f"fire lane {self.camera_id}/{self.zone_id}: observation of camera "
                f"'{obs.camera_id}'"
            )
        if self._last_pts_s is not None and obs.pts_s < self._last_pts_s:
            raise ValueError(
                f"fire lane {self.camera_id}/{self.zone_id}: pts_s went backwards "
                f"({obs.pts_s} after {self._last_pts_s})"
            )
        self._last_pts_s = obs.pts_s

    def _lane_grid(self, width_px: int, height_px: int) -> _LaneGrid:
        gw = min(self.grid_width_px, width_px)
        gh = max(4, round(height_px * gw / width_px))
        if self._grid is None or self._grid.size != (gw, gh):
            self._grid = _LaneGrid(self._grid_zone, gw, gh)
        return self._grid

    def _update_histories(self, obs: Observation, boxes: np.ndarray) -> None:
        ids = [int(t) for t in obs.tracks.track_id]
        for tid in set(self._tracks) - set(ids):
            del self._tracks[tid]  # the tracker ended it: prune its state
        horizon = obs.pts_s - 3 * self.rest_window_s
        for tid, box in zip(ids, boxes, strict=True):
            samples = self._tracks.setdefault(tid, _Track()).samples
            samples.append((obs.pts_s, float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2))
            while samples and samples[0][0] < horizon:
                samples.popleft()

    def _rest_since(self, track_id: int) -> float | None:
        """Start of the track's current stay within the rest radius, once it lasted long enough."""
        samples = self._tracks[track_id].samples
        now_pts, cx, cy = samples[-1]
        since = now_pts
        for pts, x, y in reversed(samples):
            if math.hypot(x - cx, y - cy) > self.rest_radius_norm:
                break
            since = pts
        return since if now_pts - since >= self.rest_window_s - EPS_S else None

    def _is_moving(self, track_id: int) -> bool:
        samples = self._tracks[track_id].samples
        now_pts, cx, cy = samples[-1]
        return any(
            math.hypot(x - cx, y - cy) > self.rest_radius_norm
            for pts, x, y in samples
            if now_pts - pts <= self.rest_window_s
        )

    def _is_blocker(self, obs: Observation, row: int) -> bool:
        return obs.roles[row] in self.blocker_roles

    def _overlaps_lane(self, box: np.ndarray, obs: Observation) -> tuple[float, float]:
        """How much of a still blocker's footprint is in the lane: (of the footprint, of the
        lane), the better of its box's and, with static foreground, its still pixels'."""
        scale = np.array([obs.width_px, obs.height_px, obs.width_px, obs.height_px])
        of_foot, of_zone = self.zone.footprint_overlap(box * scale, obs.width_px, obs.height_px)
        best = (float(of_foot[0]), float(of_zone[0]))
        pixels = self._still_pixels_box(box)
        if pixels is not None and self._grid is not None:
            gw, gh = self._grid.size
            grid_scale = np.array([gw, gh, gw, gh])
            s_foot, s_zone = self._grid_zone.footprint_overlap(pixels * grid_scale, gw, gh)
            best = max(best, (float(s_foot[0]), float(s_zone[0])))
        return best

    def _still_pixels_box(self, box: np.ndarray) -> np.ndarray | None:
        """Bounding box (normalized) of the static foreground around a blocker's box (grown by
        a tenth), when it fills at least half of the box: the object as its still pixels show
        it. None without a static-foreground model, or when the box is not mostly still."""
        static, grid = self.static, self._grid
        if static is None or grid is None or static.labels is None:
            return None
        gw, gh = grid.size
        x1, y1, x2, y2 = _grid_box(_grown(box, 0.1), gw, gh)
        still = static.labels[y1:y2, x1:x2] > 0
        bx1, by1, bx2, by2 = _grid_box(box, gw, gh)
        if not still.any() or (bx2 - bx1) * (by2 - by1) <= 0:
            return None
        if still.sum() < 0.5 * (bx2 - bx1) * (by2 - by1):
            return None
        ys, xs = np.nonzero(still)
        return np.array(
            [
                (x1 + xs.min()) / gw,
                (y1 + ys.min()) / gh,
                (x1 + xs.max() + 1) / gw,
                (y1 + ys.max() + 1) / gh,
            ]
        )

    def _confirm(self, record: _Rest, obs: Observation, box: np.ndarray, row: int | None) -> None:
        record.seen = True
        record.departed_pts_s = None
        record.last_seen_pts_s = obs.pts_s
        record.box_norm = box.copy()
        if row is not None:
            record.track_id = int(obs.tracks.track_id[row])
            record.label = obs.labels[row] or obs.roles[row]
            record.confidence = float(obs.tracks.detections.confidence[row])
            record.footprint = None  # a track took over a clutter region: it is tracked now
        if record.is_clutter:
            record.inside = True  # its region passed the footprint test; its pixels are cut
            return
        record.inside = self.membership.decide(record.inside, *self._overlaps_lane(box, obs))

    def _at_rest_place(self, box: np.ndarray, record: _Rest, track_id: int) -> bool:
        """Whether a box is the resting object: overlapping its rest box, or (when partly hidden
        or re-fitted) a still box whose centre lies inside the rest box."""
        if iou_xyxy(box, record.origin_norm) >= self.rest_iou:
            return True
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        o = record.origin_norm
        inside = o[0] <= cx <= o[2] and o[1] <= cy <= o[3]
        return inside and not self._is_moving(track_id)

    def _match_own_tracks(self, obs: Observation, boxes: np.ndarray) -> set[int]:
        """Records whose own track is here, still at the rest place."""
        row_of = {int(t): i for i, t in enumerate(obs.tracks.track_id)}
        used: set[int] = set()
        for record in self._records:
            row = row_of.get(record.track_id) if record.track_id is not None else None
            if row is None or row in used or not self._is_blocker(obs, row):
                continue
            if self._at_rest_place(boxes[row], record, record.track_id or 0):
                self._confirm(record, obs, boxes[row], row)
                used.add(row)
            elif record.departed_pts_s is None and self._is_moving(record.track_id or 0):
                record.departed_pts_s = obs.pts_s  # it drove off: what it leaves is a ghost
        return used

    def _adopt_tracks(self, obs: Observation, boxes: np.ndarray, used: set[int]) -> set[int]:
        """Unconfirmed records take over a still track at their rest place (an id switch, a
        track that was lost and found again, a detector class for what was clutter)."""
        pairs: list[tuple[float, int, int]] = []
        for row, box in enumerate(boxes):
            track_id = int(obs.tracks.track_id[row])
            if row in used or not self._is_blocker(obs, row) or self._is_moving(track_id):
                continue
            for k, record in enumerate(self._records):
                if not record.seen and self._at_rest_place(box, record, track_id):
                    pairs.append((iou_xyxy(box, record.origin_norm), row, k))
        adopted: set[int] = set()
        for _, row, k in sorted(pairs, reverse=True):
            record = self._records[k]
            if row in adopted or record.seen:
                continue
            self._confirm(record, obs, boxes[row], row)
            adopted.add(row)
        return adopted

    def _new_track_records(self, obs: Observation, boxes: np.ndarray, used: set[int]) -> None:
        for row, box in enumerate(boxes):
            if row in used or not self._is_blocker(obs, row):
                continue
            track_id = int(obs.tracks.track_id[row])
            since = self._rest_since(track_id)
            if since is None or not self.membership.decide(False, *self._overlaps_lane(box, obs)):
                continue
            if any(iou_xyxy(box, r.origin_norm) >= self.rest_iou for r in self._records if r.seen):
                continue  # something already resting there (e.g. a duplicate box)
            record = _Rest(
                key=self._next_key,
                origin_norm=box.copy(),
                box_norm=box.copy(),
                label=obs.labels[row] or obs.roles[row],
                track_id=track_id,
                confidence=float(obs.tracks.detections.confidence[row]),
                rest_since_pts_s=since,
                last_seen_pts_s=obs.pts_s,
            )
            self._next_key += 1
            self._confirm(record, obs, box, row)
            self._records.append(record)

    def _update_static(self, obs: Observation, grid: _LaneGrid) -> bool:
        """Feed the static-foreground model; False when it is off or there is no luma."""
        if self.static is None or obs.luma is None:
            return False
        gw, gh = grid.size
        luma = obs.luma
        if luma.shape != (gh, gw):
            luma = cv2.resize(luma, (gw, gh), interpolation=cv2.INTER_AREA)
        self.static.update(luma, obs.pts_s)
        return True

    def _match_static(self, obs: Observation, boxes: np.ndarray, grid: _LaneGrid) -> None:
        """Static regions in the lane: confirm hidden blockers, continue or start clutter.

        Static regions fragment and merge from frame to frame (a passer-by hides part of a box,
        its edges become static before its middle): every region overlapping a record belongs
        to it, and clutter records that one region joins are merged into the oldest one, which
        keeps its rest onset.
        """
        static = self.static
        labels = static.labels if static is not None else None
        if labels is None or static is None:
            return
        gw, gh = grid.size
        # A track's box, grown by a tenth of its size: slivers along a box are its object's own
        # pixels (a re-fitted or shifted box), not clutter; so are those in the rest box of a
        # resting blocker seen now (a passer-by hides its lower half: its box shrinks).
        rest_boxes = [r.origin_norm for r in self._records if r.seen and not r.is_clutter]
        track_boxes = [_grid_box(_grown(b, 0.1), gw, gh) for b in (*boxes, *rest_boxes)]
        parts: dict[int, list[np.ndarray]] = {}
        merged: set[int] = set()
        for blob in static.blobs:
            footprint = (labels == blob.label) & grid.mask
            if not footprint.any() or _covered_fraction(footprint, track_boxes) >= 0.5:
                continue  # outside the lane, or a tracked object's own pixels
            box = _footprint_box(footprint, gw, gh)
            matches = [r for r in self._records if r.key not in merged and _overlaps(box, r)]
            clutter = [r for r in matches if r.is_clutter]
            tracked = [r for r in matches if not r.is_clutter and r.departed_pts_s is None]
            if tracked:
                best = max(tracked, key=lambda r: overlap_of_smaller_xyxy(box, r.origin_norm))
                parts.setdefault(best.key, []).append(footprint)
            elif clutter:
                keep = min(clutter, key=lambda r: r.rest_since_pts_s)
                for other in clutter:
                    if other is not keep:
                        merged.add(other.key)
                        parts.setdefault(keep.key, []).extend(parts.pop(other.key, []))
                parts.setdefault(keep.key, []).append(footprint)
            elif matches:
                # Where a blocker just drove away from: the ground it reveals (if it was there
                # when the camera started) is a ghost, not clutter.
                static.absorb(labels == blob.label)
            elif CLUTTER in self.blocker_roles and self._blob_in_lane(blob.xyxy, grid):
                record = self._new_clutter(box, blob.since_pts_s, obs.pts_s)
                parts.setdefault(record.key, []).append(footprint)
        self._records = [r for r in self._records if r.key not in merged]
        for record in self._records:
            if record.key in parts:
                self._static_sighting(record, np.logical_or.reduce(parts[record.key]), obs, grid)

    def _blob_in_lane(self, xyxy: tuple[int, int, int, int], grid: _LaneGrid) -> bool:
        """Whether a static region (its whole bounding box, grid pixels) passes the footprint
        test: a thing standing in front of the lane, whose picture covers it, does not."""
        gw, gh = grid.size
        of_foot, of_zone = self._grid_zone.footprint_overlap(np.array([xyxy], float), gw, gh)
        return self.membership.decide(False, float(of_foot[0]), float(of_zone[0]))

    def _static_sighting(
        self, record: _Rest, footprint: np.ndarray, obs: Observation, grid: _LaneGrid
    ) -> None:
        gw, gh = grid.size
        box = _footprint_box(footprint, gw, gh)
        if record.is_clutter:
            record.footprint = footprint
            x1, y1, x2, y2 = _grid_box(box, gw, gh)
            record.confidence = float(footprint.sum()) / max((x2 - x1) * (y2 - y1), 1)
            self._confirm(record, obs, box, None)
            record.origin_norm = box
        elif not record.seen and _covers(footprint, record.origin_norm, grid) >= 0.25:
            record.seen = True  # a blocker the detector misses, still there
            record.last_seen_pts_s = obs.pts_s

    def _new_clutter(self, box: np.ndarray, since_pts_s: float, pts_s: float) -> _Rest:
        """A clutter record. It rests since its pixels became static, which may be before it
        became clutter: a bag left beside the person who put it there is explained by that
        person's box until they walk away."""
        record = _Rest(
            key=self._next_key,
            origin_norm=box.copy(),
            box_norm=box.copy(),
            label=CLUTTER,
            track_id=None,
            confidence=1.0,
            rest_since_pts_s=min(since_pts_s, pts_s),
            last_seen_pts_s=pts_s,
            footprint=np.zeros(0, bool),
        )
        self._next_key += 1
        self._records.append(record)
        return record

    # ----- decisions -------------------------------------------------------------------------

    def _occupied(self, records: Sequence[_Rest], grid: _LaneGrid) -> np.ndarray:
        gw, gh = grid.size
        occupied = np.zeros((gh, gw), bool)
        for record in records:
            if record.footprint is not None and record.footprint.shape == occupied.shape:
                occupied |= record.footprint
            else:
                x1, y1, x2, y2 = _grid_box(record.box_norm, gw, gh)
                occupied[y1:y2, x1:x2] = True
        return occupied & grid.mask

    def _decide(self, obs: Observation, grid: _LaneGrid) -> list[HazardEvent]:
        pts = obs.pts_s
        present = [r for r in self._records if r.seen and r.inside]
        occupied = self._occupied(present, grid)
        occupancy = grid.occupancy(occupied)
        self._last_occupied, self._last_occupancy = occupied, occupancy
        if self._open is None:
            rested = [r for r in present if pts - r.rest_since_pts_s >= self.dwell_s - EPS_S]
            if rested and grid.occupancy(self._occupied(rested, grid)) >= self.min_occupancy:
                return [self._start(obs, grid, occupied, occupancy)]
            return []
        if present and occupancy >= self.min_occupancy:
            self._clear_since_pts_s = None
        elif self._clear_since_pts_s is None:
            self._clear_since_pts_s = pts
        if (
            self._clear_since_pts_s is not None
            and pts - self._clear_since_pts_s >= self.clear_s - EPS_S
        ):
            return [self._end(pts, obs.captured_at, grid, occupied, occupancy)]
        return self._maybe_update(obs, grid, occupied, occupancy)

    def _listed(self, pts_s: float) -> list[_Rest]:
        listed = [
            r for r in self._records if r.inside and pts_s - r.last_seen_pts_s <= LIST_GRACE_S
        ]
        return sorted(listed, key=lambda r: r.rest_since_pts_s)

    def _fields(
        self, pts_s: float, grid: _LaneGrid, occupied: np.ndarray, occupancy: float
    ) -> dict[str, Any]:
        listed = self._listed(pts_s)
        if not listed and self._last_fields is not None:
            fields = dict(self._last_fields)
            details = dict(fields["details"])
        else:
            boxes = np.array([r.box_norm for r in listed]).reshape(-1, 4)
            union = None
            if len(boxes):
                lo, hi = (
                    np.clip(boxes[:, :2].min(axis=0), 0, 1),
                    np.clip(boxes[:, 2:].max(axis=0), 0, 1),
                )
                union = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
            fields = {
                "track_ids": [r.track_id for r in listed if r.track_id is not None],
                "labels": [r.label for r in listed],
                "score": max((r.confidence for r in listed), default=0.0),
                "box_norm": union,
            }
            details = {
                "dwell_s": round(max((pts_s - r.rest_since_pts_s for r in listed), default=0.0), 3),
                "blockers": [_blocker_dict(r, pts_s) for r in listed],
            }
        details["occupancy"] = round(occupancy, 4)
        if self.width_m is not None:
            details["clear_width_m"] = round(grid.clear_fraction(occupied) * self.width_m, 3)
        fields["details"] = details
        if listed:
            self._last_fields = fields
        keys = tuple(r.key for r in listed)
        if keys and keys != self._listed_keys:
            # A blocker came or went (the lane emptying is reported by the end, not an update).
            self._update_pending = True
            self._listed_keys = keys
        return fields

    def _start(
        self, obs: Observation, grid: _LaneGrid, occupied: np.ndarray, occupancy: float
    ) -> HazardEvent:
        self._open = OpenHazard(
            self.kind,
            self.camera_id,
            self.zone_id,
            obs.pts_s,
            obs.captured_at,
            update_interval_s=self.update_interval_s,
        )
        self._clear_since_pts_s = None
        self._listed_keys = ()
        self._last_fields = None
        fields = self._fields(obs.pts_s, grid, occupied, occupancy)
        self._update_pending = False
        return self._open.start(**fields)

    def _maybe_update(
        self, obs: Observation, grid: _LaneGrid, occupied: np.ndarray, occupancy: float
    ) -> list[HazardEvent]:
        if self._open is None:
            return []
        fields = self._fields(obs.pts_s, grid, occupied, occupancy)
        if not self._update_pending:
            return []
        event = self._open.update(obs.pts_s, **fields)
        if event is None:
            return []
        self._update_pending = False
        return [event]

    def _end(
        self,
        pts_s: float,
        captured_at: datetime,
        grid: _LaneGrid | None = None,
        occupied: np.ndarray | None = None,
        occupancy: float = 0.0,
    ) -> HazardEvent:
        hazard = self._open
        if hazard is None:
            raise RuntimeError("no open hazard to end")
        grid = grid if grid is not None else self._grid
        if grid is None:
            raise RuntimeError("no frame seen")
        if occupied is None or occupied.shape != grid.mask.shape:
            occupied = np.zeros(grid.mask.shape, bool)
        fields = self._fields(pts_s, grid, occupied, occupancy)
        fields["details"]["blocked_s"] = round(pts_s - hazard.start_pts_s, 3)
        self._open = None
        self._clear_since_pts_s = None
        self._update_pending = False
        return hazard.end(pts_s, captured_at, **fields)


# ----- geometry helpers ---------------------------------------------------------------------


def _normalized_boxes(obs: Observation) -> np.ndarray:
    scale = np.array([obs.width_px, obs.height_px, obs.width_px, obs.height_px], np.float64)
    return obs.tracks.detections.xyxy.astype(np.float64).reshape(-1, 4) / scale


def _grid_box(box_norm: np.ndarray, gw: int, gh: int) -> tuple[int, int, int, int]:
    """A normalized box as integer grid slices (clipped; x2, y2 exclusive)."""
    x1 = min(max(math.floor(box_norm[0] * gw), 0), gw)
    y1 = min(max(math.floor(box_norm[1] * gh), 0), gh)
    x2 = min(max(math.ceil(box_norm[2] * gw), 0), gw)
    y2 = min(max(math.ceil(box_norm[3] * gh), 0), gh)
    return x1, y1, x2, y2


def _grown(box: np.ndarray, fraction: float) -> np.ndarray:
    dx, dy = (box[2] - box[0]) * fraction, (box[3] - box[1]) * fraction
    return np.array([box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy])


def _footprint_box(footprint: np.ndarray, gw: int, gh: int) -> np.ndarray:
    ys, xs = np.nonzero(footprint)
    return np.array([xs.min() / gw, ys.min() / gh, (xs.max() + 1) / gw, (ys.max() + 1) / gh])


def _overlaps(box: np.ndarray, record: _Rest) -> bool:
    """Whether a static region's box belongs to a record (its latest or its rest box)."""
    return (
        overlap_of_smaller_xyxy(box, record.box_norm) >= 0.5
        or overlap_of_smaller_xyxy(box, record.origin_norm) >= 0.5
    )


def _covers(footprint: np.ndarray, box_norm: np.ndarray, grid: _LaneGrid) -> float:
    """Fraction of a box's part of the lane that a footprint covers."""
    x1, y1, x2, y2 = _grid_box(box_norm, *grid.size)
    area = int(grid.mask[y1:y2, x1:x2].sum())
    return float(footprint[y1:y2, x1:x2].sum()) / area if area else 0.0


def _covered_fraction(footprint: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> float:
    if not boxes:
        return 0.0
    covered = np.zeros_like(footprint)
    for x1, y1, x2, y2 in boxes:
        covered[y1:y2, x1:x2] = True
    return float((covered & footprint).sum()) / max(int(footprint.sum()), 1)


def _blocker_dict(record: _Rest, pts_s: float) -> dict[str, Any]:
    return {
        "label": record.label,
        "track_id": record.track_id,
        "box_norm": [round(float(v), 4) for v in np.clip(record.box_norm, 0, 1)],
        "dwell_s": round(pts_s - record.rest_since_pts_s, 3),
    }
