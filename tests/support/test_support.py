"""Tests of the test infrastructure itself: generated media, the RTSP server, redis-server."""

from __future__ import annotations

import importlib.util
import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import redis
from av.video.frame import PictureType

from tests.support.media import (
    box_xyxy,
    ensure_clip,
    index_band_height_px,
    make_garbage_file,
    make_h264_clip,
    read_frame_index,
)
from tests.support.servers import (
    RedisServerFactory,
    RedisServerProcess,
    RtspServerFactory,
    RtspServerProcess,
    ServerStartError,
    free_port,
)

RTSP_OPTIONS = {"rtsp_transport": "tcp", "timeout": "3000000"}  # timeout in µs


def _bgr(frame: av.VideoFrame, scale: int = 1) -> np.ndarray:
    if scale == 1:
        return frame.to_ndarray(format="bgr24")
    small = frame.reformat(width=frame.width // scale, height=frame.height // scale, format="bgr24")
    return small.to_ndarray()


def _read_rtsp(url: str, n_frames: int) -> list[av.VideoFrame]:
    with av.open(url, options=RTSP_OPTIONS) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == n_frames:
                break
    return frames


# --- generated media --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "n_frames"),
    [
        pytest.param({}, 100, id="mp4-defaults-4s-gop25"),
        pytest.param({"fps": 10, "gop": 7, "seconds": 2.0, "container": "mkv"}, 20, id="mkv-gop7"),
        pytest.param({"fps": 15, "gop": 15, "seconds": 1.0, "container": "ts"}, 15, id="ts-gop15"),
        pytest.param({"width": 384, "height": 216, "seconds": 1.0, "crf": 30}, 25, id="crf30"),
    ],
)
def test_clip_has_requested_structure(
    media_cache: Path, params: dict[str, Any], n_frames: int
) -> None:
    clip = ensure_clip(media_cache, **params)
    fps, gop = params.get("fps", 25), params.get("gop", 25)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.average_rate == fps
        packets = [p for p in container.demux(stream) if p.size]
    assert len(packets) == n_frames
    keyframes = [i for i, packet in enumerate(packets) if packet.is_keyframe]
    assert keyframes == list(range(0, n_frames, gop))
    assert all(p.pts == p.dts for p in packets), "decode order differs from display: B-frames"
    with av.open(str(clip)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == n_frames
    for i, frame in enumerate(frames):
        assert frame.pict_type != PictureType.B
        assert frame.time == pytest.approx(i / fps, abs=1e-3)
        assert read_frame_index(_bgr(frame)) == i
        assert read_frame_index(_bgr(frame, scale=3)) == i


def test_box_moves_at_known_speed(media_cache: Path) -> None:
    width, height, fps = 320, 240, 25
    clip = ensure_clip(media_cache, width=width, height=height, fps=fps, seconds=4.0)
    band_px = index_band_height_px(height)
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            image = _bgr(frame)[band_px:]
            ys, xs = np.nonzero(image.min(axis=2) > 230)  # the box is the only white thing
            x1, y1, x2, y2 = box_xyxy(i, width=width, height=height, fps=fps)
            assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1, f"frame {i}"
            assert abs(ys.min() + band_px - y1) <= 1 and abs(ys.max() + 1 + band_px - y2) <= 1
    # 0.25 frame widths (80 px) per second; the 40 px box bounces off the right edge at x1 = 280.
    assert box_xyxy(25, width=width, height=height, fps=fps)[0] == 80
    assert box_xyxy(100, width=width, height=height, fps=fps)[0] == 2 * 280 - 320


@pytest.mark.slow
def test_cctv_1080p_clip_keeps_its_bitrate(media_cache: Path) -> None:
    target_bps, seconds = 4_000_000, 2.0
    clip = ensure_clip(
        media_cache,
        width=1920,
        height=1080,
        seconds=seconds,
        gop=50,
        bitrate=target_bps,
        pattern="noisy",
    )
    with av.open(str(clip)) as container:
        total_bytes = sum(p.size for p in container.demux(video=0))
    measured_bps = total_bytes * 8 / seconds
    assert 0.65 * target_bps <= measured_bps <= 1.35 * target_bps, f"{measured_bps:.0f} bit/s"
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 10 == 0:
                assert read_frame_index(_bgr(frame, scale=3)) == i


@pytest.mark.parametrize(
    ("image", "error"),
    [
        pytest.param(np.zeros((240, 320), np.uint8), "shape", id="gray-2d"),
        pytest.param(np.zeros((240, 320, 4), np.uint8), "shape", id="four-channels"),
        pytest.param(np.zeros((240, 320, 3), np.float32), "uint8", id="float"),
        pytest.param([[0, 0, 0]], "uint8", id="not-an-array"),
        pytest.param(np.zeros((10, 20, 3), np.uint8), "too small", id="tiny"),
        pytest.param(np.full((240, 320, 3), 128, np.uint8), "block 0", id="uniform-gray"),
    ],
)
def test_read_frame_index_rejects(image: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        read_frame_index(image)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"width": 321}, "width", id="odd-width"),
        pytest.param({"width": 64}, "width", id="narrow"),
        pytest.param({"height": 40}, "height", id="short"),
        pytest.param({"fps": 0}, "fps", id="zero-fps"),
        pytest.param({"seconds": 0.0}, "seconds", id="no-frames"),
        pytest.param({"gop": 0}, "gop", id="zero-gop"),
        pytest.param({"bitrate": 1_000_000, "crf": 23}, "not both", id="bitrate-and-crf"),
        pytest.param({"crf": 60}, "crf", id="crf-range"),
        pytest.param({"pattern": "snow"}, "pattern", id="unknown-pattern"),
        pytest.param({"container": "avi"}, "container", id="unknown-container"),
    ],
)
def test_make_h264_clip_rejects(tmp_path: Path, params: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make_h264_clip(tmp_path / "x.mp4", **params)
    assert not (tmp_path / "x.mp4").exists()


def test_make_h264_clip_needs_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        make_h264_clip(tmp_path / "missing" / "x.mp4")


def test_ensure_clip_generates_once(tmp_path: Path) -> None:
    first = ensure_clip(tmp_path, seconds=0.4)
    stamp = first.stat().st_mtime_ns
    again = ensure_clip(tmp_path, seconds=0.4, gop=25, container="mp4")  # defaults spelled out
    other = ensure_clip(tmp_path, seconds=0.4, gop=5)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert other != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])
    with pytest.raises(TypeError, match="allowed parameters"):
        ensure_clip(tmp_path, colour="red")


