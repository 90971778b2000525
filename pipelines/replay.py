"""``hazardwatch replay``: one camera's full analysis on a video file, as fast as possible.

Decoding runs in its own thread (frames handed over through a bounded, blocking queue: replay
never drops a frame), analysis in the caller's thread, so decode and inference overlap on two
cores. Time comes from the file's own timestamps; ``captured_at`` is ``start_time + pts_s`` so a
replay is deterministic.
"""

from __future__ import annotations

import logging
import queue
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cameras.errors import SourceError
from cameras.source import VideoSource
from pipelines.analysis import build_camera_analysis
from pipelines.builders import camera_or_error, source_settings
from pipelines.config import HazardwatchConfig
from pipelines.detector_pool import DetectorPool
from vision.types import Frame, HazardEvent

logger = logging.getLogger(__name__)

REPLAY_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_END = object()


@dataclass(slots=True)
class ReplayResult:
    """What one replay did and how fast."""

    camera_id: str
    video: str
    events: list[HazardEvent] = field(default_factory=list)
    frames_analysed: int = 0
    frames_decoded: int = 0
    duration_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    detector_runs: int = 0
    detector_skips: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)
    width_px: int | None = None
    height_px: int | None = None

    @property
    def x_realtime(self) -> float:
        return self.duration_s / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "camera_id": self.camera_id,
            "video": self.video,
            "events": len(self.events),
            "frames_decoded": self.frames_decoded,
            "frames_analysed": self.frames_analysed,
            "source_size": [self.width_px, self.height_px],
            "duration_s": round(self.duration_s, 3),
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "x_realtime": round(self.x_realtime, 2),
            "detector_runs": self.detector_runs,
            "detector_skips": self.detector_skips,
            "stage_ms": {k: round(v, 1) for k, v in sorted(self.stage_ms.items())},
        }


class DetectorCache(DetectorPool):
    """Loads each distinct detector once (eval replays many clips with the same model)."""


def replay(
    config: HazardwatchConfig,
    camera_id: str,
    video: Path,
    *,
    base_dir: Path | None = None,
    detectors: DetectorCache | None = None,
    on_event: Callable[[HazardEvent], None] | None = None,
    start_time: datetime = REPLAY_EPOCH,
) -> ReplayResult:
    """Run one camera's analysis over ``video``.

    Raises:
        pipelines.builders.BuildError: the camera or its model cannot be set up.
        cameras.errors.SourceError: the video cannot be read.
    """
    camera = camera_or_error(config, camera_id)
    detector = (detectors or DetectorCache()).for_camera(config, camera_id, base_dir)
    analysis = build_camera_analysis(camera_id, camera, config, detector)
    rules = analysis.rules
    # Two frame threads: a replay wants one stream decoded fast, not many cheaply.
    settings = source_settings(camera_id, camera, rules, str(video), live=False, decode_threads=2)
    result = ReplayResult(camera_id=camera_id, video=str(video))

    def emit(events: list[HazardEvent]) -> None:
        for event in events:
            result.events.append(event)
            if on_event is not None:
                on_event(event)

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    source = VideoSource(settings)
    for frame in _decoded_in_background(source):
        frame = replace(frame, captured_at=start_time + timedelta(seconds=frame.pts_s))
        emit(analysis.process(frame))
    emit(analysis.close())
    result.wall_s = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    status = source.status()
    result.frames_decoded = status.frames_in
    result.frames_analysed = analysis.frames
    result.width_px, result.height_px = status.width_px, status.height_px
    # Duration of the video = last frame time + one frame.
    step = source.clock.step_s
    result.duration_s = (source.clock.last_s or 0.0) + step
    result.detector_runs = analysis.detector_runs
    result.detector_skips = analysis.detector_skips
    result.stage_ms = dict(analysis.clock.total_ms)
    return result


def _decoded_in_background(source: VideoSource) -> Iterator[Frame]:
    handoff: queue.Queue[object] = queue.Queue(maxsize=32)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for frame in source.frames():
                handoff.put(frame)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failure.append(exc)
        finally:
            handoff.put(_END)

    thread = threading.Thread(target=produce, name=f"decode-{source.settings.camera_id}")
    thread.start()
    try:
        while (item := handoff.get()) is not _END:
            assert isinstance(item, Frame)
            yield item
    finally:
        source.stop()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                handoff.get_nowait()
            except queue.Empty:
                thread.join(0.05)
    if failure:
        exc = failure[0]
        if isinstance(exc, SourceError):
            raise exc
        raise RuntimeError(f"decoding failed: {exc}") from exc
