"""What a detector is built from: :class:`DetectorSpec`, a frozen, validated description.

The pipelines layer translates the ``detector`` section of the YAML config into a ``DetectorSpec``;
``models`` itself never reads the config (layer rule: no pydantic here). Field names follow the
config's: ``model``, ``input_size``, ``providers``, ``classes``, ``labels``/``labels_file``,
``family``, ``score_threshold``, ``iou_threshold``, ``batch_max_size``, ``batch_max_wait_ms``,
``intra_op_threads``; :class:`GpuSettings` holds what only matters on a GPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from models.errors import DetectorSpecError


class ModelFamily(StrEnum):
    """Output layout of a detection model; ``auto`` means detect it from the model."""

    AUTO = "auto"
    YOLOV8 = "yolov8"  # Ultralytics YOLOv8/YOLO11/YOLO26: [B, 4+C, N] raw or [B, N, 6] end-to-end
    YOLOX = "yolox"  # [B, N, 5+C], objectness, grids at strides 8/16/32
    FASTESTDET = "fastestdet"  # [B, 5+C, H/16, W/16], one box per cell


class ProviderChoice(StrEnum):
    """onnxruntime execution providers by their config names."""

    AUTO = "auto"
    TENSORRT = "tensorrt"
    CUDA = "cuda"
    OPENVINO = "openvino"
    CPU = "cpu"


class GraphOptimization(StrEnum):
    """onnxruntime graph optimisation level."""

    DISABLED = "disabled"
    BASIC = "basic"
    EXTENDED = "extended"
    ALL = "all"


ENGINE_CACHE_ENV = "HAZARDWATCH_ENGINE_CACHE_DIR"


def default_engine_cache_dir() -> Path:
    """Where TensorRT engines are kept: ``$HAZARDWATCH_ENGINE_CACHE_DIR``, else the user's cache.

    Building an engine takes tens of seconds to minutes per model and batch profile; cached, a
    restart (or a restarted worker) loads it in about a second.
    """
    explicit = os.environ.get(ENGINE_CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hazardwatch" / "tensorrt"


@dataclass(frozen=True, slots=True)
class GpuSettings:
    """What only matters when a GPU provider (CUDA, TensorRT) runs the model.

    Attributes:
        device_id: GPU index for CUDA and TensorRT.
        tensorrt_fp16: let TensorRT use FP16 kernels (about twice the throughput on most GPUs).
            Off by default: the accuracy gate measures FP32; turn it on after checking the model
            with ``models import --eval`` on the deployer's own data.
        engine_cache_dir: TensorRT engine and timing cache folder; None:
            :func:`default_engine_cache_dir`.
        io_binding: bind the input once per batch shape on the device and run with I/O binding
            (no per-run allocation, one host-to-device copy). None: on when the session's first
            provider is CUDA or TensorRT. True on a CPU session runs the same path on host
            memory (tests).
    """

    device_id: int = 0
    tensorrt_fp16: bool = False
    engine_cache_dir: Path | None = None
    io_binding: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.device_id, bool) or not isinstance(self.device_id, int):
            raise DetectorSpecError(f"GpuSettings.device_id must be an int, got {self.device_id!r}")
        _check_range("gpu.device_id", self.device_id, 0, 63)
        if self.engine_cache_dir is not None:
            object.__setattr__(self, "engine_cache_dir", Path(self.engine_cache_dir))

    @property
    def engine_cache(self) -> Path:
        return self.engine_cache_dir or default_engine_cache_dir()


def _as_hw(value: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """Normalise ``input_size``: an int is a square, a pair is (height_px, width_px)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DetectorSpecError(f"DetectorSpec.input_size must be an int or (h, w), got {value!r}")
    if isinstance(value, int):
        pair: tuple[int, ...] = (value, value)
    else:
        try:
            pair = tuple(int(v) for v in value)
        except (TypeError, ValueError) as exc:
            raise DetectorSpecError(
                f"DetectorSpec.input_size must be an int or (h, w), got {value!r}"
            ) from exc
    if len(pair) != 2 or not all(32 <= v <= 4096 and v % 32 == 0 for v in pair):
        raise DetectorSpecError(
            f"DetectorSpec.input_size must be multiples of 32 in 32..4096, got {value!r}"
        )
    return pair[0], pair[1]


