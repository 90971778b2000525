"""``detectors:`` and ``detect.model``: a detector per camera, validated with dotted paths."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pipelines.config import (
    DEFAULT_DETECTOR,
    ConfigError,
    ConfigIssue,
    HazardwatchConfig,
    parse_config,
)

BASE = """\
site: {id: block_a, name: "Block A"}
detector:
  model: assets/models/yolox_nano_coco_416.onnx
  classes: {car: vehicle, motorbike: ebike, person: person}
detectors:
  lift:
    model: lift_ebike.onnx
    labels: [person, ebike]
    classes: {ebike: ebike, person: person}
cameras:
  lobby:
    source: rtsp://10.0.0.21/ch1
    detect: {model: lift}
    zones:
      car: {polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]}
    hazards:
      - {kind: ebike_entry, zone: car}
  lane:
    source: rtsp://10.0.0.22/ch1
    zones:
      lane: {polygon: [[0.1, 0.3], [0.6, 0.3], [0.9, 0.9], [0.05, 0.9]]}
    hazards:
      - {kind: fire_lane_blocked, zone: lane, dwell_s: 60}
"""


def _data() -> dict[str, Any]:
    data = yaml.safe_load(BASE)
    assert isinstance(data, dict)
    return data


def _parse(data: dict[str, Any]) -> HazardwatchConfig:
    return parse_config(yaml.safe_dump(data, sort_keys=False), "site.yaml")


def _issues(data: dict[str, Any]) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        _parse(data)
    return info.value.errors


def test_each_camera_resolves_its_detector() -> None:
    config = parse_config(BASE, "site.yaml")
    assert config.detector_name("lobby") == "lift"
    assert config.detector_name("lane") == DEFAULT_DETECTOR
    lift = config.detector_of("lobby")
    assert lift is not None and lift.model == "lift_ebike.onnx"
    default = config.detector_of("lane")
    assert default is not None and default.model.endswith("yolox_nano_coco_416.onnx")
    assert list(config.detector_configs()) == ["default", "lift"]


def test_detectors_default_replaces_the_detector_block() -> None:
    data = _data()
    data["detectors"]["default"] = data.pop("detector")
    config = _parse(data)
    assert config.detector is None
    default = config.detector_of("lane")
    assert default is not None and "yolox" in default.model


def test_defaults_detect_model_applies_to_every_camera_that_does_not_set_its_own() -> None:
    data = _data()
    data["defaults"] = {"detect": {"model": "lift", "fps": 4}}
    data["detectors"]["lift"]["classes"]["car"] = "vehicle"
    data["detectors"]["lift"]["labels"].append("car")
    config = _parse(data)
    assert config.detector_name("lane") == "lift"
    assert config.cameras["lane"].detect.fps == 4


def test_detector_and_detectors_default_together_is_an_error() -> None:
    data = _data()
    data["detectors"]["default"] = dict(data["detector"])
    issues = _issues(data)
    assert [i.path for i in issues] == ["detectors.default"]
    assert "given twice, as 'detector' and as 'detectors.default'" in issues[0].message


def test_unknown_detect_model_names_the_camera_the_path_and_the_known_names() -> None:
    data = _data()
    data["cameras"]["lobby"]["detect"]["model"] = "lfit"
    issues = _issues(data)
    assert [i.path for i in issues] == ["cameras.lobby.detect.model"]
    message = issues[0].message
    assert "camera 'lobby'" in message
    assert "detect.model 'lfit' is not a configured detector" in message
    assert "did you mean 'lift'?" in message
    assert "detectors: default, lift" in message


def test_unknown_detect_model_is_reported_with_schema_errors_elsewhere() -> None:
    data = _data()
    data["cameras"]["lobby"]["detect"]["model"] = "nope"
    data["cameras"]["lane"]["colour"] = "red"
    issues = _issues(data)
    paths = [i.path for i in issues]
    assert "cameras.lane.colour" in paths
    assert "cameras.lobby.detect.model" in paths


def test_a_camera_needing_detection_without_a_default_is_told_so() -> None:
    data = _data()
    del data["detector"]
    issues = _issues(data)
    assert [i.path for i in issues] == ["cameras.lane.hazards[0]"]
    assert "camera 'lane': fire_lane_blocked needs object detection" in issues[0].message


def test_roles_are_checked_against_the_detector_each_camera_uses() -> None:
    data = _data()
    data["detectors"]["lift"]["classes"] = {"person": "person"}
    issues = _issues(data)
    assert [i.path for i in issues] == ["detectors.lift.classes"]
    assert "ebike_entry (camera lobby) needs a class mapped to role ebike" in issues[0].message


def test_the_default_detector_need_not_map_what_only_another_detectors_cameras_need() -> None:
    data = _data()
    data["detector"]["classes"] = {"car": "vehicle"}  # no ebike: only the lane uses it
    assert _parse(data).detector_name("lobby") == "lift"


def test_inline_labels_of_a_named_detector_are_checked_with_its_path() -> None:
    data = _data()
    data["detectors"]["lift"]["classes"]["e-bike"] = "ebike"
    issues = _issues(data)
    assert [i.path for i in issues] == ["detectors.lift.classes.e-bike"]
    assert "not one of detectors.lift.labels; did you mean 'ebike'?" in issues[0].message


def test_detector_names_are_slugs() -> None:
    data = _data()
    data["detectors"]["Lift Cam"] = data["detectors"]["lift"]
    issues = _issues(data)
    assert [i.path for i in issues] == ['detectors."Lift Cam"']
    assert "detector name 'Lift Cam' is not a slug" in issues[0].message


def test_an_invalid_detector_block_is_reported_once_not_again_for_its_cameras() -> None:
    data = _data()
    data["detectors"]["lift"]["input_size"] = 8
    issues = _issues(data)
    assert [i.path for i in issues] == ["detectors.lift.input_size"]
