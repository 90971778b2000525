"""E-bike scenes: a lift-car camera and a stairwell-door camera, with real e-bike photos.

``lift_cam`` looks across a lift car from an upper corner: brushed-steel walls, a handrail, a
control panel, the car floor, and on the left the open door with the brighter lobby behind it.
The ``lift_car`` polygon is the car floor right of the door threshold. E-bikes (real crops of the
labelled e-bike screenshots and the COCO motorbike, :mod:`.sprites`) are pushed in from the lobby
and stay, or stay a while and are taken out; one is already inside when the clip starts.

``stair_cam`` looks along a corridor at a stairwell fire door; the ``stair_door`` line lies on the
floor in front of the door, its inward side towards the door (up in the image). E-bikes cross it
inward (towards the door) or outward, pass by along the corridor, or come close and turn back;
people cross it too. Objects look smaller further away (:class:`.actors.Perspective`).

Ground truth: ``onset_s`` is the first time the bottom centre of the e-bike's visible box is in
the lift polygon, or across the door line on its inward side; ``end_s`` the time it is out again.
Latency allowed: 1.5 s, plus ``min_duration_s`` for the lift polygon.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from benchmarks.scenarios.actors import Perspective, SpriteActor
from benchmarks.scenarios.errors import ScenarioError, SpriteError
from benchmarks.scenarios.paths import Ease, Path, PointPx, Segment
from benchmarks.scenarios.render import ClipPlan, SceneKind
from benchmarks.scenarios.sprites import Placement, Sprite
from benchmarks.scenarios.suite import ClipLabel, ExpectedHazard
from benchmarks.scenarios.textures import (
    draw_rect,
    smooth_noise,
    textured_fill,
    vertical_gradient,
)
from vision.types import HazardKind

WIDTH_PX, HEIGHT_PX = 640, 360
CONFIG = "configs/lift.yaml"
LIFT_CAMERA_ID, LIFT_ZONE_ID = "lift_cam", "lift_car"
STAIR_CAMERA_ID, STAIR_ZONE_ID = "stair_cam", "stair_door"
LIFT_POLYGON_NORM = ((0.24, 0.50), (0.99, 0.50), (0.99, 0.99), (0.24, 0.99))
LIFT_MIN_DURATION_S = 0.5
STAIR_LINE_NORM = ((0.25, 0.62), (0.75, 0.62))
STAIR_INWARD_NORM = (0.0, -1.0)
STAIR_MIN_DURATION_S = 0.4
LINE_LATENCY_S = 1.5

LIFT_Y_PX = 0.93 * HEIGHT_PX  # bottom of an e-bike or person standing in the car
LIFT_EBIKE_HEIGHT_PX = 200
LIFT_PERSON_HEIGHT_PX = 230
STAIR_NEAR_Y_PX = 0.97 * HEIGHT_PX
STAIR_DOOR_Y_PX = 0.53 * HEIGHT_PX  # bottom of something standing at the door
STAIR_EBIKE_HEIGHT_PX = 200
STAIR_PERSON_HEIGHT_PX = 190
STAIR_PERSPECTIVE = Perspective(y_far_px=0.5 * HEIGHT_PX, scale_far=0.85, y_near_px=HEIGHT_PX)
PUSH_SPEED_PX_S = 150.0  # top speed of an e-bike pushed by hand


def lift_background(rng: np.random.Generator) -> np.ndarray:
    """The lift-car camera's fixed view: uint8 (360, 640, 3) BGR."""
    h, w = HEIGHT_PX, WIDTH_PX
    door_x, floor_y = int(0.22 * w), int(0.52 * h)
    image = np.empty((h, w, 3), np.uint8)
    streaks = smooth_noise(rng, h, 2 * w, 3.0)[:, ::2]  # vertical brushing
    streaks = cv2.resize(cv2.resize(streaks, (w, 12)), (w, h))
    steel = np.asarray((168, 166, 160), np.float32) + 12 * streaks[:, :, None]
    steel += 3 * rng.standard_normal((h, w, 1)).astype(np.float32)
    image[:] = np.clip(steel, 0, 255).astype(np.uint8)
    for x in range(door_x + 110, w, 120):
        draw_rect(image, (x, 0, x + 2, floor_y), (120, 120, 118))
    draw_rect(image, (0, 0, w, int(0.05 * h)), (225, 232, 236))  # ceiling light strip
    draw_rect(image, (door_x, int(0.40 * h), w, int(0.40 * h) + 6), (205, 205, 200))  # handrail
    for x in range(door_x + 60, w, 170):
        draw_rect(image, (x, int(0.40 * h) + 6, x + 5, int(0.46 * h)), (150, 150, 146))
    panel = (int(0.85 * w), int(0.14 * h), int(0.92 * w), int(0.44 * h))
    draw_rect(image, panel, (46, 44, 42))
    for row in range(6):
        for col in range(2):
            cx = panel[0] + 12 + col * 20
            cy = panel[1] + 14 + row * 16
            cv2.circle(image, (cx, cy), 5, (190, 196, 200), -1, cv2.LINE_AA)
    image[floor_y:] = textured_fill(rng, h - floor_y, w, (72, 74, 78), coarse=8, fine=6)
    for k in range(1, 9):  # rubber floor ribs in perspective
        y = floor_y + int((h - floor_y) * (k / 9) ** 1.3)
        draw_rect(image, (door_x, y, w, y + 1), (58, 60, 64))
    lobby = vertical_gradient(floor_y, door_x, (200, 214, 226), (178, 192, 204))
    image[:floor_y, :door_x] = lobby
    image[floor_y:, :door_x] = textured_fill(rng, h - floor_y, door_x, (170, 176, 182), coarse=6)
    for y in range(floor_y, h, 30):
        draw_rect(image, (0, y, door_x, y + 1), (140, 146, 152))
    draw_rect(image, (door_x - 8, 0, door_x + 4, h), (190, 190, 186))  # door jamb / threshold
    draw_rect(image, (door_x - 10, floor_y, door_x + 6, h), (150, 152, 150))
    return image


