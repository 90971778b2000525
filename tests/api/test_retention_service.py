"""Scheduled retention in the ticket service's process: real store, real evidence files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.metrics import render, retention_families
from api.retention import EvidenceRetention
from pipelines.retention import RetentionSettings
from tests.api.app_harness import CLOSING_PATH, ApiHarness, MadeTicket, bearer
from tests.api.test_app_metrics import parse_exposition
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def folder_of(harness: ApiHarness, made: MadeTicket) -> Path:
    return (
        harness.data_dir / Path(made.view.evidence["snapshot"]).relative_to(harness.data_dir).parent
    )


def site(harness: ApiHarness) -> dict[str, MadeTicket]:
    """A closed, a rejected and an open ticket, each with its evidence folder on disk."""
    closed = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, seed=1)
    harness.walk_to(closed.id, CLOSING_PATH)
    rejected = harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY, seed=2)
    harness.walk_to(rejected.id, ["rejected"])
    still_open = harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT, seed=3)
    harness.walk_to(still_open.id, ["reported", "verified", "rectifying"])
    return {"closed": closed, "rejected": rejected, "open": still_open}


STATUSES = {"closed": "closed", "rejected": "rejected", "open": "rectifying"}


@pytest.mark.parametrize(
    ("settings", "days_later", "gone"),
    [
        pytest.param({"max_age_days": 180}, 0, set(), id="nothing-due"),
        pytest.param({"max_age_days": 180}, 200, {"closed", "rejected"}, id="age"),
        pytest.param({"max_age_days": 180, "max_bytes": 0}, 0, {"closed", "rejected"}, id="budget"),
        pytest.param({"max_age_days": 1, "max_bytes": 0}, 3650, {"closed", "rejected"}, id="both"),
    ],
)
def test_retention_keeps_open_evidence_and_every_ticket(
    harness: ApiHarness, settings: dict[str, float], days_later: int, gone: set[str]
) -> None:
    tickets = site(harness)
    retention = EvidenceRetention(
        harness.store,
        harness.data_dir,
        # min_free_bytes 0: the outcome must not depend on this machine's free disk space
        RetentionSettings.model_validate({"min_free_bytes": 0, **settings}),
    )
    run = retention.run_once(now=datetime.now(UTC) + timedelta(days=days_later))
    for name, made in tickets.items():
        assert folder_of(harness, made).is_dir() is (name not in gone), name
        # The ticket record is never deleted, whatever happens to its files.
        view = harness.store.get_ticket(made.id)
        assert view is not None and view.status == STATUSES[name]
        assert view.evidence["snapshot"] == made.view.evidence["snapshot"]
    assert run.folders_deleted == len(gone) and run.errors == 0
    assert run.folders_kept_open == 1
    status = retention.status()
    assert status["runs_total"] == 1 and status["folders_deleted_total"] == len(gone)
    assert status["last_run"]["files_deleted"] == run.files_deleted
    assert status["last_run"]["bytes_in_use"] == run.bytes_in_use > 0


def test_the_thread_runs_at_start_and_stops(harness: ApiHarness) -> None:
    site(harness)
    retention = EvidenceRetention(
        harness.store,
        harness.data_dir,
        RetentionSettings(max_bytes=0, min_free_bytes=0, interval_s=10),
    )
    assert retention.status()["last_run"] is None
    retention.start()
    try:
        deadline = time.monotonic() + 20
        while retention.status()["runs_total"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        retention.stop()
    status = retention.status()
    assert status["folders_deleted_total"] == 2
    assert status["last_run"]["over_budget"] is True  # the open ticket's evidence stays
    families = parse_exposition(render(retention_families(status)))
    assert families["hazardwatch_retention_runs_total"]["samples"][frozenset()] == 1
    assert families["hazardwatch_retention_runs_total"]["type"] == "counter"
    assert families["hazardwatch_retention_folders_deleted_total"]["samples"][frozenset()] == 2
    assert families["hazardwatch_retention_over_budget"]["samples"][frozenset()] == 1
    assert families["hazardwatch_evidence_bytes"]["samples"][frozenset()] > 0
    assert families["hazardwatch_retention_last_run_timestamp_seconds"]["samples"][
        frozenset()
    ] == pytest.approx(time.time(), abs=60)


def test_no_run_yet_gives_empty_gauges() -> None:
    status = {"runs_total": 0, "errors_total": 0, "last_run": None}
    families = parse_exposition(render(retention_families(status)))
    assert families["hazardwatch_retention_runs_total"]["samples"] == {frozenset(): 0}
    assert families["hazardwatch_evidence_bytes"]["samples"] == {}


def test_health_and_metrics_show_the_last_run(tmp_path: Path, media_cache: Path) -> None:
    holder: list[EvidenceRetention] = []
    harness = ApiHarness(tmp_path, media_cache, retention_status=lambda: holder[0].status())
    try:
        site(harness)
        retention = EvidenceRetention(
            harness.store,
            harness.data_dir,
            RetentionSettings(max_bytes=0, min_free_bytes=0),
        )
        holder.append(retention)
        before = harness.client.get("/health").json()
        assert before["retention"] == {"runs_total": 0, "last_run_at": None}
        run = retention.run_once()
        public = harness.client.get("/health").json()
        shown = public["retention"]
        assert shown["runs_total"] == 1 and shown["last_run_at"].endswith("Z")
        assert (shown["files_deleted"], shown["bytes_deleted"], shown["errors"]) == (
            run.files_deleted,
            run.bytes_deleted,
            0,
        )
        assert shown["bytes_in_use"] == run.bytes_in_use and shown["over_budget"] is True
        assert "last_error" not in shown  # error text is for staff
        assert public["status"] == "degraded"
        assert (
            "evidence is over its disk budget and what is left belongs to open tickets"
            in public["reasons"]
        )
        staff = harness.client.get("/health", headers=bearer("admin")).json()
        assert staff["retention"]["last_error"] is None
        text = harness.client.get("/metrics", headers=bearer("admin")).text
        families = parse_exposition(text)
        assert families["hazardwatch_retention_runs_total"]["samples"][frozenset()] == 1
        assert families["hazardwatch_retention_last_run_files_deleted"]["samples"][
            frozenset()
        ] == float(run.files_deleted)
        assert families["hazardwatch_evidence_bytes"]["samples"][frozenset()] == float(
            run.bytes_in_use
        )
    finally:
        harness.close()


def test_a_failing_retention_status_is_reported(tmp_path: Path, media_cache: Path) -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("retention thread is gone")

    harness = ApiHarness(tmp_path, media_cache, retention_status=broken)
    try:
        body = harness.client.get("/health").json()
        assert body["retention"] == {"error": "RuntimeError"}
        assert "evidence retention status is unavailable" in body["reasons"]
        metrics = harness.client.get("/metrics", headers=bearer("admin"))
        assert metrics.status_code == 200
    finally:
        harness.close()
