"""Scale-out across boxes (issue 10): two ``hazardwatch run`` nodes and two ``serve`` replicas.

Real parts only: a PostgreSQL server, a redis-server, two ``run`` processes (``--node a`` and
``--node b``, two cameras each, disjoint) playing the generated facade clip of one falling object
in real time (one hazard per 5 s loop), both writing evidence into ONE data dir as boxes sharing
an NFS evidence volume would, and two ``serve`` replicas on the same PostgreSQL URL, in the same
consumer group, checking that evidence in that same data dir.

While events flow, the ticket table is locked from outside (a long transaction elsewhere), so
that both replicas stall with entries read and not acknowledged; replica 1 is then SIGKILLed
with entries in hand and the lock released. Replica 2 must take over what replica 1 held
(``claim_idle_ms``, 5 s by default) and, in the end:

- every event on the stream applied exactly once (the store's ``applied_events``), none
  dead-lettered, nothing pending in the group;
- every hazard in exactly one ticket, and one open ticket per camera/zone/kind although both
  replicas applied related events at the same time;
- a page session made by one replica valid in the other (``HAZARDWATCH_SESSION_SECRET``);
- each new ticket announced once on ``hazardwatch:notifications``;
- every ticket's clip in the shared data dir, under its camera's folder, and each node's spool
  in ``spool/{node}-w{k}.sqlite3``, empty.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from api.auth import SESSION_COOKIE
from tests.api.pg_server import PostgresServer
from tests.faults.harness import (
    ADMIN_TOKEN,
    FacadeMedia,
    Service,
    facade_media,
    spool_rows,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.servers import RedisServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

EVENTS_STREAM = "hazardwatch:events"
DEAD_LETTERS = "hazardwatch:events:dead"
GROUP = "tickets"
NODES = {"a": ("a1", "a2"), "b": ("b1", "b2")}
HAZARDS_BEFORE_KILL = 6  # hazard starts on the stream before the replicas are stalled
TAKEOVER_BOUND_S = 12.0  # claim_idle_ms (5 s) + the 1 s look + the stalled writes finishing


@pytest.fixture(scope="module")
def facade(media_cache: Path) -> FacadeMedia:
    return facade_media(media_cache)


@pytest.fixture
def processes() -> Iterator[list[Service]]:
    """Every ``run`` and ``serve`` started by the test, stopped (and their log tails printed)
    at teardown whatever happened."""
    started: list[Service] = []
    yield started
    for service in started:
        service.stop()
        print(f"--- {service.log_path} (tail)\n{service.log()[-3000:]}")


def _applied_event_ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [str(row[0]) for row in conn.execute("SELECT event_id FROM applied_events")]


def _held_by(client: redis.Redis, consumer: str) -> list[str]:
    """Ids of the entries ``consumer`` has read and not acknowledged."""
    held = client.xpending_range(EVENTS_STREAM, GROUP, "-", "+", 1000, consumername=consumer)
    return [p["message_id"].decode() for p in held]


def _page_session(replica: Service) -> str:
    """Log in on ``replica``'s page with the admin token; the session cookie."""
    response = httpx.post(
        replica.url("/ui/login"),
        data={"token": ADMIN_TOKEN, "next": "/ui/review"},
        headers={"Origin": replica.url("")},
        follow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text
    return response.cookies[SESSION_COOKIE]


def _get_with_cookie(replica: Service, cookie: str) -> int:
    response = httpx.get(
        replica.url("/tickets"), cookies={SESSION_COOKIE: cookie}, follow_redirects=False
    )
    return response.status_code


def _group_done(client: redis.Redis) -> bool:
    """Every entry on the events stream delivered to a consumer and acknowledged."""
    groups = client.xinfo_groups(EVENTS_STREAM)
    return bool(groups) and groups[0]["pending"] == 0 and groups[0]["lag"] == 0


def test_two_nodes_and_two_replicas_make_each_hazard_one_ticket_and_a_kill_loses_nothing(
    tmp_path: Path,
    postgres: PostgresServer,
    redis_server: RedisServerProcess,
    facade: FacadeMedia,
    processes: list[Service],
) -> None:
    database_url = postgres.database()
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    data_dir = tmp_path / "shared-data"  # the evidence volume both boxes mount
    client = redis_server.client()
    loop = {"HAZARDWATCH_LOOP_FILES": "1"}  # the clip played in real time, looped

    cameras = {
        node: {cid: facade.camera_config(str(facade.clip)) for cid in ids}
        for node, ids in NODES.items()
    }
    for node in NODES:
        config = write_config(tmp_path / f"node-{node}.yaml", cameras[node])
        run = Service(
            config,
            data_dir,
            redis_server.url,
            tmp_path,
            command="run",
            name=f"run-{node}",
            env=loop,
            extra_args=["--node", node, "--workers", "2"],
        )
        processes.append(run.start())
    # The ticket service knows every camera of the site (areas, tokens, /cameras).
    site = write_config(tmp_path / "site.yaml", {**cameras["a"], **cameras["b"]})
    replicas = [
        Service(
            site,
            data_dir,
            redis_server.url,
            tmp_path,
            command="serve",
            name=f"serve-{n}",
            env={"HAZARDWATCH_SESSION_SECRET": "scale-out-test-site-session-secret"},
            extra_args=["--database-url", database_url],
        )
        for n in (1, 2)
    ]
    # Started at the same moment, as a deployment starts them: on the new database.
    processes.extend(replicas)
    with ThreadPoolExecutor(len(replicas)) as pool:
        for started in [pool.submit(replica.start) for replica in replicas]:
            started.result()

    # Behind one address a browser reaches either replica: a page session made by one is
    # valid in the other (they share HAZARDWATCH_SESSION_SECRET and the revocations table).
    cookie = _page_session(replicas[0])
    assert _get_with_cookie(replicas[1], cookie) == 200

    def starts() -> int:
        return sum(1 for e in stream_events(client) if e["phase"] == "start")

    wait_for(lambda: starts() >= HAZARDS_BEFORE_KILL, 60, f"{HAZARDS_BEFORE_KILL} hazard starts")

    # A long transaction elsewhere holds the ticket table: both replicas stall mid-write with
    # entries read and not acknowledged. Replica 1 is killed with entries in hand.
    doomed = f"{socket.gethostname()}-{replicas[0].pid}"
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE tickets IN EXCLUSIVE MODE")
        wait_for(lambda: _held_by(client, doomed), 30, "replica 1 to hold entries", 0.05)
        replicas[0].kill()
        # What it held when it died (it reads no more): sampled before the kill, an entry it
        # read in between was missing from the set waited for below, and CI found it still
        # pending right after that set was applied.
        held = _held_by(client, doomed)
        blocker.commit()
    killed_at = time.monotonic()
    assert held, "replica 1 held nothing when it was killed"

    # Replica 2 takes over what replica 1 held within claim_idle_ms (5 s) and a second, not
    # after the 30 s to 60 s it took before.
    def event_ids(entry_ids: list[str]) -> set[str]:
        entries = [client.xrange(EVENTS_STREAM, i, i)[0] for i in entry_ids]
        return {json.loads(fields[b"event"])["event_id"] for _id, fields in entries}

    held_events = event_ids(held)
    wait_for(
        lambda: held_events <= set(_applied_event_ids(dsn)),
        TAKEOVER_BOUND_S,
        "replica 2 to apply the entries replica 1 held",
    )
    # applied, then acknowledged: the dead consumer's list empties a moment after
    wait_for(lambda: _held_by(client, doomed) == [], 2.0, "replica 1's entries acknowledged", 0.05)
    took_over_s = time.monotonic() - killed_at

    # Events keep flowing to replica 2 alone for a few more hazards, then the boxes stop
    # (SIGTERM: open hazards get their end, spools are flushed into Redis).
    target = starts() + 4
    wait_for(lambda: starts() >= target, 40, "more hazard starts after the kill")
    for run in processes[:2]:
        code, _took = run.terminate(timeout_s=60)
        assert code == 0, f"{run.name} exited {code}:\n{run.log()[-3000:]}"
    wait_for(lambda: _group_done(client), 30, "replica 2 to apply and acknowledge everything")

    # Every event on the stream applied exactly once; none dead-lettered.
    events = stream_events(client)
    stream_ids = [e["event_id"] for e in events]
    assert len(set(stream_ids)) == len(stream_ids), "an event is on the stream twice"
    applied = _applied_event_ids(dsn)
    assert Counter(applied) == Counter(stream_ids), (
        f"missing {set(stream_ids) - set(applied)}, extra {set(applied) - set(stream_ids)}"
    )
    assert client.exists(DEAD_LETTERS) == 0, client.xrange(DEAD_LETTERS)
    service = replicas[1].health()["service"]
    assert service["reclaimed"] >= len(held) and service["dead_letters"] == 0, service

    # Every hazard in exactly one ticket; one (open) ticket per camera/zone/kind; the repeated
    # falls of each camera raise one hotspot ticket there (api.hotspots), not one per replica.
    everything = replicas[1].tickets()
    tickets = [t for t in everything if t["category"] == "hazard"]
    spots = Counter((t["camera_id"], t["zone"], t["kind"]) for t in everything if t not in tickets)
    assert all(n == 1 for n in spots.values()), spots
    hazards = {e["hazard_id"]: e["camera_id"] for e in events}
    owners: dict[str, list[str]] = {}
    for ticket in tickets:
        assert len(ticket["hazard_ids"]) == len(set(ticket["hazard_ids"])), ticket
        for hazard_id in ticket["hazard_ids"]:
            owners.setdefault(hazard_id, []).append(ticket["id"])
    assert set(owners) == set(hazards)
    assert all(len(ids) == 1 for ids in owners.values()), owners
    per_key = Counter((t["camera_id"], t["zone"], t["kind"]) for t in tickets)
    assert all(n == 1 for n in per_key.values()), per_key
    assert {t["camera_id"] for t in tickets} == {cid for ids in NODES.values() for cid in ids}

    # Each new (red) ticket announced once, whichever replica made it.
    def urgent() -> Counter[str]:
        entries = client.xrange("hazardwatch:notifications")
        notes = [json.loads(fields[b"notification"]) for _id, fields in entries]
        return Counter(n["ticket_id"] for n in notes if n["type"] == "urgent_ticket")

    wait_for(lambda: len(urgent()) == len(tickets), 10, "every new ticket's notification")
    assert urgent() == Counter({t["id"]: 1 for t in tickets})

    # Both boxes' evidence is in the shared volume, under each camera's folder; each box
    # spooled into its own files, drained.
    for ticket in tickets:
        clip = ticket["evidence"]["clip"]
        assert clip and clip.startswith(f"evidence/{ticket['camera_id']}/"), ticket["evidence"]
        assert (data_dir / clip).is_file()
    spools = sorted(p.name for p in (data_dir / "spool").glob("*.sqlite3"))
    assert spools == ["a-w0.sqlite3", "a-w1.sqlite3", "b-w0.sqlite3", "b-w1.sqlite3"]
    assert spool_rows(data_dir) == 0
    assert replicas[1].terminate()[0] == 0
    print(
        f"scale-out: {len(hazards)} hazards, {len(events)} events, {len(tickets)} tickets; "
        f"replica 1 killed holding {len(held)} entries, taken over in {took_over_s:.1f} s"
    )