def stair_background(rng: np.random.Generator) -> np.ndarray:
    """The stairwell-door camera's fixed view: uint8 (360, 640, 3) BGR."""
    h, w = HEIGHT_PX, WIDTH_PX
    floor_y = int(0.50 * h)
    image = np.empty((h, w, 3), np.uint8)
    image[:floor_y] = textured_fill(rng, floor_y, w, (196, 204, 210), coarse=7, fine=3)
    image[floor_y:] = textured_fill(rng, h - floor_y, w, (150, 160, 168), coarse=8, fine=5)
    for k in range(1, 10):  # floor tile rows in perspective
        y = floor_y + int((h - floor_y) * (k / 10) ** 1.25)
        draw_rect(image, (0, y, w, y + 1), (120, 128, 136))
    for k in range(-8, 9):
        x_far, x_near = w / 2 + k * 44, w / 2 + k * 110
        cv2.line(
            image, (round(x_far), floor_y), (round(x_near), h), (126, 134, 142), 1, cv2.LINE_AA
        )
    side = np.array([[0, 0], [int(0.12 * w), int(0.08 * h)], [int(0.12 * w), floor_y], [0, h]])
    cv2.fillConvexPoly(image, side, (170, 178, 186), cv2.LINE_AA)
    side_r = np.array([[w, 0], [int(0.88 * w), int(0.08 * h)], [int(0.88 * w), floor_y], [w, h]])
    cv2.fillConvexPoly(image, side_r, (176, 184, 192), cv2.LINE_AA)
    door = (int(0.40 * w), int(0.12 * h), int(0.60 * w), floor_y)
    draw_rect(image, (door[0] - 6, door[1] - 6, door[2] + 6, door[3]), (120, 126, 130))
    image[door[1] : door[3], door[0] : door[2]] = textured_fill(
        rng, door[3] - door[1], door[2] - door[0], (92, 122, 96), coarse=6, fine=3
    )
    draw_rect(image, (door[0] + 14, door[1] + 14, door[0] + 44, door[1] + 50), (170, 150, 130))
    draw_rect(image, (door[0] + 8, int(0.33 * h), door[2] - 8, int(0.33 * h) + 5), (200, 205, 205))
    sign = (int(0.46 * w), int(0.03 * h), int(0.54 * w), int(0.09 * h))
    draw_rect(image, sign, (60, 150, 40))
    cv2.putText(
        image,
        "EXIT",
        (sign[0] + 8, sign[3] - 5),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (245, 250, 245),
        1,
        cv2.LINE_AA,
    )
    mat = (int(0.36 * w), floor_y, int(0.64 * w), int(0.58 * h))
    draw_rect(image, mat, (70, 74, 80))
    return image


