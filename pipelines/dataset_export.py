"""Write reviewed frames as a YOLO-format detection dataset (``hazardwatch dataset export``).

Layout (the contract :mod:`models.training.dataset` reads)::

    OUT/data.yaml                    path (absolute), train: images/train, val: images/val,
                                     nc, names: [ebike, vehicle, person, clutter, bicycle] (= ids)
    OUT/images/{train,val}/NAME.jpg
    OUT/labels/{train,val}/NAME.txt  one "class cx cy w h" line per box, normalised 0..1;
                                     an empty file is a negative (nothing of the classes there)
    OUT/manifest.json                every source (ticket, camera, time, evidence file and its
                                     sha256, sha256 of the written image), what was left out and
                                     why, counts per class and split

Why the split is by camera and time, not at random: frames of one camera close in time are near
duplicates (the same parked car for an hour), so a random split puts copies of the training
images into validation and overstates accuracy. Per camera, the latest ``val_fraction`` of the
time span between its first and last item goes to val; items in the ``gap_s`` before that
boundary are left out (listed in the manifest), so neighbours of val items are not trained on.
A camera whose items all share one time has no span to split: they go to train.

The dataset is written into a temporary folder beside ``OUT`` and renamed into place at the end,
so a failed export leaves no half dataset under the name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from vision.annotations import ANNOTATION_CLASSES, AnnotationBox, FrameRef

__all__ = [
    "DATASET_FORMAT",
    "DatasetExportError",
    "ExportItem",
    "ExportSummary",
    "ImageUnavailable",
    "Split",
    "SplitSettings",
    "assign_splits",
    "write_dataset",
]

logger = logging.getLogger(__name__)

DATASET_FORMAT = "hazardwatch-dataset/1"


class DatasetExportError(Exception):
    """The export cannot be made (bad settings, OUT not empty, an image unreadable...)."""


class ImageUnavailable(Exception):
    """An item's picture cannot be read; the message names the ticket, the file and why."""


class Split(StrEnum):
    TRAIN = "train"
    VAL = "val"


@dataclass(frozen=True, slots=True)
class SplitSettings:
    """How items are split: the latest ``val_fraction`` of each camera's time span is val,
    and items within ``gap_s`` before that boundary are left out."""

    val_fraction: float = 0.2
    gap_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 0.0 < self.val_fraction < 1.0:
            raise DatasetExportError(
                f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction}"
            )
        if not self.gap_s >= 0.0:
            raise DatasetExportError(f"gap_s must be >= 0 seconds, got {self.gap_s}")


@dataclass(frozen=True)
class ExportItem:
    """One picture of the dataset-to-be and its boxes (none: a negative).

    ``time`` is what the split goes by: when the ticket's hazard started, so that every frame of
    one ticket falls on the same side. ``load_jpeg`` reads the picture (raises
    :class:`ImageUnavailable`); ``source`` is what the manifest records about where it came from.
    """

    camera_id: str
    ticket_id: str
    time: datetime
    frame: FrameRef
    boxes: tuple[AnnotationBox, ...]
    load_jpeg: Callable[[], bytes]
    source: dict[str, Any]

    @property
    def stem(self) -> str:
        """A file name stem unique per (camera, ticket, frame)."""
        return f"{self.camera_id}__{self.ticket_id}__{self.frame.key.replace('@', '-')}"


@dataclass(frozen=True)
class ExportSummary:
    """What was written: the manifest as saved, and where."""

    out: Path
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = self.manifest["counts"]
        return counts


def assign_splits(
    items: Sequence[ExportItem], settings: SplitSettings
) -> list[tuple[Split | None, datetime | None]]:
    """For each item (same order): its split, or None when it falls in the gap; and the
    boundary of its camera (None for a camera with no time span, all train)."""
    by_camera: dict[str, list[datetime]] = {}
    for item in items:
        by_camera.setdefault(item.camera_id, []).append(item.time)
    boundaries: dict[str, datetime | None] = {}
    for camera, times in by_camera.items():
        first, last = min(times), max(times)
        boundaries[camera] = (
            None if last == first else last - (last - first) * settings.val_fraction
        )
    gap = timedelta(seconds=settings.gap_s)
    out: list[tuple[Split | None, datetime | None]] = []
    for item in items:
        boundary = boundaries[item.camera_id]
        if boundary is None or item.time < boundary - gap:
            out.append((Split.TRAIN, boundary))
        elif item.time >= boundary:
            out.append((Split.VAL, boundary))
        else:
            out.append((None, boundary))
    return out


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise DatasetExportError(f"{out} exists and is not a folder")
        if any(out.iterdir()):
            raise DatasetExportError(
                f"{out} exists and is not empty: give a new folder (nothing is overwritten)"
            )
    if not out.parent.is_dir():
        raise DatasetExportError(f"the folder {out.parent} (parent of OUT) does not exist")


