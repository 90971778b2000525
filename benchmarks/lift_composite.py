"""Synthetic ceiling-view composites for the lift e-bike dataset (issue 9 §4, RESULTS.md "Step 6").

The real lift frames hold few children's bicycles and few empty lift cars, so the model sees a
bicycle next to an e-bike rarely and learned "two wheels seen from above" as an e-bike. A
composite takes a lift-car frame without an e-bike (empty, people only, or a labelled hard
negative) and pastes cut-outs of real e-bikes and children's bicycles into it:

- **cut-outs** come from the label polygons of train frames of the ceiling-corner cameras
  (``ebike_elevator_labeled_2``'s polygons, and our bicycle boxes of its hard negatives and of the
  two ``lift_unlabelled`` false-alarm frames); a margin around the polygon is cut with it and
  feathered to nothing, so the object stays opaque and its own floor blends into the new floor;
- **placement** keeps the lift geometry: the object's floor point (its box's bottom centre)
  moves at most ``shift_x``/``shift_y`` of the frame from where it stood in its own frame, may be
  mirrored (the camera in the other corner), and must land on the background camera's floor: the
  range of the floor points of the e-bikes and bicycles labelled in that camera's train frames,
  widened by ``floor_margin`` (not on a wall or a poster); it is scaled by the ratio of frame
  heights, a perspective factor (lower in a ceiling-corner view = nearer = larger) and a jitter;
- **colour**: the cut-out's Lab statistics are moved from those of its own surroundings to those
  of the new surroundings (context to context, so a red e-bike stays red), and it turns grey on
  an IR night frame;
- **labels**: the pasted polygon's box, mapped by the same scale, shift and mirror, clipped to
  the frame; a paste may not cover more than ``max_cover`` of a box already labelled there (the
  frame's own or an earlier paste), so no label is left on a hidden object.

Only train frames are used, and never a frame of a held-back camera inside (or after the start
of) that camera's held-back time range (:func:`eligible`). Everything is drawn from one seeded
generator, so the same inputs and settings give the same composites byte for byte. The trainer's
CCTV augmentations (fisheye, IR grey, blur, JPEG, exposure, flips) apply to composites as to any
train image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

EBIKE, BICYCLE = 0, 2  # dataset classes (benchmarks/lift_dataset.py NAMES)


@dataclass(frozen=True, slots=True)
class Shape:
    """One labelled object: dataset class and its outline, (n, 2) normalised x, y."""

    cls: int
    points: np.ndarray

    def box(self) -> tuple[float, float, float, float]:
        """Normalised x1, y1, x2, y2 of the outline, clipped to the frame."""
        xs, ys = self.points[:, 0].clip(0, 1), self.points[:, 1].clip(0, 1)
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


@dataclass(frozen=True, slots=True)
class Frame:
    """A train frame the compositor may use: decoded image (BGR) and every labelled shape.

    Attributes:
        source: where it came from (path in the shared assets), for the manifest.
        split: the dataset split it is in.
        camera: the camera it was taken by ("" when unknown), with ``time`` (unix seconds or
            None) for the held-back time range check.
    """

    source: str
    split: str
    camera: str
    time: int | None
    image: np.ndarray
    shapes: tuple[Shape, ...]


@dataclass(frozen=True, slots=True)
class CompositeSettings:
    """How many composites and how they are drawn (recorded in the dataset manifest).

    Attributes:
        count: composites made.
        seed: seed of the one generator every choice is drawn from.
        ebike_probability: chance a composite gets a pasted e-bike (otherwise it is a
            hard negative with bicycles only).
        bicycles: inclusive range of pasted bicycles per composite (at least one object is
            pasted in all).
        shift_x, shift_y: largest move of an object's floor point, fraction of the frame.
        scale_jitter: range of the random factor on top of frame-height and perspective scale.
        mirror_probability: chance a cut-out is mirrored with its position.
        floor_margin: how far (fraction of the frame) a floor point may lie outside the range
            of the labelled floor points of the background's camera.
        margin: surroundings cut with the polygon and feathered, fraction of the object's
            larger side.
        colour_strength: 0..1, how far the colour moves to the new surroundings.
        max_cover: largest fraction of an already labelled box a paste may cover.
        min_visible: smallest fraction of a pasted box that must lie inside the frame.
        attempts: placements tried per object before another cut-out is drawn.
        jpeg_quality: quality of the written composite.
    """

    count: int = 100
    seed: int = 0
    ebike_probability: float = 0.6
    bicycles: tuple[int, int] = (0, 2)
    shift_x: float = 0.12
    shift_y: float = 0.08
    scale_jitter: tuple[float, float] = (0.85, 1.15)
    mirror_probability: float = 0.5
    floor_margin: float = 0.05
    margin: float = 0.08
    colour_strength: float = 0.8
    max_cover: float = 0.3
    min_visible: float = 0.7
    attempts: int = 20
    jpeg_quality: int = 92


@dataclass(frozen=True, slots=True)
class Pasted:
    """One object pasted into a composite."""

    cls: int
    source: str
    shape_index: int
    box_xyxy: tuple[float, float, float, float]  # pixels of the composite
    scale: float
    mirrored: bool


@dataclass(frozen=True, slots=True)
class Composite:
    """A composite image, its YOLO label lines and what went into it."""

    image: np.ndarray
    label_lines: tuple[str, ...]
    background: str
    pasted: tuple[Pasted, ...] = field(default_factory=tuple)


def eligible(frames: Sequence[Frame]) -> list[Frame]:
    """The frames a composite may take anything from: train split only, and none of a camera
    with held-back frames taken at or after that camera's first held-back frame."""
    held_from: dict[str, int] = {}
    for frame in frames:
        if frame.split == "test" and frame.camera and frame.time is not None:
            held_from[frame.camera] = min(held_from.get(frame.camera, frame.time), frame.time)
    allowed = []
    for frame in frames:
        if frame.split != "train":
            continue
        start = held_from.get(frame.camera)
        if start is not None and (frame.time is None or frame.time >= start):
            continue
        allowed.append(frame)
    return allowed


