"""The bench's camera streams: one ~60 s loop per camera kind, made once and cached.

Each loop is drawn by the scenario generator (``benchmarks/scenarios``) at 640x360 with the scene's
real sprites, then encoded with FFmpeg as the camera would send it: scaled to the profile's size
with temporal sensor grain (a real camera's noise is what makes a 4 Mbit/s stream cost what it
costs to decode), libx264 at the profile's bitrate, a keyframe every ``gop_s`` and no B-frames.
The substream is the main stream scaled to 640x360 and re-encoded: the same frames with the same
timestamps, as a camera's second encoder sends them.

- lane: a car drives into the fire lane, rests ~12 s (longer than the zone's 10 s dwell: one
  hazard per loop) and leaves while a person walks past in front; something is in view about a
  third of the loop, the rest is the empty lane.
- lift: an e-bike is pushed into the lift car, stays 10 s and is pushed out (one hazard per loop).
- facade: an object falls from a window (one hazard per loop) while foliage sways all the time.

Cameras start at different points of the loop (the run plays files from their start, so each
offset is a stream-copied rotation of the loop, cut at a keyframe; cameras beyond
``OFFSETS`` share rotations). Cache: ``$HAZARDWATCH_BENCH_CACHE`` or ``~/.cache/hazardwatch/bench``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from benchmarks.capacity.profiles import CameraProfile, StreamSpec
from benchmarks.scenarios import GENERATOR_VERSION, facade, lane, lift
from benchmarks.scenarios.errors import AssetError, ScenarioError
from benchmarks.scenarios.generate import clip_rng, make_scenes
from benchmarks.scenarios.render import ClipPlan, SceneKind, render_clip
from benchmarks.scenarios.suite import ClipLabel
from pipelines.assets import demo_assets_dir

MEDIA_VERSION = 1  # bump when the plans or the encoding change: cached media is then remade
LOOP_S = 60.0
OFFSETS = 12  # distinct starting points of the loop
SEED = 2026
CACHE_ENV = "HAZARDWATCH_BENCH_CACHE"
GRAIN = 7  # FFmpeg `noise` strength: temporal sensor grain of a CCTV camera at night-ish gain
LANE_REST_S = 12.0
LIFT_STAY_S = 10.0
FACADE_SPEC_INDEX = 7  # the generator's positive fall with swaying foliage beside it


class MediaError(Exception):
    """The bench's media cannot be made (no FFmpeg, no assets, a generator or encoder failure)."""


@dataclass(frozen=True, slots=True)
class CameraMedia:
    """One camera's files: ``source`` is analysed; ``evidence_source`` (substreams only) is the
    main stream clips are copied from."""

    source: Path
    evidence_source: Path | None
    offset_s: float


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "hazardwatch" / "bench"


def _need_ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError("ffmpeg not found on PATH: the bench encodes its streams with it")
    return ffmpeg


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise MediaError(f"{what} failed (ffmpeg exit {done.returncode}): {done.stderr[-800:]}")


# ----- scene plans (the generator) -----------------------------------------------------------


def _lane_plan(assets: Path) -> ClipPlan:
    scenes = make_scenes(SEED, assets, lambda _: None, ("lane",))
    backgrounds, bank = scenes.detector_scenes()
    rng = clip_rng(SEED, "bench_lane")
    parking = lane.park(
        bank.lane.vehicle(rng, "car"),
        2.0,
        0.5 * lane.WIDTH_PX,
        from_left=True,
        stay_s=LANE_REST_S,
    )
    walker, _ = lane.pass_through(
        bank.lane.person(rng), parking.rest_s + 3.0, 75.0, from_left=False, y_px=lane.NEAR_Y_PX
    )
    label = ClipLabel("bench_lane", "bench_lane.mp4", lane.CONFIG, lane.CAMERA_ID, (), ())
    return ClipPlan(
        label,
        SceneKind.LANE,
        LOOP_S,
        backgrounds.lane,
        [parking.actor, walker],
        noise_seed=int(rng.integers(2**31)),
    )


def _lift_plan(assets: Path) -> ClipPlan:
    scenes = make_scenes(SEED, assets, lambda _: None, ("lift",))
    backgrounds, bank = scenes.detector_scenes()
    rng = clip_rng(SEED, "bench_lift")
    plan = lift.plan_lift_entry(
        rng, bank.lift_ebikes[0], backgrounds.lift, "bench_lift", leaves_after_s=LIFT_STAY_S
    )
    return dataclasses.replace(plan, duration_s=LOOP_S)


def _facade_plan(_: Path) -> ClipPlan:
    scenes = make_scenes(SEED, Path("."), lambda _: None, ("facade",))
    rng = clip_rng(SEED, "bench_facade")
    plan = facade.positive_plan(rng, scenes.geometry, scenes.facade, FACADE_SPEC_INDEX)
    return dataclasses.replace(plan, duration_s=LOOP_S)


PLANS: dict[str, Callable[[Path], ClipPlan]] = {
    "lane": _lane_plan,
    "lift": _lift_plan,
    "facade": _facade_plan,
}


# ----- encoding -------------------------------------------------------------------------------


def _x264(spec: StreamSpec) -> list[str]:
    rate = f"{spec.bitrate_kbps}k"
    return [
        "-r", str(spec.fps), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-g", str(spec.gop_frames), "-keyint_min", str(spec.gop_frames), "-sc_threshold", "0",
        "-bf", "0", "-b:v", rate, "-maxrate", rate, "-bufsize", f"{2 * spec.bitrate_kbps}k",
        "-an", "-movflags", "+faststart",
    ]  # fmt: skip


