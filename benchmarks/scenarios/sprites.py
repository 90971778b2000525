"""Real photographic sprites: crops of real photos, cut out, pasted and checked.

Vehicles, people and e-bikes in the lane and lift scenes are crops of real photos (the COCO
stills, and the labelled e-bike screenshots when the shared test media are used), so that the
real detector sees real content. A crop is cut out of its photo with GrabCut (seeded, so the same
every run) or, when GrabCut gives an implausible mask, with a feathered rectangle; either way it
is pasted with a soft alpha mask. :class:`SpriteChecker` then pastes each sprite on the scene's
background, where and at the size it will be used, degrades the frame like a video encoder would
(JPEG), runs the real detector and keeps the sprite only if it is found with its own class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from benchmarks.scenarios.errors import AssetError, SpriteError
from models.detector import Detector

BoxPx = tuple[int, int, int, int]

COCO_DIR = Path("images/coco_val2017")
EBIKE_DIR = Path("images/ebike_elevator_labeled")
EBIKE_CLASS, EBIKE_PERSON_CLASS = 0, 1  # class ids of the e-bike dataset's YOLO labels

# Reference boxes of the COCO stills (shared assets README §2.3), in photo pixels.
COCO_VEHICLES: tuple[tuple[str, str, BoxPx, str], ...] = (
    ("truck_9769_pickup", "000000009769.jpg", (78, 181, 466, 376), "truck"),
    ("car_1532_suv", "000000001532.jpg", (224, 360, 416, 478), "car"),
    ("car_1532_taxi", "000000001532.jpg", (0, 378, 113, 477), "car"),
    ("bus_2006_single_deck", "000000002006.jpg", (49, 80, 602, 423), "bus"),
)
COCO_MOTORBIKES: tuple[tuple[str, str, BoxPx, str], ...] = (
    ("motorbike_7816_racer", "000000007816.jpg", (239, 123, 468, 360), "motorbike"),
)
COCO_PERSONS: tuple[tuple[str, str, BoxPx, str], ...] = (
    ("person_2006_pedestrian", "000000002006.jpg", (16, 253, 48, 363), "person"),
    ("person_7816_spectator", "000000007816.jpg", (249, 33, 294, 135), "person"),
    ("person_7816_spectator_b", "000000007816.jpg", (559, 51, 607, 200), "person"),
    ("person_2153_batter", "000000002153.jpg", (373, 207, 439, 364), "person"),
)


class MaskStyle(StrEnum):
    """How a sprite was cut out of its photo."""

    GRABCUT = "grabcut"
    FEATHER = "feather"


@dataclass(frozen=True, slots=True)
class SpriteSource:
    """A labelled box in a real photo, and the cut-outs to try, in order."""

    name: str
    image: Path
    xyxy: BoxPx
    label: str
    styles: tuple[MaskStyle, ...] = (MaskStyle.GRABCUT, MaskStyle.FEATHER)


@dataclass(frozen=True, slots=True, eq=False)
class Sprite:
    """A cut-out object: colour, soft alpha, and the detector label it must be found as.

    The image may hold some of the photo's context around the object (faded out by the alpha):
    ``object_xyxy`` is where the object itself is in the image, and placing a sprite means
    placing that box (its bottom centre).

    Attributes:
        name: where it comes from (photo and object).
        label: the detector class it shows (``car``, ``motorbike``, ``person``...).
        bgr: uint8 (h, w, 3).
        alpha: float32 (h, w) in 0..1.
        mask_style: how it was cut out.
        object_xyxy: the object's box in the image's pixels (x1, y1, x2, y2), ends exclusive.
    """

    name: str
    label: str
    bgr: np.ndarray
    alpha: np.ndarray
    mask_style: MaskStyle
    object_xyxy: BoxPx
    _premult: np.ndarray = field(init=False, repr=False)
    _alpha3: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.bgr.dtype != np.uint8 or self.bgr.ndim != 3 or self.bgr.shape[2] != 3:
            raise SpriteError(f"sprite {self.name}: bgr must be uint8 (h, w, 3)")
        if self.alpha.shape != self.bgr.shape[:2]:
            raise SpriteError(
                f"sprite {self.name}: alpha shape {self.alpha.shape} differs from the image "
                f"{self.bgr.shape[:2]}"
            )
        h, w = self.alpha.shape
        x1, y1, x2, y2 = self.object_xyxy
        if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
            raise SpriteError(
                f"sprite {self.name}: object box {self.object_xyxy} is not inside its {w}x{h} image"
            )
        alpha3 = np.clip(self.alpha, 0.0, 1.0).astype(np.float32)[:, :, None]
        object.__setattr__(self, "_alpha3", alpha3)
        object.__setattr__(self, "_premult", self.bgr.astype(np.float32) * alpha3)

    @property
    def width_px(self) -> int:
        """Width of the object's box."""
        return self.object_xyxy[2] - self.object_xyxy[0]

    @property
    def height_px(self) -> int:
        """Height of the object's box."""
        return self.object_xyxy[3] - self.object_xyxy[1]

    def resized(self, height_px: int) -> Sprite:
        """The sprite scaled so that the object is exactly ``height_px`` high (aspect kept)."""
        height_px = max(4, int(height_px))
        scale = height_px / self.height_px
        x1, y1 = round(self.object_xyxy[0] * scale), round(self.object_xyxy[1] * scale)
        box = (x1, y1, x1 + max(1, round(self.width_px * scale)), y1 + height_px)
        h, w = self.alpha.shape
        size = (max(box[2], round(w * scale)), max(box[3], round(h * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        bgr = cv2.resize(self.bgr, size, interpolation=interp)
        alpha = cv2.resize(self.alpha, size, interpolation=cv2.INTER_LINEAR)
        return Sprite(self.name, self.label, bgr, alpha, self.mask_style, box)

    def mirrored(self) -> Sprite:
        """The sprite flipped left to right (a vehicle driving the other way)."""
        w = self.alpha.shape[1]
        x1, y1, x2, y2 = self.object_xyxy
        return Sprite(
            self.name + "_mirrored",
            self.label,
            np.ascontiguousarray(self.bgr[:, ::-1]),
            np.ascontiguousarray(self.alpha[:, ::-1]),
            self.mask_style,
            (w - x2, y1, w - x1, y2),
        )

    def box_at(self, x_center_px: float, y_bottom_px: float) -> BoxPx:
        """The object's pixel box (x1, y1, x2, y2), ends exclusive, when placed with its bottom
        centre at (x, y)."""
        x1 = round(x_center_px - self.width_px / 2)
        y1 = round(y_bottom_px - self.height_px)
        return x1, y1, x1 + self.width_px, y1 + self.height_px

    def paste(self, frame: np.ndarray, x_center_px: float, y_bottom_px: float) -> BoxPx | None:
        """Alpha-blend the sprite into ``frame`` (in place), its object's bottom centre at (x, y).

        Returns:
            The visible part of the object's box, clipped to the frame, or None if none of it
            is visible.
        """
        h, w = frame.shape[:2]
        bx1, by1, bx2, by2 = self.box_at(x_center_px, y_bottom_px)
        x1, y1 = bx1 - self.object_xyxy[0], by1 - self.object_xyxy[1]
        x2, y2 = x1 + self.alpha.shape[1], y1 + self.alpha.shape[0]
        cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
        if cx2 > cx1 and cy2 > cy1:
            sx, sy = cx1 - x1, cy1 - y1
            sl = (slice(sy, sy + cy2 - cy1), slice(sx, sx + cx2 - cx1))
            roi = frame[cy1:cy2, cx1:cx2]
            out = roi.astype(np.float32) * (1.0 - self._alpha3[sl]) + self._premult[sl]
            roi[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        vx1, vy1, vx2, vy2 = max(0, bx1), max(0, by1), min(w, bx2), min(h, by2)
        if vx2 <= vx1 or vy2 <= vy1:
            return None
        return vx1, vy1, vx2, vy2


def read_image(path: Path) -> np.ndarray:
    """Read a photo as uint8 BGR.

    Raises:
        AssetError: if the file is missing or not an image.
    """
    if not path.is_file():
        raise AssetError(f"photo {path} not found (assets folder incomplete?)")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise AssetError(f"photo {path} could not be decoded")
    return image


def coco_sources(
    assets_dir: Path, table: Sequence[tuple[str, str, BoxPx, str]]
) -> list[SpriteSource]:
    """Sprite sources of the COCO stills from one of the tables above (GrabCut first)."""
    return [
        SpriteSource(name, assets_dir / COCO_DIR / file, box, label)
        for name, file, box, label in table
    ]


def has_ebike_photos(assets_dir: Path) -> bool:
    """Whether ``assets_dir`` holds the labelled e-bike screenshots (the shared test media do;
    the repository's ``assets/`` does not: they may not be redistributed)."""
    return (assets_dir / EBIKE_DIR).is_dir()


def ebike_sources(assets_dir: Path, class_id: int, label: str) -> list[SpriteSource]:
    """Boxes of class ``class_id`` in the labelled e-bike screenshots (YOLO txt labels).

    They are cut as feathered boxes with some context: their photos are lift and lobby scenes,
    like the ones they are pasted into, and GrabCut tears thin frames and spokes apart.

    Raises:
        AssetError: if a directory is missing or a label line is malformed.
    """
    image_dir = assets_dir / EBIKE_DIR / "images"
    label_dir = assets_dir / EBIKE_DIR / "labels"
    if not label_dir.is_dir() or not image_dir.is_dir():
        raise AssetError(f"e-bike images or labels not found under {assets_dir / EBIKE_DIR}")
    sources: list[SpriteSource] = []
    for label_file in sorted(label_dir.glob("*.txt")):
        image_path = image_dir / (label_file.stem + ".png")
        boxes = _yolo_boxes(label_file, class_id)
        if not boxes:
            continue
        h, w = read_image(image_path).shape[:2]
        stem = label_file.stem.replace("Snipaste_", "").replace("-", "").replace("_", "")
        for k, (cx, cy, bw, bh) in enumerate(boxes, start=1):
            box = (
                max(0, round((cx - bw / 2) * w)),
                max(0, round((cy - bh / 2) * h)),
                min(w, round((cx + bw / 2) * w)),
                min(h, round((cy + bh / 2) * h)),
            )
            sources.append(
                SpriteSource(f"{label}_{stem}_{k}", image_path, box, label, (MaskStyle.FEATHER,))
            )
    return sources


def _yolo_boxes(label_file: Path, class_id: int) -> list[tuple[float, float, float, float]]:
    boxes: list[tuple[float, float, float, float]] = []
    for line_no, line in enumerate(label_file.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 5:
                raise ValueError(len(parts))
            cls = int(parts[0])
            cx, cy, bw, bh = (float(v) for v in parts[1:])
        except ValueError:
            raise AssetError(
                f"{label_file}:{line_no}: expected 'class cx cy w h', got {line!r}"
            ) from None
        if cls == class_id:
            boxes.append((cx, cy, bw, bh))
    return boxes


def _grabcut_alpha(image: np.ndarray, box: BoxPx) -> np.ndarray | None:
    """Soft object mask over ``box`` by seeded GrabCut, or None when it looks wrong."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    margin = int(0.12 * max(bw, bh)) + 4
    cx1, cy1 = max(0, x1 - margin), max(0, y1 - margin)
    cx2, cy2 = min(w, x2 + margin), min(h, y2 + margin)
    crop = image[cy1:cy2, cx1:cx2]
    scale = min(1.0, 180.0 / max(crop.shape[:2]))
    small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rect = (
        int((x1 - cx1) * scale),
        int((y1 - cy1) * scale),
        max(4, int(bw * scale)),
        max(4, int(bh * scale)),
    )
    mask = np.zeros(small.shape[:2], np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(20261124)
    cv2.grabCut(small, mask, rect, bgd, fgd, 4, cv2.GC_INIT_WITH_RECT)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    fg_f = (labels == largest).astype(np.float32)
    full = cv2.resize(fg_f, (cx2 - cx1, cy2 - cy1), interpolation=cv2.INTER_LINEAR)
    alpha = full[y1 - cy1 : y2 - cy1, x1 - cx1 : x2 - cx1]
    if not 0.3 <= float(alpha.mean()) <= 0.97:
        return None
    return cv2.GaussianBlur(alpha, (0, 0), 1.2)


def _feather_cut(image: np.ndarray, box: BoxPx) -> tuple[np.ndarray, np.ndarray, BoxPx]:
    """The box with a margin of context that fades out: (bgr, alpha, object box in the cut)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    margin = max(3, int(0.10 * min(x2 - x1, y2 - y1)))
    cx1, cy1 = max(0, x1 - margin), max(0, y1 - margin)
    cx2, cy2 = min(w, x2 + margin), min(h, y2 + margin)
    ys = np.arange(cy1, cy2, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(cx1, cx2, dtype=np.float32)[None, :] + 0.5
    # distance outside the object box, 0 inside; fades to 0 at `margin` (or at the cut's edge)
    dx = np.maximum(np.maximum(x1 - xs, xs - x2), 0.0)
    dy = np.maximum(np.maximum(y1 - ys, ys - y2), 0.0)
    outside = np.sqrt(dx * dx + dy * dy)
    alpha = np.clip(1.0 - outside / margin, 0.0, 1.0).astype(np.float32)
    bgr = np.ascontiguousarray(image[cy1:cy2, cx1:cx2])
    return bgr, alpha, (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)


def cut_sprite(
    source: SpriteSource, style: MaskStyle, image: np.ndarray | None = None
) -> Sprite | None:
    """Cut ``source`` out of its photo; None when GrabCut gives an implausible mask.

    Raises:
        AssetError: if the photo cannot be read.
        SpriteError: if the box is empty or outside the photo.
    """
    photo = read_image(source.image) if image is None else image
    x1, y1, x2, y2 = source.xyxy
    h, w = photo.shape[:2]
    if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
        raise SpriteError(
            f"sprite {source.name}: box {source.xyxy} is not inside the {w}x{h} photo"
        )
    if style is MaskStyle.FEATHER:
        bgr, alpha, inner = _feather_cut(photo, source.xyxy)
        return Sprite(source.name, source.label, bgr, alpha, style, inner)
    grab = _grabcut_alpha(photo, source.xyxy)
    if grab is None:
        return None
    bgr = np.ascontiguousarray(photo[y1:y2, x1:x2])
    return Sprite(source.name, source.label, bgr, grab, style, (0, 0, x2 - x1, y2 - y1))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a sprite is checked: bottom centre in pixels and a scale of its nominal size."""

    x_center_px: float
    y_bottom_px: float
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class SpriteCheck:
    """Outcome of checking one sprite with the real detector."""

    name: str
    label: str
    use: str
    mask_style: str
    height_px: int
    kept: bool
    scores: tuple[float, ...]
    found: tuple[str, ...]

    def describe(self) -> str:
        verdict = "kept" if self.kept else "dropped"
        scores = ", ".join(f"{s:.2f}" for s in self.scores)
        found = ", ".join(self.found) or "nothing"
        return (
            f"{verdict:7s} {self.use:12s} {self.name:36s} as {self.label:9s} "
            f"({self.mask_style}, {self.height_px} px): scores [{scores}]; best match {found}"
        )


def box_iou(a: BoxPx | np.ndarray, b: BoxPx | np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class SpriteChecker:
    """Checks sprites with the real detector on the background they will be used on.

    Args:
        detector: the real detector (``detect`` and ``labels``).
        min_score: lowest confidence accepted (above the configs' 0.3, for a margin).
        min_iou: lowest IoU between the detection and the pasted box.
        jpeg_quality: the composed frame is JPEG-coded at this quality before detection, a
            stand-in for the video encoder's losses.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        min_score: float = 0.45,
        min_iou: float = 0.5,
        jpeg_quality: int = 60,
    ) -> None:
        self.detector = detector
        self.min_score, self.min_iou, self.jpeg_quality = min_score, min_iou, jpeg_quality
        self._photos: dict[Path, np.ndarray] = {}

    def check(
        self,
        sprite: Sprite,
        background: np.ndarray,
        placements: Sequence[Placement],
        use: str,
        forbidden: frozenset[str] = frozenset(),
    ) -> SpriteCheck:
        """Paste ``sprite`` at each placement and look for it; kept if found at every one and,
        at none of them, something of a ``forbidden`` class overlaps it (a bicycle wheel in the
        crop of a person who must be seen alone)."""
        scores: list[float] = []
        found: list[str] = []
        kept = True
        labels = self.detector.labels
        for placement in placements:
            item = sprite
            if placement.scale != 1.0:
                item = sprite.resized(round(sprite.height_px * placement.scale))
            frame = background.copy()
            box = item.paste(frame, placement.x_center_px, placement.y_bottom_px)
            if box is None:
                raise SpriteError(f"sprite {sprite.name}: placement {placement} is off the frame")
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise SpriteError("JPEG encoding failed")
            degraded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
            if degraded is None:
                raise SpriteError("JPEG decoding failed")
            detections = self.detector.detect([degraded])[0]
            best_score, best_name = 0.0, ""
            for xyxy, score, class_id in zip(
                detections.xyxy, detections.confidence, detections.class_id, strict=True
            ):
                name = labels[int(class_id)]
                if name in forbidden and box_iou(box, xyxy) > 0.0:
                    kept = False
                    found.append(f"forbidden {name} {float(score):.2f}")
                if box_iou(box, xyxy) < self.min_iou:
                    continue
                if name == sprite.label and score > best_score:
                    best_score = float(score)
                if not best_name or name == sprite.label:
                    best_name = f"{name} {float(score):.2f}"
            scores.append(best_score)
            found.append(best_name)
            kept = kept and best_score >= self.min_score
        return SpriteCheck(
            name=sprite.name,
            label=sprite.label,
            use=use,
            mask_style=sprite.mask_style.value,
            height_px=sprite.height_px,
            kept=kept,
            scores=tuple(scores),
            found=tuple(f for f in found if f),
        )

    def first_kept(
        self,
        source: SpriteSource,
        height_px: int,
        background: np.ndarray,
        placements: Sequence[Placement],
        use: str,
        forbidden: frozenset[str] = frozenset(),
    ) -> tuple[Sprite | None, list[SpriteCheck]]:
        """Cut ``source`` in each of its styles in turn; the first cut that passes, and the
        checks made."""
        photo = self._photo(source.image)
        checks: list[SpriteCheck] = []
        for style in source.styles:
            cut = cut_sprite(source, style, photo)
            if cut is None:
                continue
            sprite = cut.resized(height_px)
            check = self.check(sprite, background, placements, use, forbidden)
            checks.append(check)
            if check.kept:
                return sprite, checks
        return None, checks

    def _photo(self, path: Path) -> np.ndarray:
        photo = self._photos.get(path)
        if photo is None:
            photo = read_image(path)
            self._photos[path] = photo
        return photo
