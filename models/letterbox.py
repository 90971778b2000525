"""Letterbox images into a preallocated input tensor, and map boxes back to image pixels.

Two conventions matter, and they differ in every detail (checked against the upstream code):

- YOLOX (``preproc`` in YOLOX, recipe in docs/ARCHITECTURE.md §7): scale ``r = min(H/h, W/w)``,
  resized size truncated with ``int()``, pasted at the **top-left** of a canvas filled with 114,
  **BGR**, values 0..255 (no normalisation). Boxes map back by dividing by ``r``.
- Ultralytics (``LetterBox`` and ``scale_boxes`` in ultralytics): resized size **rounded**,
  **centred** with ``round(pad / 2 - 0.1)`` on the top/left side, pad 114, **RGB**, divided by
  255. Boxes map back by subtracting the pad and dividing by the per-axis gain ``new_w / w``,
  ``new_h / h``.

FastestDet stretches the image to the input size (no pad, BGR, /255, ``INTER_AREA``).

The canvas and the float tensor are allocated once per (max batch, input size); each call resizes
straight into the canvas's view (``cv2.resize(dst=...)``), refills the pad only when an image's
geometry changes, and converts HWC uint8 to CHW float32 with one ``np.copyto`` per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from models.errors import InputImageError


class PadPlacement(StrEnum):
    """Where the resized image sits on the input canvas."""

    TOP_LEFT = "top_left"  # YOLOX
    CENTER = "center"  # Ultralytics
    STRETCH = "stretch"  # no letterbox: the image is stretched to the input size (FastestDet)


@dataclass(frozen=True, slots=True)
class LetterboxStyle:
    """A model family's preprocessing convention.

    Attributes:
        placement: where the resized image goes.
        rgb: convert OpenCV's BGR to RGB.
        divisor: the float tensor is the pixel value divided by this (1.0 or 255.0).
        pad_value: value of the padding pixels (before division).
        interpolation: OpenCV interpolation flag of the resize.
    """

    placement: PadPlacement
    rgb: bool
    divisor: float
    pad_value: int = 114
    interpolation: int = cv2.INTER_LINEAR


YOLOX_STYLE = LetterboxStyle(PadPlacement.TOP_LEFT, rgb=False, divisor=1.0)
ULTRALYTICS_STYLE = LetterboxStyle(PadPlacement.CENTER, rgb=True, divisor=255.0)
# FastestDet's ONNX demo resizes with INTER_AREA; with it the detections match the reference
# values of tests/models/test_detector_real_models.py exactly (INTER_LINEAR moves boxes by 1-2 px
# and drops one).
FASTESTDET_STYLE = LetterboxStyle(
    PadPlacement.STRETCH, rgb=False, divisor=255.0, interpolation=cv2.INTER_AREA
)


@dataclass(frozen=True, slots=True)
class LetterboxGeometry:
    """Where one image went on the input canvas.

    Attributes:
        image_hw: original image (height_px, width_px).
        resized_wh: size of the resized image on the canvas (width_px, height_px).
        pad_xy: offset of the resized image on the canvas (left_px, top_px).
        gain_xy: canvas pixels per image pixel along x and y.
    """

    image_hw: tuple[int, int]
    resized_wh: tuple[int, int]
    pad_xy: tuple[int, int]
    gain_xy: tuple[float, float]

    def to_image_xyxy(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from canvas pixels to image pixels, clipped to the image, in place.

        Args:
            xyxy: float32 (n, 4) boxes in input-canvas pixels; modified in place.

        Returns:
            The same array, now in original-image pixels.
        """
        pad_x, pad_y = self.pad_xy
        gain_x, gain_y = self.gain_xy
        h, w = self.image_hw
        if pad_x or pad_y:
            xyxy[:, 0::2] -= pad_x
            xyxy[:, 1::2] -= pad_y
        xyxy[:, 0::2] /= gain_x
        xyxy[:, 1::2] /= gain_y
        np.clip(xyxy[:, 0::2], 0.0, w, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0.0, h, out=xyxy[:, 1::2])
        return xyxy