# --- clip plans ----------------------------------------------------------------------------


def lift_camera_config() -> dict[str, object]:
    """The lift-car camera's entry of ``configs/lift.yaml``."""
    return {
        "name": "Synthetic lift car",
        "detect": {"fps": 5, "width": WIDTH_PX},
        "zones": {LIFT_ZONE_ID: {"polygon": [list(p) for p in LIFT_POLYGON_NORM]}},
        "hazards": [
            {
                "kind": "ebike_entry",
                "zone": LIFT_ZONE_ID,
                "min_duration_s": LIFT_MIN_DURATION_S,
                "allow_bicycles": True,
            }
        ],
    }


def stair_camera_config() -> dict[str, object]:
    """The stairwell-door camera's entry of ``configs/lift.yaml``."""
    return {
        "name": "Synthetic stairwell door",
        "detect": {"fps": 5, "width": WIDTH_PX},
        "zones": {
            STAIR_ZONE_ID: {
                "line": [list(p) for p in STAIR_LINE_NORM],
                "inward": list(STAIR_INWARD_NORM),
            }
        },
        "hazards": [
            {
                "kind": "ebike_entry",
                "zone": STAIR_ZONE_ID,
                "min_duration_s": STAIR_MIN_DURATION_S,
                "allow_bicycles": True,
            }
        ],
    }


def lift_placements() -> list[Placement]:
    """Where a lift sprite is checked: standing in the car, and half-way in from the door."""
    return [Placement(0.58 * WIDTH_PX, LIFT_Y_PX), Placement(0.36 * WIDTH_PX, LIFT_Y_PX)]


def stair_placements() -> list[Placement]:
    """Where a stairwell sprite is checked: near the camera, and at the door (smaller)."""
    far = STAIR_PERSPECTIVE.scale_at(STAIR_DOOR_Y_PX)
    return [
        Placement(0.42 * WIDTH_PX, STAIR_NEAR_Y_PX),
        Placement(0.50 * WIDTH_PX, STAIR_DOOR_Y_PX, far),
    ]


def in_lift(point: PointPx) -> bool:
    """Whether a pixel point is inside the lift-car polygon."""
    polygon = (np.array(LIFT_POLYGON_NORM) * (WIDTH_PX, HEIGHT_PX)).astype(np.float32)
    return cv2.pointPolygonTest(polygon, (float(point[0]), float(point[1])), False) >= 0


def inward_of_line(point: PointPx) -> bool:
    """Whether a pixel point is past the door line on its inward side, within its extent."""
    (x1, y1), (x2, y2) = ((x * WIDTH_PX, y * HEIGHT_PX) for x, y in STAIR_LINE_NORM)
    if not min(x1, x2) <= point[0] <= max(x1, x2):
        return False
    nx, ny = -(y2 - y1), x2 - x1  # a normal of the line, turned to the inward side
    if nx * STAIR_INWARD_NORM[0] + ny * STAIR_INWARD_NORM[1] < 0:
        nx, ny = -nx, -ny
    return (point[0] - x1) * nx + (point[1] - y1) * ny > 0


def _first(actor: SpriteActor, inside: bool, test: str, t_from: float, t_to: float) -> float | None:
    """First time the bottom centre of the actor's visible box is (``inside``) or is not in the
    zone (``test`` ``lift`` or ``line``)."""
    check = in_lift if test == "lift" else inward_of_line
    step = 0.001
    for k in range(int((t_to - t_from) / step) + 1):
        t = t_from + k * step
        anchor = actor.anchor_at(t, WIDTH_PX, HEIGHT_PX)
        if anchor is not None and check(anchor) == inside:
            return t
    return None


def _plan(
    clip_id: str,
    camera: str,
    tags: list[str],
    expected: list[ExpectedHazard],
    duration_s: float,
    image: np.ndarray,
    actors: list[SpriteActor],
    rng: np.random.Generator,
) -> ClipPlan:
    label = ClipLabel(clip_id, f"clips/{clip_id}.mp4", CONFIG, camera, tuple(tags), tuple(expected))
    notes: dict[str, object] = {"sprites": [a.sprite.name for a in actors]}
    return ClipPlan(
        label,
        SceneKind.LIFT,
        duration_s,
        image,
        list(actors),
        [],
        2.0,
        int(rng.integers(2**31)),
        notes,
    )


