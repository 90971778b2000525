"""Reviewers' annotations of a ticket's frames: the contract between the review page, the ticket
store, the evidence sidecar and the dataset export (ARCHITECTURE.md §6, §11).

A reviewer annotates *frames* of a ticket's evidence: the snapshot, or the clip at a time
``t_ms`` (milliseconds from the clip's first frame; the API snaps a requested time to the frame
shown then, :mod:`pipelines.clip_frames`). Each annotated frame holds boxes of
:data:`ANNOTATION_CLASSES` in normalised ``xyxy`` (0..1 of the frame's width and height), or is
*negative*: it shows no object of any of those classes (a false alarm's frame), which becomes an
empty label file in a dataset. A frame with no boxes must say that it is negative, so that "not
annotated yet" and "nothing there" can never be confused.

Why this lives in ``vision``: it is a type that crosses layers (the API writes it, the dataset
export in ``pipelines`` reads it), and every layer may import ``vision``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "ANNOTATION_CLASSES",
    "MAX_BOXES_PER_FRAME",
    "MAX_CLIP_T_MS",
    "MAX_FRAMES_PER_TICKET",
    "SIDECAR_FORMAT",
    "SIDECAR_NAME",
    "SIDECAR_TICKET_KEYS",
    "AnnotationBox",
    "AnnotationError",
    "FrameAnnotation",
    "FrameRef",
    "FrameSource",
    "box_problem",
    "parse_sidecar",
    "sidecar_json",
]

# Index order is the class id of a YOLO label line and the order of data.yaml's ``names``; new
# classes go at the end, so the ids of datasets already exported keep their meaning. ``bicycle``
# is the hard negative of ``ebike`` (pedal and children's bicycles a lift model took for
# e-bikes): boxed as their own class, they train the detector's bicycle slot.
ANNOTATION_CLASSES: tuple[str, ...] = ("ebike", "vehicle", "person", "clutter", "bicycle")
MAX_BOXES_PER_FRAME = 200
MAX_FRAMES_PER_TICKET = 50
MAX_CLIP_T_MS = 3_600_000  # an evidence clip is seconds long; an hour is far past any of them
SIDECAR_NAME = "annotations.json"
SIDECAR_FORMAT = "hazardwatch-annotations/1"
# What a sidecar says about its ticket, so that an export can work from the evidence alone.
SIDECAR_TICKET_KEYS = (
    "ticket_id",
    "ticket_code",
    "camera_id",
    "kind",
    "status",
    "started_at",
    "created_at",
)
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


class AnnotationError(ValueError):
    """An annotation that breaks the contract; the message names the field and the problem."""


class FrameSource(StrEnum):
    """Which evidence file a frame comes from."""

    SNAPSHOT = "snapshot"
    CLIP = "clip"


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One frame of a ticket's evidence: the snapshot, or the clip at ``t_ms``."""

    source: FrameSource
    t_ms: int | None = None

    def __post_init__(self) -> None:
        if self.source is FrameSource.CLIP:
            if isinstance(self.t_ms, bool) or not isinstance(self.t_ms, int):
                raise AnnotationError("a clip frame needs t_ms, whole milliseconds")
            if not 0 <= self.t_ms <= MAX_CLIP_T_MS:
                raise AnnotationError(f"t_ms must be 0 to {MAX_CLIP_T_MS}, got {self.t_ms}")
        elif self.t_ms is not None:
            raise AnnotationError("the snapshot is one picture: give no t_ms for it")

    @property
    def key(self) -> str:
        """``snapshot`` or ``clip@1234``: unique per ticket, used in names and the store."""
        return "snapshot" if self.source is FrameSource.SNAPSHOT else f"clip@{self.t_ms}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source.value}
        if self.t_ms is not None:
            out["t_ms"] = self.t_ms
        return out

    @classmethod
    def from_json(cls, data: Any) -> FrameRef:
        if not isinstance(data, Mapping):
            raise AnnotationError("frame must be an object {'source': ..., 't_ms': ...}")
        try:
            source = FrameSource(str(data.get("source")))
        except ValueError:
            raise AnnotationError(
                f"frame.source must be 'snapshot' or 'clip', got {data.get('source')!r}"
            ) from None
        return cls(source, data.get("t_ms"))


def box_problem(xyxy: Sequence[float]) -> str | None:
    """Why ``xyxy`` is not a normalised box (None when it is one)."""
    if len(xyxy) != 4:
        return f"xyxy must have 4 numbers, got {len(xyxy)}"
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in xyxy):
        return f"xyxy must lie inside [0, 1], got {list(xyxy)}"
    x1, y1, x2, y2 = xyxy
    if not x1 < x2:
        return f"x1 ({x1}) must be less than x2 ({x2})"
    if not y1 < y2:
        return f"y1 ({y1}) must be less than y2 ({y2})"
    return None


