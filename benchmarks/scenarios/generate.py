"""Generate the labelled scenario suite.

    python -m benchmarks.scenarios.generate --out DIR [--seed N] [--quick] [--jobs N]
        [--assets DIR] [--scenes facade,lane,lift] [--force]

Writes ``DIR/clips/*.mp4``, ``DIR/configs/{facade,lane,lift}.yaml``, ``DIR/manifest.yaml`` and,
last, ``DIR/suite.yaml`` (see :mod:`benchmarks.scenarios`). The same seed gives the same clips
and labels (not necessarily the same bytes). When ``DIR`` already holds a complete suite of the
same seed, mode, scene types and generator version, nothing is done. ``--quick`` makes a handful
of clips of each scene type, for smoke tests. ``--scenes`` limits the suite to some scene types
(default all three): the facade scenes need neither assets nor the detector, the lane and lift
scenes need both: ``--assets`` names the folder (default the shared test media, whose labelled
e-bike screenshots the accuracy gate's suite uses; the repository's own ``assets/`` also works,
its lift e-bikes then all come from the COCO motorbike photo).

Exit codes: 0 done, 2 bad input (arguments, missing assets, an unwritable directory).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from benchmarks.scenarios import GENERATOR_VERSION, facade, lane, lift
from benchmarks.scenarios.bank import Backgrounds, SpriteBank, build_sprite_bank
from benchmarks.scenarios.encode import FPS
from benchmarks.scenarios.errors import AssetError, ScenarioError, SuiteFormatError
from benchmarks.scenarios.render import ClipPlan, RenderResult, SceneKind, render_clip
from benchmarks.scenarios.sprites import SpriteChecker
from benchmarks.scenarios.suite import MANIFEST_FILE, SUITE_FILE, read_suite, suite_to_yaml
from models.detector import OnnxDetector
from models.errors import ModelError
from models.spec import DetectorSpec
from pipelines.assets import shared_assets_dir
from pipelines.config import ConfigError, parse_config

# The shared test media (HAZARDWATCH_ASSETS, else <repo>/../shared/assets): the accuracy gate's
# suite uses its labelled e-bike screenshots. The demo passes the repository's assets/ instead.
DEFAULT_ASSETS = shared_assets_dir()
MODEL_FILE = Path("models/yolox_nano_coco_416.onnx")
LABELS_FILE = Path("models/coco80.names")
DETECTOR_CLASSES = {
    "car": "vehicle",
    "truck": "vehicle",
    "bus": "vehicle",
    "motorbike": "ebike",
    "bicycle": "bicycle",
    "person": "person",
}
DEFAULT_SEED = 1234
SITE = {"id": "scenario-suite", "name": "Generated scenario suite"}

Builder = Callable[[np.random.Generator], ClipPlan]
ALL_SCENES: tuple[SceneKind, ...] = tuple(SceneKind)
# the scene types that composite real photos checked with the real detector
DETECTOR_SCENES = frozenset({SceneKind.LANE, SceneKind.LIFT})


def scene_kinds(scenes: Iterable[SceneKind | str]) -> tuple[SceneKind, ...]:
    """The scene types asked for (or a comma list of them), without repeats, in catalogue order
    (facade, lane, lift).

    Raises:
        ValueError: an unknown scene type, or none at all.
    """
    if isinstance(scenes, str):
        scenes = [s for s in scenes.split(",") if s.strip()]
    asked: set[SceneKind] = set()
    for item in scenes:
        try:
            asked.add(SceneKind(item.strip() if isinstance(item, str) else item))
        except ValueError:
            known = ", ".join(k.value for k in SceneKind)
            raise ValueError(f"unknown scene type {item!r} (known: {known})") from None
    if not asked:
        raise ValueError("no scene type asked for")
    return tuple(k for k in SceneKind if k in asked)


def needs_assets(scenes: Iterable[SceneKind]) -> bool:
    """Whether these scene types need an assets folder (real photos and the detector)."""
    return any(kind in DETECTOR_SCENES for kind in scenes)


def clip_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one clip (or background): depends on the seed and the key only,
    so a clip is the same whatever else the suite holds (quick or full)."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


@dataclass(frozen=True, slots=True)
class Entry:
    """One clip of the catalogue: its key, whether the quick suite has it, and its builder."""

    key: str
    quick: bool
    build: Builder


@dataclass(frozen=True, slots=True)
class Scenes:
    """Fixed views of the four cameras and the checked sprites.

    ``backgrounds`` and ``bank`` are None when the lane and lift scenes were not asked for (the
    facade scenes need no photos and no detector).
    """

    geometry: facade.FacadeGeometry
    facade: np.ndarray
    backgrounds: Backgrounds | None = None
    bank: SpriteBank | None = None

    def detector_scenes(self) -> tuple[Backgrounds, SpriteBank]:
        """The backgrounds and sprites of the lane and lift scenes.

        Raises:
            ScenarioError: if they were not made (:func:`make_scenes` without lane or lift).
        """
        if self.backgrounds is None or self.bank is None:
            raise ScenarioError("the lane and lift scenes were not prepared (no sprites)")
        return self.backgrounds, self.bank


def facade_catalogue(scenes: Scenes) -> list[Entry]:
    """22 positives (the last with two objects) and 13 distractor-only negatives; then issue 9's
    10 positives through real stream timing, 2 negatives of birds under combined clutter and a
    throw in heavy rain."""
    geom, image = scenes.geometry, scenes.facade

    def positive(index: int) -> Builder:
        return lambda rng: facade.positive_plan(rng, geom, image, index, second_object=index == 21)

    def negative(kind: str) -> Builder:
        return lambda rng: facade.negative_plan(rng, geom, image, kind)

    entries = [Entry(f"facade_fall_{i}", i < 3, positive(i)) for i in range(22)]
    quick_negatives = ("bird_glide_down", "rain_short")
    entries += [
        Entry(f"facade_neg_{k}", k in quick_negatives, negative(k)) for k in facade.NEGATIVE_KINDS
    ]
    # Issue 9: stream timing of real cameras, birds under combined clutter, a throw in heavy rain.
    # New keys only, so every clip above stays as it was (each clip's generator is its key's).

    def timing(variant: str, fast: bool) -> Builder:
        return lambda rng: facade.timing_plan(rng, geom, image, variant, fast)

    def clutter(birds: str) -> Builder:
        return lambda rng: facade.clutter_plan(rng, geom, image, birds)

    entries += [
        Entry(f"facade_timing_{v}_{'fast' if fast else 'throw'}", False, timing(v, fast))
        for v in facade.TIMING_VARIANTS
        for fast in (True, False)
    ]
    entries += [Entry(f"facade_clutter_{b}", False, clutter(b)) for b in facade.CLUTTER_BIRD_KINDS]
    entries.append(
        Entry(
            "facade_heavy_rain_throw", False, lambda rng: facade.rain_throw_plan(rng, geom, image)
        )
    )
    return entries


def lane_catalogue(scenes: Scenes) -> list[Entry]:
    """7 positives and 6 negatives of the fire lane; then issue 9's vehicles straddling the edges
    of a roughly drawn lane zone (:func:`lane_edge_entries`)."""
    backgrounds, bank = scenes.detector_scenes()
    sprites, image = bank.lane, backgrounds.lane

    def park(clip_id: str, **kw: Any) -> Builder:
        return lambda rng: lane.plan_park(rng, sprites, image, clip_id, **kw)

    entries = [
        Entry("lane_park_truck_01", True, park("lane_park_truck_01", label="truck", leaves=False)),
        Entry("lane_park_leave_02", False, park("lane_park_leave_02", label="car", leaves=True)),
        Entry("lane_park_bus_03", False, park("lane_park_bus_03", label="bus", leaves=False)),
        Entry(
            "lane_park_people_04",
            False,
            park("lane_park_people_04", label=None, leaves=False, walkers=4),
        ),
        Entry(
            "lane_clutter_stay_05",
            False,
            lambda rng: lane.plan_clutter(
                rng, sprites, image, "lane_clutter_stay_05", removed_after_s=None
            ),
        ),
        Entry(
            "lane_two_vehicles_06",
            False,
            lambda rng: lane.plan_two_vehicles(rng, sprites, image, "lane_two_vehicles_06"),
        ),
        Entry(
            "lane_park_passby_07",
            False,
            park("lane_park_passby_07", label="car", leaves=False, passer=True),
        ),
        Entry(
            "lane_pass_01",
            False,
            lambda rng: lane.plan_pass(rng, sprites, image, "lane_pass_01", vehicles=2),
        ),
        Entry(
            "lane_pass_02",
            True,
            lambda rng: lane.plan_pass(rng, sprites, image, "lane_pass_02", vehicles=1),
        ),
        Entry(
            "lane_stop_brief_01",
            False,
            lambda rng: lane.plan_brief_stop(rng, sprites, image, "lane_stop_brief_01", stop_s=4.0),
        ),
        Entry(
            "lane_stop_brief_02",
            False,
            lambda rng: lane.plan_brief_stop(rng, sprites, image, "lane_stop_brief_02", stop_s=6.0),
        ),
        Entry(
            "lane_clutter_removed_01",
            False,
            lambda rng: lane.plan_clutter(
                rng, sprites, image, "lane_clutter_removed_01", removed_after_s=5.0
            ),
        ),
        Entry(
            "lane_people_only_01",
            False,
            lambda rng: lane.plan_people_only(rng, sprites, image, "lane_people_only_01"),
        ),
    ]
    return entries + lane_edge_entries(sprites, image)


def lane_edge_entries(sprites: lane.LaneSprites, image: np.ndarray) -> list[Entry]:
    """Issue 9: 9 vehicles parked across each edge of the rough lane zone (near, far, left,
    right; near and far from the camera, small and large; one with people passing in front) and
    5 negatives (touching it by a sliver, parked in front of it, passing through). New keys
    only: the clips above are unchanged (each clip's generator is its key's)."""
    mid_y, far_y = 0.80 * lane.HEIGHT_PX, 0.70 * lane.HEIGHT_PX

    def straddle(clip_id: str, **kw: Any) -> Builder:
        return lambda rng: lane.plan_straddle(rng, sprites, image, clip_id, **kw)

    specs: list[tuple[str, dict[str, Any]]] = [
        ("lane_edge_near_car_01", {"edge": "near", "inside": 0.75, "scale": 1.0, "label": "car"}),
        (
            "lane_edge_near_truck_02",
            {"edge": "near", "inside": 0.5, "scale": 1.2, "label": "truck"},
        ),
        (
            "lane_edge_near_leave_03",
            {"edge": "near", "inside": 0.6, "scale": 0.9, "leaves": True},
        ),
        ("lane_edge_far_car_04", {"edge": "far", "inside": 0.9, "scale": 0.75, "label": "car"}),
        ("lane_edge_left_car_05", {"edge": "left", "inside": 0.42, "scale": 0.9, "y_px": mid_y}),
        ("lane_edge_left_far_06", {"edge": "left", "inside": 0.45, "scale": 0.7, "y_px": far_y}),
        (
            "lane_edge_right_bus_07",
            {"edge": "right", "inside": 0.42, "scale": 0.85, "y_px": mid_y, "label": "bus"},
        ),
        ("lane_edge_right_far_08", {"edge": "right", "inside": 0.45, "scale": 0.7, "y_px": far_y}),
        (
            "lane_edge_near_people_09",
            {"edge": "near", "inside": 0.55, "scale": 1.0, "label": "car", "walkers": 3},
        ),
        (
            "lane_edge_near_sliver_01",
            {"edge": "near", "inside": 0.06, "scale": 1.0, "positive": False},
        ),
        (
            "lane_edge_left_sliver_02",
            {"edge": "left", "inside": 0.06, "scale": 0.9, "y_px": mid_y, "positive": False},
        ),
        (
            "lane_edge_right_sliver_03",
            {"edge": "right", "inside": 0.06, "scale": 0.8, "y_px": mid_y, "positive": False},
        ),
    ]
    entries = [Entry(key, False, straddle(key, **kw)) for key, kw in specs]
    entries += [
        Entry(
            "lane_edge_in_front_04",
            False,
            lambda rng: lane.plan_rough_in_front(rng, sprites, image, "lane_edge_in_front_04"),
        ),
        Entry(
            "lane_edge_pass_05",
            False,
            lambda rng: lane.plan_rough_pass(rng, sprites, image, "lane_edge_pass_05"),
        ),
    ]
    return entries


def lift_catalogue(scenes: Scenes) -> list[Entry]:
    """5 positives and 5 negatives of the lift car and the stairwell door; then issue 9's e-bikes
    left across the lift car's edge (2 positives, 1 negative)."""
    bg, bank = scenes.detector_scenes()

    def nth(pool: tuple[Any, ...], k: int) -> Any:
        return pool[k % len(pool)]

    def straddle(clip_id: str, k: int, inside: float) -> Entry:
        sprite = nth(bank.lift_ebikes, k)
        return Entry(
            clip_id,
            False,
            lambda rng: lift.plan_lift_straddle(rng, sprite, bg.lift, clip_id, inside=inside),
        )

    edge_entries = [
        straddle("lift_ebike_edge_01", 0, 0.42),
        straddle("lift_ebike_edge_02", 2, 0.36),
        straddle("lift_ebike_edge_touch_01", 1, 0.07),
    ]
    entries = [
        Entry(
            "lift_ebike_enter_01",
            True,
            lambda rng: lift.plan_lift_entry(
                rng, nth(bank.lift_ebikes, 0), bg.lift, "lift_ebike_enter_01"
            ),
        ),
        Entry(
            "lift_ebike_enter_leave_02",
            False,
            lambda rng: lift.plan_lift_entry(
                rng,
                nth(bank.lift_ebikes, 1),
                bg.lift,
                "lift_ebike_enter_leave_02",
                leaves_after_s=4.0,
            ),
        ),
        Entry(
            "lift_ebike_present_03",
            False,
            lambda rng: lift.plan_lift_entry(
                rng, nth(bank.lift_ebikes, 2), bg.lift, "lift_ebike_present_03", already_inside=True
            ),
        ),
        Entry(
            "stair_ebike_in_01",
            False,
            lambda rng: lift.plan_stair(
                rng, nth(bank.stair_ebikes, 0), bg.stair, "stair_ebike_in_01", motion="inward"
            ),
        ),
        Entry(
            "stair_ebike_in_02",
            False,
            lambda rng: lift.plan_stair(
                rng, nth(bank.stair_ebikes, 1), bg.stair, "stair_ebike_in_02", motion="inward"
            ),
        ),
        Entry(
            "lift_person_only_01",
            False,
            lambda rng: lift.plan_lift_entry(
                rng, nth(bank.lift_persons, 0), bg.lift, "lift_person_only_01", is_ebike=False
            ),
        ),
        Entry(
            "stair_person_in_01",
            False,
            lambda rng: lift.plan_stair(
                rng,
                nth(bank.stair_persons, 0),
                bg.stair,
                "stair_person_in_01",
                motion="inward",
                is_ebike=False,
            ),
        ),
        Entry(
            "stair_ebike_pass_by_01",
            False,
            lambda rng: lift.plan_stair(
                rng, nth(bank.stair_ebikes, 2), bg.stair, "stair_ebike_pass_by_01", motion="pass_by"
            ),
        ),
        Entry(
            "stair_ebike_out_01",
            True,
            lambda rng: lift.plan_stair(
                rng, nth(bank.stair_ebikes, 0), bg.stair, "stair_ebike_out_01", motion="outward"
            ),
        ),
        Entry(
            "stair_ebike_approach_01",
            False,
            lambda rng: lift.plan_stair(
                rng,
                nth(bank.stair_ebikes, 1),
                bg.stair,
                "stair_ebike_approach_01",
                motion="approach",
            ),
        ),
    ]
    return entries + edge_entries


