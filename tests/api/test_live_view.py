"""``GET /cameras/{id}/live``: the zone editor's overlay, read from the pipeline's status record
in a real Redis; malformed fields are dropped, missing ones are ``None``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.live_view import MAX_ITEMS, live_view
from api.status import CAMERA_STATUS_KEY
from tests.api.app_harness import ApiHarness, bearer
from tests.support.servers import RedisServerProcess

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
CAR = {"label": "car", "xyxy_norm": [0.1, 0.2, 0.3, 0.4]}


def _raw(**fields: Any) -> str:
    return json.dumps({"state": "streaming", "updated_at": NOW.isoformat(), **fields})


@pytest.mark.parametrize(
    ("fields", "zones", "detections", "motion"),
    [
        ({}, None, None, None),
        ({"zones": ["lane"], "detections": [], "motion": []}, ["lane"], [], []),
        ({"detections": [CAR]}, None, [CAR], None),
        ({"detections": [{"label": "car", "xyxy_norm": [0.5, 0.2, 0.3, 0.4]}]}, None, [], None),
        ({"detections": [{"label": "car", "xyxy_norm": [0, 0, 2, 1]}]}, None, [], None),
        ({"detections": [{"label": "car", "xyxy_norm": [0, 0, 1]}]}, None, [], None),
        (
            {"detections": [{"label": 3, "xyxy_norm": [0, 0, 1, 1]}]},
            None,
            [{"label": "", "xyxy_norm": [0.0, 0.0, 1.0, 1.0]}],
            None,
        ),
        ({"detections": "car"}, None, None, None),
        (
            {"motion": [{"xyxy_norm": [0.4, 0.1, 0.45, 0.2]}, "x"]},
            None,
            None,
            [{"xyxy_norm": [0.4, 0.1, 0.45, 0.2]}],
        ),
        ({"zones": ["lane", 7, "x" * 64]}, ["lane"], None, None),
    ],
    ids=[
        "not-reported",
        "reported-empty",
        "a-box",
        "x1-after-x2",
        "outside-the-frame",
        "three-numbers",
        "label-not-text",
        "not-a-list",
        "motion-blob",
        "bad-zone-ids",
    ],
)
def test_live_view_passes_only_well_formed_fields(
    fields: dict[str, Any], zones: Any, detections: Any, motion: Any
) -> None:
    view = live_view("cam", _raw(**fields), NOW)
    assert (view["state"], view["zones"], view["detections"], view["motion"]) == (
        "streaming",
        zones,
        detections,
        motion,
    )


def test_live_view_is_bounded() -> None:
    view = live_view("cam", _raw(detections=[CAR] * (MAX_ITEMS + 50)), NOW)
    assert len(view["detections"]) == MAX_ITEMS


def test_a_missing_or_unreadable_record_is_stale() -> None:
    assert live_view("cam", None, NOW)["state"] == "stale"
    assert live_view("cam", "{not json", NOW)["detections"] is None


@pytest.fixture
def harness(
    tmp_path: Path, media_cache: Path, redis_server: RedisServerProcess
) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache, redis_url=redis_server.url)
    yield made
    made.close()


def test_the_route_reads_the_pipeline_record(
    harness: ApiHarness, redis_server: RedisServerProcess
) -> None:
    client = redis_server.client()
    try:
        record = {"zones": ["lane"], "detections": [CAR], "motion": []}
        client.hset(
            CAMERA_STATUS_KEY,
            "lane_a",
            json.dumps(
                {"state": "streaming", "updated_at": datetime.now(UTC).isoformat(), **record}
            ),
        )
    finally:
        client.close()
    response = harness.client.get("/cameras/lane_a/live", headers=bearer("reviewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["zones"], body["detections"]) == ("streaming", ["lane"], [CAR])
    hidden = harness.client.get("/cameras/lane_a/live", headers=bearer("public"))
    assert hidden.status_code == 403


def test_the_route_without_a_record_says_stale(harness: ApiHarness) -> None:
    body = harness.client.get("/cameras/lane_a/live", headers=bearer("admin")).json()
    assert (body["state"], body["detections"]) == ("stale", None)


def test_the_route_says_when_the_live_picture_was_written(harness: ApiHarness) -> None:
    assert (
        harness.client.get("/cameras/lane_a/live", headers=bearer("admin")).json()["picture_at"]
        is None
    )
    live = harness.data_dir / "live"
    live.mkdir(exist_ok=True)
    (live / "lane_a.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    at = harness.client.get("/cameras/lane_a/live", headers=bearer("admin")).json()["picture_at"]
    written = datetime.fromisoformat(at.replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - written).total_seconds()) < 60
