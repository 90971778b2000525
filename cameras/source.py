"""Video sources: RTSP/HTTP streams and files, opened and decoded with PyAV.

One ``VideoSource`` per camera. It demuxes packets (handed to the packet ring for evidence),
decodes every frame (H.264 needs them all), and converts only the frames that the sampler keeps,
scaling them inside FFmpeg (swscale) straight to the analysis size in BGR. A live source that
drops, stalls or sends garbage is reconnected with capped exponential backoff and jitter; its
stream time (``pts_s``) keeps increasing across reconnects.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

import av
import av.container
import av.error
import av.packet
import av.video.frame
import numpy as np
from av.video.reformatter import VideoReformatter

from cameras.errors import (
    DecodeError,
    EndOfStream,
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceNotFoundError,
)
from cameras.hwdecode import (
    HwAccelUnavailableError,
    HwDecodeChoice,
    HwDecodeRequest,
    choose_hwaccel,
)
from cameras.packets import EncodedPacket, StreamTemplate, inband_parameter_sets
from cameras.redact import redact_url
from vision.types import Frame

logger = logging.getLogger(__name__)

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"})
MAX_CONSECUTIVE_DECODE_ERRORS = 50


class SourceState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """How to open, decode and sample one camera's stream.

    Attributes:
        camera_id: slug used in logs and frames.
        url: RTSP/HTTP URL or file path (credentials allowed; they are never logged).
        width_px: width of delivered frames (height keeps the aspect ratio, rounded to even);
            None delivers the native size.
        fps: frames per second of stream time to deliver; None or above the stream's rate means
            every frame.
        rtsp_transport: ``tcp`` (default; UDP with no timeout blocks silently) or ``udp``.
        connect_timeout_s: limit on opening the stream.
        read_timeout_s: limit on one read; a stalled server is noticed within about this time.
        decode_threads: FFmpeg frame threads (1 = single-threaded).
        backoff_initial_s, backoff_max_s, backoff_jitter: reconnect delays
            ``min(max, initial * 2**(n-1))``, scaled by ``1 ± jitter`` at random.
        live: whether end-of-stream means "disconnected" (reconnect) rather than "done";
            None decides by URL scheme.
        max_connect_attempts: consecutive failed connects before giving up (None: never give up
            on a live source; a file is tried once).
        loop_file: replay a file from the start when it ends (demo and tests), with stream time
            continuing.
        realtime: pace a file at its own frame rate, as a camera would send it (demo, tests).
        decode: False only demuxes (an evidence-only main stream: packets for clips, no frames).
        hwaccel: hardware decoding (:mod:`cameras.hwdecode`); software by default.
    """

    camera_id: str
    url: str
    width_px: int | None = 640
    fps: float | None = None
    rtsp_transport: str = "tcp"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    decode_threads: int = 1
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.25
    live: bool | None = None
    max_connect_attempts: int | None = None
    loop_file: bool = False
    realtime: bool = False
    decode: bool = True
    hwaccel: HwDecodeRequest = field(default_factory=HwDecodeRequest)
    # "auto": skip H.264's deblocking filter when the analysis frames are at most half the
    # stream's width (see _stream); "always": never skip it.
    deblock: str = "auto"

    @property
    def is_live(self) -> bool:
        if self.live is not None:
            return self.live
        return urlsplit(self.url).scheme.lower() in LIVE_SCHEMES

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A consistent copy of a source's counters, for the API and metrics.

    ``decode_errors`` counts packets that failed to decode and frames the decoder had to conceal
    (damaged data); the concealed frames are not delivered. ``hwaccel`` is the device type the
    last frame was decoded on (``cuda``...), None for software decoding.
    """

    camera_id: str
    state: SourceState
    url: str
    frames_in: int
    frames_out: int
    frames_dropped: int
    packets_in: int
    decode_errors: int
    reconnects: int
    last_error: str | None
    codec: str | None
    width_px: int | None
    height_px: int | None
    fps_in: float
    last_pts_s: float | None
    hwaccel: str | None = None


