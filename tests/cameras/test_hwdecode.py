"""Hardware decoding: the choice of decoder (runs anywhere) and real GPU decoding (skips without).

The choice logic is tested with a stand-in prober (what "usable" means on an imagined box), and
against the real FFmpeg build and devices of the machine running the tests. The GPU tests run
only where :func:`cameras.hwdecode.usable_hwaccels` finds a device that really opens.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from cameras import hwdecode
from cameras.hwdecode import (
    HwAccelKind,
    HwAccelProbe,
    HwAccelUnavailableError,
    HwDecodeChoice,
    HwDecodeRequest,
    available_hwaccels,
    choose_hwaccel,
    probe_hwaccel,
    usable_hwaccels,
)
from cameras.schema import CameraConfig
from cameras.schema_checks import CameraParts, verify_decode
from cameras.source import SourceSettings, VideoSource
from tests.support.media import ensure_clip, read_frame_index

USABLE = usable_hwaccels()
needs_gpu = pytest.mark.skipif(
    not USABLE,
    reason="no hardware video decoder usable on this machine (probed: "
    + "; ".join(f"{k}: {probe_hwaccel(HwAccelKind(k)).reason}" for k in available_hwaccels())
    + ")",
)


class FakeBox:
    """A prober for an imagined box: ``usable`` device types open, the others do not."""

    def __init__(self, *usable: HwAccelKind) -> None:
        self.usable = set(usable)
        self.calls: list[tuple[HwAccelKind, str | None]] = []

    def __call__(self, kind: HwAccelKind, device: str | None) -> HwAccelProbe:
        self.calls.append((kind, device))
        if kind in self.usable:
            return HwAccelProbe(kind, device, True)
        return HwAccelProbe(kind, device, False, f"no {kind.value} device here")


@pytest.fixture(autouse=True)
def _fresh_fallback_log() -> None:
    hwdecode._log_auto_fallback.cache_clear()


@pytest.fixture(scope="module")
def clip(media_cache: Path) -> Path:
    return ensure_clip(media_cache, width=320, height=240, fps=25, seconds=2.0, gop=25)


# --- the choice, on imagined boxes ---------------------------------------------------------------


def test_none_decodes_in_software_without_probing() -> None:
    box = FakeBox(HwAccelKind.CUDA)
    assert choose_hwaccel(HwDecodeRequest(HwAccelKind.NONE), ("cuda",), box) is None
    assert box.calls == []


def test_auto_takes_the_first_usable_in_order() -> None:
    box = FakeBox(HwAccelKind.VAAPI)
    choice = choose_hwaccel(HwDecodeRequest(HwAccelKind.AUTO), ("cuda", "vaapi"), box)
    assert choice == HwDecodeChoice(HwAccelKind.VAAPI, None)
    assert [k for k, _ in box.calls] == [HwAccelKind.CUDA, HwAccelKind.VAAPI]


def test_auto_with_nothing_usable_falls_back_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = FakeBox()
    with caplog.at_level(logging.INFO, logger="cameras.hwdecode"):
        for _ in range(3):  # three cameras
            assert choose_hwaccel(HwDecodeRequest("auto"), ("cuda",), box) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1, lines
    assert "decoding in software" in lines[0] and "cuda: no cuda device here" in lines[0]


def test_auto_only_probes_what_the_build_has() -> None:
    box = FakeBox(HwAccelKind.VAAPI)
    assert choose_hwaccel(HwDecodeRequest("auto"), (), box) is None
    assert box.calls == []


def test_explicit_kind_missing_from_the_build_names_what_is_available() -> None:
    with pytest.raises(HwAccelUnavailableError) as info:
        choose_hwaccel(HwDecodeRequest("vaapi"), ("cuda",), FakeBox(HwAccelKind.CUDA))
    message = str(info.value)
    assert "hwaccel vaapi is not available in this PyAV/FFmpeg build" in message
    assert "available: cuda (or none, auto)" in message


def test_explicit_kind_whose_device_does_not_open_says_why_and_what_is_usable() -> None:
    box = FakeBox(HwAccelKind.VAAPI)
    with pytest.raises(HwAccelUnavailableError) as info:
        choose_hwaccel(HwDecodeRequest("cuda", "1"), ("cuda", "vaapi"), box)
    message = str(info.value)
    assert "hwaccel cuda is not usable on this box: no cuda device here" in message
    assert "usable here: vaapi" in message
    assert (HwAccelKind.CUDA, "1") in box.calls  # the configured device was the one tried


def test_explicit_usable_kind_is_chosen_with_its_device() -> None:
    box = FakeBox(HwAccelKind.CUDA)
    choice = choose_hwaccel(HwDecodeRequest("cuda", "1"), ("cuda",), box)
    assert choice == HwDecodeChoice(HwAccelKind.CUDA, "1")


def test_unknown_kind_and_empty_device_are_refused() -> None:
    with pytest.raises(HwAccelUnavailableError, match="unknown hwaccel 'nvdec'; known: none, auto"):
        HwDecodeRequest("nvdec")  # type: ignore[arg-type]
    with pytest.raises(HwAccelUnavailableError, match="device must not be empty"):
        HwDecodeRequest("cuda", " ")


# --- the choice, on this machine -----------------------------------------------------------------


def test_this_builds_kinds_are_listed_and_the_others_refused_naming_them() -> None:
    available = available_hwaccels()
    assert set(available) <= {k.value for k in HwAccelKind}
    missing = [k for k in hwdecode.AUTO_ORDER if k.value not in available]
    if not missing:
        pytest.skip("this FFmpeg build has every hwaccel of AUTO_ORDER")
    with pytest.raises(HwAccelUnavailableError) as info:
        choose_hwaccel(HwDecodeRequest(missing[0]))
    assert f"available: {', '.join(available) or 'none'}" in str(info.value)


def test_an_unusable_kind_of_this_machine_fails_the_source_at_start() -> None:
    unusable = [k for k in available_hwaccels() if k not in USABLE]
    if not unusable:
        pytest.skip("every hwaccel this FFmpeg build has is usable here")
    settings = SourceSettings(
        camera_id="lane1", url="rtsp://cam/1", hwaccel=HwDecodeRequest(unusable[0])
    )
    with pytest.raises(HwAccelUnavailableError, match=f"camera lane1: hwaccel {unusable[0]} is"):
        VideoSource(settings)


def test_an_evidence_only_source_never_asks_for_a_decoder() -> None:
    unusable = [k for k in available_hwaccels() if k not in USABLE]
    if not unusable:
        pytest.skip("every hwaccel this FFmpeg build has is usable here")
    settings = SourceSettings(
        camera_id="lane1",
        url="rtsp://cam/1",
        decode=False,
        hwaccel=HwDecodeRequest(unusable[0]),
    )
    VideoSource(settings)  # demuxing only: no decoder, so no error


@pytest.mark.skipif(bool(USABLE), reason="this machine has a usable hardware decoder")
def test_auto_without_a_device_decodes_the_same_frames_in_software(clip: Path) -> None:
    settings = SourceSettings(
        camera_id="cam", url=str(clip), fps=5.0, width_px=160, hwaccel=HwDecodeRequest("auto")
    )
    source = VideoSource(settings)
    frames = list(source.frames())
    assert [read_frame_index(np.asarray(f.image)) for f in frames] == list(range(0, 50, 5))
    assert frames[0].image.shape == (120, 160, 3)
    assert source.status().hwaccel is None


# --- config --------------------------------------------------------------------------------------


def test_config_default_is_auto_and_unknown_names_are_schema_errors() -> None:
    assert CameraConfig().decode.hwaccel is HwAccelKind.AUTO
    with pytest.raises(ValidationError) as info:
        CameraConfig.model_validate({"decode": {"hwaccel": "nvdec"}})
    error = info.value.errors()[0]
    assert error["loc"] == ("decode", "hwaccel")
    assert "'cuda'" in error["msg"] and "'vaapi'" in error["msg"]


def test_check_config_reports_an_unusable_hwaccel_at_its_path() -> None:
    camera = CameraConfig.model_validate({"decode": {"hwaccel": "cuda", "device": "1"}})
    issues = verify_decode("lane1", camera, ("cuda",), FakeBox())
    assert [i.path for i in issues] == ["cameras.lane1.decode.hwaccel"]
    assert issues[0].message.startswith("camera 'lane1': hwaccel cuda is not usable on this box")
    assert verify_decode("lane1", camera, ("cuda",), FakeBox(HwAccelKind.CUDA)) == []
    auto = CameraConfig()
    assert verify_decode("lane1", auto, ("cuda",), FakeBox()) == []


def test_check_config_checks_decode_of_a_camera_that_failed_elsewhere() -> None:
    raw = {"decode": {"hwaccel": "vaapi"}, "zones": {"lane": {"polygon": "bad"}}}
    issues = verify_decode("lane1", CameraParts.from_raw(raw), ("cuda",), FakeBox())
    assert [i.path for i in issues] == ["cameras.lane1.decode.hwaccel"]
    assert "available: cuda" in issues[0].message
    # an invalid decode section is the schema's to report, not reported twice
    bad = CameraParts.from_raw({"decode": {"hwaccel": "nvdec"}})
    assert verify_decode("lane1", bad, ("cuda",), FakeBox()) == []


# --- real hardware -------------------------------------------------------------------------------


@needs_gpu
@pytest.mark.parametrize("kind", USABLE or ["none"])
def test_gpu_decoding_gives_the_software_frames(clip: Path, kind: str) -> None:
    def decode(hwaccel: str) -> tuple[VideoSource, list[np.ndarray]]:
        settings = SourceSettings(
            camera_id="cam", url=str(clip), fps=5.0, width_px=160, hwaccel=HwDecodeRequest(hwaccel)
        )
        source = VideoSource(settings)
        return source, [np.asarray(f.image) for f in source.frames()]

    gpu_source, gpu = decode(kind)
    _, cpu = decode("none")
    assert gpu_source.status().hwaccel == kind
    assert [read_frame_index(image) for image in gpu] == list(range(0, 50, 5))
    assert [image.shape for image in gpu] == [image.shape for image in cpu]
    for on_gpu, on_cpu in zip(gpu, cpu, strict=True):
        # Different decoders and colour conversions: close, not bit-exact.
        assert np.abs(on_gpu.astype(np.int16) - on_cpu).mean() < 4.0


@needs_gpu
def test_auto_picks_the_usable_device() -> None:
    choice = choose_hwaccel(HwDecodeRequest("auto"))
    assert choice is not None and choice.kind.value == USABLE[0]