def load_detector(assets_dir: Path) -> OnnxDetector:
    """The real detector the suite's configs name (YOLOX-Nano, COCO labels).

    Raises:
        AssetError: if the model or its labels file is missing or cannot be loaded.
    """
    model, labels = assets_dir / MODEL_FILE, assets_dir / LABELS_FILE
    for path in (model, labels):
        if not path.is_file():
            raise AssetError(f"{path} not found: the lane and lift scenes need the real detector")
    try:
        return OnnxDetector(
            DetectorSpec(model=model, input_size=416, labels_file=labels, classes=DETECTOR_CLASSES)
        )
    except ModelError as exc:
        raise AssetError(f"cannot load the detector {model}: {exc}") from exc


def make_scenes(
    seed: int,
    assets_dir: Path,
    log: Callable[[str], None],
    scenes: Iterable[SceneKind | str] = ALL_SCENES,
) -> Scenes:
    """Backgrounds of the four cameras (from the seed) and the sprites checked on them.

    With only the facade scenes asked for, neither the assets nor the detector are touched.

    Raises:
        AssetError: lane or lift asked for and the assets, the model or photos are missing.
    """
    geometry = facade.FacadeGeometry.standard()
    facade_image = facade.background(clip_rng(seed, "facade_background"), geometry)
    if not needs_assets(scene_kinds(scenes)):
        return Scenes(geometry, facade_image)
    if not assets_dir.is_dir():
        raise AssetError(
            f"{assets_dir} is not a directory: the lane and lift scenes need the assets "
            "(real photos and the detector model: the repository's assets/ or the shared test "
            "media)"
        )
    backgrounds = Backgrounds(
        lane=lane.background(clip_rng(seed, "lane_background")),
        lift=lift.lift_background(clip_rng(seed, "lift_background")),
        stair=lift.stair_background(clip_rng(seed, "stair_background")),
    )
    log("checking sprites with the real detector (kept only if found as their own class):")
    checker = SpriteChecker(load_detector(assets_dir))
    bank = build_sprite_bank(assets_dir, checker, backgrounds, log)
    return Scenes(geometry, facade_image, backgrounds, bank)


