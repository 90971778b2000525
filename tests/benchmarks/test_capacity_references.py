"""The references of `hazardwatch bench` (benchmarks/capacity/references.py), measured for real.

A tiny generated clip (FFmpeg testsrc2, 320x240, 25 fps, 2 s) and the repository's YOLOX-Nano keep
this quick; the numbers themselves are checked for sense (positive, finite, naive above floor),
not for values, which depend on the machine.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.capacity import references as refs
from benchmarks.capacity.references import (
    DEFAULT_MODEL,
    DecodeCost,
    InferenceCost,
    NaiveCost,
    ReferenceMeasurementError,
)

FPS = 25


@pytest.fixture(scope="module")
def clip(media_cache: Path) -> Path:
    """FFmpeg's testsrc2, 320x240 at 25 fps for 2 s, H.264; made once per cache."""
    out = media_cache / "references_testsrc2_320x240_25fps_2s.mp4"
    if not out.exists():
        partial = out.with_suffix(".partial.mp4")
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"testsrc2=size=320x240:rate={FPS}", "-t", "2", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(partial)],
            check=True,
        )  # fmt: skip
        partial.rename(out)
    return out


@pytest.fixture(scope="module")
def decode(clip: Path) -> DecodeCost:
    # 10 s of the looped 2 s clip, so the decode clearly outweighs the process start subtracted
    return refs.floor_decode(clip, seconds=10.0, runs=3)


@pytest.fixture(scope="module")
def inference(clip: Path) -> InferenceCost:
    return refs.bare_inference(DEFAULT_MODEL, 416, runs=5, clip=clip)


@pytest.fixture(scope="module")
def naive(clip: Path) -> NaiveCost:
    return refs.naive_loop(clip, DEFAULT_MODEL, 416, seconds=2.0)


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_floor_decode_measures_the_looped_clip(decode: DecodeCost, clip: Path) -> None:
    assert decode.frames == 10 * FPS  # looped five times: -t 10 of a 2 s clip
    assert decode.video_s == pytest.approx(10.0)
    assert decode.threads == 1 and decode.runs == 3
    assert _positive(decode.cpu_ms_per_video_s)
    assert _positive(decode.frames_per_cpu_s)
    assert _positive(decode.startup_cpu_ms)
    assert decode.frames_per_cpu_s == pytest.approx(1000 * FPS / decode.cpu_ms_per_video_s)
    assert json.loads(json.dumps(decode.as_json()))["clip"] == str(clip)


def test_bare_inference_uses_our_session_options(inference: InferenceCost) -> None:
    assert inference.input_hw == (416, 416)
    assert inference.intra_op_threads == 1
    assert "CPUExecutionProvider" in inference.providers
    assert inference.runs == 5
    assert _positive(inference.cpu_ms_per_run)
    assert _positive(inference.wall_ms_per_run)
    assert json.loads(json.dumps(inference.as_json()))["input_hw"] == [416, 416]


def test_naive_loop_detects_every_frame_at_full_resolution(
    naive: NaiveCost, decode: DecodeCost, inference: InferenceCost
) -> None:
    assert naive.frames == 2 * FPS
    assert naive.frame_wh == (320, 240)
    assert naive.fps == pytest.approx(FPS)
    for value in (naive.cpu_ms_per_video_s, naive.decode_cpu_ms_per_frame,
                  naive.detect_cpu_ms_per_frame, naive.wall_s, naive.x_realtime):  # fmt: skip
        assert _positive(value)
    # the detector runs on all 25 frames of a second, the floor's on 5 of them
    floor = refs.floor_cpu_ms_per_camera_s(decode, inference, detect_runs_per_s=5.0)
    assert naive.cpu_ms_per_video_s > floor
    # ...and every detect costs at least the bare session.run inside it (with noise margin)
    assert naive.detect_cpu_ms_per_frame > 0.5 * inference.cpu_ms_per_run
    capacity = refs.naive_capacity_cameras(naive, cores=2)
    assert capacity == math.floor(2000 / naive.cpu_ms_per_video_s)


def test_floor_is_decode_plus_detect_rate_times_inference(
    decode: DecodeCost, inference: InferenceCost
) -> None:
    floor = refs.floor_cpu_ms_per_camera_s(decode, inference, 5.0)
    assert floor == pytest.approx(decode.cpu_ms_per_video_s + 5 * inference.cpu_ms_per_run)
    assert refs.floor_cpu_ms_per_camera_s(decode, inference, 0.0) == decode.cpu_ms_per_video_s
    with pytest.raises(ValueError, match="detect_runs_per_s"):
        refs.floor_cpu_ms_per_camera_s(decode, inference, -1.0)


