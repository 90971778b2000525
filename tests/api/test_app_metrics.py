"""``/metrics`` in the Prometheus text format (parsed back strictly) and ``/health``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.status import CAMERA_STATUS_KEY, STALE_AFTER_S, camera_record
from tests.api.app_harness import CLOSING_PATH, SECRET_IN_SOURCES, ApiHarness, bearer
from tests.support.servers import RedisServerProcess, free_port
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)

# --- a strict parser of the text exposition format (what Prometheus accepts) ---------------------

_SAMPLE_RE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\\"n])*\",?)*)\})?"
    r" (?P<value>[^ ]+)$"
)
_LABEL_RE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\n]|\\[\\\"n])*)\"")
_VALUE_WORDS = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_exposition(text: str) -> dict[str, dict[str, Any]]:
    """name -> {"type", "help", "samples": {frozenset(labels): value}}; raises on any flaw."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in families, f"line {number}: HELP for {name} repeated"
            families[name] = {"help": help_text, "type": None, "samples": {}}
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "untyped", "histogram", "summary"), line
            assert families[name]["type"] is None and not families[name]["samples"], line
            families[name]["type"] = kind
        else:
            match = _SAMPLE_RE.match(line)
            assert match, f"line {number} is not a sample: {line!r}"
            name = match["name"]
            assert name in families and families[name]["type"], f"line {number}: no TYPE first"
            labels = frozenset(
                (key, _unescape(value)) for key, value in _LABEL_RE.findall(match["labels"] or "")
            )
            raw = match["value"]
            value = _VALUE_WORDS[raw] if raw in _VALUE_WORDS else float(raw)
            assert labels not in families[name]["samples"], f"line {number}: duplicate sample"
            families[name]["samples"][labels] = value
    return families


def _sample(families: dict[str, dict[str, Any]], name: str, **labels: str) -> float:
    value: float = families[name]["samples"][frozenset(labels.items())]
    return value


# --- camera status records ------------------------------------------------------------------------

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _status(age_s: float, **overrides: Any) -> str:
    record = {
        "state": "streaming",
        "fps_in": 25.0,
        "fps_out": 5.0,
        "frames_in": 2500,
        "frames_out": 500,
        "dropped": 3,
        "reconnects": 1,
        "last_error": None,
        "inference_ms_avg": 17.5,
        "events": 2,
        "updated_at": (NOW - timedelta(seconds=age_s)).isoformat().replace("+00:00", "Z"),
    }
    record.update(overrides)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        (_status(1.0), "streaming"),
        (_status(1.0, state="backoff"), "backoff"),
        (_status(STALE_AFTER_S + 0.5), "stale"),
        (_status(1.0, state="exploded"), "stale"),
        (_status(1.0, updated_at="yesterday"), "stale"),
        (None, "stale"),
        ("{not json", "stale"),
        ("[1, 2]", "stale"),
    ],
    ids=["fresh", "backoff", "old", "unknown-state", "bad-time", "missing", "not-json", "list"],
)
def test_camera_record_states(raw: str | None, state: str) -> None:
    assert camera_record(raw, NOW)["state"] == state


def test_camera_record_redacts_the_last_error() -> None:
    raw = _status(
        1.0, state="backoff", last_error=f"refused: rtsp://u:{SECRET_IN_SOURCES}@10.0.0.9/x"
    )
    record = camera_record(raw, NOW)
    assert SECRET_IN_SOURCES not in json.dumps(record)
    assert "10.0.0.9" in record["last_error"]


PIPELINE_COUNTERS = {
    "disk_full": True,
    "evidence_captures": 4,
    "evidence_pending": 1,
    "evidence_errors": 2,
    "clips_skipped_disk_full": 2,
    "spool_pending": 7,
    "publish_errors": 3,
}


def test_camera_record_passes_evidence_and_publisher_counters() -> None:
    record = camera_record(_status(1.0, **PIPELINE_COUNTERS, colour="red"), NOW)
    assert {key: record[key] for key in PIPELINE_COUNTERS} == PIPELINE_COUNTERS
    assert "colour" not in record  # only the contract's fields
    assert "disk_full" not in camera_record(_status(1.0, disk_full="yes"), NOW)


# --- over HTTP with a real redis-server ----------------------------------------------------------


