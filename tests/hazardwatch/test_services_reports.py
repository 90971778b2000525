"""``serve``/``up`` write the scheduled reports configured in ``api.reports`` with the ticket
service (real Redis, the real ``build_api``), and none when nothing is configured."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.reports.periods import last_complete
from hazardwatch.services import build_api
from pipelines.config import parse_config
from tests.api.hazard_events import event
from tests.api.report_html import read_report
from tests.support.servers import RedisServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

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
"""
REPORTS = """
api:
  reports: {periods: [month], languages: [en], formats: [html], time_zone: UTC}
"""


def test_the_service_writes_last_months_report(
    tmp_path: Path, redis_server: RedisServerProcess
) -> None:
    config = parse_config(CONFIG + REPORTS, "services-test")
    args = argparse.Namespace(data_dir=tmp_path / "data", redis_url=redis_server.url)
    store, service, _app = build_api(config, args)
    month = last_complete("month", datetime.now(UTC), ZoneInfo("UTC"))
    try:
        at = month.start + timedelta(days=2, hours=9)
        store.apply_event(
            event("start", kind="falling_object", camera_id="facade", zone="facade", started_at=at),
            received_at=at,
        )
        service.start()
        path = args.data_dir / "reports" / f"{month.name}.en.html"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.1)
        service.stop()
        report = read_report(path.read_text(encoding="utf-8"))
        assert report.data["total"] == 1
        assert report.data["by_kind"]["falling_object"] == 1
    finally:
        service.stop()
        store.close()


def test_no_reports_unless_configured(tmp_path: Path, redis_server: RedisServerProcess) -> None:
    config = parse_config(CONFIG, "services-test")
    args = argparse.Namespace(data_dir=tmp_path / "data", redis_url=redis_server.url)
    store, service, _app = build_api(config, args)
    try:
        assert service.reports is None
    finally:
        store.close()
