"""Evidence is used only from its camera's evidence folder, and only with its recorded SHA-256.

Issue 8 §2.1: an event naming ``tickets.sqlite3`` as its clip made the clip route serve the
ticket database; opening and closing it dropped the store's SQLite locks, a later connection of
another process deleted the live write-ahead log, and accepted transitions were lost. Here:
the media routes refuse (404 and a warning) any evidence outside ``evidence/{camera}/``, not a
regular file, or whose SHA-256 is not the recorded one; the ticket service dead-letters such an
event before the store sees it (real redis-server); and the original harm, reproduced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.evidence_files import (
    DigestCache,
    EvidenceRejected,
    camera_evidence_dir,
    check_evidence_file,
)
from api.service import DEAD_LETTER_STREAM, EVENTS_STREAM, TicketService
from api.store import TicketStore
from api.workflow import TicketPolicy
from tests.api.app_harness import ApiHarness, bearer, make_config
from tests.api.closed_ticket import ClosedTicket, close_with_after_picture
from tests.api.hazard_events import event
from tests.support.servers import RedisServerProcess
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_sqlite_file(path: Path) -> None:
    """A real SQLite database standing in for the ticket store's file."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE secrets (v TEXT)")
        db.execute("INSERT INTO secrets VALUES ('the whole ticket database')")
    assert path.read_bytes().startswith(b"SQLite format 3")


# --- what a stored path may name -----------------------------------------------------------------

# Each case: how to make the path an event or ticket stores for a lane_a clip -> (path, sha256),
# and the reason it is refused (None: accepted).
PathMaker = Callable[[Path], tuple[str, str | None]]


def _good(data: Path) -> tuple[str, str | None]:
    clip = data / "evidence/lane_a/2026-11-20/h1/clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"a real clip")
    return "evidence/lane_a/2026-11-20/h1/clip.mp4", sha256_of(clip)


def _absolute_inside(data: Path) -> tuple[str, str | None]:
    stored, digest = _good(data)
    return str(data / stored), digest


def _database(data: Path) -> tuple[str, str | None]:
    make_sqlite_file(data / "tickets.sqlite3")
    return "tickets.sqlite3", sha256_of(data / "tickets.sqlite3")


def _database_absolute(data: Path) -> tuple[str, str | None]:
    stored, digest = _database(data)
    return str(data / stored), digest


def _other_camera(data: Path) -> tuple[str, str | None]:
    clip = data / "evidence/lane_b/2026-11-20/h2/clip.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"lane_b's clip")
    return "evidence/lane_b/2026-11-20/h2/clip.mp4", sha256_of(clip)


def _dotdot_to_other_camera(data: Path) -> tuple[str, str | None]:
    _, digest = _other_camera(data)
    (data / "evidence/lane_a").mkdir(parents=True)
    return "evidence/lane_a/../lane_b/2026-11-20/h2/clip.mp4", digest


def _camera_prefix_sibling(data: Path) -> tuple[str, str | None]:
    """``evidence/lane_a_x`` starts with ``evidence/lane_a`` as text: it is still elsewhere."""
    clip = data / "evidence/lane_a_x/clip.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"x")
    return "evidence/lane_a_x/clip.mp4", sha256_of(clip)


def _symlink_to_database(data: Path) -> tuple[str, str | None]:
    _, digest = _database(data)
    link = data / "evidence/lane_a/2026-11-20/h1/clip.mp4"
    link.parent.mkdir(parents=True)
    link.symlink_to(data / "tickets.sqlite3")
    return "evidence/lane_a/2026-11-20/h1/clip.mp4", digest


def _fifo(data: Path) -> tuple[str, str | None]:
    fifo = data / "evidence/lane_a/2026-11-20/h1/clip.mp4"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)  # opening it would block: it must be refused before any open
    return "evidence/lane_a/2026-11-20/h1/clip.mp4", "0" * 64


