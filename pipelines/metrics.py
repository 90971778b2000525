"""Pipeline metrics of ``hazardwatch run``, merged across its worker processes.

Every worker process writes its cameras' metrics with ``prometheus_client`` in multiprocess
mode: each value lives in a memory-mapped file of that process (``counter_PID.db``,
``gauge_livesum_PID.db``, ``histogram_PID.db``) in one shared directory, and whoever serves
``/metrics`` (:func:`serve_metrics`, :func:`render_merged`) merges the files of all processes, dead
ones included: a counter keeps what a worker had counted before it died, and the restarted
worker's counts are added to it. Nothing is sent between processes.

How the supervisor uses this module, in this order:

1. :func:`prepare_multiprocess_dir` on a directory of this node only (never a volume shared by
   several boxes: process ids of two hosts collide), before any worker starts: it removes the
   files of an earlier run, whose counters would otherwise be added to this run's.
2. ``PROMETHEUS_MULTIPROC_DIR`` (:data:`MULTIPROC_ENV`) set to that directory in the environment
   of every worker, and of the supervisor itself **before** ``prometheus_client`` is imported
   there: the library picks its value storage once, at import. A process that imported it
   earlier keeps its values in memory, where no merge sees them; :class:`PipelineMetrics` and
   :class:`SupervisorMetrics` refuse to start in that case (:class:`MetricsModeError`).
3. When a worker exits, :meth:`SupervisorMetrics.worker_exited` (or :func:`mark_worker_dead`)
   **before** its replacement starts: the dead process's gauges must stop counting.

Gauges use ``multiprocess_mode="livesum"``: each series (one camera of one worker) has exactly one
writing process, so the sum over live processes is that process's value, with no ``pid`` label
(a restarted worker continues the same series instead of starting a new one, as ``liveall``
would), and a dead process's last value is dropped once it is marked dead instead of being
reported for ever (as ``all``/``max`` would).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LABELS = ("camera", "worker")
# Detector time of one run: YOLOX-Nano is ~13 ms on one free core, ~100 ms on an overloaded box.
INFERENCE_BUCKETS_S = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)
# Frame captured -> analysis done: the bound is a p95 under 1 s, events within 1.5 s.
LAG_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class MetricsModeError(RuntimeError):
    """prometheus_client is not in multiprocess mode, or its directory is unusable."""


def prepare_multiprocess_dir(path: Path) -> Path:
    """Create ``path`` or empty it of an earlier run's metric files; returns it.

    Only the library's ``*.db`` files are removed: a mistyped path never loses anything else.
    """
    if path.exists() and not path.is_dir():
        raise MetricsModeError(f"metrics directory {path} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    return path


def _directory_in_use() -> Path:
    """The multiprocess directory of this process; raises unless the library writes there."""
    raw = os.environ.get(MULTIPROC_ENV)
    if not raw:
        raise MetricsModeError(
            f"{MULTIPROC_ENV} is not set: the supervisor sets it for every worker (see "
            "pipelines.metrics), so pipeline metrics cannot be merged"
        )
    if values.ValueClass is values.MutexValue:
        raise MetricsModeError(
            f"{MULTIPROC_ENV}={raw} was set after prometheus_client had been imported in this "
            f"process (pid {os.getpid()}): its values would stay in memory, unseen by the merge; "
            "set it before the first import"
        )
    path = Path(raw)
    if not path.is_dir():
        raise MetricsModeError(f"{MULTIPROC_ENV}={raw} is not a directory")
    return path


def mark_worker_dead(pid: int, directory: Path | None = None) -> None:
    """Drop the live gauges of the dead process ``pid`` (its counters and histograms stay).

    ``directory`` defaults to ``$PROMETHEUS_MULTIPROC_DIR``.
    """
    if directory is None:
        raw = os.environ.get(MULTIPROC_ENV)
        if not raw:
            raise MetricsModeError(
                f"mark_worker_dead({pid}): no directory given and {MULTIPROC_ENV} is not set"
            )
        directory = Path(raw)
    if not directory.is_dir():
        raise MetricsModeError(f"mark_worker_dead({pid}): {directory} is not a directory")
    mark_process_dead(pid, str(directory))


def _merged_registry(directory: Path) -> CollectorRegistry:
    if not directory.is_dir():
        raise MetricsModeError(f"metrics directory {directory} does not exist")
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=str(directory))
    return registry


def render_merged(directory: Path) -> bytes:
    """All processes' metrics in ``directory``, merged, in the Prometheus text format."""
    return generate_latest(_merged_registry(directory))


