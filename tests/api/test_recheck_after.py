"""The recheck's "after" picture is an immutable copy in the hazard's evidence folder.

The pipeline rewrites its live after picture every 10 s; a ticket that pointed at it served
other bytes than the SHA-256 (and ETag) it recorded (issue 8 §3). Real parts throughout: the
ticket store on SQLite, the app over HTTP, the live picture written by the runner's own writer,
and (end to end) redis-server with the ticket service.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.after_picture import AfterPictureKeeper
from api.service import ZONE_STATUS_STREAM, TicketService
from pipelines.evidence import write_zone_snapshot
from pipelines.evidence_layout import LIVE_DIRNAME, live_after_name
from tests.api.app_harness import ApiHarness, MadeTicket, bearer
from tests.support.servers import RedisServerProcess
from vision.types import Frame, HazardKind

pytestmark = pytest.mark.timeout(60)

CAMERA, ZONE, KIND = "lane_a", "lane", "fire_lane_blocked"
LIVE_NAME = live_after_name(CAMERA, ZONE, KIND)
AFTER_URL = "/tickets/{}/snapshot.jpg?after=1"


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def write_live_after(data_dir: Path, grey: int) -> str:
    """What the runner does while the zone is clear: returns the picture's SHA-256."""
    image = np.full((120, 160, 3), grey, dtype=np.uint8)
    frame = Frame(CAMERA, 1, 1.0, datetime.now(UTC), image)
    return write_zone_snapshot(frame, data_dir / LIVE_DIRNAME / LIVE_NAME)


def clear_status(snapshot: str | None, digest: str | None, **overrides: Any) -> dict[str, Any]:
    status = {
        "camera_id": CAMERA,
        "zone": ZONE,
        "kind": KIND,
        "state": "clear",
        "clear_for_s": 900.0,
        "at": "2026-11-21T08:00:00Z",  # clear since long after the hazard of the harness
        "snapshot": snapshot,
        "snapshot_sha256": digest,
    }
    status.update(overrides)
    return status


def rectifying_ticket(harness: ApiHarness) -> MadeTicket:
    made = harness.add_ticket(CAMERA, ZONE, HazardKind.FIRE_LANE_BLOCKED)
    harness.walk_to(made.id, ["reported", "verified", "rectifying"])
    return made


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_after_picture_is_a_copy_that_never_changes(harness: ApiHarness) -> None:
    made = rectifying_ticket(harness)
    live_sha = write_live_after(harness.data_dir, 60)
    keeper = AfterPictureKeeper(harness.data_dir)
    [view] = harness.store.apply_zone_status(
        clear_status(f"{LIVE_DIRNAME}/{LIVE_NAME}", live_sha), after_pictures=keeper
    )
    assert view.status == "rechecked"
    recorded, recorded_sha = view.evidence["after_snapshot"], view.evidence["after_snapshot_sha256"]
    hazard = made.view.hazard_ids[0]
    assert re.fullmatch(
        rf"evidence/{CAMERA}/\d{{4}}-\d{{2}}-\d{{2}}/{hazard}/after-\d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}\.jpg",
        recorded,
    ), recorded
    assert recorded_sha == live_sha == sha256((harness.data_dir / recorded).read_bytes())
    assert (
        Path(recorded).parent
        == Path(made.view.evidence["snapshot"]).relative_to(harness.data_dir).parent
    )  # beside the "before"
    # The pipeline goes on refreshing its live picture; the ticket's copy does not move.
    newer = write_live_after(harness.data_dir, 200)
    assert newer != live_sha
    got = harness.client.get(AFTER_URL.format(made.id), headers=bearer("reviewer"))
    assert got.status_code == 200, got.text
    assert sha256(got.content) == recorded_sha
    assert got.headers["etag"] == f'"{recorded_sha}"'
    again = harness.store.get_ticket(made.id)
    assert again is not None and again.evidence["after_snapshot_sha256"] == recorded_sha


def test_each_recheck_keeps_its_own_copy(harness: ApiHarness) -> None:
    made = rectifying_ticket(harness)
    keeper = AfterPictureKeeper(harness.data_dir)
    first_sha = write_live_after(harness.data_dir, 60)
    [first] = harness.store.apply_zone_status(
        clear_status(f"{LIVE_DIRNAME}/{LIVE_NAME}", first_sha), after_pictures=keeper
    )
    # Reopened by the office (the fix did not hold), rectified again, rechecked again.
    harness.walk_to(made.id, ["reopened", "verified", "rectifying"])
    second_sha = write_live_after(harness.data_dir, 120)
    [second] = harness.store.apply_zone_status(
        clear_status(f"{LIVE_DIRNAME}/{LIVE_NAME}", second_sha, at="2026-11-22T08:00:00Z"),
        after_pictures=keeper,
    )
    assert second.evidence["after_snapshot"] != first.evidence["after_snapshot"]
    assert second.evidence["after_snapshot_sha256"] == second_sha
    kept = harness.data_dir / first.evidence["after_snapshot"]
    assert sha256(kept.read_bytes()) == first_sha  # the first copy is history, untouched


