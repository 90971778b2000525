"""``serve``/``up`` run evidence retention with the ticket service and show it in /health."""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hazardwatch.services import build_api
from pipelines.config import parse_config
from pipelines.evidence_layout import evidence_dir
from tests.support.servers import RedisServerProcess
from vision.types import HazardEvent, HazardKind, HazardPhase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CONFIG = """
site: {id: block_a, name: "Block A"}
cameras:
  facade:
    source: rtsp://10.0.0.41/ch1
    zones:
      facade: {polygon: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.3, 0.5, 0.7, 0.9]}
    hazards:
      - {kind: falling_object, zone: facade}
retention: {max_bytes: 0, min_free_bytes: 0, interval_s: 10}
"""


def retention_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "evidence-retention"]


def test_the_service_runs_retention_and_health_shows_it(
    tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    config = parse_config(CONFIG, "services-test")
    args = argparse.Namespace(data_dir=tmp_path / "data", redis_url=redis_server.url)
    store, service, app = build_api(config, args)
    try:
        started = datetime.now(UTC)
        hazard_id = uuid.uuid4().hex
        folder = evidence_dir(args.data_dir, "facade", started, hazard_id)
        folder.mkdir(parents=True)
        for name in ("clip.mp4", "snapshot.jpg"):
            (folder / name).write_bytes(b"x" * 1000)
        event = HazardEvent(
            event_id=uuid.uuid4().hex,
            hazard_id=hazard_id,
            phase=HazardPhase.START,
            kind=HazardKind.FALLING_OBJECT,
            camera_id="facade",
            zone="facade",
            started_at=started,
            start_pts_s=3.0,
            evidence={"error": "test: files written by hand"},
        )
        view = store.apply_event(event.to_dict())
        assert view is not None
        for status, actor in (
            ("reported", "office"),
            ("verified", "office"),
            ("rectifying", "worker"),
            ("rechecked", "officer"),
            ("closed", "officer"),
        ):
            store.transition(view.id, status, actor=actor)
        service.start()
        deadline = time.monotonic() + 30
        while not (service.retention and service.retention.status()["runs_total"] >= 1):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not folder.exists()  # the closed ticket's evidence went (budget 0)
        assert store.get_ticket(view.id) is not None  # the ticket stays
        with TestClient(app) as client:
            shown = client.get("/health").json()["retention"]
        assert shown["runs_total"] >= 1 and shown["files_deleted"] == 2
        assert shown["bytes_deleted"] == 2000
    finally:
        service.stop()
        store.close()
    assert retention_threads() == []
