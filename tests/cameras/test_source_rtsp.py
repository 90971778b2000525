"""VideoSource against a real gst-rtsp-server on loopback: ingest, outage, reconnect, auth."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cameras.clips import ClipRecorder
from cameras.errors import SourceAuthError, SourceConnectionError, SourceError
from cameras.queues import FrameQueue
from cameras.ring import PacketRing
from cameras.source import SourceSettings, SourceState, VideoSource
from tests.support.media import ensure_clip, read_frame_index
from tests.support.servers import SilentTcpServer
from vision.types import Frame

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 2.0


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll an outside process's effect; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def drain(queue: FrameQueue) -> list[Frame]:
    frames = []
    while (frame := queue.get(timeout_s=0)) is not None:
        frames.append(frame)
    return frames


def settings(url: str, **kwargs: object) -> SourceSettings:
    base: dict = {
        "camera_id": "lobby", "url": url, "fps": 5.0, "width_px": 160,
        "connect_timeout_s": 3.0, "read_timeout_s": READ_TIMEOUT_S,
        "backoff_initial_s": 0.2, "backoff_max_s": 1.0,
    }  # fmt: skip
    base.update(kwargs)
    return SourceSettings(**base)


def test_frames_from_live_rtsp(rtsp_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = rtsp_server_factory({"/lobby": "live:320x240@25"})
    source = VideoSource(settings(server.url("/lobby")))
    frames = list(itertools.islice(source.frames(), 10))
    source.stop()
    assert [f.image.shape for f in frames] == [(120, 160, 3)] * 10
    steps = np.diff([f.pts_s for f in frames])
    assert np.all(steps > 0.15) and np.all(steps < 0.25)  # 5 fps of stream time
    status = source.status()
    assert status.codec == "h264" and (status.width_px, status.height_px) == (320, 240)


def test_file_over_rtsp_keeps_content_and_loops(rtsp_server_factory, media_cache: Path) -> None:  # type: ignore[no-untyped-def]
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=2.0, gop=25)
    server = rtsp_server_factory({"/file": f"file:{clip}"})
    source = VideoSource(settings(server.url("/file"), fps=None, width_px=None))
    frames = list(itertools.islice(source.frames(), 75))  # 3 s from a 2 s clip
    source.stop()
    indices = [read_frame_index(np.asarray(f.image)) for f in frames]
    assert set(range(50)) <= set(indices)  # every frame of the clip arrived
    assert indices.count(0) >= 2  # and it looped
    assert all(b > a for a, b in itertools.pairwise(f.pts_s for f in frames))


def test_killed_server_is_noticed_backs_off_and_resumes(rtsp_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = rtsp_server_factory({"/lobby": "live:320x240@25"})
    ring = PacketRing(max_duration_s=30.0)
    recorder = ClipRecorder(ring, camera_id="lobby")
    source = VideoSource(settings(server.url("/lobby")), on_packet=recorder.feed)
    source.set_reconnect_hook(ring.mark_discontinuity)
    queue = FrameQueue(max_size=1000)
    source.start(queue.put)
    try:
        wait_for(lambda: source.status().frames_out >= 10, 10, "first frames")
        before = drain(queue)
        server.kill()
        killed_at = time.monotonic()
        noticed_s = wait_for(
            lambda: source.status().state in (SourceState.BACKOFF, SourceState.CONNECTING),
            READ_TIMEOUT_S * 3,
            "the source to notice the dead server",
        )
        assert noticed_s <= READ_TIMEOUT_S + 0.5, f"noticed after {noticed_s:.2f}s"
        assert source.status().last_error  # it says why
        # While the server is down the source keeps trying, with backoff between tries.
        wait_for(lambda: source.status().reconnects >= 1, 5, "a reconnect attempt")
        assert source.status().frames_out == len(before) + len(drain(queue))
        time.sleep(1.0)  # an outage of a known minimum length (the server is really down)
        server.restart()
        wait_for(lambda: len(queue) >= 10, 20, "frames after the restart")
        outage_s = time.monotonic() - killed_at
        after = drain(queue)
    finally:
        source.stop()
        recorder.close()
    times = [f.pts_s for f in before + after]
    assert all(b > a for a, b in itertools.pairwise(times)), "pts_s went backwards"
    gap = after[0].pts_s - before[-1].pts_s
    assert 1.0 <= gap <= outage_s + 1.0  # stream time counts the outage
    assert source.status().state is SourceState.STOPPED
    assert ring.snapshot(-1)[0].is_keyframe


def test_wrong_credentials_are_refused_clearly(rtsp_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = rtsp_server_factory({"/lobby": "live:320x240@25"}, user="admin", password="s3cret")
    url = server.url("/lobby", user="admin", password="wrong-pass")
    source = VideoSource(settings(url, max_connect_attempts=1))
    with pytest.raises(SourceAuthError, match="401") as info:
        next(source.frames())
    assert "wrong-pass" not in str(info.value)
    assert "rtsp://***:***@127.0.0.1" in str(info.value)
    good = VideoSource(settings(server.url("/lobby", user="admin", password="s3cret")))
    assert next(good.frames()).image.shape == (120, 160, 3)
    good.stop()


def test_unreachable_camera_keeps_retrying_without_crashing() -> None:
    source = VideoSource(settings("rtsp://cam:pw@127.0.0.1:9/nothing", backoff_initial_s=0.05))
    queue = FrameQueue()
    source.start(queue.put)
    try:
        wait_for(lambda: "connection refused" in (source.status().last_error or ""), 10, "error")
        assert source.status().state in (SourceState.BACKOFF, SourceState.CONNECTING)
        assert "pw" not in (source.status().last_error or "").replace("***", "")
    finally:
        source.stop()
    assert source.status().state is SourceState.STOPPED


class GarbageServer:
    """A TCP server on loopback that answers every connection with random bytes."""

    def __init__(self) -> None:
        import socket
        import threading

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import random

        rng = random.Random(7)
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            # The client hanging up on our garbage is the point: ignore that error.
            with conn, contextlib.suppress(OSError):
                conn.sendall(bytes(rng.getrandbits(8) for _ in range(20_000)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


@pytest.mark.parametrize("scheme", ["rtsp", "http"], ids=["rtsp", "http"])
def test_garbage_bytes_instead_of_a_stream(scheme: str) -> None:
    server = GarbageServer()
    try:
        url = f"{scheme}://viewer:Pa55word@127.0.0.1:{server.port}/stream"
        source = VideoSource(settings(url, max_connect_attempts=1, read_timeout_s=2.0))
        with pytest.raises(SourceError) as info:
            next(source.frames())
    finally:
        server.close()
    message = str(info.value)
    assert "camera lobby" in message and f"127.0.0.1:{server.port}/stream" in message
    assert "Pa55word" not in message


@pytest.mark.parametrize("scheme", ["rtsp", "http"], ids=["rtsp", "http"])
def test_a_server_that_accepts_and_never_answers_is_a_timeout(scheme: str) -> None:
    """FFmpeg reports an RTSP server that never answers as "invalid data", like garbage; the
    user must read that it timed out (the camera is hung, not sending a wrong format)."""
    with SilentTcpServer() as server:
        source = VideoSource(settings(server.url(scheme), max_connect_attempts=1))
        started = time.monotonic()
        with pytest.raises(SourceConnectionError, match="timed out") as info:
            next(source.frames())
        waited_s = time.monotonic() - started
    assert READ_TIMEOUT_S * 0.9 <= waited_s <= READ_TIMEOUT_S * 3
    assert "camera lobby" in str(info.value)
    assert server.most_open <= 1
