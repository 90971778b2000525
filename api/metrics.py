"""``/metrics`` of the API in the Prometheus text format, produced by ``prometheus_client``.

The values are a snapshot read per request (camera status records from Redis, ticket counts
from the store, the ticket service's and the retention's health records), so the families are
built by plain functions from those records and rendered through a private
:class:`~prometheus_client.registry.CollectorRegistry` made for the call: the process-wide default
registry is never used, so two apps in one process (tests, ``up``) cannot see or break each
other's metrics. Escaping of label values and HELP texts, number formatting (``+Inf``, ``NaN``)
and the ``_total`` suffix of counters are the library's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# What generate_latest writes: the classic text format (legacy names, no UTF-8 quoting).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MetricType = Literal["gauge", "counter"]

_NOT_NAME_CHAR_RE = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(text: str) -> str:
    """``text`` turned into a valid metric-name fragment (other characters become ``_``)."""
    name = _NOT_NAME_CHAR_RE.sub("_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


def _family(
    name: str, kind: MetricType, help_text: str, labels: Iterable[str] = ()
) -> GaugeMetricFamily | CounterMetricFamily:
    """An empty gauge or counter family (a counter's ``_total`` is kept in its sample name)."""
    if kind == "counter":
        return CounterMetricFamily(name, help_text, labels=list(labels))
    return GaugeMetricFamily(name, help_text, labels=list(labels))


class _Families(Collector):
    """Yields families built beforehand: the per-request snapshot as a collector."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def render(families: Iterable[Metric]) -> str:
    """The exposition text of ``families``, in order, through a registry of this call only."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry).decode("utf-8")


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


def camera_families(cameras: Mapping[str, Mapping[str, Any]]) -> list[Metric]:
    """Per-camera metrics from camera status records (see :mod:`api.status`).

    A value missing from a record (a camera that never reported) is left out, not made up;
    ``hazardwatch_camera_up`` is 1 only for a camera that is streaming with a fresh status.
    """
    up = GaugeMetricFamily(
        "hazardwatch_camera_up",
        "1 when the camera is streaming and its status is fresh, else 0.",
        labels=["camera"],
    )
    for camera_id, record in sorted(cameras.items()):
        up.add_metric([camera_id], 1.0 if record.get("state") == "streaming" else 0.0)
    families: list[Metric] = [up]
    for key, name, kind, help_text in _CAMERA_METRICS:
        family = _family(name, kind, help_text, labels=["camera"])
        for camera_id, record in sorted(cameras.items()):
            value = _number(record.get(key))
            if value is not None:
                family.add_metric([camera_id], value)
        families.append(family)
    return families


def ticket_families(counts_by_status: Mapping[str, int], statuses: Iterable[str]) -> Metric:
    """``hazardwatch_tickets{status=...}`` for every status (0 when none)."""
    family = GaugeMetricFamily(
        "hazardwatch_tickets", "Tickets by workflow status.", labels=["status"]
    )
    for status in sorted(set(statuses) | set(counts_by_status)):
        family.add_metric([status], float(counts_by_status.get(status, 0)))
    return family


def redis_family(up: bool) -> Metric:
    """``hazardwatch_redis_up``: whether the API reaches Redis."""
    return GaugeMetricFamily(
        "hazardwatch_redis_up", "1 when the API can reach Redis, else 0.", value=1.0 if up else 0.0
    )


def service_families(
    health: Mapping[str, Any], prefix: str = "hazardwatch_service"
) -> list[Metric]:
    """Numeric values of the ticket service's health record as metrics.

    Nested mappings are flattened with ``_``; non-numeric values are skipped. Names ending in
    ``_total`` are counters, the rest gauges.
    """
    families: list[Metric] = []

    def walk(record: Mapping[str, Any], name: str) -> None:
        for key, value in sorted(record.items(), key=lambda item: str(item[0])):
            full = f"{name}_{metric_name(str(key))}"
            if isinstance(value, Mapping):
                walk(value, full)
                continue
            number = _number(value)
            if number is None:
                continue
            kind: MetricType = "counter" if full.endswith("_total") else "gauge"
            family = _family(full, kind, f"Ticket service: {key}.")
            family.add_metric([], number)
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


def retention_families(status: Mapping[str, Any]) -> list[Metric]:
    """Evidence retention: totals since start and the last run (see :mod:`api.retention`).

    Every family is listed (HELP and TYPE) even before the first run; values that are not known
    yet are left out.
    """
    last = status.get("last_run")
    last_run = last if isinstance(last, Mapping) else {}
    rows = [(status, *row) for row in _RETENTION_TOTALS]
    rows.append(
        (
            last_run,
            "at_unix",
            "hazardwatch_retention_last_run_timestamp_seconds",
            "gauge",
            "When the last retention run started (Unix time).",
        )
    )
    rows += [(last_run, *row) for row in _RETENTION_LAST]
    families: list[Metric] = []
    for record, key, name, kind, help_text in rows:
        family = _family(name, kind, help_text)
        value = _number(record.get(key))
        if value is not None:
            family.add_metric([], value)
        families.append(family)
    return families


@dataclass(frozen=True, slots=True)
class ApiSnapshot:
    """What ``/metrics`` shows, read once per request: camera status records by camera id,
    whether Redis answered, ticket counts by status (every status in ``ticket_statuses`` is
    listed), and the ticket service's and retention's records when this process has them."""

    cameras: Mapping[str, Mapping[str, Any]]
    redis_up: bool
    tickets_by_status: Mapping[str, int]
    ticket_statuses: Iterable[str]
    service: Mapping[str, Any] | None = None
    retention: Mapping[str, Any] | None = None

    def families(self) -> list[Metric]:
        families = [
            *camera_families(self.cameras),
            ticket_families(self.tickets_by_status, self.ticket_statuses),
            redis_family(self.redis_up),
        ]
        if self.service is not None:
            families += service_families(self.service)
        if self.retention is not None:
            families += retention_families(self.retention)
        return families
