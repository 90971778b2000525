"""Encoded video packets kept for evidence, and the codec template needed to remux them.

Packets are kept encoded (never as pixels): demuxing costs almost nothing and lets clips be
stream-copied instead of re-encoded.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.error
import av.packet
import av.stream
import av.video.codeccontext
import av.video.stream


@dataclass(frozen=True, slots=True)
class StreamTemplate:
    """Codec parameters of one connection's video stream, kept after the connection closes.

    PyAV can only create an output stream that carries the exact codec parameters (SPS/PPS
    extradata in avcC or Annex B form) from a live ``Stream`` object, and streams die with
    their container. So the parameters are kept as a tiny NUT file holding the stream header and
    its first keyframe; NUT stores the extradata verbatim, whatever its form. Reopening it gives a
    template stream for ``add_stream_from_template``.

    Attributes:
        codec_name: FFmpeg codec name, e.g. ``h264``.
        width_px: coded width.
        height_px: coded height.
        fps: the stream's average frame rate, if known.
        nut_header: the NUT bytes described above.
        fingerprint: hex digest of codec, size and extradata: equal fingerprints can share a clip.
    """

    codec_name: str
    width_px: int
    height_px: int
    fps: Fraction | None
    nut_header: bytes
    fingerprint: str

    @classmethod
    def from_stream(
        cls,
        stream: av.video.stream.VideoStream,
        first_keyframe: av.packet.Packet,
        *,
        parameter_sets: bytes | None = None,
    ) -> StreamTemplate:
        """The template of ``stream`` from ``first_keyframe`` on.

        Args:
            parameter_sets: SPS/PPS (VPS) the keyframe carries in band, Annex B
                (:func:`inband_parameter_sets`): they replace the stream's extradata, and the
                picture size is read from them, since a camera whose profile was edited sends
                new ones mid-stream while the stream's own header still describes the old ones.
        """
        ctx = stream.codec_context
        extradata = bytes(ctx.extradata or b"")
        width, height = int(ctx.width), int(ctx.height)
        size = None
        if parameter_sets is not None:
            size = probe_size(str(ctx.name), bytes(first_keyframe))
        if parameter_sets is not None and size is not None:
            extradata, (width, height) = parameter_sets, size
        buf = io.BytesIO()
        with av.open(buf, "w", format="nut") as out:
            out_stream = out.add_stream_from_template(stream)
            if size is not None:
                out_stream.codec_context.extradata = extradata
                out_stream.codec_context.width = width
                out_stream.codec_context.height = height
            copy = av.packet.Packet(bytes(first_keyframe))
            copy.pts = 0
            copy.dts = 0
            copy.time_base = Fraction(1, 90_000)
            copy.is_keyframe = True
            copy.stream = out_stream
            out.mux(copy)
        digest = hashlib.sha256()
        digest.update(f"{ctx.name}:{width}x{height}:".encode())
        digest.update(extradata)
        rate = getattr(stream, "average_rate", None)
        return cls(
            codec_name=str(ctx.name),
            width_px=width,
            height_px=height,
            fps=Fraction(rate) if rate else None,
            nut_header=buf.getvalue(),
            fingerprint=digest.hexdigest(),
        )

    @contextmanager
    def open_stream(self) -> Iterator[av.video.stream.VideoStream]:
        """Yield a live template stream with this connection's codec parameters."""
        with av.open(io.BytesIO(self.nut_header), "r", format="nut") as container:
            yield container.streams.video[0]


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded video packet with stream-time timestamps.

    Attributes:
        data: the packet payload exactly as demuxed.
        pts_s: presentation time in seconds of stream time (the same clock as ``Frame.pts_s``).
        dts_s: decode time in seconds of stream time.
        duration_s: packet duration in seconds (0.0 when unknown).
        is_keyframe: whether decoding can start here.
        template: codec parameters of the connection this packet came from.
    """

    data: bytes
    pts_s: float
    dts_s: float
    duration_s: float
    is_keyframe: bool
    template: StreamTemplate

    @property
    def size_bytes(self) -> int:
        return len(self.data)


# Per codec: the NAL unit types of parameter sets, how to read a NAL's type from its first
# byte, and the types of slices (VCL), before which the parameter sets of an access unit come.
_PARAMETER_NALS = {
    "h264": (frozenset({7, 8}), lambda first: first & 0x1F, range(1, 6)),
    "hevc": (frozenset({32, 33, 34}), lambda first: (first >> 1) & 0x3F, range(32)),
}
_START_CODE = b"\x00\x00\x01"


def inband_parameter_sets(data: bytes, codec_name: str) -> bytes | None:
    """The parameter sets (H.264 SPS/PPS, HEVC VPS/SPS/PPS) at the head of an Annex B access
    unit, as Annex B bytes; None when there are none, the codec is another or the packet is
    length-prefixed (MP4-style: its parameters are in the stream's extradata)."""
    known = _PARAMETER_NALS.get(codec_name)
    if known is None or not (
        data.startswith(_START_CODE) or data.startswith(b"\x00" + _START_CODE)
    ):
        return None
    wanted, nal_type, slices = known
    found: list[bytes] = []
    start = data.find(_START_CODE)
    while start >= 0:
        begin = start + len(_START_CODE)
        following = data.find(_START_CODE, begin)
        nal = data[begin : len(data) if following < 0 else following].rstrip(b"\x00")
        if nal:
            kind = nal_type(nal[0])
            if kind in wanted:
                found.append(nal)
            elif kind in slices:
                break  # the first slice: parameter sets come before it
        start = following
    return b"".join(b"\x00\x00\x00\x01" + nal for nal in found) or None


def probe_size(codec_name: str, keyframe: bytes) -> tuple[int, int] | None:
    """Width and height of the picture an Annex B keyframe with in-band parameter sets decodes
    to (one throwaway decode: parameters change rarely), or None if it does not decode."""
    try:
        decoder = av.CodecContext.create(codec_name, "r")
        if not isinstance(decoder, av.video.codeccontext.VideoCodecContext):
            return None
        frames = [*decoder.decode(av.packet.Packet(keyframe)), *decoder.decode(None)]
    except (av.error.FFmpegError, ValueError):
        return None
    return (frames[0].width, frames[0].height) if frames else None
