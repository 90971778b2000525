"""``hazardwatch probe``: connect to a camera URL as a pipeline would and report what it sends."""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field

from cameras.errors import SourceError
from cameras.packets import EncodedPacket
from cameras.redact import redact_text, redact_url
from cameras.source import SourceSettings, VideoSource


@dataclass(slots=True)
class ProbeResult:
    """What ``probe`` found; ``to_dict`` gives the JSON of ARCHITECTURE.md §3."""

    url: str
    connected: bool = False
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps_measured: float = 0.0
    frames: int = 0
    reconnects: int = 0
    keyframe_interval_s: float | None = None
    bitrate_kbps: float | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def probe(
    url: str,
    seconds: float = 5.0,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 5.0,
    rtsp_transport: str = "tcp",
) -> ProbeResult:
    """Read ``seconds`` of stream time (or until a file ends) and measure the stream.

    Never raises for a bad source: failures are in ``errors`` with ``connected`` false.
    """
    result = ProbeResult(url=redact_url(url))
    keyframes: list[float] = []
    payload_bytes = 0

    def on_packet(packet: EncodedPacket) -> None:
        nonlocal payload_bytes
        payload_bytes += packet.size_bytes
        if packet.is_keyframe:
            keyframes.append(packet.pts_s)

    settings = SourceSettings(
        camera_id="probe",
        url=url,
        width_px=None,
        fps=1.0,  # convert one frame a second; every frame is still decoded and counted
        rtsp_transport=rtsp_transport,
        connect_timeout_s=connect_timeout_s,
        read_timeout_s=read_timeout_s,
        max_connect_attempts=1,
    )
    source = VideoSource(settings, on_packet=on_packet)
    deadline = time.monotonic() + seconds + connect_timeout_s + 2 * read_timeout_s
    try:
        for _frame in source.frames():
            result.connected = True
            last_s = source.clock.last_s or 0.0
            if last_s >= seconds or time.monotonic() > deadline:
                break
    except SourceError as exc:
        result.errors.append(redact_text(str(exc)))
    finally:
        source.stop()
    status = source.status()
    result.connected = result.connected or status.frames_in > 0
    result.codec = status.codec
    result.width = status.width_px
    result.height = status.height_px
    result.frames = status.frames_in
    result.reconnects = status.reconnects
    span_s = source.clock.last_s or 0.0
    if status.frames_in > 1 and span_s > 0:
        result.fps_measured = round((status.frames_in - 1) / span_s, 2)
        result.bitrate_kbps = round(payload_bytes * 8 / span_s / 1000, 1)
    if len(keyframes) >= 2:
        gaps = [b - a for a, b in itertools.pairwise(keyframes)]
        result.keyframe_interval_s = round(sorted(gaps)[len(gaps) // 2], 3)
    if status.last_error and not result.errors and not result.connected:
        result.errors.append(redact_text(status.last_error))
    return result
