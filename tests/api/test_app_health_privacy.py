"""``/health`` needs no token, so it must not show error text to just anyone (issue 8 §2.5):
a camera's last error, Redis's error, the ticket service's dead-letter reason or database error
(SQL, hosts, paths) are for staff (admin, reviewer) only, and never carry a credential."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.status import CAMERA_STATUS_KEY, MAX_ERROR_CHARS, camera_record
from tests.api.app_harness import SECRET_IN_SOURCES, ApiHarness, bearer
from tests.support.servers import RedisServerProcess, free_port

DB_PASSWORD = "pg-Pa55'word"  # a test secret that must never be shown
SQL = "UPDATE tickets SET status=%(status)s WHERE tickets.id = %(id)s"
DB_ERROR = (
    f'(psycopg.OperationalError) connection to server at "db.internal" (10.9.8.7), port 5432 '
    f"failed: postgresql://hw:{DB_PASSWORD}@db.internal/hw [SQL: {SQL}]"
)
DEAD_LETTER = "entry 1733-0 dead-lettered: evidence clip '/srv/hw/data/tickets.sqlite3' refused"
CAMERA_ERROR = (
    f"cannot open 'rtsp://viewer:{SECRET_IN_SOURCES}'x@10.0.0.31:554/ch1': 401 Unauthorized"
)

# caller -> (headers, sees error text)
CALLERS: dict[str, tuple[dict[str, str], bool]] = {
    "anonymous": ({}, False),
    "wrong-token": ({"Authorization": "Bearer not-a-token"}, False),
    "public": (bearer("public"), False),
    "grid-worker": (bearer("grid_lane"), False),
    "reviewer": (bearer("reviewer"), True),
    "admin": (bearer("admin"), True),
}
# Words, not numbers: a bare "401" turned up in a timestamp's microseconds ("12:36:58.274011",
# CI21), so the test failed with nothing leaked.
TEXT_ONLY_STAFF_SEE = ("db.internal", "SQL", "dead-lettered", "/srv/hw", "Unauthorized", "refused")


def service_health() -> dict[str, Any]:
    return {
        "status": "degraded",
        "healthy": False,
        "events_applied": 12,
        "dead_letters": 1,
        "store_errors": 3,
        "last_error": DB_ERROR,
        "last_error_at": "2026-12-05T10:00:00Z",
        "consumer": {"name": "box-1", "pending": 2, "last_dead_letter": DEAD_LETTER},
    }


@pytest.fixture
def site(
    tmp_path: Path, media_cache: Path, redis_server: RedisServerProcess
) -> Iterator[ApiHarness]:
    harness = ApiHarness(
        tmp_path, media_cache, redis_url=redis_server.url, service_health=service_health
    )
    now = datetime.now(UTC).isoformat()
    client = redis_server.client()
    try:
        for camera_id, state, error in (
            ("lane_a", "backoff", CAMERA_ERROR),
            ("lane_b", "streaming", None),
            ("facade", "connecting", "timeout reading from 10.0.0.41:554"),
        ):
            record = {"state": state, "updated_at": now, "last_error": error, "reconnects": 4}
            client.hset(CAMERA_STATUS_KEY, camera_id, json.dumps(record))
    finally:
        client.close()
    yield harness
    harness.close()


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.integration
@pytest.mark.parametrize("caller", list(CALLERS))
def test_only_staff_see_error_text(site: ApiHarness, caller: str) -> None:
    headers, staff = CALLERS[caller]
    response = site.client.get("/health", headers=headers)
    assert response.status_code == 200
    body, text = response.json(), response.text
    assert body["status"] == "degraded"
    assert "ticket service is degraded" in body["reasons"]
    assert body["cameras"]["lane_a"]["state"] == "backoff"
    assert body["cameras"]["lane_a"]["reconnects"] == 4
    assert body["service"]["dead_letters"] == 1 and body["service"]["healthy"] is False
    assert body["service"]["consumer"]["pending"] == 2
    for secret in (SECRET_IN_SOURCES, DB_PASSWORD, "Pa55"):
        assert secret not in text, f"{caller} was shown a credential"
    if staff:
        assert "db.internal" in body["service"]["last_error"]
        assert "dead-lettered" in body["service"]["consumer"]["last_dead_letter"]
        assert "401 Unauthorized" in body["cameras"]["lane_a"]["last_error"]
        assert "rtsp://***:***@10.0.0.31:554/ch1" in body["cameras"]["lane_a"]["last_error"]
        return
    for shown in TEXT_ONLY_STAFF_SEE:
        assert shown not in text, f"{caller} was shown {shown!r}"
    assert all("last_error" not in record for record in body["cameras"].values())
    assert _strings(body["service"]) == ["degraded"]  # the state word, and no text at all
    assert "last_error_at" not in body["service"]


@pytest.mark.parametrize("caller", list(CALLERS))
def test_redis_errors_are_for_staff_only(tmp_path: Path, media_cache: Path, caller: str) -> None:
    harness = ApiHarness(tmp_path, media_cache, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    try:
        headers, staff = CALLERS[caller]
        body = harness.client.get("/health", headers=headers).json()
        assert body["redis"]["state"] == "down"
        assert ("error" in body["redis"]) is staff
    finally:
        harness.close()


def test_error_text_is_redacted_before_it_is_cut() -> None:
    # Cutting first would split the URL before its '@' and show the start of the password.
    padding = "x" * (MAX_ERROR_CHARS - 40)
    error = f"{padding} rtsp://viewer:{'p' * 60}@10.0.0.31:554/ch1 refused"
    record = json.dumps(
        {"state": "backoff", "updated_at": "2026-12-05T10:00:00Z", "last_error": error}
    )
    shown = camera_record(record, datetime(2026, 12, 5, 10, 0, 1, tzinfo=UTC))["last_error"]
    assert len(shown) <= MAX_ERROR_CHARS and "ppp" not in shown
    huge = json.dumps({"state": "backoff", "last_error": "rtsp://u:p@h " * 100_000})
    assert "too long" in camera_record(huge, datetime.now(UTC))["last_error"]
