"""Paths of the shared assets used by the models tests, and skipping when they are absent."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / ".." / "shared" / "assets"
YOLOX = ASSETS / "models" / "yolox_nano_coco_416.onnx"
FASTESTDET = ASSETS / "models" / "fastestdet_coco_352.onnx"
COCO_NAMES = ASSETS / "models" / "coco80.names"
COCO_IMAGES = ASSETS / "images" / "coco_val2017"


def require(*paths: Path) -> None:
    """Skip the calling test, naming the missing files, unless every path exists."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared assets not found: {', '.join(missing)}")


def read_image(path: Path) -> np.ndarray:
    """A BGR uint8 image (skips the test if the file is absent)."""
    require(path)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path} is not an image OpenCV can read")
    return image
