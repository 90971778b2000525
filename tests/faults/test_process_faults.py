"""The service process itself stopped: SIGTERM (graceful) and SIGKILL then restart.

What the user sees: after SIGTERM, ``hazardwatch up`` exits 0 within a bound and leaves nothing
half done (every open hazard has its end event, the spool is empty, no temporary files). After
SIGKILL and a restart, events spooled while Redis was down are drained, entries the killed ticket
service had read but not acknowledged are reclaimed, temporary files of interrupted writes are
gone, and every hazard is in exactly one ticket.
"""

from __future__ import annotations

import fcntl
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.faults.harness import (
    ACCEPTED_RE,
    FacadeMedia,
    Service,
    check_ledger,
    partial_files,
    settle_tickets,
    spool_rows,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.servers import RedisServerFactory, RtspServerFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SIGTERM_BOUND_S = 20.0  # exit within this after SIGTERM (clips of open hazards included)


def _open_hazard(log: str, fresh_s: float) -> str | None:
    """A hazard whose start the publisher accepted less than ``fresh_s`` ago and which has no
    end yet (a falling object is open for about 1.3 s of stream time)."""
    started: dict[str, datetime] = {}
    ended: set[str] = set()
    for line in log.splitlines():
        match = ACCEPTED_RE.search(line)
        if match is None:
            continue
        _event_id, phase, hazard_id, _camera = match.groups()
        if phase == "start":
            started[hazard_id] = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        elif phase == "end":
            ended.add(hazard_id)
    now = datetime.now()
    for hazard_id, at in started.items():
        if hazard_id not in ended and (now - at).total_seconds() < fresh_s:
            return hazard_id
    return None


def _spool_lock_free(data_dir: Path) -> bool:
    with (data_dir / "spool.sqlite3.lock").open("rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


@pytest.mark.timeout(120)
def test_sigterm_flushes_open_hazards_and_exits_0(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """SIGTERM while a hazard is open: ``up`` exits with 0 within 20 s.

    The open hazard's ``end`` is published by the shutdown (the analysis is closed, the event
    queue drained, the publisher flushed into Redis): the stream holds its start and end, the
    spool is empty and unlocked, no temporary file is left. Every event of the run is in exactly
    one ticket once the stream is applied.
    """
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    # No post-roll: a start is published as soon as it is decided, while the fall is still open.
    camera = facade.camera_config(rtsp.url("/cam_a"), postroll_s=0.0)
    config = write_config(tmp_path / "faults.yaml", {"cam_a": camera})
    service: Service = service_factory(config, redis_server.url).start()

    open_hazard = wait_for(lambda: _open_hazard(service.log(), 0.4), 40, "an open hazard", 0.02)
    code, took_s = service.terminate(timeout_s=SIGTERM_BOUND_S + 10)

    assert code == 0, f"exit code {code} after SIGTERM:\n{service.log()[-3000:]}"
    assert took_s < SIGTERM_BOUND_S
    client = redis.Redis.from_url(redis_server.url)
    phases = [e["phase"] for e in stream_events(client) if e["hazard_id"] == open_hazard]
    assert phases == ["start", "end"], f"hazard {open_hazard} open at SIGTERM: {phases}"
    log = service.log()
    assert log.index("signal received: stopping") < log.index(f"(end of hazard {open_hazard}")
    assert spool_rows(service.data_dir) == 0
    assert _spool_lock_free(service.data_dir)
    assert partial_files(service.data_dir) == []
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    assert open_hazard in ledger.ticket_of_hazard


def _plant_interrupted_writes(data_dir: Path) -> list[Path]:
    """What a SIGKILL in the middle of evidence writes leaves: temporary files under the names
    the clip and snapshot writers use, beside finished evidence of an earlier hazard."""
    folder = next((data_dir / "evidence").glob("*/*/*"))
    clip = (folder / "clip.mp4").read_bytes()
    planted = [
        folder / ".clip.0badc0de.partial.mp4",  # cameras.clips.write_clip
        folder / ".snapshot.jpg.0badc0de.partial",  # evidence snapshots
        folder / ".clip_public.mp4.0badc0de.mp4",  # the public clip's re-encode
        data_dir / "live" / ".cam_a.jpg.0badc0de.partial",  # live snapshot
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(clip[: len(clip) // 2])
    return planted


@pytest.mark.timeout(180)
def test_sigkill_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """SIGKILL of ``up`` while Redis is down (events in the spool), while the ticket service has
    entries read but not acknowledged (the ticket database locked), and with half-written
    evidence files; then a restart.

    (``tests/api/test_service.py`` kills a bare consumer between commit and XACK; this kills the
    whole service with every kind of unfinished work at once.)

    The user sees: the restarted service drains the spool (``spool.sqlite3`` empty), reclaims
    the dead consumer's pending entries (``service.reclaimed`` in ``/health`` and
    ``hazardwatch_service_reclaimed`` in ``/metrics``, nothing pending in the group), has removed
    the temporary files at start-up, and every hazard of both runs is in exactly one ticket.
    """
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    config = write_config(
        tmp_path / "faults.yaml", {"cam_a": facade.camera_config(rtsp.url("/cam_a"))}
    )
    first: Service = service_factory(config, redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: first.tickets(), 40, "a first ticket")

    # Entries read by the ticket service and not acknowledged: it waits on a locked database.
    with sqlite3.connect(first.data_dir / "tickets.sqlite3", timeout=10) as lock:
        lock.execute("BEGIN EXCLUSIVE")
        wait_for(lambda: _pending(client) > 0, 30, "entries pending in the consumer group")
        redis_server.kill()
        wait_for(lambda: spool_rows(first.data_dir) > 0, 30, "events spooled while Redis is down")
        planted = _plant_interrupted_writes(first.data_dir)
        first.kill()
        lock.rollback()
    redis_server.restart()
    pending_before = _pending(client)
    assert pending_before > 0

    second = service_factory(config, redis_server.url).start()
    assert not any(path.exists() for path in planted), "temporary files left after a restart"
    assert partial_files(second.data_dir) == []
    wait_for(lambda: spool_rows(second.data_dir) == 0, 30, "the spool to drain")
    # The dead consumer's entries are taken over once idle for the claim time (5 s).
    wait_for(lambda: second.health()["service"]["reclaimed"] >= pending_before, 60,
             "the pending entries to be reclaimed", 1.0)  # fmt: skip
    assert second.metric("hazardwatch_service_reclaimed") == second.health()["service"]["reclaimed"]
    code, _took = second.terminate()
    assert code == 0
    tickets = settle_tickets(config, redis_server.url, second.data_dir)
    assert _pending(client) == 0
    check_ledger(client, second.data_dir, tickets, [first.log(), second.log()])


def _pending(client: redis.Redis) -> int:
    try:
        return int(client.xpending("hazardwatch:events", "tickets")["pending"])
    except redis.ResponseError:  # no group yet
        return 0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("command", ["run", "serve"])
def test_sigterm_stops_run_and_serve_with_exit_0(
    command: str,
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """``run`` (the pipelines alone) and ``serve`` (the ticket service and API alone) stop on
    SIGTERM with exit code 0 within the bound, ``run`` with an empty spool."""
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    redis_server = redis_server_factory()
    config = write_config(
        tmp_path / "faults.yaml", {"cam_a": facade.camera_config(rtsp.url("/cam_a"))}
    )
    service: Service = service_factory(config, redis_server.url, command=command).start()
    if command == "run":
        client = redis.Redis.from_url(redis_server.url)
        wait_for(lambda: client.xlen("hazardwatch:events") > 0, 40, "an event from run")
    code, took_s = service.terminate(timeout_s=SIGTERM_BOUND_S + 10)
    assert code == 0, f"{command} exited {code}:\n{service.log()[-2000:]}"
    assert took_s < SIGTERM_BOUND_S
    assert spool_rows(service.data_dir) == 0
    assert partial_files(service.data_dir) == []
