"""``detector.min_scores``: a higher threshold for one label of a model, so a fine-tuned lift
model runs e-bikes at their operating threshold while people are kept at ``score_threshold``.
A real (tiny) ONNX model whose one detection's score is known, run by onnxruntime."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from models.detector import OnnxDetector
from pipelines.analysis import build_camera_analysis
from pipelines.builders import detector_spec
from pipelines.config import ConfigError, HazardwatchConfig, parse_config
from tests.pipelines.model_files import ebike_model
from vision.types import Frame

POLYGON = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]


def config(model: Path, **block: object) -> HazardwatchConfig:
    data = {
        "site": {"id": "s", "name": "S"},
        "detectors": {
            "lift": {
                "model": str(model),
                "input_size": 64,
                "classes": {"ebike": "ebike", "person": "person"},
                "score_threshold": 0.5,
                **block,
            }
        },
        "cameras": {
            "lift": {
                "source": "a.mp4",
                "detect": {"model": "lift"},
                "zones": {"car": {"polygon": POLYGON}},
                "hazards": [{"kind": "ebike_entry", "zone": "car"}],
            }
        },
    }
    return parse_config(yaml.safe_dump(data), "site.yaml")


def kept(cfg: HazardwatchConfig) -> list[str]:
    """Labels of the detections the camera's rules get from one frame."""
    block = cfg.detector_configs()["lift"]
    detector = OnnxDetector(detector_spec(block, None, "lift"))
    analysis = build_camera_analysis("lift", cfg.cameras["lift"], cfg, detector)
    image = np.full((120, 160, 3), 90, np.uint8)
    analysis.process(Frame("lift", 0, 0.0, datetime(2026, 1, 1, tzinfo=UTC), image))
    assert analysis.last_tracks is not None
    return [detector.labels[int(c)] for c in analysis.last_tracks.detections.class_id]


@pytest.mark.parametrize(
    ("class_name", "score", "min_scores", "expected"),
    [
        ("ebike", 0.8, {}, ["ebike"]),  # above score_threshold
        ("ebike", 0.8, {"ebike": 0.89}, []),  # below the e-bike's own threshold
        ("ebike", 0.95, {"ebike": 0.89}, ["ebike"]),
        ("person", 0.8, {"ebike": 0.89}, ["person"]),  # people keep score_threshold
    ],
)
def test_a_label_has_its_own_threshold(
    tmp_path: Path, class_name: str, score: float, min_scores: dict, expected: list[str]
) -> None:
    model = ebike_model(tmp_path / "m.onnx", class_name=class_name, score=score)
    assert kept(config(model, min_scores=min_scores)) == expected


def test_min_scores_must_name_a_class_and_lie_above_the_threshold(tmp_path: Path) -> None:
    model = ebike_model(tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match=r"min_scores: labels \['ebke'\] are not in 'classes'"):
        config(model, min_scores={"ebke": 0.9})
    with pytest.raises(ConfigError, match=r"below score_threshold \(0.5\) would never apply"):
        config(model, min_scores={"ebike": 0.4})
    with pytest.raises(ConfigError, match="min_scores"):
        config(model, min_scores={"ebike": 1.5})
