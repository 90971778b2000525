"""What a camera sees now, for the zone editor: the zones its pipeline runs and what it detects.

The pipeline's status record (``hazardwatch:camera_status`` in Redis, see :mod:`api.status`)
carries, besides the health fields, these optional fields:

- ``zones``: the zone ids the camera's analysis runs with now (an edit saved through the API
  shows here once the running pipeline has reloaded it);
- ``detections``: ``[{"label": "car", "xyxy_norm": [x1, y1, x2, y2]}, ...]``, the boxes of the
  last analysed frame, as fractions of the frame;
- ``motion``: ``[{"xyxy_norm": [...]}, ...]``, moving blobs of the facade (motion) analysis.

Only well-formed items are passed on (at most :data:`MAX_ITEMS` of each); a field the pipeline
does not report is ``None`` (not ``[]``, which means "reported, and nothing there").
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from api.status import camera_record

MAX_ITEMS = 200
_MAX_LABEL_CHARS = 40


def _box(value: Any) -> list[float] | None:
    """``[x1, y1, x2, y2]`` within 0..1 with x1 <= x2 and y1 <= y2, else None."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    x1, y1, x2, y2 = (float(v) for v in value)
    if not all(math.isfinite(v) and -0.001 <= v <= 1.001 for v in (x1, y1, x2, y2)):
        return None
    if x1 > x2 or y1 > y2:
        return None
    return [round(min(max(v, 0.0), 1.0), 4) for v in (x1, y1, x2, y2)]


def _boxes(value: Any, with_label: bool) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        return None
    out: list[dict[str, Any]] = []
    for item in value[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        box = _box(item.get("xyxy_norm"))
        if box is None:
            continue
        shown: dict[str, Any] = {"xyxy_norm": box}
        if with_label:
            label = item.get("label")
            shown["label"] = str(label)[:_MAX_LABEL_CHARS] if isinstance(label, str) else ""
        out.append(shown)
    return out


def _zone_ids(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [v for v in value[:MAX_ITEMS] if isinstance(v, str) and len(v) <= 63]


def live_view(camera_id: str, raw: str | bytes | None, now: datetime) -> dict[str, Any]:
    """The camera's state (as ``/health`` shows it) and what its pipeline reports it sees."""
    record = camera_record(raw, now)
    data: Any = None
    if raw is not None:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            data = None
    fields = data if isinstance(data, dict) else {}
    return {
        "camera_id": camera_id,
        "state": record["state"],
        "updated_at": record.get("updated_at"),
        "age_s": record.get("age_s"),
        "last_error": record.get("last_error"),
        "zones": _zone_ids(fields.get("zones")),
        "detections": _boxes(fields.get("detections"), with_label=True),
        "motion": _boxes(fields.get("motion"), with_label=False),
    }
