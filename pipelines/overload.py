"""Graceful overload: when a process cannot keep up, cameras detect less often, by priority.

Without a policy an overloaded box falls behind: analysis queues fill, the drop-oldest frame
queues throw frames away at random, and the frame→event latency grows until a hazard is
reported long after it happened. What an office prefers is that every camera keeps running in
real time and the least important ones look less often. So each pipeline process has one
:class:`OverloadGovernor`, told by every camera's analysis thread how late each analysed frame
was (wall-clock now minus the frame's ``captured_at``) and whether its frame queue dropped one.
Once a second it decides a process-wide level:

- up one level when the p95 lag of the last window is above ``high_lag_s`` or a frame queue
  dropped a frame;
- down one level after ``calm_s`` with the p95 lag below ``low_lag_s`` and no drop.

Each level lowers the detect rate of the cameras of one more priority (``detect.priority``:
low first, then normal, then high), halving it each time, down to ``min_detect_fps``. Motion
analysis (the falling-object rule) is never thinned: its physics needs every picture. Status
and metrics say which cameras run below their configured rate (``overloaded``) and at what
rate (``detect_fps_effective``).

Thread-safety: the governor is the only object the analysis threads of one process share; its
state is guarded by one lock and its methods are short.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Priority(StrEnum):
    """How important a camera's detection rate is under overload (low is thinned first)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


# At each level, how many halvings each priority's detect rate takes.
_HALVINGS: tuple[dict[Priority, int], ...] = (
    {Priority.LOW: 0, Priority.NORMAL: 0, Priority.HIGH: 0},
    {Priority.LOW: 1, Priority.NORMAL: 0, Priority.HIGH: 0},
    {Priority.LOW: 2, Priority.NORMAL: 1, Priority.HIGH: 0},
    {Priority.LOW: 3, Priority.NORMAL: 2, Priority.HIGH: 1},
    {Priority.LOW: 4, Priority.NORMAL: 3, Priority.HIGH: 2},
)
MAX_LEVEL = len(_HALVINGS) - 1


@dataclass(frozen=True, slots=True)
class OverloadSettings:
    """When a process counts as overloaded and how far detection is thinned."""

    high_lag_s: float = 0.5
    low_lag_s: float = 0.2
    window_s: float = 2.0
    calm_s: float = 5.0
    min_detect_fps: float = 1.0
    decide_every_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.low_lag_s < self.high_lag_s:
            raise ValueError(
                f"OverloadSettings: need 0 < low_lag_s ({self.low_lag_s}) < high_lag_s "
                f"({self.high_lag_s})"
            )
        for name in ("window_s", "calm_s", "min_detect_fps", "decide_every_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OverloadSettings: {name} must be > 0")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence (also the bench's)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


class OverloadGovernor:
    """One per pipeline process; see the module docstring."""

    def __init__(
        self,
        settings: OverloadSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or OverloadSettings()
        self._now = monotonic
        self._lock = threading.Lock()
        self._lags: deque[tuple[float, float]] = deque()
        self._dropped_since_decision = False
        self._level = 0
        self._last_decision = self._now()
        self._calm_since: float | None = None

    @property
    def level(self) -> int:
        with self._lock:
            return self._level

    def report(self, lag_s: float, *, dropped: bool = False) -> int:
        """One analysed frame's lag (and whether its queue dropped frames since the last
        report); returns the level now in force."""
        now = self._now()
        with self._lock:
            self._lags.append((now, lag_s))
            self._dropped_since_decision |= dropped
            if now - self._last_decision >= self.settings.decide_every_s:
                self._decide(now)
            return self._level

    def detect_fps(self, configured_fps: float, priority: Priority) -> float:
        """The detect rate a camera of ``priority`` configured at ``configured_fps`` uses now."""
        level = self.level
        fps = configured_fps / 2 ** _HALVINGS[level][priority]
        return max(min(configured_fps, self.settings.min_detect_fps), fps)

    def _decide(self, now: float) -> None:
        s = self.settings
        self._last_decision = now
        while self._lags and now - self._lags[0][0] > s.window_s:
            self._lags.popleft()
        p95 = percentile([lag for _t, lag in self._lags], 95) if self._lags else 0.0
        dropped, self._dropped_since_decision = self._dropped_since_decision, False
        if p95 > s.high_lag_s or dropped:
            self._calm_since = None
            if self._level < MAX_LEVEL:
                self._level += 1
            # The next step up needs lags measured under this level, not the ones that
            # caused it (the window would otherwise raise it again after the box caught up).
            self._lags.clear()
            return
        if p95 >= s.low_lag_s:
            self._calm_since = None
            return
        if self._calm_since is None:
            self._calm_since = now
        elif now - self._calm_since >= s.calm_s and self._level > 0:
            self._level -= 1
            self._calm_since = now