def test_make_garbage_file_is_seeded_noise(tmp_path: Path) -> None:
    a = make_garbage_file(tmp_path / "a.mp4", 4096)
    b = make_garbage_file(tmp_path / "b.mp4", 4096)
    c = make_garbage_file(tmp_path / "c.mp4", 4096, seed=1)
    assert a.stat().st_size == 4096
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(a))
    with pytest.raises(ValueError, match="n_bytes"):
        make_garbage_file(tmp_path / "d.bin", -1)


# --- RTSP server ------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_live_mount_serves_frames(rtsp_server_factory: RtspServerFactory) -> None:
    server = rtsp_server_factory({"cam1": "live:320x240@25"})
    frames = _read_rtsp(server.url("cam1"), 10)
    assert len(frames) == 10
    assert (frames[0].width, frames[0].height) == (320, 240)


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_file_mount_loops_in_real_time_without_reencoding(
    media_cache: Path, rtsp_server_factory: RtspServerFactory
) -> None:
    """A 2 s clip read for 4.5 s: indices 0..49 twice then 0..11, pixel-identical to the file.

    The timestamps carry on across loops (3600 ticks of 90 kHz per frame), and the frames arrive
    no faster than real time.
    """
    fps, n_clip = 25, 50
    clip = ensure_clip(media_cache, fps=fps, seconds=n_clip / fps)
    with av.open(str(clip)) as container:
        originals = [_bgr(frame) for frame in container.decode(video=0)]
    server = rtsp_server_factory({"clip": f"file:{clip}"})
    started = time.monotonic()
    frames = _read_rtsp(server.url("clip"), round(4.5 * fps))
    elapsed_s = time.monotonic() - started
    indices = [read_frame_index(_bgr(frame)) for frame in frames]
    assert indices == [i % n_clip for i in range(len(frames))]
    for frame, index in zip(frames, indices, strict=True):
        assert np.array_equal(_bgr(frame), originals[index]), f"frame {index} was re-encoded"
    pts = [frame.pts for frame in frames[1:] if frame.pts is not None]  # the first is None
    assert len(pts) == len(frames) - 1
    assert all(b > a for a, b in itertools.pairwise(pts)), "timestamps went back"
    time_base = frames[-1].time_base
    assert time_base is not None
    span_s = float((pts[-1] - pts[0]) * time_base)
    assert span_s == pytest.approx((len(frames) - 2) / fps, abs=0.01)
    assert elapsed_s > 3.5, f"{len(frames)} frames in {elapsed_s:.2f} s: faster than real time"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_auth_refuses_missing_or_wrong_credentials(rtsp_server_factory: RtspServerFactory) -> None:
    """PyAV raises ``av.error.HTTPUnauthorizedError`` (an ``HTTPClientError``), message
    "Server returned 401 Unauthorized (authorization failed)", for both cases."""
    user, password = "admin", "p@ss:w/rd"
    server = rtsp_server_factory({"cam1": "live:320x240@25"}, user=user, password=password)
    for url in (server.url("cam1"), server.url("cam1", user, "wrong")):
        with pytest.raises(av.error.HTTPUnauthorizedError, match="401 Unauthorized"):
            av.open(url, options=RTSP_OPTIONS)
    assert len(_read_rtsp(server.url("cam1", user, password), 3)) == 3


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_killed_server_is_noticed_and_restart_serves_again(
    rtsp_server_factory: RtspServerFactory,
) -> None:
    server = rtsp_server_factory({"cam1": "live:320x240@25"})
    url = server.url("cam1")
    port = server.port
    after_kill, ended_by = 0, "end of iteration"
    with av.open(url, options=RTSP_OPTIONS) as container:
        frames = container.decode(video=0)
        for _ in range(5):
            next(frames)
        server.kill()
        killed_at = time.monotonic()
        try:
            for _ in frames:
                after_kill += 1  # frames already buffered by the demuxer
        except av.error.FFmpegError as exc:
            ended_by = type(exc).__name__
        noticed_s = time.monotonic() - killed_at
    assert noticed_s < 5.0, f"reader noticed the kill after {noticed_s:.1f} s ({ended_by})"
    assert after_kill < 50
    assert server.returncode == -9
    with pytest.raises(av.error.ConnectionRefusedError):
        av.open(url, options=RTSP_OPTIONS)
    server.restart()
    assert server.port == port and server.url("cam1") == url
    assert len(_read_rtsp(url, 3)) == 3


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_rtsp_server_stops_cleanly_and_reports_bad_mounts(
    tmp_path: Path, rtsp_server_factory: RtspServerFactory
) -> None:
    with RtspServerProcess({"/a": "live:160x120@5"}, work_dir=tmp_path / "ok") as server:
        assert server.running and server.port > 0
        with pytest.raises(KeyError, match="no mount '/b'"):
            server.url("b")
    assert not server.running and server.returncode == 0
    missing = tmp_path / "missing.mp4"
    with pytest.raises(ServerStartError, match="does not exist"):
        rtsp_server_factory({"clip": f"file:{missing}"})
    garbage = make_garbage_file(tmp_path / "garbage.mp4", 10_000)
    with pytest.raises(ServerStartError, match="cannot serve"):
        rtsp_server_factory({"clip": f"file:{garbage}"})
    with pytest.raises(ServerStartError, match="WIDTHxHEIGHT@FPS"):
        rtsp_server_factory({"cam": "live:320x240"})


