"""YOLOX exports: output (B, N, 5 + C), rows ``[tx, ty, tw, th, obj, cls_0 .. cls_C-1]``.

Recipe (docs/ARCHITECTURE.md §7, YOLOX ``demo_postprocess``): N is the concatenation of the grids
at strides 8, 16 and 32, each row-major (for each grid y, for each grid x). ``obj`` and the class
scores already went through a sigmoid inside the graph; the box decoding is not in the graph:
``cx = (tx + gx) * s``, ``cy = (ty + gy) * s``, ``w = exp(tw) * s``, ``h = exp(th) * s`` in
input-canvas pixels. Score = ``obj * max_c cls_c``; NMS per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.letterbox import YOLOX_STYLE, LetterboxGeometry
from models.postprocess import DecodeSettings, NmsMode, finish_detections, xywh_to_xyxy
from models.spec import ModelFamily
from vision.types import Detections

STRIDES: tuple[int, ...] = (8, 16, 32)


def grid_count(input_hw: tuple[int, int], strides: Sequence[int] = STRIDES) -> int:
    """Number of anchor points of an anchor-free head on ``input_hw`` (YOLOX and Ultralytics)."""
    return sum((input_hw[0] // s) * (input_hw[1] // s) for s in strides)


def make_grids(
    input_hw: tuple[int, int], strides: Sequence[int] = STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell coordinates (N, 2) float32 (gx, gy) and strides (N,) float32, in output order."""
    grids, expanded = [], []
    for stride in strides:
        gh, gw = input_hw[0] // stride, input_hw[1] // stride
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack((xs.ravel(), ys.ravel()), axis=1))
        expanded.append(np.full(gh * gw, stride))
    return (
        np.concatenate(grids).astype(np.float32),
        np.concatenate(expanded).astype(np.float32),
    )


def fit(output_shape: Sequence[int], input_hw: tuple[int, int]) -> int | None:
    """Number of classes if ``output_shape`` is a YOLOX output for ``input_hw``, else None."""
    if len(output_shape) != 3:
        return None
    _, rows, width = output_shape
    if rows != grid_count(input_hw) or width < 6:
        return None
    return int(width) - 5


def expected_layout(input_hw: tuple[int, int]) -> str:
    return f"YOLOX [B, {grid_count(input_hw)}, 5+C]"


class YoloxDecoder:
    """Decode YOLOX outputs for one input size.

    Args:
        input_hw: network input (height_px, width_px).
        num_classes: C.
        settings: thresholds.
    """

    family = ModelFamily.YOLOX
    style = YOLOX_STYLE
    end_to_end = False

    def __init__(self, input_hw: tuple[int, int], num_classes: int, settings: DecodeSettings):
        self.input_hw = input_hw
        self.num_classes = num_classes
        self.settings = settings
        self._grids, self._strides = make_grids(input_hw)

    def decode(
        self, output: np.ndarray, geometries: Sequence[LetterboxGeometry]
    ) -> list[Detections]:
        """Decode a (B, N, 5+C) output; B >= len(geometries) (extra rows are padding)."""
        return [self._decode_one(output[i], g) for i, g in enumerate(geometries)]

    def _decode_one(self, rows: np.ndarray, geometry: LetterboxGeometry) -> Detections:
        threshold = self.settings.score_threshold
        # Class scores are <= 1, so score = obj * cls <= obj: filter on obj before anything else.
        candidates = np.flatnonzero(rows[:, 4] >= threshold)
        if candidates.size == 0:
            return Detections.empty()
        sub = rows[candidates]
        class_ids = sub[:, 5:].argmax(axis=1)
        scores = sub[:, 4] * sub[np.arange(sub.shape[0]), 5 + class_ids]
        keep = scores >= threshold
        if not keep.all():
            candidates, sub, class_ids, scores = (
                candidates[keep],
                sub[keep],
                class_ids[keep],
                scores[keep],
            )
        grids, strides = self._grids[candidates], self._strides[candidates]
        cx = (sub[:, 0] + grids[:, 0]) * strides
        cy = (sub[:, 1] + grids[:, 1]) * strides
        with np.errstate(over="ignore"):  # inf boxes are dropped by finish_detections
            w = np.exp(sub[:, 2]) * strides
            h = np.exp(sub[:, 3]) * strides
        xyxy = xywh_to_xyxy(cx, cy, w, h)
        return finish_detections(
            xyxy, scores, class_ids, geometry, self.settings, NmsMode.PER_CLASS
        )