def _directory(data: Path) -> tuple[str, str | None]:
    (data / "evidence/lane_a/2026-11-20").mkdir(parents=True)
    return "evidence/lane_a/2026-11-20", "0" * 64


def _missing(data: Path) -> tuple[str, str | None]:
    (data / "evidence/lane_a").mkdir(parents=True)
    return "evidence/lane_a/2026-11-20/h1/clip.mp4", "0" * 64


def _missing_elsewhere(data: Path) -> tuple[str, str | None]:
    """Nothing there either, but the path points outside the camera's folder: still refused."""
    (data / "evidence/lane_a").mkdir(parents=True)
    return "evidence/lane_a/../lane_b/2026-11-20/h1/clip.mp4", "0" * 64


def _digest_differs(data: Path) -> tuple[str, str | None]:
    stored, _ = _good(data)
    return stored, hashlib.sha256(b"what the writer hashed").hexdigest()


def _no_digest(data: Path) -> tuple[str, str | None]:
    stored, _ = _good(data)
    return stored, None


PATH_CASES: list[tuple[str, PathMaker, str | None]] = [
    ("relative", _good, None),
    ("absolute-inside", _absolute_inside, None),
    ("ticket-database", _database, "outside the evidence folder of camera 'lane_a'"),
    ("ticket-database-absolute", _database_absolute, "outside the evidence folder"),
    ("other-camera", _other_camera, "outside the evidence folder of camera 'lane_a'"),
    ("dotdot-to-other-camera", _dotdot_to_other_camera, "outside the evidence folder"),
    ("camera-prefix-sibling", _camera_prefix_sibling, "outside the evidence folder"),
    ("symlink-to-database", _symlink_to_database, "outside the evidence folder"),
    ("fifo", _fifo, "not a regular file"),
    ("directory", _directory, "not a regular file"),
    ("missing", _missing, "does not exist"),
    ("missing-elsewhere", _missing_elsewhere, "does not exist"),
    ("digest-differs", _digest_differs, "differs from the recorded"),
    ("no-digest", _no_digest, "no valid sha256 is recorded"),
]
PATH_IDS = [case[0] for case in PATH_CASES]


@pytest.mark.parametrize(("name", "make", "reason"), PATH_CASES, ids=PATH_IDS)
def test_check_evidence_file(
    tmp_path: Path, name: str, make: PathMaker, reason: str | None
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stored, digest = make(data)
    if reason is None:
        path = check_evidence_file(data, "lane_a", stored, digest, DigestCache())
        assert path.is_relative_to(camera_evidence_dir(data, "lane_a").resolve())
    else:
        with pytest.raises(EvidenceRejected, match=reason):
            check_evidence_file(data, "lane_a", stored, digest, DigestCache())


def test_the_camera_folder_is_where_the_evidence_writer_puts_files(tmp_path: Path) -> None:
    from pipelines.evidence_layout import evidence_dir  # the writer's layout, not a copy

    folder = evidence_dir(tmp_path, "lane_a", datetime(2026, 11, 20, 23, 59, tzinfo=UTC), "h1")
    assert folder.parent.parent == camera_evidence_dir(tmp_path, "lane_a")


def test_digest_cache_never_reuses_a_digest_for_changed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"first version")
    cache = DigestCache(settle_s=0.0)  # remember at once (the default waits for files to settle)
    with path.open("rb") as fh:
        assert cache.sha256(fh) == hashlib.sha256(b"first version").hexdigest()
        assert fh.tell() == 0
    assert len(cache) == 1
    stat = path.stat()
    replacement = tmp_path / "other"
    replacement.write_bytes(b"other version")  # same size
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    os.replace(replacement, path)
    with path.open("rb") as fh:
        assert cache.sha256(fh) == hashlib.sha256(b"other version").hexdigest()


def test_a_file_changed_just_now_is_hashed_every_time(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"aaaa")
    cache = DigestCache()  # settles after 2 s: this file changed just now
    with path.open("rb") as fh:
        assert cache.sha256(fh) == hashlib.sha256(b"aaaa").hexdigest()
    with path.open("r+b") as fh:  # same size, in place, within the same clock tick maybe
        fh.write(b"bbbb")
    with path.open("rb") as fh:
        assert cache.sha256(fh) == hashlib.sha256(b"bbbb").hexdigest()
    assert len(cache) == 0


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


