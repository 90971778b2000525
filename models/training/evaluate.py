"""Precision and recall of a detector on a dataset split, per class, at IoU >= 0.5.

Runs in the run-time venv through the same adapter the cameras use (:class:`OnnxDetector`), so
the numbers are those of the deployed model, letterbox and decoding included.

A dataset class is counted from one or more model labels (``{"ebike": ("motorbike",
"bicycle")}`` for a COCO model that has no e-bike class); when several labels count as one class
their boxes go through one class-agnostic NMS first, so a motorbike box and a bicycle box on the
same e-bike count once. Matching is greedy by score: a detection is a true positive when its IoU
with a not yet matched ground-truth box of its class is at least 0.5.

The detector runs once at a low score threshold; precision and recall at any higher threshold are
computed from the kept scores (:func:`sweep`), which is how the operating threshold is picked on
one split (val) and then reported on another (the held-back test split).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.detector import OnnxDetector
from models.nms import nms_class_agnostic
from models.spec import DetectorSpec, ModelFamily, ProviderChoice
from models.training.dataset import DatasetError, LabelledImage

IOU_MATCH = 0.5
FLOOR_SCORE = 0.05


@dataclass(frozen=True, slots=True)
class ScoredImage:
    """One image's detections of one class (scores, xyxy) and its ground truth (xyxy)."""

    scores: np.ndarray
    boxes: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True, slots=True)
class ClassResult:
    """Counts and rates of one class at one threshold."""

    name: str
    threshold: float
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def describe(self) -> str:
        recall = f"recall {self.recall:.3f}" if self.tp + self.fn else "recall n/a (no boxes)"
        return (
            f"{self.name:<10} score>={self.threshold:.2f}  precision {self.precision:.3f}  "
            f"{recall}  (tp {self.tp}, fp {self.fp}, fn {self.fn})"
        )


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def count(images: Sequence[ScoredImage], threshold: float, name: str) -> ClassResult:
    """TP/FP/FN over ``images`` keeping detections with score >= ``threshold``."""
    tp = fp = fn = 0
    for image in images:
        keep = image.scores >= threshold
        order = np.argsort(-image.scores[keep], kind="stable")
        boxes = image.boxes[keep][order]
        matched = np.zeros(len(image.truth), bool)
        if len(boxes) and len(image.truth):
            ious = _iou(boxes, image.truth)
            for row in ious:
                row = np.where(matched, -1.0, row)
                best = int(row.argmax())
                if row[best] >= IOU_MATCH:
                    matched[best] = True
                    tp += 1
                else:
                    fp += 1
        else:
            fp += len(boxes)
        fn += int((~matched).sum())
    return ClassResult(name, threshold, tp, fp, fn)


def sweep(images: Sequence[ScoredImage], name: str) -> list[ClassResult]:
    """Results at every distinct detection score (ascending thresholds)."""
    scores = np.unique(np.concatenate([i.scores for i in images] + [np.array([FLOOR_SCORE])]))
    return [count(images, float(t), name) for t in scores if t >= FLOOR_SCORE]


def pick_threshold(results: Sequence[ClassResult], min_precision: float) -> ClassResult:
    """The lowest threshold whose precision reaches ``min_precision`` (best recall there),
    else the threshold with the best precision."""
    good = [r for r in results if r.precision >= min_precision and r.tp > 0]
    if good:
        return max(good, key=lambda r: (r.recall, -r.threshold))
    return max(results, key=lambda r: (r.precision, r.recall))


def load_detector(model: Path, score_floor: float = FLOOR_SCORE) -> OnnxDetector:
    """The run-time adapter for ``model`` with a low threshold (thresholds are swept after)."""
    spec = DetectorSpec(
        model=model,
        providers=(ProviderChoice.CPU,),
        family=ModelFamily.AUTO,
        score_threshold=score_floor,
        iou_threshold=0.45,
        batch_max_size=1,
        warmup_runs=0,
    )
    return OnnxDetector(spec)


def score_split(
    detector: OnnxDetector,
    items: Sequence[LabelledImage],
    dataset_names: Sequence[str],
    counted_as: Mapping[str, Sequence[str]],
) -> dict[str, list[ScoredImage]]:
    """Run ``detector`` on ``items``: per dataset class, each image's detections and truth.

    Args:
        counted_as: dataset class -> the model labels whose detections count as that class;
            classes missing from it are counted from the model label of the same name.

    Raises:
        DatasetError: an image cannot be read, or a class maps to no label of the model.
    """
    labels = list(detector.labels)
    label_ids: dict[str, list[int]] = {}
    for name in dataset_names:
        wanted = list(counted_as.get(name, (name,)))
        missing = [w for w in wanted if w not in labels]
        if missing and len(missing) == len(wanted):
            continue  # the model cannot see this class at all: not scored
        label_ids[name] = [labels.index(w) for w in wanted if w in labels]
    out: dict[str, list[ScoredImage]] = {name: [] for name in label_ids}
    for item in items:
        image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"{item.image}: not an image OpenCV can read")
        h, w = image.shape[:2]
        (found,) = detector.detect([image])
        truth_all = item.boxes_xyxy(w, h)
        for name, ids in label_ids.items():
            mask = np.isin(found.class_id, ids)
            boxes = found.xyxy[mask].astype(np.float32)
            scores = found.confidence[mask].astype(np.float32)
            if len(ids) > 1 and len(boxes):
                keep = nms_class_agnostic(boxes, scores, 0.45, 300)
                boxes, scores = boxes[keep], scores[keep]
            truth = truth_all[item.classes == dataset_names.index(name)]
            out[name].append(ScoredImage(scores, boxes, truth))
    return out


def new_model_repurposed(model: Path) -> dict[str, str]:
    """The ``hazardwatch_repurposed`` metadata of a model ``models train`` wrote (base class ->
    new class, e.g. ``{"motorbike": "ebike"}``), else {}: how to count the new classes on the
    model it replaces."""
    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        props = session.get_modelmeta().custom_metadata_map
        value = json.loads(props.get("hazardwatch_repurposed", "{}"))
    except (OSError, ValueError, RuntimeError, ort.capi.onnxruntime_pybind11_state.Fail) as exc:
        raise DatasetError(f"{model}: cannot read its metadata: {exc}") from exc
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