CATALOGUES: dict[SceneKind, Callable[[Scenes], list[Entry]]] = {
    SceneKind.FACADE: facade_catalogue,
    SceneKind.LANE: lane_catalogue,
    SceneKind.LIFT: lift_catalogue,
}


def build_plans(
    scenes: Scenes, seed: int, quick: bool, kinds: Iterable[SceneKind | str] = ALL_SCENES
) -> list[ClipPlan]:
    """Every clip plan of the suite's scene types, in catalogue order, with its labels."""
    catalogue = [e for kind in scene_kinds(kinds) for e in CATALOGUES[kind](scenes)]
    return [e.build(clip_rng(seed, e.key)) for e in catalogue if e.quick or not quick]


def config_texts(
    scenes: Scenes, assets_dir: Path, kinds: Iterable[SceneKind | str] = ALL_SCENES
) -> dict[SceneKind, str]:
    """The config file of each scene type asked for, checked with the project's config loader.

    Raises:
        ScenarioError: if a generated config does not validate (a generator bug).
    """
    detector = {
        "model": str((assets_dir / MODEL_FILE).resolve()),
        "labels_file": str((assets_dir / LABELS_FILE).resolve()),
        "input_size": 416,
        "family": "yolox",
        "classes": DETECTOR_CLASSES,
    }
    configs: dict[SceneKind, dict[str, Any]] = {
        SceneKind.FACADE: {
            "site": SITE,
            "cameras": {facade.CAMERA_ID: facade.camera_config(scenes.geometry)},
        },
        SceneKind.LANE: {
            "site": SITE,
            "detector": detector,
            "cameras": {
                lane.CAMERA_ID: lane.camera_config(),
                lane.ROUGH_CAMERA_ID: lane.rough_camera_config(),
            },
        },
        SceneKind.LIFT: {
            "site": SITE,
            "detector": detector,
            "cameras": {
                lift.LIFT_CAMERA_ID: lift.lift_camera_config(),
                lift.STAIR_CAMERA_ID: lift.stair_camera_config(),
            },
        },
    }
    texts: dict[SceneKind, str] = {}
    for kind in scene_kinds(kinds):
        body = configs[kind]
        text = (
            f"# Generated by benchmarks.scenarios.generate (v{GENERATOR_VERSION}): {kind} scenes.\n"
        )
        text += yaml.safe_dump(body, sort_keys=False, default_flow_style=None, width=100)
        try:
            parse_config(text, f"configs/{kind}.yaml")
        except ConfigError as exc:
            raise ScenarioError(f"generated config does not validate:\n{exc}") from exc
        texts[kind] = text
    return texts


