"""MotionGate: is anything moving, and where? Cheap enough to run on every analysed frame.

The pipeline asks it before running the detector: when nothing moves and no track is active, the
detector is skipped. It works on the luma plane at low resolution: a running-average background
(``cv2.accumulateWeighted``), the absolute difference, a threshold, a small morphological opening
(removes isolated noisy pixels) and dilation (joins the fragments of one object), then connected
components with their statistics (a pixel count and a bounding box per blob, the same as external
contours with ``boundingRect`` but with a true pixel area, which thin or ragged blobs lack), and
blobs below a minimum area are ignored.

The learning rate is a time constant in seconds of stream time, converted per frame from the gap
between timestamps (``alpha = 1 - exp(-dt / background_time_s)``), so the background adapts at the
same speed whatever the frame rate and however many frames were dropped.

When a large part of the picture changes at once (lights switched, auto-exposure, a shake), the
difference says nothing about objects: the gate **recalibrates**, resetting the background to the
current frame, and reports ``recalibrated=True`` with ``moving=False`` and the cause. The same
happens on the first frame and when the frame size changes. A recalibrated result means "the gate
cannot tell this frame": a caller gating a detector should run the detector on it (an object that
was already in view when the camera started moves no pixel, yet must be detected once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

__all__ = ["MotionGate", "MotionResult", "RecalibrationCause"]


class RecalibrationCause(StrEnum):
    """Why the background was reset to the current frame."""

    FIRST_FRAME = "first_frame"
    SIZE_CHANGE = "size_change"
    GLOBAL_CHANGE = "global_change"


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What :meth:`MotionGate.update` found in one frame.

    Attributes:
        moving: at least one changed region of at least the minimum area.
        boxes_norm: the changed regions as (x1, y1, x2, y2) in 0..1 of the frame, largest first.
        changed_fraction: fraction of the considered (masked) pixels that differ from the
            background, before morphology and the area filter; on a recalibration, the fraction
            that triggered it (0.0 on the first frame).
        recalibrated: the background was reset to this frame, so the frame tells nothing about
            motion (``moving`` is False and ``boxes_norm`` empty); see ``cause``.
        cause: why it recalibrated, None when it did not.
    """

    moving: bool
    boxes_norm: tuple[tuple[float, float, float, float], ...]
    changed_fraction: float
    recalibrated: bool = False
    cause: RecalibrationCause | None = None