@pytest.mark.parametrize("role", ["admin", "grid_lane"], ids=["admin", "grid-own-camera"])
@pytest.mark.parametrize(("name", "make", "reason"), PATH_CASES, ids=PATH_IDS)
def test_clip_route_serves_only_confined_and_verified_evidence(
    harness: ApiHarness,
    caplog: pytest.LogCaptureFixture,
    role: str,
    name: str,
    make: PathMaker,
    reason: str | None,
) -> None:
    stored, digest = make(harness.data_dir)
    sha = {"clip": digest} if digest is not None else {}
    made = harness.add_ticket(
        "lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, evidence={"clip": stored, "sha256": sha}
    )
    caplog.set_level(logging.WARNING, logger="api.routes.tickets")
    response = harness.client.get(f"/tickets/{made.id}/clip.mp4", headers=bearer(role))
    if reason is None:
        assert response.status_code == 200, response.text
        assert response.content == b"a real clip"
        assert response.headers["etag"] == f'"{digest}"'
        return
    assert response.status_code == 404, response.text
    assert b"SQLite format 3" not in response.content
    detail = response.json()["detail"]
    assert detail.startswith(f"the clip of ticket '{made.id}' is not available: ")
    assert reason in detail
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert made.id in message and "clip" in message and reason in message


@pytest.fixture
def closed(harness: ApiHarness) -> ClosedTicket:
    return close_with_after_picture(harness)


MEDIA_KEYS = [
    ("clip", "/clip.mp4", "reviewer"),
    ("snapshot", "/snapshot.jpg", "grid_lane"),
    ("clip_public", "/clip.mp4", "public"),
    ("snapshot_public", "/snapshot.jpg", "public"),
    ("after_snapshot", "/snapshot.jpg?after=1", "admin"),
]


@pytest.mark.parametrize(
    ("key", "route", "role"), MEDIA_KEYS, ids=[key for key, _, _ in MEDIA_KEYS]
)
def test_every_evidence_file_changed_after_recording_is_not_served(
    harness: ApiHarness, closed: ClosedTicket, key: str, route: str, role: str
) -> None:
    paths = closed.files
    url = f"/tickets/{closed.id}{route}"
    before = harness.client.get(url, headers=bearer(role))
    assert before.status_code == 200, before.text
    assert before.content == paths[key].read_bytes()
    swapped = paths[key].with_name("swap.tmp")
    swapped.write_bytes(b"\xff\xd8 not what was recorded")
    os.replace(swapped, paths[key])
    after = harness.client.get(url, headers=bearer(role))
    assert after.status_code == 404, after.text
    assert "differs from the recorded" in after.json()["detail"]
    assert b"not what was recorded" not in after.content


def test_live_snapshot_is_held_to_the_live_folder(harness: ApiHarness) -> None:
    make_sqlite_file(harness.data_dir / "tickets.sqlite3")
    (harness.data_dir / "live").mkdir()
    (harness.data_dir / "live" / "lane_a.jpg").symlink_to(harness.data_dir / "tickets.sqlite3")
    response = harness.client.get("/cameras/lane_a/snapshot.jpg", headers=bearer("admin"))
    assert response.status_code == 404
    assert b"SQLite format 3" not in response.content


# --- the original harm ---------------------------------------------------------------------------


