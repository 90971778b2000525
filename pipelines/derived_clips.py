"""Derived clips: one real clip re-made under the conditions real cameras add to it.

A rule tuned on clean files fails on what NVRs, transcoders and networks do to a stream. Each
:class:`Derivation` re-creates one such condition from a source clip, keeping the scene and its
timing so the source's labels (onsets, zones, floors) still hold:

* ``repeat_every_3rd``: a 20 fps sensor re-muxed to 30 fps; every third picture repeats the one
  before (the pictures shown are those a 20 fps sensor would have taken).
* ``drop_frames``: about 12 % of frames lost, singly and in runs of up to 3 (a congested link);
  the survivors keep their own timestamps, so the gaps are irregular.
* ``irregular_timestamps``: every frame kept, its timestamp jittered by up to ±40 % of a frame
  interval (cameras that stamp frames on arrival), still strictly increasing.
* ``crf38``: heavy compression (H.264 CRF 38), the blocking and smearing of a cheap camera or a
  starved uplink.
* ``substream_640x360``: the picture scaled to fit 640x360 (a camera's analysis substream).
* ``night_gray``: infrared night mode: gray, flat contrast, lifted blacks and sensor noise.

Derivations chain (``[night_gray, crf38]``) and are deterministic: the same source, chain and
:data:`DERIVE_VERSION` give the same file, which :func:`derived_clip` caches under
:func:`derived_cache_dir` by the source's SHA-256. ``hazardwatch derive`` exposes them so a
deployer can test their own clips the same way, and suite entries name them with ``derive:``
(:mod:`pipelines.suite`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

logger = logging.getLogger(__name__)

# Part of the cache key: bump it whenever a derivation's output changes, or caches made by the
# older code (CI machines keep ~/.cache) would be replayed as if they were the new derivation.
DERIVE_VERSION = 2
# output timestamps are in 1/90000 s (the RTP video clock), fine enough for jittered stamps
OUT_TIME_BASE = Fraction(1, 90000)
DEFAULT_CRF = 23
HEAVY_CRF = 38


class Derivation(StrEnum):
    REPEAT_EVERY_3RD = "repeat_every_3rd"
    DROP_FRAMES = "drop_frames"
    IRREGULAR_TIMESTAMPS = "irregular_timestamps"
    CRF38 = "crf38"
    SUBSTREAM_640X360 = "substream_640x360"
    NIGHT_GRAY = "night_gray"


class DeriveError(Exception):
    """A source that cannot be read or a derivation that cannot be made; names the file."""


@dataclass(frozen=True, slots=True)
class _Picture:
    """One decoded source picture: BGR pixels and its time in seconds from the first frame."""

    bgr: np.ndarray
    t_s: float


def parse_derivations(names: Sequence[str], where: str = "derive") -> tuple[Derivation, ...]:
    """The derivations named, in order.

    Raises:
        ValueError: ``"<where>[i]: unknown derivation 'x'; allowed: [...]"``.
    """
    allowed = [d.value for d in Derivation]
    chain = []
    for index, name in enumerate(names):
        try:
            chain.append(Derivation(name))
        except ValueError:
            raise ValueError(
                f"{where}[{index}]: unknown derivation {name!r}; allowed: {allowed}"
            ) from None
    return tuple(chain)


def derived_cache_dir() -> Path:
    """Where derived clips are kept: ``$HAZARDWATCH_DERIVED_DIR``, else the user's cache."""
    explicit = os.environ.get("HAZARDWATCH_DERIVED_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hazardwatch" / "derived"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def derived_clip(source: Path, chain: Sequence[Derivation], cache_dir: Path | None = None) -> Path:
    """The file of ``source`` with ``chain`` applied, made once and then read from the cache.

    Raises:
        DeriveError: the source is missing, unreadable or not a video.
    """
    if not chain:
        return source
    if not source.is_file():
        raise DeriveError(f"{source}: source clip not found")
    folder = derived_cache_dir() if cache_dir is None else cache_dir
    names = "+".join(d.value for d in chain)
    key = hashlib.sha256(f"{_sha256(source)}|{names}|v{DERIVE_VERSION}".encode()).hexdigest()[:16]
    out = folder / f"{source.stem}.{names}.{key}.mp4"
    if out.is_file():
        return out
    folder.mkdir(parents=True, exist_ok=True)
    derive_file(source, out, chain)
    return out


def derive_file(source: Path, out: Path, chain: Sequence[Derivation], seed: int = 0) -> None:
    """Write ``source`` with ``chain`` applied to ``out`` (H.264 MP4), atomically.

    Raises:
        DeriveError: the source cannot be decoded or has no video stream.
    """
    pictures: Iterator[_Picture] = _decode(source)
    rng = np.random.default_rng(seed)
    fps = _frame_rate(source)
    crf = DEFAULT_CRF
    for step in chain:
        if step is Derivation.CRF38:
            crf = HEAVY_CRF
        else:
            pictures = _apply(step, pictures, fps, rng)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".mp4", dir=out.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        count = _encode(pictures, tmp, fps, crf)
        if count == 0:
            raise DeriveError(f"{source}: no video frames decoded")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("derived %s: %s (%d frames)", out, "+".join(d.value for d in chain), count)


def _frame_rate(source: Path) -> float:
    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise DeriveError(f"{source}: no video stream")
            rate = container.streams.video[0].average_rate or container.streams.video[0].base_rate
    except av.FFmpegError as exc:
        raise DeriveError(f"{source}: cannot open: {exc}") from exc
    return float(rate) if rate else 25.0


def _decode(source: Path) -> Iterator[_Picture]:
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            first: float | None = None
            for index, frame in enumerate(container.decode(stream)):
                t = frame.time if frame.time is not None else index / float(stream.average_rate)
                first = t if first is None else first
                yield _Picture(frame.to_ndarray(format="bgr24"), t - first)
    except av.FFmpegError as exc:
        raise DeriveError(f"{source}: cannot decode: {exc}") from exc


def _apply(
    step: Derivation, pictures: Iterator[_Picture], fps: float, rng: np.random.Generator
) -> Iterator[_Picture]:
    if step is Derivation.REPEAT_EVERY_3RD:
        return _repeat_every_third(pictures)
    if step is Derivation.DROP_FRAMES:
        return _drop_frames(pictures, rng)
    if step is Derivation.IRREGULAR_TIMESTAMPS:
        return _jitter(pictures, fps, rng)
    if step is Derivation.SUBSTREAM_640X360:
        return (_Picture(_fit(p.bgr, 640, 360), p.t_s) for p in pictures)
    if step is Derivation.NIGHT_GRAY:
        return (_Picture(_night(p.bgr, rng), p.t_s) for p in pictures)
    raise AssertionError(f"unhandled derivation {step}")


def _repeat_every_third(pictures: Iterator[_Picture]) -> Iterator[_Picture]:
    """Output frame k (at the source's time k) shows the newest picture a sensor running at 2/3 of
    the rate had taken by then: sensor picture j = floor(2k/3), taken at source frame
    floor(1.5 j) (never later than the frame that shows it)."""
    source = list(pictures)
    for k, slot in enumerate(source):
        shown = source[(2 * k // 3) * 3 // 2]
        yield _Picture(shown.bgr, slot.t_s)


def _drop_frames(pictures: Iterator[_Picture], rng: np.random.Generator) -> Iterator[_Picture]:
    to_drop = 0
    for index, picture in enumerate(pictures):
        if to_drop == 0 and index > 0 and rng.random() < 0.06:
            to_drop = int(rng.integers(1, 4))
        if to_drop:
            to_drop -= 1
            continue
        yield picture


def _jitter(
    pictures: Iterator[_Picture], fps: float, rng: np.random.Generator
) -> Iterator[_Picture]:
    interval = 1.0 / fps
    last = -1.0
    for picture in pictures:
        t = max(0.0, picture.t_s + float(rng.uniform(-0.4, 0.4)) * interval)
        t = max(t, last + 0.1 * interval)
        last = t
        yield _Picture(picture.bgr, t)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _fit(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    if scale >= 1.0:
        return bgr
    return cv2.resize(bgr, (_even(w * scale), _even(h * scale)), interpolation=cv2.INTER_AREA)


def _night(bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    noise = rng.standard_normal(gray.shape, dtype=np.float32) * 3.0
    flat = 40.0 + gray * 0.55 + noise
    out = np.clip(flat, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def _encode(pictures: Iterator[_Picture], out: Path, fps: float, crf: int) -> int:
    count = 0
    with av.open(str(out), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        stream.time_base = OUT_TIME_BASE
        stream.codec_context.time_base = OUT_TIME_BASE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0"}
        last_pts = -1
        for picture in pictures:
            h, w = picture.bgr.shape[:2]
            if count == 0:
                stream.width, stream.height = w - w % 2, h - h % 2
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(picture.bgr[: stream.height, : stream.width]), format="bgr24"
            )
            pts = max(last_pts + 1, round(picture.t_s / OUT_TIME_BASE))
            frame.pts, frame.time_base, last_pts = pts, OUT_TIME_BASE, pts
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count
