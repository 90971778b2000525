"""``hazardwatch models list --config FILE`` shows which detectors and cameras use each model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from hazardwatch.cli import main
from models.registry import ModelRegistry
from tests.models.model_assets import COCO_NAMES, YOLOX
from tests.pipelines.model_files import ebike_model

POLYGON = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    """A registry holding the lift model, and a config whose lift cameras use a copy of it
    (matched by SHA-256) and whose lane uses YOLOX, which is not registered."""
    store = tmp_path / "store"
    ModelRegistry(store).import_file(ebike_model(tmp_path / "lift.onnx"), name="lift-ebike")
    shutil.copy(tmp_path / "lift.onnx", tmp_path / "deployed_lift.onnx")
    lift = {"polygon": POLYGON}
    data = {
        "site": {"id": "block_a", "name": "Block A"},
        "detector": {
            "model": str(YOLOX),
            "input_size": 416,
            "labels_file": str(COCO_NAMES),
            "classes": {"car": "vehicle"},
        },
        "detectors": {
            "lift": {"model": "deployed_lift.onnx", "input_size": 64, "classes": {"ebike": "ebike"}}
        },
        "cameras": {
            "lane": {
                "source": "lane.mp4",
                "zones": {"lane": lift},
                "hazards": [{"kind": "fire_lane_blocked", "zone": "lane", "dwell_s": 30}],
            },
            **{
                cid: {
                    "source": f"{cid}.mp4",
                    "detect": {"model": "lift"},
                    "zones": {"car": lift},
                    "hazards": [{"kind": "ebike_entry", "zone": "car"}],
                }
                for cid in ("lift_a", "lift_b")
            },
        },
    }
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return store, config


def test_list_shows_the_cameras_of_each_model(
    site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, config = site
    assert main(["models", "list", "--models-dir", str(store), "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("sha256 used by (detector: cameras)")
    assert out[1].startswith("lift-ebike ")
    assert out[1].endswith(" lift: lift_a, lift_b")
    assert out[2:] == [
        f"models of {config} not in the registry:",
        f"  {YOLOX}  default: lane",
    ]


def test_list_json_has_the_uses(
    site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, config = site
    args = ["models", "list", "--models-dir", str(store), "--config", str(config), "--json"]
    assert main(args) == 0
    items = json.loads(capsys.readouterr().out)
    assert [item["name"] for item in items] == ["lift-ebike", None]
    (use,) = items[0]["used_by"]
    assert (use["detector"], use["cameras"]) == ("lift", ["lift_a", "lift_b"])
    assert use["model"] == str(config.parent / "deployed_lift.onnx")
    assert items[1]["registered"] is False
    assert items[1]["used_by"][0]["cameras"] == ["lane"]


def test_list_with_an_invalid_config_says_why(
    site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, config = site
    config.write_text(config.read_text().replace("model: lift", "model: lfit"))
    assert main(["models", "list", "--models-dir", str(store), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "cameras.lift_a.detect.model: camera 'lift_a': detect.model 'lfit'" in err


def test_list_without_config_is_unchanged(
    site: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, _ = site
    assert main(["models", "list", "--models-dir", str(store)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" sha256")
    assert len(out) == 2
