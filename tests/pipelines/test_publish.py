"""EventPublisher and its spool against a real redis-server (killed, restarted, starved)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from pipelines.publish import (
    CAMERA_STATUS_KEY,
    EVENTS_STREAM,
    ZONE_STATUS_STREAM,
    EventPublisher,
    EventSpool,
    SpoolError,
    event_payload,
)
from tests.support.servers import RedisServerFactory, RedisServerProcess, free_port
from vision.types import HazardEvent, HazardKind, HazardPhase

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
FAST: dict[str, Any] = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "socket_timeout_s": 1.0}

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from datetime import UTC, datetime
from pathlib import Path
from pipelines.publish import EventPublisher
from vision.types import HazardEvent
publisher = EventPublisher(sys.argv[2], Path(sys.argv[3]), backoff_max_s=0.2)
for i in range(int(sys.argv[4])):
    publisher.publish(HazardEvent(
        event_id=f"ev-{i:03d}", hazard_id=f"hz-{i:03d}", phase="start", kind="fire_lane_blocked",
        camera_id="cam", zone="lane", started_at=datetime(2026, 11, 24, 8, 0, tzinfo=UTC),
        start_pts_s=float(i)))
print("SPOOLED", publisher.stats().spooled, flush=True)
time.sleep(120)
"""


def make_event(i: int, pad_bytes: int = 0) -> HazardEvent:
    return HazardEvent(
        event_id=f"ev-{i:03d}",
        hazard_id=f"hz-{i:03d}",
        phase=HazardPhase.START,
        kind=HazardKind.FIRE_LANE_BLOCKED,
        camera_id="cam",
        zone="lane",
        started_at=T0,
        start_pts_s=float(i),
        labels=("car",),
        score=0.5,
        details={"n": i, "pad": "x" * pad_bytes},
        evidence={"snapshot": f"evidence/cam/2026-11-24/hz-{i:03d}/snapshot.jpg"},
    )


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def stream_entries(server: RedisServerProcess, stream: str = EVENTS_STREAM) -> Entries:
    client = server.client()
    try:
        return cast(Entries, client.xrange(stream))
    finally:
        client.close()


def stream_ids(server: RedisServerProcess, stream: str = EVENTS_STREAM) -> list[str]:
    return [fields[b"event_id"].decode() for _id, fields in stream_entries(server, stream)]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def publishers() -> Iterator[Callable[..., EventPublisher]]:
    """``make(redis_url, spool_path, **kwargs)``; every publisher made is closed at teardown."""
    made: list[EventPublisher] = []

    def make(url: str, spool: Path, **kwargs: Any) -> EventPublisher:
        publisher = EventPublisher(url, spool, **{**FAST, **kwargs})
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close(flush_timeout_s=0.0)


# ----- the normal path -----------------------------------------------------------------------