# --- redis-server ---------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_redis_kill_and_restart(redis_server: RedisServerProcess) -> None:
    client = redis_server.client(timeout_s=1.0)
    assert client.ping()
    client.set("k", "v")
    redis_server.kill()
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()
    redis_server.restart()
    assert client.ping()  # the same client reconnects to the same port
    assert client.get("k") is None  # nothing persisted without appendonly
    client.close()


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_redis_appendonly_survives_a_crash(redis_server_factory: RedisServerFactory) -> None:
    server = redis_server_factory(appendonly=True)
    client = server.client()
    client.xadd("hazardwatch:events", {"event_id": "e1"})
    server.kill()
    server.restart()
    assert client.xlen("hazardwatch:events") == 1
    client.close()


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_redis_refuses_a_taken_port(tmp_path: Path) -> None:
    with RedisServerProcess(tmp_path / "a") as first:
        second = RedisServerProcess(tmp_path / "b", port=first.port, ready_timeout_s=5.0)
        with pytest.raises(ServerStartError, match="Address already in use"):
            second.start()
        assert not second.running


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_rtsp_server_needs_gi_and_says_which_packages(tmp_path: Path) -> None:
    if importlib.util.find_spec("gi") is not None:
        pytest.skip(f"{sys.executable} has gi, so it cannot show the missing-bindings error")
    server = RtspServerProcess(
        {"cam": "live:160x120@5"}, work_dir=tmp_path, python=Path(sys.executable)
    )
    with pytest.raises(ServerStartError, match=r"gir1\.2-gst-rtsp-server-1\.0") as info:
        server.start()
    assert "exited with 3" in str(info.value)


def _process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (no such process, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.integration
@pytest.mark.timeout(30)
def test_servers_die_with_a_killed_test_process(tmp_path: Path) -> None:
    """A test run killed with SIGKILL leaves no redis-server or RTSP server behind."""
    repo = Path(__file__).resolve().parents[2]
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.support.servers import RedisServerProcess, RtspServerProcess\n"
        "work = Path(sys.argv[1])\n"
        "r = RedisServerProcess(work / 'redis').start()\n"
        "s = RtspServerProcess({'cam': 'live:160x120@5'}, work_dir=work / 'rtsp').start()\n"
        "print(r.pid, s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(repo)}
    with subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, env=env, cwd=repo
    ) as parent:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and not any(_process_gone(pid) for pid in pids)
        parent.kill()
    deadline = time.monotonic() + 10.0
    while not all(_process_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_process_gone(pid) for pid in pids), f"orphaned server processes {pids}"


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_session_environment(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> None:
    xdg_cache = Path(os.environ["XDG_CACHE_HOME"])
    assert xdg_cache.is_dir() and xdg_cache.is_relative_to(tmp_path_factory.getbasetemp())
    assert media_cache.is_dir()
