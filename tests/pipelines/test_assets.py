"""The repository's own assets (pinned, licensed, small) and the manifest check that guards them."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipelines.assets import (
    MANIFEST_FILE,
    PRODUCT_ASSETS_DIR,
    AssetIntegrityError,
    check_assets,
    demo_assets_dir,
    read_manifest,
    shared_assets_dir,
    verify_assets,
)

REPO = Path(__file__).resolve().parents[2]
MAX_ASSETS_BYTES = 15 * 1000 * 1000
YOLOX_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the repository's assets/ -------------------------------------------------------------------


def test_the_repository_assets_match_their_manifest_and_nothing_is_unlisted() -> None:
    assert PRODUCT_ASSETS_DIR == REPO / "assets"
    mismatches = check_assets(PRODUCT_ASSETS_DIR, complete=True)
    assert not mismatches, "\n".join(m.describe() for m in mismatches)


def test_the_repository_assets_stay_small() -> None:
    total = sum(p.stat().st_size for p in PRODUCT_ASSETS_DIR.rglob("*") if p.is_file())
    assert total <= MAX_ASSETS_BYTES, f"assets/ holds {total:,} bytes, more than 15 MB"


def test_the_default_detector_is_the_pinned_yolox_nano() -> None:
    assert read_manifest(PRODUCT_ASSETS_DIR)["models/yolox_nano_coco_416.onnx"] == YOLOX_SHA256


@pytest.mark.parametrize(
    ("folder", "notices"),
    [
        ("models", ("NOTICE-yolox-nano.md", "LICENSE-Apache-2.0.txt")),
        ("models", ("NOTICE-coco80-names.md", "LICENSE-BSD-3-Clause-FastestDet.txt")),
        ("images/coco_val2017", ("NOTICE.md",)),
        ("models", ("NOTICE-yolox-nano-lift-ebike.md", "training/yolox_nano_lift_ebike_416.json")),
    ],
    ids=["yolox-nano", "coco80-names", "coco-photos", "lift-ebike"],
)
def test_every_source_has_its_notice(folder: str, notices: tuple[str, ...]) -> None:
    for name in notices:
        assert (PRODUCT_ASSETS_DIR / folder / name).is_file(), f"assets/{folder}/{name} is missing"


def test_each_notice_names_the_hash_of_what_it_covers() -> None:
    pinned = read_manifest(PRODUCT_ASSETS_DIR)
    covered = {
        "models/NOTICE-yolox-nano.md": ["models/yolox_nano_coco_416.onnx"],
        "models/NOTICE-coco80-names.md": ["models/coco80.names"],
        "models/NOTICE-yolox-nano-lift-ebike.md": ["models/yolox_nano_lift_ebike_416.onnx"],
        "images/coco_val2017/NOTICE.md": sorted(
            n for n in pinned if n.startswith("images/coco_val2017/") and n.endswith(".jpg")
        ),
    }
    for notice, files in covered.items():
        text = (PRODUCT_ASSETS_DIR / notice).read_text(encoding="utf-8")
        for name in files:
            assert pinned[name] in text, f"assets/{notice} does not state the sha256 of {name}"


def test_no_file_that_may_not_be_redistributed_is_in_the_repository_assets() -> None:
    names = set(read_manifest(PRODUCT_ASSETS_DIR))
    media = [n for n in names if n.startswith("clips/") or ("ebike" in n and n[:7] != "models/")]
    assert not media, sorted(names)


def test_the_lift_model_derived_from_unlicensed_footage_says_so() -> None:
    """Issue 9 ships a model fine-tuned on third-party lift CCTV without a licence, on purpose and
    with its training manifest; no raw frame of that footage is here (test above), and the NOTICE
    and the training manifest must both say that redistribution is not cleared."""
    names = set(read_manifest(PRODUCT_ASSETS_DIR))
    models = sorted(n for n in names if "ebike" in n and n.endswith(".onnx"))
    assert models == ["models/yolox_nano_lift_ebike_416.onnx"]
    notice = (PRODUCT_ASSETS_DIR / "models/NOTICE-yolox-nano-lift-ebike.md").read_text("utf-8")
    assert "third-party CCTV without a licence" in notice and "not cleared" in notice
    training = (PRODUCT_ASSETS_DIR / "models/training/yolox_nano_lift_ebike_416.json").read_text()
    assert "NOT cleared for redistribution" in training


# --- which folder ---------------------------------------------------------------------------------


def test_without_the_environment_variable_the_demo_uses_the_repository_assets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HAZARDWATCH_ASSETS", raising=False)
    assert demo_assets_dir() == PRODUCT_ASSETS_DIR
    assert shared_assets_dir() == REPO.parent / "shared" / "assets"


def test_the_environment_variable_overrides_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAZARDWATCH_ASSETS", "/srv/full-assets")
    assert demo_assets_dir() == shared_assets_dir() == Path("/srv/full-assets")


# --- the check ------------------------------------------------------------------------------------


def make_folder(root: Path, files: dict[str, bytes], manifest: str | None = None) -> Path:
    folder = root / "assets"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    if manifest is None:
        manifest = "".join(f"{sha(data)}  {name}\n" for name, data in sorted(files.items()))
    folder.mkdir(exist_ok=True)
    (folder / MANIFEST_FILE).write_text(manifest)
    return folder


FILES = {"models/m.onnx": b"model bytes", "images/a.jpg": b"photo bytes"}


def change(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(data)


def remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda folder: None, None),
        (
            change("models/m.onnx", b"other bytes"),
            f"models/m.onnx: sha256 differs: expected {sha(b'model bytes')}, "
            f"actual {sha(b'other bytes')}",
        ),
        (remove("images/a.jpg"), f"images/a.jpg: missing (expected sha256 {sha(b'photo bytes')})"),
    ],
    ids=["intact", "changed-file", "missing-file"],
)
def test_verify_names_the_file_and_both_hashes(
    tmp_path: Path, damage: Callable[[Path], None], expected: str | None
) -> None:
    folder = make_folder(tmp_path, FILES)
    damage(folder)
    if expected is None:
        verify_assets(folder)
        return
    with pytest.raises(AssetIntegrityError) as info:
        verify_assets(folder)
    assert f"{folder} does not match {MANIFEST_FILE} (1 file(s)):" in str(info.value)
    assert expected in str(info.value)


def test_an_unlisted_file_counts_only_when_the_check_is_complete(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, FILES)
    (folder / "models" / "extra.onnx").write_bytes(b"x")
    verify_assets(folder)
    with pytest.raises(AssetIntegrityError, match=r"models/extra\.onnx: not listed in"):
        verify_assets(folder, complete=True)


def test_the_binary_mode_marker_of_sha256sum_is_read(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, FILES, f"{sha(b'model bytes')} *models/m.onnx\n")
    assert read_manifest(folder) == {"models/m.onnx": sha(b"model bytes")}


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        (None, r"MANIFEST\.sha256 not found: the assets cannot be checked"),
        ("abc  models/m.onnx\n", r"MANIFEST\.sha256:1: expected '<64 hex digits>  <path>'"),
        (f"{'0' * 64}  /etc/passwd\n", r":1: path '/etc/passwd' must be relative"),
        (f"{'0' * 64}  ../outside\n", r":1: path '\.\./outside' must be relative"),
        (f"{'0' * 64}  a\n\n{'1' * 64}  a\n", r"MANIFEST\.sha256:3: a is listed twice"),
    ],
    ids=["no-manifest", "short-hash", "absolute-path", "parent-path", "listed-twice"],
)
def test_a_bad_manifest_is_refused_with_file_and_line(
    tmp_path: Path, manifest: str | None, error: str
) -> None:
    folder = make_folder(tmp_path, {"a": b"a"}, manifest or "")
    if manifest is None:
        (folder / MANIFEST_FILE).unlink()
    with pytest.raises(AssetIntegrityError, match=error):
        read_manifest(folder)


def test_a_copy_of_the_repository_assets_with_one_byte_changed_fails(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(PRODUCT_ASSETS_DIR, copy)
    names = copy / "models" / "coco80.names"
    names.write_bytes(names.read_bytes().replace(b"motorbike", b"motorcycle"))
    with pytest.raises(AssetIntegrityError, match=r"models/coco80\.names: sha256 differs"):
        verify_assets(copy)