def is_up_to_date(
    out_dir: Path, seed: int, quick: bool, scenes: Iterable[SceneKind | str] = ALL_SCENES
) -> bool:
    """Whether ``out_dir`` holds a complete suite of this seed, mode, scene types and generator
    version (a manifest that names no scene types was made with all of them)."""
    suite_path, manifest_path = out_dir / SUITE_FILE, out_dir / MANIFEST_FILE
    if not suite_path.is_file() or not manifest_path.is_file():
        return False
    try:
        suite = read_suite(suite_path)
        manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (SuiteFormatError, yaml.YAMLError, OSError):
        return False
    if not isinstance(manifest, dict):
        return False
    wanted = [k.value for k in scene_kinds(scenes)]
    same = (
        suite.seed == seed
        and manifest.get("seed") == seed
        and manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("mode") == ("quick" if quick else "full")
        and manifest.get("scenes", [k.value for k in ALL_SCENES]) == wanted
    )
    return same and all((out_dir / clip.video).is_file() for clip in suite.clips)


def _render_one(job: tuple[ClipPlan, Path]) -> RenderResult:
    plan, path = job
    return render_clip(plan, path)


def render_all(
    plans: Sequence[ClipPlan], clips_dir: Path, jobs: int, log: Callable[[str], None]
) -> list[RenderResult]:
    """Render and encode every plan (in ``jobs`` processes), logging each clip."""
    work = [(plan, clips_dir / f"{plan.label.clip_id}.mp4") for plan in plans]
    results: list[RenderResult] = []

    def report(plan: ClipPlan, result: RenderResult) -> None:
        expected = (
            ", ".join(f"{e.kind.value}@{e.onset_s:.2f}s" for e in plan.label.expected) or "nothing"
        )
        log(
            f"  {result.clip_id:34s} {result.frames:4d} frames {plan.duration_s:5.1f} s "
            f"in {result.elapsed_s:5.2f} s; expects {expected}"
        )
        results.append(result)

    if jobs <= 1:
        for plan, path in work:
            report(plan, render_clip(plan, path))
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for (plan, _), result in zip(work, pool.map(_render_one, work), strict=True):
            report(plan, result)
    return results


