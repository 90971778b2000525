"""TicketService against a real redis-server: apply then ack, idempotency, kill -9 between the
commit and the XACK, Redis killed and restarted, dead letters, recheck and notifications."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from api.errors import ServiceError
from api.service import (
    DEAD_LETTER_STREAM,
    EVENTS_STREAM,
    NOTIFICATIONS_STREAM,
    ZONE_STATUS_STREAM,
    TicketService,
)
from api.store import TicketStore
from pipelines.evidence_layout import live_after_name
from tests.api.hazard_events import T0, event, zone_status
from tests.api.pg_server import PostgresServer, unavailable_reason
from tests.support.servers import RedisServerFactory, RedisServerProcess, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CRASH_SCRIPT = Path(__file__).resolve().with_name("crash_consumer.py")
GROUP = "tickets"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tickets.sqlite3'}"


@pytest.fixture
def store(db_url: str) -> Iterator[TicketStore]:
    store = TicketStore(db_url)
    yield store
    store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def services(data_dir: Path) -> Iterator[Callable[..., TicketService]]:
    made: list[TicketService] = []

    def make(url: str, store: TicketStore, **kwargs: Any) -> TicketService:
        kwargs.setdefault("block_ms", 50)
        kwargs.setdefault("data_dir", data_dir)
        service = TicketService(url, store, **kwargs)
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()


def write_evidence(data_dir: Path, data: dict[str, Any]) -> None:
    """Write the files an event of :mod:`tests.api.hazard_events` names: each holds its own
    path as text, which is what that module's sha256 is of."""
    evidence = data.get("evidence") or {}
    for name, stored in evidence.items():
        if name in ("sha256", "error"):
            continue
        path = data_dir / stored
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stored)


def xadd_event(client: redis.Redis, data: dict[str, Any]) -> str:
    entry_id = client.xadd(EVENTS_STREAM, {"event_id": data["event_id"], "event": json.dumps(data)})
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


Publish = Callable[[redis.Redis, dict[str, Any]], str]


@pytest.fixture
def publish(data_dir: Path) -> Publish:
    """XADD an event the way the pipeline does: its evidence files written first."""

    def publish_event(client: redis.Redis, data: dict[str, Any]) -> str:
        write_evidence(data_dir, data)
        return xadd_event(client, data)

    return publish_event


def fresh(phase: str = "start", **kwargs: Any) -> dict[str, Any]:
    """An event of a hazard that started just now (the service escalates by the real clock)."""
    kwargs.setdefault("started_at", datetime.now(UTC))
    return event(phase, **kwargs)


def pending(client: redis.Redis, stream: str = EVENTS_STREAM) -> int:
    return int(client.xpending(stream, GROUP)["pending"])


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Poll a condition on real processes (a server restarting, a thread catching up)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def entries(client: redis.Redis, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))


def notifications(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"notification"]) for _, f in entries(client, NOTIFICATIONS_STREAM)]


# --- the normal path ---------------------------------------------------------------------------


