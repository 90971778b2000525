"""The issue-9 facade variants of the scenario generator: stream timing of real cameras, birds under
combined clutter, a throw in heavy rain (benchmarks/scenarios/timing.py, facade.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from benchmarks.scenarios import facade
from benchmarks.scenarios import generate as gen
from benchmarks.scenarios.errors import ScenarioError
from benchmarks.scenarios.render import render_clip
from benchmarks.scenarios.timing import jittered, lost_and_repeated, remux, vfr_gaps

SEED = 1234


def test_remux_repeats_every_third_frame_and_shows_the_sensor_times() -> None:
    s = remux(1.0, 20, 30, near_repeat=False)
    assert s.frame_count == 30 and s.rate == 30
    assert s.repeats == 10
    repeated = [k for k in range(1, 30) if s.picture[k] == s.picture[k - 1]]
    assert repeated == list(range(1, 30, 3))
    assert all(scene <= pts + 1e-9 for scene, pts in zip(s.scene_s, s.pts_s, strict=True))
    assert sorted(set(s.scene_s)) == [j / 20 for j in range(20)]
    near = remux(1.0, 20, 30, near_repeat=True)
    assert sum(near.reencoded) == 10


def test_losses_jitter_and_gaps() -> None:
    rng = np.random.default_rng(1)
    lost = lost_and_repeated(4.0, 25, rng, rate=0.1, longest=3)
    assert lost.frame_count == 100 and lost.repeats > 0
    assert lost.pts_s == tuple(k / 25 for k in range(100))
    gaps = vfr_gaps(4.0, 25, np.random.default_rng(1), rate=0.1, longest=3)
    assert gaps.frame_count < 100 and gaps.repeats == 0
    assert max(np.diff(gaps.pts_s)) <= 4 / 25 + 1e-9
    jit = jittered(4.0, 25, np.random.default_rng(2), jitter=0.4)
    off = np.array(jit.pts_s) - np.array(jit.scene_s)
    assert np.all(np.diff(jit.pts_s) > 0) and 0.01 < np.abs(off).max() <= 0.4 / 25 + 1e-6


def test_remux_needs_a_slower_sensor() -> None:
    with pytest.raises(ScenarioError, match="sensor_fps < out_fps"):
        remux(1.0, 30, 30, near_repeat=False)


def test_new_variants_leave_the_existing_clips_alone() -> None:
    scenes = gen.make_scenes(SEED, gen.DEFAULT_ASSETS, lambda _: None, scenes=("facade",))
    keys = [e.key for e in gen.facade_catalogue(scenes)]
    assert keys[:35] == [f"facade_fall_{i}" for i in range(22)] + [
        f"facade_neg_{k}" for k in facade.NEGATIVE_KINDS
    ]
    new = keys[35:]
    assert len(new) == 13 and len(set(new)) == 13
    plans = gen.build_plans(scenes, SEED, quick=False, kinds=("facade",))
    by_id = {p.label.clip_id: p for p in plans}
    for variant in facade.TIMING_VARIANTS:
        for speed in ("fast_drop", "throw"):
            plan = by_id[f"facade_timing_{variant}_{speed}"]
            assert plan.schedule is not None and len(plan.label.expected) == 1
    assert not by_id["facade_neg_clutter_birds_glide"].label.expected
    assert not by_id["facade_neg_clutter_birds_arc"].label.expected
    assert len(by_id["facade_fall_heavy_rain_throw"].label.expected) == 1


def test_a_remuxed_clip_decodes_with_its_repeats_and_stamps(tmp_path: Path) -> None:
    scenes = gen.make_scenes(SEED, gen.DEFAULT_ASSETS, lambda _: None, scenes=("facade",))
    entry = next(
        e for e in gen.facade_catalogue(scenes) if e.key == "facade_timing_repeat_every_3rd_fast"
    )
    plan = entry.build(gen.clip_rng(SEED, entry.key))
    assert plan.schedule is not None
    out = tmp_path / "clip.mp4"
    render_clip(plan, out)
    stamps, pictures = [], []
    with av.open(str(out)) as container:
        for frame in container.decode(video=0):
            stamps.append(float(frame.time))
            pictures.append(frame.to_ndarray(format="gray"))
    assert np.allclose(stamps, plan.schedule.pts_s, atol=1e-4)
    change = [float(np.abs(a.astype(np.int16) - b).mean()) for a, b in itertools.pairwise(pictures)]
    # every third frame repeats its picture (up to x264's refinement of the duplicate, and the
    # re-coded keyframe every GOP)
    repeats = [change[k - 1] for k in range(1, len(pictures), 3)]
    assert float(np.median(repeats)) < 0.1 and sum(r > 1.0 for r in repeats) <= 3
