"""Piecewise motion of a point over stream time: drive in, stop, stay, leave.

A :class:`Path` is a list of :class:`Segment` s, contiguous in time; between segments and after
the last one the point holds still. Segments ease in (accelerate from rest), ease out (decelerate
to rest) or move at constant speed, so that a vehicle comes to rest at a known time: the end of
its ``OUT`` segment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

PointPx = tuple[float, float]


class Ease(StrEnum):
    """How the point moves within one segment."""

    LINEAR = "linear"  # constant speed
    IN = "in"  # from rest, accelerating
    OUT = "out"  # decelerating, to rest at the end
    IN_OUT = "in_out"  # from rest to rest


def _ease(u: float, ease: Ease) -> float:
    if ease is Ease.LINEAR:
        return u
    if ease is Ease.IN:
        return u * u
    if ease is Ease.OUT:
        return 1.0 - (1.0 - u) * (1.0 - u)
    return u * u * (3.0 - 2.0 * u)


@dataclass(frozen=True, slots=True)
class Segment:
    """Motion from ``start`` at ``t0_s`` to ``end`` at ``t1_s`` (pixels, stream seconds)."""

    t0_s: float
    t1_s: float
    start: PointPx
    end: PointPx
    ease: Ease = Ease.LINEAR

    def __post_init__(self) -> None:
        if not (math.isfinite(self.t0_s) and math.isfinite(self.t1_s) and self.t1_s > self.t0_s):
            raise ValueError(f"Segment: t1_s ({self.t1_s}) must be after t0_s ({self.t0_s})")

    def at(self, t_s: float) -> PointPx:
        u = min(1.0, max(0.0, (t_s - self.t0_s) / (self.t1_s - self.t0_s)))
        f = _ease(u, self.ease)
        return (
            self.start[0] + (self.end[0] - self.start[0]) * f,
            self.start[1] + (self.end[1] - self.start[1]) * f,
        )


class Path:
    """A point that appears at ``visible_from_s``, follows its segments and holds still between
    and after them, until ``visible_until_s``.

    Args:
        segments: in time order, not overlapping; consecutive segments should share their end and
            start point (a jump is allowed: something placed or taken away).
        visible_from_s: first time the point exists (default: the first segment's start).
        visible_until_s: time from which it no longer exists (default: never).

    Raises:
        ValueError: if segments are empty or overlap in time.
    """

    def __init__(
        self,
        segments: Sequence[Segment],
        *,
        visible_from_s: float | None = None,
        visible_until_s: float | None = None,
    ) -> None:
        if not segments:
            raise ValueError("Path needs at least one segment")
        for before, after in itertools.pairwise(segments):
            if after.t0_s < before.t1_s - 1e-9:
                raise ValueError(
                    f"Path: segment starting at {after.t0_s} s overlaps the one ending at "
                    f"{before.t1_s} s"
                )
        self.segments = tuple(segments)
        self.visible_from_s = segments[0].t0_s if visible_from_s is None else visible_from_s
        self.visible_until_s = math.inf if visible_until_s is None else visible_until_s

    @classmethod
    def still(cls, point: PointPx, from_s: float, until_s: float | None = None) -> Path:
        """A point that does not move while it exists."""
        return cls(
            [Segment(from_s, from_s + 1.0, point, point)],
            visible_from_s=from_s,
            visible_until_s=until_s,
        )

    def at(self, t_s: float) -> PointPx | None:
        """The position at ``t_s``, or None when the point does not exist then."""
        if t_s < self.visible_from_s or t_s >= self.visible_until_s:
            return None
        current = self.segments[0]
        for segment in self.segments:
            if segment.t0_s > t_s:
                break
            current = segment
        return current.at(t_s)

    def first_time(
        self,
        predicate: Callable[[PointPx], bool],
        t_from_s: float,
        t_to_s: float,
        step_s: float = 0.001,
    ) -> float | None:
        """The first time in ``[t_from_s, t_to_s]`` (on a ``step_s`` grid) at which the point
        exists and ``predicate(position)`` holds, or None."""
        steps = math.ceil((t_to_s - t_from_s) / step_s)
        for k in range(steps + 1):
            t = t_from_s + k * step_s
            p = self.at(t)
            if p is not None and predicate(p):
                return t
        return None
