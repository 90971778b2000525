"""Pipeline metrics written by real worker processes and merged (prometheus_client multiprocess).

The test process itself imported prometheus_client without ``PROMETHEUS_MULTIPROC_DIR``, so it
only reads and merges; every writer is a spawned child whose environment has the variable before
its first import, as the supervisor's workers do.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
import urllib.request
from collections.abc import Iterator, Mapping
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.metrics import (
    MULTIPROC_ENV,
    MetricsModeError,
    PipelineMetrics,
    SupervisorMetrics,
    mark_worker_dead,
    prepare_multiprocess_dir,
    render_merged,
    serve_metrics,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(90)

_SPAWN = multiprocessing.get_context("spawn")
# A status record, the lags since the last one and (if known) the detector times of that interval
Step = tuple[dict[str, Any], list[float], list[float] | None]


def _worker(worker: int, camera: str, steps: list[Step], stay: bool, report: Queue[Any]) -> None:
    """A worker process: records ``steps`` for ``camera``, reports, then stays until killed."""
    try:
        metrics = PipelineMetrics(worker)
        for status, lags, inference_ms in steps:
            metrics.record_camera(camera, status, lags_s=lags, inference_ms=inference_ms)
    except Exception as exc:  # reported to the test, which fails on it
        report.put(("error", os.getpid(), f"{type(exc).__name__}: {exc}"))
        return
    report.put(("recorded", os.getpid(), ""))
    if stay:
        signal.pause()


def _supervisor(commands: Queue[Any], report: Queue[Any]) -> None:
    """A supervisor process: obeys ("started"|"restarted"|"exited", worker, pid) commands,
    reporting after each, until ``None``."""
    try:
        metrics = SupervisorMetrics()
    except Exception as exc:
        report.put(("error", os.getpid(), f"{type(exc).__name__}: {exc}"))
        return
    report.put(("recorded", os.getpid(), ""))
    while (command := commands.get()) is not None:
        event, worker, pid = command
        try:
            if event == "exited":
                metrics.worker_exited(worker, pid)
            else:
                metrics.worker_started(worker, restart=event == "restarted")
        except Exception as exc:
            report.put(("error", os.getpid(), f"{type(exc).__name__}: {exc}"))
            return
        report.put(("recorded", os.getpid(), ""))


class Processes:
    """Spawned children of one test; all killed at the end."""

    def __init__(self) -> None:
        self.report: Queue[Any] = _SPAWN.Queue()
        self.children: list[BaseProcess] = []

    def run(self, target: Any, *args: Any) -> tuple[str, int, str]:
        """Start a child and wait for its report (outcome, pid, error text)."""
        child = _SPAWN.Process(target=target, args=(*args, self.report), daemon=True)
        child.start()
        self.children.append(child)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                report: tuple[str, int, str] = self.report.get(timeout=0.5)
            except queue.Empty:
                assert child.is_alive(), f"child exited ({child.exitcode}) without a report"
                continue
            assert report[1] == child.pid
            return report
        raise AssertionError("the child did not report within 60 s")

    def start(self, target: Any, *args: Any) -> int:
        outcome, pid, message = self.run(target, *args)
        assert outcome == "recorded", message
        return pid

    def tell(self, commands: Queue[Any], command: tuple[str, int, int]) -> None:
        """Send ``command`` to a child reading ``commands``; wait for it to be done."""
        commands.put(command)
        outcome, _, message = self.report.get(timeout=60)
        assert outcome == "recorded", message

    def kill(self, pid: int) -> None:
        child = next(child for child in self.children if child.pid == pid)
        child.kill()
        child.join(10)

    def close(self) -> None:
        for child in self.children:
            if child.is_alive():
                child.kill()
            child.join(10)
        self.report.close()


@pytest.fixture
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = prepare_multiprocess_dir(tmp_path / "prom")
    monkeypatch.setenv(MULTIPROC_ENV, str(directory))  # inherited by the spawned children
    return directory


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.close()


def _samples(text: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value of an exposition, read by the library's own parser."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def _value(samples: Mapping[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _status(frames: int, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"state": "streaming", "frames_in": frames, "updated_at": "now"}
    record.update(fields)
    return record


LANE_A: list[Step] = [
    (
        _status(
            100,
            frames_out=20,
            dropped=2,
            detector_runs=10,
            detector_skips=10,
            stage_ms={"decode": 800.0, "inference": 130.0},
            detect_fps_target=5.0,
            detect_fps_effective=4.5,
            overloaded=False,
        ),
        [0.1, 0.2],
        None,
    ),
    (
        _status(
            150,
            frames_out=30,
            dropped=2,
            detector_runs=15,
            detector_skips=15,
            stage_ms={"decode": 1200.0, "inference": 200.0},
            detect_fps_effective=4.0,
        ),
        [0.3],
        None,
    ),
]
LANE_B: list[Step] = [
    (
        _status(
            60, frames_out=12, detect_fps_target=2.0, detect_fps_effective=2.0, overloaded=True
        ),
        [],
        [12.0, 40.0],  # the runner's own detector times: observed as they are
    )
]


def test_workers_are_merged_and_a_dead_workers_gauges_leave(
    metrics_dir: Path, processes: Processes
) -> None:
    first = processes.start(_worker, 0, "lane_a", LANE_A, True)
    processes.start(_worker, 1, "lane_b", LANE_B, True)

    merged = _samples(render_merged(metrics_dir))
    a, b = {"camera": "lane_a", "worker": "0"}, {"camera": "lane_b", "worker": "1"}
    assert _value(merged, "hazardwatch_pipeline_frames_decoded_total", **a) == 150
    assert _value(merged, "hazardwatch_pipeline_frames_decoded_total", **b) == 60
    assert _value(merged, "hazardwatch_pipeline_frames_analysed_total", **a) == 30
    assert _value(merged, "hazardwatch_pipeline_frames_dropped_total", **a) == 2
    assert _value(merged, "hazardwatch_pipeline_detector_runs_total", **a) == 15
    assert _value(merged, "hazardwatch_pipeline_detector_skips_total", **a) == 15
    stage = "hazardwatch_pipeline_stage_seconds_total"
    assert _value(merged, stage, **a, stage="decode") == pytest.approx(1.2)
    assert _value(merged, stage, **a, stage="inference") == pytest.approx(0.2)
    inference = "hazardwatch_pipeline_inference_seconds"
    assert _value(merged, f"{inference}_count", **a) == 15  # one per run
    assert _value(merged, f"{inference}_sum", **a) == pytest.approx(0.2)
    assert _value(merged, f"{inference}_bucket", **a, le="0.015") == 15  # 13 ms, then 14 ms
    lag = "hazardwatch_pipeline_frame_lag_seconds"
    assert _value(merged, f"{lag}_count", **a) == 3
    assert _value(merged, f"{lag}_sum", **a) == pytest.approx(0.6)
    assert _value(merged, f"{lag}_bucket", **a, le="0.2") == 2
    assert _value(merged, f"{lag}_bucket", **a, le="5.0") == 3
    assert _value(merged, "hazardwatch_pipeline_detect_fps_target", **a) == 5.0
    assert _value(merged, "hazardwatch_pipeline_detect_fps_effective", **a) == 4.0
    assert _value(merged, "hazardwatch_pipeline_overloaded", **a) == 0
    assert _value(merged, "hazardwatch_pipeline_overloaded", **b) == 1
    assert _value(merged, f"{inference}_count", **b) == 2
    assert _value(merged, f"{inference}_bucket", **b, le="0.015") == 1
    assert _value(merged, f"{inference}_bucket", **b, le="0.05") == 2
    assert not [labels for _, labels in merged if "pid" in dict(labels)]  # livesum: no pid

    # worker 0 dies; until it is marked dead its last gauges are still counted ...
    processes.kill(first)
    killed = _samples(render_merged(metrics_dir))
    assert _value(killed, "hazardwatch_pipeline_detect_fps_effective", **a) == 4.0
    # ... the supervisor marks it dead: its gauges leave, its counts stay
    supervisor: Queue[Any] = _SPAWN.Queue()
    processes.start(_supervisor, supervisor)
    processes.tell(supervisor, ("started", 0, 0))
    processes.tell(supervisor, ("exited", 0, first))
    dead = _samples(render_merged(metrics_dir))
    assert _value(dead, "hazardwatch_pipeline_detect_fps_effective", **a) is None
    assert _value(dead, "hazardwatch_pipeline_overloaded", **a) is None
    assert _value(dead, "hazardwatch_pipeline_detect_fps_effective", **b) == 2.0
    assert _value(dead, "hazardwatch_pipeline_frames_decoded_total", **a) == 150
    assert _value(dead, "hazardwatch_pipeline_worker_up", worker="0") == 0

    # its replacement continues the same series: counts add up, gauges are the live one's
    restarted = [(_status(40, detect_fps_effective=3.0, detector_runs=2), [0.05], None)]
    processes.start(_worker, 0, "lane_a", restarted, True)
    processes.tell(supervisor, ("restarted", 0, 0))
    after = _samples(render_merged(metrics_dir))
    assert _value(after, "hazardwatch_pipeline_frames_decoded_total", **a) == 190
    assert _value(after, "hazardwatch_pipeline_detector_runs_total", **a) == 17
    assert _value(after, "hazardwatch_pipeline_detect_fps_effective", **a) == 3.0
    assert _value(after, f"{lag}_count", **a) == 4
    assert _value(after, "hazardwatch_pipeline_worker_restarts_total", worker="0") == 1
    assert _value(after, "hazardwatch_pipeline_worker_up", worker="0") == 1

    server, thread = serve_metrics("127.0.0.1", free_port(), metrics_dir)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            served = _samples(response.read())
        assert served == after
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_counters_follow_growth_and_restart_from_zero(
    metrics_dir: Path, processes: Processes
) -> None:
    steps: list[Step] = [
        (_status(100, stage_ms={"decode": 50.0}), [], None),
        (_status(100), [], None),  # no growth; stage_ms missing
        (_status(30, stage_ms={"decode": 10.0}), [], None),  # the source restarted from 0
        (_status(45, frames_out=None), [], None),
        ({"state": "connecting"}, [], None),  # nothing numeric yet
    ]
    processes.start(_worker, 3, "cam", steps, False)
    merged = _samples(render_merged(metrics_dir))
    labels = {"camera": "cam", "worker": "3"}
    assert _value(merged, "hazardwatch_pipeline_frames_decoded_total", **labels) == 145
    stage = {**labels, "stage": "decode"}
    assert _value(merged, "hazardwatch_pipeline_stage_seconds_total", **stage) == pytest.approx(
        0.06
    )
    assert _value(merged, "hazardwatch_pipeline_frames_analysed_total", **labels) is None
    assert _value(merged, "hazardwatch_pipeline_detect_fps_effective", **labels) is None


@pytest.mark.parametrize(
    ("status", "lags", "message"),
    [
        ({"frames_in": "12"}, [], "camera cam: status field 'frames_in' is '12', not a number"),
        ({"frames_in": -1}, [], "'frames_in' is -1, not a count"),
        ({"frames_in": float("nan")}, [], "'frames_in' is nan, not a count"),
        ({"stage_ms": [1, 2]}, [], "'stage_ms' is [1, 2], not a mapping"),
        ({"stage_ms": {"decode": "x"}}, [], "'stage_ms.decode' is 'x'"),
        ({"detect_fps_target": "5"}, [], "'detect_fps_target' is '5', not a number"),
        ({"frames_in": 5}, [-0.5], "a value of lags_s is -0.5, not a duration"),
    ],
    ids=["text", "negative", "nan", "stages-list", "stage-text", "gauge-text", "negative-lag"],
)
def test_a_bad_status_field_is_named_and_nothing_is_recorded(
    metrics_dir: Path, processes: Processes, status: dict[str, Any], lags: list[float], message: str
) -> None:
    outcome, _, text = processes.run(_worker, 0, "cam", [(status, lags, None)], False)
    assert outcome == "error"
    assert text.startswith("ValueError: ") and message in text, text
    assert b"hazardwatch_pipeline_frames_decoded_total{" not in render_merged(metrics_dir)


def test_metrics_refuse_a_process_that_imported_the_library_too_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # this test process imported prometheus_client before the variable was set
    monkeypatch.setenv(MULTIPROC_ENV, str(prepare_multiprocess_dir(tmp_path / "prom")))
    with pytest.raises(MetricsModeError, match="set after prometheus_client had been imported"):
        PipelineMetrics(0)
    with pytest.raises(MetricsModeError, match="set after prometheus_client had been imported"):
        SupervisorMetrics()
    monkeypatch.delenv(MULTIPROC_ENV)
    with pytest.raises(MetricsModeError, match=f"{MULTIPROC_ENV} is not set"):
        PipelineMetrics(0)
    with pytest.raises(MetricsModeError, match="no directory given"):
        mark_worker_dead(12345)


def test_prepare_empties_only_metric_files(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "prom"
    assert prepare_multiprocess_dir(directory) == directory and directory.is_dir()
    (directory / "counter_123.db").write_bytes(b"old run")
    (directory / "gauge_livesum_123.db").write_bytes(b"old run")
    (directory / "notes.txt").write_text("not ours")
    prepare_multiprocess_dir(directory)
    assert sorted(path.name for path in directory.iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(MetricsModeError, match="exists and is not a directory"):
        prepare_multiprocess_dir(tmp_path / "file")
    with pytest.raises(MetricsModeError, match="does not exist"):
        render_merged(tmp_path / "missing")


def test_serving_on_a_busy_port_names_it(tmp_path: Path) -> None:
    directory = prepare_multiprocess_dir(tmp_path / "prom")
    server, thread = serve_metrics("127.0.0.1", 0, directory)
    try:
        port = server.server_port
        with pytest.raises(MetricsModeError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve_metrics("127.0.0.1", port, directory)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