def skip_deblocking(settings: SourceSettings, stream_width_px: int | None) -> bool:
    """Whether software decoding may skip H.264's deblocking filter (see ``_stream``)."""
    return (
        settings.deblock == "auto"
        and settings.width_px is not None
        and bool(stream_width_px)
        and settings.width_px * 2 <= (stream_width_px or 0)
    )


class FpsSampler:
    """Keeps frames at ``fps`` of stream time, deciding on pts only (never on frame counts)."""

    def __init__(self, fps: float | None) -> None:
        if fps is not None and not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be > 0, got {fps}")
        self.interval_s = 0.0 if fps is None else 1.0 / fps
        self._next_s: float | None = None

    def accept(self, pts_s: float) -> bool:
        if self.interval_s == 0.0:
            return True
        # A frame a little early (timestamp jitter) still counts for its slot.
        tolerance = min(0.25 * self.interval_s, 0.01)
        if self._next_s is None or pts_s >= self._next_s - tolerance:
            due = pts_s if self._next_s is None else self._next_s
            self._next_s = due + self.interval_s
            if self._next_s <= pts_s:  # fell behind (a gap): restart the grid here
                self._next_s = pts_s + self.interval_s
            return True
        return False

    def reset(self) -> None:
        self._next_s = None


class StreamClock:
    """Maps each connection's raw timestamps onto one stream time that never goes back.

    The first frame ever is 0.0. A reconnect continues from the last time plus the wall-clock
    time spent disconnected, so durations across an outage stay true. A timestamp going
    backwards within a connection (camera reboot, wrap) is rebased to continue.
    """

    def __init__(self, max_forward_jump_s: float = 60.0) -> None:
        self.last_s: float | None = None
        self.step_s = 0.04
        self.max_forward_jump_s = max_forward_jump_s
        self._origin: int | None = None
        self._offset_s = 0.0
        self._untimed_at_start = 0

    def new_connection(self, gap_s: float) -> None:
        self._origin = None
        self._untimed_at_start = 0
        if self.last_s is not None:
            self._offset_s = self.last_s + max(gap_s, self.step_s)

    def map(self, ts: int | None, time_base: Fraction) -> float:
        """Stream time of a raw timestamp (packets: not forced monotonic)."""
        if ts is None:
            if self._origin is None:
                # RTSP's first packet and frame come without pts: they sit one step before
                # the first timestamped one.
                self._untimed_at_start += 1
                return self._offset_s + (self._untimed_at_start - 1) * self.step_s
            return (self.last_s + self.step_s) if self.last_s is not None else self._offset_s
        if self._origin is None:
            self._origin = ts - round(self._untimed_at_start * self.step_s / time_base)
        return self._offset_s + float((ts - self._origin) * time_base)

    def frame_time(self, ts: int | None, time_base: Fraction) -> float:
        """Stream time of a decoded frame, strictly increasing."""
        t = self.map(ts, time_base)
        if self.last_s is not None:
            if t <= self.last_s or t - self.last_s > self.max_forward_jump_s:
                target = self.last_s + self.step_s
                self._offset_s += target - t
                t = target
            elif t - self.last_s < 1.0:
                self.step_s = 0.9 * self.step_s + 0.1 * (t - self.last_s)
        self.last_s = t
        return t


# A sink returns how many frames it had to drop to take this one (a drop-oldest queue), or None.
FrameSink = Callable[[Frame], int | None]
PacketSink = Callable[[EncodedPacket], None]