class MotionGate:
    """Running-average background subtraction on low-resolution luma.

    Args:
        work_width_px: frames wider than this are downscaled (area averaging, which also averages
            away sensor noise) to this width before anything else.
        background_time_s: time constant of the running-average background, in seconds.
        threshold: absolute luma difference (0–255) from the background that counts as change.
        min_area_norm: smallest blob counted as motion, as a fraction of the frame area.
        recalibrate_fraction: when more than this fraction of the considered pixels changes at
            once, the background is reset to the frame.
        mask: optional array (any size, resized to the working size), nonzero where motion
            counts (e.g. the union of the camera's zones); None for the whole frame.

    Raises:
        ValueError: a parameter is out of its range, or the mask is not a 2-D array with at
            least one nonzero pixel.
    """

    def __init__(
        self,
        *,
        work_width_px: int = 160,
        background_time_s: float = 5.0,
        threshold: int = 25,
        min_area_norm: float = 0.0005,
        recalibrate_fraction: float = 0.4,
        mask: np.ndarray | None = None,
    ) -> None:
        if not isinstance(work_width_px, int) or work_width_px < 16:
            raise ValueError(f"MotionGate: work_width_px must be an int >= 16, got {work_width_px}")
        if not (math.isfinite(background_time_s) and background_time_s > 0):
            raise ValueError(
                f"MotionGate: background_time_s must be > 0 seconds, got {background_time_s}"
            )
        if not 1 <= threshold <= 254:
            raise ValueError(f"MotionGate: threshold must lie in 1..254, got {threshold}")
        if not 0.0 <= min_area_norm < 1.0:
            raise ValueError(f"MotionGate: min_area_norm must lie in [0, 1), got {min_area_norm}")
        if not 0.0 < recalibrate_fraction <= 1.0:
            raise ValueError(
                f"MotionGate: recalibrate_fraction must lie in (0, 1], got {recalibrate_fraction}"
            )
        self.work_width_px = work_width_px
        self.background_time_s = float(background_time_s)
        self.threshold = int(threshold)
        self.min_area_norm = float(min_area_norm)
        self.recalibrate_fraction = float(recalibrate_fraction)
        self._mask_source = self._check_mask(mask)
        self._kernel = np.ones((3, 3), np.uint8)
        self._input_shape: tuple[int, int] | None = None
        self._work_size: tuple[int, int] = (0, 0)  # (w, h)
        self._mask: np.ndarray | None = None  # uint8 0/255 at working size
        self._mask_pixels = 0
        self._background = np.zeros((0, 0), np.float32)
        self._scratch = np.zeros((0, 0), np.float32)
        self._last_pts_s: float | None = None

    @staticmethod
    def _check_mask(mask: np.ndarray | None) -> np.ndarray | None:
        if mask is None:
            return None
        arr = np.asarray(mask)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"MotionGate: mask must be a 2-D array, got shape {arr.shape}")
        if not np.any(arr):
            raise ValueError("MotionGate: mask has no nonzero pixel, so nothing would be watched")
        return (arr != 0).astype(np.uint8) * 255

    def reset(self) -> None:
        """Forget the background; the next frame recalibrates as a first frame."""
        self._input_shape = None
        self._last_pts_s = None

    def update(self, luma: np.ndarray, pts_s: float) -> MotionResult:
        """Compare one frame with the background, then learn it.

        Args:
            luma: uint8 (h, w) luma plane at low resolution (e.g. ~320 px wide).
            pts_s: stream time of the frame in seconds; must not decrease between calls.

        Returns:
            The motion found (see :class:`MotionResult`).

        Raises:
            ValueError: ``luma`` is not a non-empty uint8 2-D array, or ``pts_s`` is not finite
                or went backwards.
        """
        self._check_input(luma, pts_s)
        if self._input_shape is None:
            return self._recalibrate(luma, pts_s, RecalibrationCause.FIRST_FRAME, 0.0)
        if luma.shape != self._input_shape:
            return self._recalibrate(luma, pts_s, RecalibrationCause.SIZE_CHANGE, 0.0)
        small = self._downscale(luma)
        dt = pts_s - (self._last_pts_s if self._last_pts_s is not None else pts_s)
        self._last_pts_s = pts_s
        cv2.absdiff(small.astype(np.float32), self._background, dst=self._scratch)
        changed = (self._scratch > self.threshold).astype(np.uint8) * 255
        if self._mask is not None:
            cv2.bitwise_and(changed, self._mask, dst=changed)
        fraction = cv2.countNonZero(changed) / self._mask_pixels
        if fraction > self.recalibrate_fraction:
            return self._recalibrate(luma, pts_s, RecalibrationCause.GLOBAL_CHANGE, fraction)
        alpha = 1.0 - math.exp(-dt / self.background_time_s)
        if alpha > 0:
            cv2.accumulateWeighted(small, self._background, alpha)
        boxes = self._blobs(changed) if fraction > 0 else ()
        return MotionResult(moving=bool(boxes), boxes_norm=boxes, changed_fraction=fraction)

    def _check_input(self, luma: np.ndarray, pts_s: float) -> None:
        if not isinstance(luma, np.ndarray) or luma.dtype != np.uint8:
            got = getattr(luma, "dtype", type(luma).__name__)
            raise ValueError(f"MotionGate.update: luma must be a uint8 ndarray, got {got}")
        if luma.ndim != 2 or luma.shape[0] < 2 or luma.shape[1] < 2:
            raise ValueError(
                f"MotionGate.update: luma must have shape (h, w) with h, w >= 2, got {luma.shape}"
            )
        if not isinstance(pts_s, (int, float)) or not math.isfinite(pts_s):
            raise ValueError(f"MotionGate.update: pts_s must be a finite number, got {pts_s!r}")
        if self._last_pts_s is not None and pts_s < self._last_pts_s:
            raise ValueError(
                f"MotionGate.update: pts_s went backwards: {pts_s} after {self._last_pts_s}"
            )

    def _downscale(self, luma: np.ndarray) -> np.ndarray:
        w, h = self._work_size
        if (luma.shape[1], luma.shape[0]) == (w, h):
            return luma
        return cv2.resize(luma, (w, h), interpolation=cv2.INTER_AREA)

    def _recalibrate(
        self, luma: np.ndarray, pts_s: float, cause: RecalibrationCause, fraction: float
    ) -> MotionResult:
        if luma.shape != self._input_shape:
            self._input_shape = (int(luma.shape[0]), int(luma.shape[1]))
            in_h, in_w = self._input_shape
            w = min(self.work_width_px, in_w)
            h = max(2, round(in_h * w / in_w))
            self._work_size = (w, h)
            self._scratch = np.zeros((h, w), np.float32)
            if self._mask_source is None:
                self._mask = None
                self._mask_pixels = w * h
            else:
                mask = cv2.resize(self._mask_source, (w, h), interpolation=cv2.INTER_AREA)
                self._mask = np.where(mask > 0, 255, 0).astype(np.uint8)
                self._mask_pixels = max(cv2.countNonZero(self._mask), 1)
        self._background = self._downscale(luma).astype(np.float32)
        self._last_pts_s = pts_s
        return MotionResult(
            moving=False,
            boxes_norm=(),
            changed_fraction=float(fraction),
            recalibrated=True,
            cause=cause,
        )

    def _blobs(self, changed: np.ndarray) -> tuple[tuple[float, float, float, float], ...]:
        """Boxes of the changed regions of at least the minimum area, largest first.

        The area of a region is its count of changed pixels after the opening (the dilation
        only joins fragments; it does not make a region bigger for the area test).
        """
        cleaned = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self._kernel)
        joined = cv2.dilate(cleaned, self._kernel)
        if self._mask is not None:  # joining must not reach outside the watched area
            cv2.bitwise_and(joined, self._mask, dst=joined)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        if count <= 1:
            return ()
        areas = np.bincount(labels[cleaned > 0], minlength=count)
        w, h = self._work_size
        min_area_px = max(self.min_area_norm * w * h, 1.0)
        found: list[tuple[int, tuple[float, float, float, float]]] = []
        for label in range(1, count):
            x, y, bw, bh = (int(v) for v in stats[label, :4])
            area = int(areas[label])
            if area < min_area_px:
                continue
            found.append((area, (x / w, y / h, (x + bw) / w, (y + bh) / h)))
        found.sort(key=lambda item: (-item[0], item[1]))
        return tuple(box for _, box in found)
