"""Fire-lane scene: a street-level lane in front of a building, real vehicles, people, clutter.

The camera looks across a painted fire lane (yellow border lines, hatched ends, "FIRE LANE"
lettering) in front of a building wall and a sidewalk. Vehicles are real photo crops
(:mod:`.sprites`) that drive in from a side along the lane, decelerate to rest, stay and leave;
people walk past in front of them (nearer the camera); clutter is a procedural stack of cardboard
boxes (not a COCO class) that appears in the lane and stays or is taken away.

Ground truth: ``onset_s`` is the time the first blocker comes to rest in the lane (the end of its
decelerating segment, or the moment clutter is put down); ``end_s`` the time the last blocker of
the blockage starts to leave (or is taken away). Latency allowed: ``dwell_s + 5``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.scenarios.actors import SpriteActor
from benchmarks.scenarios.errors import ScenarioError, SpriteError
from benchmarks.scenarios.paths import Ease, Path, Segment
from benchmarks.scenarios.render import Actor, ClipPlan, SceneKind
from benchmarks.scenarios.sprites import MaskStyle, Placement, Sprite
from benchmarks.scenarios.suite import ClipLabel, ExpectedHazard
from benchmarks.scenarios.textures import draw_rect, jitter_color, textured_fill
from vision.types import HazardKind

WIDTH_PX, HEIGHT_PX = 640, 360
CAMERA_ID = "lane_cam"
ZONE_ID = "lane"
CONFIG = "configs/lane.yaml"
LANE_POLYGON_NORM = ((0.02, 0.55), (0.98, 0.55), (0.98, 0.98), (0.02, 0.98))
LANE_WIDTH_M = 4.0
DWELL_S, MIN_OCCUPANCY, CLEAR_S = 10.0, 0.05, 5.0
MAX_LATENCY_S = DWELL_S + 5.0

VEHICLE_Y_PX = 0.88 * HEIGHT_PX  # bottom of a vehicle driving or parked in the lane
NEAR_Y_PX = 0.975 * HEIGHT_PX  # bottom of people (and traffic) passing nearer the camera
VEHICLE_HEIGHT_PX = {"truck": 125, "car": 112, "bus": 158}
PERSON_HEIGHT_PX = 124
DRIVE_SPEED_PX_S = 230.0  # top speed when driving in or out (about 6 m/s at this scale)
WALK_SPEED_PX_S = (55.0, 85.0)

_YELLOW = (20, 190, 225)


def background(rng: np.random.Generator) -> np.ndarray:
    """The lane camera's fixed view: uint8 (360, 640, 3) BGR."""
    h, w = HEIGHT_PX, WIDTH_PX
    image = np.empty((h, w, 3), np.uint8)
    wall_y, walk_y, curb_y = int(0.41 * h), int(0.49 * h), int(0.515 * h)
    image[:wall_y] = textured_fill(rng, wall_y, w, (168, 176, 184), coarse=9, fine=4)
    for y in range(34, wall_y, 38):  # panel seams
        draw_rect(image, (0, y, w, y + 2), (132, 138, 146))
    for x in range(0, w, 96):
        draw_rect(image, (x, 0, x + 2, wall_y), (136, 142, 150))
    for x in range(30, w - 60, 120):  # windows with frames and sills
        draw_rect(image, (x - 2, 8, x + 58, 66), (205, 208, 212))
        image[10:64, x : x + 56] = textured_fill(rng, 54, 56, (92, 80, 70), coarse=18, fine=3)
        draw_rect(image, (x + 27, 10, x + 29, 64), (190, 192, 196))
        draw_rect(image, (x - 4, 66, x + 60, 70), (150, 152, 158))
    draw_rect(image, (472, 74, 532, wall_y), (50, 70, 98))  # door
    draw_rect(image, (520, 108, 526, 114), (160, 170, 180))
    draw_rect(image, (556, 0, 562, wall_y), (110, 112, 118))  # drainpipe
    image[wall_y:walk_y] = textured_fill(rng, walk_y - wall_y, w, (150, 152, 150), coarse=6)
    for x in range(0, w, 26):
        draw_rect(image, (x, wall_y, x + 1, walk_y), (118, 120, 118))
    draw_rect(image, (0, (wall_y + walk_y) // 2, w, (wall_y + walk_y) // 2 + 1), (118, 120, 118))
    image[walk_y:curb_y] = textured_fill(rng, curb_y - walk_y, w, (188, 190, 192), coarse=5)
    draw_rect(image, (0, curb_y - 2, w, curb_y), (96, 98, 100))
    image[curb_y:] = textured_fill(rng, h - curb_y, w, (84, 86, 90), coarse=9, fine=7, cell_px=40)
    _paint_markings(image, rng)
    return image


def _paint_markings(image: np.ndarray, rng: np.random.Generator) -> None:
    """Yellow border lines, hatched boxes at both ends and lettering, a little worn."""
    h, w = image.shape[:2]
    top, bottom = round(0.55 * h), round(0.97 * h)
    paint = np.zeros((h, w), np.uint8)
    cv2.line(paint, (0, top), (w, top), 255, 3, cv2.LINE_AA)
    cv2.line(paint, (0, bottom), (w, bottom), 255, 3, cv2.LINE_AA)
    hatch = np.zeros((h, w), np.uint8)
    for k in range(-12, w // 18 + 2):
        xa = k * 18
        cv2.line(hatch, (xa, bottom), (xa + (bottom - top), top), 255, 2, cv2.LINE_AA)
    ends = np.zeros((h, w), np.uint8)
    for x0, x1 in ((4, int(0.09 * w)), (int(0.91 * w), w - 4)):
        cv2.rectangle(ends, (x0, top + 5), (x1, bottom - 5), 255, -1)
        cv2.rectangle(paint, (x0, top + 5), (x1, bottom - 5), 255, 2, cv2.LINE_AA)
    paint = np.maximum(paint, np.minimum(hatch, ends))
    org = (int(0.3 * w), int(0.80 * h))
    cv2.putText(paint, "FIRE LANE", org, cv2.FONT_HERSHEY_SIMPLEX, 1.4, 255, 4, cv2.LINE_AA)
    wear = 0.7 + 0.2 * rng.random((h, w)).astype(np.float32)
    opacity = (paint.astype(np.float32) / 255.0 * wear)[:, :, None]
    mixed = image.astype(np.float32) * (1 - opacity) + np.asarray(_YELLOW, np.float32) * opacity
    image[:] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def clutter_sprite(rng: np.random.Generator) -> Sprite:
    """A stack of 2-3 cardboard boxes with tape and labels (not a COCO class), ~120x95 px."""
    width, height = int(rng.integers(110, 140)), int(rng.integers(85, 110))
    image = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.float32)
    y = height
    boxes = int(rng.integers(2, 4))
    for k in range(boxes):
        bh = (height // boxes) + int(rng.integers(-4, 5))
        inset = int(rng.integers(0, 14)) if k else 0
        bw = width - 2 * inset - int(rng.integers(0, 10)) * k
        x1, y1 = inset, max(0, y - bh)
        color = jitter_color(rng, (70, 120, 165), 14)
        image[y1:y, x1 : x1 + bw] = textured_fill(rng, y - y1, bw, color, coarse=8, fine=5)
        draw_rect(image, (x1, y1, x1 + bw, y1 + 2), (40, 78, 110))
        draw_rect(image, (x1 + bw // 2 - 4, y1, x1 + bw // 2 + 4, y), (150, 175, 190))  # tape
        draw_rect(image, (x1 + 8, y1 + 8, x1 + 30, y1 + 22), (225, 228, 230))  # label
        draw_rect(image, (x1, y - 2, x1 + bw, y), (35, 60, 85))
        alpha[y1:y, x1 : x1 + bw] = 1.0
        y = y1
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 0.8), np.float32)
    return Sprite(
        "clutter_boxes", "clutter", image, alpha, MaskStyle.FEATHER, (0, 0, width, height)
    )


# --- clip plans ----------------------------------------------------------------------------


def camera_config() -> dict[str, object]:
    """The lane camera's entry of ``configs/lane.yaml``."""
    return {
        "name": "Synthetic fire lane, street level",
        "detect": {"fps": 5, "width": WIDTH_PX},
        "zones": {
            ZONE_ID: {"polygon": [list(p) for p in LANE_POLYGON_NORM], "width_m": LANE_WIDTH_M}
        },
        "hazards": [
            {
                "kind": "fire_lane_blocked",
                "zone": ZONE_ID,
                "dwell_s": DWELL_S,
                "min_occupancy": MIN_OCCUPANCY,
                "clear_s": CLEAR_S,
            }
        ],
    }


def check_placements(label: str) -> list[Placement]:
    """Where a vehicle (at rest in the lane) or a person (walking in front) is checked."""
    y = NEAR_Y_PX if label == "person" else VEHICLE_Y_PX
    return [Placement(0.32 * WIDTH_PX, y), Placement(0.68 * WIDTH_PX, y)]


@dataclass(frozen=True, slots=True)
class LaneSprites:
    """The real sprites the lane clips may use (already checked with the detector)."""

    vehicles: tuple[Sprite, ...]
    persons: tuple[Sprite, ...]

    def vehicle(self, rng: np.random.Generator, label: str | None = None) -> Sprite:
        """A vehicle, of class ``label`` when given and available.

        Raises:
            SpriteError: if no vehicle passed the detector check.
        """
        pool = [s for s in self.vehicles if label is None or s.label == label] or list(
            self.vehicles
        )
        if not pool:
            raise SpriteError("no vehicle sprite passed the detector check; cannot make lanes")
        return pool[int(rng.integers(len(pool)))]

    def person(self, rng: np.random.Generator) -> Sprite:
        if not self.persons:
            raise SpriteError("no person sprite passed the detector check; cannot make lanes")
        return self.persons[int(rng.integers(len(self.persons)))]


def _off_left(sprite: Sprite) -> float:
    return -sprite.width_px / 2 - 8.0


def _off_right(sprite: Sprite) -> float:
    return WIDTH_PX + sprite.width_px / 2 + 8.0


def _drive_time(distance_px: float) -> float:
    """Duration of an eased drive in or out whose top speed is DRIVE_SPEED_PX_S."""
    return max(1.5, 2.0 * abs(distance_px) / DRIVE_SPEED_PX_S)


@dataclass(frozen=True, slots=True)
class Parking:
    """A vehicle that drives in, rests from ``rest_s`` and, if ``leave_s``, drives off."""

    actor: SpriteActor
    rest_s: float
    leave_s: float | None
    gone_s: float | None


def park(
    sprite: Sprite,
    enter_s: float,
    x_park_px: float,
    *,
    from_left: bool,
    stay_s: float | None,
    exit_left: bool | None = None,
    y_px: float = VEHICLE_Y_PX,
) -> Parking:
    """A vehicle that enters at ``enter_s`` from a side, decelerates to rest at ``x_park_px``,
    stays ``stay_s`` (None: to the end) and leaves towards ``exit_left`` (default: onwards)."""
    facing_right = from_left
    drawn = sprite if facing_right else sprite.mirrored()
    x_in = _off_left(drawn) if from_left else _off_right(drawn)
    rest_s = enter_s + _drive_time(x_park_px - x_in)
    segments = [Segment(enter_s, rest_s, (x_in, y_px), (x_park_px, y_px), Ease.OUT)]
    leave_s = gone_s = None
    if stay_s is not None:
        leave_s = rest_s + stay_s
        to_left = (not from_left) if exit_left is None else exit_left
        x_out = _off_left(drawn) if to_left else _off_right(drawn)
        gone_s = leave_s + _drive_time(x_out - x_park_px)
        segments.append(Segment(leave_s, gone_s, (x_park_px, y_px), (x_out, y_px), Ease.IN))
    path = Path(segments, visible_until_s=gone_s)
    return Parking(SpriteActor(drawn, path), rest_s, leave_s, gone_s)


def pass_through(
    sprite: Sprite, enter_s: float, speed_px_s: float, *, from_left: bool, y_px: float
) -> tuple[SpriteActor, float]:
    """Something crossing the whole frame at constant speed; returns it and when it is gone."""
    drawn = sprite if from_left else sprite.mirrored()
    x_in = _off_left(drawn) if from_left else _off_right(drawn)
    x_out = _off_right(drawn) if from_left else _off_left(drawn)
    gone_s = enter_s + abs(x_out - x_in) / speed_px_s
    path = Path([Segment(enter_s, gone_s, (x_in, y_px), (x_out, y_px))], visible_until_s=gone_s)
    return SpriteActor(drawn, path), gone_s


def _walkers(
    rng: np.random.Generator, sprites: LaneSprites, starts_s: list[float]
) -> list[SpriteActor]:
    walkers = []
    for k, start in enumerate(starts_s):
        speed = float(rng.uniform(*WALK_SPEED_PX_S))
        actor, _ = pass_through(
            sprites.person(rng), start, speed, from_left=k % 2 == 0, y_px=NEAR_Y_PX
        )
        walkers.append(actor)
    return walkers


def _plan(
    clip_id: str,
    tags: list[str],
    expected: list[ExpectedHazard],
    duration_s: float,
    image: np.ndarray,
    actors: Sequence[Actor],
    rng: np.random.Generator,
    notes: dict[str, object],
    camera: str = CAMERA_ID,
) -> ClipPlan:
    label = ClipLabel(clip_id, f"clips/{clip_id}.mp4", CONFIG, camera, tuple(tags), tuple(expected))
    return ClipPlan(
        label,
        SceneKind.LANE,
        duration_s,
        image,
        list(actors),
        [],
        2.0,
        int(rng.integers(2**31)),
        notes,
    )


def _blockage(onset_s: float, end_s: float | None) -> ExpectedHazard:
    return ExpectedHazard(HazardKind.FIRE_LANE_BLOCKED, ZONE_ID, onset_s, MAX_LATENCY_S, end_s)


def plan_park(
    rng: np.random.Generator,
    sprites: LaneSprites,
    image: np.ndarray,
    clip_id: str,
    *,
    label: str | None,
    leaves: bool,
    walkers: int = 0,
    passer: bool = False,
) -> ClipPlan:
    """A vehicle parks for longer than dwell_s (positive), with optional people walking past in
    front of it or another vehicle passing in front; it stays or, with ``leaves``, drives off."""
    sprite = sprites.vehicle(rng, label)
    stay = float(rng.uniform(15, 18)) if leaves else None
    parking = park(
        sprite,
        float(rng.uniform(0.5, 1.5)),
        float(rng.uniform(0.3, 0.7)) * WIDTH_PX,
        from_left=bool(rng.random() < 0.5),
        stay_s=stay,
    )
    actors: list[Actor] = [parking.actor]
    tags = ["fire_lane", "positive", "vehicle"]
    if walkers:
        starts = [
            parking.rest_s + 1.0 + 3.5 * k + float(rng.uniform(0, 1.5)) for k in range(walkers)
        ]
        actors += _walkers(rng, sprites, starts)
        tags.append("people_in_front")
    if passer:
        other, _ = pass_through(
            sprites.vehicle(rng),
            parking.rest_s + float(rng.uniform(3, 6)),
            float(rng.uniform(160, 230)),
            from_left=bool(rng.random() < 0.5),
            y_px=NEAR_Y_PX,
        )
        actors.append(other)
        tags.append("vehicle_passes_in_front")
    end = parking.gone_s if parking.gone_s is not None else parking.rest_s + DWELL_S
    duration = math.ceil(end + CLEAR_S + 4.0)
    return _plan(
        clip_id,
        tags,
        [_blockage(parking.rest_s, parking.leave_s)],
        duration,
        image,
        actors,
        rng,
        {"vehicle": parking.actor.sprite.name},
    )


def plan_two_vehicles(
    rng: np.random.Generator, sprites: LaneSprites, image: np.ndarray, clip_id: str
) -> ClipPlan:
    """Two vehicles whose stays overlap in time: one blockage from the first's rest to the
    second's departure (exactly one hazard)."""
    first = park(
        sprites.vehicle(rng),
        float(rng.uniform(0.5, 1.5)),
        0.27 * WIDTH_PX,
        from_left=True,
        stay_s=float(rng.uniform(14, 16)),
        exit_left=True,
    )
    first_gone = _required(first.gone_s)
    sprite2 = sprites.vehicle(rng)
    enter2 = first.rest_s + float(rng.uniform(5, 7))
    probe = park(sprite2, enter2, 0.74 * WIDTH_PX, from_left=False, stay_s=None)
    stay2 = max(first_gone, probe.rest_s + DWELL_S) + float(rng.uniform(4, 6)) - probe.rest_s
    second = park(sprite2, enter2, 0.74 * WIDTH_PX, from_left=False, stay_s=stay2, exit_left=False)
    duration = math.ceil(_required(second.gone_s) + CLEAR_S + 4.0)
    tags = ["fire_lane", "positive", "vehicle", "two_blockers"]
    return _plan(
        clip_id,
        tags,
        [_blockage(first.rest_s, second.leave_s)],
        duration,
        image,
        [first.actor, second.actor],
        rng,
        {"vehicles": [first.actor.sprite.name, second.actor.sprite.name]},
    )


def _required(value: float | None) -> float:
    if value is None:
        raise ScenarioError("a vehicle given a stay has no departure time: generator bug")
    return value


def plan_clutter(
    rng: np.random.Generator,
    sprites: LaneSprites,
    image: np.ndarray,
    clip_id: str,
    *,
    removed_after_s: float | None,
) -> ClipPlan:
    """Boxes put down in the lane by someone walking by; they stay (positive) or are taken away
    after ``removed_after_s`` (< dwell_s: negative)."""
    clutter = clutter_sprite(rng)
    put_s = float(rng.uniform(2.5, 4.0))
    taken_s = None if removed_after_s is None else put_s + removed_after_s
    spot = (float(rng.uniform(0.25, 0.75)) * WIDTH_PX, float(rng.uniform(0.80, 0.90)) * HEIGHT_PX)
    actors: list[Actor] = [SpriteActor(clutter, Path.still(spot, put_s, taken_s))]
    actors += _walkers(rng, sprites, [put_s - 2.0 - float(rng.uniform(0, 1)), put_s + 6.0])
    if taken_s is None:
        tags = ["fire_lane", "positive", "clutter", "static_foreground"]
        expected = [_blockage(put_s, None)]
        duration = math.ceil(put_s + DWELL_S + CLEAR_S + 4.0)
    else:
        tags = ["fire_lane", "negative", "clutter", "removed_before_dwell"]
        expected = []
        duration = math.ceil(taken_s + DWELL_S + 2.0)
    notes = {"clutter_px": [clutter.width_px, clutter.height_px], "put_s": round(put_s, 3)}
    return _plan(clip_id, tags, expected, duration, image, actors, rng, notes)


def plan_pass(
    rng: np.random.Generator,
    sprites: LaneSprites,
    image: np.ndarray,
    clip_id: str,
    *,
    vehicles: int,
) -> ClipPlan:
    """Traffic passing through the lane without stopping (negative)."""
    actors: list[Actor] = []
    start, end = float(rng.uniform(0.5, 1.5)), 0.0
    names = []
    for k in range(vehicles):
        actor, gone = pass_through(
            sprites.vehicle(rng),
            start,
            float(rng.uniform(110, 240)),
            from_left=k % 2 == 0,
            y_px=VEHICLE_Y_PX,
        )
        actors.append(actor)
        names.append(actor.sprite.name)
        end = max(end, gone)
        start = gone - float(rng.uniform(0.5, 2.0))
    duration = math.ceil(end + 3.0)
    return _plan(
        clip_id,
        ["fire_lane", "negative", "passing"],
        [],
        duration,
        image,
        actors,
        rng,
        {"vehicles": names},
    )


def plan_brief_stop(
    rng: np.random.Generator,
    sprites: LaneSprites,
    image: np.ndarray,
    clip_id: str,
    *,
    stop_s: float,
) -> ClipPlan:
    """A vehicle stops for ``stop_s`` (< dwell_s) and drives on (negative)."""
    parking = park(
        sprites.vehicle(rng),
        float(rng.uniform(0.5, 1.5)),
        float(rng.uniform(0.35, 0.65)) * WIDTH_PX,
        from_left=bool(rng.random() < 0.5),
        stay_s=stop_s,
    )
    duration = math.ceil(_required(parking.gone_s) + DWELL_S)
    tags = ["fire_lane", "negative", "brief_stop"]
    return _plan(
        clip_id,
        tags,
        [],
        duration,
        image,
        [parking.actor],
        rng,
        {"vehicle": parking.actor.sprite.name, "stop_s": stop_s},
    )


def plan_people_only(
    rng: np.random.Generator, sprites: LaneSprites, image: np.ndarray, clip_id: str
) -> ClipPlan:
    """People walking through the lane, nothing else (negative)."""
    starts = [0.5 + 2.2 * k + float(rng.uniform(0, 1)) for k in range(4)]
    actors = _walkers(rng, sprites, starts)
    duration = math.ceil(max(starts) + (WIDTH_PX + 120) / WALK_SPEED_PX_S[0] + 1.0)
    return _plan(
        clip_id,
        ["fire_lane", "negative", "people_only"],
        [],
        duration,
        image,
        actors,
        rng,
        {"walkers": len(actors)},
    )


# --- issue 9: vehicles straddling the edges of a roughly drawn lane zone --------------------

ROUGH_CAMERA_ID = "lane_rough_cam"
# The same street, its lane zone drawn roughly by an installer: inside the painted lines, the near
# edge (y 310 px) about 7 px above where the wheels of a car parked in the middle of the lane
# stand (VEHICLE_Y_PX), the ends (x 128 and 512 px) well in from the hatched boxes. Membership by
# the bottom-centre anchor missed every car straddling one of its edges.
ROUGH_POLYGON_NORM = ((0.2, 0.57), (0.8, 0.57), (0.8, 0.86), (0.2, 0.86))
# The ground-contact band of a vehicle's box (its near-to-far wheel band) as a fraction of its
# height: how much of it is in the zone is what "straddling" measures here.
FOOTPRINT_FRACTION = 0.25
EDGES = ("near", "far", "left", "right")


def rough_camera_config() -> dict[str, object]:
    """The rough-zone camera's entry of ``configs/lane.yaml`` (same view and hazard settings as
    :func:`camera_config`, only the zone is drawn differently)."""
    config = camera_config()
    config["name"] = "Synthetic fire lane, zone drawn roughly"
    config["zones"] = {
        ZONE_ID: {"polygon": [list(p) for p in ROUGH_POLYGON_NORM], "width_m": LANE_WIDTH_M}
    }
    return config


def straddle_point(
    edge: str, width_px: float, height_px: float, inside: float, y_px: float
) -> tuple[float, float]:
    """Bottom centre (x, y) of a vehicle box of this size that lies across ``edge`` of the rough
    zone with the fraction ``inside`` of its footprint in the zone (near/far: of the footprint's
    rows; left/right: of its columns, the bottom at ``y_px``).

    Raises:
        ScenarioError: an unknown edge or a fraction outside 0..1.
    """
    if edge not in EDGES or not 0 <= inside <= 1:
        raise ScenarioError(f"straddle: edge {edge!r} / inside {inside} (edges: {EDGES}, 0..1)")
    (left, far), _, (right, near), _ = (
        (x * WIDTH_PX, y * HEIGHT_PX) for x, y in ROUGH_POLYGON_NORM
    )
    band = FOOTPRINT_FRACTION * height_px
    x_mid = (left + right) / 2
    if edge == "near":
        return x_mid, near + (1 - inside) * band
    if edge == "far":
        return x_mid, far + inside * band
    if edge == "left":
        return left + (inside - 0.5) * width_px, y_px
    return right - (inside - 0.5) * width_px, y_px


def plan_straddle(
    rng: np.random.Generator,
    sprites: LaneSprites,
    image: np.ndarray,
    clip_id: str,
    *,
    edge: str,
    inside: float,
    scale: float,
    y_px: float = VEHICLE_Y_PX,
    label: str | None = None,
    leaves: bool = False,
    positive: bool = True,
    walkers: int = 0,
) -> ClipPlan:
    """A vehicle (``scale`` times its nominal size: nearer or farther from the camera) drives in
    along the lane and parks across ``edge`` of the rough zone with ``inside`` of its footprint
    in it, for longer than dwell_s. Positive when enough of it is in the zone (``positive``), a
    negative when it touches the zone by a sliver. ``walkers`` people pass in front of it while
    it rests (the detector loses or shrinks its box in some frames)."""
    base = sprites.vehicle(rng, label)
    sprite = base.resized(round(base.height_px * scale))
    from_left = bool(rng.random() < 0.5)
    drawn = sprite if from_left else sprite.mirrored()
    x_park, y_park = straddle_point(edge, drawn.width_px, drawn.height_px, inside, y_px)
    stay = float(rng.uniform(15, 18)) if leaves else None
    parking = park(
        sprite,
        float(rng.uniform(0.5, 1.5)),
        x_park,
        from_left=from_left,
        stay_s=stay,
        y_px=y_park,
    )
    kind = "positive" if positive else "negative"
    tags = ["fire_lane", kind, "vehicle", "rough_zone", f"straddle_{edge}"]
    actors: list[Actor] = [parking.actor]
    if walkers:
        starts = [parking.rest_s + 1.0 + 3.0 * k + float(rng.uniform(0, 1)) for k in range(walkers)]
        actors += _walkers(rng, sprites, starts)
        tags.append("people_in_front")
    expected = [_blockage(parking.rest_s, parking.leave_s)] if positive else []
    end = parking.gone_s if parking.gone_s is not None else parking.rest_s + DWELL_S
    duration = math.ceil(end + CLEAR_S + 4.0)
    notes = {
        "vehicle": sprite.name,
        "edge": edge,
        "footprint_inside": inside,
        "box_px": [round(v, 1) for v in drawn.box_at(x_park, y_park)],
    }
    return _plan(clip_id, tags, expected, duration, image, actors, rng, notes, ROUGH_CAMERA_ID)


def plan_rough_in_front(
    rng: np.random.Generator, sprites: LaneSprites, image: np.ndarray, clip_id: str
) -> ClipPlan:
    """A vehicle parks in front of the lane (nearer the camera, its wheels below the painted near
    line) for longer than dwell_s: its picture covers much of the zone, its footprint none
    (negative)."""
    base = sprites.vehicle(rng)
    sprite = base.resized(round(base.height_px * 1.1))
    parking = park(
        sprite,
        float(rng.uniform(0.5, 1.5)),
        float(rng.uniform(0.4, 0.6)) * WIDTH_PX,
        from_left=bool(rng.random() < 0.5),
        stay_s=None,
        y_px=NEAR_Y_PX,
    )
    duration = math.ceil(parking.rest_s + DWELL_S + CLEAR_S + 4.0)
    tags = ["fire_lane", "negative", "vehicle", "rough_zone", "parked_in_front"]
    notes: dict[str, object] = {"vehicle": sprite.name}
    return _plan(clip_id, tags, [], duration, image, [parking.actor], rng, notes, ROUGH_CAMERA_ID)


def plan_rough_pass(
    rng: np.random.Generator, sprites: LaneSprites, image: np.ndarray, clip_id: str
) -> ClipPlan:
    """A vehicle drives through along the zone's near edge without stopping (negative)."""
    actor, gone = pass_through(
        sprites.vehicle(rng),
        float(rng.uniform(0.5, 1.5)),
        float(rng.uniform(110, 160)),
        from_left=bool(rng.random() < 0.5),
        y_px=VEHICLE_Y_PX,
    )
    tags = ["fire_lane", "negative", "rough_zone", "passing"]
    notes: dict[str, object] = {"vehicle": actor.sprite.name}
    duration = math.ceil(gone + 3.0)
    return _plan(clip_id, tags, [], duration, image, [actor], rng, notes, ROUGH_CAMERA_ID)
