"""The GPU settings of the config reach the runtime: decode.hwaccel, detector.gpu, check-config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cameras.hwdecode import HwAccelKind, HwDecodeRequest, available_hwaccels, usable_hwaccels
from hazardwatch.cli import main
from models.spec import GpuSettings
from pipelines.builders import build_rules, detector_spec, source_settings
from pipelines.config import load_config

REPO = Path(__file__).resolve().parents[2]
FACADE = REPO / "cameras" / "examples" / "falling_object.yaml"
LANE = REPO / "cameras" / "examples" / "fire_lane.yaml"


def _source_hwaccel(path: Path, camera_id: str) -> HwDecodeRequest:
    config = load_config(path)
    camera = config.cameras[camera_id]
    rules = build_rules(camera_id, camera)
    return source_settings(camera_id, camera, rules, camera.source or "").hwaccel


def test_decode_settings_reach_the_source(tmp_path: Path) -> None:
    data = yaml.safe_load(FACADE.read_text())
    data["cameras"]["east_facade"]["decode"] = {"hwaccel": "none", "device": "0"}
    path = tmp_path / "facade.yaml"
    path.write_text(yaml.safe_dump(data))
    assert _source_hwaccel(path, "east_facade") == HwDecodeRequest(HwAccelKind.NONE, "0")
    assert _source_hwaccel(FACADE, "east_facade") == HwDecodeRequest(HwAccelKind.AUTO)


def test_defaults_decode_is_merged_key_by_key(tmp_path: Path) -> None:
    data = yaml.safe_load(FACADE.read_text())
    data["defaults"] = {"decode": {"hwaccel": "none", "device": "1"}}
    data["cameras"]["east_facade"]["decode"] = {"device": "0"}
    path = tmp_path / "facade.yaml"
    path.write_text(yaml.safe_dump(data))
    assert _source_hwaccel(path, "east_facade") == HwDecodeRequest(HwAccelKind.NONE, "0")


def test_detector_gpu_settings_reach_the_spec(tmp_path: Path) -> None:
    data = yaml.safe_load(LANE.read_text())
    data["detector"]["gpu"] = {"device_id": 1, "tensorrt_fp16": True, "engine_cache_dir": "e"}
    path = tmp_path / "lane.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert config.detector is not None
    spec = detector_spec(config.detector, tmp_path)
    assert spec.gpu == GpuSettings(device_id=1, tensorrt_fp16=True, engine_cache_dir=Path("e"))
    default = load_config(LANE).detector
    assert default is not None
    assert detector_spec(default, LANE.parent).gpu == GpuSettings()


def test_check_config_refuses_a_decoder_this_box_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = [k.value for k in HwAccelKind if k.value not in ("none", "auto")]
    missing = [k for k in missing if k not in usable_hwaccels()]
    if not missing:
        pytest.skip("every hardware decoder is usable on this box")
    data = yaml.safe_load(FACADE.read_text())
    data["cameras"]["east_facade"]["decode"] = {"hwaccel": missing[0]}
    path = tmp_path / "facade.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: cameras.east_facade.decode.hwaccel: camera 'east_facade': hwaccel " in err
    assert f"available: {', '.join(available_hwaccels()) or 'none'}" in err or "usable" in err
    data["cameras"]["east_facade"]["enabled"] = False  # not run here: not checked here
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(path)]) == 0
