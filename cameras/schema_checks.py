"""Cross-field checks of one camera's configuration, run after the schema has validated.

Each ``verify_*`` function is pure: it takes a validated camera and returns a list of
:class:`ConfigIssue` (empty when all is well). Paths are dotted with list indices in brackets
(``cameras.lobby.zones.lift.polygon[2]``) and messages name the camera and the zone, so that one
run of ``check-config`` lists every problem of a file. They need only one camera, so the root
loader (:mod:`pipelines.config`) also runs them on the cameras that validated when another part of
the file did not. Checks that span cameras (the detector, api tokens) live there.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from cameras.hwdecode import (
    HwAccelUnavailableError,
    HwDecodeRequest,
    Prober,
    choose_hwaccel,
    probe_hwaccel,
)
from cameras.schema import (
    CameraConfig,
    DecodeSettings,
    FallingObjectHazard,
    FloorsConfig,
    Hazard,
    LineZone,
    PolygonZone,
    Zone,
)
from vision.types import HazardKind

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_PLAIN_KEY_RE = re.compile(r"^[^\s.\[\]\"']+$")
# Twice the area below which a polygon counts as degenerate, in normalized units (the frame is 1).
_MIN_AREA2 = 1e-9
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config file.

    Attributes:
        path: dotted path of the offending value, e.g. ``cameras.lobby.hazards[1].zone``; empty
            for a problem of the whole file (unreadable, not YAML).
        message: what is wrong and, where it helps, what would be right.
    """

    path: str
    message: str


# --- the parts of a camera that validated ---------------------------------------------------------

ZoneModel = PolygonZone | LineZone
HazardModel = Any  # one of the members of cameras.schema.Hazard (a discriminated union)

_ZONE_ADAPTER: TypeAdapter[Any] = TypeAdapter(Zone)
_HAZARD_ADAPTER: TypeAdapter[Any] = TypeAdapter(Hazard)
_FLOORS_ADAPTER: TypeAdapter[FloorsConfig] = TypeAdapter(FloorsConfig)
_DECODE_ADAPTER: TypeAdapter[DecodeSettings] = TypeAdapter(DecodeSettings)
# The bounds of CameraConfig.area, without its `| None`.
_AREA_ADAPTER: TypeAdapter[str] = TypeAdapter(
    Annotated[str, *CameraConfig.model_fields["area"].metadata]
)


@dataclass(frozen=True, slots=True)
class CameraParts:
    """What the cross checks look at in one camera, part by part.

    A camera that failed the schema somewhere (an unknown key, one bad zone) still has parts
    that are fine, and their problems belong in the same report. ``None`` marks a part that was
    given but did not pass the schema: its error is already reported, so the checks skip it,
    rather than report it twice or call it missing.

    Attributes:
        zones: every zone id given, in file order, with its validated zone or ``None``.
        hazards: every hazard given, by its index in the file, validated or ``None``.
        floors: the validated ``floors`` section, or ``None`` (absent or invalid).
        floors_given: whether the file has a ``floors`` section at all.
        area: the camera's ``area`` when it passed the schema, else ``None``.
        detect_model: the camera's ``detect.model`` (a detector name) when it is text, else
            ``None`` (not given: the default detector).
        decode: the camera's ``decode`` section when it validated (or was not given: the
            defaults), else ``None``.
    """

    zones: Mapping[str, ZoneModel | None]
    hazards: Sequence[HazardModel | None]
    floors: FloorsConfig | None
    floors_given: bool
    area: str | None = None
    detect_model: str | None = None
    decode: DecodeSettings | None = None

    @classmethod
    def of(cls, camera: CameraConfig) -> CameraParts:
        """The parts of a camera that validated as a whole (all present)."""
        return cls(
            zones=dict(camera.zones),
            hazards=tuple(camera.hazards),
            floors=camera.floors,
            floors_given=camera.floors is not None,
            area=camera.area,
            detect_model=camera.detect.model,
            decode=camera.decode,
        )

    @classmethod
    def from_raw(cls, raw: Any) -> CameraParts:
        """Validate each zone, hazard and the floors of a raw camera mapping on its own.

        Unknown keys inside a part are set aside before it is validated (the schema reports
        them), so that ``{polygon: [[0, 0], [1, 0]], colour: red}`` still gets its geometry
        checked. Anything that is not the expected container gives no parts.
        """
        data = raw if isinstance(raw, Mapping) else {}
        zones_raw = data.get("zones")
        zones: dict[str, ZoneModel | None] = {}
        if isinstance(zones_raw, Mapping):
            for zone_id, zone in zones_raw.items():
                if isinstance(zone_id, str):
                    zones[zone_id] = validate_part(_ZONE_ADAPTER, zone)
        hazards_raw = data.get("hazards")
        hazards: list[HazardModel | None] = []
        if isinstance(hazards_raw, list):
            hazards = [validate_part(_HAZARD_ADAPTER, hazard) for hazard in hazards_raw]
        floors_raw = data.get("floors")
        floors = None if floors_raw is None else validate_part(_FLOORS_ADAPTER, floors_raw)
        area = data.get("area")
        detect = data.get("detect")
        model = detect.get("model") if isinstance(detect, Mapping) else None
        decode_raw = data.get("decode")
        decode = (
            DecodeSettings() if decode_raw is None else validate_part(_DECODE_ADAPTER, decode_raw)
        )
        return cls(
            zones=zones,
            hazards=tuple(hazards),
            floors=floors,
            floors_given=floors_raw is not None,
            area=None if area is None else validate_part(_AREA_ADAPTER, area),
            detect_model=model if isinstance(model, str) and model else None,
            decode=decode,
        )