def _link_to_database(data_dir: Path) -> str:
    link = data_dir / LIVE_DIRNAME / LIVE_NAME
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(data_dir.parent / "tickets.sqlite3")
    return f"{LIVE_DIRNAME}/{LIVE_NAME}"


def _not_a_jpeg(data_dir: Path) -> str:
    path = data_dir / LIVE_DIRNAME / LIVE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    return f"{LIVE_DIRNAME}/{LIVE_NAME}"


def _other_zone(data_dir: Path) -> str:
    write_live_after(data_dir, 60)
    other = data_dir / LIVE_DIRNAME / live_after_name(CAMERA, "other", KIND)
    other.write_bytes((data_dir / LIVE_DIRNAME / LIVE_NAME).read_bytes())
    return f"{LIVE_DIRNAME}/{other.name}"


@pytest.mark.parametrize(
    ("make_path", "reason"),
    [
        pytest.param(
            lambda d: "../tickets.sqlite3", "not this zone's live after picture", id="database"
        ),
        pytest.param(
            lambda d: str(d.parent / "tickets.sqlite3"),
            "not this zone's live after picture",
            id="database-absolute",
        ),
        pytest.param(_link_to_database, "not this zone's live after picture", id="symlink-out"),
        pytest.param(_other_zone, "not this zone's live after picture", id="another-zone"),
        pytest.param(
            lambda d: f"{LIVE_DIRNAME}/{LIVE_NAME}", "does not exist", id="missing-live-picture"
        ),
        pytest.param(_not_a_jpeg, "is not a JPEG", id="not-a-jpeg"),
    ],
)
def test_a_status_naming_another_file_gets_no_after_picture(
    harness: ApiHarness, make_path: Any, reason: str
) -> None:
    made = rectifying_ticket(harness)
    database = harness.data_dir.parent / "tickets.sqlite3"
    before = database.stat()
    stored = make_path(harness.data_dir)
    [view] = harness.store.apply_zone_status(
        clear_status(stored, "0" * 64), after_pictures=AfterPictureKeeper(harness.data_dir)
    )
    # The zone was clear: the recheck stands, without a picture, and the note says why.
    assert view.status == "rechecked"
    assert view.evidence["after_snapshot"] is None
    assert view.evidence["after_snapshot_sha256"] is None
    note = view.history[-1]["note"]
    assert "the after snapshot could not be kept" in note and reason in note, note
    assert not list((harness.data_dir / "evidence").rglob("after-*"))
    assert database.stat().st_ino == before.st_ino  # still the same database file
    got = harness.client.get(AFTER_URL.format(made.id), headers=bearer("admin"))
    assert got.status_code == 404


# --- end to end: the zone status on the stream, the ticket service copies -----------------------


@pytest.mark.integration
def test_the_ticket_service_keeps_the_after_picture(
    harness: ApiHarness, redis_server: RedisServerProcess
) -> None:
    made = rectifying_ticket(harness)
    service = TicketService(redis_server.url, harness.store, data_dir=harness.data_dir, block_ms=50)
    client = redis_server.client()
    try:
        live_sha = write_live_after(harness.data_dir, 60)
        status = clear_status(f"{LIVE_DIRNAME}/{LIVE_NAME}", live_sha)
        client.xadd(ZONE_STATUS_STREAM, {"status": json.dumps(status)})
        deadline = time.monotonic() + 20
        while service.counters()["rechecks"] < 1:
            assert time.monotonic() < deadline, service.counters()
            service.run_once()
        view = harness.store.get_ticket(made.id)
        assert view is not None and view.status == "rechecked"
        assert view.evidence["after_snapshot_sha256"] == live_sha
        write_live_after(harness.data_dir, 200)  # the pipeline's next refresh
        got = harness.client.get(AFTER_URL.format(made.id), headers=bearer("reviewer"))
        assert got.status_code == 200, got.text
        assert sha256(got.content) == view.evidence["after_snapshot_sha256"]
        assert got.headers["etag"] == f'"{live_sha}"'
        assert view.evidence["after_snapshot"].startswith(f"evidence/{CAMERA}/")
    finally:
        service.stop()
        client.close()
