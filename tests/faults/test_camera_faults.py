"""A camera that drops, sends corrupt video, changes resolution or connects and says nothing.

ARCHITECTURE.md §9: such a camera is reconnected with capped exponential backoff and other
cameras never notice; its state, frame counters, reconnects and last error are visible in
``/health`` and ``/metrics``; events and tickets are never lost or duplicated.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import av
import cv2
import pytest
import redis

from cameras.clips import sha256_file
from tests.faults.harness import (
    FALL_LOOP_S,
    FacadeMedia,
    Service,
    check_ledger,
    settle_tickets,
    stream_events,
    wait_for,
    write_config,
)
from tests.support.media import (
    make_corrupted_clip,
    make_resolution_change_clip,
    mp4_declared_size,
)
from tests.support.servers import RedisServerFactory, RtspServerFactory, SilentTcpServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOT_STREAMING = ("backoff", "connecting")


def _frames(service: Service, camera_id: str) -> float:
    return float(service.camera(camera_id).get("frames_in", 0))


@pytest.mark.timeout(150)
def test_rtsp_server_killed_and_restarted_three_times(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """cam_a's RTSP server is killed and restarted three times; cam_b's server keeps running.

    The user sees, for each outage: cam_a ``backoff``/``connecting`` in ``/health`` with a
    ``last_error`` (staff view) and ``hazardwatch_camera_up{camera="cam_a"} 0``, then
    ``streaming`` again with ``hazardwatch_camera_reconnects_total`` one higher or more; cam_b
    stays ``streaming`` with ``frames_in`` rising the whole time. Hazards of both cameras keep
    becoming tickets, each hazard in exactly one ticket, no event lost or duplicated.
    """
    server_a = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    server_b = rtsp_server_factory({"/cam_b": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    cameras = {
        "cam_a": facade.camera_config(server_a.url("/cam_a")),
        "cam_b": facade.camera_config(server_b.url("/cam_b")),
    }
    config = write_config(tmp_path / "faults.yaml", cameras)
    service: Service = service_factory(config, redis_server.url).start()
    wait_for(lambda: service.camera("cam_a")["state"] == "streaming", 30, "cam_a streaming")

    reconnects = service.metric("hazardwatch_camera_reconnects_total", camera="cam_a")
    assert reconnects == 0
    for outage in range(3):
        server_a.kill()
        down = wait_for(
            lambda: (c := service.camera("cam_a"))["state"] in NOT_STREAMING and c, 15,
            f"cam_a to notice outage {outage + 1}",
        )  # fmt: skip
        assert down["last_error"], down
        assert service.metric("hazardwatch_camera_up", camera="cam_a") == 0
        assert service.health()["status"] == "degraded"
        b_before = _frames(service, "cam_b")
        time.sleep(1.5)  # the server stays down a while: the camera retries with backoff
        assert service.camera("cam_b")["state"] == "streaming"
        assert _frames(service, "cam_b") > b_before, "cam_b noticed cam_a's outage"
        server_a.restart()
        wait_for(lambda: service.camera("cam_a")["state"] == "streaming", 30,
                 f"cam_a streaming after restart {outage + 1}")  # fmt: skip
        now = service.metric("hazardwatch_camera_reconnects_total", camera="cam_a")
        assert now is not None and reconnects is not None and now > reconnects
        reconnects = now
    a_frames = _frames(service, "cam_a")
    wait_for(lambda: _frames(service, "cam_a") > a_frames + 25, 10, "cam_a frames after restarts")
    assert service.metric("hazardwatch_camera_up", camera="cam_a") == 1
    assert service.metric("hazardwatch_camera_reconnects_total", camera="cam_b") == 0
    # One more hazard of cam_a after the last restart, then a graceful stop.
    client = redis.Redis.from_url(redis_server.url)
    seen = _hazards_of(client, "cam_a")
    wait_for(
        lambda: _hazards_of(client, "cam_a") > seen, 3 * FALL_LOOP_S, "a hazard after restarts"
    )
    code, _took = service.terminate()
    assert code == 0

    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    by_camera = {cam: sum(1 for h in ledger.hazards if h in _ids(tickets, cam)) for cam in cameras}
    assert by_camera["cam_a"] >= 2 and by_camera["cam_b"] >= 3, by_camera


def _hazards_of(client: redis.Redis, camera_id: str) -> int:
    return len({e["hazard_id"] for e in stream_events(client) if e["camera_id"] == camera_id})


def _ids(tickets: list[dict[str, Any]], camera_id: str) -> set[str]:
    return {h for t in tickets if t["camera_id"] == camera_id for h in t["hazard_ids"]}


@pytest.mark.timeout(150)
def test_a_camera_that_connects_and_sends_nothing(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """cam_a's RTSP server hangs mid-stream (SIGSTOP: its sockets stay open, nothing is sent,
    new connections are accepted by the kernel and never answered); cam_c is a listener that
    accepts and never answers at all; cam_b is healthy.

    The user sees cam_a go from ``streaming`` to ``backoff``/``connecting`` within a few read
    timeouts with a ``last_error`` saying it timed out, and cam_c never streaming, with the same
    kind of error, while its server sees it retry with backoff. Retrying does not pile up: the
    process keeps the same number of threads and file descriptors, and cam_c's server never sees
    more than one connection at a time. cam_b keeps streaming; when cam_a's server
    resumes (SIGCONT) cam_a streams again; no event or ticket is lost or duplicated.
    """
    server_a = rtsp_server_factory({"/cam_a": f"file:{facade.clip}"})
    server_b = rtsp_server_factory({"/cam_b": f"file:{facade.clip}"})
    redis_server = redis_server_factory(appendonly=True)
    with SilentTcpServer() as silent:
        cameras = {
            "cam_a": facade.camera_config(server_a.url("/cam_a")),
            "cam_b": facade.camera_config(server_b.url("/cam_b")),
            "cam_c": facade.camera_config(silent.url()),
        }
        config = write_config(tmp_path / "faults.yaml", cameras)
        service: Service = service_factory(config, redis_server.url).start()
        wait_for(lambda: _timed_out(service, "cam_c") and silent.accepted >= 2, 30,
                 "cam_c to time out twice")  # fmt: skip
        wait_for(lambda: service.camera("cam_a")["state"] == "streaming", 30, "cam_a streaming")
        threads, fds = service.threads(), service.fds()

        assert server_a.pid is not None
        os.kill(server_a.pid, signal.SIGSTOP)
        try:
            stalled_at = time.monotonic()
            wait_for(lambda: _timed_out(service, "cam_a"), 20, "cam_a to notice the stall")
            noticed_s = time.monotonic() - stalled_at
            samples = []
            for _ in range(16):  # 8 s of retries against two mute servers
                samples.append((service.threads(), service.fds(), silent.open_now))
                time.sleep(0.5)
            b_frames = _frames(service, "cam_b")
            assert service.camera("cam_b")["state"] == "streaming"
        finally:
            os.kill(server_a.pid, signal.SIGCONT)
        assert noticed_s < 12, f"the stall was noticed after {noticed_s:.1f} s"
        # A pile-up grows with every retry (two cameras retry about 8 times in these 8 s), so it
        # is judged on the last seconds; a short swing while the server answers our /health
        # polls (its worker-thread pool grows on demand: +3 was seen) is not one.
        late = samples[-4:]
        assert max(s[0] for s in late) <= threads + 1, (threads, samples)
        assert max(s[0] for s in samples) <= threads + 4, (threads, samples)
        assert max(s[1] for s in samples) <= fds + 3, (fds, samples)  # 2 cameras retry ~8 times
        assert silent.most_open <= 1, f"{silent.most_open} connections open at once"
        assert silent.accepted >= 3, "cam_c stopped retrying"  # backoff grows: 0.5, 1, 2 s...
        assert _timed_out(service, "cam_c")
        assert service.metric("hazardwatch_camera_up", camera="cam_c") == 0
        wait_for(lambda: service.camera("cam_a")["state"] == "streaming", 30, "cam_a to resume")
        assert _frames(service, "cam_b") > b_frames
        code, _took = service.terminate()
        assert code == 0
    client = redis.Redis.from_url(redis_server.url)
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    check_ledger(client, service.data_dir, tickets, [service.log()])


def _timed_out(service: Service, camera_id: str) -> bool:
    camera = service.camera(camera_id)
    return camera["state"] in NOT_STREAMING and "timed out" in str(camera.get("last_error"))


@pytest.mark.timeout(150)
def test_a_camera_sending_corrupt_h264(
    tmp_path: Path,
    media_cache: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """cam_a's stream is clean for one loop of the clip, damaged for the next (bit flips in
    packets, packets cut short), clean again, and so on.

    The user sees ``decode_errors`` rising in ``/health`` and
    ``hazardwatch_camera_decode_errors_total`` in ``/metrics``, with a ``last_error`` naming the
    corrupt data, while cam_a stays ``streaming`` (no crash, no reconnect needed); frames the
    decoder had to patch up are not analysed, and the falls of the clean loops still become
    tickets, each hazard in exactly one ticket, nothing lost or duplicated.
    """
    corrupted = make_corrupted_clip(facade.clip, tmp_path / "corrupted.mp4", loops=3)
    server = rtsp_server_factory({"/cam_a": f"file:{corrupted}"})
    redis_server = redis_server_factory(appendonly=True)
    config = write_config(
        tmp_path / "faults.yaml", {"cam_a": facade.camera_config(server.url("/cam_a"))}
    )
    service: Service = service_factory(config, redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    # Loop 0 is clean (a hazard), loop 1 damaged, loop 2 clean again (another hazard).
    wait_for(lambda: service.camera("cam_a").get("decode_errors", 0) > 0, 30, "decode errors")
    errors = service.camera("cam_a")["decode_errors"]
    seen = _hazards_of(client, "cam_a")
    wait_for(lambda: _hazards_of(client, "cam_a") > seen, 4 * FALL_LOOP_S, "a hazard after it")
    camera = service.camera("cam_a")
    assert camera["state"] == "streaming" and camera["reconnects"] == 0, camera
    assert camera["decode_errors"] >= errors
    assert "corrupt" in str(camera["last_error"]), camera
    assert camera["frames_out"] < camera["frames_in"]  # the patched-up frames were not analysed
    metric = service.metric("hazardwatch_camera_decode_errors_total", camera="cam_a")
    assert metric is not None and metric >= errors
    code, _took = service.terminate()
    assert code == 0
    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    assert len(ledger.hazards) >= 2


ANALYSIS_SIZE = (270, 480)  # (height, width): motion.width 480 of a 16:9 picture


@pytest.mark.timeout(150)
def test_a_resolution_change_mid_stream(
    tmp_path: Path,
    facade: FacadeMedia,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: RedisServerFactory,
    service_factory: Any,
) -> None:
    """cam_a's one RTSP stream alternates between 640x360 and 320x180 every 5 s (the camera's
    profile edited while streaming), without a reconnect.

    The user sees cam_a ``streaming`` throughout with no reconnect; the analysis keeps its size
    (the live and evidence snapshots are 480x270 from both halves); the zones and floor lines,
    being normalized, still map: the fall is found in both halves from the same floor; every
    hazard's clip is written, plays, and declares the picture size its frames have.
    """
    changing = make_resolution_change_clip(facade.clip, tmp_path / "change.ts", SIZES)
    server = rtsp_server_factory({"/cam_a": f"file:{changing}"})
    redis_server = redis_server_factory(appendonly=True)
    config = write_config(
        tmp_path / "faults.yaml", {"cam_a": facade.camera_config(server.url("/cam_a"))}
    )
    service: Service = service_factory(config, redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    halves = wait_for(lambda: _halves(client) >= {0, 1} and _halves(client), 40,
                      "a fall in each half")  # fmt: skip
    assert halves == {0, 1}
    live = service.data_dir / "live" / "cam_a.jpg"
    assert cv2.imread(str(live)).shape[:2] == ANALYSIS_SIZE
    camera = service.camera("cam_a")
    assert camera["state"] == "streaming" and camera["reconnects"] == 0, camera
    code, _took = service.terminate()
    assert code == 0

    tickets = settle_tickets(config, redis_server.url, service.data_dir)
    ledger = check_ledger(client, service.data_dir, tickets, [service.log()])
    starts = [e for e in stream_events(client) if e["phase"] == "start"]
    assert len(starts) == len(ledger.hazards) >= 2
    floors = {e["details"].get("origin_floor") for e in starts}
    assert len(floors) == 1, f"the same fall gave origin floors {floors}"
    snapshots = set()
    for event in starts:
        half = _half(event)
        evidence = event["evidence"]
        assert "error" not in evidence, evidence
        snapshot = cv2.imread(str(service.data_dir / evidence["snapshot"]))
        snapshots.add(snapshot.shape)  # the analysed frame, with a caption band below
        clip = service.data_dir / evidence["clip"]
        assert sha256_file(clip) == evidence["sha256"]["clip"]
        declared, decoded = _clip_sizes(clip)
        assert decoded == {SIZES[half]}, (half, decoded)
        assert declared == SIZES[half], f"clip of half {half} declares {declared}"
    assert len(snapshots) == 1 and snapshots.pop()[1] == ANALYSIS_SIZE[1]


SIZES = ((640, 360), (320, 180))


def _half(event: dict[str, Any]) -> int:
    """0 for a fall in the 640x360 half of the 10 s cycle, 1 for the 320x180 half."""
    return int(event["start_pts_s"] % (2 * FALL_LOOP_S) >= FALL_LOOP_S)


def _halves(client: redis.Redis) -> set[int]:
    return {_half(e) for e in stream_events(client) if e["phase"] == "start"}


def _clip_sizes(clip: Path) -> tuple[tuple[int, int], set[tuple[int, int]]]:
    """(the size the file's header declares, the sizes of its decoded frames)."""
    with av.open(str(clip)) as container:
        decoded = {(f.width, f.height) for f in container.decode(video=0)}
    return mp4_declared_size(clip), decoded
