"""VideoSource on files: sampling by pts, scaling inside FFmpeg, bad files."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from cameras.errors import DecodeError, SourceNotFoundError
from cameras.source import SourceSettings, SourceState, VideoSource, skip_deblocking
from tests.support.media import (
    ensure_clip,
    make_corrupted_clip,
    make_garbage_file,
    read_frame_index,
)


@pytest.fixture(scope="module")
def clip_25fps(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)


def read_all(path: Path | str, **kwargs: object) -> tuple[VideoSource, list]:
    settings = SourceSettings(camera_id="cam", url=str(path), **kwargs)  # type: ignore[arg-type]
    source = VideoSource(settings)
    return source, list(source.frames())


@pytest.mark.parametrize(
    ("fps", "expected_indices"),
    [
        (5.0, list(range(0, 100, 5))),
        (None, list(range(100))),
        (60.0, list(range(100))),
        (2.0, [0, 13, 25, 38, 50, 63, 75, 88]),  # slots every 0.5 s on a 0.04 s grid
    ],
    ids=["5fps", "every-frame", "above-stream-rate", "2fps"],
)
def test_fps_sampling_by_pts(
    clip_25fps: Path, fps: float | None, expected_indices: list[int]
) -> None:
    source, frames = read_all(clip_25fps, fps=fps, width_px=None)
    indices = [read_frame_index(np.asarray(f.image)) for f in frames]
    assert indices == expected_indices
    assert [f.seq for f in frames] == expected_indices  # seq counts every decoded frame
    assert [f.pts_s for f in frames] == pytest.approx([i / 25 for i in expected_indices])
    status = source.status()
    assert status.frames_in == 100 and status.frames_out == len(expected_indices)
    assert status.state is SourceState.STOPPED and status.reconnects == 0


def test_frames_are_scaled_in_ffmpeg_and_read_only(clip_25fps: Path) -> None:
    _, frames = read_all(clip_25fps, fps=5.0, width_px=160)
    assert frames[0].image.shape == (120, 160, 3)
    assert frames[0].image.dtype == np.uint8
    assert not frames[0].image.flags.writeable
    assert [read_frame_index(np.asarray(f.image)) for f in frames[:3]] == [0, 5, 10]
    assert frames[0].camera_id == "cam" and frames[0].captured_at.tzinfo is not None


def test_loop_file_keeps_time_increasing(clip_25fps: Path) -> None:
    settings = SourceSettings(camera_id="cam", url=str(clip_25fps), fps=5.0, loop_file=True)
    source = VideoSource(settings)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 45:  # past two passes through a 20-frame (at 5 fps) file
            source.stop()
    pts = [f.pts_s for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert source.status().reconnects >= 2


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(SourceNotFoundError, match=r"camera cam .*file not found: .*nope\.mp4"):
        read_all(missing)


def test_garbage_bytes_are_a_decode_error(tmp_path: Path) -> None:
    garbage = make_garbage_file(tmp_path / "garbage.mp4", 64_000, seed=3)
    with pytest.raises(DecodeError, match=r"garbage\.mp4\): not a readable video stream"):
        read_all(garbage)


def test_truncated_file_delivers_what_it_has(clip_25fps: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.ts"
    # An MP4 cut short has no index; remux to MPEG-TS and cut that instead, as a recorder would.
    with av.open(str(clip_25fps)) as inp, av.open(str(cut), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) // 2])
    _, frames = read_all(cut, fps=None)
    assert 20 < len(frames) < 100
    assert all(b.pts_s > a.pts_s for a, b in itertools.pairwise(frames))


def test_frames_the_decoder_concealed_are_counted_and_not_delivered(
    clip_25fps: Path, tmp_path: Path
) -> None:
    """Damaged packets decode "successfully" into patched-up pictures (FFmpeg conceals the
    errors and flags the frame corrupt): they are decode errors, not frames to analyse."""
    damaged = make_corrupted_clip(clip_25fps, tmp_path / "damaged.mp4", loops=2)
    with av.open(str(damaged)) as container:
        corrupt = [i for i, f in enumerate(container.decode(video=0)) if f.is_corrupt]
    assert corrupt and all(i >= 100 for i in corrupt)  # only the second copy is damaged
    source, frames = read_all(damaged, fps=None, width_px=None)
    status = source.status()
    assert status.frames_in == 200
    assert status.decode_errors >= len(corrupt)  # single-threaded decoding may flag one more
    assert len(frames) == status.frames_out == 200 - status.decode_errors
    assert "corrupt video data" in str(status.last_error)
    assert [read_frame_index(np.asarray(f.image)) for f in frames[:100]] == list(range(100))


def test_realtime_file_is_paced_like_a_camera(clip_25fps: Path) -> None:
    import time

    source = VideoSource(SourceSettings(camera_id="cam", url=str(clip_25fps), fps=5, realtime=True))
    started = time.monotonic()
    frames = list(source.frames())
    elapsed = time.monotonic() - started
    assert len(frames) == 20
    assert elapsed >= 3.9  # 4 s of video take 4 s of wall time (last frame at 3.96 s)


def test_demux_only_source_feeds_packets_without_frames(clip_25fps: Path) -> None:
    packets = []
    source = VideoSource(
        SourceSettings(camera_id="cam", url=str(clip_25fps), decode=False), on_packet=packets.append
    )
    assert list(source.frames()) == []
    assert len(packets) == 100 and packets[0].is_keyframe
    assert source.status().frames_in == 0


@pytest.mark.parametrize(
    ("width_px", "deblock", "skips"),
    [(160, "auto", True), (200, "auto", False), (None, "auto", False), (160, "always", False)],
)
def test_deblocking_is_skipped_only_for_frames_at_most_half_the_stream_width(
    width_px: int | None, deblock: str, skips: bool
) -> None:
    settings = SourceSettings(camera_id="cam", url="x.mp4", width_px=width_px, deblock=deblock)
    assert skip_deblocking(settings, 320) is skips
    assert skip_deblocking(settings, 0) is False  # size unknown yet (some RTSP): keep it


@pytest.fixture(scope="module")
def blocky_clip(media_cache: Path) -> Path:
    """Moving noise at a high CRF: blocking artefacts the deblocking filter really smooths."""
    path = media_cache / "blocky_640x360_crf38.mp4"
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=2",
             "-vf", "noise=alls=30:allf=t", "-c:v", "libx264", "-crf", "38", "-g", "50",
             "-bf", "0", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
    return path


def test_skipping_deblocking_costs_little_picture_at_half_width(blocky_clip: Path) -> None:
    """The frames of a deblocking-skipping decode differ from the full decode, but only a
    little once scaled to half the width."""
    _, fast = read_all(blocky_clip, fps=5.0, width_px=320)
    _, full = read_all(blocky_clip, fps=5.0, width_px=320, deblock="always")
    assert len(fast) == len(full) == 10
    errors = [
        float(((a.image.astype(np.float32) - b.image.astype(np.float32)) ** 2).mean())
        for a, b in zip(fast, full, strict=True)
    ]
    assert max(errors) < 25.0  # PSNR > 34 dB
    assert max(errors) > 0.0  # the filter really was skipped
