"""Cameras on the same model share one detector (one onnxruntime session), per model not per camera.

Real sessions: the repository's YOLOX-Nano and a small real ONNX model with class names in its
metadata, built as the live service builds them (``BatchingDetector.from_spec``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from hazardwatch.services import StartupError, detector_pool, make_detector_source
from models.batching import BatchingDetector
from models.detector import Detector, OnnxDetector
from models.errors import LabelMappingError
from models.spec import DetectorSpec
from pipelines.config import HazardwatchConfig, parse_config
from pipelines.detector_pool import DetectorPool
from pipelines.replay import DetectorCache
from tests.models.model_assets import COCO_NAMES, YOLOX
from tests.pipelines.model_files import ebike_model

LIFT_POLYGON = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]


def site(tmp_path: Path, **changes: object) -> HazardwatchConfig:
    """Three cameras on two models: the lane on YOLOX (the default), two lifts on the e-bike
    model, one through a second detector name that differs only in its class mapping."""
    lift_model = ebike_model(tmp_path / "lift_ebike.onnx")
    data: dict = {
        "site": {"id": "block_a", "name": "Block A"},
        "detector": {
            "model": str(YOLOX),
            "input_size": 416,
            "labels_file": str(COCO_NAMES),
            "classes": {"car": "vehicle", "motorbike": "ebike"},
        },
        "detectors": {
            "lift": {
                "model": str(lift_model),
                "input_size": 64,
                "classes": {"ebike": "ebike", "person": "person"},
            },
            "lift_strict": {
                "model": str(lift_model),
                "input_size": 64,
                "classes": {"ebike": "ebike"},
            },
        },
        "cameras": {
            "lane": {
                "source": "lane.mp4",
                "zones": {"lane": {"polygon": LIFT_POLYGON}},
                "hazards": [{"kind": "fire_lane_blocked", "zone": "lane", "dwell_s": 30}],
            },
            "lift_a": {
                "source": "a.mp4",
                "detect": {"model": "lift"},
                "zones": {"car": {"polygon": LIFT_POLYGON}},
                "hazards": [{"kind": "ebike_entry", "zone": "car"}],
            },
            "lift_b": {
                "source": "b.mp4",
                "detect": {"model": "lift_strict"},
                "zones": {"car": {"polygon": LIFT_POLYGON}},
                "hazards": [{"kind": "ebike_entry", "zone": "car"}],
            },
        },
    }
    for key, value in changes.items():
        name, field = key.split("__")
        data["detectors"][name][field] = value
    return parse_config(yaml.safe_dump(data), "site.yaml")


class Counting:
    """The live builder, counting the sessions it opens."""

    def __init__(self) -> None:
        self.built: list[DetectorSpec] = []

    def __call__(self, spec: DetectorSpec) -> Detector:
        self.built.append(spec)
        return BatchingDetector.from_spec(spec)


@pytest.fixture
def counting_pool() -> Iterator[tuple[DetectorPool, Counting]]:
    builder = Counting()
    pool = DetectorPool(build=builder)
    yield pool, builder
    pool.close()


def test_three_cameras_on_two_models_open_two_sessions(
    tmp_path: Path, counting_pool: tuple[DetectorPool, Counting]
) -> None:
    pool, builder = counting_pool
    config = site(tmp_path)
    detector_for = make_detector_source(config, tmp_path, pool)
    detectors = {cid: detector_for(cid) for cid in config.cameras}
    assert len(builder.built) == 2
    assert pool.sessions_built == 2
    assert detectors["lift_a"] is detectors["lift_b"]
    assert detectors["lane"] is not detectors["lift_a"]
    sessions = set()
    for detector in detectors.values():
        assert isinstance(detector, BatchingDetector)
        inner = detector.detector
        assert isinstance(inner, OnnxDetector)
        sessions.add(id(inner.session))
    assert len(sessions) == 2
    # Both lift cameras' frames go through the one session, each its own answer.
    lift = detectors["lift_a"]
    assert lift is not None and lift.labels == ("person", "ebike")
    (found,) = lift.detect([np.zeros((120, 160, 3), np.uint8)])
    assert [lift.labels[int(c)] for c in found.class_id] == ["ebike"]


def test_other_settings_on_the_same_file_get_their_own_session(
    tmp_path: Path, counting_pool: tuple[DetectorPool, Counting]
) -> None:
    pool, builder = counting_pool
    config = site(tmp_path, lift_strict__score_threshold=0.8)
    detector_for = make_detector_source(config, tmp_path, pool)
    assert detector_for("lift_a") is not detector_for("lift_b")
    assert len(builder.built) == 3


def test_a_shared_session_still_checks_each_names_mapping(tmp_path: Path) -> None:
    config = site(tmp_path, lift_strict__classes={"ebike": "ebike", "bicycle": "bicycle"})
    pool = DetectorPool()
    pool.for_camera(config, "lift_a", tmp_path)
    with pytest.raises(LabelMappingError, match=r"'bicycle'.*its labels are: person, ebike"):
        pool.for_camera(config, "lift_b", tmp_path)


def test_start_up_names_the_camera_and_class_its_model_lacks(tmp_path: Path) -> None:
    config = site(tmp_path, lift_strict__classes={"e-bike": "ebike"})
    pool = detector_pool()
    try:
        with pytest.raises(StartupError) as info:
            make_detector_source(config, tmp_path, pool)
    finally:
        pool.close()
    message = str(info.value)
    assert "cameras.lift_b.detect.model: camera 'lift_b' (ebike_entry) needs class 'e-bike'" in (
        message
    )
    assert "detector 'lift_strict' (lift_ebike.onnx) does not have; did you mean 'ebike'?" in (
        message
    )


def test_replay_cache_shares_sessions_between_cameras_too(tmp_path: Path) -> None:
    config = site(tmp_path)
    cache = DetectorCache()
    a = cache.for_camera(config, "lift_a", tmp_path)
    b = cache.for_camera(config, "lift_b", tmp_path)
    assert a is b and isinstance(a, OnnxDetector)
    assert cache.sessions_built == 1
