"""One frame of an evidence clip as a JPEG: what the review page annotates, and what a dataset
export writes for a clip frame.

Times are milliseconds from the clip's first frame (``t_ms``), the clock a browser's ``<video>``
shows. :func:`clip_frame` returns the frame *shown* at ``t_ms`` (the last one whose time is at or
before it, half a millisecond of slack for rounding) together with that frame's own time, so a
reviewer's chosen time is snapped to a frame and asking again for the snapped time gives the same
frame. The API and the dataset export both call it, with the same JPEG settings, so the image a
box was drawn on and the image a dataset holds are the same picture.

Decoding seeks to the key frame before ``t_ms`` and decodes forward: a few dozen frames of a
short clip. :class:`FrameCache` keeps recent results by (clip SHA-256, t_ms) so that a reviewer
stepping back and forth does not decode again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import cv2
import numpy as np

__all__ = [
    "JPEG_QUALITY",
    "ClipFrame",
    "ClipFrameError",
    "FrameCache",
    "clip_duration_ms",
    "clip_frame",
]

JPEG_QUALITY = 92
_SNAP_SLACK_S = 0.0005  # t_ms is rounded to the millisecond: half of one either way
_PAST_END_S = 1.0  # a time this far past the last frame is an error, not "the last frame"


class ClipFrameError(Exception):
    """The clip cannot give a frame at that time (unreadable, no video, time past its end)."""


@dataclass(frozen=True, slots=True)
class ClipFrame:
    """A decoded clip frame: its JPEG, its own time in ms from the first frame, and its size."""

    jpeg: bytes
    t_ms: int
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def encode_jpeg(image_bgr: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ClipFrameError("OpenCV could not encode the frame as JPEG")
    return bytes(encoded.tobytes())


def _open_video(
    source: Path | BinaryIO,
) -> tuple[av.container.InputContainer, av.VideoStream, Fraction]:
    """The clip opened, its video stream and that stream's time base; the caller closes it.

    Raises:
        ClipFrameError: the clip cannot be opened, has no video stream or no time base.
    """
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, mode="r")
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipFrameError(f"the clip cannot be opened: {exc}") from None
    try:
        if not container.streams.video:
            raise ClipFrameError("the clip has no video stream")
        stream = container.streams.video[0]
        if stream.time_base is None:
            raise ClipFrameError("the clip's video stream has no time base")
    except BaseException:
        container.close()
        raise
    return container, stream, stream.time_base


def clip_frame(source: Path | BinaryIO, t_ms: int) -> ClipFrame:
    """The frame of the clip ``source`` shown ``t_ms`` after its first frame, as a JPEG.

    ``source`` is a path or a file open for binary reading (the descriptor whose SHA-256 was
    verified, so that nothing renamed over the path in between is decoded); it is not closed.

    Raises:
        ClipFrameError: the file cannot be opened or decoded, has no video, or ``t_ms`` is more
            than a second past its last frame (the message says how long the clip is).
    """
    if t_ms < 0:
        raise ClipFrameError(f"t_ms must be >= 0, got {t_ms}")
    container, stream, time_base = _open_video(source)
    try:
        first_s = _first_frame_s(container, stream)
        target_s = first_s + t_ms / 1000.0
        container.seek(int(target_s / time_base), stream=stream, backward=True, any_frame=False)
        chosen: av.VideoFrame | None = None
        chosen_s = 0.0
        last_s = first_s
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            frame_s = float(frame.pts * time_base)
            last_s = frame_s
            if frame_s <= target_s + _SNAP_SLACK_S or chosen is None:
                chosen, chosen_s = frame, frame_s
            if frame_s > target_s + _SNAP_SLACK_S:
                break
    except av.error.FFmpegError as exc:
        raise ClipFrameError(f"the clip cannot be decoded: {exc}") from None
    finally:
        container.close()
    if chosen is None:
        raise ClipFrameError("the clip has no decodable frame")
    if target_s - last_s > _PAST_END_S:
        raise ClipFrameError(
            f"t_ms {t_ms} is past the end of the clip (its last frame is at "
            f"{round((last_s - first_s) * 1000)} ms)"
        )
    image = chosen.to_ndarray(format="bgr24")
    return ClipFrame(
        jpeg=encode_jpeg(image),
        t_ms=round((chosen_s - first_s) * 1000),
        width=int(image.shape[1]),
        height=int(image.shape[0]),
    )


def _first_frame_s(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """Time of the clip's first decodable frame (the origin of ``t_ms``)."""
    time_base = stream.time_base
    assert time_base is not None
    for frame in container.decode(stream):
        if frame.pts is not None:
            return float(frame.pts * time_base)
    raise ClipFrameError("the clip has no decodable frame")


class FrameCache:
    """Recent :func:`clip_frame` results by (clip SHA-256, t_ms); thread-safe, bounded by the
    bytes of JPEG it holds (least recently used dropped first).

    The key is the clip's digest, verified before the call, so a changed file is never answered
    from the cache.
    """

    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._frames: OrderedDict[tuple[str, int], ClipFrame] = OrderedDict()
        self._bytes = 0

    def get(self, clip_sha256: str, source: Path | BinaryIO, t_ms: int) -> ClipFrame:
        """The frame at ``t_ms`` of the clip ``source`` whose digest is ``clip_sha256``.

        Raises:
            ClipFrameError: as :func:`clip_frame`.
        """
        key = (clip_sha256, t_ms)
        with self._lock:
            hit = self._frames.get(key)
            if hit is not None:
                self._frames.move_to_end(key)
                return hit
        frame = clip_frame(source, t_ms)
        with self._lock:
            if key not in self._frames:
                self._frames[key] = frame
                self._bytes += len(frame.jpeg)
            while self._bytes > self.max_bytes and self._frames:
                _, dropped = self._frames.popitem(last=False)
                self._bytes -= len(dropped.jpeg)
        return frame

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes


def clip_duration_ms(source: Path | BinaryIO) -> int:
    """Milliseconds from the clip's first frame to its last one (reads every packet: the
    container's own duration is not always written by a stream copy).

    Raises:
        ClipFrameError: the clip cannot be opened or decoded, or has no video.
    """
    container, stream, time_base = _open_video(source)
    try:
        times = [
            float(packet.pts * time_base)
            for packet in container.demux(stream)
            if packet.pts is not None and packet.size > 0
        ]
    except av.error.FFmpegError as exc:
        raise ClipFrameError(f"the clip cannot be read: {exc}") from None
    finally:
        container.close()
    if not times:
        raise ClipFrameError("the clip has no frame")
    return round((max(times) - min(times)) * 1000)