def _empty_counts() -> dict[str, Any]:
    return {
        "images": 0,
        "negatives": 0,
        "boxes": {name: 0 for name in ANNOTATION_CLASSES},
    }


def write_dataset(
    items: Sequence[ExportItem],
    out: Path,
    settings: SplitSettings,
    *,
    header: dict[str, Any],
    left_out: Sequence[dict[str, Any]] = (),
    skip_unreadable: bool = False,
) -> ExportSummary:
    """Write ``items`` as a YOLO dataset at ``out`` (see the module docstring).

    Args:
        items: the pictures and their boxes.
        out: the dataset folder; must not exist, or be empty.
        settings: the split.
        header: what the manifest says about the export (filters, the source of the items).
        left_out: sources the caller already left out, each with its ``reason`` (listed in the
            manifest beside the ones left out here).
        skip_unreadable: an unreadable picture is listed as left out instead of failing.

    Raises:
        DatasetExportError: no items, ``out`` not empty, an unreadable picture (unless
            skipped), or the folder cannot be written.
    """
    if not items:
        raise DatasetExportError("nothing to export: no reviewed frames match")
    out = Path(out)
    _check_out(out)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        manifest = _write_into(items, staging, out, settings, header, left_out, skip_unreadable)
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetExportError(f"cannot write the dataset at {out}: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(out, manifest)


def _write_into(
    items: Sequence[ExportItem],
    root: Path,
    final: Path,
    settings: SplitSettings,
    header: dict[str, Any],
    left_out: Sequence[dict[str, Any]],
    skip_unreadable: bool,
) -> dict[str, Any]:
    for part in Split:
        (root / "images" / part.value).mkdir(parents=True)
        (root / "labels" / part.value).mkdir(parents=True)
    splits = assign_splits(items, settings)
    sources: list[dict[str, Any]] = []
    dropped = [dict(entry) for entry in left_out]
    counts = {part.value: _empty_counts() for part in Split}
    cameras: dict[str, dict[str, Any]] = {}
    for item, (split, boundary) in zip(items, splits, strict=True):
        camera = cameras.setdefault(
            item.camera_id,
            {
                "train": 0,
                "val": 0,
                "gap": 0,
                "val_from": None if boundary is None else _iso(boundary),
            },
        )
        where = {"ticket_id": item.ticket_id, "camera_id": item.camera_id, "frame": item.frame.key}
        if split is None:
            camera["gap"] += 1
            dropped.append({**where, "reason": f"within {settings.gap_s:g} s before val starts"})
            continue
        try:
            jpeg = item.load_jpeg()
        except ImageUnavailable as exc:
            if not skip_unreadable:
                raise DatasetExportError(
                    f"cannot read the picture of ticket {item.ticket_id} ({item.camera_id}, "
                    f"{item.frame.key}): {exc} (--skip-unreadable leaves such frames out)"
                ) from None
            dropped.append({**where, "reason": f"unreadable: {exc}"})
            continue
        image = root / "images" / split.value / f"{item.stem}.jpg"
        label = root / "labels" / split.value / f"{item.stem}.txt"
        image.write_bytes(jpeg)
        label.write_text("".join(box.yolo_line() + "\n" for box in item.boxes), encoding="ascii")
        camera[split.value] += 1
        tally = counts[split.value]
        tally["images"] += 1
        tally["negatives"] += 0 if item.boxes else 1
        for name, n in Counter(box.cls for box in item.boxes).items():
            tally["boxes"][name] += n
        sources.append(
            {
                **item.source,
                **where,
                "time": _iso(item.time),
                "frame": item.frame.to_json(),
                "split": split.value,
                "image": str(image.relative_to(root)),
                "label": str(label.relative_to(root)),
                "image_sha256": hashlib.sha256(jpeg).hexdigest(),
                "boxes": len(item.boxes),
                "negative": not item.boxes,
            }
        )
    if not sources:
        raise DatasetExportError(
            f"nothing to export: all {len(items)} reviewed frames were left out "
            f"({', '.join(sorted({str(d['reason']) for d in dropped})[:3])})"
        )
    data_yaml = {
        "path": str(final.resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": len(ANNOTATION_CLASSES),
        "names": list(ANNOTATION_CLASSES),
    }
    (root / "data.yaml").write_text(
        yaml.safe_dump(data_yaml, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    manifest = {
        "format": DATASET_FORMAT,
        "created_at": _iso(datetime.now(UTC)),
        **header,
        "names": list(ANNOTATION_CLASSES),
        "split": {
            "by": "camera and time",
            "val_fraction": settings.val_fraction,
            "gap_s": settings.gap_s,
        },
        "counts": counts,
        "cameras": cameras,
        "sources": sources,
        "left_out": dropped,
    }
    (root / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return manifest
