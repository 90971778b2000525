"""The disk that holds the evidence filling up while clips are written.

ARCHITECTURE.md §9: a full disk stops new clips with a clear status and keeps events and tickets.
The evidence folder is a small filesystem of its own (tmpfs; as on a box whose evidence lives
on its own partition), so that the spool and the ticket database are not on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.faults.harness import (
    FALL_LOOP_S,
    FacadeMedia,
    Service,
    check_ledger,
    partial_files,
    settle_tickets,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.disks import MountUnavailable, fill, tmpfs_mount
from tests.support.servers import RedisServerFactory, RtspServerFactory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIB = 1024 * 1024
WRITER_MIN_FREE = 500 * MIB  # the evidence writers' default free-space minimum


def _next_start(client: redis.Redis, after: int) -> dict[str, Any]:
    """The first hazard start on the stream after the first ``after`` starts."""
    starts = [e for e in stream_events(client) if e["phase"] == "start"]
    return starts[after] if len(starts) > after else {}


def _starts(client: redis.Redis) -> int:
    return sum(1 for e in stream_events(client) if e["phase"] == "start")


@pytest.mark.timeout(180)
def test_the_evidence_disk_filling_up_while_clips_are_written(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """Evidence on a 510 MiB filesystem. First clips are written; then the disk drops below the
    writers' 500 MiB minimum; then it fills completely; then space is freed.

    The user sees: as soon as the disk is below the minimum (before any clip is lost),
    ``disk_full: true`` for the camera in ``/health`` and ``hazardwatch_camera_disk_full 1`` in
    ``/metrics``; then new hazards' tickets without a clip and
    the evidence error saying "disk full"; on a completely full disk not even the snapshot is
    written, and still every hazard becomes a ticket and nothing crashes or leaves half a file;
    once space is freed, ``disk_full`` is false again at once and clips are written again.
    """
    evidence = tmp_path / "data" / "evidence"
    try:
        mount = tmpfs_mount(evidence, 510 * MIB)
        mount.__enter__()
    except MountUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the disk-full test needs a tmpfs mount: {exc}")
        pytest.skip(f"the disk-full test needs a tmpfs mount: {exc}")
    try:
        _fill_up_while_hazards_happen(
            tmp_path, evidence, facade, rtsp_server_factory, redis_server_factory, service_factory
        )
    finally:
        mount.__exit__(None, None, None)


def _fill_up_while_hazards_happen(
    tmp_path: Path,
    evidence: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    rtsp = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    # No post-roll: a start is published at once, ~5 s before the next fall, which leaves time
    # to see the status change between two hazards (not because of one).
    camera = facade.camera_config(rtsp.url("/cam_a"), postroll_s=0.0)
    config = write_config(tmp_path / "faults.yaml", {"cam_a": camera})
    service: Service = service_factory(config, redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    timeout_s = 4 * FALL_LOOP_S

    first = wait_for(lambda: _next_start(client, 0), timeout_s, "a first hazard")
    assert "clip" in first["evidence"] and "error" not in first["evidence"], first["evidence"]
    assert service.camera("cam_a").get("disk_full") is False

    # Below the minimum: the status says so at once (not only once a clip is lost), and the
    # next hazard's clip is skipped with a clear reason.
    filler = evidence / "filler-low"
    fill(filler, leave_free_bytes=WRITER_MIN_FREE - MIB)
    seen = _starts(client)
    wait_for(lambda: service.camera("cam_a").get("disk_full"), 4, "disk_full in /health")
    assert _starts(client) == seen, "disk_full showed only when a hazard lost its clip"
    assert service.metric("hazardwatch_camera_disk_full", camera="cam_a") == 1
    low = wait_for(lambda: _next_start(client, seen), timeout_s, "a hazard on a low disk")
    assert "clip" not in low["evidence"] and "snapshot" in low["evidence"], low["evidence"]
    assert "disk full" in low["evidence"]["error"], low["evidence"]
    wait_for(lambda: service.camera("cam_a")["clips_skipped_disk_full"] >= 1, 4, "a skip count")

    # Completely full: not even a snapshot fits; the event and its ticket still go through.
    fill(evidence / "filler-full")
    seen = _starts(client)
    full = wait_for(lambda: _next_start(client, seen), timeout_s, "a hazard on a full disk")
    assert "snapshot" not in full["evidence"] and "disk full" in full["evidence"]["error"]
    assert service.camera("cam_a")["state"] == "streaming"
    assert not [p for p in partial_files(service.data_dir) if p.is_relative_to(evidence)]

    # Space freed: the status says so at once, and clips are written again.
    for path in (filler, evidence / "filler-full"):
        path.unlink()
    seen = _starts(client)
    wait_for(lambda: service.camera("cam_a").get("disk_full") is False, 4, "disk_full cleared")
    assert _starts(client) == seen, "disk_full cleared only when a hazard got its clip"
    assert service.metric("hazardwatch_camera_disk_full", camera="cam_a") == 0
    again = wait_for(lambda: _next_start(client, seen), timeout_s, "a hazard after freeing")
    assert "clip" in again["evidence"] and "error" not in again["evidence"], again["evidence"]

    code, _took = service.terminate()
    assert code == 0
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    for hazard in (first, low, full, again):
        assert hazard["hazard_id"] in ledger.ticket_of_hazard
