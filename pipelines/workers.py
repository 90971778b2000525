"""Cameras spread over worker processes: the runtime that uses every core.

One Python process cannot use a second core for analysis: its decode threads release the
interpreter lock inside FFmpeg, but every frame's Python work (sampling, rules, tracking, the
detector call's pre- and post-processing) holds it, and at 6–7 cameras of 1080p the analysis
threads queue behind each other while a core idles (ARCHITECTURE.md §8). So ``hazardwatch run``
splits the cameras over worker processes, by default one per core, each a complete pipeline for
its cameras: their sources, analyses, detectors, evidence writers and its own event spool. No
picture ever crosses a process boundary (there is nothing to pickle or share: a worker owns its
cameras end to end, and the API reads live pictures and evidence from files).

The supervisor (this module, in the ``run`` process) plans the split once at start, starts the
workers, restarts one that dies (capped exponential backoff; its cameras resume, its spool drains
what it had accepted), forwards SIGHUP (config reload) and, on stop, SIGTERM, waiting for each
worker's graceful stop (open hazards ended, clips cut, spool flushed) before it kills. A worker
dies with the supervisor (``PR_SET_PDEATHSIG``) so a killed ``run`` leaves no orphans that would
hold the spool locks of the next start.

Spools are per worker: ``DATA/spool/NODE-wK.sqlite3``. NODE (``--node``, default the host name)
keeps several boxes apart when they share one evidence volume; spools of this node that no worker
of the current plan owns (fewer workers than last time, or the single-process ``spool.sqlite3``)
are drained to Redis before the workers start, so an event accepted by an earlier run is never
stranded.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.builders import camera_needs_detector
from pipelines.config import HazardwatchConfig
from pipelines.linux import die_with_parent
from vision.types import HazardKind

logger = logging.getLogger(__name__)

SPOOL_DIRNAME = "spool"
LEGACY_SPOOL_NAME = "spool.sqlite3"  # the single-process runtime's spool
_NODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")

# Relative cost of a camera's work, per second of video (FIELD-NOTES.md: decode ~80 ms of CPU
# per second of 1080p, one detector run ~13 ms, motion analysis on small luma ~1 ms a frame).
# Only used to balance the plan; the resolution is unknown before the stream is opened, so every
# camera's decode counts the same.
_DECODE_COST = 80.0
_INFERENCE_COST_PER_RUN = 13.0
_MOTION_COST_PER_FRAME = 1.0


class WorkerPlanError(ValueError):
    """The worker count or node name is unusable."""


def check_node_name(node: str) -> str:
    if not _NODE_RE.fullmatch(node):
        raise WorkerPlanError(
            f"--node {node!r}: use 1-63 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names this box's spool files)"
        )
    return node


def default_node_name() -> str:
    """The host name, reduced to the characters a spool file name may hold."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "-", os.uname().nodename)[:63].lstrip("-._")
    return name or "node"


def spool_path(data_dir: Path, node: str, worker: int) -> Path:
    return data_dir / SPOOL_DIRNAME / f"{node}-w{worker}.sqlite3"


def running_cameras(config: HazardwatchConfig) -> list[str]:
    """Cameras that get a pipeline: enabled and with a source."""
    return [cid for cid, camera in config.cameras.items() if camera.enabled and camera.source]


def camera_cost(config: HazardwatchConfig, camera_id: str) -> float:
    """An estimate of a camera's CPU ms per second of video, for balancing only."""
    camera = config.cameras[camera_id]
    cost = _DECODE_COST
    if camera_needs_detector(camera):
        cost += camera.detect.fps * _INFERENCE_COST_PER_RUN
    if any(h.kind is HazardKind.FALLING_OBJECT for h in camera.hazards):
        cost += camera.motion.fps * _MOTION_COST_PER_FRAME
    return cost


