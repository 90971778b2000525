"""Ultralytics YOLOv8 / YOLO11 detection exports.

Two layouts:

- raw: output (B, 4 + C, N), rows ``cx, cy, w, h`` in input-canvas pixels then C class scores
  (sigmoid applied in the graph, no objectness); N anchors at strides 8/16/32. Score = max over
  classes; per-class NMS (as ``ultralytics.utils.nms.non_max_suppression`` with one label per box).
- end-to-end: output (B, K, 6), rows ``x1, y1, x2, y2, score, class`` already suppressed
  (``export(nms=True)``, or the NMS-free heads of YOLOv10/YOLO26 with ``end2end`` metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.letterbox import ULTRALYTICS_STYLE, LetterboxGeometry
from models.postprocess import DecodeSettings, NmsMode, finish_detections, xywh_to_xyxy
from models.spec import ModelFamily
from models.yolox import grid_count
from vision.types import Detections


def is_ultralytics(metadata: Mapping[str, str]) -> bool:
    """Whether ONNX metadata was written by the Ultralytics exporter."""
    author = metadata.get("author", "").lower()
    return author.startswith("ultralytics") or {"stride", "names", "task"} <= metadata.keys()


def fit_raw(output_shape: Sequence[int], input_hw: tuple[int, int]) -> int | None:
    """Number of classes if ``output_shape`` is a raw (B, 4+C, N) output, else None."""
    if len(output_shape) != 3:
        return None
    _, width, anchors = output_shape
    if anchors != grid_count(input_hw) or width < 5:
        return None
    return int(width) - 4


def fit_end_to_end(
    output_shape: Sequence[int], input_hw: tuple[int, int], metadata: Mapping[str, str]
) -> bool:
    """Whether ``output_shape`` is an end-to-end (B, K, 6) output."""
    if len(output_shape) != 3 or output_shape[2] != 6:
        return False
    says_so = metadata.get("end2end", "").lower() == "true"
    return says_so or output_shape[1] != grid_count(input_hw)


def expected_layout(input_hw: tuple[int, int]) -> str:
    return f"Ultralytics [B, 4+C, {grid_count(input_hw)}] or end-to-end [B, K, 6]"


class Yolov8Decoder:
    """Decode Ultralytics detection outputs.

    Args:
        input_hw: network input (height_px, width_px).
        num_classes: C (for end-to-end outputs, the number of class names).
        settings: thresholds.
        end_to_end: the output is (B, K, 6) with NMS already applied.
    """

    family = ModelFamily.YOLOV8
    style = ULTRALYTICS_STYLE

    def __init__(
        self,
        input_hw: tuple[int, int],
        num_classes: int,
        settings: DecodeSettings,
        end_to_end: bool = False,
    ) -> None:
        self.input_hw = input_hw
        self.num_classes = num_classes
        self.settings = settings
        self.end_to_end = end_to_end

    def decode(
        self, output: np.ndarray, geometries: Sequence[LetterboxGeometry]
    ) -> list[Detections]:
        """Decode a (B, 4+C, N) or (B, K, 6) output; B >= len(geometries)."""
        one = self._decode_end_to_end if self.end_to_end else self._decode_raw
        return [one(output[i], g) for i, g in enumerate(geometries)]

    def _decode_raw(self, out: np.ndarray, geometry: LetterboxGeometry) -> Detections:
        threshold = self.settings.score_threshold
        best = out[4:].max(axis=0)  # (N,): a reduction over contiguous rows
        candidates = np.flatnonzero(best >= threshold)
        if candidates.size == 0:
            return Detections.empty()
        sub = out[:, candidates]  # (4+C, k)
        class_ids = sub[4:].argmax(axis=0)
        xyxy = xywh_to_xyxy(sub[0], sub[1], sub[2], sub[3])
        return finish_detections(
            xyxy, best[candidates], class_ids, geometry, self.settings, NmsMode.PER_CLASS
        )

    def _decode_end_to_end(self, out: np.ndarray, geometry: LetterboxGeometry) -> Detections:
        rows = out[out[:, 4] >= self.settings.score_threshold]
        class_ids = np.rint(rows[:, 5]).astype(np.int32)
        known = (class_ids >= 0) & (class_ids < self.num_classes)
        if not known.all():
            rows, class_ids = rows[known], class_ids[known]
        xyxy = np.ascontiguousarray(rows[:, :4], dtype=np.float32)
        return finish_detections(
            xyxy, rows[:, 4].copy(), class_ids, geometry, self.settings, NmsMode.NONE
        )
