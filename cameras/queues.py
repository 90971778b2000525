"""Bounded frame queue that drops the oldest frame when full, and counts every drop.

Frames are perishable: a pipeline that falls behind should analyse the newest picture, not a
backlog. (Event queues never drop; they do not use this class.)
"""

from __future__ import annotations

import threading
from collections import deque

from vision.types import Frame


class FrameQueue:
    """Thread-safe, bounded, drop-oldest queue of frames."""

    def __init__(self, max_size: int = 2) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        self.max_size = max_size
        self._items: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, frame: Frame) -> int:
        """Add a frame; returns how many old frames were dropped to make room (0 or 1)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("FrameQueue is closed")
            dropped = 0
            while len(self._items) >= self.max_size:
                self._items.popleft()
                dropped += 1
            self._items.append(frame)
            self.dropped += dropped
            self.put_count += 1
            self._cond.notify()
            return dropped

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """The oldest queued frame, or None on timeout or when closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout_s):
                return None
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
