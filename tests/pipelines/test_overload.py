"""The overload policy: detect rates thinned by priority while a process lags, restored after."""

from __future__ import annotations

import pytest

from pipelines.overload import (
    MAX_LEVEL,
    OverloadGovernor,
    OverloadSettings,
    Priority,
    percentile,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(governor: OverloadGovernor, clock: Clock, seconds: float, lag_s: float, **kw: bool) -> int:
    """Frames at 25 per second of one camera with ``lag_s``; returns the last level."""
    level = governor.level
    for _ in range(round(seconds * 25)):
        clock.now += 0.04
        level = governor.report(lag_s, **kw)
    return level


def test_no_lag_no_change() -> None:
    clock = Clock()
    governor = OverloadGovernor(monotonic=clock)
    assert feed(governor, clock, 30, 0.05) == 0
    for priority in Priority:
        assert governor.detect_fps(5.0, priority) == 5.0


def test_lag_raises_the_level_and_low_priority_is_thinned_first() -> None:
    clock = Clock()
    governor = OverloadGovernor(monotonic=clock)
    assert feed(governor, clock, 1.5, 0.9) == 1
    assert governor.detect_fps(5.0, Priority.LOW) == 2.5
    assert governor.detect_fps(5.0, Priority.NORMAL) == 5.0
    assert governor.detect_fps(5.0, Priority.HIGH) == 5.0
    assert feed(governor, clock, 1.0, 0.9) == 2
    assert governor.detect_fps(5.0, Priority.LOW) == 1.25
    assert governor.detect_fps(5.0, Priority.NORMAL) == 2.5
    assert governor.detect_fps(5.0, Priority.HIGH) == 5.0
    assert feed(governor, clock, 10, 0.9) == MAX_LEVEL
    # Never below the floor (1 fps), never above what is configured.
    assert governor.detect_fps(5.0, Priority.LOW) == 1.0
    assert governor.detect_fps(0.5, Priority.LOW) == 0.5


def test_a_dropped_frame_raises_the_level_even_with_a_small_lag() -> None:
    clock = Clock()
    governor = OverloadGovernor(monotonic=clock)
    clock.now += 1.1
    assert governor.report(0.05, dropped=True) == 1


def test_calm_lowers_the_level_one_step_at_a_time() -> None:
    clock = Clock()
    governor = OverloadGovernor(monotonic=clock)
    feed(governor, clock, 3, 0.9)
    raised = governor.level
    assert raised >= 2
    # The lag window (2 s) must empty before the calm (5 s) starts counting.
    assert feed(governor, clock, 4, 0.05) == raised
    assert feed(governor, clock, 5, 0.05) == raised - 1
    assert feed(governor, clock, 5.5, 0.05) == raised - 2


def test_a_lag_between_the_marks_holds_the_level() -> None:
    clock = Clock()
    governor = OverloadGovernor(monotonic=clock)
    assert feed(governor, clock, 1.04, 0.9) == 1  # one decision, then lags between the marks
    assert feed(governor, clock, 30, 0.3) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low_lag_s": 0.6, "high_lag_s": 0.5},
        {"low_lag_s": 0.0},
        {"window_s": 0.0},
        {"min_detect_fps": -1.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="OverloadSettings"):
        OverloadSettings(**kwargs)


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([3.0], 95) == 3.0
