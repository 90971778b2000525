"""Clip frames for the review page and the dataset export: the frame shown at a time, snapped.

The generated clips carry their frame index in their pixels (``tests.support.media``), so each
check reads which frame it got.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipelines.clip_frames import ClipFrameError, FrameCache, clip_duration_ms, clip_frame
from tests.support.media import ensure_clip, read_frame_index

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def clip(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=320, height=240, seconds=1.0, fps=25, gop=10)


def _index(jpeg: bytes) -> int:
    return read_frame_index(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))


@pytest.mark.parametrize(
    ("t_ms", "index"),
    [(0, 0), (39, 0), (40, 1), (79, 1), (80, 2), (400, 10), (439, 10), (999, 24), (1900, 24)],
)
def test_the_frame_shown_at_a_time_and_its_own_time(clip: Path, t_ms: int, index: int) -> None:
    frame = clip_frame(clip, t_ms)
    assert _index(frame.jpeg) == index  # across key frames (gop 10) too
    assert frame.t_ms == index * 40
    assert (frame.width, frame.height) == (320, 240)
    again = clip_frame(clip, frame.t_ms)  # the snapped time gives the same picture
    assert again.t_ms == frame.t_ms and again.sha256 == frame.sha256


def test_an_open_file_and_the_clip_length(clip: Path) -> None:
    with clip.open("rb") as handle:
        assert _index(clip_frame(handle, 480).jpeg) == 12
    assert clip_duration_ms(clip) == 960


def test_bad_clips_and_times_are_errors_naming_the_problem(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(ClipFrameError, match=r"past the end of the clip .*960 ms"):
        clip_frame(clip, 2500)
    with pytest.raises(ClipFrameError, match="t_ms must be >= 0"):
        clip_frame(clip, -1)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ClipFrameError, match="cannot be opened"):
        clip_frame(garbage, 0)
    with pytest.raises(ClipFrameError, match="cannot be opened"):
        clip_duration_ms(garbage)


def test_the_cache_is_keyed_by_digest_and_bounded_in_bytes(clip: Path) -> None:
    one = len(clip_frame(clip, 0).jpeg)
    cache = FrameCache(max_bytes=int(one * 2.5))
    first = cache.get("a" * 64, clip, 0)
    assert cache.get("a" * 64, Path("/nonexistent.mp4"), 0) is first  # served from the cache
    for t_ms in (40, 80, 120):
        cache.get("a" * 64, clip, t_ms)
    assert len(cache) == 2 and cache.size_bytes <= cache.max_bytes
    with pytest.raises(ClipFrameError):  # evicted: decoded again, from a file that is not there
        cache.get("a" * 64, Path("/nonexistent.mp4"), 0)
