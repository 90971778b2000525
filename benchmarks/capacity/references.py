"""The two references `hazardwatch bench` compares our runtime against (issue 10).

- **The floor**: what the work costs with nothing of ours around it. FFmpeg's own decode of the
  same stream (``ffmpeg -threads 1 -i clip -f null -``, CPU time of that child process, read
  exactly with ``os.wait4``) plus a bare ``session.run`` of a preprocessed batch-1 tensor (our
  detector's session options: one intra-op thread) at the detection rate actually used:
  ``floor = decode ms per video-second + detect runs per second x ms per run``.
- **The naive loop**: what a typical Ultralytics/OpenCV script does: ``cv2.VideoCapture`` decodes
  every frame to full-resolution BGR, each frame is letterboxed and the detector runs on EVERY
  frame, in one thread, as fast as it can. Its CPU ms per second of video gives the number of
  cameras such a script carries (``cores x 1000 / cost``); :func:`naive_realtime_check` runs n
  such loops in real time (one thread and one model per camera, as Ultralytics' thread-safe
  inference guide advises) to confirm the estimate.

The naive loop is given its most CPU-efficient settings (decode and inference on one thread each,
our preallocated letterbox), so "ours >= 3x the naive count" is a conservative claim.

CPU is measured, not wall time: the box is shared and noisy, and CPU per unit of work is what
decides capacity. Medians of several runs. In-process measurements (inference, naive loop) count
the whole process's CPU: run them while the process does nothing else heavy.

For humans:  ``python -m benchmarks.capacity.references --clip F [--model M] [--seconds S]``
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipelines.assets import PRODUCT_ASSETS_DIR

DEFAULT_MODEL = PRODUCT_ASSETS_DIR / "models" / "yolox_nano_coco_416.onnx"
DEFAULT_INPUT_SIZE = 416


class ReferenceMeasurementError(Exception):
    """A reference measurement that cannot be made; the message names the input and the cause."""


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodeCost:
    """FFmpeg's bare decode of one stream, on one thread (the decode part of the floor).

    Attributes:
        clip: the file decoded.
        video_s: seconds of video decoded per run.
        frames: frames decoded per run.
        threads: decoder threads (1).
        runs: how many runs the median is over.
        cpu_ms_per_video_s: median CPU ms of the ffmpeg process per second of video.
        frames_per_cpu_s: frames decoded per CPU-second (frames per core), from the median.
    """

    clip: str
    video_s: float
    frames: int
    threads: int
    runs: int
    cpu_ms_per_video_s: float
    frames_per_cpu_s: float

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class InferenceCost:
    """A bare ``session.run`` on a preprocessed batch-1 tensor (the inference part of the floor).

    Attributes:
        model: the ONNX file.
        input_hw: network input (height_px, width_px).
        intra_op_threads: onnxruntime intra-op threads (1, as our detector runs).
        providers: the session's execution providers.
        runs: timed runs (after warm-up).
        cpu_ms_per_run: median process CPU ms per run.
        wall_ms_per_run: median wall ms per run.
    """

    model: str
    input_hw: tuple[int, int]
    intra_op_threads: int
    providers: tuple[str, ...]
    runs: int
    cpu_ms_per_run: float
    wall_ms_per_run: float

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NaiveCost:
    """The naive loop's cost: every frame decoded to full BGR and detected, one thread.

    Attributes:
        clip: the file read.
        model: the ONNX file.
        input_hw: network input (height_px, width_px).
        frame_wh: decoded frame size (width_px, height_px).
        fps: the clip's frame rate.
        video_s: seconds of video processed (frames / fps).
        frames: frames decoded and detected.
        cpu_ms_per_video_s: process CPU ms per second of video (all threads).
        decode_cpu_ms_per_frame: CPU ms per ``VideoCapture.read`` (decode + BGR conversion).
        detect_cpu_ms_per_frame: CPU ms per ``detect`` (letterbox + inference + decode + NMS).
        wall_s: wall time of the loop.
        x_realtime: seconds of video per wall second.
    """

    clip: str
    model: str
    input_hw: tuple[int, int]
    frame_wh: tuple[int, int]
    fps: float
    video_s: float
    frames: int
    cpu_ms_per_video_s: float
    decode_cpu_ms_per_frame: float
    detect_cpu_ms_per_frame: float
    wall_s: float
    x_realtime: float

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RealtimeCheck:
    """n naive loops run in real time (one thread and one model per camera).

    Attributes:
        cameras: loops run at once.
        seconds: wall seconds each loop ran.
        fps: frame rate each camera delivers.
        frames_expected: frames a camera delivered in that time (seconds x fps).
        frames_done: per camera, frames decoded and detected.
        frames_behind: per camera, frames delivered but not yet processed at the end.
        cpu_cores_used: process CPU seconds / wall seconds during the run.
        kept_up: every camera ended less than one second of frames behind.
    """

    cameras: int
    seconds: float
    fps: float
    frames_expected: int
    frames_done: tuple[int, ...]
    frames_behind: tuple[int, ...]
    cpu_cores_used: float
    kept_up: bool

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


# -- the floor -----------------------------------------------------------------------------------


def floor_decode(
    clip: Path, seconds: float, runs: int = 3, *, ffmpeg: str = "ffmpeg"
) -> DecodeCost:
    """CPU cost of ``ffmpeg -threads 1 -i clip -f null -`` per second of video (median of runs).

    Decodes the clip's first video stream for ``seconds`` (looping the file if it is shorter).

    Raises:
        ReferenceMeasurementError: ffmpeg is missing, the clip is missing, or it has no
            decodable video.
    """
    raise NotImplementedError


def bare_inference(model: Path, input_size: int, runs: int = 50, *, clip: Path) -> InferenceCost:
    """CPU ms per bare ``session.run`` of a preprocessed batch-1 tensor (median of ``runs``).

    The session is opened exactly as our detector opens it (:class:`models.detector.OnnxDetector`
    with one intra-op thread); the tensor is the letterboxed first frame of ``clip``.

    Raises:
        ReferenceMeasurementError: the model cannot be loaded, or the clip gives no frame.
    """
    raise NotImplementedError


def floor_cpu_ms_per_camera_s(
    decode: DecodeCost, inference: InferenceCost, detect_runs_per_s: float
) -> float:
    """The floor per camera: decode ms per video-second + detect runs per second x ms per run."""
    raise NotImplementedError


# -- the naive loop ------------------------------------------------------------------------------


def naive_loop(
    clip: Path, model: Path = DEFAULT_MODEL, input_size: int = DEFAULT_INPUT_SIZE,
    seconds: float = 10.0,
) -> NaiveCost:  # fmt: skip
    """Run the naive loop over ``seconds`` of the clip as fast as it goes; measure its CPU.

    Raises:
        ReferenceMeasurementError: the clip cannot be opened or gives no frame, or the model
            cannot be loaded.
    """
    raise NotImplementedError


def naive_capacity_cameras(cost: NaiveCost, cores: int) -> int:
    """Cameras the naive loop carries on ``cores`` cores: ``floor(cores x 1000 / cost)``."""
    raise NotImplementedError


def naive_realtime_check(
    clip: Path, model: Path, n: int, seconds: float, input_size: int = DEFAULT_INPUT_SIZE
) -> RealtimeCheck:
    """Run ``n`` naive loops in real time (frames released at the clip's fps) and see if they
    keep up.

    Raises:
        ReferenceMeasurementError: as :func:`naive_loop`.
    """
    raise NotImplementedError
