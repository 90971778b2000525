"""Streams whose frames are not one fresh picture every 1/FPS s: what NVRs, links and cameras do.

A plain clip of the suite shows the scene at ``i / FPS`` in frame ``i``, stamped ``i / FPS``. Real
streams break that in ways that fool motion analysis (issue 9, §1.1):

* :func:`remux` — a sensor at ``sensor_fps`` re-muxed to ``out_fps`` (20 -> 30 fps: every third
  frame repeats the picture before it). Each output frame shows the newest picture the sensor had
  taken by its timestamp.
* :func:`lost_and_repeated` — frames lost on the link, the decoder or NVR filling each hole with
  the last picture it had, at a constant output rate.
* :func:`vfr_gaps` — frames lost and nothing filled in: the survivors keep their own stamps.
* :func:`jittered` — every picture taken on time, but stamped on arrival (up to ``±jitter`` of a
  frame interval off), still strictly increasing.

``near_repeat`` marks a repeated picture that went through a lossy re-encode on its way (a
transcoder that decodes and re-encodes its duplicates): the same scene, with codec noise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from benchmarks.scenarios.errors import ScenarioError

# Stamps in 1/90000 s (the RTP video clock): fine enough for jittered stamps.
TIME_BASE_HZ = 90000
NEAR_REPEAT_JPEG_QUALITY = 55


@dataclass(frozen=True, slots=True)
class FrameSchedule:
    """Which scene time each output frame shows, and how it is stamped.

    Attributes:
        scene_s: scene time (seconds) of the picture shown by each output frame.
        pts_s: stream timestamp (seconds, strictly increasing) of each output frame.
        picture: index of the distinct picture each output frame shows (equal for repeats).
        reencoded: the frame is a repeat that went through a lossy re-encode (codec noise).
        rate: nominal frame rate written in the container.
        description: what the schedule imitates, for the manifest.
    """

    scene_s: tuple[float, ...]
    pts_s: tuple[float, ...]
    picture: tuple[int, ...]
    reencoded: tuple[bool, ...]
    rate: int
    description: str

    def __post_init__(self) -> None:
        n = len(self.scene_s)
        if not n or any(len(v) != n for v in (self.pts_s, self.picture, self.reencoded)):
            raise ScenarioError("FrameSchedule: every per-frame list must have the same length")
        if any(b <= a for a, b in itertools.pairwise(self.pts_s)):
            raise ScenarioError("FrameSchedule: pts_s must increase strictly")

    @property
    def frame_count(self) -> int:
        return len(self.scene_s)

    @property
    def repeats(self) -> int:
        """Output frames that repeat the picture before them."""
        return sum(1 for a, b in itertools.pairwise(self.picture) if a == b)

    def notes(self) -> dict[str, object]:
        return {
            "schedule": self.description,
            "frames": self.frame_count,
            "repeats": self.repeats,
            "reencoded_repeats": sum(self.reencoded),
            "rate": self.rate,
        }


def remux(duration_s: float, sensor_fps: int, out_fps: int, near_repeat: bool) -> FrameSchedule:
    """A ``sensor_fps`` sensor re-muxed to ``out_fps``: frame ``k`` at ``k / out_fps`` shows the
    newest sensor picture taken by then (picture ``floor(k * sensor_fps / out_fps)``)."""
    if not 0 < sensor_fps < out_fps:
        raise ScenarioError(f"remux: need 0 < sensor_fps < out_fps, got {sensor_fps}, {out_fps}")
    scene, pts, picture, again = [], [], [], []
    for k in range(round(duration_s * out_fps)):
        j = (k * sensor_fps) // out_fps
        scene.append(j / sensor_fps)
        pts.append(k / out_fps)
        again.append(near_repeat and bool(picture) and picture[-1] == j)
        picture.append(j)
    what = f"{sensor_fps} fps sensor re-muxed to {out_fps} fps"
    if near_repeat:
        what += ", repeats re-encoded"
    return FrameSchedule(tuple(scene), tuple(pts), tuple(picture), tuple(again), out_fps, what)


def _losses(rng: np.random.Generator, n: int, rate: float, longest: int) -> list[bool]:
    """Which of ``n`` frames are lost: runs of 1..``longest`` starting with probability ``rate``."""
    lost = [False] * n
    k = 1
    while k < n:
        if rng.random() < rate:
            run = int(rng.integers(1, longest + 1))
            for i in range(k, min(n, k + run)):
                lost[i] = True
            k += run + 1
        else:
            k += 1
    return lost


def lost_and_repeated(
    duration_s: float, fps: int, rng: np.random.Generator, rate: float = 0.08, longest: int = 3
) -> FrameSchedule:
    """Frames lost in runs of 1..``longest``; each hole filled with the last picture received."""
    n = round(duration_s * fps)
    lost = _losses(rng, n, rate, longest)
    scene, pts, picture = [], [], []
    last = 0
    for k in range(n):
        if not lost[k]:
            last = k
        scene.append(last / fps)
        pts.append(k / fps)
        picture.append(last)
    what = f"{fps} fps, {sum(lost)} frames lost and filled with the last picture"
    return FrameSchedule(tuple(scene), tuple(pts), tuple(picture), (False,) * n, fps, what)


def vfr_gaps(
    duration_s: float, fps: int, rng: np.random.Generator, rate: float = 0.08, longest: int = 3
) -> FrameSchedule:
    """Frames lost in runs of 1..``longest``; the survivors keep their own timestamps."""
    n = round(duration_s * fps)
    lost = _losses(rng, n, rate, longest)
    kept = [k for k in range(n) if not lost[k]]
    times = tuple(k / fps for k in kept)
    what = f"{fps} fps, {n - len(kept)} frames lost, the rest with their own stamps"
    return FrameSchedule(times, times, tuple(kept), (False,) * len(kept), fps, what)


def jittered(
    duration_s: float, fps: int, rng: np.random.Generator, jitter: float = 0.4
) -> FrameSchedule:
    """Every picture taken at ``k / fps`` and stamped up to ``±jitter`` of an interval off."""
    n = round(duration_s * fps)
    interval = 1.0 / fps
    pts: list[float] = []
    for k in range(n):
        t = max(0.0, k * interval + float(rng.uniform(-jitter, jitter)) * interval)
        if pts:
            t = max(t, pts[-1] + 0.1 * interval)
        pts.append(round(t * TIME_BASE_HZ) / TIME_BASE_HZ)
    scene = tuple(k * interval for k in range(n))
    what = f"{fps} fps stamped on arrival, jitter up to {jitter:.0%} of an interval"
    return FrameSchedule(scene, tuple(pts), tuple(range(n)), (False,) * n, fps, what)


def reencode(picture: np.ndarray) -> np.ndarray:
    """The picture after a lossy re-encode (JPEG at a middling quality): codec noise only."""
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, NEAR_REPEAT_JPEG_QUALITY])
    if not ok:
        raise ScenarioError("reencode: JPEG encoding failed")
    out = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return np.asarray(out, np.uint8)


def to_ticks(pts_s: float) -> int:
    """A stamp in ticks of 1/:data:`TIME_BASE_HZ` s."""
    return math.floor(pts_s * TIME_BASE_HZ + 0.5)