def letterbox_geometry(
    image_hw: tuple[int, int], input_hw: tuple[int, int], style: LetterboxStyle
) -> LetterboxGeometry:
    """Compute where an image of ``image_hw`` goes on a canvas of ``input_hw`` for ``style``."""
    h, w = image_hw
    in_h, in_w = input_hw
    if style.placement is PadPlacement.STRETCH:
        return LetterboxGeometry(image_hw, (in_w, in_h), (0, 0), (in_w / w, in_h / h))
    r = min(in_h / h, in_w / w)
    if style.placement is PadPlacement.TOP_LEFT:  # YOLOX: int() truncation, no pad offset
        new_w, new_h = max(int(w * r), 1), max(int(h * r), 1)
        return LetterboxGeometry(image_hw, (new_w, new_h), (0, 0), (r, r))
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    left = round((in_w - new_w) / 2 - 0.1)
    top = round((in_h - new_h) / 2 - 0.1)
    return LetterboxGeometry(image_hw, (new_w, new_h), (left, top), (new_w / w, new_h / h))


def check_image(image: object, index: int) -> np.ndarray:
    """Check that ``image`` is a uint8 (H, W, 3) BGR array.

    Raises:
        InputImageError: naming the image's index and what is wrong with it.
    """
    if not isinstance(image, np.ndarray):
        raise InputImageError(
            f"images[{index}] must be a numpy uint8 array (H, W, 3), got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise InputImageError(f"images[{index}] must have dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputImageError(
            f"images[{index}] must have shape (H, W, 3) (BGR), got {tuple(image.shape)}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputImageError(f"images[{index}] is empty: shape {tuple(image.shape)}")
    return image


class Letterbox:
    """Preprocess up to ``max_batch`` images into one float32 (B, 3, H, W) tensor.

    Not thread-safe: the buffers are reused by every call (the detector serialises calls).

    Args:
        input_hw: network input (height_px, width_px).
        style: the family's convention.
        max_batch: most images per call; the buffers are allocated for this many.
    """

    def __init__(self, input_hw: tuple[int, int], style: LetterboxStyle, max_batch: int) -> None:
        self.input_hw = input_hw
        self.style = style
        self.max_batch = max_batch
        in_h, in_w = input_hw
        self._canvas = np.full((max_batch, in_h, in_w, 3), style.pad_value, np.uint8)
        self._tensor = np.empty((max_batch, 3, in_h, in_w), np.float32)
        self._placed: list[LetterboxGeometry | None] = [None] * max_batch

    def __call__(
        self, images: Sequence[np.ndarray], rows: int | None = None
    ) -> tuple[np.ndarray, list[LetterboxGeometry]]:
        """Letterbox ``images`` (already checked with :func:`check_image`).

        Args:
            images: 1..max_batch uint8 (H, W, 3) BGR images.
            rows: rows of the returned tensor (>= len(images)); a model with a fixed batch
                larger than the number of images gets its full batch (the extra rows are
                whatever was there before, and their outputs are ignored).

        Returns:
            A float32 (rows, 3, H, W) view of the preallocated tensor (valid until the next
            call) and each image's geometry.
        """
        n = len(images)
        rows = n if rows is None else rows
        if not 1 <= n <= rows <= self.max_batch:
            raise InputImageError(
                f"Letterbox takes 1..{self.max_batch} images (rows {rows}), got {n}"
            )
        geometries = []
        for i, image in enumerate(images):
            geometry = letterbox_geometry(image.shape[:2], self.input_hw, self.style)
            self._place(i, image, geometry)
            geometries.append(geometry)
        return self._tensor[:rows], geometries

    def _place(self, slot: int, image: np.ndarray, geometry: LetterboxGeometry) -> None:
        canvas = self._canvas[slot]
        placed = self._placed[slot]
        same_spot = placed is not None and (
            placed.resized_wh == geometry.resized_wh and placed.pad_xy == geometry.pad_xy
        )
        if not same_spot:  # the pad around the image changed: refill it
            canvas.fill(self.style.pad_value)
            self._placed[slot] = geometry
        (new_w, new_h), (left, top) = geometry.resized_wh, geometry.pad_xy
        view = canvas[top : top + new_h, left : left + new_w]
        if (new_w, new_h) == (image.shape[1], image.shape[0]):
            np.copyto(view, image)
        else:
            interpolation = self.style.interpolation
            out = cv2.resize(image, (new_w, new_h), dst=view, interpolation=interpolation)
            if out is not view:  # OpenCV allocated instead of writing into the view
                np.copyto(view, out)
        # Convert to float only what changed: the image, or the whole canvas when the pad moved.
        tensor = self._tensor[slot]
        if same_spot:
            tensor = tensor[:, top : top + new_h, left : left + new_w]
            canvas = view
        source = canvas[:, :, ::-1] if self.style.rgb else canvas
        np.copyto(tensor, source.transpose(2, 0, 1), casting="unsafe")
        if self.style.divisor != 1.0:
            np.divide(tensor, np.float32(self.style.divisor), out=tensor)
