"""Actors shared by the ground-level scenes: a sprite that follows a path."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmarks.scenarios.paths import Path, PointPx
from benchmarks.scenarios.sprites import BoxPx, Sprite


@dataclass(frozen=True, slots=True)
class Perspective:
    """Apparent size by image row: ``scale_far`` at ``y_far_px``, ``scale_near`` at
    ``y_near_px`` (the bottom of the object), linear in between and clamped outside."""

    y_far_px: float
    scale_far: float
    y_near_px: float
    scale_near: float = 1.0

    def scale_at(self, y_bottom_px: float) -> float:
        u = (y_bottom_px - self.y_far_px) / (self.y_near_px - self.y_far_px)
        u = min(1.0, max(0.0, u))
        return self.scale_far + (self.scale_near - self.scale_far) * u


@dataclass(eq=False)
class SpriteActor:
    """A sprite whose bottom centre follows ``path``, optionally scaled by perspective.

    Attributes:
        sprite: at its nominal size (scale 1).
        path: bottom-centre positions over time; not drawn while the path does not exist.
        perspective: size by image row, or None for a constant size.
    """

    sprite: Sprite
    path: Path
    perspective: Perspective | None = None
    _sizes: dict[int, Sprite] = field(default_factory=dict, repr=False)

    def sprite_at(self, y_bottom_px: float) -> Sprite:
        """The sprite at the size it has with its bottom at ``y_bottom_px``."""
        if self.perspective is None:
            return self.sprite
        height = max(4, round(self.sprite.height_px * self.perspective.scale_at(y_bottom_px)))
        if height == self.sprite.height_px:
            return self.sprite
        cached = self._sizes.get(height)
        if cached is None:
            cached = self.sprite.resized(height)
            self._sizes[height] = cached
        return cached

    def box_at(self, t_s: float, width_px: int, height_px: int) -> BoxPx | None:
        """Visible pixel box at ``t_s`` (clipped to the frame), or None when not visible."""
        point = self.path.at(t_s)
        if point is None:
            return None
        x1, y1, x2, y2 = self.sprite_at(point[1]).box_at(*point)
        cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(width_px, x2), min(height_px, y2)
        if cx2 <= cx1 or cy2 <= cy1:
            return None
        return cx1, cy1, cx2, cy2

    def anchor_at(self, t_s: float, width_px: int, height_px: int) -> PointPx | None:
        """Bottom centre of the visible box at ``t_s`` (what a detector-based zone test uses)."""
        box = self.box_at(t_s, width_px, height_px)
        if box is None:
            return None
        return (box[0] + box[2]) / 2.0, float(box[3])

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        point = self.path.at(t_s)
        if point is None:
            return
        self.sprite_at(point[1]).paste(frame, *point)