def manifest(
    seed: int,
    quick: bool,
    assets_dir: Path,
    plans: Sequence[ClipPlan],
    results: Sequence[RenderResult],
    scenes: Scenes,
    timings: dict[str, float],
    kinds: Iterable[SceneKind | str] = ALL_SCENES,
) -> dict[str, Any]:
    """What the generator made: the cache key, every clip's size and content, sprite checks.

    ``assets`` is null when the scene types asked for need no assets (facade only).
    """
    by_id = {r.clip_id: r for r in results}
    wanted = scene_kinds(kinds)
    return {
        "generator": "benchmarks.scenarios.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "mode": "quick" if quick else "full",
        "scenes": [k.value for k in wanted],
        "assets": str(assets_dir.resolve()) if needs_assets(wanted) else None,
        "fps": FPS,
        "clips": {
            plan.label.clip_id: {
                "scene": plan.scene.value,
                "frames": by_id[plan.label.clip_id].frames,
                "width": by_id[plan.label.clip_id].width_px,
                "height": by_id[plan.label.clip_id].height_px,
                "duration_s": plan.duration_s,
                "notes": plan.notes,
            }
            for plan in plans
        },
        "sprites": [
            {
                "name": c.name,
                "use": c.use,
                "label": c.label,
                "mask": c.mask_style,
                "height_px": c.height_px,
                "kept": c.kept,
                "scores": [round(s, 3) for s in c.scores],
            }
            for c in (scenes.bank.checks if scenes.bank is not None else ())
        ],
        "timing_s": {k: round(v, 2) for k, v in timings.items()},
    }