def _entry(zone: str, onset_s: float, end_s: float | None) -> ExpectedHazard:
    latency = LINE_LATENCY_S + (LIFT_MIN_DURATION_S if zone == LIFT_ZONE_ID else 0.0)
    return ExpectedHazard(HazardKind.EBIKE_ENTRY, zone, onset_s, latency, end_s)


def _pick(rng: np.random.Generator, pool: tuple[Sprite, ...], what: str) -> Sprite:
    if not pool:
        raise SpriteError(f"no {what} sprite passed the detector check")
    return pool[int(rng.integers(len(pool)))]


def plan_lift_entry(
    rng: np.random.Generator,
    sprite: Sprite,
    image: np.ndarray,
    clip_id: str,
    *,
    leaves_after_s: float | None = None,
    already_inside: bool = False,
    is_ebike: bool = True,
) -> ClipPlan:
    """Something pushed or walking from the lobby into the lift car, staying (or leaving after
    ``leaves_after_s``); with ``already_inside`` it stands in the car from the first frame."""
    x_rest = float(rng.uniform(0.52, 0.66)) * WIDTH_PX
    x_out = -sprite.width_px / 2 - 8.0
    if already_inside:
        path = Path.still((x_rest, LIFT_Y_PX), 0.0)
        rest_s = 0.0
    else:
        enter_s = float(rng.uniform(0.8, 1.8))
        rest_s = enter_s + max(2.0, 2.0 * (x_rest - x_out) / PUSH_SPEED_PX_S)
        segments = [Segment(enter_s, rest_s, (x_out, LIFT_Y_PX), (x_rest, LIFT_Y_PX), Ease.OUT)]
        gone_s = None
        if leaves_after_s is not None:
            leave_s = rest_s + leaves_after_s
            gone_s = leave_s + max(2.0, 2.0 * (x_rest - x_out) / PUSH_SPEED_PX_S)
            segments.append(
                Segment(leave_s, gone_s, (x_rest, LIFT_Y_PX), (x_out, LIFT_Y_PX), Ease.IN)
            )
        path = Path(segments, visible_until_s=gone_s)
    actor = SpriteActor(sprite, path)
    horizon = rest_s + (leaves_after_s or 0.0) + 6.0
    expected: list[ExpectedHazard] = []
    if is_ebike:
        onset = _first(actor, True, "lift", 0.0, horizon)
        if onset is None:
            raise ScenarioError(f"{clip_id}: the e-bike never enters the lift polygon")
        end = None
        if leaves_after_s is not None:
            end = _first(actor, False, "lift", rest_s + leaves_after_s, horizon)
        expected.append(_entry(LIFT_ZONE_ID, onset, end))
    duration = math.ceil(horizon + 1.0) if leaves_after_s is not None else math.ceil(rest_s + 6.0)
    tags = [
        "ebike_entry",
        "positive" if is_ebike else "negative",
        "lift",
        "ebike" if is_ebike else "person_only",
    ]
    if already_inside:
        tags.append("present_at_start")
    return _plan(clip_id, LIFT_CAMERA_ID, tags, expected, max(duration, 6), image, [actor], rng)


