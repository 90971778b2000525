"""Evidence clips: pre-roll from the ring, post-roll gathered live, stream-copied to MP4."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import Future
from pathlib import Path

import av
import pytest

from cameras.clips import ClipRecorder, remove_partial_files, sha256_file, write_clip
from cameras.errors import ClipError
from cameras.packets import EncodedPacket
from cameras.ring import PacketRing
from cameras.source import SourceSettings, VideoSource
from tests.support.media import ensure_clip, make_resolution_change_clip, mp4_declared_size
from vision.types import EvidenceClip

GOP = 25
FPS = 25


@pytest.fixture(scope="module")
def clip_10s(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=320, height=240, fps=FPS, seconds=10.0, gop=GOP)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-show_packets",
         "-select_streams", "v:0", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def source_packets(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (float(p.pts * stream.time_base), bytes(p)) for p in container.demux(stream) if p.size
        ]


def record(
    clip: Path, requests: dict[float, tuple[Path, float, float, float, float]], ring_s: float = 15.0
) -> tuple[ClipRecorder, dict[float, Future[EvidenceClip]], dict[float, int]]:
    """Play ``clip`` through a source into a recorder; at each request's pts, ask for a clip."""
    recorder = ClipRecorder(PacketRing(max_duration_s=ring_s), camera_id="cam")
    settings = SourceSettings(camera_id="cam", url=str(clip), fps=None, width_px=None)
    source = VideoSource(settings, on_packet=recorder.feed)
    futures: dict[float, Future[EvidenceClip]] = {}
    pending_after: dict[float, int] = {}
    for frame in source.frames():
        for at, (path, t0, t1, pre, post) in requests.items():
            if at not in futures and frame.pts_s >= at:
                futures[at] = recorder.request(path, t0, t1, pre, post)
                pending_after[at] = recorder.pending
    recorder.close()
    return recorder, futures, pending_after


def test_clip_is_h264_starts_on_keyframe_and_packets_are_byte_identical(
    clip_10s: Path, tmp_path: Path
) -> None:
    target = tmp_path / "evidence" / "clip.mp4"
    t0, t1, pre, post = 4.3, 5.0, 1.0, 1.5
    # Asked at t1: the pre-roll comes from the ring, the post-roll must be gathered live.
    _, futures, pending_after = record(clip_10s, {t1: (target, t0, t1, pre, post)})
    assert pending_after[t1] == 1
    clip = futures[t1].result(timeout=10)

    probe = ffprobe(target)
    stream = probe["streams"][0]
    assert stream["codec_name"] == "h264"
    assert probe["packets"][0]["flags"].startswith("K")
    duration = float(probe["format"]["duration"])
    requested = (t1 + post) - (t0 - pre)
    assert requested <= duration + 1 / FPS + 1e-6
    assert duration - requested <= GOP / FPS  # within one GOP of the request

    # Keyframe at or before t0 - pre = 3.3 s is 3.0 s; post-roll ends at 6.5 s.
    assert clip.start_pts_s == pytest.approx(3.0)
    assert clip.end_pts_s == pytest.approx(6.52)  # the frame at 6.48 s lasts past 6.5 s
    assert clip.sha256 == sha256_file(target) and clip.size_bytes == target.stat().st_size

    original = [data for pts, data in source_packets(clip_10s) if 3.0 - 1e-6 <= pts <= 6.5 + 1e-6]
    copied = [data for _, data in source_packets(target)]
    assert copied == original  # stream copy: no re-encode, byte for byte
    assert not list(target.parent.glob(".*partial*")), "temporary file left behind"


def test_clip_asked_after_the_window_is_written_at_once(clip_10s: Path, tmp_path: Path) -> None:
    target = tmp_path / "late.mp4"
    _, futures, pending_after = record(clip_10s, {8.0: (target, 2.0, 2.5, 0.5, 0.5)})
    assert pending_after[8.0] == 0
    clip = futures[8.0].result(timeout=10)
    assert clip.start_pts_s == pytest.approx(1.0)
    assert clip.end_pts_s == pytest.approx(3.0 + 1 / FPS, abs=1 / FPS)


def test_stream_end_flushes_pending_clip(clip_10s: Path, tmp_path: Path) -> None:
    target = tmp_path / "cut-short.mp4"
    _, futures, _ = record(clip_10s, {9.0: (target, 9.0, 9.0, 1.0, 30.0)})
    clip = futures[9.0].result(timeout=10)
    assert clip.end_pts_s == pytest.approx(10.0, abs=0.05)
    assert ffprobe(target)["streams"][0]["codec_name"] == "h264"


def test_ring_shorter_than_preroll_starts_at_oldest_keyframe(
    clip_10s: Path, tmp_path: Path
) -> None:
    target = tmp_path / "short-ring.mp4"
    _, futures, _ = record(clip_10s, {8.0: (target, 8.0, 8.0, 6.0, 0.5)}, ring_s=3.0)
    clip = futures[8.0].result(timeout=10)
    assert 4.0 <= clip.start_pts_s <= 5.0


