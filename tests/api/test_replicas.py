"""Several ticket services in one consumer group over one PostgreSQL (scale-out, issue 10).

Each replica has its own store (its own connections), as separate ``serve`` processes would; the
entries of one hazard (start, update, end) are spread over the replicas by the consumer group and
may be applied in any order and at the same time. What must hold: every event applied once,
every hazard in exactly one ticket, one open ticket per camera/zone/kind, nothing dead-lettered,
and no change of one replica overwritten by another's.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SAWarning

from api.service import DEAD_LETTER_STREAM, EVENTS_STREAM, TicketService
from api.store import TicketStore
from tests.api.hazard_events import event
from tests.api.pg_server import PostgresServer
from tests.support.servers import RedisServerProcess

pytestmark = pytest.mark.integration

GROUP = "tickets"


def _write_evidence(data_dir: Path, data: dict[str, Any]) -> None:
    """The files an event of :mod:`tests.api.hazard_events` names (each holds its own path,
    which is what that module's digest is of)."""
    for name, stored in (data.get("evidence") or {}).items():
        if name not in ("sha256", "error"):
            path = data_dir / stored
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(stored)


def _hazard_events(cameras: int, hazards: int) -> list[dict[str, Any]]:
    """Per camera, ``hazards`` hazards one after the other, each a start, an update carrying a
    detail key of its own, and an end; cameras interleaved as on the real stream."""
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for n in range(hazards):
        for c in range(cameras):
            camera = f"cam{c}"
            started = now + timedelta(seconds=n)
            hazard = f"{camera}-h{n}"
            common: dict[str, Any] = {"hazard_id": hazard, "camera_id": camera, "zone": "z"}
            out.append(event("start", started_at=started, **common))
            out.append(event("update", started_at=started, details={f"u{n}": n}, **common))
            out.append(event("end", started_at=started, **common))
    return out


def _drain(replicas: list[TicketService], client: redis.Redis, total: int) -> None:
    """Run every replica in its own thread until the group has delivered and acknowledged
    every entry (or 60 s passed)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(service: TicketService) -> None:
        try:
            while not stop.is_set():
                service.run_once()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while datetime.now(UTC) < deadline:
            groups = client.xinfo_groups(EVENTS_STREAM)
            done = groups and groups[0]["pending"] == 0 and groups[0]["entries-read"] == total
            if done or errors:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors


def test_two_replicas_make_one_ticket_per_open_hazard_and_lose_nothing(
    postgres: PostgresServer,
    redis_server: RedisServerProcess,
    tmp_path: Path,
    recwarn: pytest.WarningsRecorder,
) -> None:
    """Three cameras, eight hazards each (start, update, end), two replicas in batches of two.

    Also: a replica that waited for an open ticket's lock while the other attached the same
    hazard (its start and end were applied at the same time) starts again as an event of a
    known hazard, instead of flushing a second row for it (SQLAlchemy warned of the conflicting
    identity and the write failed on the primary key before it was retried).
    """
    url = postgres.database()
    data_dir = tmp_path / "data"
    client = redis_server.client()
    events = _hazard_events(cameras=3, hazards=8)
    stores = [TicketStore(url) for _ in range(2)]
    # Small batches, so that the entries of one hazard go to both replicas.
    replicas = [
        TicketService(
            redis_server.url, store, data_dir=data_dir, consumer=f"r{i}", block_ms=20, batch_size=2
        )
        for i, store in enumerate(stores)
    ]
    try:
        replicas[0].run_once()  # the groups, before anything is published
        for data in events:
            _write_evidence(data_dir, data)
            client.xadd(EVENTS_STREAM, {"event_id": data["event_id"], "event": json.dumps(data)})
        _drain(replicas, client, len(events))

        counters = [r.counters() for r in replicas]
        assert all(c["events_applied"] > 0 for c in counters), counters  # both took part
        assert sum(c["events_applied"] for c in counters) == len(events), counters
        assert sum(c["dead_letters"] + c["store_errors"] for c in counters) == 0, counters
        conflicts = [str(w.message) for w in recwarn if issubclass(w.category, SAWarning)]
        assert not conflicts, conflicts[:3]
        assert client.exists(DEAD_LETTER_STREAM) == 0
        engine = create_engine(url)
        with engine.connect() as conn:
            applied = [row[0] for row in conn.execute(text("SELECT event_id FROM applied_events"))]
        engine.dispose()
        assert Counter(applied) == Counter(e["event_id"] for e in events)

        tickets, total = stores[0].list_tickets(limit=1000, category="hazard")
        assert total == 3  # one open ticket per camera: every later hazard is a repeat of it
        # 8 repeats at each camera's zone make one hotspot there, not one per replica
        hotspots, _ = stores[0].list_tickets(limit=1000, category="hotspot")
        by_camera = {t.camera_id: t.id for t in tickets}
        assert sorted(h.camera_id for h in hotspots) == sorted(by_camera), hotspots
        for spot in hotspots:
            assert [m["id"] for m in spot.members] == [by_camera[spot.camera_id]]
        for ticket in tickets:
            hazards = {e["hazard_id"] for e in events if e["camera_id"] == ticket.camera_id}
            assert sorted(ticket.hazard_ids) == sorted(hazards), ticket.hazard_ids
            # every replica's update is in the ticket: none was overwritten by another
            assert {f"u{n}" for n in range(8)} <= set(ticket.details), ticket.details
            seqs = [h["action"] for h in ticket.history]
            assert seqs.count("created") == 1 and seqs.count("hazard_ended") == 8, seqs
    finally:
        for replica in replicas:
            replica.stop()
        for store in stores:
            store.close()


def test_two_replicas_escalating_at_once_escalate_each_ticket_once(
    postgres: PostgresServer,
) -> None:
    """Both replicas run the periodic escalation; at the same moment they must not escalate a
    ticket twice (two levels in one round) or announce it twice."""
    url = postgres.database()
    stores = [TicketStore(url) for _ in range(2)]
    try:
        long_ago = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
        for n in range(6):  # yellow tickets, their report step overdue
            common: dict[str, Any] = {"hazard_id": f"h{n}", "zone": f"z{n}", "started_at": long_ago}
            stores[0].apply_event(event(**common), received_at=long_ago)
            stores[0].apply_event(event("end", **common), received_at=long_ago)
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def escalate(store: TicketStore) -> None:
            barrier.wait()
            try:
                results.append(store.escalate_overdue(long_ago + timedelta(hours=2)))
            except BaseException as exc:  # reported by the main thread
                results.append(exc)

        threads = [threading.Thread(target=escalate, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not [r for r in results if isinstance(r, BaseException)], results
        changed = [view.id for views in results for view in views]
        tickets, total = stores[0].list_tickets()
        assert total == 6 and sorted(changed) == sorted(t.id for t in tickets)
        assert [t.escalations for t in tickets] == [1] * 6  # one level up, not two
        sent: list[dict[str, Any]] = []
        stores[1].send_notifications(sent.append)
        assert Counter(n["ticket_id"] for n in sent if n["type"] == "escalated") == Counter(
            t.id for t in tickets
        )
    finally:
        for store in stores:
            store.close()


def test_replicas_starting_together_on_a_new_database_all_open_it(
    postgres: PostgresServer,
) -> None:
    """Replicas started at the same moment on an empty database each create the schema; the
    losers of that race must wait and use it, not stop with "cannot open the ticket database"
    (PostgreSQL refuses a second CREATE TABLE of the same name with a unique violation in its
    catalog)."""
    for _round in range(3):
        url = postgres.database()
        results = _open_together(url, 4)
        failures = [r for r in results if isinstance(r, BaseException)]
        for store in results:
            if isinstance(store, TicketStore):
                store.close()
        assert not failures, [f"{f!r} caused by {f.__cause__!r}" for f in failures]
        assert len(results) == 4


def _open_together(url: str, count: int) -> list[Any]:
    """``count`` stores opened on ``url`` at the same moment: each store or its exception."""
    barrier = threading.Barrier(count)
    results: list[Any] = []

    def open_store() -> None:
        barrier.wait()
        try:
            results.append(TicketStore(url))
        except BaseException as exc:  # reported by the caller
            results.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