def plan_stair(
    rng: np.random.Generator,
    sprite: Sprite,
    image: np.ndarray,
    clip_id: str,
    *,
    motion: str,
    is_ebike: bool = True,
) -> ClipPlan:
    """At the stairwell door: ``inward`` (crosses the line to the door and stays there),
    ``outward`` (comes from the door and leaves towards the camera), ``pass_by`` (crosses the
    frame along the corridor, never reaching the line) or ``approach`` (comes close to the line,
    stops, turns back)."""
    start_s = float(rng.uniform(0.8, 1.5))
    near_x = float(rng.uniform(0.30, 0.42)) * WIDTH_PX
    door = (float(rng.uniform(0.46, 0.54)) * WIDTH_PX, STAIR_DOOR_Y_PX)
    near = (near_x, STAIR_NEAR_Y_PX)
    move_s = float(rng.uniform(3.0, 4.0))
    if motion == "inward":
        segments = [Segment(start_s, start_s + move_s, near, door, Ease.IN_OUT)]
    elif motion == "outward":
        low = (near_x, HEIGHT_PX + sprite.height_px)  # leaves through the bottom of the frame
        segments = [Segment(start_s, start_s + move_s + 1.0, door, low, Ease.IN)]
    elif motion == "approach":
        close = (near_x + 40.0, 0.72 * HEIGHT_PX)
        segments = [
            Segment(start_s, start_s + move_s, near, close, Ease.IN_OUT),
            Segment(start_s + move_s + 1.0, start_s + 2 * move_s + 1.0, close, near, Ease.IN_OUT),
        ]
    elif motion == "pass_by":
        y = 0.92 * HEIGHT_PX
        left, right = (-sprite.width_px / 2 - 8.0, y), (WIDTH_PX + sprite.width_px / 2 + 8.0, y)
        a, b = (left, right) if rng.random() < 0.5 else (right, left)
        segments = [Segment(start_s, start_s + (WIDTH_PX + sprite.width_px) / 110.0, a, b)]
    else:
        raise ScenarioError(f"unknown stairwell motion {motion!r}")
    actor = SpriteActor(sprite, Path(segments, visible_from_s=0.0), STAIR_PERSPECTIVE)
    duration = math.ceil(segments[-1].t1_s + 3.0)
    expected: list[ExpectedHazard] = []
    if is_ebike and motion == "inward":
        onset = _first(actor, True, "line", 0.0, duration)
        if onset is None:
            raise ScenarioError(f"{clip_id}: the e-bike never crosses the door line")
        expected.append(_entry(STAIR_ZONE_ID, onset, None))
    positive = bool(expected)
    tags = [
        "ebike_entry",
        "positive" if positive else "negative",
        "stairwell",
        motion,
        "ebike" if is_ebike else "person_only",
    ]
    return _plan(clip_id, STAIR_CAMERA_ID, tags, expected, duration, image, [actor], rng)


# --- issue 9: an e-bike left across the car's edge (the door threshold) ---------------------


def _inside_fraction(actor: SpriteActor, t_s: float) -> float | None:
    """Fraction of the width of the actor's visible box right of the lift polygon's left edge
    (its bottom band lies within the polygon's rows while it stands on the car floor)."""
    box = actor.box_at(t_s, WIDTH_PX, HEIGHT_PX)
    if box is None:
        return None
    edge = LIFT_POLYGON_NORM[0][0] * WIDTH_PX
    return min(1.0, max(0.0, (box[2] - edge) / max(box[2] - box[0], 1e-6)))


def plan_lift_straddle(
    rng: np.random.Generator,
    sprite: Sprite,
    image: np.ndarray,
    clip_id: str,
    *,
    inside: float,
    enter_fraction: float = 0.3,
) -> ClipPlan:
    """An e-bike pushed from the lobby and left standing across the door threshold (the lift
    polygon's left edge) with ``inside`` of its width in the car, to the end of the clip. The
    bottom-centre anchor of its box stays outside for ``inside < 0.5``. Positive (onset: when
    ``enter_fraction`` of it is in) when ``inside >= enter_fraction``, else a negative (its front
    wheel touching the threshold)."""
    edge = LIFT_POLYGON_NORM[0][0] * WIDTH_PX
    x_rest = edge + (inside - 0.5) * sprite.width_px
    x_out = -sprite.width_px / 2 - 8.0
    enter_s = float(rng.uniform(0.8, 1.8))
    rest_s = enter_s + max(2.0, 2.0 * (x_rest - x_out) / PUSH_SPEED_PX_S)
    segments = [Segment(enter_s, rest_s, (x_out, LIFT_Y_PX), (x_rest, LIFT_Y_PX), Ease.OUT)]
    actor = SpriteActor(sprite, Path(segments))
    positive = inside >= enter_fraction
    expected: list[ExpectedHazard] = []
    if positive:
        step = 0.001
        onset = next(
            (
                k * step
                for k in range(int((rest_s + 1.0) / step))
                if (_inside_fraction(actor, k * step) or 0.0) >= enter_fraction
            ),
            None,
        )
        if onset is None:
            raise ScenarioError(f"{clip_id}: the e-bike never gets {enter_fraction} into the car")
        expected.append(_entry(LIFT_ZONE_ID, onset, None))
    tags = [
        "ebike_entry",
        "positive" if positive else "negative",
        "lift",
        "ebike",
        "straddles_edge" if positive else "touches_edge",
    ]
    return _plan(
        clip_id, LIFT_CAMERA_ID, tags, expected, math.ceil(rest_s + 8.0), image, [actor], rng
    )
