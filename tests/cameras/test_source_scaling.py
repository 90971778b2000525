"""VideoSource scales and converts frames with one reformatter for the whole stream (FFmpeg's
scaler set up once, on one thread): the pictures must be exactly those of a per-frame
``frame.reformat``, also when the stream's picture size changes mid-stream."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cameras.source import SourceSettings, VideoSource
from tests.support.media import ensure_clip, make_resolution_change_clip

pytestmark = pytest.mark.timeout(120)


def plain_frames(path: Path, width_px: int | None) -> list[np.ndarray]:
    """Every frame converted the plain way: a new scaler per frame (the code as it was)."""
    images = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if width_px is None or width_px == frame.width:
                images.append(frame.to_ndarray(format="bgr24"))
            else:
                height_px = max(2, round(frame.height * width_px / frame.width / 2) * 2)
                images.append(
                    frame.reformat(
                        width=width_px,
                        height=height_px,
                        format="bgr24",
                        interpolation="FAST_BILINEAR",
                    ).to_ndarray()
                )
    return images


def source_frames(path: Path, width_px: int | None) -> list[np.ndarray]:
    settings = SourceSettings(camera_id="cam", url=str(path), width_px=width_px, live=False)
    return [frame.image for frame in VideoSource(settings).frames()]


@pytest.fixture(scope="module")
def noisy_clip(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=320, height=240, fps=25, seconds=2.0, pattern="noisy")


@pytest.fixture(scope="module")
def size_change_clip(media_cache: Path, noisy_clip: Path) -> Path:
    out = media_cache / "source_scaling_size_change_v2.ts"
    if not out.exists():
        make_resolution_change_clip(noisy_clip, out, ((320, 240), (256, 144), (320, 240)))
    return out


@pytest.mark.parametrize("width_px", [None, 160, 320, 250], ids=["native", "half", "same", "odd"])
def test_frames_equal_per_frame_reformat(noisy_clip: Path, width_px: int | None) -> None:
    got, want = source_frames(noisy_clip, width_px), plain_frames(noisy_clip, width_px)
    assert len(got) == len(want) == 50
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.shape == b.shape, f"frame {i}"
        assert np.array_equal(a, b), f"frame {i} differs"


@pytest.mark.parametrize("width_px", [None, 160], ids=["native", "scaled"])
def test_frames_equal_when_the_picture_size_changes(
    size_change_clip: Path, width_px: int | None
) -> None:
    got, want = source_frames(size_change_clip, width_px), plain_frames(size_change_clip, width_px)
    assert len(got) == len(want)
    assert len({a.shape for a in got}) == 2  # the size (and the aspect ratio) really changes
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a.shape == b.shape and np.array_equal(a, b), f"frame {i} differs"
