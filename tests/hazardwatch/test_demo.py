"""``hazardwatch demo``'s assets and choice of demo media: the repository's ``assets/`` checked
against its manifest, all three hazards with an assets folder that holds the detector, falling
objects alone (said plainly) without one. No network, no servers, no generator run (but the slow
test at the end)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hazardwatch import demo
from hazardwatch.services import StartupError
from pipelines.assets import PRODUCT_ASSETS_DIR
from pipelines.suite import load_suite


def _assets(root: Path, *, model: bool) -> Path:
    assets = root / "assets"
    (assets / "models").mkdir(parents=True)
    if model:
        (assets / demo.MODEL_FILE).write_bytes(b"onnx")
    return assets


def test_by_default_the_demo_uses_the_repository_assets_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HAZARDWATCH_ASSETS", raising=False)
    assets = demo.demo_assets()
    assert assets == PRODUCT_ASSETS_DIR
    assert demo.plan_media(assets) == (demo.ALL_SCENES, None)


def test_the_environment_variable_points_the_demo_at_other_assets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAZARDWATCH_ASSETS", str(tmp_path / "full"))
    assert demo.demo_assets() == tmp_path / "full"  # no manifest there: not checked


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda folder: (folder / "models" / "yolox_nano_coco_416.onnx").write_bytes(b"junk"),
            "models/yolox_nano_coco_416.onnx: sha256 differs: expected "
            "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14, actual "
            "ef875a1705a5fdac206be996f4dc1f726ea6b68861eb741c37def7277f179e37",  # sha256 of b"junk"
        ),
        (
            lambda folder: (folder / "images" / "coco_val2017" / "000000007816.jpg").unlink(),
            "images/coco_val2017/000000007816.jpg: missing (expected sha256 "
            "00132e042709fc7a66797374a42ff72d493a945d01afe2a48e5a526116a2aabe)",
        ),
    ],
    ids=["changed-model", "missing-photo"],
)
def test_damaged_repository_assets_stop_the_demo_naming_the_file(
    tmp_path: Path, damage: Callable[[Path], object], expected: str
) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(PRODUCT_ASSETS_DIR, copy)
    damage(copy)
    with pytest.raises(StartupError) as info:
        demo.check_product_assets(copy)
    message = str(info.value)
    assert expected in message
    assert "git checkout -- assets" in message and "HAZARDWATCH_ASSETS" in message


def test_with_the_assets_and_the_model_every_scene_is_made(tmp_path: Path) -> None:
    assert demo.plan_media(_assets(tmp_path, model=True)) == (("facade", "lane", "lift"), None)


def test_without_the_assets_only_falling_objects_are_shown(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    scenes, message = demo.plan_media(missing)
    assert scenes == ("facade",)
    assert message == (
        f"the assets (real photos and the detector model) are not at {missing}: "
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