def kill_9_after_commit(redis_url: str, db_url: str, data_dir: Path, event_id: str) -> None:
    """A consumer (``crash_consumer.py``, another process) applies ``event_id`` and commits;
    it is SIGKILLed before it acknowledges or sends anything."""
    crashed = subprocess.Popen(
        [sys.executable, str(CRASH_SCRIPT), redis_url, db_url, "doomed", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert crashed.stdout is not None
        lines = [crashed.stdout.readline().decode().strip() for _ in range(2)]
        assert lines[0] == "READY", crashed.stderr.read().decode() if crashed.stderr else ""
        assert lines[1].startswith(f"APPLIED {event_id} "), lines
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(timeout=10)
    assert crashed.returncode == -signal.SIGKILL


def test_events_are_applied_then_acked(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store)
    ev = fresh()
    publish(client, ev)
    assert service.run_once() == 1
    tickets, total = store.list_tickets()
    assert total == 1 and tickets[0].hazard_ids == [ev["hazard_id"]]
    assert tickets[0].status == "discovered"
    assert pending(client) == 0
    assert service.healthy
    counters = service.counters()
    assert counters["events_applied"] == 1 and counters["duplicates"] == 0
    assert counters["healthy"] is True
    assert service.run_once() == 0  # nothing new: blocks block_ms and returns


def test_the_same_event_xadded_twice_is_one_ticket(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store)
    ev = fresh()
    publish(client, ev)
    publish(client, ev)
    assert service.run_once() == 2
    assert store.list_tickets()[1] == 1
    assert service.counters()["duplicates"] == 1
    assert pending(client) == 0


def test_groups_are_created_once_and_read_from_the_start(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    publish(client, fresh())  # published before any consumer group exists
    first = services(redis_server.url, store, consumer="a")
    second = services(redis_server.url, store, consumer="b")
    assert first.run_once() + second.run_once() == 1  # BUSYGROUP ignored by the second
    groups = client.xinfo_groups(EVENTS_STREAM)
    assert [g["name"] for g in groups] == [GROUP.encode()]
    assert store.list_tickets()[1] == 1


# --- crashes -----------------------------------------------------------------------------------


def test_kill_9_between_commit_and_ack_leaves_one_ticket(
    redis_server: RedisServerProcess,
    db_url: str,
    data_dir: Path,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    ev = fresh()
    publish(client, ev)
    kill_9_after_commit(redis_server.url, db_url, data_dir, ev["event_id"])
    assert store.list_tickets()[1] == 1  # committed by the dead process
    assert pending(client) == 1  # ... and never acknowledged

    survivor = services(redis_server.url, store, consumer="survivor", claim_idle_ms=0)
    assert survivor.run_once() == 1
    tickets, total = store.list_tickets()
    assert total == 1 and tickets[0].hazard_ids == [ev["hazard_id"]]
    assert [h["action"] for h in tickets[0].history] == ["created"]
    counters = survivor.counters()
    assert counters["reclaimed"] == 1 and counters["duplicates"] == 1
    assert pending(client) == 0


def test_a_notification_of_a_service_killed_before_sending_it_is_sent_by_another(
    redis_server: RedisServerProcess,
    db_url: str,
    data_dir: Path,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    """kill -9 after the commit of an urgent ticket and before its notification was sent: the
    service that takes the entry over finds it applied (a duplicate), and the notification,
    written with the ticket, is sent by it. Before, it waited in the killed process's memory
    and was lost."""
    client = redis_server.client()
    ev = fresh(kind="falling_object", camera_id="facade", zone="f")
    publish(client, ev)
    kill_9_after_commit(redis_server.url, db_url, data_dir, ev["event_id"])
    assert notifications(client) == []  # killed before it sent anything
    survivor = services(redis_server.url, store, consumer="survivor", claim_idle_ms=0)
    assert survivor.run_once() == 1
    assert survivor.counters()["duplicates"] == 1
    [note] = notifications(client)
    assert (note["type"], note["kind"], note["level"]) == ("urgent_ticket", "falling_object", "red")
    survivor.run_once()
    assert len(notifications(client)) == 1  # sent once
    assert survivor.counters()["notifications_pending"] == 0


def test_an_entry_read_by_a_consumer_that_died_before_applying_is_applied(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    first = services(redis_server.url, store, consumer="first")
    first.run_once()  # creates the groups
    ev = fresh()
    publish(client, ev)
    # A consumer that reads and dies: the entry is delivered, never applied or acked.
    client.xreadgroup(GROUP, "dead", {EVENTS_STREAM: ">"}, count=10)
    assert pending(client) == 1 and store.list_tickets()[1] == 0
    patient = services(redis_server.url, store, consumer="patient", claim_idle_ms=60_000)
    assert patient.run_once() == 0  # not idle long enough to be taken over
    eager = services(redis_server.url, store, consumer="eager", claim_idle_ms=1)
    wait_for(lambda: eager.run_once() == 1, "the pending entry to be reclaimed")
    assert store.list_tickets()[1] == 1
    assert pending(client) == 0


def test_a_killed_consumers_entries_are_taken_over_within_claim_idle_ms_and_a_second(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    """What a killed replica held is taken over ``claim_idle_ms`` after it was delivered, plus
    at most the one-second look: before, the look ran only every ``claim_idle_ms``, so an entry
    delivered just after one waited almost twice that (here 6 s instead of about 3)."""
    client = redis_server.client()
    survivor = services(redis_server.url, store, consumer="survivor", claim_idle_ms=3000)
    survivor.run_once()  # the groups, and a first look for entries to take over
    publish(client, fresh())
    client.xreadgroup(GROUP, "killed", {EVENTS_STREAM: ">"}, count=1)  # then it is killed
    delivered = time.monotonic()
    while not store.list_tickets()[1]:
        assert time.monotonic() - delivered < 4.5, "not taken over within 3 s and a second"
        survivor.run_once()
    assert time.monotonic() - delivered >= 2.9  # and not before claim_idle_ms
    assert pending(client) == 0 and survivor.counters()["reclaimed"] == 1


def test_own_pending_entries_are_reread_after_a_restart(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    services(redis_server.url, store, consumer="edge-1").run_once()
    publish(client, fresh())
    client.xreadgroup(GROUP, "edge-1", {EVENTS_STREAM: ">"}, count=10)  # delivered, then crash
    restarted = services(redis_server.url, store, consumer="edge-1", claim_idle_ms=60_000)
    assert restarted.run_once() == 1  # its own pending entry, no need to wait for idleness
    assert store.list_tickets()[1] == 1 and pending(client) == 0


# --- Redis outages -----------------------------------------------------------------------------


def test_redis_killed_and_restarted_the_service_recovers(
    redis_server_factory: RedisServerFactory,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    server = redis_server_factory(appendonly=True)
    service = services(server.url, store)
    service.start()
    client = server.client()
    publish(client, fresh(zone="before"))
    wait_for(lambda: store.list_tickets()[1] == 1, "the first ticket")
    wait_for(lambda: service.healthy, "the service to be healthy")

    server.kill()
    wait_for(lambda: not service.healthy, "the service to notice Redis is gone")
    assert service.counters()["redis_errors"] >= 1
    assert "redis" in str(service.counters()["last_error"])

    server.start()
    client = server.client()
    publish(client, fresh(zone="after"))
    wait_for(lambda: store.list_tickets()[1] == 2, "the ticket published after the restart", 30)
    wait_for(lambda: service.healthy, "the service to be healthy again")
    assert pending(client) == 0
    assert {t.zone for t in store.list_tickets()[0]} == {"before", "after"}


def test_redis_that_lost_its_data_gets_the_groups_again(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    service = services(redis_server.url, store)
    service.run_once()
    redis_server.restart()  # no persistence: streams and groups are gone
    service.run_once()  # NOGROUP or a broken connection: counted, not raised
    assert not service.healthy
    client = redis_server.client()
    publish(client, fresh())
    wait_for(lambda: service.run_once() == 1, "the groups to be recreated and read")
    assert service.healthy and store.list_tickets()[1] == 1


def test_no_redis_at_all_is_unhealthy_not_a_crash(
    store: TicketStore, services: Callable[..., TicketService]
) -> None:
    service = services(f"redis://127.0.0.1:{free_port()}/0", store)
    assert service.run_once() == 0
    assert not service.healthy
    counters = service.counters()
    assert counters["redis_errors"] == 1
    assert "ConnectionError" in counters["last_error"]


def test_a_database_outage_leaves_entries_pending_until_it_returns(
    redis_server: RedisServerProcess, services: Callable[..., TicketService], publish: Publish
) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL not available: {reason}")
    database = PostgresServer().start()
    store = TicketStore(database.database())
    try:
        client = redis_server.client()
        service = services(redis_server.url, store)
        publish(client, fresh(zone="before"))
        assert service.run_once() == 1
        database.halt()
        publish(client, fresh(zone="during"))
        service.run_once()
        assert not service.healthy
        assert "database unavailable" in str(service.counters()["last_error"])
        assert pending(client) == 1  # not acknowledged, not dead-lettered
        assert client.exists(DEAD_LETTER_STREAM) == 0
        database.start()
        wait_for(lambda: service.run_once() >= 1, "the pending entry to be applied")
        assert {t.zone for t in store.list_tickets()[0]} == {"before", "during"}
        assert pending(client) == 0 and service.healthy
    finally:
        store.close()
        database.stop()


# --- malformed entries ---------------------------------------------------------------------------

BAD_ENTRIES = [
    pytest.param({"something": "else"}, "no 'event' field", id="no-event-field"),
    pytest.param({"event_id": "x", "event": "{not json"}, "not JSON", id="not-json"),
    pytest.param({"event": "[1, 2]"}, "must be a JSON object", id="json-list"),
    pytest.param({"event": json.dumps({**fresh(), "kind": "flood"})}, "flood", id="bad-kind"),
    pytest.param({"event_id": "other", "event": json.dumps(fresh())}, "differs", id="id-mismatch"),
    pytest.param({"event": b"\xff\xfe"}, "not JSON", id="binary"),
    pytest.param(
        {"event": json.dumps({**fresh(), "started_at": "9999-12-31T23:59:59-12:00"})},
        "started_at 9999-12-31T23:59:59-12:00 is out of range once converted to UTC",
        id="started-after-year-9999-in-utc",
    ),
    pytest.param(
        {"event": json.dumps({**fresh("end"), "ended_at": "9999-12-31T23:00:00-01:00"})},
        "ended_at 9999-12-31T23:00:00-01:00 is out of range once converted to UTC",
        id="ended-after-year-9999-in-utc",
    ),
]


@pytest.mark.parametrize(("fields", "error"), BAD_ENTRIES)
def test_malformed_entries_go_to_the_dead_letter_stream(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    fields: dict[str, Any],
    error: str,
    publish: Publish,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store)
    bad_id = cast(bytes, client.xadd(EVENTS_STREAM, cast(dict[Any, Any], fields))).decode()
    good = fresh()
    publish(client, good)
    assert service.run_once() == 2
    assert store.list_tickets()[0][0].hazard_ids == [good["hazard_id"]]
    [(_, dead)] = entries(client, DEAD_LETTER_STREAM)
    assert dead[b"stream"] == EVENTS_STREAM.encode()
    assert dead[b"id"] == bad_id.encode()
    assert error in dead[b"error"].decode()
    for key, value in fields.items():  # the original entry is kept with the error
        assert dead[key.encode()] == (value if isinstance(value, bytes) else value.encode())
    assert pending(client) == 0
    assert service.counters()["dead_letters"] == 1
    assert service.healthy


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"state": "wet"}, "state"),
        ({"at": "9999-12-31T23:59:59-12:00"}, "'at' 9999-12-31T23:59:59-12:00 is out of range"),
        ({"at": "0001-01-01T00:00:00+05:00"}, "'at' 0001-01-01T00:00:00+05:00 is out of range"),
    ],
    ids=["bad-state", "at-after-year-9999-in-utc", "at-before-year-1-in-utc"],
)
def test_a_malformed_zone_status_is_dead_lettered(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    change: dict[str, Any],
    error: str,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store)
    client.xadd(ZONE_STATUS_STREAM, {"status": json.dumps({**zone_status(), **change})})
    assert service.run_once() == 1  # at once: not retried as if it were the database's fault
    [(_, dead)] = entries(client, DEAD_LETTER_STREAM)
    assert dead[b"stream"] == ZONE_STATUS_STREAM.encode()
    assert error in dead[b"error"].decode()
    assert pending(client, ZONE_STATUS_STREAM) == 0
    assert service.healthy


# --- recheck, escalation, notifications ----------------------------------------------------------


def test_a_clear_zone_on_the_stream_rechecks_the_ticket(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    data_dir: Path,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store)
    view = store.apply_event(event(), received_at=T0)
    assert view is not None
    for status in ("reported", "verified", "rectifying"):
        store.transition(view.id, status, actor="office", now=T0)
    live = f"live/{live_after_name('lane', 'lane', 'fire_lane_blocked')}"
    (data_dir / live).parent.mkdir(parents=True)
    (data_dir / live).write_bytes(b"\xff\xd8\xff\xe0 the zone, clear")  # the pipeline's picture
    for clear_for_s in (60, 600):
        status = {**zone_status(clear_for_s=clear_for_s), "snapshot": live}
        client.xadd(ZONE_STATUS_STREAM, {"status": json.dumps(status)})
    assert service.run_once() == 2
    after = store.get_ticket(view.id)
    assert after is not None and after.status == "rechecked"
    # The ticket keeps its own copy of the picture, beside the hazard's evidence.
    kept = after.evidence["after_snapshot"]
    assert kept.startswith(f"evidence/lane/{T0:%Y-%m-%d}/{view.hazard_ids[0]}/after-"), kept
    assert (data_dir / kept).read_bytes() == (data_dir / live).read_bytes()
    counters = service.counters()
    assert counters["zone_status_applied"] == 2 and counters["rechecks"] == 1
    [note] = [n for n in notifications(client) if n["type"] == "rechecked"]
    assert note["ticket_id"] == view.id


def test_escalation_runs_and_notifies(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
) -> None:
    client = redis_server.client()
    start = event(kind="ebike_entry", camera_id="lobby", zone="lift")
    store.apply_event(start, received_at=T0)  # long ago: its report step is overdue now
    end = event(
        "end", hazard_id=start["hazard_id"], kind="ebike_entry", camera_id="lobby", zone="lift"
    )
    store.apply_event(end, received_at=T0 + timedelta(minutes=5))
    service = services(redis_server.url, store, escalation_interval_s=3600)
    service.run_once()
    [ticket] = store.list_tickets()[0]
    assert (ticket.level, ticket.escalations) == ("red", 1)
    # (the urgent_ticket of the orange ticket, applied directly above, comes first)
    [note] = [n for n in notifications(client) if n["type"] == "escalated"]
    assert note["code"] == ticket.code and note["level"] == "red"
    service.run_once()  # the next round is an hour away
    assert store.list_tickets()[0][0].escalations == 1
    assert service.counters()["escalations"] == 1


def test_urgent_new_tickets_are_notified(
    redis_server: RedisServerProcess,
    store: TicketStore,
    services: Callable[..., TicketService],
    publish: Publish,
) -> None:
    client = redis_server.client()
    service = services(redis_server.url, store, escalation_interval_s=3600)
    publish(client, fresh(kind="falling_object", camera_id="facade", zone="f"))
    publish(client, fresh())  # yellow: not urgent
    service.run_once()
    kinds = [(n["type"], n["kind"], n["level"]) for n in notifications(client)]
    assert kinds == [("urgent_ticket", "falling_object", "red")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"block_ms": 0}, "block_ms"),
        ({"claim_idle_ms": -1}, "claim_idle_ms"),
        ({"escalation_interval_s": 0}, "escalation_interval_s"),
        ({"batch_size": 0}, "batch_size"),
        ({"group": ""}, "group"),
    ],
    ids=["block", "claim", "interval", "batch", "group"],
)
def test_bad_settings_are_refused(
    store: TicketStore, data_dir: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ServiceError, match=message):
        TicketService("redis://127.0.0.1:1/0", store, data_dir=data_dir, **kwargs)


def test_a_bad_redis_url_is_refused(store: TicketStore, data_dir: Path) -> None:
    with pytest.raises(ServiceError, match="Redis URL"):
        TicketService("http://example.com", store, data_dir=data_dir)
