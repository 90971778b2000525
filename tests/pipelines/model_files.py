"""Small real ONNX detectors for the per-camera detector tests.

``ebike_model`` writes a YOLOX-layout model (``[1, N, 5+C]`` over grids at strides 8/16/32) whose
output is one box in the middle of its input, of the class we choose, whatever the picture: a
real model run by a real onnxruntime session, whose answer is known. Its class names go in the
ONNX metadata ``names`` as JSON (as ``models train`` writes them) or in the Ultralytics dict
style.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from tests.models.tiny_onnx import echo_model, grid_cells

INPUT_HW = (64, 64)


def ebike_model(
    path: Path,
    names: tuple[str, ...] = ("person", "ebike"),
    class_name: str = "ebike",
    names_style: str = "json",
    score: float = 0.9,
) -> Path:
    """A model that sees one ``class_name`` (centre half of the picture) in every image."""
    cells = grid_cells(INPUT_HW)
    out = np.zeros((1, len(cells), 5 + len(names)), np.float32)
    stride, gx, gy = 16, 2, 2  # the stride-16 cell whose centre is the picture's centre
    index = cells.index((stride, gx, gy))
    cx = cy = INPUT_HW[0] / 2
    w = h = INPUT_HW[0] / 2
    box = [cx / stride - gx, cy / stride - gy, math.log(w / stride), math.log(h / stride)]
    classes = [1.0 if name == class_name else 0.0 for name in names]
    out[0, index] = [*box, score, *classes]
    if names_style == "json":
        metadata = {"names": json.dumps(list(names))}
    elif names_style == "json_dict":
        metadata = {"names": json.dumps({str(i): n for i, n in enumerate(names)})}
    elif names_style == "ultralytics":
        metadata = {"names": str(dict(enumerate(names)))}
    elif names_style == "none":
        metadata = {}
    else:
        raise ValueError(f"unknown names_style {names_style!r}")
    return echo_model(path, out, input_hw=INPUT_HW, batch=1, metadata=metadata)