def test_naive_capacity_rounds_down(naive: NaiveCost) -> None:
    from dataclasses import replace

    assert refs.naive_capacity_cameras(replace(naive, cpu_ms_per_video_s=550.0), 2) == 3
    assert refs.naive_capacity_cameras(replace(naive, cpu_ms_per_video_s=500.0), 2) == 4
    assert refs.naive_capacity_cameras(replace(naive, cpu_ms_per_video_s=2500.0), 2) == 0
    with pytest.raises(ValueError, match="cores"):
        refs.naive_capacity_cameras(naive, 0)


def test_realtime_check_is_paced_at_the_clip_rate(clip: Path) -> None:
    check = refs.naive_realtime_check(clip, DEFAULT_MODEL, n=1, seconds=1.0)
    assert check.cameras == 1 and check.fps == pytest.approx(FPS)
    assert check.frames_expected == FPS
    (done,) = check.frames_done
    # never ahead of the camera: an unpaced loop does ~70 of these small frames per second
    assert 1 <= done <= check.frames_expected
    assert check.frames_behind == (check.frames_expected - done,)
    assert check.kept_up == (check.frames_behind[0] < FPS)
    assert _positive(check.cpu_cores_used)


# -- errors name what is wrong -------------------------------------------------------------------


def test_missing_clip_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.mp4"
    for call in (
        lambda: refs.floor_decode(missing, 1.0),
        lambda: refs.bare_inference(DEFAULT_MODEL, 416, 1, clip=missing),
        lambda: refs.naive_loop(missing, DEFAULT_MODEL, 416, 1.0),
        lambda: refs.naive_realtime_check(missing, DEFAULT_MODEL, 1, 1.0),
    ):
        with pytest.raises(ReferenceMeasurementError, match=rf"clip {missing} does not exist"):
            call()


def test_non_video_file_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(ReferenceMeasurementError, match=rf"clip {text} (has no video|is not a)"):
        refs.floor_decode(text, 1.0)
    with pytest.raises(ReferenceMeasurementError, match=rf"clip {text} (has no video|is not a)"):
        refs.naive_loop(text, DEFAULT_MODEL, 416, 1.0)


