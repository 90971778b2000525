"""Writing generated frames as H.264 MP4, and the sensor noise laid over them.

Every clip of the suite is encoded the same way, like a camera substream: libx264 ``ultrafast``,
25 fps, a keyframe exactly every 50 frames, no B-frames, frame ``i`` at ``pts = i`` in time base
``1/fps``, so that stream time is ``i / fps`` exactly.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

FPS = 25
GOP = 50
NOISE_FIELDS = 7  # distinct noise fields, cycled; more than x264's reference list


class ClipWriter:
    """Encode BGR frames to an MP4 file; the file appears under its name only when complete.

    Use as a context manager: frames go to a hidden partial file, renamed into place on a clean
    exit and deleted when the block raises.

    Args:
        path: output ``.mp4`` path; its directory must exist.
        width_px: frame width, even.
        height_px: frame height, even.
        fps: frames per second (integer).
        gop: frames between keyframes.
        crf: x264 constant rate factor.
        time_base_hz: None to stamp frame ``i`` at ``i / fps``; else the stream's clock rate, and
            :meth:`write` takes each frame's stamp in its ticks (repeats, gaps, jitter).

    Raises:
        ValueError: for odd sizes or a non-positive fps or gop.
        FileNotFoundError: if the directory of ``path`` does not exist.
    """

    def __init__(
        self,
        path: Path | str,
        width_px: int,
        height_px: int,
        *,
        fps: int = FPS,
        gop: int = GOP,
        crf: int = 23,
        time_base_hz: int | None = None,
    ) -> None:
        if width_px < 16 or height_px < 16 or width_px % 2 or height_px % 2:
            raise ValueError(f"ClipWriter: size must be even and >= 16, got {width_px}x{height_px}")
        if fps < 1 or gop < 1:
            raise ValueError(f"ClipWriter: fps and gop must be >= 1, got fps={fps} gop={gop}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"ClipWriter: directory {self.path.parent} does not exist")
        self.width_px, self.height_px, self.fps = width_px, height_px, fps
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self._options: dict[str, object] = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": "0",
            "tune": "zerolatency",
            "preset": "ultrafast",
            "crf": str(crf),
            "threads": "1",  # deterministic, and polite on a shared 2-core machine
        }
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._time_base = Fraction(1, time_base_hz or fps)
        self._explicit_pts = time_base_hz is not None
        self._last_pts = -1
        self.frames = 0

    def __enter__(self) -> ClipWriter:
        container = av.open(str(self._partial), "w", format="mp4")
        stream = container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = self.width_px, self.height_px, "yuv420p"
        stream.codec_context.time_base = self._time_base
        stream.options = self._options
        self._container, self._stream = container, stream
        return self

    def write(self, image_bgr: np.ndarray, pts: int | None = None) -> None:
        """Encode one frame; its pts is the number of frames written before it, or ``pts``
        (ticks of ``1 / time_base_hz``) for a writer made with ``time_base_hz``.

        Raises:
            ValueError: if the image is not uint8 (height_px, width_px, 3), or ``pts`` is missing,
                given to a writer without ``time_base_hz``, or not above the last one.
            RuntimeError: if called outside the ``with`` block.
        """
        if self._container is None or self._stream is None:
            raise RuntimeError("ClipWriter.write called outside its 'with' block")
        expected = (self.height_px, self.width_px, 3)
        if image_bgr.dtype != np.uint8 or image_bgr.shape != expected:
            raise ValueError(
                f"ClipWriter.write: expected uint8 {expected}, got {image_bgr.dtype} "
                f"{image_bgr.shape}"
            )
        if self._explicit_pts != (pts is not None):
            raise ValueError(
                "ClipWriter.write: pts must be given exactly when the writer has time_base_hz"
            )
        if pts is not None and pts <= self._last_pts:
            raise ValueError(f"ClipWriter.write: pts {pts} is not above the last {self._last_pts}")
        stamp = self.frames if pts is None else pts
        self._last_pts = stamp
        frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
        frame.pts, frame.time_base = stamp, self._time_base
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        container, stream = self._container, self._stream
        self._container = self._stream = None
        try:
            if container is not None and stream is not None:
                if exc_type is None:
                    container.mux(stream.encode(None))
                container.close()
            if exc_type is None:
                os.replace(self._partial, self.path)
        finally:
            self._partial.unlink(missing_ok=True)


class SensorNoise:
    """Per-frame sensor noise: a few fixed Gaussian fields, cycled, added with saturation.

    Args:
        shape: (height_px, width_px, 3) of the frames.
        sigma: standard deviation in 8-bit levels (0 disables the noise).
        rng: the clip's random generator.
    """

    def __init__(self, shape: tuple[int, int, int], sigma: float, rng: np.random.Generator) -> None:
        self.sigma = sigma
        self._up: list[np.ndarray] = []
        self._down: list[np.ndarray] = []
        if sigma <= 0:
            return
        for _ in range(NOISE_FIELDS):
            field = rng.normal(0.0, sigma, size=shape).astype(np.float32)
            self._up.append(np.clip(field, 0, 255).astype(np.uint8))
            self._down.append(np.clip(-field, 0, 255).astype(np.uint8))

    def apply(self, frame: np.ndarray, index: int) -> None:
        """Add the noise field of frame ``index`` to ``frame`` in place."""
        if not self._up:
            return
        k = index % len(self._up)
        cv2.add(frame, self._up[k], dst=frame)
        cv2.subtract(frame, self._down[k], dst=frame)