def _without(value: Any, loc: Sequence[str | int]) -> None:
    """Delete the item at ``loc`` inside ``value`` (nested mappings and lists), if it is there."""
    parent = value
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, dict):
        parent.pop(loc[-1], None)


def validate_part(adapter: TypeAdapter[Any], value: Any) -> Any | None:
    """``value`` validated by ``adapter``; when its only errors are unknown keys, validated
    again without them; ``None`` when it has any other error (reported by the schema)."""
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not errors or any(error["type"] != "extra_forbidden" for error in errors):
            return None
    trimmed = copy.deepcopy(value)
    for error in errors:
        loc = list(error["loc"])
        if loc and _is_union_tag(loc[0]):  # a tagged union's tag is not a key of the data
            loc = loc[1:]
        if loc:
            _without(trimmed, loc)
    try:
        return adapter.validate_python(trimmed)
    except ValidationError:
        return None


_UNION_TAGS = frozenset({"polygon_zone", "line_zone", *(kind.value for kind in HazardKind)})


def _is_union_tag(part: str | int) -> bool:
    return isinstance(part, str) and part in _UNION_TAGS


def _parts(camera: CameraConfig | CameraParts) -> CameraParts:
    return camera if isinstance(camera, CameraParts) else CameraParts.of(camera)


def format_path(parts: Iterable[str | int]) -> str:
    """Join keys and list indices into ``a.b[2].c``; odd keys are quoted (``cameras."a b"``)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _PLAIN_KEY_RE.match(part) else '"' + part.replace('"', '\\"') + '"'
        out += f".{key}" if out else key
    return out


def slug_problem(what: str, value: str) -> str | None:
    """A message saying ``value`` (described by ``what``) is not a slug, or None when it is."""
    if _SLUG_RE.match(value):
        return None
    return (
        f"{what} '{value}' is not a slug: use 1 to 63 lowercase letters, digits, '_' or '-', "
        "starting with a letter or a digit"
    )


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


# --- ids -----------------------------------------------------------------------------------------


def verify_camera_ids(camera_id: str, camera: CameraConfig | CameraParts) -> list[ConfigIssue]:
    """The camera id and its zone ids are slugs.

    Uniqueness of camera ids and of zone ids within a camera is guaranteed earlier: they are keys
    of YAML mappings, and the loader refuses a repeated key.
    """
    issues: list[ConfigIssue] = []
    problem = slug_problem("camera id", camera_id)
    if problem:
        issues.append(ConfigIssue(format_path(["cameras", camera_id]), problem))
    for zone_id in _parts(camera).zones:
        problem = slug_problem(f"zone id of camera '{camera_id}'", zone_id)
        if problem:
            issues.append(
                ConfigIssue(format_path(["cameras", camera_id, "zones", zone_id]), problem)
            )
    return issues


# --- zone geometry -------------------------------------------------------------------------------


def _cross(o: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    """z of (a - o) x (b - o): > 0 when o, a, b turn counter-clockwise (in x-right, y-up axes)."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _on_segment(p: Sequence[float], q: Sequence[float], r: Sequence[float]) -> bool:
    """For r collinear with segment pq: whether r lies on it (ends included)."""
    return (
        min(p[0], q[0]) - _EPS <= r[0] <= max(p[0], q[0]) + _EPS
        and min(p[1], q[1]) - _EPS <= r[1] <= max(p[1], q[1]) + _EPS
    )


