"""What this box computes on: execution providers that really start, GPUs, video decoders.

:func:`device_summary` is what ``hazardwatch bench`` and ``hazardwatch models list`` print. An
onnxruntime-gpu build lists ``CUDAExecutionProvider`` even on a box without a driver (it then
falls back to the CPU when a session starts), so "available" is not "usable":
:func:`gpu_providers_usable` opens a one-node session on each GPU provider and keeps those that
really take it. The models layer cannot see video decoding (``av`` is the cameras layer's), so
the caller passes the usable hardware decoders in (:func:`cameras.hwdecode.usable_hwaccels`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from models.session import (
    GPU_PROVIDERS,
    ORT_ERRORS,
    PROVIDER_NAMES,
    available_providers,
    resolve_providers,
)
from models.spec import ProviderChoice

logger = logging.getLogger(__name__)

# y = x + x on a float tensor [1]: a real operator, so a GPU provider must take a node (written
# with onnx.helper, opset 17, IR version 8; tests/models/test_gpu_session.py rebuilds it).
PROBE_MODEL = bytes.fromhex(
    "0808120b68617a61726477617463683a390a0e0a01780a017812017922034164"
    "64120570726f62655a0f0a0178120a0a08080112040a020801620f0a0179120a"
    "0a08080112040a02080142040a001011"
)
# A provider that fails to start raises one of onnxruntime's errors (or, from its Python
# wrapper, RuntimeError).
_PROBE_ERRORS: tuple[type[Exception], ...] = (*ORT_ERRORS, RuntimeError)
_NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
_DRM = Path("/sys/class/drm")
_PCI_VENDORS = {"0x10de": "NVIDIA", "0x8086": "Intel", "0x1002": "AMD"}


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """Where inference and decoding run on this box.

    Attributes:
        providers_available: what onnxruntime reports.
        providers_auto: what ``providers: [auto]`` resolves to, in order.
        providers_in_use: a session's real providers, when the caller has one.
        gpu_providers: GPU providers (CUDA, TensorRT) that really start a session here.
        gpus: GPU names found (NVIDIA driver, DRM render nodes).
        hwaccels: hardware video decoders usable here (given by the caller), or None when
            the caller could not probe them.
    """

    providers_available: tuple[str, ...]
    providers_auto: tuple[str, ...]
    providers_in_use: tuple[str, ...] | None
    gpu_providers: tuple[str, ...]
    gpus: tuple[str, ...]
    hwaccels: tuple[str, ...] | None

    @property
    def device(self) -> str:
        """``gpu`` when inference runs (or, without a session, would run) on a GPU, else ``cpu``.

        Without a session: the first provider of ``auto`` that starts here (a GPU provider that
        onnxruntime lists but that does not start is skipped, as onnxruntime itself falls back).
        """
        if self.providers_in_use is not None:
            first = self.providers_in_use[0] if self.providers_in_use else None
        else:
            starting = [
                p for p in self.providers_auto if p not in GPU_PROVIDERS or p in self.gpu_providers
            ]
            first = starting[0] if starting else None
        return "gpu" if first in GPU_PROVIDERS else "cpu"

    def describe(self) -> str:
        """Three lines for a terminal."""
        inference = self.providers_in_use or self.providers_auto
        return "\n".join(
            (
                f"inference: {self.device} ({', '.join(inference)}; GPU providers that start "
                f"here: {', '.join(self.gpu_providers) or 'none'})",
                f"GPUs: {', '.join(self.gpus) or 'none found'}",
                f"video decode: {self._decode()}",
            )
        )

    def _decode(self) -> str:
        if self.hwaccels is None:
            return "not probed"
        return ", ".join(self.hwaccels) or "software (no usable hardware decoder)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``bench --json``)."""
        return {
            "device": self.device,
            "providers_available": list(self.providers_available),
            "providers_auto": list(self.providers_auto),
            "providers_in_use": None
            if self.providers_in_use is None
            else list(self.providers_in_use),
            "gpu_providers": list(self.gpu_providers),
            "gpus": list(self.gpus),
            "hwaccels": None if self.hwaccels is None else list(self.hwaccels),
        }


@functools.cache
def gpu_providers_usable(device_id: int = 0) -> tuple[str, ...]:
    """GPU providers of this onnxruntime that really start a session on GPU ``device_id``.

    Cached per process: starting CUDA takes about a second where a GPU exists.
    """
    usable: list[str] = []
    available = available_providers()
    for choice in (ProviderChoice.TENSORRT, ProviderChoice.CUDA):
        name = PROVIDER_NAMES[choice]
        if name not in available:
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 4  # a failed start is the answer, not an error to log
        try:
            session = ort.InferenceSession(
                PROBE_MODEL,
                sess_options=options,
                providers=[name],
                provider_options=[{"device_id": str(device_id)}],
            )
            session.run(None, {"x": np.ones(1, np.float32)})
        except _PROBE_ERRORS as exc:
            logger.debug("%s does not start on GPU %d: %s", name, device_id, exc)
            continue
        if session.get_providers()[0] == name:
            usable.append(name)
    return tuple(usable)


def gpu_names() -> tuple[str, ...]:
    """GPU names: the NVIDIA driver's models, then other vendors' DRM render nodes."""
    names: list[str] = []
    if _NVIDIA_PROC.is_dir():
        for info in sorted(_NVIDIA_PROC.glob("*/information")):
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    names.append(line.split(":", 1)[1].strip())
    if _DRM.is_dir():
        for node in sorted(_DRM.glob("renderD*")):
            vendor_file = node / "device" / "vendor"
            vendor = vendor_file.read_text().strip() if vendor_file.is_file() else ""
            if vendor == "0x10de" and names:
                continue  # already named by the NVIDIA driver
            names.append(f"{_PCI_VENDORS.get(vendor, vendor or 'unknown vendor')} ({node.name})")
    return tuple(names)


def device_summary(
    providers_in_use: Sequence[str] | None = None,
    hwaccels: Sequence[str] | None = None,
    device_id: int = 0,
) -> DeviceSummary:
    """The :class:`DeviceSummary` of this box.

    Args:
        providers_in_use: a session's ``get_providers()``, when there is one.
        hwaccels: hardware video decoders usable here
            (:func:`cameras.hwdecode.usable_hwaccels`; the models layer cannot probe them);
            None: not probed.
        device_id: the GPU the providers are probed on.
    """
    available = available_providers()
    return DeviceSummary(
        providers_available=available,
        providers_auto=resolve_providers((ProviderChoice.AUTO,), available),
        providers_in_use=None if providers_in_use is None else tuple(providers_in_use),
        gpu_providers=gpu_providers_usable(device_id),
        gpus=gpu_names(),
        hwaccels=None if hwaccels is None else tuple(hwaccels),
    )
