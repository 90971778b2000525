"""The two references `hazardwatch bench` compares our runtime against (issue 10).

- **The floor**: what the work costs with nothing of ours around it. FFmpeg's own decode of the
  same stream (``ffmpeg -threads 1 -i clip -f null -``, CPU time of that child process, read
  exactly with ``os.wait4``) plus a bare ``session.run`` of a preprocessed batch-1 tensor (our
  detector's session options: one intra-op thread) at the detection rate actually used:
  ``floor = decode ms per video-second + detect runs per second x ms per run`` (the decode in
  steady state: ffmpeg's process start is subtracted).
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

import argparse
import functools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.detector import OnnxDetector
from models.errors import ModelError
from models.spec import DetectorSpec
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
        cpu_ms_per_video_s: median CPU ms of the ffmpeg process per second of video, in steady
            state: the CPU of a run that stops after the first frame (process start, open,
            first frame) is subtracted, since a camera decodes for days, not 20 s.
        frames_per_cpu_s: frames decoded per CPU-second (frames per core), from the median.
        startup_cpu_ms: median CPU ms of the one-frame run that was subtracted.
    """

    clip: str
    video_s: float
    frames: int
    threads: int
    runs: int
    cpu_ms_per_video_s: float
    frames_per_cpu_s: float
    startup_cpu_ms: float

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


@dataclass(frozen=True, slots=True)
class References:
    """Both references measured on one clip and model, ready for ratios against our runtime.

    Attributes:
        decode: FFmpeg's bare decode of the clip.
        inference: a bare ``session.run``.
        naive: the naive loop.
        cores: CPU cores the capacities are computed for.
        naive_capacity_cameras: cameras the naive loop carries on ``cores``.
        realtime_check: n naive loops run in real time, when asked for.
    """

    decode: DecodeCost
    inference: InferenceCost
    naive: NaiveCost
    cores: int
    naive_capacity_cameras: int
    realtime_check: RealtimeCheck | None = None

    def floor_cpu_ms_per_camera_s(self, detect_runs_per_s: float) -> float:
        """The floor per camera at this detection rate (see :func:`floor_cpu_ms_per_camera_s`)."""
        return floor_cpu_ms_per_camera_s(self.decode, self.inference, detect_runs_per_s)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)


# -- shared measurement helpers ------------------------------------------------------------------


def interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Median wall and process-CPU seconds per call, alternating the calls run by run.

    One untimed run of each call first (allocations, caches). Alternating means machine noise
    hits every call alike, so their ratio stays meaningful on a shared box.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    wall: dict[str, list[float]] = {k: [] for k in calls}
    cpu: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        fn()
    for _ in range(repeats):
        for name, fn in calls.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        k: {"wall_s": statistics.median(wall[k]), "cpu_s": statistics.median(cpu[k])} for k in calls
    }


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What the references need to know about a clip's first video stream."""

    fps: float
    width_px: int
    height_px: int
    duration_s: float | None  # None when the container does not say


