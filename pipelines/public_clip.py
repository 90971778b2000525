"""The privacy-blurred public copy of an evidence clip, and the privacy track it is made from.

Residents see only closed tickets, through privacy-blurred copies (ARCHITECTURE.md §5). The
public clip is therefore made when it is first asked for, by the ticket service, not by the
camera pipeline: re-making a 1080p clip costs a full software decode plus blur and encode
(about 2 CPU-s per 20 s clip), which on an edge box took a quarter of a lane camera's CPU at one
hazard a minute, while most hazards are rejected or never published.

What the pipeline knows and the service does not is where people and plates were: so with each
clip the pipeline writes its **privacy track** (``privacy.json``, contract in ARCHITECTURE.md
§11), the privacy regions of the analysed frames in the clip's window by stream time, with the
settings of the public copy. :func:`write_public_clip` then makes the copy from the clip and the
track on whichever box serves it. Both files are evidence: hashed, and verified before use.

Privacy track (JSON, version 1)::

    {"version": 1, "clip_start_pts_s": 12.0, "box_hold_s": 1.0, "max_width_px": 640, "crf": 28,
     "samples": [[12.04, [[x1, y1, x2, y2], ...]], ...]}

``samples`` are (stream time in s, regions normalized to the frame) in time order; a clip frame
at stream time ``t`` is blurred with the regions of the sample nearest to ``t`` within
``box_hold_s`` (:class:`~pipelines.snapshots.PrivacyTimeline`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
import av.video.frame

from cameras.clips import sha256_file
from pipelines.evidence_crypto import (
    decodable,
    evidence_sealer,
    read_plaintext,
    write_evidence_bytes,
)
from pipelines.evidence_layout import (
    EvidenceError,
    fsync_dir,
    remove_quietly,
    temp_name,
)
from pipelines.evidence_layout import os_reason as _reason
from pipelines.snapshots import PrivacyTimeline, RegionNorm, blur_regions

logger = logging.getLogger(__name__)

PUBLIC_MAX_FPS = 12.5  # frame rate of the privacy-blurred public clips (at most)
BACKGROUND_NICE = 10  # nice value of the thread that re-encodes public clips
PRIVACY_TRACK_VERSION = 1
MAX_TRACK_BYTES = 16 * 1024 * 1024  # a 20 s window at 25 fps with 50 regions is ~0.5 MB
MAX_TRACK_SAMPLES = 200_000


@dataclass(frozen=True)
class PrivacyTrack:
    """Where to blur in a clip, and how to make its public copy (see the module docstring)."""

    clip_start_pts_s: float
    box_hold_s: float
    max_width_px: int
    crf: int
    timeline: PrivacyTimeline

    def regions_at(self, pts_s: float) -> tuple[RegionNorm, ...]:
        return self.timeline.regions_at(pts_s, self.box_hold_s)

    def to_json(self) -> bytes:
        samples = [
            [round(t, 4), [[round(v, 5) for v in region] for region in regions]]
            for t, regions in self.timeline.entries()
        ]
        record = {
            "version": PRIVACY_TRACK_VERSION,
            "clip_start_pts_s": self.clip_start_pts_s,
            "box_hold_s": self.box_hold_s,
            "max_width_px": self.max_width_px,
            "crf": self.crf,
            "samples": samples,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> PrivacyTrack:
        """Parse a privacy track.

        Raises:
            EvidenceError: naming ``where`` and the malformed field.
        """
        try:
            record = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EvidenceError(f"privacy track {where} is not JSON: {exc}") from None
        if not isinstance(record, Mapping):
            raise EvidenceError(f"privacy track {where}: not a JSON object")
        if record.get("version") != PRIVACY_TRACK_VERSION:
            raise EvidenceError(
                f"privacy track {where}: version {record.get('version')!r} is not "
                f"{PRIVACY_TRACK_VERSION}"
            )
        start = _number(record, "clip_start_pts_s", where, 0.0, 1e9)
        hold = _number(record, "box_hold_s", where, 0.0, 3600.0)
        width = int(_number(record, "max_width_px", where, 16, 16384, integer=True))
        crf = int(_number(record, "crf", where, 0, 51, integer=True))
        samples = record.get("samples")
        if not isinstance(samples, list) or len(samples) > MAX_TRACK_SAMPLES:
            raise EvidenceError(
                f"privacy track {where}: samples must be a list of at most {MAX_TRACK_SAMPLES}"
            )
        timeline = PrivacyTimeline(span_s=1e9)
        for index, sample in enumerate(samples):
            timeline.add(*_sample(sample, f"{where} samples[{index}]"))
        return cls(start, hold, width, crf, timeline)


def _number(
    record: Mapping[str, Any],
    key: str,
    where: str,
    lo: float,
    hi: float,
    *,
    integer: bool = False,
) -> float:
    value: Any = record.get(key)
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok or not (math.isfinite(value) and lo <= value <= hi):
        kind = "an integer" if integer else "a number"
        raise EvidenceError(
            f"privacy track {where}: {key} must be {kind} in {lo:g}..{hi:g}, got {value!r}"
        )
    return float(value)


def _sample(sample: Any, where: str) -> tuple[float, list[RegionNorm]]:
    if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[1], list)):
        raise EvidenceError(f"privacy track {where}: must be [time, [regions]]")
    t = sample[0]
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
        raise EvidenceError(f"privacy track {where}: time must be a number, got {t!r}")
    regions: list[RegionNorm] = []
    for region in sample[1]:
        if not (
            isinstance(region, list)
            and len(region) == 4
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0
                for v in region
            )
            and region[0] < region[2]
            and region[1] < region[3]
        ):
            raise EvidenceError(
                f"privacy track {where}: a region must be [x1, y1, x2, y2] in 0..1 with "
                f"x1 < x2 and y1 < y2, got {str(region)[:80]}"
            )
        regions.append((float(region[0]), float(region[1]), float(region[2]), float(region[3])))
    return float(t), regions


def write_privacy_track(path: Path, track: PrivacyTrack) -> str:
    """Write ``track`` atomically (temporary name, fsync, rename); returns its SHA-256.

    Raises:
        EvidenceError: the file cannot be written (the reason named).
    """
    return write_evidence_bytes(Path(path), track.to_json())  # encrypted when keyed


def read_privacy_track(path: Path) -> PrivacyTrack:
    """Read and check a privacy track file.

    Raises:
        EvidenceError: unreadable, too large or malformed (naming the file and the field).
    """
    try:
        data = read_plaintext(Path(path), MAX_TRACK_BYTES)  # plain or encrypted at rest
    except OSError as exc:
        raise EvidenceError(f"cannot read privacy track {path}: {_reason(exc)}") from None
    if len(data) > MAX_TRACK_BYTES:
        raise EvidenceError(f"privacy track {path} is larger than {MAX_TRACK_BYTES} bytes")
    return PrivacyTrack.from_json(data, str(path))


# ----- the public clip -----------------------------------------------------------------------


def public_size(width_px: int, height_px: int, max_width_px: int) -> tuple[int, int]:
    """Output size at most ``max_width_px`` wide, aspect kept, both sides even."""
    if width_px <= max_width_px:
        return width_px // 2 * 2, height_px // 2 * 2
    height = round(height_px * max_width_px / width_px)
    return max_width_px // 2 * 2, max(2, height // 2 * 2)


def write_public_clip(
    src: Path,
    dst: Path,
    regions_at: Callable[[float], Sequence[RegionNorm]],
    *,
    start_pts_s: float,
    max_width_px: int = 640,
    crf: int = 28,
) -> str:
    """Decode ``src``, pixelate each frame's privacy regions, re-encode small to ``dst``.

    Args:
        src: the evidence clip (any codec PyAV decodes).
        dst: the public clip to write (H.264, libx264 ultrafast, yuv420p, faststart).
        regions_at: stream time (s) -> regions to blur in that frame (normalized).
        start_pts_s: stream time of the clip's first frame (maps clip time to stream time).
        max_width_px: the output is at most this wide (aspect kept).
        crf: x264 constant rate factor.

    Returns:
        The SHA-256 of the written file.

    Raises:
        EvidenceError: the source cannot be decoded or the output cannot be written.
    """
    tmp = temp_name(Path(dst)).with_suffix(".mp4")
    try:
        frames = _transcode(src, tmp, regions_at, start_pts_s, max_width_px, crf)
        if frames == 0:
            raise EvidenceError(f"public clip from {src}: the clip has no decodable frame")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        digest = sha256_file(tmp)
        sealer = evidence_sealer()
        if sealer is not None:  # encrypted at rest before it is named final
            sealer(tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        remove_quietly(tmp)
        raise EvidenceError(f"cannot write {dst}: {_reason(exc)}") from exc
    except av.error.FFmpegError as exc:
        remove_quietly(tmp)
        raise EvidenceError(f"public clip {dst} from {src}: {exc}") from exc
    except EvidenceError:
        remove_quietly(tmp)
        raise
    fsync_dir(Path(dst).parent)
    return digest


def write_public_clip_from_track(src: Path, dst: Path, track: PrivacyTrack) -> str:
    """:func:`write_public_clip` with the regions and settings of a privacy track."""
    return write_public_clip(
        src,
        dst,
        track.regions_at,
        start_pts_s=track.clip_start_pts_s,
        max_width_px=track.max_width_px,
        crf=track.crf,
    )


def _transcode(
    src: Path,
    tmp: Path,
    regions_at: Callable[[float], Sequence[RegionNorm]],
    start_pts_s: float,
    max_width_px: int,
    crf: int,
) -> int:
    with decodable(src) as source, av.open(source, mode="r") as inp:  # decrypted if encrypted
        vin = inp.streams.video[0]
        vin.codec_context.thread_count = 1  # polite on a shared box; this is background work
        # The public copy is small and pixelated: the deblocking filter's ~20 % of the decode
        # buys nothing visible in it.
        vin.codec_context.options = {"skip_loop_filter": "all"}
        width, height = public_size(vin.codec_context.width, vin.codec_context.height, max_width_px)
        time_base = vin.time_base or Fraction(1, 90_000)
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        # At most PUBLIC_MAX_FPS: the copy residents see needs no more, and every frame kept
        # costs a scale, a blur and an encode (a 20 s 1080p clip: 3.8 CPU-s at 25 fps).
        step = max(1, math.ceil(float(rate) / PUBLIC_MAX_FPS))
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = out.add_stream("libx264", rate=rate / step)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.codec_context.time_base = time_base
            vout.options = {"preset": "ultrafast", "crf": str(crf), "threads": "1"}
            first_s: float | None = None
            decoded = 0
            frames = 0
            last_pts = -1
            for frame in inp.decode(vin):
                clip_s = float(frame.time) if frame.time is not None else decoded / float(rate)
                decoded += 1
                if (decoded - 1) % step:
                    continue
                first_s = clip_s if first_s is None else first_s
                regions = regions_at(start_pts_s + clip_s - first_s)
                if regions:
                    image = frame.reformat(
                        width, height, "bgr24", interpolation="AREA"
                    ).to_ndarray()
                    image = blur_regions(image, regions)
                    small = av.video.frame.VideoFrame.from_ndarray(image, format="bgr24")
                    small = small.reformat(format="yuv420p")
                else:
                    small = frame.reformat(width, height, "yuv420p", interpolation="AREA")
                pts = frame.pts if frame.pts is not None else round(clip_s / time_base)
                last_pts = pts = max(pts, last_pts + 1)
                small.pts, small.time_base = pts, time_base
                out.mux(vout.encode(small))
                frames += 1
            out.mux(vout.encode(None))
    return frames


def background_priority() -> None:
    """Lower the calling thread's CPU priority (Linux threads have their own nice value): a
    public clip's re-encoding (seconds of CPU) must not slow the requests and consumers beside
    it. Elsewhere, or when refused, it runs at normal priority (and says so)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (OSError, AttributeError) as exc:
        logger.info("public clips run at normal priority: %s", exc)
