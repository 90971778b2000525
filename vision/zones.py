"""Zones: polygons and directed lines in normalized coordinates, evaluated per frame size.

Why not supervision's PolygonZone / LineZone: PolygonZone rasterises a mask per resolution and
decides on one anchor point, LineZone keeps per-track state forever (STYLE.md); ours converts
normalized geometry to pixels once per frame size, and prunes per-object state when a track ends.

Polygon membership is decided on the *footprint* of a box, not on one point (ARCHITECTURE.md §4):
installers draw zones roughly, and a car whose box's bottom edge lies a few pixels below the
lane's near edge, or whose centre is just past its left end, is still in the lane. The footprint
is the ground-contact band of the box (its bottom ``footprint_height`` for the default
``bottom_center`` anchor); an object enters when the part of its footprint inside the polygon
(or the part of the polygon its footprint covers, for zones smaller than the objects) reaches
the ``enter`` threshold and leaves only when it falls below the lower ``exit`` threshold, so a box
jittering on an edge does not flap in and out (:class:`Membership`, :class:`MembershipState`).
Lines keep deciding on the anchor point: a crossing is a point's event.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from vision.types import ZoneEvent, ZoneEventKind


def _check_frame_size(zone_id: str, width_px: int, height_px: int) -> None:
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"zone {zone_id}: frame size must be positive, got {width_px}x{height_px}")


class Anchor(StrEnum):
    """Point of a box that decides zone membership and line crossing."""

    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    TOP_CENTER = "top_center"


def anchor_points(xyxy: np.ndarray, anchor: Anchor) -> np.ndarray:
    """Anchor points of boxes.

    Args:
        xyxy: float (n, 4) boxes.
        anchor: which point.

    Returns:
        float32 (n, 2) points (x, y) in the boxes' units.
    """
    xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
    x: np.ndarray = (xyxy[:, 0] + xyxy[:, 2]) / 2
    y: np.ndarray
    if anchor is Anchor.BOTTOM_CENTER:
        y = xyxy[:, 3]
    elif anchor is Anchor.TOP_CENTER:
        y = xyxy[:, 1]
    else:
        y = (xyxy[:, 1] + xyxy[:, 3]) / 2
    return np.stack([x, y], axis=1).astype(np.float32)


def footprint_boxes(xyxy: np.ndarray, anchor: Anchor, height_fraction: float) -> np.ndarray:
    """The footprint of each box: the full-width band of ``height_fraction`` of its height at its
    anchor (the bottom band for ``bottom_center``, the top band for ``top_center``, centred for
    ``center``).

    Returns:
        float64 (n, 4) boxes in the boxes' units.
    """
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    band = (boxes[:, 3] - boxes[:, 1]) * height_fraction
    out = boxes.copy()
    if anchor is Anchor.BOTTOM_CENTER:
        out[:, 1] = boxes[:, 3] - band
    elif anchor is Anchor.TOP_CENTER:
        out[:, 3] = boxes[:, 1] + band
    else:
        centre = (boxes[:, 1] + boxes[:, 3]) / 2
        out[:, 1], out[:, 3] = centre - band / 2, centre + band / 2
    return out


@dataclass(frozen=True, slots=True)
class Membership:
    """How a box's footprint decides membership of a polygon zone, with hysteresis.

    Attributes:
        footprint_height: height of the footprint band as a fraction of the box height. A
            quarter of a vehicle's box is about its ground contact seen from a pole or a wall
            (the band between its near and far wheels), near or far from the camera alike.
        enter_overlap: an object enters when at least this fraction of its footprint is inside
            the polygon. 0.3: a car straddling an edge with a third of its footprint in the lane
            (about 1.5 m of a car's length, or its near wheels) is in it; a sliver is not.
        exit_overlap: a member leaves only when the fraction falls below this (hysteresis).
        enter_zone_overlap: an object also enters when its footprint covers this fraction of the
            polygon's area (a zone smaller than the objects, e.g. a narrow passage a van covers);
            it leaves below ``enter_zone_overlap * exit_overlap / enter_overlap``.
    """

    footprint_height: float = 0.25
    enter_overlap: float = 0.3
    exit_overlap: float = 0.15
    enter_zone_overlap: float = 0.5

    def __post_init__(self) -> None:
        values = (self.footprint_height, self.enter_overlap, self.exit_overlap)
        if not all(math.isfinite(v) for v in (*values, self.enter_zone_overlap)):
            raise ValueError(f"membership: values must be finite, got {self}")
        checks = [
            (
                0 < self.footprint_height <= 1,
                f"footprint_height must be in (0, 1], got {self.footprint_height}",
            ),
            (
                0 < self.enter_overlap <= 1,
                f"enter_overlap must be in (0, 1], got {self.enter_overlap}",
            ),
            (
                0 <= self.exit_overlap <= self.enter_overlap,
                f"exit_overlap must be in [0, enter_overlap ({self.enter_overlap})], "
                f"got {self.exit_overlap}",
            ),
            (
                0 < self.enter_zone_overlap <= 1,
                f"enter_zone_overlap must be in (0, 1], got {self.enter_zone_overlap}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"membership: {message}")

    def decide(self, was_inside: bool, of_footprint: float, of_zone: float) -> bool:
        """Whether an object is a member now, given whether it was one in the previous frame.

        A member stays while any of its footprint is inside and the fractions stay at or above
        the exit thresholds (``exit_overlap = 0`` keeps it while it touches the polygon at all).
        """
        if of_footprint >= self.enter_overlap or of_zone >= self.enter_zone_overlap:
            return True
        if not was_inside or of_footprint <= 0:
            return False
        exit_zone = self.enter_zone_overlap * self.exit_overlap / self.enter_overlap
        return of_footprint >= self.exit_overlap or of_zone >= exit_zone


class PolygonZone:
    """A polygon given in normalized 0..1 coordinates of the full frame (x right, y down).

    ``anchor`` says where a box's footprint lies (:func:`footprint_boxes`); ``membership`` how
    much of it must be inside.
    """

    def __init__(
        self,
        zone_id: str,
        polygon_norm: Sequence[Sequence[float]],
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        membership: Membership | None = None,
    ) -> None:
        poly = np.asarray(polygon_norm, np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3:
            raise ValueError(f"zone {zone_id}: polygon needs >= 3 [x, y] points, got {poly.shape}")
        if (poly < 0).any() or (poly > 1).any():
            raise ValueError(f"zone {zone_id}: polygon coordinates must lie in 0..1")
        self.zone_id = zone_id
        self.polygon_norm = poly
        self.anchor = Anchor(anchor)
        self.membership = membership if membership is not None else Membership()
        self._size: tuple[int, int] | None = None
        self._poly_px = np.zeros((0, 2), np.float32)
        self._mask: np.ndarray | None = None
        self._integral: np.ndarray | None = None
        self._area_px = 0

    @property
    def area_norm(self) -> float:
        x, y = self.polygon_norm[:, 0], self.polygon_norm[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

    def polygon_px(self, width_px: int, height_px: int) -> np.ndarray:
        """The polygon in pixels of a frame of this size (cached per size)."""
        if self._size != (width_px, height_px):
            _check_frame_size(self.zone_id, width_px, height_px)
            self._size = (width_px, height_px)
            self._poly_px = (self.polygon_norm * [width_px, height_px]).astype(np.float32)
            self._mask = None
            self._integral = None
        return self._poly_px

    def mask(self, width_px: int, height_px: int) -> np.ndarray:
        """uint8 (h, w) mask, 1 inside the polygon (cached per size)."""
        poly = self.polygon_px(width_px, height_px)
        if self._mask is None:
            mask = np.zeros((height_px, width_px), np.uint8)
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
            self._mask = mask
        return self._mask

    def contains_points(self, points_px: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
        """bool (n,): which pixel points lie inside (or on the edge of) the polygon."""
        poly = self.polygon_px(width_px, height_px)
        pts = np.asarray(points_px, np.float32).reshape(-1, 2)
        contour = poly.reshape(-1, 1, 2)
        return np.array(
            [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in pts],
            dtype=bool,
        )

    def _mask_integral(self, width_px: int, height_px: int) -> np.ndarray:
        """Summed-area table of the mask (cached per size): any rectangle's count in O(1)."""
        mask = self.mask(width_px, height_px)
        if self._integral is None:
            self._integral = cv2.integral(mask, sdepth=cv2.CV_64F)
            self._area_px = int(mask.sum())
        return self._integral

    def footprint_overlap(
        self, xyxy: np.ndarray, width_px: int, height_px: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """How much of each box's footprint is inside the polygon.

        Measured on the pixels the footprint touches (at least one pixel row); the part of a
        footprint outside the frame (a coasting track's predicted box, an object cut by the frame
        edge) counts as outside.

        Returns:
            float (n,) fractions of each footprint inside the polygon, and float (n,) fractions of
            the polygon's area that each footprint covers.
        """
        integral = self._mask_integral(width_px, height_px)
        feet = footprint_boxes(xyxy, self.anchor, self.membership.footprint_height)
        of_footprint = np.zeros(len(feet), np.float64)
        of_zone = np.zeros(len(feet), np.float64)
        for i, (x1, y1, x2, y2) in enumerate(feet.tolist()):
            if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
                continue
            fx1, fy1 = math.floor(x1), math.floor(y1)
            fx2, fy2 = max(math.ceil(x2), fx1 + 1), max(math.ceil(y2), fy1 + 1)
            touched = (fx2 - fx1) * (fy2 - fy1)
            ix1, iy1 = min(max(fx1, 0), width_px), min(max(fy1, 0), height_px)
            ix2, iy2 = min(max(fx2, 0), width_px), min(max(fy2, 0), height_px)
            inside = float(
                integral[iy2, ix2] - integral[iy1, ix2] - integral[iy2, ix1] + integral[iy1, ix1]
            )
            of_footprint[i] = inside / touched
            of_zone[i] = inside / self._area_px if self._area_px else 0.0
        return of_footprint, of_zone

    def contains_boxes(self, xyxy: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
        """bool (n,): which boxes are members, judged on this frame alone (no hysteresis: an
        object not inside before). :class:`MembershipState` adds the hysteresis."""
        of_footprint, of_zone = self.footprint_overlap(xyxy, width_px, height_px)
        m = self.membership
        return np.array(
            [m.decide(False, f, z) for f, z in zip(of_footprint, of_zone, strict=True)], bool
        )

    def box_overlap_fraction(self, xyxy: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
        """float (n,): fraction of each box's area that lies inside the polygon.

        Measured on the pixels the box touches; the part of a box outside the frame (a coasting
        track's predicted box) counts as outside the polygon.
        """
        mask = self.mask(width_px, height_px)
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        out = np.zeros(len(boxes), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
            fx1, fy1, fx2, fy2 = math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)
            touched = (fx2 - fx1) * (fy2 - fy1)
            ix1, iy1 = max(fx1, 0), max(fy1, 0)
            ix2, iy2 = min(fx2, width_px), min(fy2, height_px)
            if touched > 0 and ix2 > ix1 and iy2 > iy1:
                out[i] = float(mask[iy1:iy2, ix1:ix2].sum()) / touched
        return out


class MembershipState:
    """Polygon membership of objects followed over frames (by key: a track id, a record), with
    the hysteresis of :class:`Membership`. State of keys that ended is dropped by
    :meth:`forget`."""

    def __init__(self, zone: PolygonZone) -> None:
        self.zone = zone
        self._inside: dict[Hashable, bool] = {}

    def update(
        self, keys: Sequence[Hashable], xyxy: np.ndarray, width_px: int, height_px: int
    ) -> np.ndarray:
        """bool (n,): which of this frame's objects (boxes in pixels) are members now."""
        boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
        if len(boxes) != len(keys):
            raise ValueError(f"zone {self.zone.zone_id}: {len(keys)} keys but {len(boxes)} boxes")
        if not len(keys):
            return np.zeros(0, bool)
        of_footprint, of_zone = self.zone.footprint_overlap(boxes, width_px, height_px)
        out = np.zeros(len(keys), bool)
        for i, key in enumerate(keys):
            inside = self.zone.membership.decide(
                self._inside.get(key, False), float(of_footprint[i]), float(of_zone[i])
            )
            self._inside[key] = inside
            out[i] = inside
        return out

    def forget(self, keys: Iterable[Hashable]) -> None:
        """Drop the state of objects that ended."""
        for key in keys:
            self._inside.pop(key, None)

    @property
    def tracked_count(self) -> int:
        return len(self._inside)


class LineZone:
    """A directed line: crossing from the outer side to the side ``inward`` points to is "in".

    A crossing is decided on the anchor point with hysteresis: the point must get at least
    ``hysteresis_norm`` beyond the line on the new side, having been as far on the old side, so
    jitter on the line never counts. The distance is measured in normalized coordinates (for a
    horizontal line, a fraction of the frame height; for a vertical one, of the width). Only
    crossings within the segment's extent (projected) count. Per-track state is dropped by
    :meth:`forget`.
    """

    def __init__(
        self,
        zone_id: str,
        line_norm: Sequence[Sequence[float]],
        inward_norm: Sequence[float],
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        hysteresis_norm: float = 0.01,
    ) -> None:
        line = np.asarray(line_norm, np.float64)
        if line.shape != (2, 2) or np.allclose(line[0], line[1]):
            raise ValueError(f"zone {zone_id}: line needs two distinct [x, y] points")
        if not np.isfinite(line).all() or (line < 0).any() or (line > 1).any():
            raise ValueError(f"zone {zone_id}: line coordinates must lie in 0..1")
        inward = np.asarray(inward_norm, np.float64)
        if inward.shape != (2,) or not np.isfinite(inward).all():
            raise ValueError(f"zone {zone_id}: inward must be a 2-vector, got {inward.tolist()}")
        direction = line[1] - line[0]
        normal = np.array([-direction[1], direction[0]])
        side = float(np.dot(normal, inward))
        if abs(side) < 1e-9:
            raise ValueError(f"zone {zone_id}: inward must not be parallel to the line")
        if not (math.isfinite(hysteresis_norm) and 0 <= hysteresis_norm < 0.5):
            raise ValueError(
                f"zone {zone_id}: hysteresis_norm must lie in [0, 0.5), got {hysteresis_norm}"
            )
        self.zone_id = zone_id
        self.line_norm = line
        self.anchor = Anchor(anchor)
        self.hysteresis_norm = hysteresis_norm
        self._normal_in = normal * np.sign(side)  # points to the inner side (normalized units)
        self._side: dict[int, int] = {}  # track id -> last confirmed side (+1 in, -1 out)

    def signed_distance_norm(self, points_norm: np.ndarray) -> np.ndarray:
        """Signed distance of normalized points from the line; positive on the inner side."""
        n = self._normal_in / np.linalg.norm(self._normal_in)
        return (np.asarray(points_norm, np.float64).reshape(-1, 2) - self.line_norm[0]) @ n

    def _within_extent(self, points_norm: np.ndarray) -> np.ndarray:
        d = self.line_norm[1] - self.line_norm[0]
        t = (np.asarray(points_norm, np.float64).reshape(-1, 2) - self.line_norm[0]) @ d
        return (t >= 0) & (t <= float(d @ d))

    def update(
        self,
        camera_id: str,
        track_ids: Iterable[int],
        xyxy: np.ndarray,
        width_px: int,
        height_px: int,
        pts_s: float,
    ) -> list[ZoneEvent]:
        """Crossing events for this frame's tracks (boxes in pixels)."""
        ids = [int(t) for t in track_ids]
        if not ids:
            return []
        _check_frame_size(self.zone_id, width_px, height_px)
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        if len(boxes) != len(ids):
            raise ValueError(f"zone {self.zone_id}: {len(ids)} track ids but {len(boxes)} boxes")
        points = anchor_points(boxes, self.anchor) / np.array([width_px, height_px], np.float32)
        dist = self.signed_distance_norm(points)
        inside_extent = self._within_extent(points)
        events: list[ZoneEvent] = []
        h = self.hysteresis_norm
        for tid, d, ok in zip(ids, dist, inside_extent, strict=True):
            side = 1 if d >= h else -1 if d <= -h else 0
            if side == 0:
                continue  # in the dead band: no decision
            previous = self._side.get(tid)
            self._side[tid] = side
            if previous is None or previous == side or not ok:
                continue
            kind = ZoneEventKind.CROSS_IN if side > 0 else ZoneEventKind.CROSS_OUT
            events.append(ZoneEvent(camera_id, self.zone_id, kind, tid, pts_s))
        return events

    def side_of(self, track_id: int) -> int | None:
        """Last confirmed side of a track: +1 inner, -1 outer, None unknown."""
        return self._side.get(track_id)

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop state of tracks that ended."""
        for tid in track_ids:
            self._side.pop(int(tid), None)

    @property
    def tracked_count(self) -> int:
        return len(self._side)