@dataclass(frozen=True, slots=True)
class AnnotationBox:
    """One object: its class (one of :data:`ANNOTATION_CLASSES`) and normalised ``xyxy``."""

    cls: str
    xyxy: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if self.cls not in ANNOTATION_CLASSES:
            raise AnnotationError(
                f"unknown class {self.cls!r}; one of: {', '.join(ANNOTATION_CLASSES)}"
            )
        problem = box_problem(self.xyxy)
        if problem is not None:
            raise AnnotationError(problem)

    @property
    def class_id(self) -> int:
        return ANNOTATION_CLASSES.index(self.cls)

    def yolo_line(self) -> str:
        """``class cx cy w h``, normalised, as a YOLO label file has it."""
        x1, y1, x2, y2 = self.xyxy
        return (
            f"{self.class_id} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"
        )

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "xyxy": [round(v, 6) for v in self.xyxy]}

    @classmethod
    def from_json(cls, data: Any) -> AnnotationBox:
        if not isinstance(data, Mapping):
            raise AnnotationError("a box must be an object {'class': ..., 'xyxy': [...]}")
        xyxy = data.get("xyxy")
        if not isinstance(xyxy, list | tuple) or len(xyxy) != 4:
            raise AnnotationError(f"xyxy must be a list of 4 numbers, got {xyxy!r}"[:200])
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in xyxy):
            raise AnnotationError(f"xyxy must hold numbers, got {xyxy!r}"[:200])
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        return cls(str(data.get("class")), (x1, y1, x2, y2))


@dataclass(frozen=True, slots=True)
class FrameAnnotation:
    """A reviewer's decision on one frame: its boxes, or "negative" (nothing of our classes).

    ``image_sha256`` is the SHA-256 of the picture the reviewer saw (the snapshot file, or the
    JPEG the API made of the clip frame), so an export can tell whether it shows the same.
    """

    frame: FrameRef
    image_sha256: str
    boxes: tuple[AnnotationBox, ...]
    negative: bool
    author: str
    at: datetime

    def __post_init__(self) -> None:
        if not _HEX64_RE.match(self.image_sha256):
            raise AnnotationError("image_sha256 must be 64 lowercase hex digits")
        if len(self.boxes) > MAX_BOXES_PER_FRAME:
            raise AnnotationError(
                f"frame {self.frame.key}: {len(self.boxes)} boxes, at most {MAX_BOXES_PER_FRAME}"
            )
        if self.negative and self.boxes:
            raise AnnotationError(
                f"frame {self.frame.key}: a negative frame (no hazard object) has no boxes"
            )
        if not self.negative and not self.boxes:
            raise AnnotationError(
                f"frame {self.frame.key}: no boxes; draw one or mark the frame negative"
            )
        if not self.author or len(self.author) > 63:
            raise AnnotationError("author must be 1 to 63 characters")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise AnnotationError("at must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame.to_json(),
            "image_sha256": self.image_sha256,
            "negative": self.negative,
            "boxes": [box.to_json() for box in self.boxes],
            "author": self.author,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }

    @classmethod
    def from_json(cls, data: Any) -> FrameAnnotation:
        if not isinstance(data, Mapping):
            raise AnnotationError("a frame annotation must be an object")
        boxes = data.get("boxes", [])
        if not isinstance(boxes, list):
            raise AnnotationError("boxes must be a list")
        try:
            at = datetime.fromisoformat(str(data.get("at", "")).replace("Z", "+00:00"))
        except ValueError:
            raise AnnotationError(f"at is not an ISO-8601 time: {data.get('at')!r}") from None
        return cls(
            frame=FrameRef.from_json(data.get("frame")),
            image_sha256=str(data.get("image_sha256", "")),
            boxes=tuple(AnnotationBox.from_json(box) for box in boxes),
            negative=data.get("negative") is True,
            author=str(data.get("author", "")),
            at=at,
        )


def sidecar_json(
    *,
    ticket: Mapping[str, str],
    evidence: Mapping[str, str | None],
    frames: Sequence[FrameAnnotation],
    updated_at: datetime,
) -> bytes:
    """The ``annotations.json`` written next to a ticket's evidence (UTF-8 JSON).

    ``ticket`` has every key of :data:`SIDECAR_TICKET_KEYS` (times in ISO-8601 UTC; ``status``
    as of the last save or transition through the API). ``evidence`` names the files the frames
    come from (their names in the folder, and their SHA-256), so the sidecar alone says which
    picture each box belongs to.
    """
    missing = [key for key in SIDECAR_TICKET_KEYS if not ticket.get(key)]
    if missing:
        raise AnnotationError(f"sidecar: the ticket's {', '.join(missing)} missing")
    doc = {
        "format": SIDECAR_FORMAT,
        **{key: ticket[key] for key in SIDECAR_TICKET_KEYS},
        "classes": list(ANNOTATION_CLASSES),
        "evidence": dict(evidence),
        "updated_at": updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "frames": [frame.to_json() for frame in frames],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def parse_sidecar(raw: bytes, where: str) -> tuple[dict[str, Any], list[FrameAnnotation]]:
    """The header fields and frames of an ``annotations.json``.

    Raises:
        AnnotationError: naming ``where`` and what is wrong.
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{where}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
        raise AnnotationError(f"{where}: not a {SIDECAR_FORMAT} document")
    missing = [key for key in SIDECAR_TICKET_KEYS if not isinstance(doc.get(key), str)]
    if missing:
        raise AnnotationError(f"{where}: no {', '.join(missing)}")
    if list(doc.get("classes") or []) != list(ANNOTATION_CLASSES):
        raise AnnotationError(f"{where}: classes {doc.get('classes')!r} differ from ours")
    try:
        frames = [FrameAnnotation.from_json(item) for item in doc.get("frames") or []]
    except AnnotationError as exc:
        raise AnnotationError(f"{where}: {exc}") from None
    return {k: v for k, v in doc.items() if k != "frames"}, frames
