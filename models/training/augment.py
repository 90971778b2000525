"""Augmentation fit for CCTV, and the YOLOX letterbox, on an image with its pixel boxes.

The camera-side defects a lift or corridor camera shows: fisheye (barrel) distortion, IR night
mode (grey, flat contrast), blur (focus, motion), heavy JPEG/H.264 artefacts, over- and
under-exposure; plus horizontal flips and scale/position jitter. Geometric warps move the boxes
by mapping points along each box's edges and taking their min/max, so a warped box still encloses
its object.

The letterbox is exactly the run-time one (models/letterbox.py ``YOLOX_STYLE``: top-left, pad 114,
BGR, values 0..255), so training sees what the deployed adapter feeds the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.letterbox import YOLOX_STYLE, letterbox_geometry


@dataclass(frozen=True, slots=True)
class AugmentSettings:
    """Probabilities and ranges of each augmentation (1.0 = always)."""

    flip: float = 0.5
    scale: tuple[float, float] = (0.55, 1.25)
    crop: float = 0.5
    fisheye: float = 0.3
    fisheye_k: tuple[float, float] = (-0.35, 0.25)
    gray: float = 0.2
    blur: float = 0.25
    jpeg: float = 0.35
    jpeg_quality: tuple[int, int] = (12, 60)
    exposure: float = 0.6


def _edge_points(boxes: np.ndarray, per_side: int = 8) -> np.ndarray:
    """(n, 4 * per_side, 2) points along each box's edges."""
    t = np.linspace(0.0, 1.0, per_side, dtype=np.float32)
    x1, y1, x2, y2 = (boxes[:, i : i + 1] for i in range(4))
    xs = np.concatenate([x1 + (x2 - x1) * t, x2.repeat(per_side, 1), x1 + (x2 - x1) * t,
                         x1.repeat(per_side, 1)], axis=1)  # fmt: skip
    ys = np.concatenate([y1.repeat(per_side, 1), y1 + (y2 - y1) * t, y2.repeat(per_side, 1),
                         y1 + (y2 - y1) * t], axis=1)  # fmt: skip
    return np.stack([xs, ys], axis=2)


def _clip_boxes(
    boxes: np.ndarray, classes: np.ndarray, w: int, h: int, min_px: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    boxes = boxes.copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_px) & ((boxes[:, 3] - boxes[:, 1]) >= min_px)
    return boxes[keep], classes[keep]


def fisheye(image: np.ndarray, boxes: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Radial distortion ``r_src = r_dst * (1 + k r_dst^2)`` about the centre (k < 0 barrel)."""
    h, w = image.shape[:2]
    cx, cy, norm = w / 2, h / 2, max(w, h) / 2
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xs - cx) / norm, (ys - cy) / norm
    factor = 1 + k * (dx * dx + dy * dy)
    map_x, map_y = cx + dx * factor * norm, cy + dy * factor * norm
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if len(boxes) == 0:
        return out, boxes
    # Boxes: invert the mapping numerically (a few fixed-point steps) for the edge points.
    points = _edge_points(boxes)
    src = (points - np.array([cx, cy], np.float32)) / norm
    dst = src.copy()
    for _ in range(6):
        r2 = (dst**2).sum(axis=2, keepdims=True)
        dst = src / (1 + k * r2)
    moved = dst * norm + np.array([cx, cy], np.float32)
    new = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    return out, new.astype(np.float32)


def photometric(image: np.ndarray, rng: np.random.Generator, s: AugmentSettings) -> np.ndarray:
    """Exposure, IR grey, blur and JPEG artefacts (in that order, each with its probability)."""
    out = image
    if rng.random() < s.exposure:
        gain = rng.uniform(0.5, 1.6)
        gamma = rng.uniform(0.6, 1.6)
        lut = np.clip(((np.arange(256) / 255.0) ** gamma) * 255.0 * gain, 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    if rng.random() < s.gray:
        gray = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        gray = cv2.convertScaleAbs(gray, alpha=rng.uniform(0.6, 1.0), beta=rng.uniform(10, 50))
        out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if rng.random() < s.blur:
        if rng.random() < 0.5:
            size = int(rng.choice([3, 5, 7]))
            out = cv2.GaussianBlur(out, (size, size), 0)
        else:
            length = int(rng.integers(3, 10))
            line = np.zeros((length, length), np.float32)
            line[length // 2, :] = 1.0 / length
            angle = rng.uniform(0, 180)
            rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
            kernel = np.asarray(cv2.warpAffine(line, rot, (length, length)), np.float32)
            out = cv2.filter2D(out, -1, kernel / max(float(kernel.sum()), 1e-6))
    if rng.random() < s.jpeg:
        quality = int(rng.integers(*s.jpeg_quality))
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = decoded
    return np.asarray(out)


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    classes: np.ndarray,
    rng: np.random.Generator,
    s: AugmentSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random CCTV-like variant of ``image`` (BGR uint8) with its (n, 4) xyxy pixel boxes."""
    h, w = image.shape[:2]
    boxes = boxes.astype(np.float32)
    if rng.random() < s.crop:  # random crop keeping at least 60 % of each side
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        image = image[y0 : y0 + ch, x0 : x0 + cw]
        boxes = boxes - np.array([x0, y0, x0, y0], np.float32)
        boxes, classes = _clip_boxes(boxes, classes, cw, ch)
        h, w = ch, cw
    if rng.random() < s.fisheye:
        image, boxes = fisheye(image, boxes, float(rng.uniform(*s.fisheye_k)))
        boxes, classes = _clip_boxes(boxes, classes, w, h)
    if rng.random() < s.flip:
        image = image[:, ::-1]
        boxes = boxes[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32) + np.array(
            [w, 0, w, 0], np.float32
        )
    image = photometric(np.ascontiguousarray(image), rng, s)
    return image, boxes, classes


def letterbox(
    image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, imgsz: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run-time YOLOX letterbox (top-left, pad 114, BGR 0..255) as CHW float32, with the
    boxes in canvas pixels. ``scale`` != 1 zooms the picture out (smaller objects) or in (the
    part beyond the canvas is cut off, and so are the boxes there)."""
    geometry = letterbox_geometry(image.shape[:2], (imgsz, imgsz), YOLOX_STYLE)
    new_w, new_h = geometry.resized_wh
    r = geometry.gain_xy[0]
    if scale != 1.0:
        new_w, new_h = max(int(new_w * scale), 8), max(int(new_h * scale), 8)
        r = r * scale
    canvas = np.full((imgsz, imgsz, 3), YOLOX_STYLE.pad_value, np.uint8)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[: min(new_h, imgsz), : min(new_w, imgsz)] = resized[:imgsz, :imgsz]
    boxes, classes = _clip_boxes((boxes * r).astype(np.float32), classes, imgsz, imgsz)
    return canvas.transpose(2, 0, 1).astype(np.float32), boxes, classes