def test_end_before_start_is_refused(tmp_path: Path) -> None:
    recorder = ClipRecorder(PacketRing(max_duration_s=5.0), camera_id="cam")
    try:
        with pytest.raises(ClipError, match=r"end 1\.000s is before start 2\.000s"):
            recorder.request(tmp_path / "x.mp4", 2.0, 1.0, 1.0, 1.0)
    finally:
        recorder.close()


def test_no_keyframe_no_clip(tmp_path: Path) -> None:
    with pytest.raises(ClipError, match="no keyframe among 0 packets"):
        write_clip([], tmp_path / "empty.mp4")
    assert not (tmp_path / "empty.mp4").exists()


def test_unwritable_target_is_a_clip_error(clip_10s: Path, tmp_path: Path) -> None:
    packets: list[EncodedPacket] = []
    settings = SourceSettings(camera_id="cam", url=str(clip_10s), fps=1.0)
    for _ in VideoSource(settings, on_packet=packets.append).frames():
        pass
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(ClipError, match="cannot write"):
        write_clip(packets[:30], blocker / "clip.mp4")


def test_request_after_end_of_stream_is_written_at_once(clip_10s: Path, tmp_path: Path) -> None:
    recorder = ClipRecorder(PacketRing(max_duration_s=15.0), camera_id="cam")
    settings = SourceSettings(camera_id="cam", url=str(clip_10s), fps=1.0)
    for _ in VideoSource(settings, on_packet=recorder.feed).frames():
        pass
    recorder.end_of_stream()
    clip = recorder.request(tmp_path / "late.mp4", 9.5, 9.5, 1.0, 10.0).result(timeout=10)
    assert clip.start_pts_s == pytest.approx(8.0)
    assert clip.end_pts_s == pytest.approx(10.0, abs=0.05)
    recorder.close()


@pytest.mark.parametrize(
    ("name", "old", "removed"),
    [
        pytest.param(".clip.0badc0de.partial.mp4", True, True, id="clip-temp"),
        pytest.param(".snapshot.jpg.0badc0de.partial", True, True, id="snapshot-temp"),
        pytest.param(".clip_public.mp4.0badc0de.mp4", True, True, id="public-clip-temp"),
        pytest.param(".clip.0badc0de.partial.mp4", False, False, id="temp-being-written"),
        pytest.param("clip.mp4", True, False, id="finished-clip"),
        pytest.param(".clip.mp4", True, False, id="hidden-not-temp"),
        pytest.param(".notes.0badc0de", True, False, id="no-temp-suffix"),
        pytest.param(".clip.0BADC0DE.partial", True, False, id="not-our-hex"),
    ],
)
def test_unfinished_files_older_than_the_start_are_removed(
    tmp_path: Path, name: str, old: bool, removed: bool
) -> None:
    """A temporary name older than the start belongs to a write a crash interrupted."""
    path = tmp_path / "evidence" / "cam" / "2026-01-01" / "hazard" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    started_at = path.stat().st_mtime + (1.0 if old else -1.0)
    gone = remove_partial_files(tmp_path / "evidence", older_than_s=started_at)
    assert gone == ([path] if removed else [])
    assert path.exists() is not removed


def test_removing_unfinished_files_of_a_missing_folder_is_nothing(tmp_path: Path) -> None:
    assert remove_partial_files(tmp_path / "nowhere") == []


def test_a_resolution_change_mid_stream_starts_clips_with_the_new_parameters(
    media_cache: Path, tmp_path: Path
) -> None:
    """One stream, 320x240 then 160x120 (SPS/PPS in band, as RTSP cameras send them): a clip
    cut after the change carries the new parameter sets and declares the new size, so that a
    player that trusts the file's header (a browser) shows it right."""
    small = ensure_clip(media_cache, width=320, height=240, fps=FPS, seconds=2.0, gop=GOP)
    stream = make_resolution_change_clip(small, tmp_path / "change.ts", ((320, 240), (160, 120)))
    ring = PacketRing(max_duration_s=30.0)
    recorder = ClipRecorder(ring, camera_id="cam")
    source = VideoSource(
        SourceSettings(camera_id="cam", url=str(stream), fps=1.0), on_packet=recorder.feed
    )
    asked: dict[str, Future[EvidenceClip]] = {}
    for frame in source.frames():  # each clip is asked for as its hazard would be: live
        if frame.pts_s >= 1.0 and "before" not in asked:
            asked["before"] = recorder.request(tmp_path / "before.mp4", 0.5, 0.5, 0.5, 0.5)
        if frame.pts_s >= 3.0 and "after" not in asked:
            asked["after"] = recorder.request(tmp_path / "after.mp4", 2.5, 2.5, 0.5, 0.5)
    recorder.close()
    before, after = asked["before"].result(10), asked["after"].result(10)
    assert mp4_declared_size(before.path) == (320, 240)
    assert mp4_declared_size(after.path) == (160, 120)
    with av.open(after.path) as container:
        assert {(f.width, f.height) for f in container.decode(video=0)} == {(160, 120)}
    assert after.start_pts_s >= 2.0  # the ring restarted at the change: no old packet in it
