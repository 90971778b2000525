"""``check-config`` checks each camera's class mapping against the model that camera uses.

The class names come from real model files: the repository's YOLOX-Nano with its labels file,
and small real ONNX models whose names are in their metadata (JSON, as ``models train`` writes
them, or Ultralytics' dict string), read through onnxruntime's ``custom_metadata_map``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hazardwatch.cli import main
from models.labels import parse_names_metadata
from models.registry import MODELS_DIR_ENV, ModelRegistry
from pipelines.config import parse_config
from pipelines.model_checks import checking_labels, verify_models
from tests.models.model_assets import COCO_NAMES, YOLOX
from tests.pipelines.model_files import ebike_model

POLYGON = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.95], [0.1, 0.95]]


def write_site(tmp_path: Path, lift_classes: dict[str, str], names_style: str = "json") -> Path:
    """A lane on YOLOX (default) and a lift on an e-bike model; returns the config path."""
    ebike_model(tmp_path / "models" / "lift_ebike.onnx", names_style=names_style)
    data = {
        "site": {"id": "block_a", "name": "Block A"},
        "detector": {
            "model": str(YOLOX),
            "input_size": 416,
            "labels_file": str(COCO_NAMES),
            "classes": {"car": "vehicle", "motorbike": "ebike"},
        },
        "detectors": {
            "lift": {"model": "models/lift_ebike.onnx", "input_size": 64, "classes": lift_classes}
        },
        "cameras": {
            "lane": {
                "source": "lane.mp4",
                "zones": {"lane": {"polygon": POLYGON}},
                "hazards": [{"kind": "fire_lane_blocked", "zone": "lane", "dwell_s": 30}],
            },
            "lobby": {
                "source": "lobby.mp4",
                "detect": {"model": "lift"},
                "zones": {"car": {"polygon": POLYGON}},
                "hazards": [{"kind": "ebike_entry", "zone": "car"}],
            },
        },
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("names_style", ["json", "json_dict", "ultralytics"])
def test_a_valid_site_with_two_models_is_ok(
    tmp_path: Path, names_style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_site(tmp_path, {"ebike": "ebike", "person": "person"}, names_style)
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: {path}: 2 cameras (lane, lobby)\n", err


def test_a_class_the_cameras_model_lacks_names_the_camera_the_model_and_the_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_site(tmp_path, {"e-bike": "ebike", "person": "person"})
    assert main(["check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}: cameras.lobby.detect.model: camera 'lobby' (ebike_entry) needs class "
        "'e-bike' (role ebike, mapped in detectors.lift.classes), which the model of detector "
        "'lift' (lift_ebike.onnx) does not have; did you mean 'ebike'? (its classes: person, "
        "ebike)",
        f"{path}: 1 error",
    ]


def test_the_default_models_labels_are_judged_for_the_cameras_that_use_it(
    tmp_path: Path,
) -> None:
    path = write_site(tmp_path, {"ebike": "ebike"})
    # The lane (fire lane) looks at vehicles, bicycles and e-bikes as blockers, not at people:
    # a person class the model lacks is the detector's problem, not the lane's.
    text = path.read_text().replace("motorbike: ebike", "motorbike: ebike\n    persn: person")
    issues = verify_models(parse_config(text, str(path)), checking_labels(tmp_path))
    assert [i.path for i in issues] == ["detector.classes.persn"]
    assert "'persn' is not a class of the model of detector 'default' (yolox_nano_coco_416" in (
        issues[0].message
    )
    assert "did you mean 'person'?" in issues[0].message
    text = text.replace("motorbike: ebike", "motorcycle: ebike")
    issues = verify_models(parse_config(text, str(path)), checking_labels(tmp_path))
    assert [i.path for i in issues] == ["cameras.lane.detect.model", "detector.classes.persn"]
    assert "camera 'lane' (fire_lane_blocked) needs class 'motorcycle' (role ebike" in (
        issues[0].message
    )
    assert "did you mean 'motorbike'?" in issues[0].message


def test_a_model_without_names_needs_labels(tmp_path: Path) -> None:
    path = write_site(tmp_path, {"ebike": "ebike"}, names_style="none")
    issues = verify_models(parse_config(path.read_text(), str(path)), checking_labels(tmp_path))
    assert [i.path for i in issues] == ["detectors.lift.model"]
    assert "has 2 classes and no 'names' metadata" in issues[0].message


def test_a_missing_model_file_is_an_error_at_its_key(tmp_path: Path) -> None:
    path = write_site(tmp_path, {"ebike": "ebike"})
    (tmp_path / "models" / "lift_ebike.onnx").unlink()
    issues = verify_models(parse_config(path.read_text(), str(path)), checking_labels(tmp_path))
    assert [i.path for i in issues] == ["detectors.lift.model"]
    assert issues[0].message.startswith("model file not found: ")


def test_a_registered_model_is_named_by_its_registry_name_with_its_imported_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_site(tmp_path, {"ebike": "ebike", "person": "person"})
    # No names in the file: the registry keeps the names given at import with a labels file.
    bare = ebike_model(tmp_path / "bare.onnx", names_style="none")
    names = tmp_path / "lift.names"
    names.write_text("person\nebike\n")
    store = tmp_path / "store"
    ModelRegistry(store).import_file(bare, name="lift-ebike", labels_file=names)
    monkeypatch.setenv(MODELS_DIR_ENV, str(store))
    path.write_text(path.read_text().replace("models/lift_ebike.onnx", "lift-ebike"))
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
    path.write_text(path.read_text().replace("model: lift-ebike", "model: lift-ebke"))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{path}: detectors.lift.model: no model file lift-ebke, and no ")
    assert "(models there: lift-ebike)" in err[0]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('["person", "e-bike"]', ("person", "e-bike")),
        ('{"0": "person", "1": "e-bike"}', ("person", "e-bike")),
        # A JSON-only escape: read as JSON ("e/bike"), not as a Python literal ("e\/bike").
        ('["person", "e\\/bike"]', ("person", "e/bike")),
        ("{0: 'person', 1: 'e-bike'}", ("person", "e-bike")),
    ],
)
def test_names_metadata_reads_json_and_ultralytics_style(text: str, names: tuple[str, ...]) -> None:
    assert parse_names_metadata(text) == names
