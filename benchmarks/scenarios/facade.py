"""Facade scene: objects falling from windows of a tall building seen from below, and look-alikes.

The camera looks up at a facade of 12 visible floors (floors 5 to 16 of 18): windows in a grid,
floor slabs, wall texture, a strip of sky. Floors look shorter higher up (perspective), so the
floor lines are not evenly spaced.

Positives: one object (3-12 px; light, dark or coloured; a disc, a box or a tumbling bar) leaves a
window sill and falls with constant downward acceleration in image space (80-320 px/s², varied per
clip: objects nearer the camera look faster), dropped, thrown sideways or thrown upward, with
motion blur when fast. Some carry a distractor as well, and one has two objects.

Negatives, each with one distractor only: birds (flapping horizontally or upward, or gliding down
slowly at constant speed), swaying foliage at the frame edge, flickering window lights, rain
(many thin fast streaks for a few seconds), a camera shake (the whole image shifted by a few px
for about 0.5 s), a window-cleaning cradle descending slowly at constant speed.

Ground truth: ``onset_s`` is the time the object starts to fall; ``origin_floor`` the floor of
the window it left. Upward throws are kept low enough that their apex stays in that floor's band
(ARCHITECTURE.md §4 defines the origin floor as the band of the highest point).
Latency allowed: 2 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from benchmarks.scenarios.encode import FPS
from benchmarks.scenarios.errors import ScenarioError
from benchmarks.scenarios.paths import PointPx
from benchmarks.scenarios.render import Actor, ClipPlan, Effect, SceneKind
from benchmarks.scenarios.sprites import MaskStyle, Sprite
from benchmarks.scenarios.suite import ClipLabel, ExpectedHazard
from benchmarks.scenarios.textures import (
    BGR,
    blend_rect,
    draw_rect,
    jitter_color,
    textured_fill,
    vertical_gradient,
)
from benchmarks.scenarios.timing import (
    FrameSchedule,
    jittered,
    lost_and_repeated,
    remux,
    vfr_gaps,
)
from vision.types import HazardKind

WIDTH_PX, HEIGHT_PX = 640, 360
CAMERA_ID = "facade_cam"
ZONE_ID = "facade"
CONFIG = "configs/facade.yaml"
FACADE_POLYGON_NORM = ((0.02, 0.03), (0.98, 0.03), (0.98, 0.97), (0.02, 0.97))
MIN_DROP_FLOORS = 2
MAX_LATENCY_S = 2.0
FLOOR_COUNT, LOWEST_VISIBLE_FLOOR, VISIBLE_FLOORS = 18, 5, 12
COLUMNS = 8
# Every frame of the 25 fps clips, and of the 30 fps streams of the timing variants (a re-muxed
# sensor's distinct pictures must not be thinned out by the analysis rate).
MOTION_FPS = 30

OBJECT_SIZES_PX = (3, 4, 5, 6, 8, 10, 12)
OBJECT_COLORS: tuple[tuple[str, BGR], ...] = (
    ("light", (238, 240, 242)),
    ("dark", (28, 28, 34)),
    ("red", (40, 40, 210)),
    ("blue", (200, 90, 30)),
    ("yellow", (40, 215, 235)),
    ("green", (60, 170, 40)),
    ("orange", (30, 130, 240)),
    ("grey", (120, 122, 125)),
)
OBJECT_SHAPES = ("disc", "box", "bar")
THROWS = ("drop", "sideways", "upward")


# --- geometry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FacadeGeometry:
    """Where the floors and windows are in the image.

    Attributes:
        width_px: image width.
        height_px: image height.
        lines_norm: normalized y of the floor boundaries, top to bottom (the config's
            ``floors.lines``); band ``b`` (0 = top) lies between lines ``b`` and ``b + 1``.
        lowest_visible_floor: floor number of the lowest band.
        floor_count: floors of the building.
        columns: windows per floor.
    """

    width_px: int
    height_px: int
    lines_norm: tuple[float, ...]
    lowest_visible_floor: int
    floor_count: int
    columns: int

    @classmethod
    def standard(cls) -> FacadeGeometry:
        """12 floors between y = 0.04 and 0.96, each 5 % shorter than the one below it."""
        top, bottom, ratio = 0.04, 0.96, 0.95
        h0 = (bottom - top) * (1 - ratio) / (1 - ratio**VISIBLE_FLOORS)
        lines = [bottom]
        for k in range(VISIBLE_FLOORS):
            lines.append(lines[-1] - h0 * ratio**k)
        lines_norm = tuple(round(v, 4) for v in reversed(lines))
        return cls(WIDTH_PX, HEIGHT_PX, lines_norm, LOWEST_VISIBLE_FLOOR, FLOOR_COUNT, COLUMNS)

    @property
    def visible_floors(self) -> int:
        return len(self.lines_norm) - 1

    def band_px(self, band: int) -> tuple[float, float]:
        """(top, bottom) y in pixels of band ``band`` (0 = the top visible floor)."""
        if not 0 <= band < self.visible_floors:
            raise ValueError(f"band must be in 0..{self.visible_floors - 1}, got {band}")
        return self.lines_norm[band] * self.height_px, self.lines_norm[band + 1] * self.height_px

    def floor_of_band(self, band: int) -> int:
        """Floor number (ground = 1) of band ``band``."""
        return self.lowest_visible_floor + self.visible_floors - 1 - band

    def floor_at_y(self, y_px: float) -> int | None:
        """Floor number of the band holding image row ``y_px``, None above or below them all."""
        y_norm = y_px / self.height_px
        for band in range(self.visible_floors):
            if self.lines_norm[band] <= y_norm < self.lines_norm[band + 1]:
                return self.floor_of_band(band)
        return None

    def window_rect(self, band: int, column: int) -> tuple[int, int, int, int]:
        """Pixel box of the window (x1, y1, x2, y2), ends exclusive."""
        top, bottom = self.band_px(band)
        pitch = 0.92 * self.width_px / self.columns
        x0 = 0.04 * self.width_px + column * pitch
        return (
            round(x0 + 0.22 * pitch),
            round(top + 0.24 * (bottom - top)),
            round(x0 + 0.78 * pitch),
            round(top + 0.78 * (bottom - top)),
        )

    def sill_px(self, band: int, column: int) -> PointPx:
        """Centre of the window's sill, where objects leave the window."""
        x1, _, x2, y2 = self.window_rect(band, column)
        return (x1 + x2) / 2.0, float(y2)


