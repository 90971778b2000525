"""What every family's decoder does after its own box decoding: NMS and mapping to image pixels.

A decoder turns one image's raw output into candidate boxes in input-canvas pixels with a score
and a class, **after** dropping everything under the score threshold (so NMS and the box maths
only ever see the few hundred candidates that matter). :func:`finish_detections` then caps the
candidates, suppresses, maps the kept boxes back through the letterbox and builds
:class:`vision.types.Detections`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from models.letterbox import LetterboxGeometry, LetterboxStyle
from models.nms import nms_class_agnostic, nms_per_class, top_candidates
from models.spec import ModelFamily
from vision.types import Detections


class NmsMode(StrEnum):
    """How overlapping candidates are suppressed."""

    PER_CLASS = "per_class"
    CLASS_AGNOSTIC = "class_agnostic"
    NONE = "none"  # the model did it already (end-to-end exports)


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    """Thresholds shared by every decoder.

    Attributes:
        score_threshold: minimum confidence kept, in [0, 1].
        iou_threshold: NMS IoU threshold, in [0, 1].
        max_detections: most detections per image.
        max_candidates: most candidates handed to NMS per image (highest scores first).
    """

    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    max_detections: int = 300
    max_candidates: int = 3000


class Decoder(Protocol):
    """One model family's output decoding."""

    family: ModelFamily
    style: LetterboxStyle
    num_classes: int
    end_to_end: bool

    def decode(
        self, output: np.ndarray, geometries: Sequence[LetterboxGeometry]
    ) -> list[Detections]:
        """Decode a batch output (B, ...) into one Detections per geometry, in image pixels."""
        ...


def finish_detections(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    geometry: LetterboxGeometry,
    settings: DecodeSettings,
    mode: NmsMode,
) -> Detections:
    """Suppress, map to image pixels and package one image's candidates.

    Args:
        xyxy: float32 (n, 4) candidate boxes in input-canvas pixels (may be a fresh array: it is
            not modified).
        scores: float32 (n,) scores, all already >= the score threshold.
        class_ids: int (n,) class indices.
        geometry: how this image was letterboxed.
        settings: thresholds.
        mode: NMS to apply.

    Returns:
        Detections by descending score, boxes clipped to the image.
    """
    valid = np.isfinite(xyxy).all(axis=1) & (xyxy[:, 2] >= xyxy[:, 0]) & (xyxy[:, 3] >= xyxy[:, 1])
    if not valid.all():
        xyxy, scores, class_ids = xyxy[valid], scores[valid], class_ids[valid]
    if xyxy.shape[0] == 0:
        return Detections.empty()
    top = top_candidates(scores, settings.max_candidates)
    if top.shape[0] < scores.shape[0]:
        xyxy, scores, class_ids = xyxy[top], scores[top], class_ids[top]
    iou, most = settings.iou_threshold, settings.max_detections
    if mode is NmsMode.PER_CLASS:
        keep = nms_per_class(xyxy, scores, class_ids, iou, most)
    elif mode is NmsMode.CLASS_AGNOSTIC:
        keep = nms_class_agnostic(xyxy, scores, iou, most)
    else:
        keep = np.argsort(-scores, kind="stable")[:most]
    boxes = xyxy[keep].astype(np.float32, copy=True)
    geometry.to_image_xyxy(boxes)
    return Detections(
        boxes,
        np.clip(scores[keep], 0.0, 1.0).astype(np.float32, copy=False),
        class_ids[keep].astype(np.int32, copy=False),
    )


def xywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """float32 (n, 4) corners from centre, width and height (each (n,))."""
    half_w = w * 0.5
    half_h = h * 0.5
    return np.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), axis=1).astype(
        np.float32, copy=False
    )