def serve_metrics(host: str, port: int, directory: Path) -> tuple[WSGIServer, Thread]:
    """Serve the merged metrics at ``http://host:port/metrics`` from a daemon thread.

    Returns the server and its thread (``server.shutdown()`` stops it). Reads the files on
    every scrape, so it may run in the supervisor, which records nothing per camera itself.
    """
    registry = _merged_registry(directory)
    try:
        return _start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsModeError(f"--metrics-port: cannot listen on {host}:{port}: {exc}") from exc


def _number(camera_id: str, key: str, value: Any) -> float | None:
    """A status value as a float; None when missing. A present value of another type is a
    bug of the status record's writer, named here."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float):
        raise ValueError(f"camera {camera_id}: status field {key!r} is {value!r}, not a number")
    return float(value)


def _total(camera_id: str, key: str, value: Any) -> float | None:
    """A cumulative status value: a finite number >= 0, or None when missing."""
    number = _number(camera_id, key, value)
    if number is not None and not (math.isfinite(number) and number >= 0):
        raise ValueError(
            f"camera {camera_id}: status field {key!r} is {value!r}, not a count (>= 0)"
        )
    return number


# Cumulative status field -> counter name and help.
_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("frames_in", "hazardwatch_pipeline_frames_decoded_total", "Frames decoded."),
    ("frames_out", "hazardwatch_pipeline_frames_analysed_total", "Frames analysed."),
    (
        "dropped",
        "hazardwatch_pipeline_frames_dropped_total",
        "Frames dropped by full queues (decoded but never analysed).",
    ),
    ("detector_runs", "hazardwatch_pipeline_detector_runs_total", "Detector runs."),
    (
        "detector_skips",
        "hazardwatch_pipeline_detector_skips_total",
        "Analysed frames on which the detector did not run (motion gate, detect rate).",
    ),
)
# Current status field -> gauge name and help.
_GAUGES: tuple[tuple[str, str, str], ...] = (
    (
        "detect_fps_target",
        "hazardwatch_pipeline_detect_fps_target",
        "Detector runs per second the camera is configured for (after the overload policy).",
    ),
    (
        "detect_fps_effective",
        "hazardwatch_pipeline_detect_fps_effective",
        "Detector runs per second over the last ~10 s.",
    ),
    (
        "overloaded",
        "hazardwatch_pipeline_overloaded",
        "1 while the overload policy has lowered this camera's detect rate, else 0.",
    ),
)


@dataclass
class _Seen:
    """The cumulative values of one camera at the last :meth:`PipelineMetrics.record_camera`."""

    totals: dict[str, float] = field(default_factory=dict)
    stage_ms: dict[str, float] = field(default_factory=dict)


def _increase(last: float | None, now: float | None) -> float:
    """How much a cumulative value grew (0 when it is missing now); a smaller value means its
    source restarted from 0 (a reconnect, a new pipeline), so all of it is new."""
    if now is None:
        return 0.0
    if last is None or now < last:
        return now
    return now - last


class PipelineMetrics:
    """The metrics of one worker process's cameras; create one per process.

    The runner calls :meth:`record_camera` with the status record it publishes each second;
    counters move by the growth of the record's cumulative fields since the previous call.
    """

    def __init__(self, worker: int | str) -> None:
        self.directory = _directory_in_use()
        self.worker = str(worker)
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self._counters = {
            key: Counter(name, text, _LABELS, registry=None) for key, name, text in _COUNTERS
        }
        self._gauges = {
            key: Gauge(name, text, _LABELS, registry=None, multiprocess_mode="livesum")
            for key, name, text in _GAUGES
        }
        self._stage_seconds = Counter(
            "hazardwatch_pipeline_stage_seconds_total",
            "Wall-clock seconds spent in each analysis stage (decode, luma, motion_gate, "
            "inference, tracking, rules, motion_rules, evidence).",
            (*_LABELS, "stage"),
            registry=None,
        )
        self._inference = Histogram(
            "hazardwatch_pipeline_inference_seconds",
            "Detector time per run. Without per-run samples each run of a status interval is "
            "counted at the interval's mean (sum and count exact).",
            _LABELS,
            registry=None,
            buckets=INFERENCE_BUCKETS_S,
        )
        self._lag = Histogram(
            "hazardwatch_pipeline_frame_lag_seconds",
            "From a frame's capture to the end of its analysis.",
            _LABELS,
            registry=None,
            buckets=LAG_BUCKETS_S,
        )

    def record_camera(
        self,
        camera_id: str,
        status: Mapping[str, Any],
        *,
        lags_s: Iterable[float] = (),
        inference_ms: Iterable[float] | None = None,
    ) -> None:
        """Update the camera's metrics from its status record (missing fields are skipped).

        Args:
            status: the record of ``_publish_camera_status``: cumulative ``frames_in``,
                ``frames_out``, ``dropped``, ``detector_runs``, ``detector_skips``,
                ``stage_ms`` {stage: ms}; current ``detect_fps_target``,
                ``detect_fps_effective``, ``overloaded``.
            lags_s: capture-to-analysed seconds of the frames analysed since the last call
                (the lag histogram has no other source: percentiles cannot be turned back into
                a distribution).
            inference_ms: detector times of the runs since the last call; when not given, the
                inference histogram gets the interval's runs at their mean time.

        Raises:
            ValueError: a present field that is not a number (a count below 0, ``stage_ms``
                not a mapping, a sample below 0); nothing of the call is recorded then.
        """
        reading = _Reading.of(camera_id, status, lags_s, inference_ms)
        labels = (camera_id, self.worker)
        with self._lock:
            seen = self._seen.setdefault(camera_id, _Seen())
            runs = _increase(seen.totals.get("detector_runs"), reading.totals.get("detector_runs"))
            inference = _increase(seen.stage_ms.get("inference"), reading.stage_ms.get("inference"))
            for key, value in reading.totals.items():
                grown = _increase(seen.totals.get(key), value)
                seen.totals[key] = value
                if grown:
                    self._counters[key].labels(*labels).inc(grown)
            for stage, value in reading.stage_ms.items():
                grown = _increase(seen.stage_ms.get(stage), value)
                seen.stage_ms[stage] = value
                if grown:
                    self._stage_seconds.labels(*labels, stage).inc(grown / 1000.0)
            for key, value in reading.gauges.items():
                self._gauges[key].labels(*labels).set(value)
            if reading.inference_ms is not None:
                for ms in reading.inference_ms:
                    self._inference.labels(*labels).observe(ms / 1000.0)
            elif runs and "inference" in reading.stage_ms:
                child = self._inference.labels(*labels)
                for _ in range(round(runs)):
                    child.observe(inference / runs / 1000.0)
            for lag in reading.lags_s:
                self._lag.labels(*labels).observe(lag)


@dataclass(frozen=True)
class _Reading:
    """One status record's values, all checked before any is recorded."""

    totals: dict[str, float]
    gauges: dict[str, float]
    stage_ms: dict[str, float]
    lags_s: list[float]
    inference_ms: list[float] | None

    @classmethod
    def of(
        cls,
        camera_id: str,
        status: Mapping[str, Any],
        lags_s: Iterable[float],
        inference_ms: Iterable[float] | None,
    ) -> _Reading:
        totals = {key: _total(camera_id, key, status.get(key)) for key, _, _ in _COUNTERS}
        gauges = {key: _number(camera_id, key, status.get(key)) for key, _, _ in _GAUGES}
        raw_stages = status.get("stage_ms")
        if raw_stages is not None and not isinstance(raw_stages, Mapping):
            raise ValueError(
                f"camera {camera_id}: status field 'stage_ms' is {raw_stages!r}, not a mapping "
                "of stage to milliseconds"
            )
        stages = {
            str(stage): _total(camera_id, f"stage_ms.{stage}", raw)
            for stage, raw in (raw_stages or {}).items()
        }
        lags = [_sample(camera_id, "lags_s", value) for value in lags_s]
        runs = (
            None
            if inference_ms is None
            else [_sample(camera_id, "inference_ms", value) for value in inference_ms]
        )
        return cls(
            totals={key: value for key, value in totals.items() if value is not None},
            gauges={key: value for key, value in gauges.items() if value is not None},
            stage_ms={key: value for key, value in stages.items() if value is not None},
            lags_s=lags,
            inference_ms=runs,
        )