@pytest.mark.integration
def test_a_published_event_is_in_the_stream(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    publisher = publishers(redis_server.url, tmp_path / "spool.sqlite3")
    event = make_event(1)
    publisher.publish(event)
    assert publisher.flush(10.0)
    entries = stream_entries(redis_server)
    assert len(entries) == 1
    fields = entries[0][1]
    assert set(fields) == {b"event_id", b"event"}
    assert fields[b"event_id"] == b"ev-001"
    assert json.loads(fields[b"event"]) == event.to_dict()
    assert HazardEvent.from_dict(json.loads(fields[b"event"])) == event
    stats = publisher.stats()
    assert (stats.published, stats.spooled, stats.send_errors, stats.redis_up) == (1, 0, 0, True)


@pytest.mark.integration
def test_redis_down_spools_every_event_and_the_backlog_drains_in_order_exactly_once(
    redis_server_factory: RedisServerFactory,
    publishers: Callable[..., EventPublisher],
    tmp_path: Path,
) -> None:
    server = redis_server_factory(appendonly=True)
    publisher = publishers(server.url, tmp_path / "spool.sqlite3")
    for i in range(2):
        publisher.publish(make_event(i))
    assert publisher.flush(10.0)

    server.kill()
    took_ms: list[float] = []
    for i in range(2, 22):
        started = time.perf_counter()
        publisher.publish(make_event(i))  # must not raise, must not wait for Redis
        took_ms.append((time.perf_counter() - started) * 1000)
    assert publisher.stats().spooled == 20
    assert wait_until(lambda: publisher.stats().send_errors >= 1)
    assert not publisher.stats().redis_up
    assert not publisher.flush(0.2)
    assert publisher.stats().spooled == 20  # still all spooled: nothing lost while down

    server.restart()
    assert publisher.flush(15.0)
    assert stream_ids(server) == [f"ev-{i:03d}" for i in range(22)]  # order kept, no duplicate
    stats = publisher.stats()
    assert stats.published == 22 and stats.spooled == 0 and stats.redis_up
    took_ms.sort()
    print(f"publish while Redis down: median {took_ms[10]:.2f} ms, max {took_ms[-1]:.2f} ms")
    assert took_ms[10] < 10.0 and took_ms[-1] < 200.0


@pytest.mark.integration
def test_a_publisher_killed_with_a_full_spool_is_drained_by_the_next_one(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    spool = tmp_path / "spool.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(ROOT), dead_url(), str(spool), "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "SPOOLED 10", (line, child.stderr.read() if child.stderr else "")
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no close, no flush
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    publisher = publishers(redis_server.url, spool)
    assert publisher.flush(10.0)
    assert stream_ids(redis_server) == [f"ev-{i:03d}" for i in range(10)]
    assert publisher.stats().published == 10


@pytest.mark.integration
def test_events_sent_just_before_a_crash_are_not_sent_twice(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    spool = tmp_path / "spool.sqlite3"
    first = publishers(dead_url(), spool)
    for i in range(3):
        first.publish(make_event(i))
    first.close(flush_timeout_s=0.0)
    # What a crash between XADD and the spool delete leaves: in the stream and in the spool.
    client = redis_server.client()
    for i in range(2):
        client.xadd(
            EVENTS_STREAM, {"event_id": f"ev-{i:03d}", "event": event_payload(make_event(i))}
        )
    client.close()

    second = publishers(redis_server.url, spool)
    assert second.flush(10.0)
    assert stream_ids(redis_server) == ["ev-000", "ev-001", "ev-002"]
    stats = second.stats()
    assert (stats.already_in_stream, stats.published) == (2, 1)


@pytest.mark.integration
def test_order_is_kept_across_a_partial_drain(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    publisher = publishers(redis_server.url, tmp_path / "spool.sqlite3")
    publisher.publish(make_event(0, pad_bytes=1500))  # connected, stream created
    assert publisher.flush(10.0)
    client = redis_server.client()
    client.config_set("maxmemory-policy", "noeviction")
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 40_000)  # room for about 20 of 100 more events
    for i in range(1, 101):
        publisher.publish(make_event(i, pad_bytes=1500))
    assert wait_until(lambda: publisher.stats().send_errors >= 1)
    stats = publisher.stats()
    assert "maxmemory" in (stats.last_error or "")
    assert 1 < stats.published < 101, stats
    assert stats.published + stats.spooled == 101
    # A few more may get in while the drain retries (Redis frees buffers): still a prefix.
    sent = stream_ids(redis_server)
    assert 1 < len(sent) < 101 and sent == [f"ev-{i:03d}" for i in range(len(sent))]

    client.config_set("maxmemory", 0)
    client.close()
    assert publisher.flush(15.0)
    assert stream_ids(redis_server) == [f"ev-{i:03d}" for i in range(101)]


# ----- a damaged or full spool ---------------------------------------------------------------


def raw_insert(spool: Path, event_id: Any, payload: Any) -> None:
    db = sqlite3.connect(spool)
    db.execute(
        "INSERT INTO events(event_id, payload, spooled_at) VALUES (?, ?, ?)",
        (event_id, payload, "2026-11-24T08:00:00Z"),
    )
    db.commit()
    db.close()


@pytest.mark.integration
def test_corrupt_spool_rows_are_moved_aside_and_the_rest_is_sent(
    redis_server: RedisServerProcess,
    publishers: Callable[..., EventPublisher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spool = tmp_path / "spool.sqlite3"
    EventSpool(spool).close()  # create the tables
    mismatch = event_payload(make_event(2))
    rows: list[tuple[Any, Any]] = [
        ("ev-000", event_payload(make_event(0))),
        ("bad-json", "{not json"),
        ("ev-001", event_payload(make_event(1))),
        ("not-event", json.dumps({"event_id": "not-event", "phase": "start"})),
        ("bad-utf8", b"\xff\xfe\x00garbage"),
        ("ev-009", mismatch),
        ("a-list", "[1, 2]"),
        ("ev-003", event_payload(make_event(3))),
    ]
    for event_id, payload in rows:
        raw_insert(spool, event_id, payload)

    with caplog.at_level(logging.ERROR, logger="pipelines.publish"):
        publisher = publishers(redis_server.url, spool)
        assert publisher.flush(10.0)
    assert stream_ids(redis_server) == ["ev-000", "ev-001", "ev-003"]
    assert publisher.stats().rejected == 5
    db = sqlite3.connect(spool)
    rejected = dict(db.execute("SELECT event_id, reason FROM rejected").fetchall())
    db.close()
    assert set(rejected) == {"bad-json", "not-event", "bad-utf8", "ev-009", "a-list"}
    assert rejected["bad-json"].startswith("payload is not UTF-8 JSON")
    assert rejected["not-event"].startswith("payload is not a hazard event: HazardEvent: missing")
    assert rejected["bad-utf8"].startswith("payload is not UTF-8 JSON")
    assert rejected["ev-009"] == "payload event_id 'ev-002' differs from the row's 'ev-009'"
    assert rejected["a-list"] == "payload is a JSON list, not an event object"
    assert "cannot be sent and is moved aside" in caplog.text


@pytest.mark.integration
def test_a_spool_file_that_is_not_a_database_is_moved_aside(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    spool = tmp_path / "spool.sqlite3"
    spool.write_bytes(np.random.default_rng(0).bytes(8192))
    publisher = publishers(redis_server.url, spool)
    publisher.publish(make_event(0))
    assert publisher.flush(10.0)
    assert stream_ids(redis_server) == ["ev-000"]
    aside = list(tmp_path.glob("spool.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].stat().st_size == 8192


@pytest.mark.integration
def test_a_full_spool_keeps_events_in_memory_behind_the_spooled_ones(
    redis_server_factory: RedisServerFactory,
    publishers: Callable[..., EventPublisher],
    tmp_path: Path,
) -> None:
    server = redis_server_factory()
    server.kill()
    publisher = publishers(server.url, tmp_path / "spool.sqlite3", spool_max_bytes=65536)
    for i in range(60):
        publisher.publish(make_event(i, pad_bytes=2000))  # the spool holds about 25 of these
    stats = publisher.stats()
    assert stats.spool_errors >= 1 and 0 < stats.memory_backlog < 60 and stats.spooled == 60
    assert "full" in (stats.last_error or "")
    server.restart()
    assert publisher.flush(15.0)
    assert stream_ids(server) == [f"ev-{i:03d}" for i in range(60)]


def test_the_same_event_published_twice_is_spooled_once(tmp_path: Path) -> None:
    publisher = EventPublisher(dead_url(), tmp_path / "spool.sqlite3", **FAST)
    try:
        for _ in range(3):
            publisher.publish(make_event(7))
        publisher.publish(make_event(8))
        assert publisher.stats().spooled == 2
    finally:
        publisher.close(flush_timeout_s=0.0)
    db = sqlite3.connect(tmp_path / "spool.sqlite3")
    rows = db.execute("SELECT event_id FROM events ORDER BY seq").fetchall()
    db.close()
    assert rows == [("ev-007",), ("ev-008",)]  # still there after close: sent at next start


def test_a_second_publisher_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    spool = tmp_path / "spool.sqlite3"
    first = EventPublisher(dead_url(), spool, **FAST)
    try:
        with pytest.raises(SpoolError, match=rf"in use by another publisher \(pid {os.getpid()}\)"):
            EventPublisher(dead_url(), spool, **FAST)
    finally:
        first.close(flush_timeout_s=0.0)
    EventPublisher(dead_url(), spool, **FAST).close(flush_timeout_s=0.0)  # free again


def test_a_spool_in_an_impossible_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpoolError, match=f"spool {blocker}/spool.sqlite3: cannot create"):
        EventPublisher(dead_url(), blocker / "spool.sqlite3")


# ----- best-effort status --------------------------------------------------------------------


@pytest.mark.integration
def test_status_writes_reach_redis_and_are_dropped_while_it_is_down(
    redis_server: RedisServerProcess, publishers: Callable[..., EventPublisher], tmp_path: Path
) -> None:
    publisher = publishers(redis_server.url, tmp_path / "spool.sqlite3")
    zone = {"camera_id": "cam", "zone": "lane", "kind": "fire_lane_blocked", "state": "clear"}
    publisher.publish_status(ZONE_STATUS_STREAM, {"status": zone})
    publisher.set_camera_status("cam", {"state": "streaming", "fps_in": np.float32(25.0)})
    client = redis_server.client()
    assert wait_until(
        lambda: client.xlen(ZONE_STATUS_STREAM) == 1 and client.hexists(CAMERA_STATUS_KEY, "cam")
    )
    ((_id, fields),) = stream_entries(redis_server, ZONE_STATUS_STREAM)
    assert json.loads(fields[b"status"]) == zone
    assert json.loads(client.hget(CAMERA_STATUS_KEY, "cam") or b"") == {
        "state": "streaming",
        "fps_in": 25.0,
    }
    client.close()
    assert publisher.stats().status_sent == 2

    redis_server.kill()
    started = time.perf_counter()
    for _ in range(5):
        publisher.publish_status(ZONE_STATUS_STREAM, {"status": zone})
    assert time.perf_counter() - started < 0.05  # never waits for Redis
    assert wait_until(lambda: publisher.stats().status_dropped >= 1)


# ----- bad input -----------------------------------------------------------------------------


def test_publish_rejects_what_is_not_a_json_event(tmp_path: Path) -> None:
    publisher = EventPublisher(dead_url(), tmp_path / "spool.sqlite3", **FAST)
    try:
        with pytest.raises(TypeError, match="publish takes a HazardEvent, got dict"):
            publisher.publish(make_event(0).to_dict())  # type: ignore[arg-type]
        bad = HazardEvent(**{**_fields(make_event(1)), "details": {"what": object()}})
        with pytest.raises(ValueError, match="event ev-001: cannot be written as JSON"):
            publisher.publish(bad)
        assert publisher.stats().spooled == 0
    finally:
        publisher.close(flush_timeout_s=0.0)
    with pytest.raises(RuntimeError, match="publisher is closed"):
        publisher.publish(make_event(2))


def _fields(event: HazardEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__slots__}


def test_numpy_values_in_details_become_plain_json() -> None:
    event = HazardEvent(
        **{
            **_fields(make_event(0)),
            "details": {"occupancy": np.float32(0.5), "trajectory_norm": np.zeros((2, 3))},
        }
    )
    data = json.loads(event_payload(event))
    assert data["details"] == {"occupancy": 0.5, "trajectory_norm": [[0.0] * 3, [0.0] * 3]}


@pytest.mark.parametrize(
    ("url", "kwargs", "error"),
    [
        ("http://:secret@x:1/", {}, "must start with redis://"),
        ("redis://127.0.0.1:1/0", {"maxlen": 0}, "maxlen must be >= 1 or None, got 0"),
        ("redis://127.0.0.1:1/0", {"backoff_max_s": -1.0}, "backoff_max_s must be > 0"),
        ("redis://127.0.0.1:1/0", {"backoff_jitter": 1.0}, r"backoff_jitter must be in \[0, 1\)"),
        ("redis://127.0.0.1:1/0", {"stream": ""}, "stream must not be empty"),
        ("redis://127.0.0.1:1/0", {"dedupe_window": 0}, "dedupe_window must be >= 1, got 0"),
    ],
    ids=["scheme", "maxlen", "backoff", "jitter", "stream", "dedupe"],
)
def test_publisher_rejects_bad_settings(
    tmp_path: Path, url: str, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error) as info:
        EventPublisher(url, tmp_path / "spool.sqlite3", **kwargs)
    assert "secret" not in str(info.value)
    assert not (tmp_path / "spool.sqlite3").exists()


def test_the_redis_password_never_shows_in_errors_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.DEBUG, logger="pipelines.publish"):
        publisher = EventPublisher(url, tmp_path / "spool.sqlite3", **FAST)
        publisher.publish(make_event(0))
        assert wait_until(lambda: publisher.stats().send_errors >= 2)
        publisher.close(flush_timeout_s=0.0)
    assert "s3cret-pw" not in (publisher.stats().last_error or "")
    assert "Connection refused" in (publisher.stats().last_error or "")
    assert "s3cret-pw" not in caplog.text and "cannot send to" in caplog.text
