"""Small box arithmetic shared by the object rules (boxes as (x1, y1, x2, y2), any units)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = Sequence[float] | np.ndarray


def iou_xyxy(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0.0 when both are empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def overlap_of_smaller_xyxy(a: Box, b: Box) -> float:
    """Intersection as a fraction of the smaller box's area (1.0 when one contains the other)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / smaller) if smaller > 0 else 0.0