def _sample(camera_id: str, name: str, value: Any) -> float:
    """One observed duration: a finite number >= 0."""
    number = _number(camera_id, name, value)
    if number is None or not (math.isfinite(number) and number >= 0):
        raise ValueError(f"camera {camera_id}: a value of {name} is {value!r}, not a duration")
    return number


class SupervisorMetrics:
    """What only the supervisor knows: whether each worker is up, and how often it restarted."""

    def __init__(self) -> None:
        self.directory = _directory_in_use()
        self._up = Gauge(
            "hazardwatch_pipeline_worker_up",
            "1 while the worker process runs, 0 from its exit until its restart.",
            ("worker",),
            registry=None,
            multiprocess_mode="livesum",
        )
        self._restarts = Counter(
            "hazardwatch_pipeline_worker_restarts_total",
            "Worker processes restarted after they died.",
            ("worker",),
            registry=None,
        )

    def worker_started(self, worker: int | str, *, restart: bool = False) -> None:
        self._up.labels(str(worker)).set(1)
        if restart:
            self._restarts.labels(str(worker)).inc()

    def worker_exited(self, worker: int | str, pid: int) -> None:
        """Call before the worker's replacement starts (see the module's docstring)."""
        self._up.labels(str(worker)).set(0)
        mark_worker_dead(pid, self.directory)
