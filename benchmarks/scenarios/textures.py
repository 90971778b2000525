"""Procedural textures for the synthetic backgrounds: smooth noise, grain, tiles, panels."""

from __future__ import annotations

import cv2
import numpy as np

BGR = tuple[int, int, int]


def smooth_noise(
    rng: np.random.Generator, height_px: int, width_px: int, cell_px: float
) -> np.ndarray:
    """float32 (H, W) noise in about -1..1 varying over ``cell_px`` pixels (bicubic grid)."""
    gh = max(2, int(height_px / cell_px) + 2)
    gw = max(2, int(width_px / cell_px) + 2)
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (width_px, height_px), interpolation=cv2.INTER_CUBIC)


def textured_fill(
    rng: np.random.Generator,
    height_px: int,
    width_px: int,
    base_bgr: BGR,
    *,
    coarse: float = 10.0,
    fine: float = 5.0,
    cell_px: float = 24.0,
) -> np.ndarray:
    """uint8 (H, W, 3) area of colour ``base_bgr`` with low-frequency blotches and fine grain.

    Args:
        rng: random generator.
        height_px: height.
        width_px: width.
        base_bgr: mean colour.
        coarse: amplitude in levels of the blotches (shared by the channels: luminance).
        fine: standard deviation in levels of the per-pixel grain.
        cell_px: size of the blotches.
    """
    lum = coarse * smooth_noise(rng, height_px, width_px, cell_px)
    lum += fine * rng.standard_normal((height_px, width_px)).astype(np.float32)
    out = np.asarray(base_bgr, np.float32)[None, None, :] + lum[:, :, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def vertical_gradient(height_px: int, width_px: int, top_bgr: BGR, bottom_bgr: BGR) -> np.ndarray:
    """uint8 (H, W, 3) linear gradient from ``top_bgr`` to ``bottom_bgr``."""
    u = np.linspace(0.0, 1.0, height_px, dtype=np.float32)[:, None, None]
    top = np.asarray(top_bgr, np.float32)[None, None, :]
    bottom = np.asarray(bottom_bgr, np.float32)[None, None, :]
    column = top * (1 - u) + bottom * u
    return np.repeat(column, width_px, axis=1).astype(np.uint8)


def shade(color: BGR, factor: float) -> BGR:
    """``color`` scaled by ``factor`` (darker below 1, lighter above), clipped to 0..255."""
    b, g, r = (min(255, max(0, round(c * factor))) for c in color)
    return (b, g, r)


def jitter_color(rng: np.random.Generator, color: BGR, spread: int) -> BGR:
    """``color`` with each channel moved by up to ``spread`` levels."""
    b, g, r = (int(np.clip(c + rng.integers(-spread, spread + 1), 0, 255)) for c in color)
    return (b, g, r)


def draw_rect(image: np.ndarray, xyxy: tuple[int, int, int, int], color: BGR) -> None:
    """Fill the pixel box ``[x1, x2) x [y1, y2)`` of ``image``, clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = xyxy
    x1, x2 = max(0, x1), min(w, x2)
    y1, y2 = max(0, y1), min(h, y2)
    if x2 > x1 and y2 > y1:
        image[y1:y2, x1:x2] = color


def blend_rect(
    image: np.ndarray, xyxy: tuple[int, int, int, int], color: BGR, opacity: float
) -> None:
    """Blend ``color`` over the pixel box with ``opacity`` (0..1), clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = xyxy
    x1, x2 = max(0, x1), min(w, x2)
    y1, y2 = max(0, y1), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return
    roi = image[y1:y2, x1:x2].astype(np.float32)
    roi = roi * (1.0 - opacity) + np.asarray(color, np.float32) * opacity
    image[y1:y2, x1:x2] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