def background(rng: np.random.Generator, geom: FacadeGeometry) -> np.ndarray:
    """The facade camera's fixed view: uint8 (H, W, 3) BGR."""
    h, w = geom.height_px, geom.width_px
    top = round(geom.lines_norm[0] * h)
    image = textured_fill(rng, h, w, (176, 186, 198), coarse=9, fine=4, cell_px=30)
    image[:top] = vertical_gradient(top, w, (236, 214, 190), (226, 208, 192))
    draw_rect(image, (0, top - 3, w, top + 1), (128, 132, 140))  # parapet
    pitch = 0.92 * w / geom.columns
    for column in range(geom.columns + 1):  # pilasters between window columns
        x = round(0.04 * w + column * pitch)
        blend_rect(image, (x - 4, top, x + 4, h), (196, 204, 214), 0.6)
    for line in geom.lines_norm[1:]:  # floor slabs
        y = round(line * h)
        draw_rect(image, (0, y - 2, w, y + 1), (132, 138, 148))
        draw_rect(image, (0, y + 1, w, y + 2), (204, 210, 218))
    for band in range(geom.visible_floors):
        for column in range(geom.columns):
            _draw_window(image, rng, geom.window_rect(band, column))
    return image


def _draw_window(image: np.ndarray, rng: np.random.Generator, rect: tuple[int, ...]) -> None:
    x1, y1, x2, y2 = rect
    draw_rect(image, (x1 - 1, y1 - 1, x2 + 1, y2 + 1), (214, 218, 222))  # frame
    glass = jitter_color(rng, (96, 84, 74), 10)
    image[y1:y2, x1:x2] = textured_fill(rng, y2 - y1, x2 - x1, glass, coarse=16, fine=3, cell_px=8)
    if rng.random() < 0.3:  # curtain
        cw = int((x2 - x1) * rng.uniform(0.3, 0.5))
        draw_rect(image, (x1, y1, x1 + cw, y2), jitter_color(rng, (150, 164, 180), 12))
    draw_rect(image, ((x1 + x2) // 2, y1, (x1 + x2) // 2 + 1, y2), (190, 194, 198))  # mullion
    draw_rect(image, (x1 - 2, y2, x2 + 2, y2 + 2), (222, 226, 230))  # sill
    if rng.random() < 0.15:  # air-conditioner box beside the window
        draw_rect(image, (x2 + 3, y2 - 8, x2 + 13, y2), (200, 204, 206))


# --- actors --------------------------------------------------------------------------------


@dataclass(eq=False)
class FallingObject:
    """An object that sits on a sill from ``appear_s`` and falls from ``onset_s``.

    Position for ``t >= onset_s``: ``x = x0 + vx·τ``, ``y = y0 + vy0·τ + a·τ²/2``, ``τ = t -
    onset_s``. Drawn with a motion-blur streak over ``exposure_s`` when it moves fast.
    """

    start_px: PointPx
    onset_s: float
    appear_s: float
    velocity_px_s: tuple[float, float]
    accel_px_s2: float
    size_px: float
    color_bgr: BGR
    shape: str
    spin_hz: float
    exposure_s: float = 0.02

    def position(self, t_s: float) -> PointPx:
        tau = max(0.0, t_s - self.onset_s)
        x0, y0 = self.start_px
        vx, vy = self.velocity_px_s
        return x0 + vx * tau, y0 + vy * tau + 0.5 * self.accel_px_s2 * tau * tau

    def apex_y_px(self) -> float:
        vy = self.velocity_px_s[1]
        rise = vy * vy / (2 * self.accel_px_s2) if vy < 0 else 0.0
        return self.start_px[1] - rise

    def time_at_y(self, y_px: float) -> float:
        """Stream time at which the falling object reaches row ``y_px`` below its apex."""
        vy, a = self.velocity_px_s[1], self.accel_px_s2
        dy = y_px - self.start_px[1]
        return self.onset_s + (-vy + math.sqrt(vy * vy + 2 * a * dy)) / a

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        if t_s < self.appear_s:
            return
        h, w = frame.shape[:2]
        x, y = self.position(t_s)
        if y - self.size_px > h or x < -self.size_px or x > w + self.size_px:
            return
        xp, yp = self.position(max(self.onset_s, t_s - self.exposure_s))
        trail = math.hypot(x - xp, y - yp)
        if trail > 0.6 * self.size_px:
            _draw_streak(frame, (xp, yp), (x, y), self.size_px, self.color_bgr)
        else:
            angle = 360.0 * self.spin_hz * max(0.0, t_s - self.onset_s)
            _draw_shape(frame, (x, y), self.size_px, self.shape, angle, self.color_bgr)


_SHIFT = 3  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def _fixed(point: PointPx) -> tuple[int, int]:
    return round(point[0] * _ONE), round(point[1] * _ONE)


def _draw_shape(
    frame: np.ndarray, center: PointPx, size: float, shape: str, angle: float, color: BGR
) -> None:
    if shape == "disc":
        cv2.circle(frame, _fixed(center), round(size / 2 * _ONE), color, -1, cv2.LINE_AA, _SHIFT)
        return
    dims = (size, size) if shape == "box" else (size, max(1.5, size / 3))
    corners = cv2.boxPoints((center, dims, angle))
    points = np.round(corners * _ONE).astype(np.int32)
    cv2.fillConvexPoly(frame, points, color, cv2.LINE_AA, _SHIFT)


def _draw_streak(frame: np.ndarray, p0: PointPx, p1: PointPx, size: float, color: BGR) -> None:
    """A motion-blurred object: a line as thick as the object, blended by its exposure share."""
    h, w = frame.shape[:2]
    pad = int(size) + 3
    x1 = max(0, int(min(p0[0], p1[0])) - pad)
    y1 = max(0, int(min(p0[1], p1[1])) - pad)
    x2 = min(w, int(max(p0[0], p1[0])) + pad + 1)
    y2 = min(h, int(max(p0[1], p1[1])) + pad + 1)
    if x2 <= x1 or y2 <= y1:
        return
    roi = frame[y1:y2, x1:x2]
    layer = roi.copy()
    a = _fixed((p0[0] - x1, p0[1] - y1))
    b = _fixed((p1[0] - x1, p1[1] - y1))
    cv2.line(layer, a, b, color, max(1, round(size)), cv2.LINE_AA, _SHIFT)
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    opacity = min(1.0, max(0.6, 1.6 * size / (size + length)))
    cv2.addWeighted(layer, opacity, roi, 1.0 - opacity, 0.0, dst=roi)


@dataclass(eq=False)
class Bird:
    """A small dark bird crossing the frame at constant velocity, flapping or gliding."""

    start_px: PointPx
    velocity_px_s: tuple[float, float]
    t0_s: float
    t1_s: float
    body_px: float
    wing_hz: float  # 0: gliding, wings held still
    bob_px: float
    color_bgr: BGR = (40, 44, 48)

    def position(self, t_s: float) -> PointPx:
        tau = t_s - self.t0_s
        bob = self.bob_px * math.sin(2 * math.pi * 0.9 * tau)
        return (
            self.start_px[0] + self.velocity_px_s[0] * tau,
            self.start_px[1] + self.velocity_px_s[1] * tau + bob,
        )

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        if not self.t0_s <= t_s < self.t1_s:
            return
        x, y = self.position(t_s)
        span = 1.7 * self.body_px
        if self.wing_hz > 0:
            lift = -0.7 * span * math.sin(2 * math.pi * self.wing_hz * (t_s - self.t0_s))
        else:
            lift = -0.15 * span
        axes = (round(self.body_px / 2 * _ONE), round(self.body_px / 4 * _ONE))
        cv2.ellipse(frame, _fixed((x, y)), axes, 0, 0, 360, self.color_bgr, -1, cv2.LINE_AA, _SHIFT)
        thickness = 2 if self.body_px >= 6 else 1
        for side in (-1, 1):
            tip = (x + side * span, y + lift)
            mid = (x + side * span * 0.5, y + lift * 0.3 - 1)
            for p, q in (((x, y), mid), (mid, tip)):
                cv2.line(
                    frame, _fixed(p), _fixed(q), self.color_bgr, thickness, cv2.LINE_AA, _SHIFT
                )


@dataclass(eq=False)
class ArcBird(Bird):
    """A bird gliding at constant speed along a circular arc (wings still).

    Turning into a dive, its downward speed grows while its sideways speed shrinks (in y alone
    that looks like a fall's acceleration, but its speed never grows); pulling out of a dive, its
    downward speed shrinks. Position: ``center + radius·(cos a, sin a)``, ``a = angle0 +
    rate·(t - t0)`` (image axes, y down).
    """

    center_px: PointPx = (0.0, 0.0)
    radius_px: float = 150.0
    angle0_rad: float = 0.0
    rate_rad_s: float = 1.0

    def position(self, t_s: float) -> PointPx:
        a = self.angle0_rad + self.rate_rad_s * (t_s - self.t0_s)
        return (
            self.center_px[0] + self.radius_px * math.cos(a),
            self.center_px[1] + self.radius_px * math.sin(a),
        )


@dataclass(eq=False)
class Foliage:
    """Leaves at the frame edge swaying in place: layers that oscillate with their own phase."""

    layers: list[Sprite]
    anchor_px: PointPx
    amplitude_px: float
    freq_hz: float
    phases: list[float]

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        w = 2 * math.pi * self.freq_hz * t_s
        for layer, phase in zip(self.layers, self.phases, strict=True):
            dx = self.amplitude_px * (math.sin(w + phase) + 0.35 * math.sin(2.7 * w + 2 * phase))
            dy = 0.3 * self.amplitude_px * math.sin(1.3 * w + phase)
            layer.paste(frame, self.anchor_px[0] + dx, self.anchor_px[1] + dy)


@dataclass(eq=False)
class WindowFlicker:
    """Window lights switching on and off (``toggle``) or a failing tube flickering fast."""

    rects: list[tuple[int, int, int, int]]
    periods_s: list[float]
    phases_s: list[float]
    colors: list[BGR]
    fluorescent: bool = False

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        for rect, period, phase, color in zip(
            self.rects, self.periods_s, self.phases_s, self.colors, strict=True
        ):
            on = ((t_s + phase) % period) < 0.5 * period
            if self.fluorescent:
                on = on and (int(t_s * 9.0 + phase * 7) % 3 != 0)
            if on:
                blend_rect(frame, rect, color, 0.85)


@dataclass(eq=False)
class Cradle:
    """A window-cleaning cradle on two cables, descending at constant speed."""

    x_center_px: float
    width_px: int
    y_start_px: float
    speed_px_s: float
    t0_s: float

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        y = self.y_start_px + self.speed_px_s * max(0.0, t_s - self.t0_s)
        x1 = round(self.x_center_px - self.width_px / 2)
        x2 = x1 + self.width_px
        yi = round(y)
        for xc in (x1 + 4, x2 - 4):
            cv2.line(frame, (xc, 0), (xc, yi - 8), (60, 60, 62), 1, cv2.LINE_AA)
        draw_rect(frame, (x1 + 8, yi - 14, x1 + 14, yi - 2), (40, 60, 90))  # worker
        draw_rect(frame, (x1, yi - 8, x2, yi - 6), (170, 172, 174))  # rail
        draw_rect(frame, (x1, yi - 2, x2, yi + 8), (150, 154, 158))  # platform
        draw_rect(frame, (x1, yi + 8, x2, yi + 10), (90, 92, 96))


@dataclass(eq=False)
class Rain:
    """Many thin bright streaks falling fast over the whole frame from ``t0_s`` to ``t1_s``."""

    t0_s: float
    t1_s: float
    starts_px: np.ndarray  # (n, 2)
    velocity_px_s: np.ndarray  # (n, 2)
    length_px: np.ndarray  # (n,)
    level: int

    def apply(self, frame: np.ndarray, t_s: float) -> np.ndarray:
        if not self.t0_s <= t_s < self.t1_s:
            return frame
        h, w = frame.shape[:2]
        pos = self.starts_px + self.velocity_px_s * t_s
        pos[:, 0] = np.mod(pos[:, 0], w + 40) - 20
        pos[:, 1] = np.mod(pos[:, 1], h + 40) - 20
        speed = np.linalg.norm(self.velocity_px_s, axis=1, keepdims=True)
        tail = pos - self.velocity_px_s / speed * self.length_px[:, None]
        segments = np.stack([pos, tail], axis=1).round().astype(np.int32)
        layer = np.zeros((h, w), np.uint8)
        cv2.polylines(layer, list(segments), False, self.level, 1, cv2.LINE_AA)
        return cv2.add(frame, cv2.merge([layer, layer, layer]))


@dataclass(eq=False)
class Shake:
    """The whole image shifted by a few pixels, differently in each frame, for a short while."""

    t0_s: float
    t1_s: float
    offsets_px: list[tuple[int, int]] = field(default_factory=list)

    def apply(self, frame: np.ndarray, t_s: float) -> np.ndarray:
        if not self.t0_s <= t_s < self.t1_s or not self.offsets_px:
            return frame
        dx, dy = self.offsets_px[int((t_s - self.t0_s) * FPS) % len(self.offsets_px)]
        h, w = frame.shape[:2]
        matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        return cv2.warpAffine(frame, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


# --- distractor factories ------------------------------------------------------------------


def leaf_cluster(rng: np.random.Generator, width_px: int, height_px: int) -> Sprite:
    """A clump of leaves on a twig, as a sprite with a ragged alpha."""
    image = np.zeros((height_px, width_px, 3), np.uint8)
    alpha = np.zeros((height_px, width_px), np.float32)
    cv2.line(image, (0, height_px // 2), (width_px * 2 // 3, height_px // 3), (40, 60, 80), 3)
    cv2.line(alpha, (0, height_px // 2), (width_px * 2 // 3, height_px // 3), 1.0, 3)
    for _ in range(int(width_px * height_px / 60)):
        cx = float(np.clip(rng.normal(width_px * 0.45, width_px * 0.22), 3, width_px - 4))
        cy = float(np.clip(rng.normal(height_px * 0.5, height_px * 0.24), 3, height_px - 4))
        axes = (int(rng.integers(3, 8)), int(rng.integers(2, 4)))
        angle = float(rng.uniform(0, 180))
        color = (int(rng.integers(25, 70)), int(rng.integers(90, 170)), int(rng.integers(30, 80)))
        center = (round(cx), round(cy))
        cv2.ellipse(image, center, axes, angle, 0, 360, color, -1, cv2.LINE_AA)
        cv2.ellipse(alpha, center, axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), 0.7), np.float32)
    box = (0, 0, width_px, height_px)
    return Sprite("foliage", "foliage", image, alpha, MaskStyle.FEATHER, box)


def make_bird(rng: np.random.Generator, kind: str, t0_s: float) -> Bird:
    """A bird of ``kind`` ``horizontal``, ``upward`` or ``glide_down`` entering at ``t0_s``."""
    w, h = WIDTH_PX, HEIGHT_PX
    direction = 1.0 if rng.random() < 0.5 else -1.0
    x0 = -15.0 if direction > 0 else w + 15.0
    body = float(rng.uniform(5, 9))
    if kind == "horizontal":
        vx, vy = direction * rng.uniform(90, 220), rng.uniform(-8, 8)
        y0, wing_hz, bob = rng.uniform(0.1 * h, 0.8 * h), rng.uniform(4, 8), rng.uniform(2, 5)
    elif kind == "upward":
        vx, vy = direction * rng.uniform(40, 150), -rng.uniform(50, 120)
        y0, wing_hz, bob = rng.uniform(0.6 * h, 0.95 * h), rng.uniform(5, 9), rng.uniform(1, 3)
    elif kind == "glide_down":
        vx, vy = direction * rng.uniform(60, 130), rng.uniform(20, 45)
        y0, wing_hz, bob = rng.uniform(0.05 * h, 0.4 * h), 0.0, 0.0
    else:
        raise ScenarioError(f"unknown bird kind {kind!r}")
    crossing_s = (w + 30) / abs(vx)
    if vy < 0:
        crossing_s = min(crossing_s, (y0 + 20) / -vy)
    elif vy > 0:
        crossing_s = min(crossing_s, (h + 20 - y0) / vy)
    return Bird(
        (x0, float(y0)),
        (float(vx), float(vy)),
        t0_s,
        t0_s + crossing_s,
        body,
        float(wing_hz),
        float(bob),
    )


def make_foliage(rng: np.random.Generator, side: str) -> Foliage:
    """Foliage swaying in place at the ``left`` or ``right`` edge."""
    width, height = int(rng.integers(90, 130)), int(rng.integers(110, 160))
    layers = [leaf_cluster(rng, width, height) for _ in range(2)]
    if side == "right":
        layers = [layer.mirrored() for layer in layers]
        x = WIDTH_PX - float(rng.uniform(10, 35))
    else:
        x = float(rng.uniform(10, 35))
    y = float(rng.uniform(0.35 * HEIGHT_PX, 0.95 * HEIGHT_PX))
    phases = [float(rng.uniform(0, 2 * math.pi)) for _ in layers]
    return Foliage(layers, (x, y), float(rng.uniform(3, 8)), float(rng.uniform(0.3, 1.2)), phases)


def make_flicker(
    rng: np.random.Generator, geom: FacadeGeometry, fluorescent: bool
) -> WindowFlicker:
    """3-6 windows whose lights toggle (or flicker fast) all through the clip."""
    count = int(rng.integers(3, 7))
    cells = rng.choice(geom.visible_floors * geom.columns, size=count, replace=False)
    rects = [geom.window_rect(int(c) // geom.columns, int(c) % geom.columns) for c in cells]
    periods = [float(rng.uniform(0.4, 2.5)) for _ in rects]
    phases = [float(rng.uniform(0, 2.5)) for _ in rects]
    colors = [jitter_color(rng, (120, 205, 240), 15) for _ in rects]
    return WindowFlicker(rects, periods, phases, colors, fluorescent)


def make_rain(rng: np.random.Generator, t0_s: float, duration_s: float) -> Rain:
    """A rain shower of 150-300 streaks at 500-900 px/s."""
    n = int(rng.integers(150, 300))
    starts = rng.uniform((0, 0), (WIDTH_PX, HEIGHT_PX), size=(n, 2))
    velocity = np.stack([rng.uniform(20, 90, n), rng.uniform(500, 900, n)], axis=1)
    length = rng.uniform(8, 22, n)
    return Rain(t0_s, t0_s + duration_s, starts, velocity, length, int(rng.integers(50, 90)))


def make_shake(rng: np.random.Generator, t0_s: float) -> Shake:
    """About 0.5 s of camera shake, 2-6 px each way."""
    duration = float(rng.uniform(0.4, 0.7))
    offsets: list[tuple[int, int]] = []
    amplitude = int(rng.integers(2, 7))
    for _ in range(int(duration * FPS) + 1):
        dx, dy = 0, 0
        while dx == 0 and dy == 0:
            dx, dy = (int(v) for v in rng.integers(-amplitude, amplitude + 1, size=2))
        offsets.append((dx, dy))
    return Shake(t0_s, t0_s + duration, offsets)


def make_cradle(rng: np.random.Generator) -> Cradle:
    """A cradle entering near the top and descending at 8-20 px/s."""
    x = float(rng.uniform(0.2 * WIDTH_PX, 0.8 * WIDTH_PX))
    return Cradle(
        x, int(rng.integers(44, 70)), float(rng.uniform(20, 80)), float(rng.uniform(8, 20)), 0.0
    )


# --- clip plans ----------------------------------------------------------------------------


def camera_config(geom: FacadeGeometry) -> dict[str, object]:
    """The facade camera's entry of ``configs/facade.yaml``."""
    return {
        "name": "Synthetic facade, looking up",
        "motion": {"fps": MOTION_FPS, "width": 480},
        "zones": {ZONE_ID: {"polygon": [list(p) for p in FACADE_POLYGON_NORM]}},
        "floors": {
            "count": geom.floor_count,
            "lowest_visible_floor": geom.lowest_visible_floor,
            "lines": list(geom.lines_norm),
        },
        "hazards": [
            {"kind": "falling_object", "zone": ZONE_ID, "min_drop_floors": MIN_DROP_FLOORS}
        ],
    }


@dataclass(frozen=True, slots=True)
class FallSpec:
    """What varies between positive clips; chosen by index so that the suite covers them all."""

    throw: str
    size_px: int
    color_name: str
    color_bgr: BGR
    shape: str
    band: int
    distractor: str | None


def fall_spec(index: int, geom: FacadeGeometry) -> FallSpec:
    """The spec of positive clip ``index`` (0-based): throws, sizes, colours, shapes and start
    floors cycle with co-prime periods; every fourth clip also has a distractor."""
    color_name, color = OBJECT_COLORS[index % len(OBJECT_COLORS)]
    start_bands = geom.visible_floors - 3  # at least 3 floors below the start
    distractors = ("bird", "foliage", "flicker", "cradle", "bird")
    return FallSpec(
        throw=THROWS[index % len(THROWS)],
        size_px=OBJECT_SIZES_PX[index % len(OBJECT_SIZES_PX)],
        color_name=color_name,
        color_bgr=color,
        shape=OBJECT_SHAPES[(index // 2) % len(OBJECT_SHAPES)],
        band=(index * 4) % start_bands,
        distractor=distractors[(index // 4) % len(distractors)] if index % 4 == 3 else None,
    )


def make_fall(
    rng: np.random.Generator,
    geom: FacadeGeometry,
    spec: FallSpec,
    onset_s: float,
    accel_px_s2: tuple[float, float] = (80.0, 320.0),
) -> FallingObject:
    """A falling object of ``spec`` leaving a window of its band at ``onset_s``, accelerating
    at a value drawn from ``accel_px_s2``.

    Raises:
        ScenarioError: if the apex would leave the start floor's band (a generator bug).
    """
    column = int(rng.integers(0, geom.columns))
    x0, y0 = geom.sill_px(spec.band, column)
    x0 += float(rng.uniform(-4, 4))
    accel = float(rng.uniform(*accel_px_s2))
    band_top, _ = geom.band_px(spec.band)
    if spec.throw == "drop":
        vx, vy = float(rng.uniform(-12, 12)), float(rng.uniform(0, 15))
    elif spec.throw == "sideways":
        direction = 1.0 if x0 < geom.width_px / 2 else -1.0
        vx, vy = direction * float(rng.uniform(40, 130)), float(rng.uniform(-15, 10))
    else:
        rise = float(rng.uniform(0.3, 0.55)) * (y0 - band_top)
        vx, vy = float(rng.uniform(-40, 40)), -math.sqrt(2 * accel * rise)
    appear = onset_s
    if spec.throw == "drop" and rng.random() < 0.5:
        appear = onset_s - float(rng.uniform(0.5, 1.2))  # sat on the sill before it fell
    spin = 0.0 if spec.shape == "disc" else float(rng.uniform(0.5, 3.0))
    obj = FallingObject(
        (x0, y0),
        onset_s,
        appear,
        (vx, vy),
        accel,
        float(spec.size_px),
        spec.color_bgr,
        spec.shape,
        spin,
    )
    fall_s = obj.time_at_y(geom.height_px + spec.size_px + 2) - onset_s
    x_end = x0 + vx * fall_s
    lo, hi = 0.06 * geom.width_px, 0.94 * geom.width_px
    if not lo <= x_end <= hi:  # keep it in the frame: aim at the nearer limit instead
        vx = (min(hi, max(lo, x_end)) - x0) / fall_s
        obj.velocity_px_s = (vx, vy)
    if geom.floor_at_y(obj.apex_y_px()) != geom.floor_of_band(spec.band):
        raise ScenarioError(f"apex of {spec} left band {spec.band}: generator bug")
    return obj


def _bird_clear_of(
    rng: np.random.Generator, kind: str, obj: FallingObject, window_s: tuple[float, float]
) -> Bird:
    """A bird whose path stays at least 40 px from the falling object while both are seen."""
    t_lo, t_hi = obj.onset_s - 0.5, obj.time_at_y(HEIGHT_PX + 20)
    bird = make_bird(rng, kind, float(rng.uniform(*window_s)))
    for _ in range(40):
        times = np.arange(max(t_lo, bird.t0_s), min(t_hi, bird.t1_s), 1.0 / FPS)
        if all(math.dist(bird.position(float(t)), obj.position(float(t))) >= 40.0 for t in times):
            return bird
        bird = make_bird(rng, kind, float(rng.uniform(*window_s)))
    return make_bird(rng, kind, t_hi + 0.2)  # fly by after the object has gone


def _distractor_for(
    rng: np.random.Generator, kind: str, geom: FacadeGeometry, obj: FallingObject
) -> Actor:
    if kind == "bird":
        return _bird_clear_of(rng, "horizontal", obj, (0.0, 4.0))
    if kind == "foliage":
        return make_foliage(rng, "right" if obj.start_px[0] < WIDTH_PX / 2 else "left")
    if kind == "flicker":
        return make_flicker(rng, geom, fluorescent=False)
    if kind == "cradle":
        cradle = make_cradle(rng)
        side = 0.8 if obj.start_px[0] < WIDTH_PX / 2 else 0.2
        cradle.x_center_px = side * WIDTH_PX
        return cradle
    raise ScenarioError(f"unknown distractor {kind!r}")


def positive_plan(
    rng: np.random.Generator,
    geom: FacadeGeometry,
    image: np.ndarray,
    index: int,
    *,
    second_object: bool = False,
) -> ClipPlan:
    """Positive clip ``index``: one object (two with ``second_object``) falls from a window."""
    spec = fall_spec(index, geom)
    onset = float(rng.uniform(1.0, 2.5))
    objects = [make_fall(rng, geom, spec, onset)]
    specs = [spec]
    if second_object:
        other = fall_spec(index + 5, geom)
        onset2 = objects[0].time_at_y(HEIGHT_PX + 20) + float(rng.uniform(0.8, 1.5))
        specs.append(other)
        objects.append(make_fall(rng, geom, other, onset2))
    actors: list[Actor] = list(objects)
    tags = ["falling_object", "positive", spec.throw, f"size_{spec.size_px}px", spec.color_name]
    if second_object:
        tags.append("two_objects")
    if spec.distractor is not None:
        actors.insert(0, _distractor_for(rng, spec.distractor, geom, objects[0]))
        tags.append(f"with_{spec.distractor}")
    end = max(obj.time_at_y(HEIGHT_PX + obj.size_px + 2) for obj in objects)
    duration = max(5.0, math.ceil((end + 1.5) * 2) / 2)
    expected = tuple(
        ExpectedHazard(
            HazardKind.FALLING_OBJECT,
            ZONE_ID,
            obj.onset_s,
            MAX_LATENCY_S,
            origin_floor=geom.floor_of_band(s.band),
        )
        for obj, s in zip(objects, specs, strict=True)
    )
    clip_id = f"facade_fall_{index + 1:02d}_{spec.throw}"
    return ClipPlan(
        label=_label(clip_id, tags, expected),
        scene=SceneKind.FACADE,
        duration_s=duration,
        background=image,
        actors=actors,
        noise_sigma=2.0,
        noise_seed=int(rng.integers(2**31)),
        notes={
            "objects": [
                {**_object_notes(obj), "shape": obj.shape, "color": s.color_name}
                for obj, s in zip(objects, specs, strict=True)
            ]
        },
    )


NEGATIVE_KINDS = (
    "bird_horizontal",
    "bird_upward",
    "bird_glide_down",
    "birds_mixed",
    "foliage_left",
    "foliage_right",
    "flicker_toggle",
    "flicker_fluorescent",
    "rain_short",
    "rain_long",
    "shake_once",
    "shake_twice",
    "cradle",
)


def negative_plan(
    rng: np.random.Generator, geom: FacadeGeometry, image: np.ndarray, kind: str
) -> ClipPlan:
    """A distractor-only clip of ``kind`` (one of :data:`NEGATIVE_KINDS`), 8 s long."""
    duration = 8.0
    actors: list[Actor] = []
    effects: list[Effect] = []
    if kind.startswith("bird"):
        kinds = {
            "bird_horizontal": ["horizontal"] * 3,
            "bird_upward": ["upward"] * 3,
            "bird_glide_down": ["glide_down"] * 2,
            "birds_mixed": ["horizontal", "glide_down", "upward"],
        }[kind]
        for k, bird_kind in enumerate(kinds):
            actors.append(make_bird(rng, bird_kind, 0.3 + 2.4 * k + float(rng.uniform(0, 0.8))))
    elif kind.startswith("foliage"):
        actors.append(make_foliage(rng, kind.split("_")[1]))
        actors.append(make_foliage(rng, kind.split("_")[1]))
    elif kind.startswith("flicker"):
        actors.append(make_flicker(rng, geom, fluorescent=kind.endswith("fluorescent")))
    elif kind.startswith("rain"):
        length = float(rng.uniform(2.0, 3.0) if kind == "rain_short" else rng.uniform(4.0, 5.5))
        effects.append(make_rain(rng, float(rng.uniform(1.0, 2.0)), length))
    elif kind.startswith("shake"):
        effects.append(make_shake(rng, float(rng.uniform(2.0, 3.0))))
        if kind == "shake_twice":
            effects.append(make_shake(rng, float(rng.uniform(5.0, 6.5))))
    elif kind == "cradle":
        actors.append(make_cradle(rng))
    else:
        raise ScenarioError(f"unknown facade negative {kind!r}")
    family = kind.split("_")[0].rstrip("s")
    tags = ["falling_object", "negative", "distractor", family]
    return ClipPlan(
        label=_label(f"facade_neg_{kind}", tags, ()),
        scene=SceneKind.FACADE,
        duration_s=duration,
        background=image,
        actors=actors,
        effects=effects,
        noise_sigma=2.0,
        noise_seed=int(rng.integers(2**31)),
        notes={"distractor": kind},
    )


def _object_notes(obj: FallingObject) -> dict[str, Any]:
    """A falling object's launch, as the suite manifest records it."""
    return {
        "start_px": [round(v, 1) for v in obj.start_px],
        "velocity_px_s": [round(v, 1) for v in obj.velocity_px_s],
        "accel_px_s2": round(obj.accel_px_s2, 1),
        "size_px": obj.size_px,
    }


def _label(clip_id: str, tags: list[str], expected: tuple[ExpectedHazard, ...]) -> ClipLabel:
    return ClipLabel(
        clip_id=clip_id,
        video=f"clips/{clip_id}.mp4",
        config=CONFIG,
        camera=CAMERA_ID,
        tags=tuple(tags),
        expected=expected,
    )


# --- issue 9 variants: real stream timing, birds under combined clutter, a throw in rain -------

# variant -> schedule maker; each makes two positives: a fast drop from the upper third (like the
# real facade camera's 0.6 s fall) and a throw at the suite's usual accelerations.
TIMING_VARIANTS = ("repeat_every_3rd", "near_repeat", "lost_repeated", "vfr_gaps", "jittered")
FAST_ACCEL_PX_S2 = (700.0, 1100.0)  # 0.6-0.8 s from the upper third to the bottom of 360 px
CLUTTER_BIRD_KINDS = ("glide", "arc")


def _schedule(variant: str, duration_s: float, rng: np.random.Generator) -> FrameSchedule:
    if variant == "repeat_every_3rd":
        return remux(duration_s, 20, 30, near_repeat=False)
    if variant == "near_repeat":
        return remux(duration_s, 20, 30, near_repeat=True)
    if variant == "lost_repeated":
        return lost_and_repeated(duration_s, FPS, rng, rate=0.1, longest=3)
    if variant == "vfr_gaps":
        return vfr_gaps(duration_s, FPS, rng, rate=0.1, longest=3)
    if variant == "jittered":
        return jittered(duration_s, FPS, rng, jitter=0.4)
    raise ScenarioError(f"unknown timing variant {variant!r} (known: {TIMING_VARIANTS})")


def timing_plan(
    rng: np.random.Generator, geom: FacadeGeometry, image: np.ndarray, variant: str, fast: bool
) -> ClipPlan:
    """One object falls, seen through a stream of ``variant`` timing (:mod:`.timing`).

    ``fast``: dropped from a window of the upper third at 700-1100 px/s² (about 0.7 s to the
    bottom, as the real facade camera's fall); else a sideways throw from the middle floors at the
    suite's usual 80-320 px/s².
    """
    if fast:
        spec = FallSpec(
            "drop", 6, "light", OBJECT_COLORS[0][1], "box", int(rng.integers(1, 4)), None
        )
        accel = FAST_ACCEL_PX_S2
    else:
        spec = FallSpec(
            "sideways", 5, "dark", OBJECT_COLORS[1][1], "disc", int(rng.integers(3, 6)), None
        )
        accel = (80.0, 320.0)
    onset = float(rng.uniform(1.5, 2.5))
    obj = make_fall(rng, geom, spec, onset, accel)
    end = obj.time_at_y(HEIGHT_PX + obj.size_px + 2)
    duration = max(5.0, math.ceil((end + 1.5) * 2) / 2)
    schedule = _schedule(variant, duration, rng)
    expected = (
        ExpectedHazard(
            HazardKind.FALLING_OBJECT,
            ZONE_ID,
            obj.onset_s,
            MAX_LATENCY_S,
            origin_floor=geom.floor_of_band(spec.band),
        ),
    )
    speed = "fast_drop" if fast else "throw"
    clip_id = f"facade_timing_{variant}_{speed}"
    tags = ["falling_object", "positive", "timing", variant, spec.throw]
    return ClipPlan(
        label=_label(clip_id, tags, expected),
        scene=SceneKind.FACADE,
        duration_s=duration,
        background=image,
        actors=[obj],
        noise_sigma=2.0,
        noise_seed=int(rng.integers(2**31)),
        notes={
            "objects": [_object_notes(obj)],
            **schedule.notes(),
        },
        schedule=schedule,
    )


def make_glider(rng: np.random.Generator, t0_s: float) -> Bird:
    """A bird gliding down a straight line at constant speed (100-220 px/s, 20-60° down)."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    speed = float(rng.uniform(100, 220))
    angle = math.radians(float(rng.uniform(20, 60)))
    vx, vy = direction * speed * math.cos(angle), speed * math.sin(angle)
    x0 = float(rng.uniform(0.15, 0.45) * WIDTH_PX)
    if direction < 0:
        x0 = WIDTH_PX - x0
    y0 = float(rng.uniform(0.05, 0.3) * HEIGHT_PX)
    duration = min((HEIGHT_PX + 20 - y0) / vy, 3.0)
    return Bird((x0, y0), (vx, vy), t0_s, t0_s + duration, float(rng.uniform(5, 8)), 0.0, 0.0)


def make_arc_bird(rng: np.random.Generator, t0_s: float, dive: bool) -> ArcBird:
    """A bird on a circular arc at constant speed (120-220 px/s, radius 110-200 px): turning from
    level flight into a dive (``dive``), or pulling out of a dive into level flight."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    speed = float(rng.uniform(120, 220))
    radius = float(rng.uniform(110, 200))
    rate = speed / radius
    sweep = math.radians(float(rng.uniform(70, 85)))
    if dive:  # from the top of the circle (moving sideways) towards its side (moving down)
        a0, a1 = -math.pi / 2, -math.pi / 2 + sweep
        cy = float(rng.uniform(0.08, 0.3) * HEIGHT_PX) + radius
    else:  # from the side of the circle (moving down) towards its bottom (moving sideways)
        a0, a1 = math.pi, math.pi - sweep
        cy = float(rng.uniform(0.1, 0.35) * HEIGHT_PX)
    cx = float(rng.uniform(0.3, 0.5) * WIDTH_PX)
    bird = ArcBird(
        (0.0, 0.0),
        (0.0, 0.0),
        t0_s,
        t0_s + sweep / rate,
        float(rng.uniform(5, 8)),
        0.0,
        0.0,
        center_px=(cx, cy),
        radius_px=radius,
        angle0_rad=a0,
        rate_rad_s=rate if a1 > a0 else -rate,
    )
    if direction < 0:  # mirrored: same arc flown the other way round
        bird.center_px = (WIDTH_PX - cx, cy)
        bird.angle0_rad = math.pi - a0
        bird.rate_rad_s = -bird.rate_rad_s
    return bird


def clutter_plan(
    rng: np.random.Generator, geom: FacadeGeometry, image: np.ndarray, birds: str
) -> ClipPlan:
    """30 s of combined clutter (foliage at one side, flickering windows, two rain showers, two
    camera shakes) with birds gliding straight down (``glide``) or arcing (``arc``) at constant
    speed all through it: a negative."""
    if birds not in CLUTTER_BIRD_KINDS:
        raise ScenarioError(f"unknown clutter birds {birds!r} (known: {CLUTTER_BIRD_KINDS})")
    duration = 30.0
    actors: list[Actor] = [
        make_foliage(rng, "left" if rng.random() < 0.5 else "right"),
        make_flicker(rng, geom, fluorescent=False),
    ]
    for k in range(8):
        t0 = 1.0 + 3.5 * k + float(rng.uniform(0, 1.5))
        if birds == "glide":
            actors.append(make_glider(rng, t0))
        else:
            actors.append(make_arc_bird(rng, t0, dive=k % 2 == 0))
    effects: list[Effect] = [
        make_rain(rng, float(rng.uniform(4.0, 6.0)), float(rng.uniform(3.0, 4.0))),
        make_rain(rng, float(rng.uniform(17.0, 19.0)), float(rng.uniform(3.0, 4.0))),
        make_shake(rng, float(rng.uniform(9.0, 11.0))),
        make_shake(rng, float(rng.uniform(23.0, 25.0))),
    ]
    clip_id = f"facade_neg_clutter_birds_{birds}"
    tags = ["falling_object", "negative", "distractor", "bird", "clutter", birds]
    return ClipPlan(
        label=_label(clip_id, tags, ()),
        scene=SceneKind.FACADE,
        duration_s=duration,
        background=image,
        actors=actors,
        effects=effects,
        noise_sigma=2.0,
        noise_seed=int(rng.integers(2**31)),
        notes={"distractor": f"clutter with birds {birds}"},
    )


def make_heavy_rain(rng: np.random.Generator, t0_s: float, duration_s: float) -> Rain:
    """Heavy rain: 28-40 bright streaks at 500-900 px/s, so many blobs that some frames are
    crowded and a falling object's track breaks into pieces."""
    n = int(rng.integers(28, 40))
    starts = rng.uniform((0, 0), (WIDTH_PX, HEIGHT_PX), size=(n, 2))
    velocity = np.stack([rng.uniform(20, 90, n), rng.uniform(500, 900, n)], axis=1)
    length = rng.uniform(10, 26, n)
    return Rain(t0_s, t0_s + duration_s, starts, velocity, length, int(rng.integers(70, 100)))


def rain_throw_plan(rng: np.random.Generator, geom: FacadeGeometry, image: np.ndarray) -> ClipPlan:
    """One object thrown sideways from the upper floors while heavy rain falls all through the
    clip: one expected event (not one per fragment of its track)."""
    spec = FallSpec(
        "sideways", 8, "light", OBJECT_COLORS[0][1], "box", int(rng.integers(0, 3)), None
    )
    onset = float(rng.uniform(2.0, 3.0))
    obj = make_fall(rng, geom, spec, onset, (150.0, 300.0))
    end = obj.time_at_y(HEIGHT_PX + obj.size_px + 2)
    duration = max(6.0, math.ceil((end + 2.0) * 2) / 2)
    expected = (
        ExpectedHazard(
            HazardKind.FALLING_OBJECT,
            ZONE_ID,
            obj.onset_s,
            MAX_LATENCY_S,
            origin_floor=geom.floor_of_band(spec.band),
        ),
    )
    tags = ["falling_object", "positive", "sideways", "with_rain", "heavy_rain"]
    return ClipPlan(
        label=_label("facade_fall_heavy_rain_throw", tags, expected),
        scene=SceneKind.FACADE,
        duration_s=duration,
        background=image,
        actors=[obj],
        effects=[make_heavy_rain(rng, 0.0, duration)],
        noise_sigma=2.0,
        noise_seed=int(rng.integers(2**31)),
        notes={"objects": [_object_notes(obj)]},
    )
