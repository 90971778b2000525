"""StaticForeground: synthetic luma sequences with known objects and known timestamps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import pytest

from vision.background import StaticForeground

H, W = 90, 160
OBJECT = (60, 40, 20, 20)  # x, y, size, (gray drawn below)


@dataclass(frozen=True)
class Scene:
    """What is in front of a fixed textured background at time t."""

    objects: Callable[[float], list[tuple[int, int, int, int]]] = field(default=lambda t: [])
    gain: Callable[[float], float] = field(default=lambda t: 1.0)
    noise: float = 3.0


def background() -> np.ndarray:
    rng = np.random.default_rng(1)
    texture = rng.integers(40, 200, (H, W)).astype(np.float32)
    return cv2.GaussianBlur(texture, (0, 0), 2)


def render(scene: Scene, t: float, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frame = base * scene.gain(t) + rng.normal(0, scene.noise, base.shape)
    for x, y, size, gray in scene.objects(t):
        frame[y : y + size, x : x + size] = gray
    return np.clip(frame, 0, 255).astype(np.uint8)


def run(
    scene: Scene, duration_s: float, fps: float = 5.0, **kwargs: Any
) -> tuple[list[tuple[float, np.ndarray]], StaticForeground]:
    model = StaticForeground(**kwargs)
    base, rng = background(), np.random.default_rng(2)
    masks = []
    for i in range(round(duration_s * fps)):
        t = i / fps
        masks.append((t, model.update(render(scene, t, base, rng), t)))
    return masks, model


def static_times(masks: list[tuple[float, np.ndarray]]) -> list[float]:
    return [t for t, mask in masks if mask.any()]


def object_at(x0: int, gray: int = 230) -> tuple[int, int, int, int]:
    return (x0, OBJECT[1], OBJECT[2], gray)


STAYS = Scene(objects=lambda t: [object_at(60)] if t >= 2 else [])
REMOVED = Scene(objects=lambda t: [object_at(60)] if 2 <= t < 20 else [])
DARK_STAYS = Scene(objects=lambda t: [object_at(60, 15)] if t >= 2 else [])
MOVING = Scene(objects=lambda t: [object_at(20 + round(20 * t) % 120)] if t >= 1 else [])
MOVING_SLOW = Scene(objects=lambda t: [object_at(20 + round(10 * t) % 120)] if t >= 1 else [])
NOISE = Scene(noise=8.0)
JUMP = Scene(gain=lambda t: 1.5 if t >= 10 else 1.0)
DUSK = Scene(gain=lambda t: 1.0 - 0.5 * min(t / 30, 1.0))
COLD_START_CLUTTER = Scene(objects=lambda t: [object_at(60)] if t < 10 else [])
OBJECT_DURING_JUMP = Scene(
    objects=lambda t: [object_at(60)] if t >= 2 else [], gain=lambda t: 1.4 if t >= 20 else 1.0
)


# (scene, duration_s, first static time range or None for never, last static time range)
CASES = [
    pytest.param(STAYS, 30.0, (3.0, 6.5), (29.0, 30.0), id="appears-and-stays"),
    pytest.param(DARK_STAYS, 30.0, (3.0, 6.5), (29.0, 30.0), id="dark-object-stays"),
    pytest.param(REMOVED, 30.0, (3.0, 6.5), (19.6, 19.9), id="removed-stops-being-static"),
    pytest.param(MOVING, 30.0, None, None, id="moving-never-static"),
    pytest.param(MOVING_SLOW, 30.0, None, None, id="slow-moving-never-static"),
    pytest.param(NOISE, 60.0, None, None, id="sensor-noise"),
    pytest.param(JUMP, 30.0, None, None, id="illumination-jump"),
    pytest.param(DUSK, 40.0, None, None, id="illumination-drift"),
    pytest.param(COLD_START_CLUTTER, 30.0, None, None, id="cold-start-clutter-removed-ghost"),
]


@pytest.mark.parametrize(("scene", "duration_s", "first_range", "last_range"), CASES)
def test_static_foreground_timeline(
    scene: Scene,
    duration_s: float,
    first_range: tuple[float, float] | None,
    last_range: tuple[float, float] | None,
) -> None:
    masks, _ = run(scene, duration_s)
    times = static_times(masks)
    if first_range is None:
        assert times == [], f"static foreground at {times[:5]}"
        return
    assert times, "never static"
    assert first_range[0] <= times[0] <= first_range[1]
    assert last_range is not None
    assert last_range[0] <= times[-1] <= last_range[1]


def test_static_region_is_the_object_only() -> None:
    masks, model = run(STAYS, 12.0)
    mask = masks[-1][1]
    x, y, size, _ = object_at(60)
    truth = np.zeros((H, W), bool)
    truth[y : y + size, x : x + size] = True
    assert mask[truth].mean() >= 0.95
    assert not mask[~truth].any()
    assert len(model.blobs) == 1
    assert model.blobs[0].xyxy == (x, y, x + size, y + size)


def test_time_constants_are_in_stream_seconds_not_frames() -> None:
    slow, _ = run(STAYS, 12.0, fps=2.0)
    fast, _ = run(STAYS, 12.0, fps=25.0)
    assert abs(static_times(slow)[0] - static_times(fast)[0]) <= 0.6


def test_object_stays_static_longer_than_the_long_time_constant() -> None:
    masks, _ = run(STAYS, 400.0, fps=1.0, long_tau_s=60.0)
    assert masks[-1][1].sum() >= 0.95 * OBJECT[2] ** 2


def test_permanent_change_is_absorbed_after_max_static_s() -> None:
    masks, _ = run(STAYS, 60.0, fps=2.0, max_static_s=20.0)
    times = static_times(masks)
    assert times[0] < 8.0
    assert 20.0 <= times[-1] - times[0] <= 22.0


def test_illumination_jump_reseeds_and_keeps_finding_objects() -> None:
    masks, model = run(OBJECT_DURING_JUMP, 40.0)
    times = static_times(masks)
    assert model.reseeds == 1
    assert [t for t in times if 20.0 <= t < 23.0] == []  # re-seeded: the object is background
    assert times[0] < 7.0


def test_mask_is_read_only_uint8_of_the_input_shape() -> None:
    masks, _ = run(STAYS, 8.0)
    mask = masks[-1][1]
    assert mask.dtype == np.uint8 and mask.shape == (H, W)
    assert set(np.unique(mask)) <= {0, 1}
    with pytest.raises(ValueError):
        mask[0, 0] = 1


def test_repeated_timestamp_returns_the_same_mask() -> None:
    model = StaticForeground()
    frame = np.full((H, W), 100, np.uint8)
    first = model.update(frame, 0.0)
    assert model.update(frame, 0.0) is first


def test_frame_size_change_reseeds() -> None:
    model = StaticForeground()
    model.update(np.full((H, W), 100, np.uint8), 0.0)
    mask = model.update(np.full((45, 80), 100, np.uint8), 0.2)
    assert mask.shape == (45, 80) and not mask.any()
    assert model.shape == (45, 80)


@pytest.mark.parametrize(
    ("luma", "pts_s", "message"),
    [
        pytest.param(np.zeros((H, W), np.float32), 1.0, "2-D uint8", id="float-luma"),
        pytest.param(np.zeros((H, W, 3), np.uint8), 1.0, "2-D uint8", id="colour-image"),
        pytest.param([[0, 1], [2, 3]], 1.0, "2-D uint8", id="not-an-array"),
        pytest.param(np.zeros((2, 2), np.uint8), 1.0, "too small", id="tiny"),
        pytest.param(np.zeros((H, W), np.uint8), float("nan"), "finite", id="nan-pts"),
        pytest.param(np.zeros((H, W), np.uint8), 4.0, "backwards", id="pts-backwards"),
    ],
)
def test_bad_input_is_refused(luma: object, pts_s: float, message: str) -> None:
    model = StaticForeground()
    model.update(np.zeros((H, W), np.uint8), 5.0)
    with pytest.raises(ValueError, match=message):
        model.update(luma, pts_s)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"short_tau_s": 0.0}, "short_tau_s", id="zero-short-tau"),
        pytest.param({"short_tau_s": 10.0, "long_tau_s": 5.0}, "long_tau_s", id="short-over-long"),
        pytest.param({"diff_threshold": 0.0}, "diff_threshold", id="zero-threshold"),
        pytest.param({"min_area_frac": 1.5}, "min_area_frac", id="area-over-one"),
        pytest.param({"reseed_fraction": 0.0}, "reseed_fraction", id="zero-reseed"),
        pytest.param({"max_static_s": -1.0}, "max_static_s", id="negative-max-static"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StaticForeground(**kwargs)


def test_absorb_makes_a_region_background_at_once() -> None:
    masks, model = run(STAYS, 10.0)
    assert masks[-1][1].any()
    x, y, size, _ = object_at(60)
    region = np.zeros((H, W), bool)
    region[y : y + size, x : x + size] = True
    model.absorb(region)
    base, rng = background(), np.random.default_rng(5)
    mask = model.update(render(STAYS, 10.2, base, rng), 10.2)
    assert not mask.any()


def test_ghost_test_can_be_turned_off() -> None:
    masks, model = run(COLD_START_CLUTTER, 20.0, ghost_check_s=None)
    assert static_times(masks)  # the ghost of the removed object stays static
    assert model.ghosts_absorbed == 0


@pytest.mark.parametrize(
    ("region", "message"),
    [
        pytest.param(np.zeros((H, W + 1), bool), "shape", id="wrong-shape"),
    ],
)
def test_absorb_refuses_a_mask_of_another_size(region: np.ndarray, message: str) -> None:
    _, model = run(STAYS, 1.0)
    with pytest.raises(ValueError, match=message):
        model.absorb(region)


def test_absorb_before_any_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="no frame"):
        StaticForeground().absorb(np.zeros((H, W), bool))


# ----- the threshold follows the picture's contrast (IR night mode) -------------------------------


def _day_texture() -> np.ndarray:
    """A daylight street: texture on a left-to-right brightness ramp (luma std about 40)."""
    rng = np.random.default_rng(5)
    texture = cv2.GaussianBlur(rng.integers(20, 236, (H, W)).astype(np.float32), (0, 0), 0.7)
    ramp = np.linspace(-70, 70, W, dtype=np.float32)[None, :]
    return np.clip(0.6 * texture + 50 + ramp, 0, 255)


def _bag_sequence(night: bool, noise: float, duration_s: float = 20.0) -> list[np.ndarray]:
    """A dark bag (25 levels below its ground by day) put down at t=2 and left; at night the
    picture is gray and flat (40 + 0.55 x day), so the bag differs by only ~14 levels."""
    day = _day_texture()
    rng = np.random.default_rng(9)
    frames = []
    for i in range(round(duration_s * 5)):
        picture = day.copy()
        if i / 5 >= 2:
            x, y, size, _ = object_at(60)
            picture[y : y + size, x : x + size] -= 25
        if night:
            picture = 40 + 0.55 * picture
        picture = picture + rng.normal(0, noise, picture.shape)
        frames.append(np.clip(picture, 0, 255).astype(np.uint8))
    return frames


def _static_area(frames: list[np.ndarray], **kwargs: Any) -> tuple[int, StaticForeground]:
    model = StaticForeground(**kwargs)
    mask = np.zeros((H, W), np.uint8)
    for i, frame in enumerate(frames):
        mask = model.update(frame, i / 5)
    return int(mask.sum()), model


def test_dark_bag_at_night_is_found_with_a_contrast_scaled_threshold() -> None:
    area, model = _static_area(_bag_sequence(night=True, noise=1.0))
    assert area >= 0.9 * OBJECT[2] ** 2
    assert 0.4 * 15 <= model.threshold < 0.8 * 15
    fixed, _ = _static_area(_bag_sequence(night=True, noise=1.0), contrast_reference=None)
    assert fixed < 0.5 * OBJECT[2] ** 2  # a fixed threshold of 15 misses most of it


def test_well_lit_scene_keeps_the_configured_threshold() -> None:
    area, model = _static_area(_bag_sequence(night=False, noise=1.0))
    assert model.threshold == 15.0 and area >= 0.9 * OBJECT[2] ** 2


def test_flat_noisy_picture_keeps_its_threshold_above_the_noise() -> None:
    # Night-flat, and noisy (sigma 6): the threshold stays at 3 sigma or more, and the noise
    # never becomes static regions where nothing was put down.
    frames = [f for f in _bag_sequence(night=True, noise=6.0)[:10]] * 6
    area, model = _static_area(frames)
    assert model.threshold >= 3 * 6 * 0.8
    assert area == 0


def test_contrast_reference_is_checked() -> None:
    with pytest.raises(ValueError, match="contrast_reference"):
        StaticForeground(contrast_reference=0.0)
