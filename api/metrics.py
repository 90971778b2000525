"""Prometheus text exposition format (version 0.0.4), written by hand: no client library.

One :class:`MetricFamily` per metric name with its ``# HELP`` and ``# TYPE`` lines, then one
sample per label set. Label values are escaped (backslash, double quote, newline) and numbers are
written so that Prometheus reads them back exactly (``+Inf``, ``-Inf``, ``NaN`` included).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MetricType = Literal["gauge", "counter", "untyped"]

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NOT_NAME_CHAR_RE = re.compile(r"[^a-zA-Z0-9_]")


def escape_label_value(value: str) -> str:
    """Escape a label value for the text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    """Escape a HELP text (backslash and newline only)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def metric_name(text: str) -> str:
    """``text`` turned into a valid metric-name fragment (other characters become ``_``)."""
    name = _NOT_NAME_CHAR_RE.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


@dataclass
class MetricFamily:
    """One metric: its name, type, help and samples ``(labels, value)``."""

    name: str
    type: MetricType
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")

    def add(self, value: float, **labels: str) -> None:
        for label in labels:
            if not _LABEL_RE.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for metric {self.name}")
        self.samples.append((dict(labels), float(value)))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.type}"]
        for labels, value in self.samples:
            if labels:
                inner = ",".join(
                    f'{key}="{escape_label_value(val)}"' for key, val in sorted(labels.items())
                )
                lines.append(f"{self.name}{{{inner}}} {format_value(value)}")
            else:
                lines.append(f"{self.name} {format_value(value)}")
        return "\n".join(lines) + "\n"


def render(families: Iterable[MetricFamily]) -> str:
    """The exposition text of all families, in order."""
    return "".join(family.render() for family in families)


# Camera status field -> (metric, type, help). Values come from the pipelines' status hash.
_CAMERA_METRICS: tuple[tuple[str, str, MetricType, str], ...] = (
    ("fps_in", "hazardwatch_camera_fps_in", "gauge", "Frames per second decoded from the camera."),
    (
        "fps_out",
        "hazardwatch_camera_fps_out",
        "gauge",
        "Frames per second analysed (after sampling and drops).",
    ),
    (
        "dropped",
        "hazardwatch_camera_frames_dropped_total",
        "counter",
        "Frames dropped by full queues since the pipeline started.",
    ),
    (
        "reconnects",
        "hazardwatch_camera_reconnects_total",
        "counter",
        "Reconnections to the camera since the pipeline started.",
    ),
    (
        "inference_ms_avg",
        "hazardwatch_camera_inference_ms",
        "gauge",
        "Average detector time per analysed frame, in milliseconds.",
    ),
    (
        "events",
        "hazardwatch_camera_events_total",
        "counter",
        "Hazard events published by the camera's pipeline.",
    ),
    (
        "decode_errors",
        "hazardwatch_camera_decode_errors_total",
        "counter",
        "Packets that failed to decode and frames the decoder had to conceal (not analysed).",
    ),
    ("frames_in", "hazardwatch_camera_frames_in_total", "counter", "Frames decoded."),
    ("frames_out", "hazardwatch_camera_frames_out_total", "counter", "Frames analysed."),
    (
        "disk_full",
        "hazardwatch_camera_disk_full",
        "gauge",
        "1 while clips are skipped because the data dir's disk is (nearly) full.",
    ),
    (
        "evidence_captures",
        "hazardwatch_camera_evidence_captures_total",
        "counter",
        "Hazard starts whose evidence (snapshots, clip) was requested.",
    ),
    (
        "evidence_pending",
        "hazardwatch_camera_evidence_pending",
        "gauge",
        "Hazard starts whose evidence is still being written (post-roll, encoding).",
    ),
    (
        "evidence_errors",
        "hazardwatch_camera_evidence_errors_total",
        "counter",
        "Evidence files that could not be written.",
    ),
    (
        "clips_skipped_disk_full",
        "hazardwatch_camera_clips_skipped_disk_full_total",
        "counter",
        "Clips skipped because free space was below the minimum.",
    ),
    (
        "spool_pending",
        "hazardwatch_camera_spool_pending",
        "gauge",
        "Events waiting in the local spool of the process running this camera (Redis down).",
    ),
    (
        "publish_errors",
        "hazardwatch_camera_publish_errors_total",
        "counter",
        "Failed sends and spool writes of the process running this camera (retried).",
    ),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float):
        return None
    return float(value)


def camera_families(cameras: Mapping[str, Mapping[str, Any]]) -> list[MetricFamily]:
    """Per-camera metrics from camera status records (see :mod:`api.status`).

    A value missing from a record (a camera that never reported) is left out, not made up;
    ``hazardwatch_camera_up`` is 1 only for a camera that is streaming with a fresh status.
    """
    families: list[MetricFamily] = []
    up = MetricFamily(
        "hazardwatch_camera_up",
        "gauge",
        "1 when the camera is streaming and its status is fresh, else 0.",
    )
    for camera_id, record in sorted(cameras.items()):
        up.add(1.0 if record.get("state") == "streaming" else 0.0, camera=camera_id)
    families.append(up)
    for key, name, kind, help_text in _CAMERA_METRICS:
        family = MetricFamily(name, kind, help_text)
        for camera_id, record in sorted(cameras.items()):
            value = _number(record.get(key))
            if value is not None:
                family.add(value, camera=camera_id)
        families.append(family)
    return families


def ticket_families(counts_by_status: Mapping[str, int], statuses: Iterable[str]) -> MetricFamily:
    """``hazardwatch_tickets{status=...}`` for every status (0 when none)."""
    family = MetricFamily("hazardwatch_tickets", "gauge", "Tickets by workflow status.")
    for status in sorted(set(statuses) | set(counts_by_status)):
        family.add(float(counts_by_status.get(status, 0)), status=status)
    return family


def service_families(
    health: Mapping[str, Any], prefix: str = "hazardwatch_service"
) -> list[MetricFamily]:
    """Numeric values of the ticket service's health record as metrics.

    Nested mappings are flattened with ``_``; non-numeric values are skipped. Names ending in
    ``_total`` are counters, the rest gauges.
    """
    families: list[MetricFamily] = []

    def walk(record: Mapping[str, Any], name: str) -> None:
        for key, value in sorted(record.items(), key=lambda item: str(item[0])):
            full = f"{name}_{metric_name(str(key))}"
            if isinstance(value, Mapping):
                walk(value, full)
                continue
            number = _number(value)
            if isinstance(value, bool):
                number = 1.0 if value else 0.0
            if number is None:
                continue
            kind: MetricType = "counter" if full.endswith("_total") else "gauge"
            family = MetricFamily(full, kind, f"Ticket service: {key}.")
            family.add(number)
            families.append(family)

    walk(health, prefix)
    return families


# Retention status key -> (metric, type, help). Values come from api.retention's status().
_RETENTION_TOTALS: tuple[tuple[str, str, MetricType, str], ...] = (
    ("runs_total", "hazardwatch_retention_runs_total", "counter", "Evidence retention runs."),
    (
        "folders_deleted_total",
        "hazardwatch_retention_folders_deleted_total",
        "counter",
        "Hazard evidence folders deleted by retention.",
    ),
    (
        "files_deleted_total",
        "hazardwatch_retention_files_deleted_total",
        "counter",
        "Evidence files deleted by retention (leftover partial files included).",
    ),
    (
        "bytes_deleted_total",
        "hazardwatch_retention_bytes_deleted_total",
        "counter",
        "Bytes of evidence deleted by retention.",
    ),
    ("errors_total", "hazardwatch_retention_errors_total", "counter", "Retention errors."),
)
_RETENTION_LAST: tuple[tuple[str, str, MetricType, str], ...] = (
    (
        "files_deleted",
        "hazardwatch_retention_last_run_files_deleted",
        "gauge",
        "Files deleted by the last retention run.",
    ),
    (
        "bytes_deleted",
        "hazardwatch_retention_last_run_bytes_deleted",
        "gauge",
        "Bytes deleted by the last retention run.",
    ),
    (
        "errors",
        "hazardwatch_retention_last_run_errors",
        "gauge",
        "Errors of the last retention run.",
    ),
    (
        "duration_s",
        "hazardwatch_retention_last_run_duration_seconds",
        "gauge",
        "How long the last retention run took.",
    ),
    (
        "bytes_in_use",
        "hazardwatch_evidence_bytes",
        "gauge",
        "Bytes in the evidence tree after the last retention run.",
    ),
    (
        "free_bytes",
        "hazardwatch_evidence_disk_free_bytes",
        "gauge",
        "Free bytes on the data dir's disk after the last retention run.",
    ),
    (
        "over_budget",
        "hazardwatch_retention_over_budget",
        "gauge",
        "1 when, after the last run, evidence is over its budget or the disk under its free "
        "minimum and what is left belongs to open tickets.",
    ),
    (
        "folders_kept_open",
        "hazardwatch_retention_open_ticket_folders",
        "gauge",
        "Evidence folders of open tickets (never deleted) at the last run.",
    ),
)


def retention_families(status: Mapping[str, Any]) -> list[MetricFamily]:
    """Evidence retention: totals since start and the last run (see :mod:`api.retention`)."""
    families: list[MetricFamily] = []
    for key, name, kind, help_text in _RETENTION_TOTALS:
        family = MetricFamily(name, kind, help_text)
        value = _number(status.get(key))
        if value is not None:
            family.add(value)
        families.append(family)
    last = status.get("last_run")
    last_at = MetricFamily(
        "hazardwatch_retention_last_run_timestamp_seconds",
        "gauge",
        "When the last retention run started (Unix time).",
    )
    at_unix = _number(last.get("at_unix")) if isinstance(last, Mapping) else None
    if at_unix is not None:
        last_at.add(at_unix)
    families.append(last_at)
    for key, name, kind, help_text in _RETENTION_LAST:
        family = MetricFamily(name, kind, help_text)
        value = _number(last.get(key)) if isinstance(last, Mapping) else None
        if value is not None:
            family.add(value)
        families.append(family)
    return families
