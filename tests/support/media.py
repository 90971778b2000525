"""Generated H.264 test media with known content.

Every clip made here has:

- a textured background (static low-frequency texture plus fine grain), so that it is not trivially
  compressible; the ``noisy`` pattern adds fresh luma noise to every frame, like a CCTV sensor at
  night, so that a bitrate-capped encode comes out near the requested bitrate;
- a bright (white) square box moving horizontally at a known speed, bouncing between the left and
  right edges (:func:`box_xyxy` gives its position in any frame);
- the frame index written along the top edge as 16 black/white blocks (most significant bit first,
  white = 1), each ``width / 16`` pixels wide and ``height / 16`` high, which survive H.264 and
  scaling to a third of the size (:func:`read_frame_index` decodes it back).

Frames are encoded by PyAV's libx264 with a keyframe exactly every ``gop`` frames, no B-frames and
frame ``i`` at ``pts = i`` in time base ``1/fps``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Iterator
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.packet
import cv2
import numpy as np

INDEX_BITS = 16
"""Number of blocks (bits) in the frame-index band; indices run from 0 to 2**16 - 1."""

INDEX_BAND_HEIGHT_NORM = 1.0 / 16.0
"""Height of the frame-index band as a fraction of the frame height."""

BOX_SPEED_NORM_PER_S = 0.25
"""Horizontal speed of the moving box, in frame widths per second."""

BOX_SIZE_NORM = 1.0 / 6.0
"""Side of the moving box as a fraction of the frame height."""

BOX_CENTER_Y_NORM = 0.55
"""Vertical centre of the moving box as a fraction of the frame height."""

MIN_WIDTH_PX = 8 * INDEX_BITS  # every index block at least 8 px wide
MIN_HEIGHT_PX = 64

_Y_BLACK = 16  # limited-range luma: decodes to BGR (0, 0, 0)
_Y_WHITE = 235  # limited-range luma: decodes to BGR (255, 255, 255)
_BACKGROUND_Y_RANGE = (40, 180)  # the box (white) stays the brightest thing in the frame
_NOISE_FIELDS = 7  # distinct per-frame noise fields, cycled (longer than any x264 reference list)
_NOISE_SIGMA_Y = 3.0  # 1080p: ~13 Mbit/s at crf 23, so a 4 Mbit/s cap binds
_GENERATOR_VERSION = 1  # bump when the content changes, so cached clips are regenerated

_CONTAINER_FORMATS = {"mp4": "mp4", "mkv": "matroska", "ts": "mpegts"}


class ClipPattern(StrEnum):
    """Content of a generated clip."""

    MOVING_BOX = "moving_box"  # static textured background, moving box, index band
    NOISY = "noisy"  # the same plus fresh sensor noise on every frame (CCTV-like bitrate)


def index_band_height_px(height_px: int) -> int:
    """Height in pixels of the frame-index band for a frame ``height_px`` high (even)."""
    return max(8, 2 * round(height_px * INDEX_BAND_HEIGHT_NORM / 2))


def box_xyxy(index: int, *, width: int, height: int, fps: int) -> tuple[int, int, int, int]:
    """Pixel box ``(x1, y1, x2, y2)`` (exclusive ends) of the moving box in frame ``index``.

    The box moves at ``BOX_SPEED_NORM_PER_S * width`` pixels per second of stream time
    (``index / fps``), bouncing between the left and right edges; its top-left corner is on even
    pixels so that it is aligned with the 4:2:0 chroma grid.
    """
    side = max(8, 2 * round(height * BOX_SIZE_NORM / 2))
    travel = width - side
    distance = BOX_SPEED_NORM_PER_S * width * index / fps
    phase = distance % (2 * travel)
    x1 = int(phase if phase <= travel else 2 * travel - phase) // 2 * 2
    y1 = int(height * BOX_CENTER_Y_NORM - side / 2) // 2 * 2
    return x1, y1, x1 + side, y1 + side


def read_frame_index(image_bgr: np.ndarray) -> int:
    """Decode the frame index from the black/white band along the top of a decoded frame.

    Args:
        image_bgr: uint8 array (H, W, 3), BGR, of a generated clip's frame, at any scale down to a
            third of the encoded size.

    Returns:
        The frame index (0 .. 65535) written into the frame.

    Raises:
        ValueError: if the array is not (H, W, 3) uint8, is too small to hold the band, or a block
            of the band is neither clearly black nor clearly white (not a generated frame).
    """
    if not isinstance(image_bgr, np.ndarray) or image_bgr.dtype != np.uint8:
        got = getattr(image_bgr, "dtype", type(image_bgr).__name__)
        raise ValueError(f"read_frame_index: image must be a uint8 ndarray, got {got}")
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(
            f"read_frame_index: image must have shape (H, W, 3), got {image_bgr.shape}"
        )
    height, width = image_bgr.shape[:2]
    if width < 2 * INDEX_BITS or height < 16:
        raise ValueError(
            f"read_frame_index: image {width}x{height} is too small to hold the index band "
            f"(needs at least {2 * INDEX_BITS}x16)"
        )
    band_h = height * INDEX_BAND_HEIGHT_NORM
    block_w = width / INDEX_BITS
    y0, y1 = int(band_h * 0.25), max(int(band_h * 0.25) + 1, int(band_h * 0.75))
    value = 0
    for bit in range(INDEX_BITS):
        x0 = int((bit + 0.3) * block_w)
        x1 = max(x0 + 1, int((bit + 0.7) * block_w))
        mean = float(image_bgr[y0:y1, x0:x1].mean())
        if 80.0 < mean < 175.0:
            raise ValueError(
                f"read_frame_index: block {bit} of the index band has mean level {mean:.0f}, "
                "neither black nor white: not a generated frame, or too damaged to read"
            )
        value = (value << 1) | int(mean >= 128.0)
    return value


def _check_params(
    width: int,
    height: int,
    fps: int,
    seconds: float,
    gop: int,
    bitrate: int | None,
    crf: int | None,
    pattern: str,
    container: str,
) -> None:
    """Raise ValueError naming the first bad parameter of :func:`make_h264_clip`."""
    if width < MIN_WIDTH_PX or width % 2:
        raise ValueError(f"make_h264_clip: width must be even and >= {MIN_WIDTH_PX}, got {width}")
    if height < MIN_HEIGHT_PX or height % 2:
        raise ValueError(
            f"make_h264_clip: height must be even and >= {MIN_HEIGHT_PX}, got {height}"
        )
    if not 1 <= fps <= 240:
        raise ValueError(f"make_h264_clip: fps must be an integer in 1..240, got {fps}")
    n_frames = round(seconds * fps)
    if not 1 <= n_frames < 2**INDEX_BITS:
        raise ValueError(
            f"make_h264_clip: seconds={seconds} at fps={fps} gives {n_frames} frames, "
            f"must be 1..{2**INDEX_BITS - 1}"
        )
    if gop < 1:
        raise ValueError(f"make_h264_clip: gop must be >= 1, got {gop}")
    if bitrate is not None and crf is not None:
        raise ValueError("make_h264_clip: give bitrate or crf, not both")
    if bitrate is not None and bitrate < 10_000:
        raise ValueError(f"make_h264_clip: bitrate is in bit/s and must be >= 10000, got {bitrate}")
    if crf is not None and not 0 <= crf <= 51:
        raise ValueError(f"make_h264_clip: crf must be in 0..51, got {crf}")
    if pattern not in ClipPattern.__members__.values():
        allowed = ", ".join(p.value for p in ClipPattern)
        raise ValueError(f"make_h264_clip: unknown pattern {pattern!r}; expected one of {allowed}")
    if container not in _CONTAINER_FORMATS:
        allowed = ", ".join(_CONTAINER_FORMATS)
        raise ValueError(
            f"make_h264_clip: unknown container {container!r}; expected one of {allowed}"
        )


class _Scene:
    """Builds the yuv420p planes of each frame of one clip."""

    def __init__(self, width: int, height: int, fps: int, pattern: ClipPattern) -> None:
        self.width, self.height, self.fps = width, height, fps
        rng = np.random.default_rng(20261124)
        low, high = _BACKGROUND_Y_RANGE
        coarse = rng.integers(low + 20, high - 20, size=(height // 24 + 2, width // 24 + 2))
        smooth = cv2.resize(
            coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
        )
        grain = rng.normal(0.0, 8.0, size=(height, width))
        self.y = np.clip(smooth + grain, low, high).astype(np.uint8)
        chroma_shape = (height // 2, width // 2)
        self.u = rng.integers(108, 148, size=chroma_shape, dtype=np.uint8)
        self.v = rng.integers(108, 148, size=chroma_shape, dtype=np.uint8)
        band_h = index_band_height_px(height)
        self.u[: band_h // 2] = 128
        self.v[: band_h // 2] = 128
        self.band_h = band_h
        self.noise: list[np.ndarray] = []
        if pattern is ClipPattern.NOISY:
            self.noise = [
                np.clip(rng.normal(0.0, _NOISE_SIGMA_Y, size=(height, width)), -40, 40).astype(
                    np.int16
                )
                for _ in range(_NOISE_FIELDS)
            ]

    def frame(self, index: int) -> np.ndarray:
        """The (H * 3 / 2, W) uint8 yuv420p buffer of frame ``index``."""
        h, w = self.height, self.width
        buf = np.empty((h * 3 // 2, w), dtype=np.uint8)
        flat = buf.reshape(-1)
        y = flat[: h * w].reshape(h, w)
        u = flat[h * w : h * w * 5 // 4].reshape(h // 2, w // 2)
        v = flat[h * w * 5 // 4 :].reshape(h // 2, w // 2)
        if self.noise:
            noisy = self.y.astype(np.int16) + self.noise[index % len(self.noise)]
            np.clip(noisy, 0, 255, out=noisy)
            y[:] = noisy
        else:
            y[:] = self.y
        u[:] = self.u
        v[:] = self.v
        x1, y1, x2, y2 = box_xyxy(index, width=w, height=h, fps=self.fps)
        y[y1:y2, x1:x2] = _Y_WHITE
        u[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2] = 128
        v[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2] = 128
        for bit in range(INDEX_BITS):
            on = (index >> (INDEX_BITS - 1 - bit)) & 1
            bx0, bx1 = bit * w // INDEX_BITS, (bit + 1) * w // INDEX_BITS
            y[: self.band_h, bx0:bx1] = _Y_WHITE if on else _Y_BLACK
        return buf


def make_h264_clip(
    path: Path | str,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    seconds: float = 4.0,
    gop: int = 25,
    bitrate: int | None = None,
    crf: int | None = None,
    preset: str = "ultrafast",
    pattern: str = "moving_box",
    container: str = "mp4",
) -> Path:
    """Encode a clip of known content with libx264 and return its path.

    Args:
        path: output file; its parent directory must exist. Overwritten if present.
        width: frame width in pixels, even, >= 128.
        height: frame height in pixels, even, >= 64.
        fps: frames per second (integer); frame ``i`` has ``pts = i`` in time base ``1/fps``.
        seconds: duration; the clip has ``round(seconds * fps)`` frames.
        gop: a keyframe (IDR) exactly every ``gop`` frames, starting at frame 0.
        bitrate: target bit/s with ``maxrate = bitrate`` and ``bufsize = 2 * bitrate`` (a
            CCTV-like capped bitrate; pair it with ``pattern="noisy"`` so that the content needs
            it). Exclusive with ``crf``.
        crf: x264 constant rate factor 0..51 (default x264's 23 when neither is given).
        preset: x264 preset name.
        pattern: a :class:`ClipPattern` value.
        container: ``mp4``, ``mkv`` or ``ts``.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        ValueError: naming the first bad parameter.
        FileNotFoundError: if the parent directory of ``path`` does not exist.
    """
    _check_params(width, height, fps, seconds, gop, bitrate, crf, pattern, container)
    out_path = Path(path)
    if not out_path.parent.is_dir():
        raise FileNotFoundError(f"make_h264_clip: directory {out_path.parent} does not exist")
    options: dict[str, object] = {
        "g": str(gop),
        "keyint_min": str(gop),
        "sc_threshold": "0",
        "bf": "0",
        "tune": "zerolatency",
        "preset": preset,
        "threads": "1",  # deterministic output and polite on a shared 2-core machine
    }
    if crf is not None:
        options["crf"] = str(crf)
    if bitrate is not None:
        options["maxrate"] = str(bitrate)
        options["bufsize"] = str(2 * bitrate)
    scene = _Scene(width, height, fps, ClipPattern(pattern))
    time_base = Fraction(1, fps)
    with av.open(str(out_path), "w", format=_CONTAINER_FORMATS[container]) as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        if bitrate is not None:
            stream.bit_rate = bitrate
        stream.options = options
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(scene.frame(index), format="yuv420p")
            frame.pts, frame.time_base = index, time_base
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return out_path


def ensure_clip(cache_dir: Path | str, **params: Any) -> Path:
    """Return a cached clip made by :func:`make_h264_clip` with ``params``, generating it once.

    The file name is a hash of all parameters (defaults filled in) and of the generator version,
    so equal requests share one file. The clip is written to a temporary name and renamed into
    place, so a concurrent or interrupted run never leaves a half-written clip under the final name.

    Raises:
        TypeError: if ``params`` has a name that :func:`make_h264_clip` does not take.
        ValueError: as :func:`make_h264_clip`.
    """
    signature = inspect.signature(make_h264_clip)
    try:
        bound = signature.bind(Path("unused"), **params)
    except TypeError as exc:
        allowed = ", ".join(name for name in signature.parameters if name != "path")
        raise TypeError(f"ensure_clip: {exc}; allowed parameters: {allowed}") from exc
    bound.apply_defaults()
    arguments = {k: v for k, v in bound.arguments.items() if k != "path"}
    key = json.dumps({"version": _GENERATOR_VERSION, **arguments}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    directory = Path(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"clip-{digest}.{arguments['container']}"
    if final.is_file():
        return final
    partial = directory / f".{final.name}.{os.getpid()}.partial"
    try:
        make_h264_clip(partial, **arguments)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def make_garbage_file(path: Path | str, n_bytes: int, *, seed: int = 0) -> Path:
    """Write ``n_bytes`` of seeded random bytes (not a valid media file) to ``path``.

    Raises:
        ValueError: if ``n_bytes`` is negative.
    """
    if n_bytes < 0:
        raise ValueError(f"make_garbage_file: n_bytes must be >= 0, got {n_bytes}")
    out_path = Path(path)
    out_path.write_bytes(np.random.default_rng(seed).bytes(n_bytes))
    return out_path


def make_corrupted_clip(
    src: Path | str,
    dst: Path | str,
    *,
    loops: int = 3,
    corrupt_loops: tuple[int, ...] = (1,),
    flip_every: int = 4,
    flips: int = 8,
    truncate_every: int = 9,
    seed: int = 0,
) -> Path:
    """Write ``loops`` copies of the H.264 track of ``src`` back to back (stream copy, timestamps
    continuing) to ``dst``, damaging the copies in ``corrupt_loops`` the way a bad link does.

    In a damaged copy every ``flip_every``-th non-key packet gets ``flips`` random bits flipped
    in its slice data (past the NAL length and header, so the packet still parses), and every
    ``truncate_every``-th loses its second half (its NAL length rewritten to match, as a packet
    cut short would arrive). Keyframes are left intact, so decoding recovers at each one.

    Raises:
        ValueError: a bad count, or a corrupt loop outside ``range(loops)``.
    """
    if loops < 1 or flip_every < 1 or truncate_every < 1 or flips < 0:
        raise ValueError("make_corrupted_clip: loops, flip_every, truncate_every must be >= 1")
    if any(not 0 <= k < loops for k in corrupt_loops):
        raise ValueError(
            f"make_corrupted_clip: corrupt_loops {corrupt_loops} not in 0..{loops - 1}"
        )
    rng = np.random.default_rng(seed)
    out_path = Path(dst)
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        packets = [p for p in inp.demux(vin) if p.size]
        time_base = vin.time_base
        steps = [p.duration or 0 for p in packets]
        loop_ticks = packets[-1].pts - packets[0].pts + (steps[-1] or steps[0])
        payloads = [bytes(p) for p in packets]
        with av.open(str(out_path), "w", format=_CONTAINER_FORMATS["mp4"]) as out:
            vout = out.add_stream_from_template(vin)
            for loop in range(loops):
                for index, (packet, data) in enumerate(zip(packets, payloads, strict=True)):
                    if loop in corrupt_loops and not packet.is_keyframe:
                        data = _damage(data, index, rng, flip_every, flips, truncate_every)
                    copy = av.packet.Packet(data)
                    copy.pts = packet.pts + loop * loop_ticks
                    copy.dts = packet.dts + loop * loop_ticks
                    copy.duration = packet.duration
                    copy.time_base = time_base
                    copy.is_keyframe = packet.is_keyframe
                    copy.stream = vout
                    out.mux(copy)
    return out_path


def _damage(
    data: bytes,
    index: int,
    rng: np.random.Generator,
    flip_every: int,
    flips: int,
    truncate_every: int,
) -> bytes:
    header = 12  # 4-byte NAL length, NAL header and the start of the slice header
    if len(data) <= 4 * header:
        return data
    damaged = bytearray(data)
    if index % flip_every == 1:
        for offset in rng.integers(header, len(damaged), size=flips):
            damaged[int(offset)] ^= 1 << int(rng.integers(0, 8))
    if index % truncate_every == 4:
        damaged = damaged[: len(damaged) // 2]
        damaged[0:4] = (len(damaged) - 4).to_bytes(4, "big")
    return bytes(damaged)


def make_resolution_change_clip(
    src: Path | str, dst: Path | str, sizes: tuple[tuple[int, int], ...], *, gop: int = 25
) -> Path:
    """Re-encode ``src`` once per size in ``sizes`` and join the encodes into one MPEG-TS stream
    at ``dst``: the picture size changes mid-stream, as when a camera's stream profile is edited.

    MPEG-TS carries SPS/PPS in band, so the change reaches a reader (and the RTSP test server)
    inside one stream. Timestamps continue across the joins; every part starts with a keyframe.

    Raises:
        ValueError: no sizes, or an odd width or height.
    """
    if not sizes or any(w % 2 or h % 2 or w < 16 or h < 16 for w, h in sizes):
        raise ValueError(f"make_resolution_change_clip: sizes must be even and >= 16, got {sizes}")
    out_path = Path(dst)
    parts = []
    offset = 0
    for k, (width, height) in enumerate(sizes):
        part = out_path.with_name(f".{out_path.name}.part{k}.ts")
        offset = _encode_part(Path(src), part, width, height, gop, offset)
        parts.append(part)
    try:
        out_path.write_bytes(b"".join(part.read_bytes() for part in parts))
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    return out_path


def _encode_part(src: Path, dst: Path, width: int, height: int, gop: int, offset: int) -> int:
    """Encode ``src`` at ``width`` x ``height`` to MPEG-TS, frame pts from ``offset``; returns
    the pts after the last frame."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mpegts") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        time_base = Fraction(1, round(rate))
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0",
                          "tune": "zerolatency", "preset": "ultrafast", "threads": "1"}  # fmt: skip
        pts = offset
        for frame in inp.decode(vin):
            scaled = frame.reformat(width, height, "yuv420p")
            scaled.pts, scaled.time_base = pts, time_base
            out.mux(stream.encode(scaled))
            pts += 1
        out.mux(stream.encode(None))
    return pts