def test_undecodable_video_is_named_with_ffmpegs_error(clip: Path, tmp_path: Path) -> None:
    """Regression: with ``-stream_loop -1``, ffmpeg spun forever on a file whose header is fine
    but whose frames cannot be decoded (it never reaches ``-t``); the loop count is now finite."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:3000])  # the header (faststart) survives, frames not
    started = time.monotonic()
    with pytest.raises(ReferenceMeasurementError) as error:
        refs.ffmpeg_decode_run(broken, seconds=10.0, timeout_s=20.0)
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert f"ffmpeg could not decode {broken}" in message
    assert "Invalid" in message  # FFmpeg's own words are quoted
    with pytest.raises(ReferenceMeasurementError, match=re.escape(str(broken))):
        refs.floor_decode(broken, 10.0, runs=1)


def test_undecodable_video_fails_the_naive_loops_by_name(clip: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:3000])
    opencv = rf"OpenCV (cannot open|decoded no frame from) clip {re.escape(str(broken))}"
    with pytest.raises(ReferenceMeasurementError, match=opencv):
        refs.naive_loop(broken, DEFAULT_MODEL, 416, 1.0)
    # raised in a camera thread, handed to the caller
    with pytest.raises(ReferenceMeasurementError, match=opencv):
        refs.naive_realtime_check(broken, DEFAULT_MODEL, 2, 1.0)


def _ffmpeg_wrapper(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable ``ffmpeg`` script first on PATH; ``$REAL`` in ``body`` is the real one."""
    real = shutil.which("ffmpeg")
    assert real is not None
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text("#!/bin/sh\n" + body.replace("$REAL", f'"{real}"') + "\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    return wrapper


def test_a_hung_ffmpeg_is_killed_and_named(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ffmpeg_wrapper(tmp_path, "exec sleep 30", monkeypatch)
    started = time.monotonic()
    with pytest.raises(ReferenceMeasurementError, match=r"did not finish within 0\.5 s"):
        refs.ffmpeg_decode_run(clip, seconds=1.0, timeout_s=0.5)
    assert time.monotonic() - started < 10


def test_missing_ffmpeg_is_named(clip: Path) -> None:
    with pytest.raises(
        ReferenceMeasurementError, match=r"'no-such-ffmpeg-x' was not found on PATH"
    ):
        refs.floor_decode(clip, 1.0, ffmpeg="no-such-ffmpeg-x")


def test_missing_model_is_named(clip: Path, tmp_path: Path) -> None:
    model = tmp_path / "absent.onnx"
    with pytest.raises(ReferenceMeasurementError, match=rf"model {model}: .*does not exist"):
        refs.bare_inference(model, 416, 1, clip=clip)


def test_bad_counts_are_refused(clip: Path) -> None:
    with pytest.raises(ReferenceMeasurementError, match="runs must be at least 1"):
        refs.floor_decode(clip, 1.0, runs=0)
    with pytest.raises(ReferenceMeasurementError, match="seconds must be > 0"):
        refs.naive_loop(clip, DEFAULT_MODEL, 416, seconds=0.0)
    with pytest.raises(ReferenceMeasurementError, match="n must be at least 1"):
        refs.naive_realtime_check(clip, DEFAULT_MODEL, 0, 1.0)


# -- the floor's CPU is that of the ffmpeg child alone ------------------------------------------

BURN = """
import sys, time
start = time.process_time()
while time.process_time() - start < 0.5:
    pass
print("ready", flush=True)
sys.stdin.read()
"""


def test_decode_cpu_excludes_other_children_reaped_meanwhile(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the floor was read from RUSAGE_CHILDREN, which also counts any other child
    the process reaps meanwhile (in `bench`, the `hazardwatch run` child); wait4 on ffmpeg alone
    does not.

    A child burns 0.5 s of CPU and waits; an ``ffmpeg`` wrapper on PATH marks its start and
    pauses 0.3 s, during which a thread ends and reaps the burner.
    """
    mark = tmp_path / "started"
    _ffmpeg_wrapper(tmp_path, f'touch "{mark}"\nsleep 0.3\nexec $REAL "$@"', monkeypatch)

    burner = subprocess.Popen(
        [sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert burner.stdout is not None and burner.stdin is not None
    assert burner.stdout.readline().strip() == "ready"
    burned: list[float] = []

    def reap_when_ffmpeg_runs() -> None:
        deadline = time.monotonic() + 30
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert burner.stdin is not None
        burner.stdin.close()
        _, _, usage = os.wait4(burner.pid, 0)
        burner.returncode = 0
        burned.append(usage.ru_utime + usage.ru_stime)

    reaper = threading.Thread(target=reap_when_ffmpeg_runs)
    reaper.start()
    run = refs.ffmpeg_decode_run(clip, seconds=2.0)
    reaper.join()
    assert mark.exists()
    assert burned and burned[0] >= 0.45  # the burner really did burn its 0.5 s
    assert run.frames == 2 * FPS
    assert run.cpu_s < 0.35, f"ffmpeg's CPU {run.cpu_s:.3f} s includes the burner's"


# -- the command line ----------------------------------------------------------------------------


def test_cli_prints_the_table_and_writes_json(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refs.json"
    # 10 s and 3 paired runs: with 4 s and one run, the decode of 100 small frames fell inside
    # the noise of the process start it is measured against, and the tool refused (CI16)
    code = refs.main(["--clip", str(clip), "--seconds", "10", "--runs", "3",
                      "--inference-runs", "3", "--detect-fps", "5", "--cores", "2",
                      "--json", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "floor per camera" in printed and "naive loop" in printed
    report = json.loads(out.read_text())
    assert report["cores"] == 2
    assert report["floor_cpu_ms_per_camera_s"] == pytest.approx(
        report["decode"]["cpu_ms_per_video_s"] + 5 * report["inference"]["cpu_ms_per_run"]
    )
    assert report["naive_capacity_cameras"] == math.floor(
        2000 / report["naive"]["cpu_ms_per_video_s"]
    )
    assert report["realtime_check"] is None


def test_cli_names_a_missing_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "gone.mp4"
    assert refs.main(["--clip", str(missing)]) == 2
    assert f"clip {missing} does not exist" in capsys.readouterr().err
