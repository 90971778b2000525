"""The scenario-suite generator: its pieces, a quick suite end to end, and the real-clip labels.

The end-to-end tests generate the quick suite once per module (about 10 s) with the real photos
and the real detector of the shared test media (its labelled e-bike screenshots included): they
are skipped with the reason when those are absent, and fail under CI. The repository's own
``assets/`` (the detector, the COCO photos, no e-bike screenshots) is always there: the tests
that use it need no skip.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from benchmarks.scenarios import GENERATOR_VERSION, facade, lift
from benchmarks.scenarios import generate as gen
from benchmarks.scenarios.encode import FPS, GOP, ClipWriter
from benchmarks.scenarios.errors import AssetError, SuiteFormatError
from benchmarks.scenarios.paths import Ease, Segment
from benchmarks.scenarios.paths import Path as MotionPath
from benchmarks.scenarios.sprites import (
    COCO_VEHICLES,
    MaskStyle,
    Sprite,
    box_iou,
    coco_sources,
    cut_sprite,
)
from benchmarks.scenarios.suite import (
    ASSETS_PLACEHOLDER,
    MANIFEST_FILE,
    SUITE_FILE,
    ExpectedHazard,
    SuiteFile,
    parse_suite,
    read_suite,
    resolve_video,
)
from hazardwatch.demo import DEMO_SEED
from pipelines.assets import PRODUCT_ASSETS_DIR
from pipelines.config import HazardwatchConfig, load_config
from pipelines.derived_clips import Derivation
from pipelines.evaluate import evaluate_suite
from pipelines.suite import load_suite
from tests.support.assets import SHARED_ASSETS, require_shared
from vision.types import HazardKind

REPO = Path(__file__).resolve().parents[2]
ASSETS = SHARED_ASSETS
REAL_CLIPS = REPO / "benchmarks" / "scenarios" / "real_clips.yaml"
SEED = 4321
NEEDED = (
    gen.MODEL_FILE,
    gen.LABELS_FILE,
    Path("images/coco_val2017/000000009769.jpg"),
    Path("images/ebike_elevator_labeled/labels"),
)
LATENCY_S = {
    ("fire_lane_blocked", "lane"): 15.0,
    ("ebike_entry", "lift_car"): 2.0,
    ("ebike_entry", "stair_door"): 1.5,
    ("falling_object", "facade"): 2.0,
}


def stream_time_s(item: av.VideoFrame | av.Packet) -> float:
    """Stream time of a decoded frame or a packet, in seconds."""
    assert item.pts is not None and item.time_base is not None, "no timestamp"
    return float(item.pts * item.time_base)


def need_assets() -> None:
    require_shared([ASSETS / p for p in NEEDED], "the quick suite with the e-bike screenshots")


# --- pieces, no assets needed ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_norm", "floor"),
    [
        (0.02, None),  # sky above the top line
        (0.05, 16),  # top visible floor
        (0.0975, 15),  # just below a line: the band below it
        (0.50, 10),
        (0.95, 5),  # lowest visible floor
        (0.97, None),  # below the last line
    ],
    ids=["above-lines", "top-band", "just-below-a-line", "middle", "bottom-band", "below-lines"],
)
def test_facade_floor_at_y(y_norm: float, floor: int | None) -> None:
    geom = facade.FacadeGeometry.standard()
    assert geom.floor_at_y(y_norm * geom.height_px) == floor


def test_facade_floor_lines_shrink_upwards_and_match_the_config() -> None:
    geom = facade.FacadeGeometry.standard()
    heights = np.diff(geom.lines_norm)
    assert len(geom.lines_norm) == facade.VISIBLE_FLOORS + 1
    assert (heights > 0).all() and (np.diff(heights) > 0).all()
    floors = facade.camera_config(geom)["floors"]
    assert isinstance(floors, dict)
    top = floors["lowest_visible_floor"] + len(floors["lines"]) - 2
    assert (geom.floor_of_band(0), geom.floor_of_band(geom.visible_floors - 1)) == (top, 5)


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("index", range(9), ids=lambda i: f"clip{i + 1}")
def test_fall_physics_and_origin_floor(index: int, seed: int) -> None:
    geom = facade.FacadeGeometry.standard()
    spec = facade.fall_spec(index, geom)
    obj = facade.make_fall(np.random.default_rng([seed, index]), geom, spec, onset_s=1.0)
    # before the onset it is on the sill; after it, y'' is the constant acceleration
    assert obj.position(0.5) == obj.start_px
    t = np.array([1.3, 1.5, 1.7])
    y = np.array([obj.position(float(v))[1] for v in t])
    assert (y[2] - 2 * y[1] + y[0]) / 0.2**2 == pytest.approx(obj.accel_px_s2, rel=1e-6)
    assert 80 <= obj.accel_px_s2 <= 320
    # the highest point is in the start window's floor band: that is the labelled floor
    assert geom.floor_at_y(obj.apex_y_px()) == geom.floor_of_band(spec.band)
    # it falls through at least min_drop_floors and leaves the frame inside it horizontally
    exit_s = obj.time_at_y(geom.height_px)
    lowest = geom.floor_at_y(geom.height_px * geom.lines_norm[-1] - 1)
    assert lowest is not None
    assert geom.floor_of_band(spec.band) - lowest >= facade.MIN_DROP_FLOORS
    assert 0 <= obj.position(exit_s)[0] <= geom.width_px
    if spec.throw == "upward":
        assert obj.velocity_px_s[1] < 0 and obj.apex_y_px() < obj.start_px[1]


@pytest.mark.parametrize(
    ("ease", "u", "expected"),
    [
        (Ease.LINEAR, 0.5, 0.5),
        (Ease.IN, 0.5, 0.25),
        (Ease.OUT, 0.5, 0.75),
        (Ease.IN_OUT, 0.5, 0.5),
        (Ease.OUT, 1.0, 1.0),
        (Ease.IN, 0.0, 0.0),
    ],
    ids=["linear-mid", "in-mid", "out-mid", "inout-mid", "out-end", "in-start"],
)
def test_segment_easing(ease: Ease, u: float, expected: float) -> None:
    segment = Segment(2.0, 4.0, (0.0, 10.0), (100.0, 10.0), ease)
    assert segment.at(2.0 + 2.0 * u) == pytest.approx((100.0 * expected, 10.0))


def test_ease_out_comes_to_rest_at_its_end() -> None:
    segment = Segment(0.0, 3.0, (0.0, 0.0), (300.0, 0.0), Ease.OUT)
    speed_end = (segment.at(3.0)[0] - segment.at(2.99)[0]) / 0.01
    speed_start = (segment.at(0.01)[0] - segment.at(0.0)[0]) / 0.01
    assert speed_end < 1.5 and speed_start == pytest.approx(200.0, rel=0.01)


@pytest.mark.parametrize(
    ("t_s", "expected"),
    [(0.5, None), (1.0, (0.0, 0.0)), (5.0, (100.0, 0.0)), (8.9, (100.0, 0.0)), (9.0, None)],
    ids=["before-visible", "first-instant", "holds-after-segment", "still-held", "gone"],
)
def test_path_visibility_and_hold(t_s: float, expected: tuple[float, float] | None) -> None:
    path = MotionPath([Segment(1.0, 3.0, (0.0, 0.0), (100.0, 0.0))], visible_until_s=9.0)
    assert path.at(t_s) == expected


def test_path_refuses_overlapping_segments() -> None:
    a = Segment(0.0, 2.0, (0.0, 0.0), (1.0, 0.0))
    b = Segment(1.5, 3.0, (1.0, 0.0), (2.0, 0.0))
    with pytest.raises(ValueError, match=r"overlaps the one ending at 2.0 s"):
        MotionPath([a, b])


def _square_sprite(size: int = 20) -> Sprite:
    bgr = np.full((size, size, 3), 200, np.uint8)
    alpha = np.ones((size, size), np.float32)
    return Sprite("square", "test", bgr, alpha, MaskStyle.FEATHER, (0, 0, size, size))


@pytest.mark.parametrize(
    ("x_center", "y_bottom", "visible"),
    [
        (50.0, 60.0, (40, 40, 60, 60)),
        (5.0, 60.0, (0, 40, 15, 60)),
        (50.0, 75.0, (40, 55, 60, 64)),
        (-30.0, 60.0, None),
        (50.0, 100.0, None),
    ],
    ids=["inside", "off-left", "off-bottom", "left-of-frame", "below-frame"],
)
def test_sprite_paste_clips_to_the_frame(
    x_center: float, y_bottom: float, visible: tuple[int, int, int, int] | None
) -> None:
    frame = np.zeros((64, 96, 3), np.uint8)
    box = _square_sprite().paste(frame, x_center, y_bottom)
    assert box == visible
    changed = np.argwhere(frame.any(axis=2))
    if visible is None:
        assert changed.size == 0
    else:
        x1, y1, x2, y2 = visible
        assert changed[:, 0].min() == y1 and changed[:, 0].max() == y2 - 1
        assert changed[:, 1].min() == x1 and changed[:, 1].max() == x2 - 1
        assert (frame[y1:y2, x1:x2] == 200).all()


def test_sprite_keeps_its_object_box_through_resize_and_mirror() -> None:
    bgr = np.zeros((40, 60, 3), np.uint8)
    sprite = Sprite(
        "s", "car", bgr, np.ones((40, 60), np.float32), MaskStyle.FEATHER, (10, 5, 40, 35)
    )
    half = sprite.resized(15)
    assert (half.width_px, half.height_px) == (15, 15)
    assert sprite.mirrored().object_xyxy == (20, 5, 50, 35)
    assert sprite.box_at(100.0, 50.0) == (85, 20, 115, 50)


@pytest.mark.parametrize(
    ("point_norm", "in_car", "past_line"),
    [
        ((0.10, 0.90), False, False),
        ((0.50, 0.90), True, False),
        ((0.50, 0.55), True, True),
        ((0.50, 0.45), False, True),
        ((0.20, 0.55), False, False),
        ((0.50, 0.63), True, False),
    ],
    ids=["lobby", "car-floor", "car-and-past-line", "above-car", "beside-door", "just-before-line"],
)
def test_lift_zone_geometry(point_norm: tuple[float, float], in_car: bool, past_line: bool) -> None:
    point = (point_norm[0] * lift.WIDTH_PX, point_norm[1] * lift.HEIGHT_PX)
    assert lift.in_lift(point) is in_car
    assert lift.inward_of_line(point) is past_line


def test_clip_writer_timing_and_keyframes(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with ClipWriter(path, 64, 48) as writer:
        for i in range(2 * GOP + 5):
            writer.write(np.full((48, 64, 3), i % 256, np.uint8))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == FPS
        packets = [p for p in container.demux(stream) if p.size]
    times = sorted(stream_time_s(p) for p in packets)
    assert times == pytest.approx([i / FPS for i in range(2 * GOP + 5)])
    keys = sorted(round(stream_time_s(p) * FPS) for p in packets if p.is_keyframe)
    assert keys == [0, GOP, 2 * GOP]
    assert not list(tmp_path.glob(".*partial"))


def test_clip_writer_refuses_a_wrong_frame_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    wrong = np.zeros((48, 60, 3), np.uint8)
    message = r"expected uint8 \(48, 64, 3\), got uint8 \(48, 60, 3\)"
    with pytest.raises(ValueError, match=message), ClipWriter(path, 64, 48) as writer:
        writer.write(wrong)
    assert not path.exists() and not list(tmp_path.iterdir())


_GOOD_CLIP = (
    "{id: a, video: clips/a.mp4, config: configs/f.yaml, camera: cam, tags: [x], expected: "
)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("suite: s\nseed: 1\nclips: []\n", None),
        ("- 1\n", "the top level must be a mapping"),
        ("suite: s\nseed: 1\n", "missing 'clips'"),
        ("suite: s\nseed: x\nclips: []\n", "seed: expected an integer or null"),
        ("suite: s\nclips: [" + _GOOD_CLIP + "[], extra: 1}]\n", "clips[0]: unknown keys"),
        (
            "suite: s\nclips: [" + _GOOD_CLIP + "[{kind: boom, zone: z, onset_s: 1, "
            "max_latency_s: 1}]}]\n",
            "clips[0].expected[0].kind: unknown kind 'boom'",
        ),
        (
            "suite: s\nclips: [" + _GOOD_CLIP + "[{kind: falling_object, zone: z, onset_s: 1, "
            "max_latency_s: 2}]}]\n",
            "clips[0].expected[0].origin_floor: needed for kind falling_object",
        ),
        (
            "suite: s\nclips: [" + _GOOD_CLIP + "[{kind: ebike_entry, zone: z, onset_s: 3, "
            "end_s: 2, max_latency_s: 2}]}]\n",
            "clips[0].expected[0].end_s: must be after onset_s (3.0), got 2.0",
        ),
        (
            "suite: s\nclips: [" + _GOOD_CLIP + "[]}, " + _GOOD_CLIP + "[]}]\n",
            "ids must be unique, repeated: ['a']",
        ),
        (
            "suite: s\nclips: [{id: A, video: v, config: c, camera: cam, tags: [], "
            "expected: []}]\n",
            "clips[0].id: must be a slug, got 'A'",
        ),
    ],
    ids=[
        "minimal-ok",
        "not-a-mapping",
        "no-clips",
        "bad-seed",
        "unknown-clip-key",
        "unknown-kind",
        "falling-without-floor",
        "end-before-onset",
        "duplicate-id",
        "id-not-a-slug",
    ],
)
def test_parse_suite_names_the_bad_value(text: str, error: str | None) -> None:
    if error is None:
        assert parse_suite(text, "s.yaml") == SuiteFile("s", 1, ())
        return
    with pytest.raises(SuiteFormatError) as info:
        parse_suite(text, "s.yaml")
    assert str(info.value).startswith("s.yaml: ")
    assert error in str(info.value)


def test_resolve_video_substitutes_the_assets_dir(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assert resolve_video(tmp_path, f"{ASSETS_PLACEHOLDER}/clips/a.mp4", assets) == (
        assets / "clips" / "a.mp4"
    )
    assert resolve_video(tmp_path, "clips/b.mp4", assets) == tmp_path / "clips" / "b.mp4"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "-1"], "--seed must be in 0.."),
        (["--jobs", "0"], "--jobs must be in 1..16"),
        (["--assets", "/nonexistent/assets"], "is not a directory"),
        (["--scenes", "lane", "--assets", "/nonexistent/assets"], "is not a directory"),
        (["--scenes", "facade,boat"], "unknown scene type 'boat' (known: facade, lane, lift)"),
        (["--scenes", ","], "no scene type asked for"),
    ],
    ids=[
        "negative-seed",
        "zero-jobs",
        "missing-assets",
        "lane-without-assets",
        "bad-scene",
        "no-scene",
    ],
)
def test_cli_bad_input_exits_2(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen.main(["--out", str(tmp_path / "suite"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "suite").exists()


def test_cli_out_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    assert gen.main(["--out", str(file)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_scene_kinds_are_deduplicated_in_catalogue_order() -> None:
    assert gen.scene_kinds(["lift", "facade", "lift"]) == (gen.SceneKind.FACADE, gen.SceneKind.LIFT)
    assert gen.scene_kinds(" lane , facade") == (gen.SceneKind.FACADE, gen.SceneKind.LANE)
    assert gen.scene_kinds(gen.ALL_SCENES) == tuple(gen.SceneKind)
    assert not gen.needs_assets(gen.scene_kinds("facade"))
    assert gen.needs_assets(gen.scene_kinds("facade,lift"))


# --- facade scenes alone: no assets, no detector -------------------------------------------------


def test_facade_only_suite_needs_no_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_detector(assets_dir: Path) -> None:
        raise AssertionError("the detector must not be loaded for the facade scenes alone")

    monkeypatch.setattr(gen, "load_detector", no_detector)
    no_assets = tmp_path / "no-assets"
    out = gen.generate_suite(
        tmp_path / "suite",
        seed=SEED,
        quick=True,
        scenes=("facade",),
        assets_dir=no_assets,
        log=lambda line: None,
    )
    assert not no_assets.exists()
    assert sorted(p.name for p in (out / "configs").iterdir()) == ["facade.yaml"]
    clips = load_suite(out)
    assert clips and all(c.clip_id.startswith("facade_") for c in clips)
    assert {c.config for c in clips} == {out / "configs" / "facade.yaml"}
    assert any(c.expected for c in clips) and any(not c.expected for c in clips)
    assert all(c.video.is_file() for c in clips)
    assert sorted(p.name for p in (out / "clips").iterdir()) == sorted(
        f"{c.clip_id}.mp4" for c in clips
    )
    config = load_config(out / "configs" / "facade.yaml")
    assert config.detector is None and set(config.cameras) == {facade.CAMERA_ID}
    manifest = yaml.safe_load((out / MANIFEST_FILE).read_text())
    assert manifest["scenes"] == ["facade"] and manifest["assets"] is None
    assert manifest["sprites"] == []
    # up to date for the facade alone, not for a request of every scene (nor of the lane)
    assert gen.is_up_to_date(out, SEED, quick=True, scenes=("facade",))
    assert not gen.is_up_to_date(out, SEED, quick=True)
    assert not gen.is_up_to_date(out, SEED, quick=True, scenes=("facade", "lane"))
    scenes = gen.make_scenes(SEED, no_assets, lambda line: None, scenes=("facade",))
    assert scenes.bank is None and scenes.backgrounds is None
    with pytest.raises(gen.ScenarioError, match="lane and lift scenes were not prepared"):
        gen.build_plans(scenes, SEED, quick=True)


@pytest.mark.parametrize("scenes", [("lane",), ("facade", "lift"), gen.ALL_SCENES], ids=str)
def test_detector_scenes_without_assets_raise_a_clear_asset_error(
    tmp_path: Path, scenes: tuple[str, ...]
) -> None:
    no_assets = tmp_path / "no-assets"
    with pytest.raises(AssetError, match=r"no-assets is not a directory: the lane and lift"):
        gen.generate_suite(
            tmp_path / "suite", quick=True, scenes=scenes, assets_dir=no_assets, log=lambda _: None
        )
    assert not (tmp_path / "suite" / SUITE_FILE).exists()
    assert not (tmp_path / "suite" / "clips").exists()


def test_detector_scenes_without_the_model_raise_a_clear_asset_error(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    with pytest.raises(AssetError, match=r"yolox_nano_coco_416.onnx not found: the lane and lift"):
        gen.generate_suite(
            tmp_path / "suite", quick=True, scenes="lift", assets_dir=assets, log=lambda _: None
        )


def test_unknown_scene_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown scene type 'roof'"):
        gen.generate_suite(tmp_path / "suite", quick=True, scenes=("facade", "roof"))
    assert not (tmp_path / "suite").exists()


# --- the real detector on a composited frame -----------------------------------------------------


def test_composited_vehicle_is_detected_by_the_real_detector() -> None:
    from benchmarks.scenarios import lane

    detector = gen.load_detector(PRODUCT_ASSETS_DIR)
    source = coco_sources(PRODUCT_ASSETS_DIR, COCO_VEHICLES)[0]
    sprite = cut_sprite(source, MaskStyle.FEATHER)
    assert sprite is not None
    sprite = sprite.resized(lane.VEHICLE_HEIGHT_PX[source.label])
    frame = lane.background(np.random.default_rng(1))
    box = sprite.paste(frame, 0.5 * lane.WIDTH_PX, lane.VEHICLE_Y_PX)
    assert box is not None
    found = detector.detect([frame])[0]
    matches = [
        (detector.labels[int(c)], float(s))
        for xyxy, s, c in zip(found.xyxy, found.confidence, found.class_id, strict=True)
        if box_iou(box, xyxy) >= 0.5
    ]
    assert "truck" in {name for name, _ in matches}, matches


# --- the repository's assets: no e-bike screenshots, the COCO motorbike instead ------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lift_scenes_from_the_repository_assets_use_the_coco_motorbike(tmp_path: Path) -> None:
    # What the demo does in a clone without the shared test media: the e-bike screenshots may not
    # be redistributed, so the lift's e-bike is the COCO motorbike, and it must still be found.
    assert not (PRODUCT_ASSETS_DIR / "images" / "ebike_elevator_labeled").exists()
    lines: list[str] = []
    out = gen.generate_suite(
        tmp_path / "suite",
        seed=DEMO_SEED,
        quick=True,
        scenes="lift",
        assets_dir=PRODUCT_ASSETS_DIR,
        log=lines.append,
    )
    assert any("no labelled e-bike screenshots" in line for line in lines), lines
    manifest = yaml.safe_load((out / MANIFEST_FILE).read_text())
    ebikes = [s for s in manifest["sprites"] if s["label"] == "motorbike"]
    assert {(s["name"], s["use"], s["kept"]) for s in ebikes} == {
        ("motorbike_7816_racer", "lift", True),
        ("motorbike_7816_racer", "stairwell", True),
    }
    report = evaluate_suite([out])
    lift_clips = [c for c in report.clips if c["id"].startswith("lift_ebike")]
    assert lift_clips and all(c["matched"] == c["expected"] == 1 for c in lift_clips), lift_clips
    assert report.metrics["ebike_entry"]["recall"] == 1.0
    assert report.metrics["ebike_entry"]["false_positives"] == 0


# --- a quick suite, end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    need_assets()
    out = tmp_path_factory.mktemp("quick-suite")
    lines: list[str] = []
    assert gen.generate(out, SEED, quick=True, assets_dir=ASSETS, log=lines.append)
    return out, lines


def _configs(out: Path, suite: SuiteFile) -> dict[str, HazardwatchConfig]:
    return {c.config: load_config(out / c.config) for c in suite.clips}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_suite_covers_every_scene(quick_suite: tuple[Path, list[str]]) -> None:
    out, lines = quick_suite
    suite = read_suite(out / SUITE_FILE)
    assert suite.seed == SEED and suite.name == "generated-quick"
    for config in ("configs/facade.yaml", "configs/lane.yaml", "configs/lift.yaml"):
        mine = [c for c in suite.clips if c.config == config]
        assert any(c.expected for c in mine) and any(not c.expected for c in mine), config
    kept = [line for line in lines if line.strip().startswith("kept")]
    dropped = [line for line in lines if line.strip().startswith("dropped")]
    assert kept and dropped  # the detector check ran and kept only some sprites
    assert any("as truck" in line for line in kept)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_suite_configs_load_and_labels_match_them(
    quick_suite: tuple[Path, list[str]],
) -> None:
    out, _ = quick_suite
    suite = read_suite(out / SUITE_FILE)
    configs = _configs(out, suite)
    assert set(configs) == {"configs/facade.yaml", "configs/lane.yaml", "configs/lift.yaml"}
    for clip in suite.clips:
        camera = configs[clip.config].cameras[clip.camera]
        for item in clip.expected:
            assert item.zone in camera.zones, clip.clip_id
            kinds = {h.kind for h in camera.hazards if h.zone == item.zone}
            assert item.kind in kinds, clip.clip_id
            assert item.max_latency_s == LATENCY_S[(item.kind.value, item.zone)]
    detector = configs["configs/lane.yaml"].detector
    assert detector is not None and Path(detector.model).is_absolute()
    assert Path(detector.model).is_file()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_suite_clips_decode_as_stated(quick_suite: tuple[Path, list[str]]) -> None:
    out, _ = quick_suite
    suite = read_suite(out / SUITE_FILE)
    manifest = yaml.safe_load((out / MANIFEST_FILE).read_text())
    assert manifest["generator_version"] == GENERATOR_VERSION and manifest["mode"] == "quick"
    for clip in suite.clips:
        stated = manifest["clips"][clip.clip_id]
        with av.open(str(out / clip.video)) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == Fraction(manifest["fps"]) == FPS
            times = [stream_time_s(f) for f in container.decode(stream)]
            size = (stream.codec_context.width, stream.codec_context.height)
        assert len(times) == stated["frames"] == round(stated["duration_s"] * FPS), clip.clip_id
        assert times == pytest.approx([i / FPS for i in range(len(times))]), clip.clip_id
        assert size == (stated["width"], stated["height"]) == (640, 360)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_suite_labels_are_consistent(quick_suite: tuple[Path, list[str]]) -> None:
    out, _ = quick_suite
    suite = read_suite(out / SUITE_FILE)
    manifest = yaml.safe_load((out / MANIFEST_FILE).read_text())
    configs = _configs(out, suite)
    for clip in suite.clips:
        duration = manifest["clips"][clip.clip_id]["duration_s"]
        for item in clip.expected:
            assert 0.0 <= item.onset_s < duration, clip.clip_id
            assert item.end_s is None or item.onset_s < item.end_s <= duration, clip.clip_id
            if item.kind is HazardKind.FALLING_OBJECT:
                floors = configs[clip.config].cameras[clip.camera].floors
                assert floors is not None and item.origin_floor is not None
                top = floors.lowest_visible_floor + len(floors.lines) - 2
                assert floors.lowest_visible_floor <= item.origin_floor <= top
            if item.kind is HazardKind.FIRE_LANE_BLOCKED:
                # the blockage must outlast dwell_s, or it would not be a positive
                end = duration if item.end_s is None else item.end_s
                assert end - item.onset_s > 10.0, clip.clip_id


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_same_seed_same_labels_and_content(quick_suite: tuple[Path, list[str]]) -> None:
    out, _ = quick_suite
    suite = read_suite(out / SUITE_FILE)
    scenes = gen.make_scenes(SEED, ASSETS, lambda line: None)
    plans = gen.build_plans(scenes, SEED, quick=True)
    assert [p.label.to_dict() for p in plans] == [c.to_dict() for c in suite.clips]
    again = gen.build_plans(scenes, SEED, quick=True)
    for first, second in zip(plans, again, strict=True):
        k = first.frame_count // 2
        assert np.array_equal(first.render_frame(k), second.render_frame(k)), first.label.clip_id
    other = gen.build_plans(scenes, SEED + 1, quick=True)
    assert [p.label for p in other] != [p.label for p in plans]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_facade_only_suite_has_the_facade_clips_of_the_full_one(
    quick_suite: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out, _ = quick_suite
    full = read_suite(out / SUITE_FILE)
    alone = read_suite(
        gen.generate_suite(tmp_path, seed=SEED, quick=True, scenes="facade", log=lambda line: None)
        / SUITE_FILE
    )
    assert [c.to_dict() for c in alone.clips] == [
        c.to_dict() for c in full.clips if c.config == "configs/facade.yaml"
    ]
    assert (tmp_path / "configs" / "facade.yaml").read_text() == (
        out / "configs" / "facade.yaml"
    ).read_text()
    manifest = yaml.safe_load((out / MANIFEST_FILE).read_text())
    assert manifest["scenes"] == ["facade", "lane", "lift"]
    assert not gen.is_up_to_date(out, SEED, quick=True, scenes="facade")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cache_skips_an_up_to_date_suite(quick_suite: tuple[Path, list[str]]) -> None:
    out, _ = quick_suite
    before = (out / SUITE_FILE).stat().st_mtime_ns
    lines: list[str] = []
    assert not gen.generate(out, SEED, quick=True, assets_dir=ASSETS, log=lines.append)
    assert "up to date" in lines[0] and (out / SUITE_FILE).stat().st_mtime_ns == before
    assert not gen.is_up_to_date(out, SEED + 1, quick=True)
    assert not gen.is_up_to_date(out, SEED, quick=False)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_parked_vehicle_is_detected_in_the_encoded_clip(
    quick_suite: tuple[Path, list[str]],
) -> None:
    out, _ = quick_suite
    suite = read_suite(out / SUITE_FILE)
    clip = next(c for c in suite.clips if c.clip_id == "lane_park_truck_01")
    at_rest = clip.expected[0].onset_s + 2.0
    with av.open(str(out / clip.video)) as container:
        frame = next(
            f.to_ndarray(format="bgr24")
            for f in container.decode(video=0)
            if stream_time_s(f) >= at_rest
        )
    detector = gen.load_detector(ASSETS)
    found = detector.detect([frame])[0]
    names = {detector.labels[int(c)] for c in found.class_id}
    assert names & {"car", "truck", "bus"}, names


# --- hand labels of the real clips ---------------------------------------------------------------


def test_real_clips_labels_and_configs() -> None:
    suite = read_suite(REAL_CLIPS)
    originals = {c.clip_id: c for c in suite.clips if not c.derive}
    assert set(originals) == {
        "real_office3_paper_fall",
        "real_office1_fast_crossing",
        "real_lift_ebike_entry",
        "real_aboda_bag_left",
        "real_people_only_lift_rule",
    }
    # each derived entry is its original under one real-camera condition, labels unchanged
    derived = [c for c in suite.clips if c.derive]
    for clip in derived:
        source = originals[clip.clip_id.removesuffix("_" + clip.derive[-1].value)]
        assert (clip.video, clip.config, clip.camera, clip.expected) == (
            source.video,
            source.config,
            source.camera,
            source.expected,
        ), clip.clip_id
        assert "derived" in clip.tags
    for original in ("real_office3_paper_fall", "real_aboda_bag_left"):
        conditions = {c.derive for c in derived if c.clip_id.startswith(original + "_")}
        assert conditions == {(d,) for d in Derivation}, original
    for clip in suite.clips:
        assert clip.video.startswith(ASSETS_PLACEHOLDER + "/clips/"), clip.clip_id
        camera = load_config(REAL_CLIPS.parent / clip.config).cameras[clip.camera]
        for item in clip.expected:
            assert item.zone in camera.zones
            assert item.kind in {h.kind for h in camera.hazards if h.zone == item.zone}
    office3 = next(c for c in suite.clips if c.clip_id == "real_office3_paper_fall")
    assert office3.expected == (
        ExpectedHazard(HazardKind.FALLING_OBJECT, "facade", 4.104, 2.0, None, 4),
    )
    assert office3.expected[0].onset_s == pytest.approx(123 / 29.97, abs=1e-3)
    office1 = next(c for c in suite.clips if c.clip_id == "real_office1_fast_crossing")
    assert {"ambiguous", "report_only"} <= set(office1.tags)  # never gated
    assert [round(e.onset_s * 29.97) for e in office1.expected] == [210, 217]  # the roof drops


def test_real_clip_origin_floor_follows_the_floor_lines() -> None:
    config = load_config(REAL_CLIPS.parent / "real_configs" / "office_facade.yaml")
    floors = config.cameras["office_facade"].floors
    assert floors is not None
    y_norm = 137 / 720  # first point of the paper's trajectory (README §3.1)
    band = next(
        i for i in range(len(floors.lines) - 1) if floors.lines[i] <= y_norm < floors.lines[i + 1]
    )
    assert floors.lowest_visible_floor + len(floors.lines) - 2 - band == 4


def test_real_clip_videos_hold_their_onsets() -> None:
    suite = read_suite(REAL_CLIPS)
    paths = {c.clip_id: resolve_video(REAL_CLIPS.parent, c.video, ASSETS) for c in suite.clips}
    require_shared(paths.values(), "checking the real clips' onsets")
    for clip in suite.clips:
        path = paths[clip.clip_id]
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            rate = stream.average_rate
            assert rate is not None, f"{path}: no frame rate"
            duration = frames / float(rate)
        for item in clip.expected:
            assert 0 < item.onset_s < duration, clip.clip_id
            assert math.isfinite(item.max_latency_s)
