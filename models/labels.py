"""Class names of a model and the mapping of its labels to the roles the rules use.

Class names come from the ONNX metadata ``names`` (Ultralytics writes a dict literal such as
``{0: 'person', 1: 'bicycle'}``), else from an explicit list or labels file. When nothing names
the classes of an 80-class model, the COCO classes are assumed with a warning, spelled as in the
shared assets' ``coco80.names`` (VOC spellings: ``motorbike``, ``aeroplane``, ``sofa`` ...).

Different models spell the same class differently (``motorcycle`` / ``motorbike``). That is
handled by the config's class mapping, never by code: :func:`map_classes` only *suggests* the
other spelling in its error message.
"""

from __future__ import annotations

import ast
import difflib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from models.errors import LabelMappingError

logger = logging.getLogger(__name__)

# The 80 COCO classes in the usual 0-based order, spelled as in assets/models/coco80.names.
COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa", "pottedplant",
    "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# Same class, other spelling (COCO/Ultralytics <-> VOC style). Used for suggestions only.
_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("motorcycle", "motorbike"),
    ("airplane", "aeroplane"),
    ("couch", "sofa"),
    ("potted plant", "pottedplant"),
    ("dining table", "diningtable"),
    ("tv", "tvmonitor"),
    ("e-bike", "ebike"),
)


class LabelSource(StrEnum):
    """Where a model's class names came from."""

    METADATA = "metadata"
    LABELS = "labels"
    LABELS_FILE = "labels_file"
    COCO80_ASSUMED = "coco80_assumed"


@dataclass(frozen=True, slots=True)
class ModelLabels:
    """Class names of a model in class-index order, and where they came from."""

    names: tuple[str, ...]
    source: LabelSource


def parse_names_metadata(text: str) -> tuple[str, ...]:
    """Parse the ``names`` metadata of an ONNX model.

    Args:
        text: JSON (``["person", ...]`` or ``{"0": "person", ...}``) or a Python literal: a
            dict ``{0: 'person', ...}`` (Ultralytics) or a list of names.

    Returns:
        The names in class-index order.

    Raises:
        LabelMappingError: the text is neither, or the indices are not 0..n-1.
    """
    try:
        value = json.loads(text)
    except ValueError:  # not JSON: Ultralytics writes str() of a Python dict
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise LabelMappingError(
                f"model metadata 'names' is not a dict or list literal (nor JSON): {exc}"
            ) from exc
    if isinstance(value, (list, tuple)):
        items = dict(enumerate(value))
    elif isinstance(value, dict):
        items = value
    else:
        raise LabelMappingError(
            f"model metadata 'names' must be a dict or list, got {type(value).__name__}"
        )
    try:
        keys = sorted(int(k) for k in items)
    except (TypeError, ValueError):
        raise LabelMappingError("model metadata 'names' has non-integer class indices") from None
    if keys != list(range(len(keys))):
        raise LabelMappingError(
            f"model metadata 'names' must have class indices 0..{len(keys) - 1}, got {keys[:10]}"
        )
    by_index = {int(k): str(v) for k, v in items.items()}
    names = tuple(by_index[i] for i in range(len(keys)))
    _check_names(names, "model metadata 'names'")
    return names


def read_labels_file(path: Path) -> tuple[str, ...]:
    """Read class names, one per line (blank trailing lines ignored).

    Raises:
        LabelMappingError: the file cannot be read, is empty, or has blank or duplicate names.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelMappingError(f"labels file {path}: cannot read: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    names = tuple(lines)
    _check_names(names, f"labels file {path}")
    return names


def _check_names(names: Sequence[str], where: str) -> None:
    if not names:
        raise LabelMappingError(f"{where}: no class names")
    for i, name in enumerate(names):
        if not name.strip():
            raise LabelMappingError(f"{where}: class {i} has an empty name")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise LabelMappingError(
                f"{where}: name {name!r} is given twice (classes {seen[name]} and {i})"
            )
        seen[name] = i


def resolve_labels(
    num_classes: int,
    metadata_names: tuple[str, ...] | None,
    labels: Sequence[str] | None = None,
    labels_file: Path | None = None,
    model_name: str = "model",
) -> ModelLabels:
    """Decide the class names of a model with ``num_classes`` outputs.

    Explicit ``labels``/``labels_file`` win over metadata (with a warning when they differ);
    metadata wins over the COCO assumption, which applies only to 80-class models.

    Raises:
        LabelMappingError: the number of names does not match ``num_classes``, or nothing names
            the classes of a model that does not have 80.
    """
    if labels is not None:
        found, source = tuple(labels), LabelSource.LABELS
        _check_names(found, "labels")
    elif labels_file is not None:
        found, source = read_labels_file(labels_file), LabelSource.LABELS_FILE
    elif metadata_names is not None:
        found, source = metadata_names, LabelSource.METADATA
    elif num_classes == len(COCO80):
        logger.warning(
            "%s has no class names in its metadata and none were given: assuming the 80 COCO "
            "classes (VOC spellings, e.g. 'motorbike')",
            model_name,
        )
        return ModelLabels(COCO80, LabelSource.COCO80_ASSUMED)
    else:
        raise LabelMappingError(
            f"{model_name} has {num_classes} classes and no 'names' metadata: give the class "
            f"names with labels or labels_file"
        )
    if len(found) != num_classes:
        raise LabelMappingError(
            f"{model_name} has {num_classes} classes but {source.value} names {len(found)}"
        )
    if source is not LabelSource.METADATA and metadata_names not in (None, found):
        logger.warning("%s: class names from %s override its metadata", model_name, source.value)
    return ModelLabels(found, source)


def suggest_label(unknown: str, available: Sequence[str]) -> str | None:
    """The available label ``unknown`` was most likely meant to be, or None."""
    lowered = {name.lower(): name for name in available}
    key = unknown.strip().lower()
    if key in lowered:
        return lowered[key]
    for a, b in _SPELLINGS:
        for wanted, other in ((a, b), (b, a)):
            if key == wanted and other in lowered:
                return lowered[other]
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def map_classes(
    classes: Mapping[str, str], labels: Sequence[str], model_name: str = "model"
) -> dict[int, str]:
    """Check a label -> role mapping against a model's labels.

    Args:
        classes: model label -> role, e.g. ``{"motorbike": "ebike", "car": "vehicle"}``.
        labels: the model's class names in class-index order.
        model_name: used in the error message.

    Returns:
        class index -> role, for the mapped classes only.

    Raises:
        LabelMappingError: naming every label the model does not have, a did-you-mean
            suggestion for each, and the model's available labels.
    """
    index = {name: i for i, name in enumerate(labels)}
    problems = []
    for label in classes:
        if label not in index:
            hint = suggest_label(label, labels)
            problems.append(f"{label!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    if problems:
        raise LabelMappingError(
            f"detector.classes maps {', '.join(problems)}, which {model_name} does not have; "
            f"its labels are: {', '.join(labels)}"
        )
    return {index[label]: role for label, role in classes.items()}
