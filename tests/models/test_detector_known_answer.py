"""Known-answer tests: tiny ONNX graphs whose output encodes boxes we chose.

For each family the test writes the raw output a real model would produce for chosen boxes
(encoded with the family's published formulas, written out here independently of the runtime),
runs it through ``OnnxDetector`` on a non-square image, and checks the detections come back as
exactly those boxes in original-image pixels: decode, score filter, NMS and letterbox inversion
together.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import echo_model, grid_cells

from models.detector import OnnxDetector
from models.spec import DetectorSpec, ModelFamily

INPUT_HW = (64, 96)  # non-square network input: grids of 8x12, 4x6 and 2x3
IMAGE_HW = (90, 170)  # non-square image: the letterbox matters
NAMES = "{0: 'car', 1: 'motorbike', 2: 'person'}"


def _image(hw: tuple[int, int] = IMAGE_HW, value: int = 0) -> np.ndarray:
    return np.full((*hw, 3), value, np.uint8)


def _check(detections, expected: list[tuple[int, float, list[float]]], atol: float = 1e-3):
    got = [
        (int(c), float(s), [float(v) for v in b])
        for b, s, c in zip(detections.xyxy, detections.confidence, detections.class_id, strict=True)
    ]
    assert len(got) == len(expected), got
    for (gc, gs, gb), (ec, es, eb) in zip(got, expected, strict=True):
        assert gc == ec, got
        assert gs == pytest.approx(es, abs=1e-5), got
        np.testing.assert_allclose(gb, eb, atol=atol)


# -- YOLOX -------------------------------------------------------------------------------------


def _yolox_row(cell, cx, cy, w, h, obj, cls_scores):
    """One output row for a box centred at (cx, cy) of size w x h in canvas pixels."""
    stride, gx, gy = cell
    box = [cx / stride - gx, cy / stride - gy, math.log(w / stride), math.log(h / stride)]
    return [*box, obj, *cls_scores]


def _yolox_output():
    cells = grid_cells(INPUT_HW)
    out = np.zeros((1, len(cells), 5 + 3), np.float32)
    index = {cell: i for i, cell in enumerate(cells)}

    def put(cell, *row):
        out[0, index[cell]] = _yolox_row(cell, *row)

    put((8, 3, 2), 28, 18, 40, 24, 0.9, (0.0, 1.0, 0.0))  # A: motorbike 0.9
    put((16, 1, 1), 28, 18, 40, 24, 0.6, (0.0, 1.0, 0.0))  # B: same box, same class, lower
    put((8, 5, 5), 28, 18, 40, 24, 0.7, (0.0, 0.0, 1.0))  # C: same box, other class: kept
    put((8, 6, 6), 50, 50, 10, 10, 0.9, (0.2, 0.0, 0.0))  # D: 0.9 * 0.2 = 0.18 < 0.3
    put((32, 2, 1), 80, 48, 32, 32, 0.5, (0.8, 0.0, 0.0))  # E: car 0.4, crosses the image edge
    return out


def test_yolox_known_boxes_in_image_pixels(tmp_path: Path) -> None:
    path = echo_model(tmp_path / "yolox.onnx", _yolox_output(), input_hw=INPUT_HW, batch=1)
    detector = OnnxDetector(DetectorSpec(path, labels=("car", "motorbike", "person")))
    assert detector.family is ModelFamily.YOLOX
    assert detector.input_hw == INPUT_HW
    r = min(64 / 90, 96 / 170)  # YOLOX: divide by r, no pad offset
    a = [(28 - 20) / r, (18 - 12) / r, (28 + 20) / r, (18 + 12) / r]
    e = [64 / r, 32 / r, 170.0, 90.0]  # x2 = 96 / r = 170 exactly; y2 clipped at the image
    (detections,) = detector.detect([_image()])
    _check(detections, [(1, 0.9, a), (2, 0.7, a), (0, 0.4, e)])


# -- Ultralytics raw [B, 4+C, N] --------------------------------------------------------------


def _ultralytics_geometry(image_hw, input_hw):
    """Ultralytics LetterBox/scale_boxes, written out from ultralytics' source."""
    h, w = image_hw
    r = min(input_hw[0] / h, input_hw[1] / w)
    new_w, new_h = round(w * r), round(h * r)
    left = round((input_hw[1] - new_w) / 2 - 0.1)
    top = round((input_hw[0] - new_h) / 2 - 0.1)
    return (left, top), (new_w / w, new_h / h)


def _to_image(box, image_hw, input_hw):
    (left, top), (gx, gy) = _ultralytics_geometry(image_hw, input_hw)
    x1, y1, x2, y2 = box
    h, w = image_hw
    return [
        min(max((x1 - left) / gx, 0), w),
        min(max((y1 - top) / gy, 0), h),
        min(max((x2 - left) / gx, 0), w),
        min(max((y2 - top) / gy, 0), h),
    ]


def _yolov8_raw_output():
    n = len(grid_cells(INPUT_HW))
    out = np.zeros((1, 4 + 3, n), np.float32)

    def put(anchor, cx, cy, w, h, class_id, score):
        out[0, :4, anchor] = (cx, cy, w, h)
        out[0, 4 + class_id, anchor] = score

    put(10, 28, 24, 40, 24, 1, 0.9)  # A
    put(20, 28, 24, 40, 24, 1, 0.6)  # B: suppressed by A
    put(30, 28, 24, 40, 24, 2, 0.7)  # C: other class, kept
    put(40, 50, 30, 10, 10, 0, 0.2)  # D: under the threshold
    put(125, 80, 52, 32, 24, 0, 0.4)  # E: bottom edge below the image
    return out


