"""A clip plan (background, actors, effects, labels) and the loop that renders and encodes it.

Plans are built deterministically from the seed before anything is rendered, so the labels of a
suite are known (and comparable between runs) without encoding a single frame. Rendering a frame
is: copy the background, let each actor draw itself at the frame's stream time (far to near),
apply the effects (rain, camera shake), add sensor noise, encode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from benchmarks.scenarios.encode import FPS, ClipWriter, SensorNoise
from benchmarks.scenarios.suite import ClipLabel
from benchmarks.scenarios.timing import TIME_BASE_HZ, FrameSchedule, reencode, to_ticks


class SceneKind(StrEnum):
    """Scene types of the suite; each has one config file ``configs/<kind>.yaml``."""

    FACADE = "facade"
    LANE = "lane"
    LIFT = "lift"


class Actor(Protocol):
    """Something drawn into the frame at a stream time (a vehicle, a bird, a falling object)."""

    def draw(self, frame: np.ndarray, t_s: float) -> None:
        """Draw into ``frame`` (uint8 BGR, modified in place) as it is at ``t_s``."""
        ...


class Effect(Protocol):
    """Something applied to the whole composed frame (rain, a camera shake)."""

    def apply(self, frame: np.ndarray, t_s: float) -> np.ndarray:
        """Return the frame at ``t_s`` with the effect (``frame`` itself or a new array)."""
        ...


@dataclass(eq=False)
class ClipPlan:
    """Everything needed to render one clip, and its ground truth.

    Attributes:
        label: the suite entry (id, video, config, camera, tags, expected hazards).
        scene: scene type.
        duration_s: clip length; the clip has ``round(duration_s * FPS)`` frames.
        background: uint8 (H, W, 3) BGR image under everything.
        actors: drawn in this order (far to near).
        effects: applied in this order after the actors.
        noise_sigma: sensor noise in 8-bit levels.
        noise_seed: seed of the noise fields.
        notes: what is in the clip, for the manifest (sprites used, parameters).
        schedule: None for the plain stream (frame ``i`` shows and is stamped ``i / FPS``), else
            which scene time each frame shows and how it is stamped (repeats, losses, jitter).
    """

    label: ClipLabel
    scene: SceneKind
    duration_s: float
    background: np.ndarray
    actors: list[Actor] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    noise_sigma: float = 2.0
    noise_seed: int = 0
    notes: dict[str, object] = field(default_factory=dict)
    schedule: FrameSchedule | None = None

    @property
    def frame_count(self) -> int:
        if self.schedule is not None:
            return self.schedule.frame_count
        return round(self.duration_s * FPS)

    def render_frame(self, index: int, noise: SensorNoise | None = None) -> np.ndarray:
        """The uint8 BGR frame ``index`` of the plain stream (scene time ``index / FPS``)."""
        return self.render_at(index / FPS, index, noise)

    def render_at(
        self, t_s: float, noise_index: int, noise: SensorNoise | None = None
    ) -> np.ndarray:
        """The uint8 BGR picture of the scene at ``t_s``, with noise field ``noise_index``."""
        frame = self.background.copy()
        for actor in self.actors:
            actor.draw(frame, t_s)
        for effect in self.effects:
            frame = effect.apply(frame, t_s)
        if noise is not None:
            noise.apply(frame, noise_index)
        return frame


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What rendering one clip produced."""

    clip_id: str
    path: Path
    frames: int
    width_px: int
    height_px: int
    elapsed_s: float


def render_clip(plan: ClipPlan, path: Path) -> RenderResult:
    """Render every frame of ``plan`` and encode it to ``path`` (see :class:`ClipWriter`)."""
    started = time.perf_counter()
    height, width = plan.background.shape[:2]
    noise = SensorNoise(
        (height, width, 3), plan.noise_sigma, np.random.default_rng(plan.noise_seed)
    )
    schedule = plan.schedule
    if schedule is None:
        with ClipWriter(path, width, height, fps=FPS) as writer:
            for index in range(plan.frame_count):
                writer.write(plan.render_frame(index, noise))
    else:
        with ClipWriter(
            path, width, height, fps=schedule.rate, time_base_hz=TIME_BASE_HZ
        ) as writer:
            shown: tuple[int, np.ndarray] | None = None
            for k in range(schedule.frame_count):
                j = schedule.picture[k]
                if shown is None or shown[0] != j:
                    shown = (j, plan.render_at(schedule.scene_s[k], j, noise))
                picture = reencode(shown[1]) if schedule.reencoded[k] else shown[1]
                writer.write(picture, pts=to_ticks(schedule.pts_s[k]))
    return RenderResult(
        clip_id=plan.label.clip_id,
        path=path,
        frames=writer.frames,
        width_px=width,
        height_px=height,
        elapsed_s=time.perf_counter() - started,
    )