def encode_stream(source: Path, spec: StreamSpec, target: Path, *, grain: bool) -> Path:
    """``source`` scaled to ``spec`` and encoded as a camera would (see the module docstring)."""
    if target.is_file():
        return target
    ffmpeg = _need_ffmpeg()
    scale = f"scale={spec.width_px}:{spec.height_px}:flags=bicubic"
    filters = f"{scale},noise=alls={GRAIN}:allf=t" if grain else scale
    partial = target.with_name(f".partial-{target.name}")
    command = [ffmpeg, "-loglevel", "error", "-y", "-i", str(source), "-vf", filters]
    _run([*command, *_x264(spec), str(partial)], f"encoding {target.name}")
    partial.rename(target)
    return target


def rotated(clip: Path, offset_s: float) -> Path:
    """``clip`` starting ``offset_s`` into its loop (a keyframe), stream-copied; the clip itself
    for offset 0."""
    if offset_s <= 0:
        return clip
    target = clip.with_name(f"{clip.stem}_at{offset_s:04.1f}s.mp4")
    if target.is_file():
        return target
    ffmpeg = _need_ffmpeg()
    listing = target.with_suffix(".ffconcat")
    name = clip.name.replace("'", "'\\''")
    listing.write_text(
        f"ffconcat version 1.0\nfile '{name}'\ninpoint {offset_s}\n"
        f"file '{name}'\noutpoint {offset_s}\n"
    )
    partial = target.with_name(f".partial-{target.name}")
    _run(
        [ffmpeg, "-loglevel", "error", "-y", "-f", "concat", "-i", str(listing), "-c", "copy",
         "-movflags", "+faststart", str(partial)],
        f"rotating {clip.name} by {offset_s} s",
    )  # fmt: skip
    listing.unlink()
    partial.rename(target)
    return target


def offset_of(index: int, gop_s: float) -> float:
    """Where camera ``index`` starts in the loop: ``OFFSETS`` points spread over it, each on a
    keyframe; consecutive cameras far apart."""
    slot = (index * 5) % OFFSETS  # 5 is coprime with 12: every slot before any repeats
    return round(slot * LOOP_S / OFFSETS / gop_s) * gop_s % LOOP_S


@dataclass(frozen=True, slots=True)
class KindMedia:
    """The encoded loop of one camera kind: main stream, substream, and the scene's facts."""

    kind: str
    main: Path
    sub: Path
    gop_s: float
    facts: dict[str, Any]


def kind_dir(profile: CameraProfile) -> Path:
    main = profile.main
    return (
        cache_dir()
        / f"{profile.name}-g{GENERATOR_VERSION}-m{MEDIA_VERSION}-s{SEED}"
        / (f"{main.size}@{main.fps}-{main.bitrate_kbps}k")
    )


def make_kind(profile: CameraProfile, log: Callable[[str], None]) -> KindMedia:
    """The loop of ``profile``'s camera kind, made unless cached.

    Raises:
        MediaError: FFmpeg or the assets are missing, or the generator failed.
    """
    folder = kind_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    scene = folder.parent / "scene_640x360.mp4"
    if not scene.is_file():
        log(f"bench: drawing the {profile.name} loop ({LOOP_S:.0f} s) with the scenario generator")
        try:
            plan = PLANS[profile.name](demo_assets_dir())
            partial = scene.with_name(f".partial-{scene.name}")
            render_clip(plan, partial)
        except (AssetError, ScenarioError, ValueError, OSError) as exc:
            raise MediaError(f"the {profile.name} loop could not be drawn: {exc}") from exc
        partial.rename(scene)
    main_file = folder / f"main_{profile.main.size}.mp4"
    if not main_file.is_file():
        log(f"bench: encoding the {profile.name} main stream {profile.main.size} "
            f"{profile.main.bitrate_kbps} kbit/s (once)")  # fmt: skip
    main = encode_stream(scene, profile.main, main_file, grain=True)
    sub = encode_stream(main, profile.sub, folder / f"sub_{profile.sub.size}.mp4", grain=False)
    facts_file = folder / "facts.json"
    if not facts_file.is_file():
        facts_file.write_text(json.dumps({"main": probe(main), "sub": probe(sub)}, indent=1))
    facts = json.loads(facts_file.read_text())
    return KindMedia(profile.name, main, sub, profile.main.gop_s, facts)


def probe(path: Path) -> dict[str, Any]:
    """Frames, duration, bitrate and size of a clip's video (PyAV demux, no decode)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        keyframes = sum(1 for p in packets if p.is_keyframe)
        size_bytes = sum(p.size for p in packets)
        fps = float(stream.average_rate or 0)
        duration_s = len(packets) / fps if fps else 0.0
        return {
            "file": path.name,
            "width_px": stream.codec_context.width,
            "height_px": stream.codec_context.height,
            "fps": fps,
            "frames": len(packets),
            "keyframes": keyframes,
            "duration_s": round(duration_s, 3),
            "bitrate_kbps": round(8 * size_bytes / duration_s / 1000, 1) if duration_s else 0.0,
        }


def camera_media(
    kinds: dict[str, KindMedia], profiles: list[CameraProfile], substream: bool
) -> list[CameraMedia]:
    """Each camera's files: its kind's loop rotated to the camera's own offset."""
    out = []
    for index, profile in enumerate(profiles):
        media = kinds[profile.name]
        offset = offset_of(index, media.gop_s)
        main = rotated(media.main, offset)
        if substream:
            out.append(CameraMedia(rotated(media.sub, offset), main, offset))
        else:
            out.append(CameraMedia(main, None, offset))
    return out
