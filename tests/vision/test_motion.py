"""MotionGate: static scenes are quiet, moving things are found where they are, sensor noise and
global light changes are not motion, masked-out areas are ignored, learning follows stream time."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from vision.motion import MotionGate, MotionResult, RecalibrationCause

H_PX, W_PX = 180, 320


def scene(seed: int = 1) -> np.ndarray:
    """A textured static background: 10 px tiles of random grey (float32, H x W)."""
    rng = np.random.default_rng(seed)
    tiles = rng.uniform(60, 180, (H_PX // 10, W_PX // 10))
    return tiles.repeat(10, 0).repeat(10, 1).astype(np.float32)


class Camera:
    """Renders frames of ``scene()`` with optional bright boxes, an offset and sensor noise."""

    def __init__(self, noise_sigma: float = 3.0, seed: int = 2) -> None:
        self.background = scene()
        self.noise_sigma = noise_sigma
        self.rng = np.random.default_rng(seed)

    def frame(
        self, boxes_px: tuple[tuple[int, int, int, int], ...] = (), offset: float = 0.0
    ) -> np.ndarray:
        image = self.background + offset
        for x, y, w, h in boxes_px:
            image[y : y + h, x : x + w] = 235.0
        if self.noise_sigma:
            image = image + self.rng.normal(0.0, self.noise_sigma, image.shape)
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def run_static(
    gate: MotionGate, camera: Camera, seconds: float, fps: float, start_s: float = 0.0
) -> list[MotionResult]:
    results = []
    for k in range(round(seconds * fps)):
        results.append(gate.update(camera.frame(), start_s + k / fps))
    return results


def contains(outer: tuple[float, ...], inner: tuple[float, ...], slack: float = 0.0) -> bool:
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def test_first_frame_recalibrates_and_says_why() -> None:
    result = MotionGate().update(Camera().frame(), 0.0)
    assert result == MotionResult(
        moving=False,
        boxes_norm=(),
        changed_fraction=0.0,
        recalibrated=True,
        cause=RecalibrationCause.FIRST_FRAME,
    )


@pytest.mark.parametrize("noise_sigma", [0.0, 3.0, 5.0], ids=["clean", "sigma-3", "sigma-5"])
def test_static_scene_with_sensor_noise_is_not_moving(noise_sigma: float) -> None:
    gate = MotionGate()
    results = run_static(gate, Camera(noise_sigma), seconds=20, fps=25)
    assert results[0].recalibrated
    assert not any(r.moving or r.recalibrated for r in results[1:])
    assert max(r.changed_fraction for r in results[1:]) < 0.001


def test_moving_box_is_found_with_a_box_around_it_each_frame() -> None:
    gate = MotionGate()
    camera = Camera()
    run_static(gate, camera, seconds=2, fps=25)
    for k in range(25):  # a 16 x 24 px object crossing at 150 px/s
        x, y = 20 + 6 * k, 70
        result = gate.update(camera.frame(((x, y, 16, 24),)), 2.0 + k / 25)
        truth = (x / W_PX, y / H_PX, (x + 16) / W_PX, (y + 24) / H_PX)
        assert result.moving and not result.recalibrated, f"frame {k}"
        assert len(result.boxes_norm) == 1, f"frame {k}: {result.boxes_norm}"
        (box,) = result.boxes_norm
        assert contains(box, truth, slack=0.01), f"frame {k}: {box} vs {truth}"
        assert contains(truth, box, slack=0.03), f"frame {k}: box too large {box}"  # tight
        assert 0.004 < result.changed_fraction < 0.01


def test_two_objects_give_two_boxes_largest_first() -> None:
    gate = MotionGate()
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    result = gate.update(camera.frame(((20, 20, 12, 12), (200, 100, 40, 40))), 1.0)
    assert result.moving and len(result.boxes_norm) == 2
    big, small = result.boxes_norm
    assert contains(big, (200 / W_PX, 100 / H_PX, 240 / W_PX, 140 / H_PX), slack=0.01)
    assert contains(small, (20 / W_PX, 20 / H_PX, 32 / W_PX, 32 / H_PX), slack=0.01)


@pytest.mark.parametrize(
    ("size_px", "moving"),
    [(2, False), (4, False), (8, True)],
    ids=["2px-speck", "4px-speck", "8px-object"],
)
def test_changes_below_the_minimum_area_are_ignored(size_px: int, moving: bool) -> None:
    gate = MotionGate(min_area_norm=0.001)  # 0.1 % of the frame: 57 px at 320 x 180
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    result = gate.update(camera.frame(((100, 100, size_px, size_px),)), 1.0)
    assert result.moving is moving


@pytest.mark.parametrize(
    ("offset", "recalibrated"),
    [(60.0, True), (-45.0, True), (10.0, False)],
    ids=["lights-on", "lights-off", "small-exposure-step"],
)
def test_global_brightness_change_recalibrates_then_is_quiet(
    offset: float, recalibrated: bool
) -> None:
    gate = MotionGate()
    camera = Camera()
    run_static(gate, camera, seconds=2, fps=25)
    jump = gate.update(camera.frame(offset=offset), 2.0)
    assert jump.recalibrated is recalibrated and not jump.moving
    if recalibrated:
        assert jump.cause is RecalibrationCause.GLOBAL_CHANGE and jump.changed_fraction > 0.9
    after = [gate.update(camera.frame(offset=offset), 2.0 + k / 25) for k in range(1, 50)]
    assert not any(r.moving or r.recalibrated for r in after)


def test_camera_shake_recalibrates() -> None:
    gate = MotionGate()
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    camera.background = np.roll(camera.background, (5, 5), axis=(0, 1))  # tiles shift by 5 px
    result = gate.update(camera.frame(), 1.0)
    assert result.recalibrated and result.cause is RecalibrationCause.GLOBAL_CHANGE


def test_motion_after_recalibration_is_found_again() -> None:
    gate = MotionGate()
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    assert gate.update(camera.frame(offset=60), 1.0).recalibrated
    result = gate.update(camera.frame(((100, 60, 20, 20),), offset=60), 1.04)
    assert result.moving and len(result.boxes_norm) == 1


@pytest.mark.parametrize(
    ("box_px", "moving"),
    [((40, 60, 20, 20), True), ((240, 60, 20, 20), False), ((150, 60, 20, 20), True)],
    ids=["inside-mask", "outside-mask", "straddling-mask-edge"],
)
def test_masked_out_motion_is_ignored(box_px: tuple[int, int, int, int], moving: bool) -> None:
    mask = np.zeros((360, 640), np.uint8)  # any size: resized to the working size
    mask[:, :320] = 1  # left half only
    gate = MotionGate(mask=mask)
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    result = gate.update(camera.frame((box_px,)), 1.0)
    assert result.moving is moving
    for box in result.boxes_norm:
        assert box[2] <= 0.5 + 1e-6  # never reports what lies outside the mask


def test_mask_changed_fraction_is_relative_to_the_watched_area() -> None:
    mask = np.zeros((H_PX, W_PX), bool)
    mask[:, :80] = True  # a quarter of the frame
    gate = MotionGate(mask=mask)
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=25)
    # the left third changes: all of the watched quarter; recalibrates although only 1/3 changed
    camera.background[:, :107] += 60
    assert gate.update(camera.frame(), 1.0).recalibrated


@pytest.mark.parametrize("fps", [5.0, 25.0], ids=["5fps", "25fps"])
def test_learning_follows_stream_time_not_frame_count(fps: float) -> None:
    # A box appears and stays: the background absorbs it after the same stream time at any fps.
    gate = MotionGate(background_time_s=2.0)
    camera = Camera()
    run_static(gate, camera, seconds=1, fps=fps)
    quiet_at = None
    for k in range(round(20 * fps)):
        t_s = 1.0 + k / fps
        if not gate.update(camera.frame(((100, 60, 30, 30),)), t_s).moving:
            quiet_at = t_s - 1.0
            break
    # 235 vs a background of ~120: the difference falls below 25 after 2 s * ln(115 / 25) ≈ 3 s
    assert quiet_at is not None
    assert quiet_at == pytest.approx(2.0 * math.log(115 / 25), abs=0.6)


def test_dropped_frames_do_not_slow_learning() -> None:
    # Same stream time, one run with every frame, one with 4 of 5 frames dropped at random.
    results = []
    for keep in (1.0, 0.2):
        gate = MotionGate(background_time_s=2.0)
        camera = Camera(seed=3)
        rng = np.random.default_rng(4)
        run_static(gate, camera, seconds=1, fps=25)
        last_moving = 0.0
        for k in range(250):
            t_s = 1.0 + k / 25
            if k and rng.random() > keep:
                continue
            if gate.update(camera.frame(((100, 60, 30, 30),)), t_s).moving:
                last_moving = t_s
        results.append(last_moving)
    assert results[0] == pytest.approx(results[1], abs=0.5)


def test_frame_size_change_recalibrates() -> None:
    gate = MotionGate()
    gate.update(Camera().frame(), 0.0)
    result = gate.update(np.zeros((90, 160), np.uint8), 0.04)
    assert result.recalibrated and result.cause is RecalibrationCause.SIZE_CHANGE


def test_reset_starts_over() -> None:
    gate = MotionGate()
    camera = Camera()
    gate.update(camera.frame(), 5.0)
    gate.reset()
    result = gate.update(camera.frame(), 0.0)  # earlier time is fine after a reset
    assert result.cause is RecalibrationCause.FIRST_FRAME


# ----- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("luma", "pts_s", "message"),
    [
        (np.zeros((180, 320), np.float32), 1.0, "luma must be a uint8 ndarray, got float32"),
        ([[0, 0], [0, 0]], 1.0, "luma must be a uint8 ndarray, got list"),
        (
            np.zeros((180, 320, 3), np.uint8),
            1.0,
            r"shape \(h, w\) with h, w >= 2, got \(180, 320, 3\)",
        ),
        (np.zeros((1, 320), np.uint8), 1.0, r"got \(1, 320\)"),
        (np.zeros((180, 320), np.uint8), float("inf"), "pts_s must be a finite number"),
        (np.zeros((180, 320), np.uint8), 0.5, "pts_s went backwards: 0.5 after 1.0"),
    ],
    ids=["float-luma", "list-luma", "bgr-image", "one-row", "infinite-pts", "pts-backwards"],
)
def test_update_rejects_bad_input(luma: object, pts_s: float, message: str) -> None:
    gate = MotionGate()
    gate.update(np.zeros((180, 320), np.uint8), 1.0)
    with pytest.raises(ValueError, match=message):
        gate.update(luma, pts_s)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"work_width_px": 8}, "work_width_px must be an int >= 16, got 8"),
        ({"background_time_s": 0.0}, "background_time_s must be > 0 seconds, got 0.0"),
        ({"threshold": 0}, r"threshold must lie in 1..254, got 0"),
        ({"min_area_norm": 1.5}, r"min_area_norm must lie in \[0, 1\), got 1.5"),
        ({"recalibrate_fraction": 0.0}, r"recalibrate_fraction must lie in \(0, 1\], got 0.0"),
        ({"mask": np.zeros((10, 10), np.uint8)}, "mask has no nonzero pixel"),
        ({"mask": np.ones(10, np.uint8)}, r"mask must be a 2-D array, got shape \(10,\)"),
    ],
    ids=[
        "tiny-width",
        "zero-time",
        "zero-threshold",
        "area-above-1",
        "zero-fraction",
        "empty-mask",
        "1d-mask",
    ],
)
def test_constructor_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MotionGate(**kwargs)


# ----- speed --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moving", "budget_us"), [(False, 500), (True, 1500)], ids=["static", "moving"]
)
def test_update_speed_at_320x180(moving: bool, budget_us: float) -> None:
    camera = Camera()
    frames = [camera.frame(((20 + k, 60, 16, 24),) if moving else ()) for k in range(100)]
    best = math.inf
    for _ in range(3):
        gate = MotionGate()
        gate.update(frames[0], 0.0)
        start = time.perf_counter()
        for k in range(1, 1000):
            gate.update(frames[k % 100], k * 0.04)
        best = min(best, (time.perf_counter() - start) / 999 * 1e6)
    print(f"motion gate update at 320x180 ({'moving' if moving else 'static'}): {best:.0f} us")
    assert best < budget_us
