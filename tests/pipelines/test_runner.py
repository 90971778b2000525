"""A live CameraRunner on a real file source, a real publisher and redis-server: shutdown
closes the evidence writer, and the status record carries evidence and publisher counters."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipelines.config import HazardwatchConfig, parse_config
from pipelines.evidence_layout import LIVE_DIRNAME, live_after_name
from pipelines.publish import CAMERA_STATUS_KEY, ZONE_STATUS_STREAM, EventPublisher
from pipelines.runner import CameraRunner, RunnerOptions
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess
from vision.types import Frame, HazardEvent, HazardKind, HazardPhase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CAMERA = "facade"


def facade_config(video: Path) -> HazardwatchConfig:
    return parse_config(
        f"""
site: {{id: block_a, name: "Block A"}}
cameras:
  {CAMERA}:
    source: {video}
    preroll_s: 1
    postroll_s: 1
    motion: {{fps: 10, width: 160}}
    zones:
      facade: {{polygon: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}}
    floors: {{count: 10, lowest_visible_floor: 1, lines: [0.1, 0.3, 0.5, 0.7, 0.9]}}
    hazards:
      - {{kind: falling_object, zone: facade}}
""",
        "runner-test",
    )


@pytest.fixture
def runner_parts(
    tmp_path: Path, media_cache: Path, redis_server: RedisServerProcess
) -> Iterator[Callable[[], CameraRunner]]:
    video = ensure_clip(media_cache, width=320, height=240, seconds=30.0)
    made: list[tuple[CameraRunner, EventPublisher]] = []

    def make() -> CameraRunner:
        config = facade_config(video)
        publisher = EventPublisher(redis_server.url, tmp_path / "spool.sqlite3")
        runner = CameraRunner(
            CAMERA,
            config.cameras[CAMERA],
            config,
            None,
            publisher,
            RunnerOptions(data_dir=tmp_path / "data"),
        )
        made.append((runner, publisher))
        return runner

    yield make
    for runner, publisher in made:
        runner.stop()
        publisher.close()


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the runner")
        time.sleep(0.05)


def start_event(pts_s: float) -> HazardEvent:
    return HazardEvent(
        event_id=uuid.uuid4().hex,
        hazard_id=uuid.uuid4().hex,
        phase=HazardPhase.START,
        kind=HazardKind.FALLING_OBJECT,
        camera_id=CAMERA,
        zone="facade",
        started_at=datetime.now(UTC),
        start_pts_s=pts_s,
    )


def a_frame(pts_s: float) -> Frame:
    image = np.full((240, 320, 3), 90, dtype=np.uint8)
    return Frame(CAMERA, 1, pts_s, datetime.now(UTC), image)


def evidence_threads() -> list[str]:
    prefixes = (f"snapshots-{CAMERA}", f"evidence-{CAMERA}", f"clips-{CAMERA}")
    return [t.name for t in threading.enumerate() if t.name.startswith(prefixes)]


def test_stop_closes_the_evidence_writer(
    runner_parts: Callable[[], CameraRunner], tmp_path: Path
) -> None:
    runner = runner_parts()
    runner.start()
    wait_until(lambda: runner.source.status().frames_out >= 10)
    # A hazard whose clip is still gathering post-roll when the camera is stopped.
    future = runner.evidence.capture(start_event(0.2), a_frame(0.2))
    wait_until(lambda: bool(evidence_threads()))
    runner.stop()
    assert future.done()
    evidence = future.result().evidence
    assert evidence["snapshot"].startswith(f"evidence/{CAMERA}/")
    assert evidence_threads() == []  # the writer's and the recorder's workers ended
    with pytest.raises(RuntimeError, match="evidence writer is closed"):
        runner.evidence.capture(start_event(0.3), a_frame(0.3))
    partial = [p for p in (tmp_path / "data").rglob("*") if ".partial" in p.name]
    assert partial == []


def test_status_shows_evidence_and_publisher_counters_and_the_live_after_picture(
    runner_parts: Callable[[], CameraRunner],
    redis_server: RedisServerProcess,
    tmp_path: Path,
) -> None:
    runner = runner_parts()
    runner.start()
    client = redis_server.client()
    wait_until(lambda: client.hget(CAMERA_STATUS_KEY, CAMERA) is not None)
    wait_until(lambda: client.xlen(ZONE_STATUS_STREAM) > 0)
    record = json.loads(client.hget(CAMERA_STATUS_KEY, CAMERA) or b"{}")
    for key, value in {
        "disk_full": False,
        "evidence_captures": 0,
        "evidence_pending": 0,
        "evidence_errors": 0,
        "clips_skipped_disk_full": 0,
        "spool_pending": 0,
        "publish_errors": 0,
    }.items():
        assert record[key] == value, key
    [(_, fields)] = client.xrange(ZONE_STATUS_STREAM, count=1)
    status = json.loads(fields[b"status"])
    name = live_after_name(CAMERA, "facade", "falling_object")
    # Relative to the data dir (not to the working directory), and named per zone and kind.
    assert status["state"] == "clear" and status["snapshot"] == f"{LIVE_DIRNAME}/{name}"
    assert (tmp_path / "data" / LIVE_DIRNAME / name).is_file()
