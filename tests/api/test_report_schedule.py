"""The scheduled reports: each complete period written once, started with the ticket service,
configured by ``api.reports`` (errors name the path)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.reports.schedule import ScheduledReports
from api.service import TicketService
from api.settings.reports import ReportSettings
from pipelines.config import ConfigError, parse_config, validate_config
from tests.api.report_html import read_report
from tests.api.report_seed import TZ, seed, specs_in

pytestmark = pytest.mark.timeout(120)

SITE_YAML = """\
site: {id: block_a, name: "Block A"}
cameras:
  lane:
    zones: {lane: {polygon: [[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]}}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.5, 0.9]}
    hazards: [{kind: falling_object, zone: lane}]
"""


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def test_each_period_is_written_once(tmp_path: Path) -> None:
    store, _ids = seed(tmp_path)
    settings = ReportSettings(
        periods=("week", "month"), languages=("zh-CN", "en"), formats=("html",)
    )
    reports = ScheduledReports(store, tmp_path, settings)
    folder = tmp_path / "reports"
    try:
        first = reports.run_once(datetime(2026, 12, 1, 10, 0, tzinfo=TZ))
        expected = {
            "week-2026-W48.zh-CN.html",
            "week-2026-W48.en.html",
            "month-2026-11.zh-CN.html",
            "month-2026-11.en.html",
        }
        assert {p.name for p in first} == expected == _names(folder)
        week = read_report((folder / "week-2026-W48.en.html").read_text(encoding="utf-8"))
        assert week.data["total"] == len(
            specs_in(datetime(2026, 11, 23, tzinfo=TZ), datetime(2026, 11, 30, tzinfo=TZ))
        )
        stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

        # Later checks in the same week and month: nothing written again.
        assert reports.run_once(datetime(2026, 12, 1, 10, 10, tzinfo=TZ)) == []
        assert reports.run_once(datetime(2026, 12, 6, 23, 59, tzinfo=TZ)) == []
        # A new service (a restart) finds the files and writes nothing either.
        again = ScheduledReports(store, tmp_path, settings)
        assert again.run_once(datetime(2026, 12, 3, tzinfo=TZ)) == []
        assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps

        # The next week ends: only its reports are new.
        later = reports.run_once(datetime(2026, 12, 7, 0, 1, tzinfo=TZ))
        assert {p.name for p in later} == {"week-2026-W49.zh-CN.html", "week-2026-W49.en.html"}
        assert reports.status() == {"written_total": 6, "errors_total": 0}
    finally:
        store.close()


def test_started_and_stopped_with_the_ticket_service(tmp_path: Path) -> None:
    store, _ids = seed(tmp_path)
    settings = ReportSettings(periods=("month",), formats=("html",), check_interval_s=3600)
    reports = ScheduledReports(store, tmp_path, settings)
    # No Redis on port 1: the service's own loop backs off; the reports thread does its work.
    service = TicketService("redis://127.0.0.1:1/0", store, data_dir=tmp_path, reports=reports)
    service.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not reports.status()["written_total"]:
            time.sleep(0.05)
    finally:
        service.stop(timeout_s=10)
    written = _names(tmp_path / "reports")
    assert len(written) == 1 and next(iter(written)).startswith("month-")
    assert not any(t.name == "scheduled-reports" for t in threading.enumerate())


def test_from_config(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(SITE_YAML)
    plain = parse_config(SITE_YAML, "site.yaml")
    assert ScheduledReports.from_config(plain, None, tmp_path) is None  # type: ignore[arg-type]
    data["api"] = {"reports": {"periods": ["week"], "languages": ["en"], "time_zone": "UTC"}}
    config = validate_config(data, "site.yaml")
    reports = ScheduledReports.from_config(config, None, tmp_path)  # type: ignore[arg-type]
    assert reports is not None and reports.tz.key == "UTC"
    assert reports.zones_of is not None and "lane" in reports.zones_of()["lane"]


@pytest.mark.parametrize(
    ("reports", "path", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "api.reports.time_zone", "unknown time zone"),
        ({"periods": ["year"]}, "api.reports.periods", "week"),
        ({"periods": ["week", "week"]}, "api.reports.periods", "listed twice"),
        ({"folder": "../up"}, "api.reports.folder", ""),
        ({"colour": "red"}, "api.reports.colour", "unknown key"),
    ],
    ids=["time-zone", "period", "twice", "folder", "unknown-key"],
)
def test_config_errors_name_the_path(reports: dict[str, Any], path: str, message: str) -> None:
    data: dict[str, Any] = yaml.safe_load(SITE_YAML)
    data["api"] = {"reports": reports}
    with pytest.raises(ConfigError) as info:
        validate_config(data, "site.yaml")
    issues = [(issue.path, issue.message) for issue in info.value.errors]
    assert any(p.startswith(path) and message in m for p, m in issues), issues
