"""The event bus (Redis) and the ticket database failing while hazards keep happening.

ARCHITECTURE.md §9: evidence and events are written before they are acknowledged; Redis down means a
local spool, drained in order when it returns; nothing is lost, nothing is duplicated.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from api.service import STORE_STALL_S
from tests.faults.harness import (
    FALL_LOOP_S,
    FacadeMedia,
    Service,
    accepted_events,
    check_ledger,
    settle_tickets,
    spool_rows,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.servers import RedisServerFactory, RtspServerFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _spooled(service: Service) -> int:
    """Events waiting in the publisher's spool, as ``/health`` shows them."""
    return int(service.health()["service"]["publisher"]["spooled"])


@pytest.mark.timeout(150)
def test_redis_stopped_and_restarted_while_hazards_happen(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """Redis is killed while two cameras keep seeing falls, and restarted ~8 s later.

    (``tests/test_end_to_end.py`` checks that an outage's events become tickets once; this adds
    what the user sees meanwhile and the order of the drain.)

    The user sees, meanwhile: ``/health`` ``degraded`` with ``redis.state`` ``down``, the
    cameras ``stale`` (their status travels through Redis), and the events waiting in the spool
    (``service.publisher.spooled`` > 0, ``redis_up`` false; in ``/metrics``
    ``hazardwatch_redis_up 0`` and ``hazardwatch_service_publisher_spooled``). After the restart
    the spool drains (0), each camera's events reach the stream in the order they happened, and
    every hazard, those of the outage included, is in exactly one ticket, nothing duplicated.
    """
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}", "/cam_b": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    cameras = {cam: facade.camera_config(rtsp.url(f"/{cam}")) for cam in ("cam_a", "cam_b")}
    config = write_config(tmp_path / "faults.yaml", cameras)
    service: Service = service_factory(config, redis_server.url).start()
    wait_for(lambda: service.tickets(), 40, "a first ticket")
    assert service.health()["service"]["publisher"]["redis_up"] is True

    redis_server.kill()
    outage_start = len(accepted_events(service.log()))
    wait_for(lambda: _spooled(service) >= 4, 4 * FALL_LOOP_S, "events spooled (two hazards)")
    health = service.health()
    assert health["status"] == "degraded" and health["redis"]["state"] == "down", health
    assert {c["state"] for c in health["cameras"].values()} == {"stale"}, health["cameras"]
    assert health["service"]["publisher"]["redis_up"] is False
    wait_for(lambda: spool_rows(service.data_dir) == _spooled(service), 10,
             "the spool file on disk to hold what /health shows")  # fmt: skip
    assert service.metric("hazardwatch_redis_up") == 0
    spooled_metric = service.metric("hazardwatch_service_publisher_spooled")
    assert spooled_metric is not None and spooled_metric >= 4
    time.sleep(3)  # a longer outage: the publisher keeps retrying with backoff
    redis_server.restart()
    wait_for(lambda: _spooled(service) == 0, 30, "the spool to drain")
    outage_events = accepted_events(service.log())[outage_start:]
    wait_for(lambda: service.health()["status"] == "ok", 20, "health ok again")
    code, _took = service.terminate()
    assert code == 0

    client = redis.Redis.from_url(redis_server.url)
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    outage_hazards = {hazard_id for _e, _p, hazard_id, _c in outage_events}
    assert len(outage_hazards) >= 2 and outage_hazards <= set(ledger.ticket_of_hazard)
    stream_order = [e["event_id"] for e in stream_events(client)]
    for camera_id in cameras:  # one publishing thread per camera: its order is the true one
        accepted = [e for e, _p, _h, c in outage_events if c == camera_id]
        on_stream = [e for e in stream_order if e in set(accepted)]
        assert on_stream == accepted, f"{camera_id}: drained out of order"


DEAD_LETTERS = "hazardwatch:events:dead"


@pytest.mark.timeout(150)
def test_the_ticket_database_locked_while_events_arrive(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """Another connection holds an exclusive lock on ``tickets.sqlite3`` for ~9 s (a backup
    tool, a manual ``sqlite3`` session) while falls keep happening.

    The user sees, within a few seconds of the lock: ``/health`` ``degraded``, reason "ticket
    service is unhealthy", ``service.healthy`` false and (staff) a ``last_error`` naming the busy
    database; tickets can still be read. The entries wait in Redis, read but not acknowledged
    and not dead-lettered. Once the lock is gone the service is healthy again and the hazards of
    the locked time become tickets: each hazard in exactly one ticket, nothing lost.
    """
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    config = write_config(
        tmp_path / "faults.yaml", {"cam_a": facade.camera_config(rtsp.url("/cam_a"))}
    )
    service: Service = service_factory(config, redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    wait_for(lambda: service.tickets(), 40, "a first ticket")

    with sqlite3.connect(service.data_dir / "tickets.sqlite3", timeout=10) as lock:
        lock.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        # Counted once the lock is held (and a write that committed just before it has been
        # counted): read before the lock, an event applied between the read and the lock (the
        # first fall's end, on a loaded CI box) made the count look like a write under the lock.
        time.sleep(0.5)
        applied_before = service.health()["service"]["events_applied"]
        stream_before = client.xlen("hazardwatch:events")
        # The service notices a lock only when it has something to write: from the first event
        # that arrives while the database is locked, the write stalls and after STORE_STALL_S the
        # service says so. (Timing from the lock itself would add up to a whole fall loop.)
        wait_for(lambda: client.xlen("hazardwatch:events") > stream_before, 2 * FALL_LOOP_S,
                 "events arriving while the database is locked")  # fmt: skip
        arrived_at = time.monotonic()
        health = wait_for(lambda: (h := service.health())["status"] == "degraded" and h, 20,
                          "the locked database to show in /health")  # fmt: skip
        shown_s = time.monotonic() - arrived_at
        assert "ticket service is unhealthy" in health["reasons"], health
        assert health["service"]["healthy"] is False
        assert "database" in str(health["service"]["last_error"]), health["service"]
        assert service.metric("hazardwatch_service_healthy") == 0
        assert service.tickets()  # reading still works
        assert client.exists(DEAD_LETTERS) == 0
        assert service.health()["service"]["events_applied"] == applied_before
        time.sleep(max(0.0, 9.0 - (time.monotonic() - locked_at)))
        lock.rollback()
    assert shown_s < STORE_STALL_S + 3.0, (
        f"the lock showed in /health {shown_s:.1f} s after the first event waited on it "
        f"(the service reports a write stalled for {STORE_STALL_S} s)"
    )
    wait_for(lambda: service.health()["service"]["healthy"], 20, "the service healthy again")
    wait_for(lambda: service.health()["service"]["events_applied"] > applied_before, 20,
             "the waiting events applied")  # fmt: skip
    code, _took = service.terminate()
    assert code == 0
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    check_ledger(client, service.data_dir, tickets, [service.log()])
    assert client.exists(DEAD_LETTERS) == 0