def summary(plans: Sequence[ClipPlan], kinds: Iterable[SceneKind | str] = ALL_SCENES) -> str:
    """One line per scene type: clips, positives, negatives, seconds of video."""
    lines = []
    for kind in scene_kinds(kinds):
        mine = [p for p in plans if p.scene is kind]
        positives = sum(1 for p in mine if p.label.expected)
        seconds = sum(p.duration_s for p in mine)
        lines.append(
            f"  {kind.value:7s} {len(mine):3d} clips: {positives} positive, "
            f"{len(mine) - positives} negative, {seconds:.0f} s of video"
        )
    return "\n".join(lines)


def generate(
    out_dir: Path,
    seed: int,
    quick: bool,
    *,
    assets_dir: Path = DEFAULT_ASSETS,
    jobs: int = 1,
    force: bool = False,
    log: Callable[[str], None] = print,
    scenes: Iterable[SceneKind | str] = ALL_SCENES,
) -> bool:
    """Write the suite to ``out_dir``; False when it was already up to date (nothing done).

    ``scenes`` limits the suite to some scene types (default all three); the facade scenes need
    no assets and no detector.

    Raises:
        ValueError: an unknown scene type in ``scenes``, or none.
        AssetError: missing assets or model (lane or lift scenes only).
        ScenarioError: a sprite use left empty, a config that does not validate.
        OSError: the directory cannot be written.
    """
    kinds = scene_kinds(scenes)
    partial = "" if kinds == ALL_SCENES else ", " + "+".join(k.value for k in kinds)
    if not force and is_up_to_date(out_dir, seed, quick, kinds):
        log(
            f"{out_dir}: suite (seed {seed}, {'quick' if quick else 'full'}{partial}, "
            f"v{GENERATOR_VERSION}) is up to date; nothing to do"
        )
        return False
    started = time.perf_counter()
    made = make_scenes(seed, assets_dir, log, kinds)
    sprites_s = time.perf_counter() - started
    plans = build_plans(made, seed, quick, kinds)
    texts = config_texts(made, assets_dir, kinds)
    (out_dir / SUITE_FILE).unlink(missing_ok=True)  # the suite is valid again only when complete
    for sub in ("clips", "configs"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
        (out_dir / sub).mkdir(parents=True)
    for kind, text in texts.items():
        (out_dir / "configs" / f"{kind.value}.yaml").write_text(text, encoding="utf-8")
    log(f"rendering {len(plans)} clips into {out_dir / 'clips'}:")
    render_started = time.perf_counter()
    results = render_all(plans, out_dir / "clips", jobs, log)
    render_s = time.perf_counter() - render_started
    timings = {"sprites": sprites_s, "render": render_s, "total": time.perf_counter() - started}
    body = manifest(seed, quick, assets_dir, plans, results, made, timings, kinds)
    (out_dir / MANIFEST_FILE).write_text(
        yaml.safe_dump(body, sort_keys=False, width=100), encoding="utf-8"
    )
    header = (
        f"Generated by benchmarks.scenarios.generate v{GENERATOR_VERSION}, seed {seed}"
        f"{' (quick)' if quick else ''}{f' ({partial[2:]} scenes only)' if partial else ''}. "
        "Ground truth written by the generator; see "
        "benchmarks/scenarios/__init__.py for the format and the scene modules for what "
        "onset_s means in each."
    )
    name = ("generated-quick" if quick else "generated") + (
        "" if not partial else "-" + "-".join(k.value for k in kinds)
    )
    (out_dir / SUITE_FILE).write_text(
        suite_to_yaml(name, seed, [p.label for p in plans], header), encoding="utf-8"
    )
    log(summary(plans, kinds))
    log(
        f"done in {timings['total']:.1f} s (sprites {sprites_s:.1f} s, "
        f"render + encode {render_s:.1f} s)"
    )
    return True


def generate_suite(
    out_dir: Path | str,
    *,
    seed: int = DEFAULT_SEED,
    quick: bool = False,
    assets_dir: Path = DEFAULT_ASSETS,
    jobs: int = 1,
    force: bool = False,
    log: Callable[[str], None] = print,
    scenes: Iterable[SceneKind | str] = ALL_SCENES,
) -> Path:
    """Make sure ``out_dir`` holds the suite of ``seed`` and ``scenes`` (generating it unless it
    is up to date, see :func:`generate`); returns ``out_dir``, ready for ``evaluate_suite``.

    Raises:
        ValueError, AssetError, ScenarioError, OSError: as :func:`generate`.
    """
    kinds = scene_kinds(scenes)  # a bad scene type is refused before anything is made
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    generate(
        directory,
        seed,
        quick,
        assets_dir=assets_dir,
        jobs=jobs,
        force=force,
        log=log,
        scenes=kinds,
    )
    return directory


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenarios.generate",
        description="Generate the labelled scenario suite (clips, configs, suite.yaml).",
    )
    parser.add_argument("--out", type=Path, required=True, help="suite directory to write")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (>= 0)")
    parser.add_argument("--quick", action="store_true", help="a few clips per scene type")
    parser.add_argument("--jobs", type=int, default=1, help="rendering processes (default 1)")
    parser.add_argument(
        "--assets",
        type=Path,
        default=DEFAULT_ASSETS,
        help="assets folder: real photos and the detector model (default the shared test "
        f"media, {DEFAULT_ASSETS}; the repository's assets/ also works)",
    )
    parser.add_argument(
        "--scenes",
        default=",".join(k.value for k in ALL_SCENES),
        help="comma list of scene types to make (default all: facade,lane,lift); "
        "facade alone needs no assets and no detector",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit code (0 ok, 2 bad input)."""
    args = parse_args(argv)
    if args.seed < 0 or args.seed >= 2**32:
        print(f"error: --seed must be in 0..{2**32 - 1}, got {args.seed}", file=sys.stderr)
        return 2
    if not 1 <= args.jobs <= 16:
        print(f"error: --jobs must be in 1..16, got {args.jobs}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} exists and is not a directory", file=sys.stderr)
        return 2
    try:
        kinds = scene_kinds(args.scenes)
    except ValueError as exc:
        print(f"error: --scenes {args.scenes!r}: {exc}", file=sys.stderr)
        return 2
    if needs_assets(kinds) and not args.assets.is_dir():
        print(
            f"error: --assets {args.assets} is not a directory (an assets folder is "
            "needed for the real photos and the detector of the lane and lift scenes; "
            "--scenes facade needs none)",
            file=sys.stderr,
        )
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        generate(
            args.out,
            args.seed,
            args.quick,
            assets_dir=args.assets,
            jobs=args.jobs,
            force=args.force,
            scenes=kinds,
        )
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the suite to {args.out}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
