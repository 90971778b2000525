"""Evidence pictures: the annotated snapshot and the privacy blur, as pure image functions.

Nothing here touches files or threads (``pipelines.evidence`` does); everything takes and returns
uint8 BGR arrays, with boxes in the pixels of the image they came with and zones, regions and
trajectories in normalized 0..1 coordinates of the full frame (x right, y down).

Privacy: the public copies must hide faces and number plates. OpenCV's Haar cascades would be the
obvious offline face detector, but opencv-python-headless 5.x ships neither
``cv2.CascadeClassifier`` nor the ``cv2.data.haarcascades`` files, and no other dependency carries
a face or plate model. So the regions come from the detector boxes the pipeline already has: the
head of every person box (its top ~20 %, widened a little) and the plate band of every vehicle box
(its bottom 40 %), pixelated so coarsely that no face or plate can be read. Over a clip the boxes
move, so :class:`PrivacyTimeline` keeps the regions of recent analysed frames by stream time and
each clip frame uses the nearest ones.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import cv2
import numpy as np

from cameras.schema import LineZone, PolygonZone
from vision.types import HazardEvent

PointNorm = tuple[float, float]
RegionNorm = tuple[float, float, float, float]
"""A rectangle (x1, y1, x2, y2) in normalized 0..1 coordinates of the full frame."""

LabeledBox = tuple[Sequence[float], str]
"""``(xyxy_px, label)``: a detector box in the pixels of its image, and its model label or role."""

ZONE_COLOUR_BGR = (0, 255, 255)  # yellow: the zone outline
HAZARD_COLOUR_BGR = (0, 0, 255)  # red: the hazard's box
BOX_COLOUR_BGR = (0, 200, 0)  # green: other detections in the frame
TRAJECTORY_COLOUR_BGR = (255, 0, 255)  # magenta: a falling object's path
FOOTER_BACKGROUND_BGR = (24, 24, 24)
FOOTER_TEXT_BGR = (255, 255, 255)

PERSON_LABELS = frozenset({"person", "pedestrian", "people", "rider"})
"""Labels (model names or rule roles) whose box top is a head to blur."""

PLATE_LABELS = frozenset(
    {"car", "truck", "bus", "van", "motorcycle", "motorbike", "vehicle", "ebike"}
)
"""Labels (model names or rule roles) whose box bottom may carry a number plate."""

HEAD_FRACTION = 0.22  # the head is about the top fifth of a standing person's box
HEAD_MARGIN_ABOVE = 0.05  # detector boxes often clip the top of the head
HEAD_MARGIN_SIDE = 0.10
PLATE_FRACTION = 0.40  # plates sit in the lower part of a vehicle seen from front or back
PIXELATE_CELLS_ACROSS = 6  # cells along the longer side of a region: nothing readable survives
PIXELATE_MIN_CELL_PX = 4


@dataclass(frozen=True, slots=True)
class PolygonShape:
    """A zone area: its vertices in normalized coordinates."""

    points_norm: tuple[PointNorm, ...]


@dataclass(frozen=True, slots=True)
class LineShape:
    """A crossing line: two end points and the inward direction, normalized."""

    points_norm: tuple[PointNorm, PointNorm]
    inward_norm: PointNorm


ZoneShape = PolygonShape | LineShape


def _point(value: Any, where: str) -> PointNorm:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: expected a point [x, y], got {value!r}") from exc
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{where}: point must be finite, got [{x}, {y}]")
    return x, y


def _points(values: Any, where: str) -> tuple[PointNorm, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{where}: expected a list of [x, y] points, got {values!r}")
    return tuple(_point(v, f"{where}[{i}]") for i, v in enumerate(values))


def zone_shape(zone_id: str, spec: Any) -> ZoneShape:
    """Normalize one zone description to a :class:`ZoneShape`.

    Args:
        zone_id: the zone's id, used in error messages.
        spec: ``("polygon", points_norm)``, ``("line", points_norm, inward_norm)``, a
            :class:`PolygonShape`/:class:`LineShape`, or a config ``PolygonZone``/``LineZone``.

    Raises:
        ValueError: naming the zone and what is wrong with it.
    """
    where = f"zone {zone_id!r}"
    if isinstance(spec, (PolygonShape, LineShape)):
        return spec
    if isinstance(spec, PolygonZone):
        spec = ("polygon", spec.polygon)
    elif isinstance(spec, LineZone):
        spec = ("line", spec.line, spec.inward)
    if not isinstance(spec, tuple) or not spec or spec[0] not in ("polygon", "line"):
        raise ValueError(
            f"{where}: expected ('polygon', points) or ('line', points, inward), got {spec!r}"
        )
    if spec[0] == "polygon":
        if len(spec) != 2:
            raise ValueError(f"{where}: a polygon is ('polygon', points), got {len(spec)} items")
        points = _points(spec[1], f"{where}.polygon")
        if len(points) < 3:
            raise ValueError(f"{where}.polygon: needs at least 3 points, got {len(points)}")
        return PolygonShape(points)
    if len(spec) != 3:
        raise ValueError(f"{where}: a line is ('line', points, inward), got {len(spec)} items")
    points = _points(spec[1], f"{where}.line")
    if len(points) != 2:
        raise ValueError(f"{where}.line: needs exactly 2 points, got {len(points)}")
    return LineShape((points[0], points[1]), _point(spec[2], f"{where}.inward"))


def zone_shapes(zones: Mapping[str, Any] | None) -> dict[str, ZoneShape]:
    """:func:`zone_shape` for every zone of a mapping (``None`` gives no zones)."""
    if zones is None:
        return {}
    if not isinstance(zones, Mapping):
        raise ValueError(f"zones: expected a mapping of zone id to shape, got {type(zones)}")
    return {str(zone_id): zone_shape(str(zone_id), spec) for zone_id, spec in zones.items()}


# ----- privacy -------------------------------------------------------------------------------


def _box_xyxy(box: Any, index: int) -> tuple[float, float, float, float]:
    where = f"boxes[{index}]"
    try:
        xyxy, _ = box
        x1, y1, x2, y2 = (float(v) for v in xyxy)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: expected ((x1, y1, x2, y2), label), got {box!r}") from exc
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"{where}: coordinates must be finite, got {(x1, y1, x2, y2)}")
    if x2 < x1 or y2 < y1:
        raise ValueError(f"{where}: needs x1 <= x2 and y1 <= y2, got {(x1, y1, x2, y2)}")
    return x1, y1, x2, y2


def _clip_region(x1: float, y1: float, x2: float, y2: float) -> RegionNorm | None:
    x1, y1 = max(0.0, x1), max(0.0, y1)
    x2, y2 = min(1.0, x2), min(1.0, y2)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def privacy_regions_norm(
    boxes: Sequence[LabeledBox],
    width_px: int,
    height_px: int,
    *,
    person_labels: frozenset[str] = PERSON_LABELS,
    plate_labels: frozenset[str] = PLATE_LABELS,
) -> tuple[RegionNorm, ...]:
    """Regions to blur for the public copies: heads of persons, plate bands of vehicles.

    Args:
        boxes: ``(xyxy_px, label)`` pairs in the pixels of a ``width_px`` x ``height_px`` image.
        width_px: width of the image the boxes belong to.
        height_px: its height.
        person_labels: labels whose box top is a head.
        plate_labels: labels whose box bottom may carry a plate.

    Returns:
        Rectangles in normalized coordinates, clipped to the frame; other labels give none.

    Raises:
        ValueError: a malformed box (naming its index) or a non-positive image size.
    """
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"privacy_regions_norm: bad image size {width_px}x{height_px}")
    regions: list[RegionNorm] = []
    for index, box in enumerate(boxes):
        x1, y1, x2, y2 = _box_xyxy(box, index)
        label = str(box[1]).lower()
        x1, x2 = x1 / width_px, x2 / width_px
        y1, y2 = y1 / height_px, y2 / height_px
        bw, bh = x2 - x1, y2 - y1
        region: RegionNorm | None = None
        if label in person_labels:
            region = _clip_region(
                x1 - HEAD_MARGIN_SIDE * bw,
                y1 - HEAD_MARGIN_ABOVE * bh,
                x2 + HEAD_MARGIN_SIDE * bw,
                y1 + HEAD_FRACTION * bh,
            )
        elif label in plate_labels:
            region = _clip_region(x1, y2 - PLATE_FRACTION * bh, x2, y2)
        if region is not None:
            regions.append(region)
    return tuple(regions)


def _region_px(region: RegionNorm, width_px: int, height_px: int) -> tuple[int, int, int, int]:
    x1 = max(0, math.floor(region[0] * width_px))
    y1 = max(0, math.floor(region[1] * height_px))
    x2 = min(width_px, math.ceil(region[2] * width_px))
    y2 = min(height_px, math.ceil(region[3] * height_px))
    return x1, y1, x2, y2


def blur_regions(image: np.ndarray, regions_norm: Iterable[RegionNorm]) -> np.ndarray:
    """A copy of ``image`` with every region pixelated into coarse cells.

    Args:
        image: uint8 (H, W, 3) BGR.
        regions_norm: rectangles in normalized coordinates of ``image``.

    Returns:
        A new uint8 (H, W, 3) array; pixels outside the regions are unchanged.

    Raises:
        ValueError: if ``image`` is not a uint8 (H, W, 3) array.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"blur_regions: image must be a uint8 (H, W, 3) array, got {got}")
    out = image.copy()
    height_px, width_px = out.shape[:2]
    for region in regions_norm:
        x1, y1, x2, y2 = _region_px(region, width_px, height_px)
        rw, rh = x2 - x1, y2 - y1
        if rw <= 0 or rh <= 0:
            continue
        cell = max(PIXELATE_MIN_CELL_PX, math.ceil(max(rw, rh) / PIXELATE_CELLS_ACROSS))
        small = cv2.resize(
            out[y1:y2, x1:x2],
            (max(1, round(rw / cell)), max(1, round(rh / cell))),
            interpolation=cv2.INTER_AREA,
        )
        out[y1:y2, x1:x2] = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
    return out


