"""``hazardwatch run`` with its cameras spread over worker processes (issue 10).

What the user sees: ``run --workers 2`` prints how many worker processes it started; each worker
runs its cameras (events of every camera arrive); a worker that dies (SIGKILL, an OOM kill) is
restarted by the supervisor within seconds, with an error in the log naming the worker, its
cameras and how it ended, and its cameras raise hazards again; SIGTERM stops every worker
gracefully and ``run`` exits 0 with every spool empty; every hazard of the run, before and after
the kill, is in exactly one ticket. A spool left by an earlier single-process run is drained.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from benchmarks.capacity.procfs import alive, children
from tests.faults.harness import (
    FacadeMedia,
    Service,
    accepted_events,
    check_ledger,
    parse_metrics,
    partial_files,
    settle_tickets,
    spool_rows,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.servers import RedisServerFactory, RtspServerFactory, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _worker_of(service: Service, camera_id: str) -> int | None:
    for pid in children(service.pid):
        args = _cmdline(pid)
        if "--only-cameras" in args and camera_id in args[args.index("--only-cameras") + 1]:
            return pid
    return None


def _two_cameras(tmp_path: Path, facade: FacadeMedia, rtsp: RtspServerFactory) -> Path:
    """A config of two facade cameras, cam_a and cam_b, each on its own RTSP mount."""
    server = rtsp({"/cam_a": f"file:{facade.clip}", "/cam_b": f"file:{facade.clip}"})
    cameras = {cid: facade.camera_config(server.url(f"/{cid}")) for cid in ("cam_a", "cam_b")}
    return write_config(tmp_path / "workers.yaml", cameras)


def _starts(client: redis.Redis, camera_id: str) -> int:
    return sum(
        1 for e in stream_events(client) if e["camera_id"] == camera_id and e["phase"] == "start"
    )


@pytest.mark.timeout(150)
def test_workers_run_cameras_and_a_killed_worker_is_restarted(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    redis_server = redis_server_factory()
    config = _two_cameras(tmp_path, facade, rtsp_server_factory)
    metrics_port = free_port()
    service: Service = service_factory(
        config,
        redis_server.url,
        command="run",
        extra_args=["--workers", "2", "--node", "boxA", "--metrics-port", str(metrics_port)],
    ).start()
    assert "in 2 worker processes (node boxA)" in service.log()
    workers = {cid: wait_for(lambda c=cid: _worker_of(service, c), 20, f"the worker of {cid}")
               for cid in ("cam_a", "cam_b")}  # fmt: skip
    assert workers["cam_a"] != workers["cam_b"]
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: _starts(client, "cam_a") and _starts(client, "cam_b"), 60,
             "a hazard from each camera")  # fmt: skip
    assert sorted(p.name for p in (service.data_dir / "spool").iterdir() if p.suffix == ".sqlite3"
                  ) == ["boxA-w0.sqlite3", "boxA-w1.sqlite3"]  # fmt: skip

    # The workers' metrics, merged by the supervisor; the status records carry the new fields.
    def merged() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        return parse_metrics(text)

    wait_for(lambda: all(merged().get(("hazardwatch_pipeline_frames_analysed_total",
                                       frozenset({("camera", c), ("worker", w)})), 0) > 0
                         for c, w in (("cam_a", "0"), ("cam_b", "1"))), 20,
             "frames of both workers in the merged metrics")  # fmt: skip
    assert merged()[("hazardwatch_pipeline_worker_up", frozenset({("worker", "1")}))] == 1
    status = json.loads(client.hget("hazardwatch:camera_status", "cam_b") or b"{}")
    assert status["worker"] == 1 and status["pid"] == workers["cam_b"]
    assert status["lag_ms_p95"] is not None and status["overloaded"] is False
    assert status["stage_ms"] and status["detect_fps_target"] == 0.0  # facade: no detector

    os.kill(workers["cam_b"], signal.SIGKILL)
    killed_at_starts = _starts(client, "cam_b")
    wait_for(lambda: "restarting in" in service.log(), 10, "the supervisor to notice")
    assert "killed by SIGKILL" in service.log()
    restarted = wait_for(lambda: (p := _worker_of(service, "cam_b")) != workers["cam_b"] and p,
                         20, "the worker of cam_b to be restarted")  # fmt: skip
    assert _worker_of(service, "cam_a") == workers["cam_a"], "the other worker was disturbed"
    wait_for(lambda: _starts(client, "cam_b") > killed_at_starts, 60,
             "a hazard from cam_b after its worker was restarted")  # fmt: skip
    assert restarted in children(service.pid)
    wait_for(lambda: merged().get(("hazardwatch_pipeline_worker_restarts_total",
                                   frozenset({("worker", "1")}))) == 1, 10,
             "the restart in the merged metrics")  # fmt: skip

    started = time.monotonic()
    code, _took = service.terminate(timeout_s=60)
    assert code == 0, service.log()[-3000:]
    assert time.monotonic() - started < 40
    assert spool_rows(service.data_dir) == 0
    assert partial_files(service.data_dir) == []
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    # A SIGKILLed worker may have sent an event just before its spool row was deleted: the store
    # absorbs the resend (idempotent on event_id).
    check_ledger(client, service.data_dir, tickets, [service.log()], resent_ok=True)
    cameras = {camera for *_rest, camera in accepted_events(service.log())}
    assert cameras == {"cam_a", "cam_b"}


@pytest.mark.timeout(120)
def test_a_single_process_spool_is_drained_by_workers(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """Events spooled by a single-process run while Redis was down reach Redis when ``run``
    restarts with two workers (they no longer use ``spool.sqlite3``)."""
    redis_server = redis_server_factory(appendonly=True)
    config = _two_cameras(tmp_path, facade, rtsp_server_factory)
    first: Service = service_factory(
        config, redis_server.url, command="run", extra_args=["--workers", "1"]
    ).start()
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: client.xlen("hazardwatch:events") > 0, 60, "a first event")
    redis_server.kill()
    wait_for(lambda: spool_rows(first.data_dir) > 0, 60, "events spooled while Redis is down")
    first.kill()
    redis_server.restart()
    assert (first.data_dir / "spool.sqlite3").is_file()
    second: Service = service_factory(
        config, redis_server.url, command="run", extra_args=["--workers", "2"]
    ).start()
    wait_for(lambda: spool_rows(second.data_dir) == 0, 30, "the old spool to drain")
    code, _took = second.terminate(timeout_s=60)
    assert code == 0, second.log()[-3000:]
    tickets = settle_tickets(config, redis_server.url, second.data_dir)
    check_ledger(client, second.data_dir, tickets, [first.log(), second.log()], resent_ok=True)


@pytest.mark.timeout(90)
def test_workers_end_with_a_killed_supervisor(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """SIGKILL of ``run`` itself leaves no worker behind (they would hold the spool locks of
    the next start): each worker is told by the kernel (PR_SET_PDEATHSIG) and stops."""
    redis_server = redis_server_factory()
    config = _two_cameras(tmp_path, facade, rtsp_server_factory)
    service: Service = service_factory(
        config, redis_server.url, command="run", extra_args=["--workers", "2"]
    ).start()
    workers = [wait_for(lambda c=cid: _worker_of(service, c), 20, f"the worker of {cid}")
               for cid in ("cam_a", "cam_b")]  # fmt: skip
    service.kill()
    wait_for(lambda: not any(alive(pid) for pid in workers), 30, "the workers to end")