def _perspective(y_bottom: float) -> float:
    """Relative apparent size of an object whose floor point is at normalised height
    ``y_bottom`` in a ceiling-corner view (lower in the frame = nearer the camera)."""
    return 0.5 + y_bottom


def _lab_stats(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).reshape(-1, 3)[mask.reshape(-1)]
    if len(pixels) < 16:
        pixels = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    values = pixels.astype(np.float32)
    return values.mean(axis=0), values.std(axis=0) + 1.0


def _ring(shape_hw: tuple[int, int], box: Sequence[float], grow: float = 0.5) -> np.ndarray:
    """Mask of the band around ``box`` (pixels x1 y1 x2 y2) out to ``grow`` of its size."""
    h, w = shape_hw
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * grow, (y2 - y1) * grow
    mask = np.zeros((h, w), bool)
    ox1, oy1 = int(max(x1 - dx, 0)), int(max(y1 - dy, 0))
    ox2, oy2 = int(min(x2 + dx, w)), int(min(y2 + dy, h))
    mask[oy1:oy2, ox1:ox2] = True
    mask[int(max(y1, 0)) : int(min(y2, h)), int(max(x1, 0)) : int(min(x2, w))] = False
    return mask


def is_grey(image: np.ndarray) -> bool:
    """An IR night frame: almost no colour anywhere."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    return float(np.abs(lab[..., 1:] - 128.0).mean()) < 3.0


def match_colour(
    cutout: np.ndarray,
    source_context: tuple[np.ndarray, np.ndarray],
    target_context: tuple[np.ndarray, np.ndarray],
    strength: float,
    grey: bool,
) -> np.ndarray:
    """Move ``cutout``'s Lab values from its old surroundings' statistics to the new ones'."""
    if grey:
        cutout = cv2.cvtColor(cv2.cvtColor(cutout, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    lab = cv2.cvtColor(cutout, cv2.COLOR_BGR2LAB).astype(np.float32)
    (mu_s, sd_s), (mu_t, sd_t) = source_context, target_context
    gain = float(np.clip(sd_t[0] / sd_s[0], 0.7, 1.4))
    moved = lab.copy()
    moved[..., 0] = (lab[..., 0] - mu_s[0]) * gain + mu_t[0]
    if not grey:
        moved[..., 1:] = lab[..., 1:] - mu_s[1:] + mu_t[1:]
    out = lab + strength * (moved - lab)
    return np.asarray(cv2.cvtColor(out.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR))


def cut_out(frame: Frame, shape: Shape, margin: float) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The crop around ``shape`` with its feathered alpha (1 on the polygon, falling to 0 over
    the margin) and the polygon's box in crop pixels."""
    h, w = frame.image.shape[:2]
    pts = shape.points * np.array([w, h], np.float32)
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    pad = max(margin * max(x2 - x1, y2 - y1), 2.0)
    cx1, cy1 = int(max(np.floor(x1 - pad), 0)), int(max(np.floor(y1 - pad), 0))
    cx2, cy2 = int(min(np.ceil(x2 + pad), w)), int(min(np.ceil(y2 + pad), h))
    crop = frame.image[cy1:cy2, cx1:cx2].copy()
    inside = np.zeros(crop.shape[:2], np.uint8)
    poly = np.round(pts - np.array([cx1, cy1], np.float32)).astype(np.int32)
    cv2.fillPoly(inside, [poly], 255)
    distance = cv2.distanceTransform(255 - inside, cv2.DIST_L2, 3)
    t = np.clip(1.0 - distance / pad, 0.0, 1.0)
    alpha = (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep
    box = (float(x1 - cx1), float(y1 - cy1), float(x2 - cx1), float(y2 - cy1))
    return crop, alpha, box


def _covered(existing: np.ndarray, box: np.ndarray) -> float:
    """Largest fraction of any ``existing`` (n, 4) box that ``box`` covers."""
    if len(existing) == 0:
        return 0.0
    lt = np.maximum(existing[:, :2], box[:2])
    rb = np.minimum(existing[:, 2:], box[2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = np.clip(existing[:, 2:] - existing[:, :2], 1e-6, None).prod(axis=1)
    return float((inter / area).max())


def floor_regions(frames: Sequence[Frame]) -> dict[str, tuple[float, float, float, float]]:
    """Per camera, the normalised x1, y1, x2, y2 range of the floor points (box bottom centres)
    of the e-bikes and bicycles labelled in its frames: where such objects stand in that view."""
    points: dict[str, list[tuple[float, float]]] = {}
    for frame in frames:
        for shape in frame.shapes:
            if shape.cls in (EBIKE, BICYCLE):
                x1, _, x2, y2 = shape.box()
                points.setdefault(frame.camera, []).append(((x1 + x2) / 2, y2))
    return {
        camera: (min(x for x, _ in p), min(y for _, y in p), max(x for x, _ in p),
                 max(y for _, y in p))
        for camera, p in points.items()
    }  # fmt: skip


def paste(
    canvas: np.ndarray,
    frame: Frame,
    shape_index: int,
    rng: np.random.Generator,
    existing: np.ndarray,
    s: CompositeSettings,
    grey: bool,
    floor: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> Pasted | None:
    """Paste ``frame``'s shape into ``canvas`` (in place) at a plausible place, or None when no
    tried place keeps its floor point on ``floor`` (normalised x1 y1 x2 y2, widened by
    ``s.floor_margin``) and it in the frame without hiding a labelled box."""
    shape = frame.shapes[shape_index]
    crop, alpha, (bx1, by1, bx2, by2) = cut_out(frame, shape, s.margin)
    src_h, src_w = frame.image.shape[:2]
    dst_h, dst_w = canvas.shape[:2]
    sx1, sy1, sx2, sy2 = shape.box()
    source_ring = _ring((src_h, src_w), (sx1 * src_w, sy1 * src_h, sx2 * src_w, sy2 * src_h))
    source_context = _lab_stats(frame.image, source_ring)
    for _ in range(s.attempts):
        mirrored = bool(rng.random() < s.mirror_probability)
        floor_x = (sx1 + sx2) / 2
        floor_x = 1.0 - floor_x if mirrored else floor_x
        new_x = floor_x + rng.uniform(-s.shift_x, s.shift_x)
        new_y = float(np.clip(sy2 + rng.uniform(-s.shift_y, s.shift_y), 0.05, 1.0))
        fx1, fy1, fx2, fy2 = floor
        m = s.floor_margin
        if not (fx1 - m <= new_x <= fx2 + m and fy1 - m <= new_y <= fy2 + m):
            continue
        scale = (
            dst_h / src_h
            * _perspective(new_y) / _perspective(sy2)
            * rng.uniform(*s.scale_jitter)
        )  # fmt: skip
        ch, cw = crop.shape[:2]
        new_w, new_h = max(round(cw * scale), 2), max(round(ch * scale), 2)
        scale_x, scale_y = new_w / cw, new_h / ch
        # The polygon's box inside the resized (and maybe mirrored) crop.
        px1, px2 = bx1 * scale_x, bx2 * scale_x
        if mirrored:
            px1, px2 = new_w - px2, new_w - px1
        py1, py2 = by1 * scale_y, by2 * scale_y
        left = round(new_x * dst_w - (px1 + px2) / 2)
        top = round(new_y * dst_h - py2)
        full = np.array([left + px1, top + py1, left + px2, top + py2], np.float32)
        box = full.copy()
        box[0::2] = box[0::2].clip(0, dst_w)
        box[1::2] = box[1::2].clip(0, dst_h)
        area = float(np.prod(full[2:] - full[:2]))
        visible = float(np.prod(np.clip(box[2:] - box[:2], 0, None)))
        if area <= 0 or visible / area < s.min_visible or min(box[2:] - box[:2]) < 12:
            continue
        if _covered(existing, box) > s.max_cover:
            continue
        piece = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
        weight = cv2.resize(alpha, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if mirrored:
            piece, weight = piece[:, ::-1], weight[:, ::-1]
        target_context = _lab_stats(canvas, _ring((dst_h, dst_w), box))
        piece = match_colour(
            np.ascontiguousarray(piece), source_context, target_context, s.colour_strength, grey
        )
        # Blend the part of the piece that lies inside the canvas.
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + new_w, dst_w), min(top + new_h, dst_h)
        part = piece[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.float32)
        a = weight[y0 - top : y1 - top, x0 - left : x1 - left, None]
        region = canvas[y0:y1, x0:x1].astype(np.float32)
        canvas[y0:y1, x0:x1] = np.round(a * part + (1 - a) * region).astype(np.uint8)
        return Pasted(
            shape.cls,
            frame.source,
            shape_index,
            (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            round(float(scale), 4),
            mirrored,
        )
    return None


def _yolo_line(cls: int, box: Sequence[float], w: int, h: int) -> str:
    x1, y1, x2, y2 = box
    cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
    return f"{cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}"


def make_composites(frames: Sequence[Frame], settings: CompositeSettings) -> list[Composite]:
    """``settings.count`` composites from the :func:`eligible` frames (backgrounds: those with
    no e-bike; cut-outs: their e-bike and bicycle shapes). A draw in which nothing fitted is
    dropped (it would only copy its background) and another drawn.

    Raises:
        ValueError: no eligible background, no e-bike / bicycle cut-out to paste, or too few
            draws fitted anything.
    """
    usable = eligible(frames)
    backgrounds = [f for f in usable if not any(s.cls == EBIKE for s in f.shapes)]
    pieces = {
        cls: [(f, k) for f in usable for k, s in enumerate(f.shapes) if s.cls == cls]
        for cls in (EBIKE, BICYCLE)
    }
    if not backgrounds:
        raise ValueError("composites: no train frame without an e-bike to paste into")
    if not pieces[EBIKE] or not pieces[BICYCLE]:
        raise ValueError(
            f"composites: need e-bike and bicycle cut-outs from train frames, have "
            f"{len(pieces[EBIKE])} e-bike and {len(pieces[BICYCLE])} bicycle"
        )
    floors = floor_regions(usable)
    rng = np.random.default_rng(settings.seed)
    out: list[Composite] = []
    draws = 0
    while len(out) < settings.count:
        draws += 1
        if draws > 10 * settings.count:
            raise ValueError(
                f"composites: only {len(out)} of {settings.count} made in {draws - 1} draws: "
                f"the cut-outs do not fit on the backgrounds' floors"
            )
        background = backgrounds[int(rng.integers(len(backgrounds)))]
        canvas = background.image.copy()
        h, w = canvas.shape[:2]
        lines = []
        existing = []
        for shape in background.shapes:
            x1, y1, x2, y2 = shape.box()
            existing.append([x1 * w, y1 * h, x2 * w, y2 * h])
            lines.append(_yolo_line(shape.cls, existing[-1], w, h))
        wanted = [EBIKE] if rng.random() < settings.ebike_probability else []
        wanted += [BICYCLE] * int(rng.integers(settings.bicycles[0], settings.bicycles[1] + 1))
        if not wanted:
            wanted = [BICYCLE]
        grey = is_grey(canvas)
        pasted = []
        for cls in wanted:
            for _try in range(3):  # another cut-out when one does not fit anywhere
                frame, index = pieces[cls][int(rng.integers(len(pieces[cls])))]
                placed = paste(
                    canvas, frame, index, rng, np.asarray(existing, np.float32).reshape(-1, 4),
                    settings, grey, floors.get(background.camera, (0.0, 0.0, 1.0, 1.0)),
                )  # fmt: skip
                if placed is not None:
                    pasted.append(placed)
                    existing.append(list(placed.box_xyxy))
                    lines.append(_yolo_line(cls, placed.box_xyxy, w, h))
                    break
        if pasted:  # nothing fitted: that would be a copy of the background, draw again
            out.append(Composite(canvas, tuple(lines), background.source, tuple(pasted)))
    return out