class PrivacyTimeline:
    """Privacy regions of recent analysed frames, by stream time (not thread-safe).

    A clip frame at stream time ``t`` is blurred with the regions of the analysed frame nearest
    to ``t``, if that frame is at most ``hold_s`` away; farther than that nothing is known.
    """

    def __init__(self, span_s: float) -> None:
        if not span_s > 0:
            raise ValueError(f"PrivacyTimeline: span_s must be > 0, got {span_s}")
        self.span_s = span_s
        self._pts: list[float] = []
        self._regions: list[tuple[RegionNorm, ...]] = []

    def add(self, pts_s: float, regions: Sequence[RegionNorm]) -> None:
        """Record the regions of the frame at ``pts_s``; drops entries older than the span."""
        at = bisect.bisect_right(self._pts, pts_s)
        self._pts.insert(at, pts_s)
        self._regions.insert(at, tuple(regions))
        cut = bisect.bisect_left(self._pts, self._pts[-1] - self.span_s)
        if cut:
            del self._pts[:cut]
            del self._regions[:cut]

    def window(self, start_pts_s: float, end_pts_s: float) -> PrivacyTimeline:
        """A copy holding the entries in [start, end] and one on either side of it."""
        lo = max(0, bisect.bisect_left(self._pts, start_pts_s) - 1)
        hi = min(len(self._pts), bisect.bisect_right(self._pts, end_pts_s) + 1)
        copy = PrivacyTimeline(max(self.span_s, end_pts_s - start_pts_s + 1.0))
        copy._pts = self._pts[lo:hi]
        copy._regions = self._regions[lo:hi]
        return copy

    def regions_at(self, pts_s: float, hold_s: float) -> tuple[RegionNorm, ...]:
        """Regions of the entry nearest to ``pts_s`` within ``hold_s``, else none."""
        at = bisect.bisect_left(self._pts, pts_s)
        best: int | None = None
        for i in (at - 1, at):
            if 0 <= i < len(self._pts) and (
                best is None or abs(self._pts[i] - pts_s) < abs(self._pts[best] - pts_s)
            ):
                best = i
        if best is None or abs(self._pts[best] - pts_s) > hold_s:
            return ()
        return self._regions[best]

    def entries(self) -> list[tuple[float, tuple[RegionNorm, ...]]]:
        """(stream time, regions) of every entry, in time order."""
        return list(zip(self._pts, self._regions, strict=True))

    def __len__(self) -> int:
        return len(self._pts)