def segments_intersect(
    p1: Sequence[float], p2: Sequence[float], q1: Sequence[float], q2: Sequence[float]
) -> bool:
    """Whether closed segments p1-p2 and q1-q2 share a point (crossing, touching or overlapping)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > _EPS and d2 < -_EPS) or (d1 < -_EPS and d2 > _EPS)) and (
        (d3 > _EPS and d4 < -_EPS) or (d3 < -_EPS and d4 > _EPS)
    ):
        return True
    return (
        (abs(d1) <= _EPS and _on_segment(q1, q2, p1))
        or (abs(d2) <= _EPS and _on_segment(q1, q2, p2))
        or (abs(d3) <= _EPS and _on_segment(p1, p2, q1))
        or (abs(d4) <= _EPS and _on_segment(p1, p2, q2))
    )


def polygon_area2(points: Sequence[Sequence[float]]) -> float:
    """Twice the signed area of a polygon (shoelace formula)."""
    n = len(points)
    return sum(
        points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
        for i in range(n)
    )


def all_collinear(points: Sequence[Sequence[float]]) -> bool:
    """Whether all points lie on one straight line (a polygon of them has no area)."""
    origin = points[0]
    other = next((p for p in points if tuple(p) != tuple(origin)), None)
    if other is None:
        return True
    scale = math.hypot(other[0] - origin[0], other[1] - origin[1])
    return all(abs(_cross(origin, other, p)) <= 1e-12 * max(scale, 1.0) for p in points)


def find_self_intersection(points: Sequence[Sequence[float]]) -> tuple[int, int] | None:
    """First pair of edges (i, j) of a closed polygon that meet other than at a shared vertex.

    Edge ``i`` joins point ``i`` to point ``i + 1`` (the last edge closes the ring). Adjacent edges
    are reported when they fold back over each other (a spike); other pairs when they meet at all.
    O(n²), which is nothing for hand-drawn zones.
    """
    n = len(points)
    for i in range(n):
        a, b, c = points[i], points[(i + 1) % n], points[(i + 2) % n]
        folds_back = abs(_cross(a, b, c)) <= _EPS and (
            (b[0] - a[0]) * (c[0] - b[0]) + (b[1] - a[1]) * (c[1] - b[1]) < 0
        )
        if folds_back:
            return i, (i + 1) % n
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if segments_intersect(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n]):
                return i, j
    return None


def _fmt_point(point: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in point) + "]"


def _points_outside(
    points: Sequence[Sequence[float]], base: list[str | int], what: str
) -> list[ConfigIssue]:
    issues = []
    for index, point in enumerate(points):
        bad = [f"{axis} = {v:g}" for axis, v in zip("xy", point, strict=True) if not 0 <= v <= 1]
        if bad:
            issues.append(
                ConfigIssue(
                    format_path([*base, index]),
                    f"point {_fmt_point(point)} of {what} is outside the frame: "
                    f"{' and '.join(bad)} must lie in 0..1 (coordinates are normalized)",
                )
            )
    return issues


def _verify_polygon(camera_id: str, zone_id: str, zone: PolygonZone) -> list[ConfigIssue]:
    base: list[str | int] = ["cameras", camera_id, "zones", zone_id, "polygon"]
    path = format_path(base)
    what = f"zone '{zone_id}' of camera '{camera_id}'"
    points = zone.polygon
    if len(points) < 3:
        return [ConfigIssue(path, f"{what}: a polygon needs at least 3 points, got {len(points)}")]
    issues = _points_outside(points, base, what)
    first_index: dict[tuple[float, float], int] = {}
    for index, point in enumerate(points):
        if point in first_index:
            issues.append(
                ConfigIssue(
                    format_path([*base, index]),
                    f"{what}: point {_fmt_point(point)} repeats point [{first_index[point]}]",
                )
            )
        first_index.setdefault(point, index)
    if issues:
        return issues
    if all_collinear(points):
        return [ConfigIssue(path, f"{what}: the polygon has zero area (its points are collinear)")]
    # Before the area: a symmetric bow-tie's two halves cancel to zero signed area.
    crossing = find_self_intersection(points)
    if crossing is not None:
        i, j = crossing
        n = len(points)
        return [
            ConfigIssue(
                path,
                f"{what}: the polygon is self-intersecting: edge [{i}]-[{(i + 1) % n}] meets edge "
                f"[{j}]-[{(j + 1) % n}]; list the points in order around the area",
            )
        ]
    if abs(polygon_area2(points)) < _MIN_AREA2:
        return [ConfigIssue(path, f"{what}: the polygon's area is too small to use")]
    return []


def _verify_line(camera_id: str, zone_id: str, zone: LineZone) -> list[ConfigIssue]:
    base: list[str | int] = ["cameras", camera_id, "zones", zone_id]
    what = f"zone '{zone_id}' of camera '{camera_id}'"
    if len(zone.line) != 2:
        return [
            ConfigIssue(
                format_path([*base, "line"]),
                f"{what}: a line needs exactly 2 points, got {len(zone.line)}",
            )
        ]
    issues = _points_outside(zone.line, [*base, "line"], what)
    (x1, y1), (x2, y2) = zone.line
    dx, dy = x2 - x1, y2 - y1
    ix, iy = zone.inward
    length, inward_length = math.hypot(dx, dy), math.hypot(ix, iy)
    if length == 0:
        issues.append(
            ConfigIssue(
                format_path([*base, "line"]), f"{what}: the two points of a line must differ"
            )
        )
    if inward_length == 0:
        issues.append(
            ConfigIssue(
                format_path([*base, "inward"]),
                f"{what}: inward must not be [0, 0]: it points to the inner side of the line",
            )
        )
    elif length > 0 and abs(dx * iy - dy * ix) <= 1e-9 * length * inward_length:
        issues.append(
            ConfigIssue(
                format_path([*base, "inward"]),
                f"{what}: inward {_fmt_point(zone.inward)} is parallel to the line; it must point "
                "to one side of it (e.g. perpendicular)",
            )
        )
    return issues


def verify_zones(camera_id: str, camera: CameraConfig | CameraParts) -> list[ConfigIssue]:
    """Polygons: >= 3 points in 0..1, no repeated point, non-zero area, not self-intersecting.

    Lines: exactly 2 distinct points in 0..1 and a non-zero ``inward`` vector that is not parallel
    to the line (only the side it points to matters). Zones that did not pass the schema are
    skipped (their error is reported already).
    """
    issues: list[ConfigIssue] = []
    for zone_id, zone in _parts(camera).zones.items():
        if isinstance(zone, PolygonZone):
            issues += _verify_polygon(camera_id, zone_id, zone)
        elif isinstance(zone, LineZone):
            issues += _verify_line(camera_id, zone_id, zone)
    return issues


# --- hazards -------------------------------------------------------------------------------------

# Which zone shapes each hazard's rule can use.
_ZONE_TYPES: dict[HazardKind, tuple[type, ...]] = {
    HazardKind.FIRE_LANE_BLOCKED: (PolygonZone,),
    HazardKind.EBIKE_ENTRY: (PolygonZone, LineZone),
    HazardKind.FALLING_OBJECT: (PolygonZone,),
}


def verify_hazard_zones(camera_id: str, camera: CameraConfig | CameraParts) -> list[ConfigIssue]:
    """Each hazard names a zone of its camera, of a shape its rule can use, at most once per kind.

    fire_lane_blocked and falling_object need a polygon; ebike_entry takes a polygon (a lift car)
    or a line (a stairwell door). Two hazards of the same kind on the same zone would fight over
    one ticket, so that is refused too. A zone given but invalid counts as defined (its shape is
    not judged); hazards that did not pass the schema are skipped.
    """
    parts = _parts(camera)
    issues: list[ConfigIssue] = []
    seen: dict[tuple[HazardKind, str], int] = {}
    for index, hazard in enumerate(parts.hazards):
        if hazard is None:
            continue
        base: list[str | int] = ["cameras", camera_id, "hazards", index]
        zone = parts.zones.get(hazard.zone)
        if hazard.zone not in parts.zones:
            defined = ", ".join(parts.zones) or "none"
            issues.append(
                ConfigIssue(
                    format_path([*base, "zone"]),
                    f"{hazard.kind} hazard refers to zone '{hazard.zone}', which camera "
                    f"'{camera_id}' does not define (zones: {defined})"
                    + did_you_mean(hazard.zone, parts.zones),
                )
            )
        elif zone is not None and not isinstance(zone, _ZONE_TYPES[hazard.kind]):
            wanted = "a polygon or a line" if hazard.kind is HazardKind.EBIKE_ENTRY else "a polygon"
            shape = "line" if isinstance(zone, LineZone) else "polygon"
            issues.append(
                ConfigIssue(
                    format_path([*base, "zone"]),
                    f"{hazard.kind} needs {wanted} zone, but zone '{hazard.zone}' of camera "
                    f"'{camera_id}' is a {shape}",
                )
            )
        key = (hazard.kind, hazard.zone)
        if key in seen:
            issues.append(
                ConfigIssue(
                    format_path(base),
                    f"camera '{camera_id}' already has a {hazard.kind} hazard on zone "
                    f"'{hazard.zone}' (hazards[{seen[key]}])",
                )
            )
        seen.setdefault(key, index)
    return issues


def verify_floors(camera_id: str, camera: CameraConfig | CameraParts) -> list[ConfigIssue]:
    """Floor lines of a facade camera are consistent; falling_object has the floors it needs.

    ``floors.lines`` are the y positions of floor boundaries from top to bottom, so they must be
    strictly increasing within 0..1. N lines bound N-1 floors. The last (lowest) line is the base of
    floor ``lowest_visible_floor``, so the topmost visible floor is
    ``lowest_visible_floor + N - 2``, and that must not exceed ``count``. A falling_object hazard
    needs ``floors``, and its ``min_drop_floors`` cannot exceed the N-1 visible floors (it could
    never be raised).
    """
    parts = _parts(camera)
    issues: list[ConfigIssue] = []
    base: list[str | int] = ["cameras", camera_id, "floors"]
    falling = [(i, h) for i, h in enumerate(parts.hazards) if isinstance(h, FallingObjectHazard)]
    floors = parts.floors
    if floors is None:
        if parts.floors_given:  # given but invalid: the schema said why
            return issues
        for index, _ in falling:
            issues.append(
                ConfigIssue(
                    format_path(base),
                    f"camera '{camera_id}' has a falling_object hazard (hazards[{index}]) but no "
                    "'floors' section (count, lowest_visible_floor, lines) to tell the floor",
                )
            )
        return issues
    lines = floors.lines
    if len(lines) < 2:
        return [
            ConfigIssue(
                format_path([*base, "lines"]),
                f"camera '{camera_id}': floors.lines needs at least 2 boundaries (N lines bound "
                f"N-1 floors), got {len(lines)}",
            )
        ]
    for index, y in enumerate(lines):
        path = format_path([*base, "lines", index])
        if not 0 <= y <= 1:
            issues.append(
                ConfigIssue(path, f"camera '{camera_id}': floor line y = {y:g} must lie in 0..1")
            )
        elif index and y <= lines[index - 1]:
            issues.append(
                ConfigIssue(
                    path,
                    f"camera '{camera_id}': floor line y = {y:g} must be greater than the line "
                    f"before it ({lines[index - 1]:g}): lines go from top to bottom, strictly "
                    "increasing",
                )
            )
    visible = len(lines) - 1
    top_floor = floors.lowest_visible_floor + visible - 1
    if top_floor > floors.count:
        issues.append(
            ConfigIssue(
                format_path(base),
                f"camera '{camera_id}': {len(lines)} lines bound {visible} floors, from floor "
                f"{floors.lowest_visible_floor} up to floor {top_floor}, but count is "
                f"{floors.count}",
            )
        )
    for index, hazard in falling:
        if hazard.min_drop_floors > visible:
            issues.append(
                ConfigIssue(
                    format_path(["cameras", camera_id, "hazards", index, "min_drop_floors"]),
                    f"camera '{camera_id}': min_drop_floors = {hazard.min_drop_floors} is more "
                    f"than the {visible} floors visible between floors.lines; the hazard could "
                    "never be raised",
                )
            )
    return issues


# --- the box it runs on ------------------------------------------------------------------------


def verify_decode(
    camera_id: str,
    camera: CameraConfig | CameraParts,
    available: Sequence[str] | None = None,
    prober: Prober = probe_hwaccel,
) -> list[ConfigIssue]:
    """An explicit ``decode.hwaccel`` is usable on this box (``auto`` and ``none`` always are).

    Unlike the other checks this one looks at the machine (FFmpeg's build, the GPU), so it
    belongs where the camera runs: ``check-config`` and ``run`` start-up, not ``serve``, which
    may run on a box without the camera's GPU. ``available`` and ``prober`` are for tests
    (defaults: :func:`cameras.hwdecode.available_hwaccels`, the cached real probe).
    """
    decode = _parts(camera).decode
    if decode is None:
        return []
    try:
        choose_hwaccel(HwDecodeRequest(decode.hwaccel, decode.device), available, prober)
    except HwAccelUnavailableError as exc:
        path = format_path(["cameras", camera_id, "decode", "hwaccel"])
        return [ConfigIssue(path, f"camera '{camera_id}': {exc}")]
    return []


def check_camera(camera_id: str, camera: CameraConfig | CameraParts) -> list[ConfigIssue]:
    """All checks that need only one camera (or the parts of it that validated)."""
    return (
        verify_camera_ids(camera_id, camera)
        + verify_zones(camera_id, camera)
        + verify_hazard_zones(camera_id, camera)
        + verify_floors(camera_id, camera)
    )
