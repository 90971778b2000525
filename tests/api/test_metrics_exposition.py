"""The API's ``/metrics`` families rendered through prometheus_client, read back strictly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from api.metrics import ApiSnapshot, camera_families, render, service_families
from tests.api.app_harness import ApiHarness, bearer
from tests.api.test_app_metrics import parse_exposition

pytestmark = pytest.mark.timeout(60)


def _snapshot(**overrides: Any) -> ApiSnapshot:
    fields: dict[str, Any] = {
        "cameras": {"lane_a": {"state": "streaming", "fps_in": 25.0, "dropped": 3}},
        "redis_up": True,
        "tickets_by_status": {"discovered": 2},
        "ticket_statuses": ("discovered", "closed"),
    }
    fields.update(overrides)
    return ApiSnapshot(**fields)


@pytest.mark.parametrize(
    "value",
    [3.0, 0.0, -2.0, 0.25, 1e20, 10.0**16 + 2, math.inf, -math.inf, math.nan],
    ids=["int", "zero", "negative", "fraction", "huge", "beyond-float-ints", "inf", "-inf", "nan"],
)
def test_values_are_read_back_exactly(value: float) -> None:
    families = parse_exposition(render(camera_families({"cam": {"fps_in": value}})))
    read = families["hazardwatch_camera_fps_in"]["samples"][frozenset({("camera", "cam")})]
    assert read == value or (math.isnan(read) and math.isnan(value))


def test_label_values_and_help_texts_are_escaped() -> None:
    tricky = 'a"b\\c\nd'
    text = render([*camera_families({tricky: {"fps_in": 1.5}}), *service_families({"x\\y\nz": 4})])
    families = parse_exposition(text)
    assert families["hazardwatch_camera_fps_in"]["samples"][frozenset({("camera", tricky)})] == 1.5
    # the key became a valid name; its HELP keeps the backslash and newline, escaped
    assert families["hazardwatch_service_x_y_z"]["help"] == "Ticket service: x\\\\y\\nz."


def test_counters_keep_their_total_name_and_add_no_created_sample() -> None:
    text = render(camera_families({"cam": {"dropped": 3, "fps_in": 1.0}}))
    families = parse_exposition(text)
    assert families["hazardwatch_camera_frames_dropped_total"]["type"] == "counter"
    assert families["hazardwatch_camera_fps_in"]["type"] == "gauge"
    assert "_created" not in text


def test_service_keys_become_valid_metric_names() -> None:
    record = {"9lives": 3, "consumer": {"lag-x": 1.5, "acked_total": 41}, "name": "x", "ok": True}
    families = parse_exposition(render(service_families(record)))
    assert families["hazardwatch_service__9lives"]["samples"][frozenset()] == 3
    assert families["hazardwatch_service_consumer_lag_x"]["samples"][frozenset()] == 1.5
    assert families["hazardwatch_service_consumer_acked_total"]["type"] == "counter"
    assert families["hazardwatch_service_ok"]["samples"][frozenset()] == 1
    assert "hazardwatch_service_name" not in families  # text is not a number


def test_snapshot_lists_what_it_has() -> None:
    families = parse_exposition(render(_snapshot().families()))
    assert families["hazardwatch_tickets"]["samples"] == {
        frozenset({("status", "discovered")}): 2,
        frozenset({("status", "closed")}): 0,
    }
    assert families["hazardwatch_redis_up"]["samples"][frozenset()] == 1
    optional = ("hazardwatch_service", "hazardwatch_retention")
    assert not [name for name in families if name.startswith(optional)]
    before_first_run = parse_exposition(render(_snapshot(retention={}).families()))
    retention = {
        name: family
        for name, family in before_first_run.items()
        if name.startswith(("hazardwatch_retention", "hazardwatch_evidence"))
    }
    assert len(retention) == 14
    assert all(not family["samples"] for family in retention.values())


def test_rendering_leaves_the_global_registry_alone() -> None:
    names_before = {family.name for family in REGISTRY.collect()}
    render(_snapshot(service={"applied_total": 5}).families())
    assert {family.name for family in REGISTRY.collect()} == names_before
    assert b"hazardwatch_" not in generate_latest(REGISTRY)


def test_two_apps_in_one_process_show_their_own_values(tmp_path: Path, media_cache: Path) -> None:
    harnesses = []
    try:
        for name, applied in (("one", 3), ("two", 8)):
            (tmp_path / name).mkdir()
            harnesses.append(
                ApiHarness(
                    tmp_path / name,
                    media_cache,
                    service_health=lambda applied=applied: {"applied_total": applied},
                )
            )
        for harness, applied in zip(harnesses, (3, 8), strict=True):
            response = harness.client.get("/metrics", headers=bearer("admin"))
            assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
            families = parse_exposition(response.text)
            assert families["hazardwatch_service_applied_total"]["samples"][frozenset()] == applied
    finally:
        for harness in harnesses:
            harness.close()
