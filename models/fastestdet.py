"""FastestDet: output (B, 5 + C, H/16, W/16), one box per cell.

Recipe (docs/ARCHITECTURE.md §7, dog-qiuqiu/FastestDet's ONNX demo): channel 0 is objectness with
sigmoid applied, channels 1-2 centre offsets (apply tanh), 3-4 width and height as a fraction of
the image (apply sigmoid), 5.. class probabilities (softmax applied). Score =
``obj ** 0.6 * max(cls) ** 0.4``; ``cx = (gx + tanh(t1)) / gw`` and so on, normalised to the
whole image because the preprocessing is a plain stretch. NMS is class-agnostic, as upstream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.letterbox import FASTESTDET_STYLE, LetterboxGeometry
from models.postprocess import DecodeSettings, NmsMode, finish_detections, xywh_to_xyxy
from models.spec import ModelFamily
from vision.types import Detections

STRIDE = 16


def fit(output_shape: Sequence[int], input_hw: tuple[int, int]) -> int | None:
    """Number of classes if ``output_shape`` is a FastestDet output for ``input_hw``, else None."""
    if len(output_shape) != 4:
        return None
    _, channels, gh, gw = output_shape
    if (gh, gw) != (input_hw[0] // STRIDE, input_hw[1] // STRIDE) or channels < 6:
        return None
    return int(channels) - 5


def expected_layout(input_hw: tuple[int, int]) -> str:
    return f"FastestDet [B, 5+C, {input_hw[0] // STRIDE}, {input_hw[1] // STRIDE}]"


class FastestDetDecoder:
    """Decode FastestDet outputs for one input size."""

    family = ModelFamily.FASTESTDET
    style = FASTESTDET_STYLE
    end_to_end = False

    def __init__(self, input_hw: tuple[int, int], num_classes: int, settings: DecodeSettings):
        self.input_hw = input_hw
        self.num_classes = num_classes
        self.settings = settings

    def decode(
        self, output: np.ndarray, geometries: Sequence[LetterboxGeometry]
    ) -> list[Detections]:
        """Decode a (B, 5+C, gh, gw) output; B >= len(geometries)."""
        return [self._decode_one(output[i], g) for i, g in enumerate(geometries)]

    def _decode_one(self, out: np.ndarray, geometry: LetterboxGeometry) -> Detections:
        channels, gh, gw = out.shape
        flat = out.reshape(channels, gh * gw)
        obj = np.clip(flat[0], 0.0, 1.0)
        best = np.clip(flat[5:].max(axis=0), 0.0, 1.0)
        scores = obj**0.6 * best**0.4
        candidates = np.flatnonzero(scores >= self.settings.score_threshold)
        if candidates.size == 0:
            return Detections.empty()
        sub = flat[:, candidates]
        gy, gx = np.divmod(candidates, gw)
        in_h, in_w = self.input_hw
        cx = (gx + np.tanh(sub[1])) / gw * in_w
        cy = (gy + np.tanh(sub[2])) / gh * in_h
        w = 1.0 / (1.0 + np.exp(-sub[3])) * in_w
        h = 1.0 / (1.0 + np.exp(-sub[4])) * in_h
        xyxy = xywh_to_xyxy(cx, cy, w, h)
        class_ids = sub[5:].argmax(axis=0)
        return finish_detections(
            xyxy,
            scores[candidates].astype(np.float32),
            class_ids,
            geometry,
            self.settings,
            NmsMode.CLASS_AGNOSTIC,
        )