@pytest.fixture
def redis_harness(
    tmp_path: Path, media_cache: Path, redis_server: RedisServerProcess
) -> Iterator[tuple[ApiHarness, RedisServerProcess]]:
    calls = {"n": 0}

    def service_health() -> dict[str, Any]:
        calls["n"] += 1
        return {"status": "ok", "consumer": {"acked_total": 41, "pending": 2}, "name": "x"}

    harness = ApiHarness(
        tmp_path, media_cache, redis_url=redis_server.url, service_health=service_health
    )
    yield harness, redis_server
    harness.close()


def _publish(server: RedisServerProcess, **records: str) -> None:
    client = server.client()
    try:
        for camera_id, record in records.items():
            client.hset(CAMERA_STATUS_KEY, camera_id, record)
    finally:
        client.close()


def _fresh(**overrides: Any) -> str:
    data = json.loads(_status(0.0, **overrides))
    data["updated_at"] = datetime.now(UTC).isoformat()
    return json.dumps(data)


@pytest.mark.integration
def test_metrics_from_camera_status_and_tickets(
    redis_harness: tuple[ApiHarness, RedisServerProcess],
) -> None:
    harness, server = redis_harness
    _publish(
        server,
        lane_a=_fresh(),
        lane_b=_fresh(state="backoff", fps_in=0.0, reconnects=7),
    )  # facade never reports
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    harness.walk_to(made.id, CLOSING_PATH)
    harness.add_ticket("facade", "facade", HazardKind.FALLING_OBJECT)
    response = harness.client.get("/metrics", headers=bearer("reviewer"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse_exposition(response.text)
    assert _sample(families, "hazardwatch_camera_up", camera="lane_a") == 1
    assert _sample(families, "hazardwatch_camera_up", camera="lane_b") == 0
    assert _sample(families, "hazardwatch_camera_up", camera="facade") == 0
    assert _sample(families, "hazardwatch_camera_fps_in", camera="lane_a") == 25.0
    assert _sample(families, "hazardwatch_camera_fps_out", camera="lane_a") == 5.0
    assert _sample(families, "hazardwatch_camera_frames_dropped_total", camera="lane_a") == 3
    assert _sample(families, "hazardwatch_camera_reconnects_total", camera="lane_b") == 7
    assert _sample(families, "hazardwatch_camera_inference_ms", camera="lane_a") == 17.5
    assert _sample(families, "hazardwatch_camera_events_total", camera="lane_a") == 2
    assert families["hazardwatch_camera_frames_dropped_total"]["type"] == "counter"
    assert families["hazardwatch_camera_fps_in"]["type"] == "gauge"
    assert frozenset({("camera", "facade")}) not in families["hazardwatch_camera_fps_in"]["samples"]
    assert _sample(families, "hazardwatch_tickets", status="closed") == 1
    assert _sample(families, "hazardwatch_tickets", status="discovered") == 1
    assert _sample(families, "hazardwatch_tickets", status="reopened") == 0
    assert _sample(families, "hazardwatch_redis_up") == 1
    assert _sample(families, "hazardwatch_service_consumer_acked_total") == 41
    assert families["hazardwatch_service_consumer_acked_total"]["type"] == "counter"
    assert _sample(families, "hazardwatch_service_consumer_pending") == 2
    assert SECRET_IN_SOURCES not in response.text


@pytest.mark.integration
def test_metrics_show_evidence_and_publisher_counters(
    redis_harness: tuple[ApiHarness, RedisServerProcess],
) -> None:
    harness, server = redis_harness
    _publish(server, lane_a=_fresh(**PIPELINE_COUNTERS), lane_b=_fresh(disk_full=False))
    families = parse_exposition(harness.client.get("/metrics", headers=bearer("admin")).text)
    expected = {
        ("hazardwatch_camera_disk_full", "gauge"): 1,
        ("hazardwatch_camera_evidence_captures_total", "counter"): 4,
        ("hazardwatch_camera_evidence_pending", "gauge"): 1,
        ("hazardwatch_camera_evidence_errors_total", "counter"): 2,
        ("hazardwatch_camera_clips_skipped_disk_full_total", "counter"): 2,
        ("hazardwatch_camera_spool_pending", "gauge"): 7,
        ("hazardwatch_camera_publish_errors_total", "counter"): 3,
    }
    for (name, kind), value in expected.items():
        assert families[name]["type"] == kind, name
        assert _sample(families, name, camera="lane_a") == value, name
    assert _sample(families, "hazardwatch_camera_disk_full", camera="lane_b") == 0
    health = harness.client.get("/health").json()
    assert health["cameras"]["lane_a"]["disk_full"] is True
    assert health["cameras"]["lane_a"]["spool_pending"] == 7


@pytest.mark.integration
def test_health_ok_then_degraded(redis_harness: tuple[ApiHarness, RedisServerProcess]) -> None:
    harness, server = redis_harness
    _publish(server, lane_a=_fresh(), lane_b=_fresh(), facade=_fresh())
    healthy = harness.client.get("/health").json()
    assert healthy["status"] == "ok", healthy
    assert healthy["redis"] == {"state": "up"}
    assert healthy["cameras"]["lane_a"]["state"] == "streaming"
    assert healthy["cameras"]["lane_a"]["fps_in"] == 25.0
    assert healthy["service"]["status"] == "ok"
    _publish(server, lane_b=_status(60.0))  # a pipeline that stopped writing a minute ago
    _publish(
        server,
        facade=_fresh(state="backoff", last_error=f"rtsp://u:{SECRET_IN_SOURCES}@cam/x refused"),
    )
    degraded = harness.client.get("/health")
    body = degraded.json()
    assert body["status"] == "degraded"
    assert body["cameras"]["lane_b"]["state"] == "stale"
    assert "camera lane_b is stale" in body["reasons"]
    assert "camera facade is backoff" in body["reasons"]
    assert "last_error" not in body["cameras"]["facade"]  # anonymous callers: no error text
    staff = harness.client.get("/health", headers=bearer("admin")).json()
    assert "refused" in staff["cameras"]["facade"]["last_error"]
    assert SECRET_IN_SOURCES not in json.dumps(staff)


def test_health_degraded_when_redis_is_unreachable(tmp_path: Path, media_cache: Path) -> None:
    closed_port = free_port()  # nothing listens there
    harness = ApiHarness(tmp_path, media_cache, redis_url=f"redis://127.0.0.1:{closed_port}/0")
    try:
        started = datetime.now(UTC)
        response = harness.client.get("/health")
        elapsed_s = (datetime.now(UTC) - started).total_seconds()
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["redis"]["state"] == "down"
        assert "redis is down" in body["reasons"]
        assert {record["state"] for record in body["cameras"].values()} == {"stale"}
        assert elapsed_s < 3.0
        metrics = parse_exposition(harness.client.get("/metrics", headers=bearer("admin")).text)
        assert _sample(metrics, "hazardwatch_redis_up") == 0
        assert _sample(metrics, "hazardwatch_camera_up", camera="lane_a") == 0
    finally:
        harness.close()


def test_health_reports_a_failing_service_callback(tmp_path: Path, media_cache: Path) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("consumer thread died")

    harness = ApiHarness(tmp_path, media_cache, service_health=broken)
    try:
        body = harness.client.get("/health").json()
        assert body["service"] == {"status": "error"}  # anonymous: no error text
        assert "ticket service is error" in body["reasons"]
        staff = harness.client.get("/health", headers=bearer("admin")).json()
        assert staff["service"] == {"status": "error", "error": "RuntimeError"}
    finally:
        harness.close()


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"healthy": True, "applied_total": 3}, None),
        ({"healthy": False, "applied_total": 3}, "ticket service is unhealthy"),
        ({"status": "degraded"}, "ticket service is degraded"),
    ],
    ids=["healthy", "unhealthy", "degraded"],
)
def test_health_follows_the_service_record(
    tmp_path: Path, media_cache: Path, record: dict[str, Any], reason: str | None
) -> None:
    harness = ApiHarness(tmp_path, media_cache, service_health=lambda: dict(record))
    try:
        body = harness.client.get("/health").json()
        service_reasons = [r for r in body["reasons"] if r.startswith("ticket service")]
        assert service_reasons == ([] if reason is None else [reason])
        metrics = parse_exposition(harness.client.get("/metrics", headers=bearer("admin")).text)
        if "healthy" in record:
            assert _sample(metrics, "hazardwatch_service_healthy") == float(record["healthy"])
            assert _sample(metrics, "hazardwatch_service_applied_total") == 3
    finally:
        harness.close()