def _as_providers(value: Iterable[str] | str) -> tuple[ProviderChoice, ...]:
    items = [value] if isinstance(value, str) else list(value)
    if not items:
        raise DetectorSpecError("DetectorSpec.providers must not be empty (use ['auto'])")
    out: list[ProviderChoice] = []
    for i, item in enumerate(items):
        try:
            out.append(ProviderChoice(str(item).lower()))
        except ValueError:
            allowed = ", ".join(p.value for p in ProviderChoice)
            raise DetectorSpecError(
                f"DetectorSpec.providers[{i}]: unknown provider {item!r}; allowed: {allowed}"
            ) from None
    if ProviderChoice.AUTO in out and len(out) > 1:
        raise DetectorSpecError(
            f"DetectorSpec.providers: 'auto' cannot be combined with others, got {items}"
        )
    if len(set(out)) != len(out):
        raise DetectorSpecError(f"DetectorSpec.providers lists a provider twice: {items}")
    return tuple(out)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or not low <= value <= high:
        raise DetectorSpecError(f"DetectorSpec.{name} must lie in [{low}, {high}], got {value!r}")


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """Everything needed to build an :class:`models.detector.OnnxDetector`.

    Attributes:
        model: path of the ONNX file.
        input_size: network input in pixels: an int for a square, or (height_px, width_px);
            stored as the pair (see :attr:`input_hw`). ``None``: read it from the model when its
            input shape is fixed, else from Ultralytics ``imgsz`` metadata, else 640.
        providers: execution providers in order of preference, or ``(auto,)``.
        classes: model label -> role (``vehicle``, ``ebike``, ...); every label must exist in the
            model's class names. Empty: no mapping (every class is reported, no roles).
        labels: class names in class-index order, for models without ``names`` metadata.
        labels_file: a file with one class name per line (alternative to ``labels``).
        family: ``auto`` to detect the output layout, or the family to use.
        score_threshold: minimum confidence of a reported detection, in [0, 1].
        iou_threshold: per-class NMS IoU threshold, in [0, 1].
        batch_max_size: most images per session run (dynamic-batch models only).
        batch_max_wait_ms: longest a request waits for others to join its batch.
        intra_op_threads: onnxruntime intra-op threads (0 lets onnxruntime choose).
        inter_op_threads: onnxruntime inter-op threads (0 lets onnxruntime choose).
        graph_optimization: onnxruntime graph optimisation level.
        warmup_runs: session runs at load time, so the first real request is not the slow one.
        max_detections: most detections kept per image after NMS.
        max_candidates: most candidates (highest scores) handed to NMS per image; bounds the
            worst case when a threshold is set so low that thousands of boxes pass.
        gpu: device, TensorRT and I/O binding settings (ignored by CPU sessions).
    """

    model: Path
    input_size: int | tuple[int, int] | None = None
    providers: tuple[ProviderChoice, ...] = (ProviderChoice.AUTO,)
    classes: Mapping[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] | None = None
    labels_file: Path | None = None
    family: ModelFamily = ModelFamily.AUTO
    score_threshold: float = 0.3
    iou_threshold: float = 0.45
    batch_max_size: int = 8
    batch_max_wait_ms: float = 5.0
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization: GraphOptimization = GraphOptimization.ALL
    warmup_runs: int = 1
    max_detections: int = 300
    max_candidates: int = 3000
    gpu: GpuSettings = field(default_factory=GpuSettings)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "model", Path(self.model))
        set_(self, "input_size", _as_hw(self.input_size))
        set_(self, "providers", _as_providers(self.providers))
        try:
            set_(self, "family", ModelFamily(str(self.family).lower()))
            set_(self, "graph_optimization", GraphOptimization(str(self.graph_optimization)))
        except ValueError as exc:
            raise DetectorSpecError(f"DetectorSpec: {exc}") from None
        self._set_classes_and_labels()
        _check_range("score_threshold", self.score_threshold, 0.0, 1.0)
        _check_range("iou_threshold", self.iou_threshold, 0.0, 1.0)
        _check_range("batch_max_size", self.batch_max_size, 1, 256)
        _check_range("batch_max_wait_ms", self.batch_max_wait_ms, 0.0, 1000.0)
        _check_range("intra_op_threads", self.intra_op_threads, 0, 256)
        _check_range("inter_op_threads", self.inter_op_threads, 0, 256)
        _check_range("warmup_runs", self.warmup_runs, 0, 100)
        _check_range("max_detections", self.max_detections, 1, 100_000)
        _check_range("max_candidates", self.max_candidates, 1, 1_000_000)
        for name in ("batch_max_size", "intra_op_threads", "inter_op_threads", "warmup_runs"):
            if not isinstance(getattr(self, name), int):
                raise DetectorSpecError(f"DetectorSpec.{name} must be an int")
        if not isinstance(self.gpu, GpuSettings):
            raise DetectorSpecError(f"DetectorSpec.gpu must be GpuSettings, got {self.gpu!r}")

    @property
    def input_hw(self) -> tuple[int, int] | None:
        """``input_size`` as (height_px, width_px), or None to take it from the model."""
        return _as_hw(self.input_size)

    def _set_classes_and_labels(self) -> None:
        classes = dict(self.classes)
        for label, role in classes.items():
            if not isinstance(label, str) or not label or not isinstance(role, str) or not role:
                raise DetectorSpecError(
                    f"DetectorSpec.classes: label and role must be non-empty strings, "
                    f"got {label!r}: {role!r}"
                )
        object.__setattr__(self, "classes", MappingProxyType(classes))
        if self.labels is not None and self.labels_file is not None:
            raise DetectorSpecError("DetectorSpec: give labels or labels_file, not both")
        if self.labels is not None:
            labels = tuple(str(v) for v in self.labels)
            if not labels or not all(v.strip() for v in labels):
                raise DetectorSpecError("DetectorSpec.labels must be non-empty names")
            object.__setattr__(self, "labels", labels)
        if self.labels_file is not None:
            object.__setattr__(self, "labels_file", Path(self.labels_file))
