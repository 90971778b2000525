"""Paths of the assets used by the models tests.

YOLOX-Nano, its COCO names and the COCO photos are the repository's own ``assets/`` (committed
and pinned, see ``tests/pipelines/test_assets.py``): tests use them with no skip. FastestDet is
only in the shared test media: tests that need it call ``require_shared`` (a skip locally, a
failure under CI).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipelines.assets import PRODUCT_ASSETS_DIR
from tests.support.assets import SHARED_ASSETS

REPO = Path(__file__).resolve().parents[2]
ASSETS = PRODUCT_ASSETS_DIR
YOLOX = ASSETS / "models" / "yolox_nano_coco_416.onnx"
COCO_NAMES = ASSETS / "models" / "coco80.names"
COCO_IMAGES = ASSETS / "images" / "coco_val2017"
FASTESTDET = SHARED_ASSETS / "models" / "fastestdet_coco_352.onnx"


def read_image(path: Path) -> np.ndarray:
    """A BGR uint8 image."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path} is missing or is not an image OpenCV can read")
    return image
