"""Derived clips: each real-camera condition does what it says, keeps the scene's timing, and is
named correctly in suites and on the command line."""

from __future__ import annotations

import itertools
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.derived_clips import Derivation, derive_file, derived_clip, parse_derivations
from pipelines.suite import SuiteError, parse_suite_text

FPS = 30
FRAMES = 60
W, H = 320, 240


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of a bright square moving 4 px per frame over a textured background, 30 fps."""
    path = tmp_path_factory.mktemp("derive") / "moving.mp4"
    rng = np.random.default_rng(7)
    background = rng.integers(40, 90, (H, W, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "18", "bf": "0"}
        for i in range(FRAMES):
            img = background.copy()
            img[100:130, 10 + 4 * i : 40 + 4 * i] = 250
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _read(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    times = np.array([f.time for f in frames], dtype=float)
    return [f.to_ndarray(format="bgr24") for f in frames], times


def _square_x(img: np.ndarray) -> float:
    bright = img[:, :, 1] > 200
    return float(np.nonzero(bright)[1].mean())


def _derive(source: Path, tmp_path: Path, *chain: Derivation) -> Path:
    out = tmp_path / ("+".join(c.value for c in chain) + ".mp4")
    derive_file(source, out, chain)
    return out


def test_repeat_every_third_repeats_every_third_picture(source: Path, tmp_path: Path) -> None:
    pictures, times = _read(_derive(source, tmp_path, Derivation.REPEAT_EVERY_3RD))
    assert len(pictures) == FRAMES
    assert np.allclose(np.diff(times), 1 / FPS, atol=1e-3)  # stamps stay regular: a remux
    moved = [abs(_square_x(b) - _square_x(a)) for a, b in itertools.pairwise(pictures)]
    still = [i + 1 for i, m in enumerate(moved) if m < 0.5]
    assert still and all(k % 3 == 1 for k in still), still  # frame 1, 4, 7, ... repeat
    assert len(still) == (FRAMES - 1 + 2) // 3
    # the pictures shown are those of a sensor at 20 fps: 1 or 2 source frames (4 or 8 px) apart
    steps = {round(m / 4) * 4 for m in moved if m >= 0.5}
    assert steps == {4, 8}, moved


def test_drop_frames_keeps_the_survivors_times(source: Path, tmp_path: Path) -> None:
    pictures, times = _read(_derive(source, tmp_path, Derivation.DROP_FRAMES))
    assert 0.7 * FRAMES < len(pictures) < FRAMES
    gaps = np.diff(times)
    assert gaps.max() >= 2 / FPS - 1e-3
    # the square is where it was at each survivor's own time: 4 px per 1/30 s
    for img, t in zip(pictures, times, strict=True):
        assert _square_x(img) == pytest.approx(25 + 4 * t * FPS, abs=1.5)


def test_irregular_timestamps_jitter_but_increase(source: Path, tmp_path: Path) -> None:
    pictures, times = _read(_derive(source, tmp_path, Derivation.IRREGULAR_TIMESTAMPS))
    assert len(pictures) == FRAMES
    gaps = np.diff(times)
    assert gaps.min() > 0
    assert gaps.std() > 0.1 / FPS
    assert np.abs(times - np.arange(FRAMES) / FPS).max() <= 0.41 / FPS + 1e-3


def test_substream_night_and_crf(source: Path, tmp_path: Path) -> None:
    pictures, _ = _read(_derive(source, tmp_path, Derivation.SUBSTREAM_640X360))
    assert pictures[0].shape[:2] == (H, W)  # already smaller than 640x360: left alone
    night = _derive(source, tmp_path, Derivation.NIGHT_GRAY)
    img = _read(night)[0][10]
    assert np.abs(img[:, :, 0].astype(int) - img[:, :, 2].astype(int)).mean() < 2  # gray
    plain = _derive(source, tmp_path, Derivation.IRREGULAR_TIMESTAMPS)
    heavy = _derive(source, tmp_path, Derivation.IRREGULAR_TIMESTAMPS, Derivation.CRF38)
    assert heavy.stat().st_size < plain.stat().st_size / 2


def test_substream_scales_a_large_picture_to_fit(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with av.open(str(big), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((720, 1280, 3), 60, np.uint8), "bgr24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    pictures, _ = _read(_derive(big, tmp_path, Derivation.SUBSTREAM_640X360))
    assert pictures[0].shape[:2] == (360, 640)


def test_derived_clip_is_cached_by_content(source: Path, tmp_path: Path) -> None:
    chain = (Derivation.DROP_FRAMES,)
    first = derived_clip(source, chain, cache_dir=tmp_path)
    stamp = first.stat().st_mtime_ns
    again = derived_clip(source, chain, cache_dir=tmp_path)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert derived_clip(source, (), cache_dir=tmp_path) == source
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_unknown_derivation_is_named() -> None:
    with pytest.raises(ValueError, match=r"derive\[1\]: unknown derivation 'fog'"):
        parse_derivations(["crf38", "fog"])
    text = "clips:\n  - {id: a, video: a.mp4, config: c.yaml, camera: cam, derive: [nite_gray]}\n"
    with pytest.raises(SuiteError, match=r"s.yaml: clips\[0\].derive\[0\]: unknown derivation"):
        parse_suite_text(text, "s.yaml")
    parsed = parse_suite_text(text.replace("nite_gray", "night_gray"), "s.yaml")
    assert parsed.clips[0].derive == (Derivation.NIGHT_GRAY,)


def test_cli_derive_rejects_bad_input(source: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hazardwatch", "derive", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = run(str(source), str(tmp_path / "o.mp4"), "--as", "fog")
    assert bad.returncode == 2 and "unknown derivation 'fog'" in bad.stderr
    missing = run(str(tmp_path / "nope.mp4"), str(tmp_path / "o.mp4"), "--as", "crf38")
    assert missing.returncode == 2 and "source not found" in missing.stderr
    same = run(str(source), str(source), "--as", "crf38")
    assert same.returncode == 2 and "must differ" in same.stderr
    ok = run(str(source), str(tmp_path / "o.mp4"), "--as", "night_gray", "--as", "crf38")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o.mp4").is_file()
