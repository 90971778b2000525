"""PacketRing: the last N seconds of a camera's encoded video, from a keyframe on.

The source thread appends; the clip recorder reads snapshots from another thread, so every method
takes the ring's lock. Memory stays bounded by both duration and bytes.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque

from cameras.packets import EncodedPacket


class PacketRing:
    """Bounded buffer of encoded packets that always starts at a keyframe.

    Whole GOPs are dropped from the front once the GOP after them still covers
    ``max_duration_s`` back from the newest packet, so a snapshot can always reach at least
    ``max_duration_s`` into the past (when that much has been received). Packets before the
    first keyframe, and after a codec change until the next keyframe, are not kept: they could
    not be decoded from a clip.
    """

    def __init__(self, max_duration_s: float, max_bytes: int = 256 * 1024 * 1024) -> None:
        if max_duration_s <= 0:
            raise ValueError(f"max_duration_s must be > 0, got {max_duration_s}")
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, got {max_bytes}")
        self.max_duration_s = max_duration_s
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._packets: deque[EncodedPacket] = deque()
        self._gop_starts: deque[int] = deque()  # absolute indices of keyframes in the ring
        self._first_index = 0  # absolute index of _packets[0]
        self._bytes = 0
        self._waiting_for_keyframe = True
        self.dropped_before_keyframe = 0

    def append(self, packet: EncodedPacket) -> bool:
        """Add a packet; returns False when it was not kept (waiting for a keyframe)."""
        with self._lock:
            newest = self._packets[-1] if self._packets else None
            if newest is not None and newest.template.fingerprint != packet.template.fingerprint:
                self._clear_locked()  # new codec parameters: old packets cannot share a clip
            if self._waiting_for_keyframe and not packet.is_keyframe:
                self.dropped_before_keyframe += 1
                return False
            self._waiting_for_keyframe = False
            if packet.is_keyframe:
                self._gop_starts.append(self._first_index + len(self._packets))
            self._packets.append(packet)
            self._bytes += packet.size_bytes
            self._trim_locked()
            return True

    def mark_discontinuity(self) -> None:
        """After a reconnect: keep what is held, but accept new packets only from a keyframe."""
        with self._lock:
            self._waiting_for_keyframe = True

    def _trim_locked(self) -> None:
        newest_pts = self._packets[-1].pts_s
        while len(self._gop_starts) >= 2:
            second_gop = self._packets[self._gop_starts[1] - self._first_index]
            over_time = newest_pts - second_gop.pts_s >= self.max_duration_s
            if not (over_time or self._bytes > self.max_bytes):
                break
            self._drop_first_gop_locked()

    def _drop_first_gop_locked(self) -> None:
        self._gop_starts.popleft()
        end = self._gop_starts[0] if self._gop_starts else self._first_index + len(self._packets)
        while self._first_index < end:
            dropped = self._packets.popleft()
            self._bytes -= dropped.size_bytes
            self._first_index += 1

    def _clear_locked(self) -> None:
        self._first_index += len(self._packets)
        self._packets.clear()
        self._gop_starts.clear()
        self._bytes = 0
        self._waiting_for_keyframe = True

    def snapshot(self, from_pts_s: float) -> list[EncodedPacket]:
        """Packets from the last keyframe at or before ``from_pts_s`` to the newest.

        When the ring does not reach back that far, it starts at its oldest keyframe.
        """
        with self._lock:
            if not self._packets:
                return []
            key_pts = [self._packets[i - self._first_index].pts_s for i in self._gop_starts]
            pos = bisect.bisect_right(key_pts, from_pts_s + 1e-9) - 1
            start = self._gop_starts[max(pos, 0)] - self._first_index
            return [self._packets[i] for i in range(start, len(self._packets))]

    @property
    def duration_s(self) -> float:
        with self._lock:
            if not self._packets:
                return 0.0
            return self._packets[-1].pts_s - self._packets[0].pts_s

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._packets)

    @property
    def newest_pts_s(self) -> float | None:
        with self._lock:
            return self._packets[-1].pts_s if self._packets else None