def probe_video(clip: Path) -> VideoInfo:
    """The clip's frame rate and size, read with PyAV.

    Raises:
        ReferenceMeasurementError: the clip is missing, not a file, not a readable media file,
            or has no video stream with a frame rate.
    """
    clip = Path(clip)
    if not clip.exists():
        raise ReferenceMeasurementError(f"clip {clip} does not exist")
    if not clip.is_file():
        raise ReferenceMeasurementError(f"clip {clip} is not a file")
    try:
        with av.open(str(clip)) as container:
            if not container.streams.video:
                raise ReferenceMeasurementError(f"clip {clip} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            if stream.duration is not None and stream.time_base is not None:
                duration: float | None = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = None
    except av.FFmpegError as exc:
        raise ReferenceMeasurementError(f"clip {clip} is not a readable video: {exc}") from exc
    if not rate or float(rate) <= 0 or not width or not height:
        raise ReferenceMeasurementError(
            f"clip {clip}: its video stream has no frame rate or size (rate {rate}, "
            f"{width}x{height})"
        )
    return VideoInfo(float(rate), int(width), int(height), duration or None)


def find_ffmpeg(ffmpeg: str = "ffmpeg") -> str:
    """The path of the FFmpeg command-line tool.

    Raises:
        ReferenceMeasurementError: it is not on PATH (or not executable).
    """
    path = shutil.which(ffmpeg)
    if path is None:
        raise ReferenceMeasurementError(
            f"FFmpeg's command-line tool {ffmpeg!r} was not found on PATH; the floor decode "
            f"runs it (Debian: apt-get install ffmpeg)"
        )
    return path


@dataclass(frozen=True, slots=True)
class DecodeRun:
    """One ``ffmpeg -f null`` run: CPU seconds of the child process and frames it decoded."""

    cpu_s: float
    frames: int


def ffmpeg_decode_run(
    clip: Path,
    seconds: float | None = None,
    ffmpeg: str = "ffmpeg",
    max_frames: int | None = None,
    timeout_s: float = 600.0,
) -> DecodeRun:
    """Run ``ffmpeg -threads 1 -i clip -f null -`` once; CPU time of exactly that child process.

    With ``seconds``, decode that much video of the first video stream, looping the file as many
    times as its duration says it needs (a finite count: ``-stream_loop -1`` spins forever on a
    file without a decodable frame); without, decode the whole first video stream once.
    ``max_frames`` stops after that many frames. The CPU time comes from ``os.wait4`` on the
    child, not from ``RUSAGE_CHILDREN``, which any other child reaped meanwhile would inflate.

    Raises:
        ReferenceMeasurementError: ffmpeg is missing, fails (its error output is quoted) or
            runs longer than ``timeout_s``.
    """
    path = find_ffmpeg(ffmpeg)
    loop: list[str] = []
    limit: list[str] = []
    if seconds is not None:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ReferenceMeasurementError(
                f"seconds of video to decode must be > 0, got {seconds}"
            )
        duration = probe_video(clip).duration_s
        if duration is not None and seconds > duration:
            loop = ["-stream_loop", str(math.ceil(seconds / duration))]
        limit = ["-t", f"{seconds:.3f}"]
    if max_frames is not None:
        limit += ["-frames:v", str(max_frames)]
    cmd = [
        path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        "-threads", "1", *loop, "-i", str(clip), "-map", "0:v:0", *limit,
        "-progress", "pipe:1", "-f", "null", "-",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout_s, kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            progress = proc.stdout.read().decode(errors="replace")
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if timed_out.is_set():
        raise ReferenceMeasurementError(
            f"ffmpeg decoding {clip} did not finish within {timeout_s:g} s and was killed"
        )
    if proc.returncode != 0:
        raise ReferenceMeasurementError(
            f"ffmpeg could not decode {clip} (exit {proc.returncode}): {_quote_errors(message)}"
        )
    frames = [int(line[6:]) for line in progress.splitlines() if line.startswith("frame=")]
    if not frames or frames[-1] <= 0:
        raise ReferenceMeasurementError(f"ffmpeg decoded no video frame from {clip}")
    return DecodeRun(cpu_s=usage.ru_utime + usage.ru_stime, frames=frames[-1])


def _quote_errors(message: str) -> str:
    """FFmpeg's error output in a line: its first two distinct lines and its last."""
    lines = list(dict.fromkeys(line.strip() for line in message.splitlines() if line.strip()))
    if not lines:
        return "no error output"
    shown = lines[:2] + (["...", lines[-1]] if len(lines) > 2 else [])
    return " | ".join(shown)


def _open_detector(model: Path, input_size: int) -> OnnxDetector:
    """Our detector with one intra-op thread, as the product runs it."""
    try:
        spec = DetectorSpec(Path(model), input_size=input_size, intra_op_threads=1)
        return OnnxDetector(spec)
    except ModelError as exc:
        raise ReferenceMeasurementError(f"model {model}: {exc}") from exc


def _open_capture(clip: Path) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` on FFmpeg with one decoding thread.

    Raises:
        ReferenceMeasurementError: OpenCV cannot open the clip.
    """
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not capture.isOpened():
        raise ReferenceMeasurementError(f"OpenCV (cv2.VideoCapture) cannot open clip {clip}")
    return capture


class _LoopingCapture:
    """Frames of a clip, starting over at its end (a camera never ends)."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self._capture = _open_capture(clip)
        self._since_open = 0

    def read(self) -> np.ndarray:
        ok, frame = self._capture.read()
        if not ok:
            if self._since_open == 0:
                raise ReferenceMeasurementError(f"OpenCV decoded no frame from clip {self.clip}")
            self._capture.release()
            self._capture = _open_capture(self.clip)
            self._since_open = 0
            return self.read()
        self._since_open += 1
        return frame

    def release(self) -> None:
        self._capture.release()


class _OpenCvThreads:
    """Limit OpenCV's own thread pool (resize etc.) to one thread for the block, then restore."""

    def __enter__(self) -> None:
        self._before = cv2.getNumThreads()
        cv2.setNumThreads(1)

    def __exit__(self, *_: object) -> None:
        cv2.setNumThreads(self._before)


def first_frame(clip: Path) -> np.ndarray:
    """The clip's first frame as full-resolution BGR (what the naive loop feeds the detector)."""
    probe_video(clip)
    capture = _LoopingCapture(clip)
    try:
        return capture.read()
    finally:
        capture.release()


# -- the floor -----------------------------------------------------------------------------------


def floor_decode(
    clip: Path, seconds: float, runs: int = 3, *, ffmpeg: str = "ffmpeg"
) -> DecodeCost:
    """CPU cost of ``ffmpeg -threads 1 -i clip -f null -`` per second of video (median of runs).

    Decodes the clip's first video stream for ``seconds`` (looping the file if it is shorter).
    Each run is paired with one that stops after the first frame, whose CPU (process start,
    probing, first frame: ~60 ms here) is subtracted: a camera decodes for days, and on a short
    or small clip that start would otherwise dominate.

    Raises:
        ReferenceMeasurementError: ffmpeg is missing, the clip is missing, or it has no
            decodable video.
    """
    if runs < 1:
        raise ReferenceMeasurementError(f"floor_decode: runs must be at least 1, got {runs}")
    find_ffmpeg(ffmpeg)
    info = probe_video(clip)
    steady: list[float] = []  # CPU s per frame after the first
    startup: list[float] = []
    frames = 0
    for _ in range(runs):  # alternated, so that machine noise hits both alike
        first = ffmpeg_decode_run(clip, None, ffmpeg, max_frames=1)
        full = ffmpeg_decode_run(clip, seconds, ffmpeg)
        frames = full.frames
        if frames < 2:
            raise ReferenceMeasurementError(
                f"floor_decode: {seconds} s of {clip} is {frames} frame(s); decode more seconds"
            )
        steady.append((full.cpu_s - first.cpu_s) / (frames - 1))
        startup.append(first.cpu_s)
    per_frame_s = statistics.median(steady)
    if per_frame_s <= 0:
        raise ReferenceMeasurementError(
            f"floor_decode: decoding {seconds} s of {clip} cost no more CPU than its first frame "
            f"alone; decode more seconds so that the decode outweighs the process start"
        )
    return DecodeCost(
        clip=str(clip),
        video_s=frames / info.fps,
        frames=frames,
        threads=1,
        runs=runs,
        cpu_ms_per_video_s=1000 * per_frame_s * info.fps,
        frames_per_cpu_s=1 / per_frame_s,
        startup_cpu_ms=1000 * statistics.median(startup),
    )


def bare_inference(model: Path, input_size: int, runs: int = 50, *, clip: Path) -> InferenceCost:
    """CPU ms per bare ``session.run`` of a preprocessed batch-1 tensor (median of ``runs``).

    The session is opened exactly as our detector opens it (:class:`models.detector.OnnxDetector`
    with one intra-op thread); the tensor is the letterboxed first frame of ``clip``.

    Raises:
        ReferenceMeasurementError: the model cannot be loaded, or the clip gives no frame.
    """
    if runs < 1:
        raise ReferenceMeasurementError(f"bare_inference: runs must be at least 1, got {runs}")
    frame = first_frame(clip)
    detector = _open_detector(model, input_size)
    tensor = detector.preprocess([frame])[0].copy()
    feed = {detector.input_name: tensor}
    outputs = [detector.output_name]
    timed = interleaved({"bare": functools.partial(detector.session.run, outputs, feed)}, runs)
    return InferenceCost(
        model=str(model),
        input_hw=detector.input_hw,
        intra_op_threads=detector.session_settings.intra_op_threads,
        providers=detector.session_settings.providers,
        runs=runs,
        cpu_ms_per_run=1000 * timed["bare"]["cpu_s"],
        wall_ms_per_run=1000 * timed["bare"]["wall_s"],
    )


def floor_cpu_ms_per_camera_s(
    decode: DecodeCost, inference: InferenceCost, detect_runs_per_s: float
) -> float:
    """The floor per camera: decode ms per video-second + detect runs per second x ms per run."""
    if not (math.isfinite(detect_runs_per_s) and detect_runs_per_s >= 0):
        raise ValueError(f"detect_runs_per_s must be finite and >= 0, got {detect_runs_per_s}")
    return decode.cpu_ms_per_video_s + detect_runs_per_s * inference.cpu_ms_per_run


# -- the naive loop ------------------------------------------------------------------------------


def naive_loop(
    clip: Path, model: Path = DEFAULT_MODEL, input_size: int = DEFAULT_INPUT_SIZE,
    seconds: float = 10.0,
) -> NaiveCost:  # fmt: skip
    """Run the naive loop over ``seconds`` of the clip as fast as it goes; measure its CPU.

    Every frame: ``VideoCapture.read`` (decode to full-resolution BGR), then our detector's
    ``detect`` (letterbox, ``session.run``, box decode, NMS). The clip loops if it is shorter.

    Raises:
        ReferenceMeasurementError: the clip cannot be opened or gives no frame, or the model
            cannot be loaded.
    """
    if not (math.isfinite(seconds) and seconds > 0):
        raise ReferenceMeasurementError(f"naive_loop: seconds must be > 0, got {seconds}")
    info = probe_video(clip)
    detector = _open_detector(model, input_size)
    target = max(1, round(seconds * info.fps))
    decode_s = detect_s = 0.0
    with _OpenCvThreads():
        capture = _LoopingCapture(Path(clip))
        try:
            detector.detect([capture.read()])  # warm-up, untimed
            cpu0, wall0 = time.process_time(), time.perf_counter()
            frame_wh = (0, 0)
            for _ in range(target):
                c0 = time.process_time()
                frame = capture.read()
                c1 = time.process_time()
                detector.detect([frame])
                decode_s += c1 - c0
                detect_s += time.process_time() - c1
                frame_wh = (frame.shape[1], frame.shape[0])
            cpu_s = time.process_time() - cpu0
            wall_s = time.perf_counter() - wall0
        finally:
            capture.release()
    video_s = target / info.fps
    return NaiveCost(
        clip=str(clip),
        model=str(model),
        input_hw=detector.input_hw,
        frame_wh=frame_wh,
        fps=info.fps,
        video_s=video_s,
        frames=target,
        cpu_ms_per_video_s=1000 * cpu_s / video_s,
        decode_cpu_ms_per_frame=1000 * decode_s / target,
        detect_cpu_ms_per_frame=1000 * detect_s / target,
        wall_s=wall_s,
        x_realtime=video_s / wall_s,
    )


def naive_capacity_cameras(cost: NaiveCost, cores: int) -> int:
    """Cameras the naive loop carries on ``cores`` cores: ``floor(cores x 1000 / cost)``."""
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    return math.floor(cores * 1000 / cost.cpu_ms_per_video_s)


def naive_realtime_check(
    clip: Path, model: Path, n: int, seconds: float, input_size: int = DEFAULT_INPUT_SIZE
) -> RealtimeCheck:
    """Run ``n`` naive loops in real time (frames released at the clip's fps) and see if they
    keep up.

    Each camera is a thread with its own capture and its own model (Ultralytics' guide to
    thread-safe inference: one model per thread). Frame ``i`` of a camera becomes available
    ``i / fps`` after the common start; a loop that is ahead waits for it, one that is behind
    takes the next frame at once (a buffered stream). At the end, a camera is behind by the
    frames delivered but not processed; the loops kept up if every camera is less than one
    second of frames behind.

    Raises:
        ReferenceMeasurementError: as :func:`naive_loop`, or ``n`` < 1.
    """
    if n < 1:
        raise ReferenceMeasurementError(f"naive_realtime_check: n must be at least 1, got {n}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ReferenceMeasurementError(f"naive_realtime_check: seconds must be > 0, got {seconds}")
    info = probe_video(clip)
    detectors = [_open_detector(model, input_size) for _ in range(n)]
    done = [0] * n
    failures: list[BaseException] = []
    start = threading.Barrier(n + 1)
    t0 = 0.0

    def camera(index: int) -> None:
        capture = _LoopingCapture(Path(clip))
        try:
            detectors[index].detect([capture.read()])  # warm-up before the clock starts
            start.wait()
            end = t0 + seconds
            while True:
                due = t0 + done[index] / info.fps
                now = time.perf_counter()
                if due >= end or now >= end:
                    return
                if due > now:
                    time.sleep(due - now)
                detectors[index].detect([capture.read()])
                done[index] += 1
        except BaseException as exc:  # handed to the main thread, which re-raises it
            failures.append(exc)
            start.abort()
        finally:
            capture.release()

    with _OpenCvThreads():
        threads = [threading.Thread(target=camera, args=(i,), name=f"naive-{i}") for i in range(n)]
        for thread in threads:
            thread.start()
        try:
            t0 = time.perf_counter() + 0.05
            start.wait()
        except threading.BrokenBarrierError:
            pass  # a camera failed before the start: its error is raised below
        cpu0 = time.process_time()
        for thread in threads:
            thread.join()
        cpu_s = time.process_time() - cpu0
        wall_s = max(time.perf_counter() - t0, 1e-9)
    if failures:
        raise failures[0]
    expected = math.ceil(seconds * info.fps)
    behind = tuple(max(expected - d, 0) for d in done)
    return RealtimeCheck(
        cameras=n,
        seconds=seconds,
        fps=info.fps,
        frames_expected=expected,
        frames_done=tuple(done),
        frames_behind=behind,
        cpu_cores_used=cpu_s / wall_s,
        kept_up=all(b < info.fps for b in behind),
    )


def measure_references(
    clip: Path,
    model: Path = DEFAULT_MODEL,
    input_size: int = DEFAULT_INPUT_SIZE,
    seconds: float = 20.0,
    *,
    runs: int = 3,
    inference_runs: int = 50,
    cores: int | None = None,
    check_cameras: int | None = None,
    check_seconds: float = 20.0,
) -> References:
    """Measure both references on one clip, one after the other (the heavy parts never overlap).

    Args:
        clip: the stream every camera carries (the analysed one: the substream when there is one).
        model, input_size: the detector.
        seconds: seconds of video per decode run and for the naive loop.
        runs: ffmpeg decode runs (median).
        inference_runs: timed ``session.run`` calls (median).
        cores: cores the naive capacity is computed for (default: this machine's).
        check_cameras: if given, also run that many naive loops in real time
            (0 means the estimated naive capacity).
        check_seconds: wall seconds of that check.
    """
    cores = cores or os.cpu_count() or 1
    decode = floor_decode(clip, seconds, runs)
    inference = bare_inference(model, input_size, inference_runs, clip=clip)
    naive = naive_loop(clip, model, input_size, seconds)
    capacity = naive_capacity_cameras(naive, cores)
    check = None
    if check_cameras is not None:
        n = check_cameras or max(capacity, 1)
        check = naive_realtime_check(clip, model, n, check_seconds, input_size)
    return References(decode, inference, naive, cores, capacity, check)


# -- command line --------------------------------------------------------------------------------


def print_table(refs: References, detect_fps: float) -> None:
    """The references as a table for people."""
    floor = refs.floor_cpu_ms_per_camera_s(detect_fps)
    d, i, n = refs.decode, refs.inference, refs.naive
    rows = [
        ("floor: ffmpeg -threads 1 -f null decode", d.cpu_ms_per_video_s,
         f"{d.frames} frames, {d.frames_per_cpu_s:.0f} frames per CPU-s, median of {d.runs}"),
        (f"floor: bare session.run x {detect_fps:g}/s", detect_fps * i.cpu_ms_per_run,
         f"{i.cpu_ms_per_run:.1f} ms per run (wall {i.wall_ms_per_run:.1f}), "
         f"{i.input_hw[0]}x{i.input_hw[1]}, {i.intra_op_threads} thread, median of {i.runs}"),
        ("floor per camera", floor,
         f"{math.floor(refs.cores * 1000 / floor)} cameras on {refs.cores} cores"),
        ("naive loop (cv2 BGR, detect every frame)", n.cpu_ms_per_video_s,
         f"decode {n.decode_cpu_ms_per_frame:.1f} + detect {n.detect_cpu_ms_per_frame:.1f} "
         f"ms/frame, {n.frame_wh[0]}x{n.frame_wh[1]} @ {n.fps:g} fps, "
         f"{refs.naive_capacity_cameras} cameras on {refs.cores} cores"),
    ]  # fmt: skip
    print(f"clip {d.clip}, model {i.model}")
    print(f"{'reference':<42} {'CPU ms per camera-s':>19}  notes")
    for name, ms, notes in rows:
        print(f"{name:<42} {ms:>19.1f}  {notes}")
    check = refs.realtime_check
    if check is not None:
        verdict = "kept up" if check.kept_up else "fell behind"
        print(
            f"naive loops in real time: {check.cameras} cameras for {check.seconds:g} s "
            f"{verdict}; frames behind {list(check.frames_behind)} of {check.frames_expected}, "
            f"{check.cpu_cores_used:.2f} cores busy"
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.capacity.references``: measure and print both references."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True, help="the video every camera carries")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX detector")
    parser.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of video per run")
    parser.add_argument("--runs", type=int, default=3, help="ffmpeg decode runs (median)")
    parser.add_argument("--inference-runs", type=int, default=50)
    parser.add_argument("--detect-fps", type=float, default=5.0, help="detect runs per second")
    parser.add_argument("--cores", type=int, help="cores for the capacities (default: this box)")
    parser.add_argument(
        "--check", type=int, metavar="N",
        help="also run N naive loops in real time (0: the estimated naive capacity)",
    )  # fmt: skip
    parser.add_argument("--check-seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    try:
        refs = measure_references(
            args.clip, args.model, args.input_size, args.seconds, runs=args.runs,
            inference_runs=args.inference_runs, cores=args.cores, check_cameras=args.check,
            check_seconds=args.check_seconds,
        )  # fmt: skip
    except ReferenceMeasurementError as exc:
        print(f"references: {exc}", file=sys.stderr)
        return 2
    print_table(refs, args.detect_fps)
    if args.json:
        report = refs.as_json()
        report["detect_fps"] = args.detect_fps
        report["floor_cpu_ms_per_camera_s"] = refs.floor_cpu_ms_per_camera_s(args.detect_fps)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
