"""Synthetic trajectories for the object-rule tests: boxes over stream time -> Observations.

An :class:`Actor` is one object with a role and a path (key frames of its box's left edge, or of
its whole box); :func:`observations` samples a list of actors at a frame rate into the
``Observation`` s the rules get, optionally with a rendered luma plane (a fixed textured
background with each actor, and each ``Patch``, drawn as a flat grey rectangle) for the
static-foreground model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from vision.types import Detections, HazardEvent, Observation, Tracks

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
WIDTH_PX, HEIGHT_PX = 640, 360
Box = tuple[float, float, float, float]


def keyframes(
    points: Sequence[tuple[float, float]], y1: float, w: float, h: float
) -> Callable[[float], Box | None]:
    """A box of fixed size whose left edge x moves linearly between ``(t, x)`` key frames.

    Outside the first and last key frame the object is absent (None).
    """
    ts = np.array([p[0] for p in points], np.float64)
    xs = np.array([p[1] for p in points], np.float64)

    def at(t: float) -> Box | None:
        if t < ts[0] - 1e-9 or t > ts[-1] + 1e-9:
            return None
        x = float(np.interp(t, ts, xs))
        return (x, y1, x + w, y1 + h)

    return at


def box_path(
    points: Sequence[tuple[float, Box]],
) -> Callable[[float], Box | None]:
    """A box interpolated (all four sides) between ``(t, box)`` key frames."""
    ts = np.array([p[0] for p in points], np.float64)
    boxes = np.array([p[1] for p in points], np.float64)

    def at(t: float) -> Box | None:
        if t < ts[0] - 1e-9 or t > ts[-1] + 1e-9:
            return None
        b = [float(np.interp(t, ts, boxes[:, k])) for k in range(4)]
        return (b[0], b[1], b[2], b[3])

    return at


@dataclass(frozen=True)
class Actor:
    """One tracked object.

    Attributes:
        track_id: its id, or a function of time (an id switch).
        role: its role (``vehicle``, ``person``, ``ebike``, ``bicycle``), or a function of time.
        path: box in pixels at time t, or None when the tracker does not report it.
        coasting: times at which the tracker reports it without a detection (det_index -1).
        reported: times at which the tracker reports it at all (when not, the object is still
            drawn in the luma: it is there, the detector and tracker just lost it).
        label: its model label.
        confidence: detection score.
        gray: luma value it is drawn with; None: not drawn (its box is larger than what it
            hides, e.g. a person bending over a bag).
        jitter_px: amplitude of a deterministic box jitter (alternating sign per frame).
    """

    track_id: int | Callable[[float], int]
    role: str | Callable[[float], str]
    path: Callable[[float], Box | None]
    coasting: Callable[[float], bool] = field(default=lambda t: False)
    reported: Callable[[float], bool] = field(default=lambda t: True)
    label: str = ""
    confidence: float = 0.8
    gray: int | None = 40
    jitter_px: float = 0.0


@dataclass(frozen=True)
class Patch:
    """Something only the luma sees (clutter the detector has no class for)."""

    box: Box
    t_from: float
    t_to: float
    gray: int = 235


def _background(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(70, 190, (height, width)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 3)


def observations(
    actors: Sequence[Actor],
    duration_s: float,
    fps: float = 5.0,
    *,
    camera_id: str = "cam",
    patches: Sequence[Patch] = (),
    luma_width_px: int | None = None,
    start_s: float = 0.0,
) -> list[Observation]:
    """Observations at ``fps`` from ``start_s`` up to ``duration_s`` (exclusive)."""
    out: list[Observation] = []
    lw = luma_width_px
    lh = None if lw is None else round(HEIGHT_PX * lw / WIDTH_PX)
    background = None if lw is None or lh is None else _background(lw, lh)
    rng = np.random.default_rng(11)
    n = round((duration_s - start_s) * fps)
    for i in range(n):
        t = round(start_s + i / fps, 6)
        rows: list[tuple[int, str, str, Box, float, bool, int | None]] = []
        unreported: list[tuple[Box, int | None]] = []
        for actor in actors:
            box = actor.path(t)
            if box is None:
                continue
            if actor.jitter_px:
                d = actor.jitter_px * (1 if i % 2 else -1)
                box = (box[0] + d, box[1] + d, box[2] + d, box[3] + d)
            tid = actor.track_id(t) if callable(actor.track_id) else actor.track_id
            role = actor.role(t) if callable(actor.role) else actor.role
            label = actor.label or role
            if not actor.reported(t):
                unreported.append((box, actor.gray))
                continue
            rows.append((tid, role, label, box, actor.confidence, actor.coasting(t), actor.gray))
        luma = None
        if background is not None and lw is not None:
            frame = background + rng.normal(0, 2.0, background.shape)
            scale = lw / WIDTH_PX
            for patch in patches:
                if patch.t_from <= t < patch.t_to:
                    _draw(frame, patch.box, scale, patch.gray)
            for *_, box, _, _, gray in rows:
                _draw(frame, box, scale, gray)
            for box, gray in unreported:
                _draw(frame, box, scale, gray)
            luma = np.clip(frame, 0, 255).astype(np.uint8)
        out.append(_observation(camera_id, t, rows, luma))
    return out


def _draw(frame: np.ndarray, box: Box, scale: float, gray: int | None) -> None:
    if gray is None:
        return
    h, w = frame.shape
    x1, y1 = max(round(box[0] * scale), 0), max(round(box[1] * scale), 0)
    x2, y2 = min(round(box[2] * scale), w), min(round(box[3] * scale), h)
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2] = gray


def _observation(
    camera_id: str,
    t: float,
    rows: Sequence[tuple[int, str, str, Box, float, bool, int | None]],
    luma: np.ndarray | None,
) -> Observation:
    xyxy = np.array([r[3] for r in rows], np.float32).reshape(-1, 4)
    detections = Detections(
        xyxy, np.array([r[4] for r in rows], np.float32), np.zeros(len(rows), np.int32)
    )
    det_index = []
    k = 0
    for r in rows:
        if r[5]:
            det_index.append(-1)
        else:
            det_index.append(k)
            k += 1
    tracks = Tracks(detections, np.array([r[0] for r in rows], np.int64), np.array(det_index))
    return Observation(
        camera_id=camera_id,
        pts_s=t,
        captured_at=T0 + timedelta(seconds=t),
        width_px=WIDTH_PX,
        height_px=HEIGHT_PX,
        tracks=tracks,
        roles=tuple(r[1] for r in rows),
        labels=tuple(r[2] for r in rows),
        luma=luma,
    )


def run_rule(rule: object, frames: Sequence[Observation], close: bool = True) -> list[HazardEvent]:
    """Feed every frame to ``rule.update``; then ``rule.close`` at the last frame's time."""
    events: list[HazardEvent] = []
    for obs in frames:
        events.extend(rule.update(obs))  # type: ignore[attr-defined]
    if close and frames:
        last = frames[-1]
        events.extend(rule.close(last.pts_s, last.captured_at))  # type: ignore[attr-defined]
    return events


def summary(events: Sequence[HazardEvent]) -> list[tuple[str, float]]:
    """(phase, pts of the event) for each event: start_pts_s, the update's own time is not
    in the contract, so updates give their start_pts_s too; ends give end_pts_s."""
    out: list[tuple[str, float]] = []
    for event in events:
        pts = event.end_pts_s if event.end_pts_s is not None else event.start_pts_s
        out.append((event.phase.value, float(pts)))
    return out