def _other_process(db: Path, sql: str) -> str:
    """Run ``sql`` on the database from another process (as a second service or a report
    would), which opens and closes its own connection."""
    code = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "print(db.execute(sys.argv[2]).fetchall())\n"
        "db.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_a_clip_naming_the_ticket_database_neither_serves_it_nor_disturbs_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "tickets.sqlite3"  # where `serve` keeps it
    config = make_config()
    store = TicketStore(f"sqlite:///{db}", policy=TicketPolicy.from_config(config))
    app = create_app(config, store, data_dir=data, redis_url=None, environ={})
    try:
        with TestClient(app) as client:
            hostile = event(
                camera_id="lane_a",
                zone="lane",
                # Not even the test may open the file to hash it: that alone drops the locks.
                evidence={"clip": "tickets.sqlite3", "sha256": {"clip": "0" * 64}},
            )
            view = store.apply_event(hostile)
            assert view is not None
            for role in ("admin", "grid_lane", "grid_facade"):
                got = client.get(f"/tickets/{view.id}/clip.mp4", headers=bearer(role))
                assert got.status_code == 404, (role, got.status_code)
                assert b"SQLite format 3" not in got.content
            # Another process uses the database and closes it. While this process holds its
            # locks, that close is not the last one and leaves the write-ahead log alone.
            _other_process(db, "SELECT count(*) FROM tickets")
            assert db.with_name("tickets.sqlite3-wal").exists()
            moved = client.post(
                f"/tickets/{view.id}/transition", json={"to": "reported"}, headers=bearer("admin")
            )
            assert moved.status_code == 200, moved.text
            # The accepted transition is in the database every process sees.
            seen = _other_process(db, f"SELECT status FROM tickets WHERE id = '{view.id}'")
            assert seen == "[('reported',)]"
    finally:
        store.close()


# --- the ticket service --------------------------------------------------------------------------


def _xadd(client: redis.Redis, data: dict[str, Any]) -> str:
    entry = client.xadd(EVENTS_STREAM, {"event_id": data["event_id"], "event": json.dumps(data)})
    return entry.decode() if isinstance(entry, bytes) else str(entry)


@pytest.fixture
def service_parts(
    tmp_path: Path, redis_server: RedisServerProcess
) -> Iterator[tuple[TicketService, TicketStore, Path, redis.Redis]]:
    data = tmp_path / "data"
    data.mkdir()
    store = TicketStore(f"sqlite:///{tmp_path / 'tickets.sqlite3'}")
    service = TicketService(redis_server.url, store, data_dir=data, block_ms=50)
    client = redis_server.client()
    try:
        yield service, store, data, client
    finally:
        service.stop()
        store.close()


# A missing file inside the camera's folder is not a reason to lose the hazard (see below).
SERVICE_CASES = [case for case in PATH_CASES if case[0] != "missing"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "make", "reason"), SERVICE_CASES, ids=[case[0] for case in SERVICE_CASES]
)
def test_service_dead_letters_events_with_evidence_it_cannot_trust(
    service_parts: tuple[TicketService, TicketStore, Path, redis.Redis],
    name: str,
    make: PathMaker,
    reason: str | None,
) -> None:
    service, store, data, client = service_parts
    stored, digest = make(data)
    sha = {"clip": digest} if digest is not None else {}
    ev = event(camera_id="lane_a", zone="lane", evidence={"clip": stored, "sha256": sha})
    entry_id = _xadd(client, ev)
    database_before = (
        (data / "tickets.sqlite3").read_bytes() if (data / "tickets.sqlite3").exists() else None
    )
    assert service.run_once() == 1
    tickets, total = store.list_tickets()
    if reason is None:
        assert total == 1 and tickets[0].evidence["clip"] == stored
        assert client.exists(DEAD_LETTER_STREAM) == 0
        return
    assert total == 0  # never reached the store
    [(_, dead)] = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(DEAD_LETTER_STREAM))
    assert dead[b"id"] == entry_id.encode()
    error = dead[b"error"].decode()
    assert f"event '{ev['event_id']}' of camera 'lane_a': evidence.clip" in error
    assert reason in error
    assert int(client.xpending(EVENTS_STREAM, "tickets")["pending"]) == 0
    if database_before is not None:
        assert (data / "tickets.sqlite3").read_bytes() == database_before


