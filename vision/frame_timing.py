"""Which frames are new pictures, and when they were taken: what motion physics must measure on.

Real streams do not deliver one fresh picture every 1/fps seconds (issue 9, §1.1):

* an NVR or transcoder that re-muxes a 20 fps sensor to 30 fps repeats every third picture; one
  that loses frames on the link fills the hole with the last picture it had; a transcoder that
  re-encodes its duplicates adds codec noise to them (a *near* repeat);
* a camera that stamps frames on arrival jitters their timestamps by a good part of an interval.

A repeated picture carries no new information: fed to a tracker it says "the object stood still
for a frame", and then jumped twice as far; at 2 frame heights per second, one repeat at 30 fps
is a 0.07-frame-height error, ten times what a parabola fit tolerates. And a stamp that is 13 ms
off is the same error. So the falling-object analysis runs only on distinct pictures
(:class:`RepeatDetector`) and measures time on the capture clock (:class:`CaptureClock`).

:class:`RepeatDetector` — a frame repeats the last distinct picture when no 4x4 block of its luma
moved by more than ``max_block_shift`` levels on average (signed: codec noise is zero-mean per
block; a re-encoded duplicate at JPEG quality 55 shifts block means by at most ~3 levels, even
over a small bright object that the re-encode smears), nor changed by more than
``max_block_diff`` levels of mean absolute difference; anything that moves, even a 2-pixel object,
shifts the blocks it leaves and enters by tens of levels. A frame in which nothing moved at all is
also called a repeat: it has no new information either. Cost: a subtraction, an absdiff and two
area resizes of the (already small) zone luma, well under a millisecond at 480x270.

:class:`CaptureClock` — sensors take pictures at a constant rate; what breaks is how they are
stamped and which of them arrive. The clock fits a regular grid ``t = phase + k · period`` to the
stamps of the last few seconds of distinct pictures (the period from their mean interval, their
median interval, or their span over the steps between them, whichever leaves the smallest
residuals; the phase from the circular mean of the stamps modulo the period), and gives each
picture the time of its grid slot. That recovers the capture times exactly for a re-muxed sensor
(its pictures appear up to one output frame late, never early), for jittered stamps (up to ±40 %
of an interval) and for lost frames (a gap skips slots). Between fits, a picture takes the
nearest slot after the last one. When no grid fits (two pictures in one slot, or residuals beyond
``max_residual`` of a period: a true variable-rate stream), the stamps are used as they are.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

import cv2
import numpy as np

__all__ = ["CaptureClock", "ClockSettings", "RepeatDetector"]

# No 4x4 block changed by more than this on average (luma levels): whatever the signed test says,
# nothing in the picture moved (an object of 40 levels' contrast and 2 pixels moving changes its
# blocks by 10 or more).
QUIET_BLOCK_DIFF = 5.0


class RepeatDetector:
    """Tells a frame that repeats the last distinct picture (exactly or with codec noise).

    Per 4x4 block of luma, against the last distinct picture: the mean *signed* difference (codec
    noise is zero-mean within a block: encoders keep each block's average, so even a small
    bright object smeared by a re-encode keeps its mass where it was, while an object that moved
    takes its mass away from one block and into another) and the mean *absolute* difference (an
    object moving within one block keeps the block's mass but not its pixels). A frame is a repeat
    when every block's mean absolute difference is within ``max_block_diff`` and either every
    block's mean signed difference is within ``max_block_shift`` or every block is quiet (mean
    absolute difference within :data:`QUIET_BLOCK_DIFF`).

    Args:
        max_block_shift: largest |mean signed difference| (luma levels) of any block of a repeat.
        max_block_diff: largest mean absolute difference (luma levels) of any block of a repeat.
        block_px: block size in pixels of the luma given.

    Raises:
        ValueError: on a threshold that is not finite and >= 0, or a block smaller than 1 pixel.
    """

    def __init__(
        self, max_block_shift: float = 3.0, max_block_diff: float = 12.0, block_px: int = 4
    ) -> None:
        for name, value in (
            ("max_block_shift", max_block_shift),
            ("max_block_diff", max_block_diff),
        ):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"RepeatDetector: {name} must be finite and >= 0, got {value}")
        if block_px < 1:
            raise ValueError(f"RepeatDetector: block_px must be >= 1, got {block_px}")
        self.max_block_shift = float(max_block_shift)
        self.max_block_diff = float(max_block_diff)
        self.block_px = int(block_px)
        self._last: np.ndarray | None = None
        self.last_block_shift = math.inf
        self.last_block_diff = math.inf

    def reset(self) -> None:
        """Forget the last picture: the next frame is distinct."""
        self._last = None

    def is_repeat(self, luma: np.ndarray) -> bool:
        """Whether ``luma`` (uint8 (h, w)) repeats the last distinct picture; if not, it becomes
        the last distinct picture. A frame of another size is always distinct."""
        last = self._last
        if last is None or last.shape != luma.shape:
            self._last = luma.copy()
            self.last_block_shift = self.last_block_diff = math.inf
            return False
        h, w = luma.shape
        b = self.block_px
        bw, bh = max(1, w // b), max(1, h // b)
        now, before = luma[: bh * b, : bw * b], last[: bh * b, : bw * b]
        signed = cv2.subtract(now, before, dtype=cv2.CV_16S)
        shift = cv2.resize(signed, (bw, bh), interpolation=cv2.INTER_AREA)
        diff = cv2.resize(cv2.absdiff(now, before), (bw, bh), interpolation=cv2.INTER_AREA)
        self.last_block_shift = float(np.abs(shift).max()) if shift.size else 0.0
        self.last_block_diff = float(diff.max()) if diff.size else 0.0
        quiet = self.last_block_diff <= self.max_block_diff
        if quiet and (
            self.last_block_shift <= self.max_block_shift
            or self.last_block_diff <= QUIET_BLOCK_DIFF
        ):
            return True
        self._last = luma.copy()
        return False


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """Tuning of :class:`CaptureClock`.

    Attributes:
        window_s: stamps of distinct pictures kept for the fit (seconds of stream time).
        min_pictures: distinct pictures in the window before a grid is fitted.
        refit_s: the grid is fitted again after this much stream time.
        max_residual: largest distance (fraction of a period) of a stamp from its slot.
        min_period_s, max_period_s: the sensor periods considered (60 fps to 2 fps).
    """

    window_s: float = 3.0
    min_pictures: int = 10
    refit_s: float = 0.5
    max_residual: float = 0.48
    min_period_s: float = 1.0 / 60.0
    max_period_s: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"ClockSettings.{f.name} must be finite and > 0, got {value}")
        if self.min_pictures < 4:
            raise ValueError(f"ClockSettings.min_pictures must be >= 4, got {self.min_pictures}")
        if self.max_residual >= 0.5:
            raise ValueError(f"ClockSettings.max_residual must be < 0.5, got {self.max_residual}")
        if self.min_period_s >= self.max_period_s:
            raise ValueError("ClockSettings.min_period_s must be below max_period_s")


@dataclass(frozen=True, slots=True)
class _Grid:
    period_s: float
    phase_s: float
    last_slot: int


class CaptureClock:
    """Capture times of distinct pictures from their stream stamps (see the module docstring).

    Args:
        settings: tuning.
    """

    def __init__(self, settings: ClockSettings | None = None) -> None:
        self.settings = settings or ClockSettings()
        self._stamps: deque[float] = deque()
        self._grid: _Grid | None = None
        self._fitted_at = -math.inf

    @property
    def period_s(self) -> float | None:
        """The sensor period found, None while no grid fits."""
        return None if self._grid is None else self._grid.period_s

    def reset(self) -> None:
        self._stamps.clear()
        self._grid = None
        self._fitted_at = -math.inf

    def snap(self, stamps_s: np.ndarray) -> np.ndarray:
        """Capture times of distinct pictures stamped ``stamps_s`` (increasing), on the grid as
        it is known now: a track's first points, stamped before the grid was found (a still scene
        has no distinct pictures to find it from until something moves), get their slots too.
        The stamps are returned as they are without a grid, or when two would share a slot."""
        stamps = np.asarray(stamps_s, np.float64)
        grid = self._grid
        if grid is None or stamps.size == 0:
            return stamps.copy()
        slots = np.rint((stamps - grid.phase_s) / grid.period_s)
        if (slots[1:] - slots[:-1] < 1).any():  # np.diff, without its overhead (per track)
            return stamps.copy()
        return np.asarray(grid.phase_s + slots * grid.period_s)

    def time_of(self, pts_s: float) -> float:
        """The capture time of the distinct picture stamped ``pts_s`` (stamps must increase)."""
        s = self.settings
        stamps = self._stamps
        stamps.append(pts_s)
        while stamps and stamps[0] < pts_s - s.window_s:
            stamps.popleft()
        grid = self._grid
        if grid is not None:  # the nearest slot after the last one
            slot = round((pts_s - grid.phase_s) / grid.period_s)
            grid = _Grid(grid.period_s, grid.phase_s, slot) if slot > grid.last_slot else None
        if (grid is None or pts_s - self._fitted_at >= s.refit_s) and len(stamps) >= s.min_pictures:
            # a new fit replaces the grid; when none fits, a grid that still holds is kept
            grid = fit_grid(np.asarray(stamps, np.float64), s) or grid
            self._fitted_at = pts_s
        self._grid = grid
        if grid is None:
            return pts_s
        return grid.phase_s + grid.last_slot * grid.period_s


def _grid_for(stamps: np.ndarray, period: float, s: ClockSettings) -> tuple[_Grid, float] | None:
    """The grid of ``period`` through ``stamps`` (least squares on their slots) and its worst
    residual in periods; None when two stamps share a slot or a residual is too large."""
    angles = 2 * math.pi * np.mod(stamps, period) / period
    phase = math.atan2(float(np.sin(angles).mean()), float(np.cos(angles).mean()))
    phase_s = phase / (2 * math.pi) * period
    slots = np.rint((stamps - phase_s) / period)
    for _ in range(2):
        if np.any(np.diff(slots) < 1) or slots[-1] == slots[0]:
            return None
        period, phase_s = np.polyfit(slots, stamps, 1)
        period, phase_s = float(period), float(phase_s)
        if not s.min_period_s <= period <= s.max_period_s:
            return None
        slots = np.rint((stamps - phase_s) / period)
    if np.any(np.diff(slots) < 1):
        return None
    worst = float(np.abs(stamps - phase_s - slots * period).max()) / period
    if worst > s.max_residual:
        return None
    return _Grid(period, phase_s, int(slots[-1])), worst


def fit_grid(stamps: np.ndarray, settings: ClockSettings | None = None) -> _Grid | None:
    """The regular grid that best explains ``stamps`` (increasing), or None when none does.

    Candidate periods: the mean interval (a re-muxed sensor, jitter), the median interval (lost
    frames) and the span over the median-interval steps between stamps (both). Each is refined by
    a least-squares fit of the stamps on their slots; the one with the smallest worst residual
    wins.
    """
    s = settings or ClockSettings()
    intervals = np.diff(stamps)
    if intervals.size < 3 or np.any(intervals <= 0):
        return None
    median = float(np.median(intervals))
    mean = float(intervals.mean())
    steps = np.maximum(np.rint(intervals / median), 1.0)
    spanned = float((stamps[-1] - stamps[0]) / steps.sum())
    best: tuple[_Grid, float] | None = None
    for period in (mean, median, spanned):
        if not s.min_period_s <= period <= s.max_period_s:
            continue
        found = _grid_for(stamps, period, s)
        if found is not None and (best is None or found[1] < best[1]):
            best = found
    return None if best is None else best[0]
