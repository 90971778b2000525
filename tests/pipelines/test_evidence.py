"""EvidenceWriter with real parts: a generated H.264 clip played through a VideoSource into a
ClipRecorder; files checked with ffprobe, PyAV and OpenCV."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from cameras.clips import ClipRecorder, sha256_file
from cameras.ring import PacketRing
from cameras.source import SourceSettings, VideoSource
from pipelines.evidence import (
    EvidenceError,
    EvidenceWriter,
    evidence_dir,
    free_bytes,
    prune_evidence,
    write_zone_snapshot,
)
from pipelines.public_clip import (
    public_size,
    read_privacy_track,
    write_public_clip,
    write_public_clip_from_track,
)
from pipelines.snapshots import ZONE_COLOUR_BGR, LabeledBox
from tests.support.media import ensure_clip
from vision.types import Frame, HazardEvent, HazardKind, HazardPhase

FPS = 25
WIDTH, HEIGHT = 320, 240
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
LANE = [[0.1, 0.3], [0.9, 0.3], [0.9, 0.95], [0.1, 0.95]]
# A person on the left: its head region (top 22 %, widened) is x 34..106, y 35..87 px.
PERSON: LabeledBox = ((40, 40, 100, 220), "person")
HEAD_PX = (slice(36, 86), slice(36, 104))
FAR_PX = (slice(140, 200), slice(200, 300))  # far from the head (and from all drawings)
CAPTURE_AT_S = 4.0


@pytest.fixture(scope="module")
def clip_8s(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=WIDTH, height=HEIGHT, fps=FPS, seconds=8.0, gop=FPS)


def make_event(**changes: Any) -> HazardEvent:
    values: dict[str, Any] = {
        "event_id": "ev-1",
        "hazard_id": "hz-1",
        "phase": HazardPhase.START,
        "kind": HazardKind.FIRE_LANE_BLOCKED,
        "camera_id": "cam",
        "zone": "lane",
        "started_at": T0,
        "start_pts_s": CAPTURE_AT_S,
        "score": 0.8,
        "labels": ("car",),
        "box_norm": (0.6, 0.5, 0.9, 0.9),
    }
    values.update(changes)
    return HazardEvent(**values)


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def writer_for(data_dir: Path, **kwargs: Any) -> tuple[EvidenceWriter, ClipRecorder]:
    recorder = ClipRecorder(PacketRing(max_duration_s=15.0), camera_id="cam")
    kwargs.setdefault("pre_s", 2.0)
    kwargs.setdefault("post_s", 2.0)
    kwargs.setdefault("zones", {"lane": ("polygon", LANE)})
    kwargs.setdefault("min_free_bytes", 0)
    writer = EvidenceWriter(data_dir, "cam", "North lane 北", recorder, **kwargs)
    return writer, recorder


def play(
    clip: Path,
    writer: EvidenceWriter,
    recorder: ClipRecorder,
    *,
    event: HazardEvent | None = None,
    boxes: list[LabeledBox] | None = None,
    until_s: float | None = None,
) -> tuple[Future[HazardEvent], Frame]:
    """Play the clip into the recorder; observe boxes on every frame; capture at 4 s."""
    boxes = [PERSON] if boxes is None else boxes
    settings = SourceSettings(camera_id="cam", url=str(clip), fps=None, width_px=None)
    source = VideoSource(settings, on_packet=recorder.feed)
    future: Future[HazardEvent] | None = None
    captured: Frame | None = None
    for frame in source.frames():
        writer.observe(frame, boxes)
        if future is None and frame.pts_s >= CAPTURE_AT_S - 1e-6:
            captured = frame
            future = writer.capture(event or make_event(start_pts_s=frame.pts_s), frame, boxes)
        if until_s is not None and frame.pts_s >= until_s:
            break
    assert future is not None and captured is not None
    return future, captured


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def full_run(
    clip_8s: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, HazardEvent, Frame, EvidenceWriter]:
    data_dir = tmp_path_factory.mktemp("data")
    writer, recorder = writer_for(data_dir)
    future, frame = play(clip_8s, writer, recorder)
    recorder.close()
    result = future.result(timeout=60)
    writer.close()
    return data_dir, result, frame, writer


# ----- the full path -------------------------------------------------------------------------


def test_every_file_is_written_in_its_folder_with_a_matching_sha256(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter],
) -> None:
    data_dir, result, _, writer = full_run
    evidence = dict(result.evidence)
    assert "error" not in evidence, evidence.get("error")
    folder = evidence_dir(data_dir, "cam", T0, "hz-1")
    assert folder == data_dir / "evidence" / "cam" / "2026-11-24" / "hz-1"
    names = {"clip": "clip.mp4", "snapshot": "snapshot.jpg"}
    names |= {"snapshot_public": "snapshot_public.jpg", "privacy": "privacy.json"}
    for key, name in names.items():
        assert evidence[key] == f"evidence/cam/2026-11-24/hz-1/{name}"  # relative to data dir
        path = data_dir / evidence[key]
        assert path.is_file()
        assert evidence["sha256"][key] == sha256_file(path), key
    assert set(evidence["sha256"]) == set(names)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names.values())  # no temp files
    # The event itself is unchanged apart from its evidence, and where it starts in the clip
    # (from the keyframe at 2 s to the start at 4 s).
    assert result.event_id == "ev-1" and result.hazard_id == "hz-1"
    assert result.details["clip_onset_s"] == pytest.approx(2.0, abs=0.05)
    assert json.loads(json.dumps(result.to_dict()))["evidence"] == evidence
    stats = writer.stats()
    assert (stats.captures, stats.resolved, stats.pending, stats.errors) == (1, 1, 0, 0)


def test_the_clip_is_h264_and_covers_the_window(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter],
) -> None:
    data_dir, result, _, _ = full_run
    probe = ffprobe(data_dir / result.evidence["clip"])
    stream = probe["streams"][0]
    assert stream["codec_name"] == "h264"
    assert (stream["width"], stream["height"]) == (WIDTH, HEIGHT)
    # [4 - 2, 4 + 2] s, from the keyframe at 2 s: 4 s of video (within a frame).
    assert float(probe["format"]["duration"]) == pytest.approx(4.0, abs=0.1)


def test_the_privacy_track_covers_the_clip_with_the_writers_settings(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter],
) -> None:
    data_dir, result, _, writer = full_run
    track = read_privacy_track(data_dir / result.evidence["privacy"])
    assert track.clip_start_pts_s == pytest.approx(2.0, abs=0.05)
    assert (track.box_hold_s, track.max_width_px, track.crf) == (
        writer.box_hold_s,
        writer.public_max_width_px,
        writer.public_crf,
    )
    times = [t for t, _ in track.timeline.entries()]
    assert times == sorted(times) and times[0] <= 2.0 and times[-1] >= 6.0 - 1.5 / FPS
    assert track.regions_at(CAPTURE_AT_S)  # the person's head, where it was


def test_snapshot_shows_the_zone_outline(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter],
) -> None:
    data_dir, result, frame, _ = full_run
    snapshot = read_image(data_dir / result.evidence["snapshot"])
    assert snapshot.shape[1] == WIDTH and snapshot.shape[0] > HEIGHT  # caption strip below
    # Midpoints of the lane's top edge (y 0.3) and left edge (x 0.1), in the zone colour.
    for x, y in [(160, 72), (32, 150)]:
        patch = snapshot[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).astype(int)
        near = np.abs(patch - np.array(ZONE_COLOUR_BGR)).sum(axis=1).min()
        assert near < 80, (x, y, near)
        raw = frame.image[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).astype(int)
        assert np.abs(raw - np.array(ZONE_COLOUR_BGR)).sum(axis=1).min() > 150


def test_public_snapshot_is_blurred_at_the_head_and_identical_far_from_it(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter],
) -> None:
    data_dir, result, _, _ = full_run
    private = read_image(data_dir / result.evidence["snapshot"]).astype(int)
    public = read_image(data_dir / result.evidence["snapshot_public"]).astype(int)
    assert private.shape == public.shape
    head_diff = np.abs(private[HEAD_PX] - public[HEAD_PX]).mean()
    assert head_diff > 8, head_diff
    assert np.array_equal(private[FAR_PX], public[FAR_PX])  # JPEG blocks far away: identical


def test_public_clip_from_the_privacy_track_is_blurred_at_the_head_in_every_frame(
    full_run: tuple[Path, HazardEvent, Frame, EvidenceWriter], tmp_path: Path
) -> None:
    """The pipeline's track and the service's copy (api.public_copy) together: the head is
    pixelated in every frame of the copy, the rest of the picture is not."""
    data_dir, result, _, _ = full_run
    clip_path = data_dir / result.evidence["clip"]
    track = read_privacy_track(data_dir / result.evidence["privacy"])
    public_path = tmp_path / "clip_public.mp4"
    digest = write_public_clip_from_track(clip_path, public_path, track)
    assert digest == sha256_file(public_path)
    clip, public = decoded_frames(clip_path), decoded_frames(public_path)
    # 2 s .. 6 s at 25 fps; the public copy keeps every second frame (12.5 fps at most).
    assert len(clip) >= 100 and len(public) == math.ceil(len(clip) / 2)
    for index in (0, 25, 49):
        a, b = clip[2 * index].astype(int), public[index].astype(int)
        head = np.abs(a[HEAD_PX] - b[HEAD_PX]).mean()
        far = np.abs(a[FAR_PX] - b[FAR_PX]).mean()
        assert head > 3 * far and head > 8, (index, head, far)


# ----- failures never lose the event ---------------------------------------------------------


def test_low_free_space_skips_the_clip_but_keeps_snapshot_and_event(
    clip_8s: Path, tmp_path: Path
) -> None:
    minimum = free_bytes(tmp_path) + 1024**3  # more than there is
    writer, recorder = writer_for(tmp_path, min_free_bytes=minimum)
    future, _ = play(clip_8s, writer, recorder)
    recorder.close()
    result = future.result(timeout=30)
    writer.close()
    evidence = result.evidence
    assert "below the minimum" in evidence["error"] and "disk full" in evidence["error"]
    assert evidence["error"].startswith("clip: skipped: free space on ")
    assert set(evidence["sha256"]) == {"snapshot", "snapshot_public"}
    assert "clip" not in evidence and "clip_public" not in evidence
    folder = tmp_path / "evidence" / "cam" / "2026-11-24" / "hz-1"
    assert sorted(p.name for p in folder.iterdir()) == ["snapshot.jpg", "snapshot_public.jpg"]
    assert writer.disk_full
    stats = writer.stats()
    assert stats.clips_skipped_disk_full == 1 and stats.errors == 1 and stats.disk_full


def test_an_unwritable_data_dir_gives_an_error_in_the_event_not_an_exception(
    clip_8s: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")
    writer, recorder = writer_for(blocker / "data")
    future, _ = play(clip_8s, writer, recorder)
    recorder.close()
    result = future.result(timeout=30)
    writer.close()
    error = result.evidence["error"]
    assert f"snapshot: cannot write {blocker}/data/evidence/cam/2026-11-24/hz-1/snapshot.jpg" in (
        error
    )
    assert "snapshot_public: cannot write" in error and "clip: clip " in error
    assert result.evidence["sha256"] == {}
    assert writer.stats().errors == 3


def test_a_stalled_camera_resolves_the_event_without_its_clip(
    clip_8s: Path, tmp_path: Path
) -> None:
    # The post-roll never arrives (the stream stops at 4.5 s and nothing flushes the recorder).
    writer, recorder = writer_for(tmp_path, post_s=30.0, clip_timeout_s=0.3)
    future, _ = play(clip_8s, writer, recorder, until_s=4.5)
    result = future.result(timeout=10)
    assert result.evidence["error"].startswith("clip: not on disk 0.3 s after the request")
    assert set(result.evidence["sha256"]) == {"snapshot", "snapshot_public"}
    recorder.close()  # the clip is written late: logged, the event is not resolved twice
    writer.close()
    assert writer.stats().resolved == 1


@pytest.mark.parametrize(
    ("event_changes", "frame_camera", "error"),
    [
        ({"phase": HazardPhase.UPDATE}, "cam", "capture takes 'start' events, got update"),
        ({"camera_id": "other"}, "cam", "event belongs to camera 'other'"),
        ({}, "other", "frame belongs to camera 'other'"),
        ({"hazard_id": "../../etc"}, "cam", "hazard_id '../../etc' cannot name a folder"),
        ({"hazard_id": "a/b"}, "cam", "hazard_id 'a/b' cannot name a folder"),
    ],
    ids=["update-phase", "other-camera-event", "other-camera-frame", "dotdot", "slash"],
)
def test_capture_rejects_bad_input(
    tmp_path: Path, event_changes: dict[str, Any], frame_camera: str, error: str
) -> None:
    writer, recorder = writer_for(tmp_path)
    frame = Frame(frame_camera, 0, 4.0, T0, np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    with pytest.raises(ValueError, match=error.replace("(", r"\(")):
        writer.capture(make_event(**event_changes), frame, [])
    writer.close()
    recorder.close()
    assert not (tmp_path / "evidence").exists()


def test_capture_rejects_a_malformed_box(tmp_path: Path) -> None:
    writer, recorder = writer_for(tmp_path)
    frame = Frame("cam", 0, 4.0, T0, np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    with pytest.raises(ValueError, match=r"boxes\[0\]"):
        writer.capture(make_event(), frame, [((1, 2), "person")])
    writer.close()
    recorder.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"pre_s": -1.0}, "pre_s must be in 0..3600 s, got -1.0"),
        ({"post_s": float("nan")}, "post_s must be in 0..3600 s"),
        ({"min_free_bytes": -5}, "min_free_bytes must be >= 0, got -5"),
        ({"jpeg_quality": 0}, "jpeg_quality must be 1..100, got 0"),
        ({"public_crf": 60}, "public_crf must be 0..51, got 60"),
        ({"public_max_width_px": 8}, "public_max_width_px must be >= 16, got 8"),
        ({"clip_timeout_s": 0.0}, "clip_timeout_s must be > 0"),
        ({"zones": {"lane": ("polygon", LANE[:2])}}, "zone 'lane'.polygon: needs at least 3"),
    ],
    ids=["pre", "post-nan", "min-free", "jpeg", "crf", "width", "timeout", "zone"],
)
def test_writer_rejects_bad_settings(tmp_path: Path, kwargs: dict[str, Any], error: str) -> None:
    recorder = ClipRecorder(PacketRing(max_duration_s=5.0), camera_id="cam")
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        EvidenceWriter(tmp_path, "cam", "Cam", recorder, **kwargs)
    with pytest.raises(ValueError, match="camera_id 'a b' cannot name a folder"):
        EvidenceWriter(tmp_path, "a b", "Cam", recorder)
    recorder.close()


# ----- public clip, zone snapshot, sizes -----------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_width", "expected"),
    [
        ((1920, 1080), 640, (640, 360)),
        ((320, 240), 640, (320, 240)),
        ((1281, 721), 640, (640, 360)),
    ],
    ids=["1080p", "small-kept", "odd"],
)
def test_public_size(size: tuple[int, int], max_width: int, expected: tuple[int, int]) -> None:
    assert public_size(*size, max_width) == expected


def test_public_clip_of_a_wide_source_is_at_most_640_wide(
    media_cache: Path, tmp_path: Path
) -> None:
    source = ensure_clip(media_cache, width=1280, height=720, fps=FPS, seconds=1.0, gop=FPS)
    target = tmp_path / "public.mp4"
    digest = write_public_clip(
        source, target, lambda t: [(0.0, 0.0, 0.5, 0.5)] if t < 10.5 else [], start_pts_s=10.0
    )
    stream = ffprobe(target)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 640, 360)
    assert digest == sha256_file(target)
    frames = decoded_frames(target)
    assert len(frames) == math.ceil(FPS / 2)  # every second frame: 12.5 fps at most
    # Blurred (pixelated) top-left quarter in the first half second only.
    first, last = frames[0][:180, :320], frames[-1][:180, :320]
    assert len(np.unique(first.reshape(-1, 3), axis=0)) < len(
        np.unique(last.reshape(-1, 3), axis=0)
    )


def test_public_clip_of_a_broken_file_is_an_evidence_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    with pytest.raises(EvidenceError, match=r"broken\.mp4"):
        write_public_clip(broken, tmp_path / "out.mp4", lambda t: [], start_pts_s=0.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_zone_snapshot_is_written_atomically_and_blurred(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(40, 180, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame = Frame("cam", 7, 12.0, T0, image)
    target = tmp_path / "live" / "cam.jpg"
    plain = tmp_path / "plain.jpg"
    digest = write_zone_snapshot(frame, target, privacy_boxes=[PERSON])
    write_zone_snapshot(frame, plain)
    assert digest == sha256_file(target)
    blurred, unblurred = read_image(target).astype(int), read_image(plain).astype(int)
    assert np.abs(blurred[HEAD_PX] - unblurred[HEAD_PX]).mean() > 15
    assert np.array_equal(blurred[FAR_PX], unblurred[FAR_PX])
    again = write_zone_snapshot(frame, target)  # replaced in place
    assert again == sha256_file(target) and again != digest
    assert sorted(p.name for p in target.parent.iterdir()) == ["cam.jpg"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(EvidenceError, match=f"cannot write {blocker}/after.jpg"):
        write_zone_snapshot(frame, blocker / "after.jpg")


# ----- retention -----------------------------------------------------------------------------


def make_folder(
    data_dir: Path, camera: str, day: str, hazard: str, size: int, mtime: float
) -> None:
    folder = data_dir / "evidence" / camera / day / hazard
    folder.mkdir(parents=True)
    for name in ("clip.mp4", "snapshot.jpg"):
        (folder / name).write_bytes(b"x" * (size // 2))
        os.utime(folder / name, (mtime, mtime))


@pytest.mark.parametrize(
    ("max_bytes", "closed", "deleted", "over"),
    [
        (10_000, {"h1", "h2", "h3", "h4"}, [], False),
        (3_000, {"h1", "h2", "h3", "h4"}, ["h1"], False),
        (2_000, {"h1", "h2", "h3", "h4"}, ["h1", "h2"], False),
        (2_000, {"h2", "h4"}, ["h2", "h4"], False),
        (1_000, {"h4"}, ["h4"], True),
        (0, set(), [], True),
        (0, {"h1", "h2", "h3", "h4"}, ["h1", "h2", "h3", "h4"], False),
    ],
    ids=[
        "under",
        "oldest-first",
        "two-oldest",
        "skips-open",
        "open-kept-over-limit",
        "nothing-closed",
        "all",
    ],
)
def test_prune_deletes_oldest_closed_first(
    tmp_path: Path, max_bytes: int, closed: set[str], deleted: list[str], over: bool
) -> None:
    # h1 oldest (cam a), h2 (cam b), h3 (cam a, another day), h4 newest: 1000 bytes each.
    make_folder(tmp_path, "a", "2026-11-20", "h1", 1000, 1_000_000)
    make_folder(tmp_path, "b", "2026-11-20", "h2", 1000, 2_000_000)
    make_folder(tmp_path, "a", "2026-11-21", "h3", 1000, 3_000_000)
    make_folder(tmp_path, "b", "2026-11-22", "h4", 1000, 4_000_000)
    result = prune_evidence(tmp_path, max_bytes, closed)
    assert list(result.deleted_hazard_ids) == deleted
    assert result.freed_bytes == 1000 * len(deleted)
    assert result.total_bytes == 1000 * (4 - len(deleted))
    assert result.over_limit is over
    left = {p.name for p in (tmp_path / "evidence").glob("*/*/*")}
    assert left == {"h1", "h2", "h3", "h4"} - set(deleted)
    # Empty day and camera folders went with them.
    assert all(any(d.iterdir()) for d in (tmp_path / "evidence").glob("*/*"))
    assert all(any(d.iterdir()) for d in (tmp_path / "evidence").glob("*"))


def test_prune_ignores_what_is_not_an_evidence_folder(tmp_path: Path) -> None:
    make_folder(tmp_path, "a", "2026-11-20", "h1", 1000, 1_000_000)
    stray = tmp_path / "evidence" / "a" / "notes"
    stray.mkdir()
    (stray / "h1").write_bytes(b"y" * 5000)
    result = prune_evidence(tmp_path, 0, {"h1", "notes"})
    assert result.deleted_hazard_ids == ("h1",)
    assert (stray / "h1").is_file() and result.over_limit
    with pytest.raises(ValueError, match="max_bytes must be >= 0, got -1"):
        prune_evidence(tmp_path, -1, set())
    assert prune_evidence(tmp_path / "nothing-here", 0, set()).total_bytes == 0


def test_free_bytes_of_a_missing_folder_uses_its_parent(tmp_path: Path) -> None:
    missing = free_bytes(tmp_path / "not" / "yet")
    assert abs(missing - shutil.disk_usage(tmp_path).free) < 64 * 1024**2  # others write too


def test_zones_can_be_replaced_after_an_edit(tmp_path: Path) -> None:
    writer, recorder = writer_for(tmp_path)
    writer.zones = {"door": ("line", [(0.2, 0.8), (0.6, 0.8)], (0.0, -1.0))}
    assert set(writer.zones) == {"door"}
    with pytest.raises(ValueError, match=r"zone 'bad'\.polygon: needs at least 3 points"):
        writer.zones = {"bad": ("polygon", LANE[:2])}
    assert set(writer.zones) == {"door"}  # the old zones stay
    writer.close()
    recorder.close()
