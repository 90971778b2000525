"""Hardware video decoding: which FFmpeg hwaccels this box has, and which one a camera uses.

A camera's ``decode.hwaccel`` is ``none`` (software), ``auto`` (the first usable of
:data:`AUTO_ORDER`, else software) or one device type (``cuda``, ``vaapi``, ...). "Usable" is
decided by a real probe, not by what FFmpeg was built with: a PyAV wheel is built with ``cuda``
even on a box without an NVIDIA driver, and only creating the device tells. The probe is done
once per process and device (:func:`probe_hwaccel` is cached), so a box of many cameras pays it
once.

An explicit device type that this FFmpeg build lacks, or whose device does not open, is a
:class:`HwAccelUnavailableError` naming what is available: a camera configured for the GPU must
not silently cost a CPU core. ``auto`` falls back to software with one log line per process.

Frames decoded on the device stay there (``is_hw_owned``): the source downloads only the frames
its sampler keeps, and FFmpeg's scaler turns them into the analysis-size BGR frames the rest of the
pipeline expects, as for software frames (:meth:`cameras.source.VideoSource._to_bgr`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import av.error
from av.codec import Codec
from av.codec.hwaccel import HWAccel, HWDeviceType, hwdevices_available

logger = logging.getLogger(__name__)


class HwAccelKind(StrEnum):
    """``decode.hwaccel`` values: ``none``, ``auto`` or an FFmpeg hardware device type."""

    NONE = "none"
    AUTO = "auto"
    CUDA = "cuda"  # NVIDIA NVDEC
    VAAPI = "vaapi"  # Intel/AMD on Linux
    QSV = "qsv"  # Intel Quick Sync
    VIDEOTOOLBOX = "videotoolbox"  # macOS
    D3D11VA = "d3d11va"  # Windows
    D3D12VA = "d3d12va"  # Windows
    DXVA2 = "dxva2"  # Windows
    VDPAU = "vdpau"  # older NVIDIA/AMD on Linux
    VULKAN = "vulkan"


# What ``auto`` tries, in order. Vendor decoders first: they are the ones with dedicated engines.
AUTO_ORDER: tuple[HwAccelKind, ...] = (
    HwAccelKind.CUDA,
    HwAccelKind.VAAPI,
    HwAccelKind.QSV,
    HwAccelKind.VIDEOTOOLBOX,
    HwAccelKind.D3D11VA,
)
# Decoders checked for a hardware path of a device type (what cameras send).
CAMERA_CODECS: tuple[str, ...] = ("h264", "hevc")


class HwAccelUnavailableError(ValueError):
    """An explicitly requested hardware decoder is not available on this box."""


@dataclass(frozen=True, slots=True)
class HwDecodeRequest:
    """What a camera asks for (from its ``decode`` config section).

    Attributes:
        kind: ``none``, ``auto`` or a device type.
        device: the device to open: a DRI render node (``/dev/dri/renderD128``) for VAAPI, a
            GPU index (``"1"``) for CUDA; None for the default one.
    """

    kind: HwAccelKind = HwAccelKind.NONE
    device: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", HwAccelKind(self.kind))
        except ValueError:
            raise HwAccelUnavailableError(
                f"unknown hwaccel {self.kind!r}; known: {', '.join(k.value for k in HwAccelKind)}"
            ) from None
        if self.device is not None and not self.device.strip():
            raise HwAccelUnavailableError("hwaccel device must not be empty (omit it instead)")


@dataclass(frozen=True, slots=True)
class HwAccelProbe:
    """The outcome of trying one device type on this box.

    Attributes:
        kind: the device type tried.
        device: the device tried (None: the default one).
        usable: a device context was created and a camera codec can decode on it.
        reason: why not, when not usable (for logs and error messages).
    """

    kind: HwAccelKind
    device: str | None
    usable: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class HwDecodeChoice:
    """The hardware decoder a camera's source opens its streams with."""

    kind: HwAccelKind
    device: str | None

    def hwaccel(self) -> HWAccel:
        """A fresh PyAV ``HWAccel`` for one ``av.open`` (each open creates its device context).

        ``allow_software_fallback``: a stream the device cannot decode (a profile NVDEC lacks)
        is decoded in software rather than failing; the source logs it. ``is_hw_owned``: frames
        stay on the device until the source converts the ones it keeps.
        """
        return HWAccel(
            self.kind.value,
            device=self.device,
            allow_software_fallback=True,
            options=_device_options(self.kind),
            is_hw_owned=True,
        )


Prober = Callable[[HwAccelKind, str | None], HwAccelProbe]


def _device_options(kind: HwAccelKind) -> dict[str, object]:
    # One CUDA context per process, shared with onnxruntime's, instead of one per camera (each
    # costs ~100-300 MB of GPU memory).
    return {"primary_ctx": "1"} if kind is HwAccelKind.CUDA else {}


def built_hwaccels() -> tuple[str, ...]:
    """Hardware device types this PyAV/FFmpeg build was compiled with (not necessarily usable)."""
    return tuple(hwdevices_available())


