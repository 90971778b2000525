"""Read a YOLO-format detection dataset, the layout ``hazardwatch dataset export`` writes.

Layout::

    DATASET/data.yaml               names: [ebike, person]   (a list, or a dict {0: ebike, ...})
    DATASET/manifest.json           sources, sha256, counts (not read here)
    DATASET/images/{train,val}/*.jpg|*.png
    DATASET/labels/{train,val}/<stem>.txt   one "class cx cy w h" line per box, normalised 0-1;
                                            an empty file is a negative (nothing to detect)

Every image must have its label file: a missing one is an error, not a negative, so that a
half-copied dataset does not train the model that nothing is there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SPLITS = ("train", "val", "test")


class DatasetError(Exception):
    """The dataset is missing a part or has a malformed file (the message names it)."""


@dataclass(frozen=True, slots=True)
class LabelledImage:
    """One image and its boxes.

    Attributes:
        image: path of the image file.
        classes: (n,) int64 dataset class indices.
        boxes_cxcywh: (n, 4) float32 normalised centre/size boxes.
    """

    image: Path
    classes: np.ndarray
    boxes_cxcywh: np.ndarray

    def boxes_xyxy(self, width: int, height: int) -> np.ndarray:
        """The boxes in pixels of an image of ``width`` x ``height``."""
        b = self.boxes_cxcywh
        out = np.empty_like(b)
        out[:, 0] = (b[:, 0] - b[:, 2] / 2) * width
        out[:, 1] = (b[:, 1] - b[:, 3] / 2) * height
        out[:, 2] = (b[:, 0] + b[:, 2] / 2) * width
        out[:, 3] = (b[:, 1] + b[:, 3] / 2) * height
        return out


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset folder's class names and the images of each split present."""

    root: Path
    names: tuple[str, ...]
    splits: dict[str, list[LabelledImage]]

    def split(self, name: str) -> list[LabelledImage]:
        """The images of split ``name``.

        Raises:
            DatasetError: the split has no images.
        """
        items = self.splits.get(name, [])
        if not items:
            raise DatasetError(f"dataset {self.root} has no images in images/{name}/")
        return items


def _scalar(text: str) -> str:
    value = text.split(" #")[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


_KEY = re.compile(r"^(\d+)\s*:\s*(.+)$")


def parse_names(text: str, where: str) -> tuple[str, ...]:
    """The ``names:`` of a data.yaml: a flow list ``[a, b]``, a block list (``- a`` lines, as
    ``dataset export`` writes it) or an index map (``0: a`` lines or ``{0: a}``, Ultralytics).

    ``models/`` may not use a YAML library (the layer rule of STYLE.md, tests/test_layers.py), so
    this reads just that key, in the forms those two writers produce.

    Raises:
        DatasetError: no ``names:``, another form, non-contiguous indices, or a repeated name.
    """
    lines = text.splitlines()
    found: list[str] | None = None
    for i, line in enumerate(lines):
        head = re.match(r"^names\s*:\s*(.*)$", line)
        if head is None:
            continue
        rest = head.group(1).split(" #")[0].strip()
        by_index: dict[int, str] = {}
        if rest.startswith("[") and rest.endswith("]"):
            found = [_scalar(v) for v in rest[1:-1].split(",") if v.strip()]
        elif rest.startswith("{") and rest.endswith("}"):
            for pair in rest[1:-1].split(","):
                match = _KEY.match(pair.strip())
                if match is None:
                    raise DatasetError(f"{where}: names entry {pair.strip()!r} is not 'N: name'")
                by_index[int(match.group(1))] = _scalar(match.group(2))
        elif not rest:
            items: list[str] = []
            for following in lines[i + 1 :]:
                stripped = following.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                if not following[0].isspace() and not stripped.startswith("-"):
                    break
                if stripped.startswith("- "):
                    items.append(_scalar(stripped[2:]))
                elif (match := _KEY.match(stripped)) is not None:
                    by_index[int(match.group(1))] = _scalar(match.group(2))
                else:
                    raise DatasetError(f"{where}: cannot read names line {stripped!r}")
            found = items
        else:
            raise DatasetError(f"{where}: 'names' must be a list or an index map, got {rest!r}")
        if by_index:
            if sorted(by_index) != list(range(len(by_index))):
                raise DatasetError(
                    f"{where}: names keys must be 0..{len(by_index) - 1}, got {sorted(by_index)}"
                )
            found = [by_index[k] for k in range(len(by_index))]
        break
    if not found or not all(found):
        raise DatasetError(f"{where}: 'names' must be a non-empty list of class names")
    if len(set(found)) != len(found):
        raise DatasetError(f"{where}: 'names' has a name twice: {found}")
    return tuple(found)


def read_names(root: Path) -> tuple[str, ...]:
    """Class names from ``root/data.yaml`` (:func:`parse_names`)."""
    path = root / "data.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    return parse_names(text, str(path))


def read_label_file(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse one YOLO label file into (classes, boxes_cxcywh).

    Raises:
        DatasetError: naming the file and line of a malformed row, an unknown class or a box
            outside the image.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    classes: list[int] = []
    boxes: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{number}"
        if len(parts) != 5:
            raise DatasetError(f"{where}: expected 'class cx cy w h', got {len(parts)} fields")
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise DatasetError(f"{where}: not numbers: {line.strip()!r}") from None
        if not 0 <= cls < num_classes:
            raise DatasetError(f"{where}: class {cls} is not in data.yaml's 0..{num_classes - 1}")
        if not (w > 0 and h > 0 and 0 <= cx <= 1 and 0 <= cy <= 1 and w <= 1.001 and h <= 1.001):
            raise DatasetError(f"{where}: box {cx} {cy} {w} {h} is not a normalised box")
        classes.append(cls)
        boxes.append([cx, cy, w, h])
    return (
        np.asarray(classes, np.int64),
        np.asarray(boxes, np.float32).reshape(-1, 4),
    )


def load_dataset(root: Path, splits: Sequence[str] = SPLITS) -> Dataset:
    """Read ``root``'s names and every image/label pair of the ``splits`` that exist.

    Raises:
        DatasetError: no data.yaml, an image without a label file, or a malformed label.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset {root} is not a folder")
    names = read_names(root)
    found: dict[str, list[LabelledImage]] = {}
    for split in splits:
        image_dir = root / "images" / split
        if not image_dir.is_dir():
            continue
        items = []
        for image in sorted(image_dir.iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label = root / "labels" / split / f"{image.stem}.txt"
            if not label.is_file():
                raise DatasetError(
                    f"{image} has no label file {label} (an empty file marks a negative)"
                )
            classes, boxes = read_label_file(label, len(names))
            items.append(LabelledImage(image, classes, boxes))
        found[split] = items
    if not any(found.values()):
        raise DatasetError(f"dataset {root} has no images under images/{{{','.join(splits)}}}/")
    return Dataset(root, names, found)
