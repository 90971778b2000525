"""``api.dispatch`` in the config file: who new tickets go to, checked like everything else
(every problem with its dotted path, also when another part of the file is invalid)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from api.settings.dispatch import Assignee, Contact, DispatchConfig, assignee_for
from pipelines.config import ConfigError, validate_config

BASE_YAML = """\
site: {id: block_a, name: "Block A"}
detector:
  model: models/none.onnx
  classes: {car: vehicle, motorbike: ebike}
cameras:
  lane:
    zones:
      lane: {polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}
      exit: {polygon: [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}
    hazards: [{kind: fire_lane_blocked, zone: lane}]
  lobby:
    zones: {door: {line: [[0.2, 0.8], [0.6, 0.8]], inward: [0.0, -1.0]}}
    hazards: [{kind: ebike_entry, zone: door}]
"""
PROPERTY = {"name": "物业服务中心", "contact": "0571-8888-0000"}


def _data(dispatch: Any) -> dict[str, Any]:
    data = yaml.safe_load(BASE_YAML)
    data["api"] = {"dispatch": copy.deepcopy(dispatch)}
    return data


def _issues(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        validate_config(data, "site.yaml")
    return [(issue.path, issue.message) for issue in info.value.errors]


def test_a_valid_mapping_is_read_with_its_defaults() -> None:
    config = validate_config(
        _data(
            {
                "cameras": {
                    "lane": {"unit": PROPERTY, "person": {"name": "王伟"}},
                    "lane/exit": {"unit": {"name": "Security office"}},
                },
                "default": {"unit": PROPERTY},
            }
        )
    )
    assert config.api is not None
    dispatch = config.api.dispatch
    assert dispatch.cameras["lane"].person == Contact(name="王伟")
    assert dispatch.cameras["lane/exit"].person is None
    assert dispatch.default == Assignee(unit=Contact(**PROPERTY))


def test_no_dispatch_section_means_nobody_is_assigned() -> None:
    config = validate_config(yaml.safe_load(BASE_YAML + "api: {}\n"))
    assert config.api is not None
    assert config.api.dispatch == DispatchConfig()
    assert assignee_for(config.api.dispatch, "lane", "lane") is None


@pytest.mark.parametrize(
    ("camera_id", "zone", "expected"),
    [
        ("lane", "exit", "lane/exit"),
        ("lane", "lane", "lane"),
        ("lobby", "door", "default"),
    ],
    ids=["zone-wins", "camera", "default"],
)
def test_the_zone_rule_wins_over_the_camera_rule_over_the_default(
    camera_id: str, zone: str, expected: str
) -> None:
    unit = Contact(name="u")
    dispatch = DispatchConfig(
        cameras={"lane": Assignee(unit=unit), "lane/exit": Assignee(unit=Contact(name="x"))},
        default=Assignee(unit=Contact(name="d")),
    )
    found = assignee_for(dispatch, camera_id, zone)
    assert found is not None and found[1] == expected


@pytest.mark.parametrize(
    ("dispatch", "path", "words"),
    [
        (
            {"cameras": {"lanee": {"unit": PROPERTY}}},
            "api.dispatch.cameras.lanee",
            "camera 'lanee' is not configured; did you mean 'lane'?",
        ),
        (
            {"cameras": {"lane/exits": {"unit": PROPERTY}}},
            "api.dispatch.cameras.lane/exits",
            "camera 'lane' has no zone 'exits' (its zones: lane, exit); did you mean 'exit'?",
        ),
        (
            {"cameras": {"lane/exit/x": {"unit": PROPERTY}}},
            "api.dispatch.cameras.lane/exit/x",
            "one slash at most",
        ),
        ({"cameras": {"Lane": {"unit": PROPERTY}}}, "api.dispatch.cameras.Lane", "not a slug"),
        ({"cameras": {"lane": {}}}, "api.dispatch.cameras.lane.unit", "required"),
        (
            {"cameras": {"lane": {"unit": {"name": "x", "phone": "1"}}}},
            "api.dispatch.cameras.lane.unit.phone",
            "",
        ),
        ({"default": {"unit": {"name": ""}}}, "api.dispatch.default.unit.name", ""),
    ],
    ids=["unknown-camera", "unknown-zone", "two-slashes", "not-a-slug", "no-unit", "typo", "empty"],
)
def test_a_bad_mapping_is_reported_at_its_path(dispatch: Any, path: str, words: str) -> None:
    issues = _issues(_data(dispatch))
    assert path in [p for p, _ in issues], issues
    assert any(words in message for p, message in issues if p == path), issues


def test_dispatch_keys_are_checked_when_a_camera_is_invalid_elsewhere() -> None:
    data = _data({"cameras": {"lobby/gate": {"unit": PROPERTY}}})
    data["cameras"]["lane"]["zones"]["lane"]["polygon"] = [[0, 0], [1, 0]]  # too few points
    paths = [path for path, _ in _issues(data)]
    assert "api.dispatch.cameras.lobby/gate" in paths
    assert any(path.startswith("cameras.lane.zones.lane") for path in paths)
