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
import av.packet
import av.stream
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
        cls, stream: av.video.stream.VideoStream, first_keyframe: av.packet.Packet
    ) -> StreamTemplate:
        ctx = stream.codec_context
        extradata = bytes(ctx.extradata or b"")
        buf = io.BytesIO()
        with av.open(buf, "w", format="nut") as out:
            out_stream = out.add_stream_from_template(stream)
            copy = av.packet.Packet(bytes(first_keyframe))
            copy.pts = 0
            copy.dts = 0
            copy.time_base = Fraction(1, 90_000)
            copy.is_keyframe = True
            copy.stream = out_stream
            out.mux(copy)
        digest = hashlib.sha256()
        digest.update(f"{ctx.name}:{ctx.width}x{ctx.height}:".encode())
        digest.update(extradata)
        rate = getattr(stream, "average_rate", None)
        return cls(
            codec_name=str(ctx.name),
            width_px=int(ctx.width),
            height_px=int(ctx.height),
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
