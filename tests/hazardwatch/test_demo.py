"""``hazardwatch demo``'s choice of demo media: all three hazards with the shared assets, falling
objects alone (said plainly) without them. No network, no servers, no generator run."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazardwatch import demo
from pipelines.suite import load_suite


def _assets(root: Path, *, model: bool) -> Path:
    assets = root / "assets"
    (assets / "models").mkdir(parents=True)
    if model:
        (assets / demo.MODEL_FILE).write_bytes(b"onnx")
    return assets


def test_with_the_assets_and_the_model_every_scene_is_made(tmp_path: Path) -> None:
    assert demo.plan_media(_assets(tmp_path, model=True)) == (("facade", "lane", "lift"), None)


def test_without_the_assets_only_falling_objects_are_shown(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    scenes, message = demo.plan_media(missing)
    assert scenes == ("facade",)
    assert message == (
        f"the shared assets (real photos and the detector model) are not at {missing}: "
        "fire-lane and e-bike demos need them and are left out; showing falling objects only"
    )


def test_without_the_model_only_falling_objects_are_shown(tmp_path: Path) -> None:
    assets = _assets(tmp_path, model=False)
    scenes, message = demo.plan_media(assets)
    assert scenes == ("facade",)
    assert message is not None
    assert str(assets / "models" / "yolox_nano_coco_416.onnx") in message
    assert "fire-lane and e-bike demos need them and are left out" in message
    assert message.endswith("showing falling objects only")


def test_a_file_where_the_assets_should_be_counts_as_missing(tmp_path: Path) -> None:
    file = tmp_path / "assets"
    file.write_text("not a directory")
    assert demo.plan_media(file)[0] == ("facade",)


def test_each_scene_set_has_its_own_media_folder(tmp_path: Path) -> None:
    full = demo.media_dir_for(tmp_path, demo.ALL_SCENES)
    alone = demo.media_dir_for(tmp_path, ("facade",))
    assert full == tmp_path / "media" and alone == tmp_path / "media-facade"


@pytest.mark.slow
def test_make_media_without_assets_makes_a_falling_object_suite(tmp_path: Path) -> None:
    # The real generator, run as the demo runs it: no assets, falling objects only.
    media = tmp_path / "media"
    suite_file = demo.make_media(media, ("facade",), None)
    clips = load_suite(suite_file)
    assert clips and all(c.clip_id.startswith("facade_") for c in clips)
    assert any(c.expected for c in clips)
    assert sorted(p.name for p in (media / "configs").iterdir()) == ["facade.yaml"]