@pytest.mark.parametrize(
    "image_hw",
    [pytest.param((90, 170), id="wide"), pytest.param((170, 90), id="tall")],
)
def test_yolov8_raw_known_boxes_in_image_pixels(tmp_path: Path, image_hw) -> None:
    metadata = {"author": "Ultralytics", "task": "detect", "stride": "32", "names": NAMES}
    path = echo_model(
        tmp_path / "y8.onnx", _yolov8_raw_output(), input_hw=INPUT_HW, metadata=metadata
    )
    detector = OnnxDetector(DetectorSpec(path))
    assert (detector.family, detector.end_to_end) == (ModelFamily.YOLOV8, False)
    assert detector.labels == ("car", "motorbike", "person")
    a = _to_image([8, 12, 48, 36], image_hw, INPUT_HW)
    e = _to_image([64, 40, 96, 64], image_hw, INPUT_HW)
    (detections,) = detector.detect([_image(image_hw)])
    _check(detections, [(1, 0.9, a), (2, 0.7, a), (0, 0.4, e)])


def test_yolov8_raw_batch_maps_each_image_with_its_own_geometry(tmp_path: Path) -> None:
    path = echo_model(tmp_path / "y8.onnx", _yolov8_raw_output(), input_hw=INPUT_HW)
    detector = OnnxDetector(DetectorSpec(path, labels=("car", "motorbike", "person")))
    sizes = [(90, 170), (170, 90), (64, 96), (300, 200)]
    results = detector.detect([_image(hw) for hw in sizes])
    for hw, detections in zip(sizes, results, strict=True):
        a = _to_image([8, 12, 48, 36], hw, INPUT_HW)
        e = _to_image([64, 40, 96, 64], hw, INPUT_HW)
        _check(detections, [(1, 0.9, a), (2, 0.7, a), (0, 0.4, e)])


# -- Ultralytics end-to-end [B, K, 6] ----------------------------------------------------------


def test_yolov8_end_to_end_known_boxes_without_nms(tmp_path: Path) -> None:
    out = np.zeros((1, 7, 6), np.float32)
    out[0, 0] = (8, 12, 48, 36, 0.9, 1)  # A
    out[0, 1] = (10, 14, 48, 36, 0.6, 1)  # overlaps A, same class: kept (NMS is in the model)
    out[0, 2] = (64, 40, 96, 64, 0.4, 0)
    out[0, 3] = (1, 1, 5, 5, 0.1, 2)  # under the threshold
    out[0, 4] = (1, 1, 5, 5, 0.8, 7)  # class index the model has no name for: dropped
    metadata = {"author": "Ultralytics", "task": "detect", "end2end": "True", "names": NAMES}
    path = echo_model(tmp_path / "e2e.onnx", out, input_hw=INPUT_HW, metadata=metadata)
    detector = OnnxDetector(DetectorSpec(path))
    assert (detector.family, detector.end_to_end) == (ModelFamily.YOLOV8, True)
    assert len(detector.labels) == 3
    (detections,) = detector.detect([_image()])
    _check(
        detections,
        [
            (1, 0.9, _to_image([8, 12, 48, 36], IMAGE_HW, INPUT_HW)),
            (1, 0.6, _to_image([10, 14, 48, 36], IMAGE_HW, INPUT_HW)),
            (0, 0.4, _to_image([64, 40, 96, 64], IMAGE_HW, INPUT_HW)),
        ],
    )


# -- FastestDet [B, 5+C, H/16, W/16] ------------------------------------------------------------


def test_fastestdet_known_boxes_in_image_pixels(tmp_path: Path) -> None:
    gh, gw = INPUT_HW[0] // 16, INPUT_HW[1] // 16
    out = np.zeros((1, 5 + 3, gh, gw), np.float32)
    out[0, 5:] = 1 / 3  # softmax over 3 classes, obj 0: score 0 everywhere else

    def put(gy, gx, obj, ox, oy, w_frac, h_frac, probs):
        out[0, :5, gy, gx] = (
            obj,
            math.atanh(ox),
            math.atanh(oy),
            math.log(w_frac / (1 - w_frac)),
            math.log(h_frac / (1 - h_frac)),
        )
        out[0, 5:, gy, gx] = probs

    put(1, 2, 0.9, 0.5, 0.0, 0.25, 0.5, (0.1, 0.8, 0.1))  # kept
    put(1, 3, 0.8, -0.4, 0.0, 0.25, 0.5, (0.1, 0.1, 0.8))  # overlaps, other class: agnostic NMS
    path = echo_model(tmp_path / "fd.onnx", out, input_hw=INPUT_HW, batch=1)
    detector = OnnxDetector(
        DetectorSpec(path, labels=("car", "motorbike", "person"), family=ModelFamily.FASTESTDET)
    )
    h, w = IMAGE_HW
    cx, cy, bw, bh = (2 + 0.5) / gw * w, (1 + 0.0) / gh * h, 0.25 * w, 0.5 * h
    box = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
    (detections,) = detector.detect([_image()])
    _check(detections, [(1, 0.9**0.6 * 0.8**0.4, box)])
