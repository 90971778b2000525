"""FpsSampler and StreamClock: time from timestamps, never from frame counts."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from cameras.source import FpsSampler, StreamClock


def kept(fps: float | None, times: list[float]) -> list[float]:
    sampler = FpsSampler(fps)
    return [t for t in times if sampler.accept(t)]


@pytest.mark.parametrize(
    ("fps", "source_fps", "seconds", "expected"),
    [
        (5.0, 25.0, 2.0, 10),
        (None, 25.0, 2.0, 50),
        (100.0, 25.0, 2.0, 50),  # above the stream's rate: every frame
        (1.0, 30.0, 3.0, 3),
        (7.0, 25.0, 4.0, 28),  # the slot grid keeps 7 fps on average from 25
    ],
    ids=["5-of-25", "all", "above-rate", "1-of-30", "uneven"],
)
def test_sampler_counts(
    fps: float | None, source_fps: float, seconds: float, expected: int
) -> None:
    times = [i / source_fps for i in range(int(seconds * source_fps))]
    assert len(kept(fps, times)) == expected


def test_sampler_tolerates_jitter_and_restarts_after_gap() -> None:
    times = [0.0, 0.199, 0.401, 0.598, 5.0, 5.2]
    assert kept(5.0, times) == times


def test_sampler_refuses_bad_fps() -> None:
    with pytest.raises(ValueError, match="fps"):
        FpsSampler(0.0)


def test_clock_starts_at_zero_and_follows_timestamps() -> None:
    clock = StreamClock()
    tb = Fraction(1, 90_000)
    assert clock.frame_time(900_000, tb) == 0.0
    assert clock.frame_time(903_600, tb) == pytest.approx(0.04)


def test_clock_continues_across_reconnect_with_gap() -> None:
    clock = StreamClock()
    tb = Fraction(1, 25)
    for i in range(50):
        clock.frame_time(i, tb)
    clock.new_connection(gap_s=3.0)
    first = clock.frame_time(7, tb)  # the new connection's timestamps start anywhere
    assert first == pytest.approx(49 / 25 + 3.0)
    assert clock.frame_time(8, tb) == pytest.approx(first + 0.04)


@pytest.mark.parametrize("ts_jump", [-40, 10_000], ids=["backwards", "huge-forward"])
def test_clock_rebases_discontinuities(ts_jump: int) -> None:
    clock = StreamClock(max_forward_jump_s=60.0)
    tb = Fraction(1, 25)
    times = [clock.frame_time(i, tb) for i in range(10)]
    times.append(clock.frame_time(10 + ts_jump, tb))
    times.append(clock.frame_time(11 + ts_jump, tb))
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[-1] - times[-3] == pytest.approx(0.08, abs=0.01)


def test_clock_missing_timestamp_is_estimated() -> None:
    clock = StreamClock()
    tb = Fraction(1, 25)
    assert clock.frame_time(None, tb) == 0.0
    assert clock.frame_time(1, tb) > 0.0