def mp4_declared_size(path: Path | str) -> tuple[int, int]:
    """Width and height the video track of an MP4 declares (its ``tkhd`` box), which is what a
    player lays out before it decodes anything.

    Raises:
        ValueError: no ``moov/trak/tkhd`` box in the file.
    """
    data = Path(path).read_bytes()

    def boxes(start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        pos = start
        while pos + 8 <= end:
            size = int.from_bytes(data[pos : pos + 4], "big")
            kind = data[pos + 4 : pos + 8]
            header = 8
            if size == 1:
                size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
            elif size == 0:
                size = end - pos
            if size < header:
                return
            yield kind, pos + header, pos + size
            pos += size

    for kind, body, end in boxes(0, len(data)):
        if kind != b"moov":
            continue
        for trak_kind, trak, trak_end in boxes(body, end):
            if trak_kind != b"trak":
                continue
            for tkhd_kind, tkhd, _tkhd_end in boxes(trak, trak_end):
                if tkhd_kind == b"tkhd":
                    # version 0: 4 flags, 20 times and id, 8 reserved, 8 layer/group/volume,
                    # 36 matrix, then 16.16 width and height; version 1 has 12 more in the times.
                    offset = tkhd + (88 if data[tkhd] == 1 else 76)
                    width = int.from_bytes(data[offset : offset + 4], "big") >> 16
                    height = int.from_bytes(data[offset + 4 : offset + 8], "big") >> 16
                    if width and height:
                        return width, height
    raise ValueError(f"mp4_declared_size: no video track header (moov/trak/tkhd) in {path}")
