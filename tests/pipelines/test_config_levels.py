"""Config additions for tickets: ``api.levels`` (levels, deadlines, escalation, recheck) and the
per-camera ``area`` used in ticket codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from api.settings.levels import (
    DurationRaises,
    KindLevels,
    LevelRaise,
    LevelResponseTimes,
    LevelsConfig,
    RiskLevel,
)
from pipelines.config import ConfigError, camera_area, parse_config, validate_config
from vision.types import HazardKind

BASE_YAML = """\
site: {id: block_a, name: "Block A"}
cameras:
  facade:
    zones: {f: {polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.5, 0.9]}
    hazards: [{kind: falling_object, zone: f}]
  tower:
    area: tower_2
    zones: {f: {polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.5, 0.9]}
    hazards: [{kind: falling_object, zone: f}]
"""


def _data(levels: dict[str, Any] | None = None) -> dict[str, Any]:
    data = yaml.safe_load(BASE_YAML)
    assert isinstance(data, dict)
    if levels is not None:
        data["api"] = {"levels": copy.deepcopy(levels)}
    return data


def _issues(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(data, "site.yaml")
    return [(issue.path, issue.message) for issue in info.value.errors]


def test_defaults_follow_the_domain() -> None:
    levels = LevelsConfig()
    assert levels.default_level.level_of(HazardKind.FALLING_OBJECT) is RiskLevel.RED
    assert levels.default_level.level_of(HazardKind.EBIKE_ENTRY) is RiskLevel.ORANGE
    assert levels.default_level.level_of(HazardKind.FIRE_LANE_BLOCKED) is RiskLevel.YELLOW
    windows = levels.rectify_within_s
    assert [windows.window_s(level) for level in RiskLevel] == [
        3 * 86400,
        7 * 86400,
        86400,
        4 * 3600,
    ]
    assert levels.verify_within_s == 86400
    assert [
        (r.after_s, r.level) for r in levels.raise_after.raises_of(HazardKind.FIRE_LANE_BLOCKED)
    ] == [
        (1800, RiskLevel.ORANGE),
        (7200, RiskLevel.RED),
    ]
    assert levels.raise_after.raises_of(HazardKind.EBIKE_ENTRY) == ()


def test_levels_default_when_api_is_absent_or_has_only_tokens() -> None:
    config = parse_config(BASE_YAML, "site.yaml")
    assert config.api is None
    data = _data()
    data["api"] = {"tokens": []}
    config = validate_config(data)
    assert config.api is not None and config.api.levels == LevelsConfig()


def test_a_partial_override_keeps_the_other_defaults() -> None:
    config = validate_config(
        _data(
            {
                "default_level": {"fire_lane_blocked": "blue"},
                "rectify_within_s": {"orange": 7200},
                "raise_after": {"ebike_entry": [{"after_s": 60, "level": "red"}]},
                "recheck_clear_s": 30,
                "escalation_interval_s": 5,
            }
        )
    )
    assert config.api is not None
    levels = config.api.levels
    assert levels.default_level.fire_lane_blocked is RiskLevel.BLUE
    assert levels.default_level.ebike_entry is RiskLevel.ORANGE
    assert levels.default_level.falling_object is RiskLevel.RED
    assert levels.rectify_within_s.orange == 7200 and levels.rectify_within_s.red == 4 * 3600
    assert (
        levels.raise_after.raises_of(HazardKind.FIRE_LANE_BLOCKED)
        == DurationRaises().fire_lane_blocked
    )
    assert (levels.recheck_clear_s, levels.escalation_interval_s) == (30, 5)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (
            {"colour": "red"},
            [("api.levels.colour", "unknown key 'colour' (allowed here: default_level,")],
        ),
        (
            {"default_level": {"flood": "red"}},
            [("api.levels.default_level.flood", "unknown key 'flood'")],
        ),
        (
            {"default_level": {"ebike_entry": "purple"}},
            [("api.levels.default_level.ebike_entry", "'purple'")],
        ),
        (
            {"rectify_within_s": {"red": 10}},
            [("api.levels.rectify_within_s.red", "greater than or equal to 60")],
        ),
        ({"verify_within_s": -1}, [("api.levels.verify_within_s", "greater than or equal")]),
        ({"recheck_clear_s": 0}, [("api.levels.recheck_clear_s", "greater than or equal to 1")]),
        (
            {"escalation_interval_s": 7200},
            [("api.levels.escalation_interval_s", "less than or equal to 3600")],
        ),
        (
            {"raise_after": {"fire_lane_blocked": [{"after_s": 0, "level": "red"}]}},
            [("api.levels.raise_after.fire_lane_blocked[0].after_s", "greater than 0")],
        ),
        (
            {"raise_after": {"fire_lane_blocked": [{"level": "red"}]}},
            [("api.levels.raise_after.fire_lane_blocked[0].after_s", "required key 'after_s'")],
        ),
        (
            {
                "raise_after": {
                    "fire_lane_blocked": [
                        {"after_s": 600, "level": "orange"},
                        {"after_s": 300, "level": "red"},
                    ]
                }
            },
            [
                (
                    "api.levels.raise_after.fire_lane_blocked[1].after_s",
                    "fire_lane_blocked raises must be in increasing after_s: 300 s follows 600 s",
                )
            ],
        ),
        (
            {"raise_after": {"ebike_entry": [{"after_s": 60, "level": "yellow"}]}},
            [
                (
                    "api.levels.raise_after.ebike_entry[0].level",
                    "ebike_entry raise to 'yellow' would never raise anything: the ticket is "
                    "already 'orange'",
                )
            ],
        ),
        (
            {
                "raise_after": {
                    "fire_lane_blocked": [
                        {"after_s": 60, "level": "red"},
                        {"after_s": 120, "level": "orange"},
                    ]
                }
            },
            [("api.levels.raise_after.fire_lane_blocked[1].level", "already 'red'")],
        ),
        (
            {"default_level": {"ebike_entry": "red"}},
            [],
        ),
    ],
    ids=[
        "unknown-key",
        "unknown-kind",
        "bad-level",
        "window-too-short",
        "negative-verify",
        "recheck-zero",
        "interval-too-long",
        "raise-after-zero",
        "raise-after-missing",
        "raises-out-of-order",
        "raise-below-start",
        "raise-going-down",
        "valid",
    ],
)
def test_level_errors_name_the_path(
    levels: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    if not expected:
        validate_config(_data(levels))
        return
    issues = _issues(_data(levels))
    assert len(issues) == len(expected), issues
    for (path, message), (want_path, want_fragment) in zip(issues, expected, strict=True):
        assert path == want_path
        assert want_fragment in message, message


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        ("tower_2", None),
        ("Tower 2", "area of camera 'tower' 'Tower 2' is not a slug"),
        ("", "at least 1 character"),
        ("a" * 64, "at most 63 characters"),
        (5, "expected text"),
    ],
    ids=["slug", "not-slug", "empty", "too-long", "number"],
)
def test_area_must_be_a_slug(area: Any, expected: str | None) -> None:
    data = _data()
    data["cameras"]["tower"]["area"] = area
    if expected is None:
        validate_config(data)
        return
    issues = _issues(data)
    assert [path for path, _ in issues] == ["cameras.tower.area"]
    assert expected in issues[0][1]


def test_camera_area_defaults_to_the_site_id() -> None:
    config = parse_config(BASE_YAML, "site.yaml")
    assert camera_area(config, "tower") == "tower_2"
    assert camera_area(config, "facade") == "block_a"
    with pytest.raises(KeyError, match="nowhere"):
        camera_area(config, "nowhere")


def test_area_is_not_a_default_for_every_camera() -> None:
    data = _data()
    data["defaults"] = {"area": "x"}
    assert _issues(data)[0][0] == "defaults.area"


def test_level_models_are_frozen_and_described() -> None:
    levels = LevelsConfig()
    with pytest.raises(ValidationError, match="frozen"):
        levels.recheck_clear_s = 1.0
    models: list[type[BaseModel]] = [
        LevelsConfig,
        KindLevels,
        LevelResponseTimes,
        LevelRaise,
        DurationRaises,
    ]
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
    # one field per hazard kind, so a new kind cannot be forgotten silently
    assert set(KindLevels.model_fields) == {kind.value for kind in HazardKind}
    assert set(DurationRaises.model_fields) == {kind.value for kind in HazardKind}
    assert set(LevelResponseTimes.model_fields) == {level.value for level in RiskLevel}