@pytest.mark.integration
@pytest.mark.parametrize(
    ("files", "error"),
    [
        ((), "disk full"),
        (("snapshot", "snapshot_public"), "clip skipped: disk full"),
        (("clip", "snapshot", "clip_public", "snapshot_public"), None),
    ],
    ids=["no-files-disk-full", "clip-skipped", "all-files"],
)
def test_service_accepts_events_whose_evidence_is_absent_or_sound(
    service_parts: tuple[TicketService, TicketStore, Path, redis.Redis],
    files: tuple[str, ...],
    error: str | None,
) -> None:
    service, store, data, client = service_parts
    folder = data / "evidence/lane_a/2026-11-20/h9"
    folder.mkdir(parents=True)
    evidence: dict[str, Any] = {"sha256": {}}
    for name in files:
        path = folder / f"{name}.bin"
        path.write_bytes(name.encode())
        evidence[name] = str(path.relative_to(data))
        evidence["sha256"][name] = sha256_of(path)
    if error is not None:
        evidence["error"] = error
    ev = event(camera_id="lane_a", zone="lane", evidence=evidence)
    _xadd(client, ev)
    assert service.run_once() == 1
    [ticket], total = store.list_tickets()
    assert total == 1
    for name in files:
        assert ticket.evidence[name] == evidence[name]
    assert client.exists(DEAD_LETTER_STREAM) == 0


@pytest.mark.integration
def test_service_applies_an_event_whose_evidence_file_is_gone_without_that_file(
    service_parts: tuple[TicketService, TicketStore, Path, redis.Redis],
) -> None:
    """A clip inside the camera's folder that is not on disk (never finished, or pruned while
    the event waited in a spool) loses no hazard: the ticket is made, the file is not attached,
    and the ticket's evidence error says which file was missing."""
    service, store, data, client = service_parts
    folder = data / "evidence/lane_a/2026-11-20/h7"
    folder.mkdir(parents=True)
    snapshot = folder / "snapshot.jpg"
    snapshot.write_bytes(b"jpeg bytes")
    evidence = {
        "clip": "evidence/lane_a/2026-11-20/h7/clip.mp4",
        "snapshot": "evidence/lane_a/2026-11-20/h7/snapshot.jpg",
        "sha256": {"clip": "0" * 64, "snapshot": sha256_of(snapshot)},
    }
    _xadd(client, event(camera_id="lane_a", zone="lane", evidence=evidence))
    assert service.run_once() == 1
    [ticket], total = store.list_tickets()
    assert total == 1
    assert ticket.evidence.get("clip") is None and ticket.evidence.get("clip_sha256") is None
    assert ticket.evidence["snapshot"] == evidence["snapshot"]
    assert "clip was not on disk" in ticket.evidence["error"]
    assert client.exists(DEAD_LETTER_STREAM) == 0


@pytest.mark.integration
def test_service_checks_the_evidence_of_later_events_of_a_hazard_too(
    service_parts: tuple[TicketService, TicketStore, Path, redis.Redis],
) -> None:
    """An ``end`` event may bring files the ``start`` lacked: they are held to the same rules."""
    service, store, data, client = service_parts
    start = event(camera_id="lane_a", zone="lane", evidence={"error": "clip pending"})
    _xadd(client, start)
    make_sqlite_file(data / "tickets.sqlite3")
    end = event(
        "end",
        hazard_id=start["hazard_id"],
        camera_id="lane_a",
        zone="lane",
        started_at=datetime.fromisoformat(start["started_at"]),
        ended_at=datetime.fromisoformat(start["started_at"]) + timedelta(minutes=2),
        evidence={
            "clip": "tickets.sqlite3",
            "sha256": {"clip": sha256_of(data / "tickets.sqlite3")},
        },
    )
    _xadd(client, end)
    assert service.run_once() == 2
    [ticket], _ = store.list_tickets()
    assert ticket.evidence.get("clip") is None
    [(_, dead)] = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(DEAD_LETTER_STREAM))
    assert "outside the evidence folder" in dead[b"error"].decode()