# ----- annotation ----------------------------------------------------------------------------


def _load_font() -> cv2.FontFace | None:
    """OpenCV 5's built-in Unicode font (it renders Chinese camera names); None before 5.0."""
    try:
        return cv2.FontFace("uni")
    except (AttributeError, cv2.error):
        return None


_FONT = _load_font()


def _put_text(
    image: np.ndarray, text: str, org: tuple[int, int], size_px: int, colour: tuple[int, ...]
) -> None:
    if _FONT is not None:
        cv2.putText(image, text, org, colour, _FONT, size_px)
        return
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    scale = size_px / 22.0
    cv2.putText(image, ascii_text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _to_px(points: Iterable[Sequence[float]], width_px: int, height_px: int) -> np.ndarray:
    return np.array(
        [[round(float(p[0]) * width_px), round(float(p[1]) * height_px)] for p in points],
        dtype=np.int32,
    ).reshape(-1, 1, 2)


def _draw_zone(image: np.ndarray, zone: ZoneShape, thickness: int) -> None:
    h, w = image.shape[:2]
    if isinstance(zone, PolygonShape):
        pts = _to_px(zone.points_norm, w, h)
        cv2.polylines(image, [pts], True, ZONE_COLOUR_BGR, thickness, cv2.LINE_AA)
        return
    pts = _to_px(zone.points_norm, w, h)
    cv2.polylines(image, [pts], False, ZONE_COLOUR_BGR, thickness, cv2.LINE_AA)
    (ax, ay), (bx, by) = zone.points_norm
    dx, dy = zone.inward_norm
    norm = math.hypot(dx * w, dy * h)
    if norm > 0:
        length = 0.08 * math.hypot(w, h)
        mid = (round((ax + bx) / 2 * w), round((ay + by) / 2 * h))
        tip = (round(mid[0] + dx * w / norm * length), round(mid[1] + dy * h / norm * length))
        cv2.arrowedLine(image, mid, tip, ZONE_COLOUR_BGR, thickness, cv2.LINE_AA, 0, 0.3)


def _draw_boxes(
    image: np.ndarray,
    boxes: Sequence[LabeledBox],
    source_size: tuple[int, int],
    thickness: int,
    font_px: int,
) -> None:
    h, w = image.shape[:2]
    sx, sy = w / source_size[0], h / source_size[1]
    for index, box in enumerate(boxes):
        x1, y1, x2, y2 = _box_xyxy(box, index)
        p1 = (round(x1 * sx), round(y1 * sy))
        p2 = (round(x2 * sx), round(y2 * sy))
        cv2.rectangle(image, p1, p2, BOX_COLOUR_BGR, thickness, cv2.LINE_AA)
        _put_text(image, str(box[1]), (p1[0] + 2, max(font_px, p1[1] - 3)), font_px, BOX_COLOUR_BGR)


def _trajectory_points(details: Mapping[str, Any]) -> list[tuple[float, float]]:
    """``details.trajectory_norm`` as (x, y) points; malformed data gives none (not an error:
    a bad trajectory must not cost the event its snapshot)."""
    raw = details.get("trajectory_norm")
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        return []
    points: list[tuple[float, float]] = []
    for item in raw:
        try:
            x, y = float(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError, KeyError):
            return []
        if not (math.isfinite(x) and math.isfinite(y)):
            return []
        points.append((x, y))
    return points


def _draw_trajectory(image: np.ndarray, event: HazardEvent, thickness: int, font_px: int) -> None:
    points = _trajectory_points(event.details)
    if not points:
        return
    h, w = image.shape[:2]
    pts = _to_px(points, w, h)
    if len(points) >= 2:
        cv2.polylines(image, [pts], False, TRAJECTORY_COLOUR_BGR, thickness, cv2.LINE_AA)
    for x, y in pts.reshape(-1, 2):
        cv2.circle(image, (int(x), int(y)), thickness + 1, TRAJECTORY_COLOUR_BGR, -1, cv2.LINE_AA)
    floor = event.details.get("origin_floor")
    if floor is not None:
        apex = min(pts.reshape(-1, 2).tolist(), key=lambda p: p[1])
        org = (min(apex[0] + 6, w - 8 * font_px), max(font_px, apex[1]))
        _put_text(image, f"origin floor {floor}", org, font_px, TRAJECTORY_COLOUR_BGR)


def _summary(event: HazardEvent, camera_name: str) -> str:
    parts = [camera_name, f"zone {event.zone}", event.kind.value, f"score {event.score:.2f}"]
    if event.labels:
        parts.append(", ".join(event.labels))
    details = event.details
    if details.get("origin_floor") is not None:
        parts.append(f"origin floor {details['origin_floor']}")
    if isinstance(details.get("occupancy"), (int, float)):
        parts.append(f"occupancy {100 * float(details['occupancy']):.0f}%")
    if isinstance(details.get("clear_width_m"), (int, float)):
        parts.append(f"clear width {float(details['clear_width_m']):.1f} m")
    return "  |  ".join(parts)


def format_timestamp(captured_at: datetime, local_tz: tzinfo | None = None) -> str:
    """``captured_at`` in local time with its UTC offset, and in UTC.

    Example: ``2026-11-24 16:00:00 (UTC+08:00)  =  2026-11-24 08:00:00 UTC``.
    """
    if captured_at.tzinfo is None:
        raise ValueError(f"captured_at must be timezone-aware, got {captured_at.isoformat()}")
    local = captured_at.astimezone(local_tz)
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "local"
    utc = captured_at.astimezone(UTC)
    return f"{local:%Y-%m-%d %H:%M:%S} ({offset})  =  {utc:%Y-%m-%d %H:%M:%S} UTC"


def annotate_snapshot(
    image: np.ndarray,
    *,
    event: HazardEvent,
    camera_name: str,
    captured_at: datetime,
    zone: ZoneShape | None = None,
    boxes: Sequence[LabeledBox] = (),
    boxes_size_px: tuple[int, int] | None = None,
    local_tz: tzinfo | None = None,
) -> np.ndarray:
    """Draw the evidence annotations on a copy of ``image`` and add a caption strip below it.

    The frame keeps its pixel coordinates (the strip is appended under it, so nothing of the
    scene is hidden): zone outline (yellow, with the inward arrow for a line), detector boxes
    (green), the hazard box (red), a falling object's trajectory and origin floor (magenta); the
    strip holds the camera name, zone, kind, score, labels and the time in local and UTC.

    Args:
        image: uint8 (H, W, 3) BGR frame.
        event: the hazard (its ``box_norm`` and ``details`` are drawn).
        camera_name: shown in the caption (Unicode is rendered with OpenCV 5's font).
        captured_at: wall-clock time of the frame, timezone-aware.
        zone: the hazard's zone, if known.
        boxes: ``(xyxy_px, label)`` detections to draw.
        boxes_size_px: (width, height) of the image the boxes belong to; default ``image``'s.
        local_tz: the local time zone for the caption; default the system's.

    Returns:
        A new uint8 (H + caption, W, 3) array.

    Raises:
        ValueError: a malformed image or box, or a naive ``captured_at``.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"annotate_snapshot: image must be a uint8 (H, W, 3) array, got {got}")
    h, w = image.shape[:2]
    canvas = image.copy()
    thickness = max(1, round(min(w, h) / 240))
    font_px = max(12, round(h * 0.035))
    if zone is not None:
        _draw_zone(canvas, zone, 2 * thickness)
    _draw_boxes(canvas, boxes, boxes_size_px or (w, h), thickness, font_px)
    if event.box_norm is not None:
        x1, y1, x2, y2 = event.box_norm
        p1, p2 = (round(x1 * w), round(y1 * h)), (round(x2 * w), round(y2 * h))
        cv2.rectangle(canvas, p1, p2, HAZARD_COLOUR_BGR, 2 * thickness, cv2.LINE_AA)
        caption = f"{event.kind.value} {event.score:.2f}"
        _put_text(canvas, caption, (p1[0] + 2, max(font_px, p1[1] - 4)), font_px, HAZARD_COLOUR_BGR)
    _draw_trajectory(canvas, event, thickness, font_px)
    line_px = round(font_px * 1.5)
    strip = np.full((2 * line_px + font_px // 2, w, 3), FOOTER_BACKGROUND_BGR, dtype=np.uint8)
    _put_text(strip, _summary(event, camera_name), (6, line_px - 4), font_px, FOOTER_TEXT_BGR)
    stamp = format_timestamp(captured_at, local_tz)
    _put_text(strip, stamp, (6, 2 * line_px - 4), font_px, FOOTER_TEXT_BGR)
    return np.vstack([canvas, strip])


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of a uint8 BGR image.

    Raises:
        ValueError: ``quality`` outside 1..100 or an image OpenCV cannot encode.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"encode_jpeg: quality must be 1..100, got {quality}")
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"encode_jpeg: OpenCV could not encode an image of shape {image.shape}")
    return buf.tobytes()
