"""NMS semantics: per class vs agnostic, the threshold is exclusive, order and caps."""

from __future__ import annotations

import numpy as np
import pytest

from models.nms import nms_class_agnostic, nms_per_class, top_candidates

A = [0, 0, 10, 10]
A_085 = [0, 0, 10, 8.5]  # IoU with A = 0.85
FAR = [100, 100, 110, 110]


def _arrays(boxes, scores, classes):
    return (
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores, np.float32),
        np.array(classes, np.int32),
    )


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "iou", "expected"),
    [
        pytest.param([A, A_085], [0.9, 0.8], [0, 0], 0.84, [0], id="same-class-suppressed"),
        pytest.param([A, A_085], [0.9, 0.8], [0, 0], 0.86, [0, 1], id="iou-below-threshold-kept"),
        pytest.param([A, A_085], [0.9, 0.8], [0, 1], 0.1, [0, 1], id="other-class-kept"),
        pytest.param([A_085, A, FAR], [0.5, 0.9, 0.7], [0, 0, 0], 0.45, [1, 2], id="by-score"),
        pytest.param([A, FAR], [0.0, 0.0], [0, 0], 0.45, [0, 1], id="zero-scores-kept"),
        pytest.param([], [], [], 0.45, [], id="empty"),
    ],
)
def test_nms_per_class(boxes, scores, classes, iou, expected) -> None:
    xyxy, score_array, class_ids = _arrays(boxes, scores, classes)
    keep = nms_per_class(xyxy, score_array, class_ids, iou, max_detections=100)
    assert keep.tolist() == expected


def test_class_agnostic_suppresses_across_classes() -> None:
    boxes, scores, _ = _arrays([A, A_085, FAR], [0.9, 0.8, 0.1], [0, 1, 2])
    assert nms_class_agnostic(boxes, scores, 0.5, max_detections=100).tolist() == [0, 2]


def test_max_detections_keeps_the_best() -> None:
    boxes = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(10)], np.float32)
    scores = np.linspace(0.1, 1.0, 10).astype(np.float32)
    keep = nms_per_class(boxes, scores, np.zeros(10, np.int32), 0.5, max_detections=3)
    assert keep.tolist() == [9, 8, 7]


def test_top_candidates() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7], np.float32)
    assert sorted(top_candidates(scores, 2).tolist()) == [1, 3]
    assert top_candidates(scores, 10).tolist() == [0, 1, 2, 3]