class VideoSource:
    """One camera's stream: connect, demux, decode, sample, scale; reconnect on failure.

    Use :meth:`frames` to iterate in the caller's thread (replay, probe, benchmarks), or
    :meth:`start` to run in a thread of its own that hands frames to a sink.
    """

    def __init__(
        self,
        settings: SourceSettings,
        on_packet: PacketSink | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if settings.rtsp_transport not in ("tcp", "udp"):
            raise ValueError(
                f"camera {settings.camera_id}: rtsp_transport must be tcp or udp, "
                f"got {settings.rtsp_transport!r}"
            )
        if settings.width_px is not None and settings.width_px < 16:
            raise ValueError(f"camera {settings.camera_id}: width_px must be >= 16")
        try:
            self._hw: HwDecodeChoice | None = (
                choose_hwaccel(settings.hwaccel) if settings.decode else None
            )
        except HwAccelUnavailableError as exc:
            raise HwAccelUnavailableError(f"camera {settings.camera_id}: {exc}") from None
        self._hw_format: str | None = None  # the device's pixel format while decoding on it
        self._hw_active: str | None = None  # the device type the last frame came from
        self._hw_noted = False  # the first frame of this connection was checked
        self.settings = settings
        self.on_packet = on_packet
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Counters are written only by the thread running frames(); readers get a snapshot.
        self._state = SourceState.STOPPED
        self._frames_in = 0
        self._frames_out = 0
        self._frames_dropped = 0
        self._packets_in = 0
        self._decode_errors = 0
        self._reconnects = 0
        self._last_error: str | None = None
        self._codec: str | None = None
        self._size: tuple[int, int] | None = None
        self._fps_in = 0.0
        self._last_pts_s: float | None = None
        self.clock = StreamClock()
        self._sampler = FpsSampler(settings.fps)
        self._seq = 0
        self._fps_window: list[float] = []
        self._on_reconnect: Callable[[], None] | None = None
        # Scales and converts every frame (only the thread running frames() uses it): see _to_bgr.
        self._reformatter = VideoReformatter()

    # ----- status -----------------------------------------------------------------------------

    def status(self) -> SourceStatus:
        with self._lock:
            return SourceStatus(
                camera_id=self.settings.camera_id,
                state=self._state,
                url=self.settings.safe_url,
                frames_in=self._frames_in,
                frames_out=self._frames_out,
                frames_dropped=self._frames_dropped,
                packets_in=self._packets_in,
                decode_errors=self._decode_errors,
                reconnects=self._reconnects,
                last_error=self._last_error,
                codec=self._codec,
                width_px=self._size[0] if self._size else None,
                height_px=self._size[1] if self._size else None,
                fps_in=round(self._fps_in, 2),
                last_pts_s=self._last_pts_s,
                hwaccel=self._hw_active,
            )

    def _set_state(self, state: SourceState, error: str | None = None) -> None:
        with self._lock:
            self._state = state
            if error is not None:
                self._last_error = error

    def set_reconnect_hook(self, hook: Callable[[], None]) -> None:
        """Called (in the source thread) before each reconnect, e.g. to mark the packet ring."""
        self._on_reconnect = hook

    # ----- threaded use -----------------------------------------------------------------------

    def start(self, sink: FrameSink) -> None:
        """Run in a daemon thread, handing each delivered frame to ``sink``."""
        if self._thread is not None:
            raise RuntimeError(f"camera {self.settings.camera_id}: source already started")
        self._thread = threading.Thread(
            target=self._run, args=(sink,), name=f"source-{self.settings.camera_id}", daemon=True
        )
        self._thread.start()

    def _run(self, sink: FrameSink) -> None:
        try:
            for frame in self.frames():
                dropped = sink(frame)
                if dropped:
                    self._frames_dropped += dropped
        except SourceError as exc:
            logger.error("camera %s: source stopped: %s", self.settings.camera_id, exc)
        except Exception:
            logger.exception("camera %s: source thread failed", self.settings.camera_id)
            self._set_state(SourceState.STOPPED, "internal error (see log)")
        finally:
            self._set_state(SourceState.STOPPED)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning(
                    "camera %s: source thread did not stop within %.1fs",
                    self.settings.camera_id,
                    timeout_s,
                )

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # ----- the loop ---------------------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        """Delivered frames, across reconnects, until stopped or (for files) the end.

        Raises:
            SourceError: a file that cannot be read, or a live source that failed
                ``max_connect_attempts`` times in a row.
        """
        settings = self.settings
        attempts = 0
        last_frame_wall: float | None = None
        max_attempts = settings.max_connect_attempts
        if max_attempts is None and not settings.is_live:
            max_attempts = 1
        while not self._stop.is_set():
            self._set_state(SourceState.CONNECTING)
            try:
                container = self._open()
            except SourceError as exc:
                attempts += 1
                self._set_state(SourceState.CONNECTING, str(exc))
                if max_attempts is not None and attempts >= max_attempts:
                    self._set_state(SourceState.STOPPED)
                    raise
                self._backoff(attempts, exc)
                continue
            gap_s = 0.0 if last_frame_wall is None else time.monotonic() - last_frame_wall
            self.clock.new_connection(gap_s if settings.is_live else 0.0)
            delivered_any = False
            try:
                self._set_state(SourceState.STREAMING)
                for frame in self._stream(container):
                    delivered_any = True
                    last_frame_wall = time.monotonic()
                    yield frame
                    if self._stop.is_set():
                        break
                else:
                    if not settings.is_live and not settings.loop_file:
                        break  # a file ended: done
                    if settings.is_live:
                        raise EndOfStream(
                            f"camera {settings.camera_id} ({settings.safe_url}): stream ended "
                            "(the server closed it)"
                        )
            except SourceError as exc:
                self._set_state(SourceState.STREAMING, str(exc))
                logger.warning("%s", exc)  # the message names the camera
                if not settings.is_live and not settings.loop_file:
                    raise
            finally:
                container.close()
            if self._stop.is_set():
                break
            attempts = 1 if delivered_any else attempts + 1
            self._reconnects += 1
            if self._on_reconnect is not None:
                self._on_reconnect()
            if settings.is_live:
                self._backoff(attempts, None)
        self._set_state(SourceState.STOPPED)

    def _backoff(self, attempt: int, exc: SourceError | None) -> None:
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_initial_s * 2 ** max(attempt - 1, 0))
        delay *= 1.0 + self._rng.uniform(-s.backoff_jitter, s.backoff_jitter)
        self._set_state(SourceState.BACKOFF)
        logger.info(
            "camera %s: reconnecting in %.2fs (attempt %d)%s",
            s.camera_id,
            delay,
            attempt,
            f": {exc}" if exc else "",
        )
        self._stop.wait(delay)

    def _open(self) -> av.container.InputContainer:
        s = self.settings
        where = f"camera {s.camera_id} ({s.safe_url})"
        scheme = urlsplit(s.url).scheme.lower()
        options: dict[str, str] = {}
        if scheme in ("rtsp", "rtsps"):
            options = {
                "rtsp_transport": s.rtsp_transport,
                # FFmpeg >= 5 ignores `stimeout`; `timeout` is the socket I/O timeout in µs.
                "timeout": str(int(s.read_timeout_s * 1_000_000)),
            }
        elif scheme in ("http", "https"):
            options = {"rw_timeout": str(int(s.read_timeout_s * 1_000_000))}
        elif not s.is_live or scheme in ("", "file"):
            path = Path(s.url[7:] if scheme == "file" else s.url)
            if not path.exists():
                raise SourceNotFoundError(f"{where}: file not found: {path}")
            if not path.is_file():
                raise SourceNotFoundError(f"{where}: not a regular file: {path}")
        opened_at = time.monotonic()
        try:
            container = av.open(
                s.url,
                "r",
                options=options,
                timeout=(s.connect_timeout_s, s.read_timeout_s),
                hwaccel=self._hw.hwaccel() if self._hw is not None else None,
            )
        except av.error.FFmpegError as exc:
            waited_s = time.monotonic() - opened_at if s.is_live else None
            raise classify_av_error(
                exc, where, opening=True, waited_s=waited_s, timeout_s=s.read_timeout_s
            ) from exc
        if not container.streams.video:
            container.close()
            raise DecodeError(f"{where}: no video stream in the source")
        return container

    def _stream(self, container: av.container.InputContainer) -> Iterator[Frame]:
        s = self.settings
        where = f"camera {s.camera_id} ({s.safe_url})"
        stream = container.streams.video[0]
        ctx = stream.codec_context
        self._hw_format = self._device_format(ctx)
        self._hw_noted = False
        if self._hw_format is not None:
            ctx.thread_count = 1  # the device decodes; frame threads would only add latency
        else:
            with self._lock:
                self._hw_active = None
            if s.decode_threads != 1:
                ctx.thread_type = "FRAME"
            ctx.thread_count = s.decode_threads
            if skip_deblocking(s, ctx.width):
                # The deblocking filter is ~20 % of an H.264 decode. Analysis frames of at most
                # half the stream's width average its 8x8 block edges away: measured on the
                # 1080p lane clip scaled to 416 px, PSNR 35.5 dB at worst (40 dB median) over
                # a GOP's drift. Clips are stream copies, untouched. (Motion analysis needs
                # the filter: pipelines.builders.source_settings asks for "always" there.)
                ctx.options = {**ctx.options, "skip_loop_filter": "all"}
        time_base = stream.time_base or Fraction(1, 90_000)
        with self._lock:
            self._codec = ctx.name
            self._size = (ctx.width, ctx.height) if ctx.width else None
        template: StreamTemplate | None = None
        parameters: bytes | None = None  # the in-band parameter sets the template was made from
        consecutive_errors = 0
        pace_origin: tuple[float, float] | None = None  # (wall, stream time) of the first packet
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                raise classify_av_error(
                    exc, where, opening=False, timeout_s=s.read_timeout_s
                ) from exc
            if packet.size:
                self._packets_in += 1
                if s.realtime and packet.pts is not None:
                    pace_origin = self._pace(pace_origin, self.clock.map(packet.pts, time_base))
                if self.on_packet is not None:
                    if packet.is_keyframe:
                        template, parameters = self._follow_parameters(
                            stream, packet, template, parameters
                        )
                    if template is not None:
                        self.on_packet(self._encoded(packet, template, time_base))
            if not s.decode:
                if self._stop.is_set():
                    return
                continue
            try:
                decoded = packet.decode()
                consecutive_errors = 0
            except av.error.FFmpegError as exc:
                # One corrupt packet is not the end of a stream: count it and go on.
                consecutive_errors += 1
                self._decode_errors += 1
                if consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS:
                    raise DecodeError(
                        f"{where}: {consecutive_errors} packets in a row failed to decode: {exc}"
                    ) from exc
                continue
            for frame in decoded:
                out = self._frame(frame, time_base)
                if out is not None:
                    yield out

    def _device_format(self, ctx: av.video.codeccontext.VideoCodecContext) -> str | None:
        """The pixel format of frames decoded on the device, or None when decoding in software.

        A stream whose codec has no path on the chosen device (MJPEG on some VAAPI drivers) is
        decoded in software, with one warning per connection.
        """
        if self._hw is None:
            return None
        if ctx.is_hwaccel:
            for config in ctx.codec.hardware_configs:
                if config.device_type.name == self._hw.kind.value and config.format is not None:
                    return config.format.name
        logger.warning(
            "camera %s: the %s decoder has no %s path; decoding this stream in software",
            self.settings.camera_id,
            ctx.name,
            self._hw.kind.value,
        )
        return None

    def _follow_parameters(
        self,
        stream: av.video.stream.VideoStream,
        keyframe: av.packet.Packet,
        template: StreamTemplate | None,
        parameters: bytes | None,
    ) -> tuple[StreamTemplate, bytes | None]:
        """The codec template for packets from ``keyframe`` on, and its in-band parameter sets.

        A camera whose stream profile is edited (resolution, bitrate) sends new SPS/PPS with its
        next keyframe, in the same connection, while the stream header still holds the old
        ones. Clips are remuxed with the template's parameters, so a keyframe carrying other
        parameter sets than the template's starts a new template (and the packet ring and the
        clips in progress start afresh with it).
        """
        inband = inband_parameter_sets(bytes(keyframe), stream.codec_context.name)
        if template is not None and (inband is None or inband == parameters):
            return template, parameters
        new = StreamTemplate.from_stream(stream, keyframe, parameter_sets=inband)
        if template is not None:
            logger.info(
                "camera %s: stream parameters changed mid-stream (%dx%d -> %dx%d); evidence "
                "clips restart from this keyframe",
                self.settings.camera_id,
                template.width_px,
                template.height_px,
                new.width_px,
                new.height_px,
            )
        return new, inband

    def _pace(self, origin: tuple[float, float] | None, pts_s: float) -> tuple[float, float]:
        """Sleep until ``pts_s`` is due in wall-clock time (files played like a camera)."""
        now = time.monotonic()
        if origin is None or pts_s < origin[1]:
            return (now, pts_s)
        delay = origin[0] + (pts_s - origin[1]) - now
        if delay > 0:
            self._stop.wait(delay)
        return origin

    def _encoded(
        self, packet: av.packet.Packet, template: StreamTemplate, time_base: Fraction
    ) -> EncodedPacket:
        pts = packet.pts if packet.pts is not None else packet.dts
        dts = packet.dts if packet.dts is not None else pts
        pts_s = self.clock.map(pts, time_base)
        return EncodedPacket(
            data=bytes(packet),
            pts_s=pts_s,
            dts_s=self.clock.map(dts, time_base) if dts is not None else pts_s,
            duration_s=float(packet.duration * time_base) if packet.duration else 0.0,
            is_keyframe=bool(packet.is_keyframe),
            template=template,
        )

    def _frame(self, frame: av.video.frame.VideoFrame, time_base: Fraction) -> Frame | None:
        s = self.settings
        ts = frame.pts if frame.pts is not None else frame.dts
        pts_s = self.clock.frame_time(ts, frame.time_base or time_base)
        seq = self._seq
        self._seq += 1
        self._frames_in += 1
        self._note_rate()
        if self._hw_format is not None:
            self._note_device(frame)
        if frame.is_corrupt:
            # The decoder patched up missing or damaged data (grey or smeared blocks until the
            # next keyframe): to the analysis that looks like motion, so it is counted, not used.
            with self._lock:
                self._decode_errors += 1
                self._last_error = (
                    f"camera {s.camera_id} ({s.safe_url}): corrupt video data: frames the "
                    "decoder had to conceal are skipped"
                )
            return None
        if not self._sampler.accept(pts_s):
            return None
        image = self._to_bgr(frame, s.width_px)
        self._frames_out += 1
        self._last_pts_s = pts_s
        return Frame(
            camera_id=s.camera_id,
            seq=seq,
            pts_s=pts_s,
            captured_at=datetime.now(UTC),
            image=image,
        )

    def _to_bgr(self, frame: av.video.frame.VideoFrame, width_px: int | None) -> np.ndarray:
        # One reformatter for the source, on one thread: frame.reformat() sets FFmpeg's scaler
        # up anew for every frame, with a thread pool. Measured on the 720p25 bench facade clip
        # to 480x270: 0.63-0.70 against 1.46-2.0 CPU-ms a frame, the same bytes.
        if width_px is None or width_px == frame.width:
            image = self._reformatter.reformat(frame, format="bgr24", threads=1).to_ndarray()
        else:
            height_px = max(2, round(frame.height * width_px / frame.width / 2) * 2)
            # Scale inside FFmpeg straight to BGR: no full-size array is ever made.
            image = self._reformatter.reformat(
                frame,
                width=width_px,
                height=height_px,
                format="bgr24",
                interpolation="FAST_BILINEAR",
                threads=1,
            ).to_ndarray()
        image.flags.writeable = False
        return image

    def _note_device(self, frame: av.video.frame.VideoFrame) -> None:
        """Track whether frames really come off the device.

        FFmpeg falls back to software for a stream the device cannot decode (a profile NVDEC
        lacks) at the first frame or after a mid-stream parameter change: logged once each time.
        """
        on_device = self._hw is not None and frame.format.name == self._hw_format
        active = self._hw.kind.value if on_device and self._hw is not None else None
        if active is None and (self._hw_active is not None or not self._hw_noted):
            logger.warning(
                "camera %s: the %s decoder handed this stream over to software decoding (a "
                "stream profile the device cannot decode?)",
                self.settings.camera_id,
                self._hw.kind.value if self._hw is not None else "hardware",
            )
        self._hw_noted = True
        if active != self._hw_active:
            with self._lock:
                self._hw_active = active

    def _note_rate(self) -> None:
        # Frames per wall-clock second over the last ~2 s (what the camera really sends).
        now = time.monotonic()
        window = self._fps_window
        window.append(now)
        if now - window[0] > 2.0:
            del window[: len(window) // 2]
            if len(window) >= 2 and now > window[0]:
                self._fps_in = (len(window) - 1) / (now - window[0])


def classify_av_error(
    exc: av.error.FFmpegError,
    where: str,
    *,
    opening: bool,
    waited_s: float | None = None,
    timeout_s: float | None = None,
) -> SourceError:
    """Turn a PyAV/FFmpeg error into one of ours, with a message that names the source.

    The messages never include the URL FFmpeg saw (it may hold a password): ``where`` carries
    the redacted one. ``waited_s`` (how long the failed call took) and ``timeout_s`` (its read
    timeout) tell a server that accepted and never answered from one that sent garbage: FFmpeg
    reports both as invalid data, but only the silent one takes the whole timeout.
    """
    reason = exc.strerror or type(exc).__name__
    silent = waited_s is not None and timeout_s is not None and waited_s >= 0.9 * timeout_s
    if silent and isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        return SourceConnectionError(
            f"{where}: timed out: connected, but no answer within {waited_s:.1f} s"
        )
    # RTSP 401 surfaces as EPERM/EACCES or as FFmpeg's HTTP 401/403 errors, by protocol.
    auth_errors: tuple[type[BaseException], ...] = (
        av.error.PermissionError,
        av.error.HTTPUnauthorizedError,
        av.error.HTTPForbiddenError,
    )
    if isinstance(exc, auth_errors):
        return SourceAuthError(f"{where}: credentials refused (401/403 Unauthorized): {reason}")
    if isinstance(exc, (av.error.FileNotFoundError, av.error.HTTPNotFoundError)):
        return SourceNotFoundError(f"{where}: stream or file not found: {reason}")
    if isinstance(exc, (av.error.InvalidDataError, av.error.PatchWelcomeError)):
        what = "not a readable video stream" if opening else "corrupt stream data"
        return DecodeError(f"{where}: {what}: {reason}")
    if isinstance(exc, av.error.ExitError):  # PyAV's own timeout interrupted the read
        limit = "" if timeout_s is None else f" within {timeout_s:g} s"
        return SourceConnectionError(f"{where}: timed out: nothing received{limit}")
    if isinstance(exc, av.error.TimeoutError):
        return SourceConnectionError(f"{where}: timed out: {reason}")
    if isinstance(exc, av.error.ConnectionRefusedError):
        return SourceConnectionError(f"{where}: connection refused: {reason}")
    verb = "cannot open" if opening else "read failed"
    return SourceConnectionError(f"{where}: {verb}: {reason}")