def _decoder_with_path(kind: HwAccelKind) -> Codec | None:
    """A camera codec decoder that has a hardware path for ``kind``, or None."""
    device_type = HWDeviceType[kind.value]
    for name in CAMERA_CODECS:
        codec = Codec(name, "r")
        if any(c.device_type == device_type and c.is_supported for c in codec.hardware_configs):
            return codec
    return None


def available_hwaccels() -> tuple[str, ...]:
    """``decode.hwaccel`` device types this PyAV/FFmpeg build can decode camera video with.

    A device type FFmpeg was built with but that no H.264/HEVC decoder uses (``drm``, ``amf``,
    or ``qsv``, which needs its own ``h264_qsv`` decoder) is not listed. Whether the device
    exists on this box is :func:`probe_hwaccel`'s question.
    """
    built = set(built_hwaccels())
    return tuple(
        k.value for k in HwAccelKind if k.value in built and _decoder_with_path(k) is not None
    )


# What to check when a device type is built in but its device does not open.
_DEVICE_HINTS: dict[HwAccelKind, str] = {
    HwAccelKind.CUDA: "check that the NVIDIA driver is installed and /dev/nvidia* is visible to "
    "this process; in Docker: --gpus all with NVIDIA_DRIVER_CAPABILITIES including video",
    HwAccelKind.VAAPI: "check that a render node such as /dev/dri/renderD128 exists, is readable "
    "by this user, group render or video, and has a VA driver",
}


@functools.cache
def probe_hwaccel(kind: HwAccelKind, device: str | None = None) -> HwAccelProbe:
    """Try to use ``kind`` on this box: built in, a decoder path, and the device opens.

    Cached per process: creating a CUDA device takes ~0.1-0.3 s where a GPU exists.
    """
    kind = HwAccelKind(kind)
    if kind in (HwAccelKind.NONE, HwAccelKind.AUTO):
        raise ValueError(f"probe_hwaccel takes a device type, not {kind.value!r}")
    if kind.value not in available_hwaccels():
        return HwAccelProbe(kind, device, False, _not_built(kind.value))
    codec = _decoder_with_path(kind)
    assert codec is not None  # available_hwaccels() checked it
    where = f"device {device}" if device else "the default device"
    try:
        HWAccel(kind.value, device=device, options=_device_options(kind)).create(codec)
    except (av.error.FFmpegError, NotImplementedError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        hint = _DEVICE_HINTS.get(kind)
        return HwAccelProbe(
            kind,
            device,
            False,
            f"{where} could not be opened: {reason}" + (f" — {hint}" if hint else ""),
        )
    return HwAccelProbe(kind, device, True)


def _not_built(kind: str) -> str:
    available = ", ".join(available_hwaccels()) or "none"
    return (
        f"this PyAV/FFmpeg build cannot decode H.264/HEVC with {kind} "
        f"(available in this build: {available})"
    )


def usable_hwaccels(prober: Prober = probe_hwaccel) -> tuple[str, ...]:
    """Device types of :data:`AUTO_ORDER` whose default device opens here (for ``bench``)."""
    available = available_hwaccels()
    return tuple(k.value for k in AUTO_ORDER if k.value in available and prober(k, None).usable)


def choose_hwaccel(
    request: HwDecodeRequest,
    available: Sequence[str] | None = None,
    prober: Prober = probe_hwaccel,
) -> HwDecodeChoice | None:
    """The hardware decoder for ``request``, or None for software decoding.

    Args:
        request: the camera's ``decode`` settings.
        available: device types this FFmpeg can decode with (default :func:`available_hwaccels`).
        prober: tries one device type (default :func:`probe_hwaccel`, cached per process).

    Raises:
        HwAccelUnavailableError: an explicit device type is not available in this FFmpeg build,
            or its device does not open; the message names what is available.
    """
    available = available_hwaccels() if available is None else tuple(available)
    if request.kind is HwAccelKind.NONE:
        return None
    if request.kind is HwAccelKind.AUTO:
        tried: list[str] = []
        for kind in AUTO_ORDER:
            if kind.value not in available:
                continue
            probe = prober(kind, request.device)
            if probe.usable:
                return HwDecodeChoice(kind, request.device)
            tried.append(f"{kind.value}: {probe.reason}")
        _log_auto_fallback("; ".join(tried) or "this PyAV/FFmpeg build has no hardware decoder")
        return None
    if request.kind.value not in available:
        raise HwAccelUnavailableError(
            f"hwaccel {request.kind.value} is not available in this PyAV/FFmpeg build; "
            f"available: {', '.join(available) or 'none'} (or none, auto)"
        )
    probe = prober(request.kind, request.device)
    if not probe.usable:
        usable = [k.value for k in AUTO_ORDER if k.value in available and prober(k, None).usable]
        raise HwAccelUnavailableError(
            f"hwaccel {request.kind.value} is not usable on this box: {probe.reason}; usable "
            f"here: {', '.join(usable) or 'none (decode in software: hwaccel none or auto)'}"
        )
    return HwDecodeChoice(request.kind, request.device)


@functools.cache
def _log_auto_fallback(why: str) -> None:
    """One line per process (and reason), however many cameras ask for ``auto``."""
    logger.info("hwaccel auto: no usable hardware decoder, decoding in software (%s)", why)