def resolve_worker_count(requested: str | int, cameras: int, cores: int | None = None) -> int:
    """``auto``: one worker per core, never more than cameras (at least 1)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    if requested == "auto":
        return max(1, min(cores, cameras))
    try:
        count = int(requested)
    except (TypeError, ValueError):
        raise WorkerPlanError(f"--workers {requested!r}: a whole number >= 1, or 'auto'") from None
    if count < 1:
        raise WorkerPlanError(f"--workers {requested!r}: a whole number >= 1, or 'auto'")
    return max(1, min(count, max(cameras, 1)))


def plan_workers(costs: Mapping[str, float], workers: int) -> list[list[str]]:
    """Split cameras over ``workers`` by estimated cost: the most expensive first, each to the
    least loaded worker (ties to the lower index); deterministic for the same config."""
    if workers < 1:
        raise WorkerPlanError(f"workers must be >= 1, got {workers}")
    loads = [0.0] * workers
    plan: list[list[str]] = [[] for _ in range(workers)]
    for camera_id in sorted(costs, key=lambda cid: (-costs[cid], cid)):
        target = min(range(workers), key=lambda k: (loads[k], k))
        plan[target].append(camera_id)
        loads[target] += costs[camera_id]
    return [sorted(cameras) for cameras in plan]


def orphan_spools(data_dir: Path, node: str, workers: int) -> list[Path]:
    """This node's spool files that no worker of a ``workers``-worker plan owns, and the
    single-process runtime's spool: their events must be drained before anything else."""
    found: list[Path] = []
    legacy = data_dir / LEGACY_SPOOL_NAME
    if legacy.is_file():
        found.append(legacy)
    folder = data_dir / SPOOL_DIRNAME
    if folder.is_dir():
        pattern = re.compile(rf"^{re.escape(node)}-w(\d+)\.sqlite3$")
        for path in sorted(folder.iterdir()):
            match = pattern.match(path.name)
            if match and int(match.group(1)) >= workers:
                found.append(path)
    return found


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """How the supervisor starts and restarts its workers."""

    config_path: Path
    data_dir: Path
    redis_url: str
    node: str
    restart_initial_s: float = 1.0
    restart_max_s: float = 30.0
    # A worker that ran this long without dying resets its restart backoff.
    healthy_after_s: float = 60.0
    stop_timeout_s: float = 60.0
    python: str = sys.executable
    verbosity: int = 0  # the supervisor's -v count, passed on
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerState:
    """One worker slot: its cameras and the process that currently runs them."""

    index: int
    cameras: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start_at: float = 0.0
    last_exit: str = ""


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerSupervisor:
    """Starts, watches and stops the worker processes of one ``hazardwatch run``.

    ``on_worker_exit(index, pid)`` is called (from the watching thread) after a worker process
    ended, before it is restarted: the metrics of a dead process are retired there;
    ``on_worker_start(index, restart)`` after each start.
    """

    def __init__(
        self,
        settings: SupervisorSettings,
        plan: Sequence[Sequence[str]],
        on_worker_exit: Callable[[int, int], None] | None = None,
        on_worker_start: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.workers = [WorkerState(k, list(cameras)) for k, cameras in enumerate(plan) if cameras]
        self._on_worker_exit = on_worker_exit
        self._on_worker_start = on_worker_start
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ----- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            for worker in self.workers:
                self._spawn(worker)
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> list[int | None]:
        """SIGTERM every worker, wait for each to stop gracefully (up to ``stop_timeout_s`` in
        all), then SIGKILL what is left. Returns the exit codes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            running = [w.process for w in self.workers if w.process is not None]
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.stop_timeout_s
        codes: list[int | None] = []
        for proc in running:
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                logger.error(
                    "worker pid %d did not stop within %.0f s: killed (its open hazards stay "
                    "open; its spool keeps what it accepted)",
                    proc.pid,
                    self.settings.stop_timeout_s,
                )
                proc.kill()
                codes.append(proc.wait())
        return codes

    def reload(self) -> None:
        """Forward SIGHUP: every worker re-reads the config file (detectors, zones)."""
        with self._lock:
            for worker in self.workers:
                if worker.process is not None and worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGHUP)

    # ----- internals -----------------------------------------------------------------------------

    def command(self, worker: WorkerState) -> list[str]:
        s = self.settings
        return [
            s.python, "-m", "hazardwatch", *["-v"] * s.verbosity, "run",
            "--config", str(s.config_path),
            "--data-dir", str(s.data_dir),
            "--redis-url", s.redis_url,
            "--node", s.node,
            "--worker-index", str(worker.index),
            "--only-cameras", ",".join(worker.cameras),
        ]  # fmt: skip

    def _spawn(self, worker: WorkerState) -> None:
        env = {**os.environ, **self.settings.extra_env}
        worker.process = subprocess.Popen(self.command(worker), env=env, preexec_fn=die_with_parent)
        worker.started_at = time.monotonic()
        if self._on_worker_start is not None:
            self._on_worker_start(worker.index, worker.restarts > 0)
        logger.info(
            "worker %d (pid %d): cameras %s",
            worker.index,
            worker.process.pid,
            ", ".join(worker.cameras),
        )

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._check_workers()
            except Exception:
                logger.exception("worker supervisor: check failed")

    def _check_workers(self) -> None:
        now = time.monotonic()
        with self._lock:
            for worker in self.workers:
                proc = worker.process
                if proc is not None:
                    code = proc.poll()
                    if code is None:
                        continue
                    if self._stop.is_set():
                        return
                    worker.last_exit = _exit_text(code)
                    ran_s = now - worker.started_at
                    if ran_s >= self.settings.healthy_after_s:
                        delay = self.settings.restart_initial_s
                    else:
                        delay = min(
                            self.settings.restart_max_s,
                            self.settings.restart_initial_s * 2 ** min(worker.restarts, 16),
                        )
                    worker.next_start_at = now + delay
                    worker.process = None
                    logger.error(
                        "worker %d (pid %d, cameras %s) ended after %.1f s (%s): restarting in "
                        "%.1f s",
                        worker.index,
                        proc.pid,
                        ", ".join(worker.cameras),
                        ran_s,
                        worker.last_exit,
                        delay,
                    )
                    if self._on_worker_exit is not None:
                        self._on_worker_exit(worker.index, proc.pid)
                elif now >= worker.next_start_at and not self._stop.is_set():
                    worker.restarts += 1
                    self._spawn(worker)
