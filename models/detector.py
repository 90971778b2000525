"""The detector runtime: the :class:`Detector` protocol and :class:`OnnxDetector`.

``OnnxDetector(spec)`` loads the ONNX file, checks its input, probes it once to see the real
output shape, tells the family (:mod:`models.families`), resolves the class names
(:mod:`models.labels`), checks the config's class -> role mapping against them, and warms up.
``detect(images)`` then letterboxes into a preallocated tensor, runs the session once per batch
and decodes each image's output into :class:`vision.types.Detections` in image pixels.

``OnnxDetector`` serialises its own calls with a lock (its buffers are reused); for many cameras
calling at once, put a :class:`models.batching.BatchingDetector` in front of it.

On a CUDA or TensorRT session the run goes through I/O binding
(:class:`models.iobinding.BoundRunner`): the input lives on the GPU, bound once per batch shape,
and each run is one host-to-device copy of the letterboxed batch; the output is copied back for
decoding and NMS, which run on the CPU.
"""

from __future__ import annotations

import ast
import logging
import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Protocol, runtime_checkable

import numpy as np
import onnxruntime as ort

from models.errors import InferenceError, InputImageError, ModelLoadError
from models.families import FamilyMatch, identify_family, make_decoder
from models.iobinding import BoundRunner
from models.labels import (
    COCO80,
    LabelSource,
    ModelLabels,
    map_classes,
    parse_names_metadata,
    read_labels_file,
    resolve_labels,
)
from models.letterbox import Letterbox, LetterboxGeometry, LetterboxStyle, check_image
from models.postprocess import Decoder, DecodeSettings
from models.session import ORT_ERRORS, engine_build_lock, open_session, warm_up
from models.spec import DetectorSpec, ModelFamily
from vision.types import Detections

logger = logging.getLogger(__name__)

DEFAULT_INPUT_HW = (640, 640)


@runtime_checkable
class Detector(Protocol):
    """Anything that turns BGR images into detections in image pixels."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in class-index order."""
        ...

    @property
    def max_batch_size(self) -> int:
        """Most images one session run takes."""
        ...

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in each image.

        Args:
            images: uint8 (H, W, 3) BGR arrays, any sizes.

        Returns:
            One Detections per image, boxes in that image's pixels.
        """
        ...


def _dim(value: object) -> int | None:
    """A fixed ONNX dimension, or None for a dynamic one (a name, None or <= 0)."""
    return value if isinstance(value, int) and value > 0 else None


def _metadata_hw(metadata: Mapping[str, str]) -> tuple[int, int] | None:
    text = metadata.get("imgsz")
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return value, value
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) for v in value)
    ):
        return value[0], value[1]
    return None


class OnnxDetector:
    """A detector on one onnxruntime session; detects its model family at load time.

    Args:
        spec: what to load and how.

    Raises:
        ModelLoadError: missing or non-ONNX file, unsupported input, size mismatch.
        UnknownModelFamilyError: the output fits no supported family.
        ProviderUnavailableError: a requested execution provider is not available.
        LabelMappingError: class names missing or inconsistent, or ``spec.classes`` names a
            label the model does not have.
    """

    def __init__(self, spec: DetectorSpec) -> None:
        self.spec = spec
        self.name = spec.model.name
        # Workers sharing an engine cache build each TensorRT engine once, one at a time.
        with engine_build_lock(spec.providers, spec.gpu):
            self._load(spec)

    def _load(self, spec: DetectorSpec) -> None:
        """Session, input, family, labels, decoder, buffers, warm-up (engines are built here)."""
        self._session, self.session_settings = open_session(
            spec.model,
            spec.providers,
            spec.intra_op_threads,
            spec.inter_op_threads,
            spec.graph_optimization,
            spec.gpu,
        )
        self.metadata: Mapping[str, str] = MappingProxyType(
            dict(self._session.get_modelmeta().custom_metadata_map)
        )
        self._read_input()
        probe_shape = self._probe()
        match = identify_family(
            probe_shape, self.input_hw, self.metadata, spec.family, model_name=self.name
        )
        self.match: FamilyMatch = match
        self.model_labels: ModelLabels = self._resolve_labels(match)
        self.class_roles: Mapping[int, str] = MappingProxyType(
            map_classes(spec.classes, self.model_labels.names, model_name=self.name)
            if spec.classes
            else {}
        )
        settings = DecodeSettings(
            spec.score_threshold, spec.iou_threshold, spec.max_detections, spec.max_candidates
        )
        self._decoder: Decoder = make_decoder(
            match, self.input_hw, len(self.model_labels.names), settings
        )
        self._letterbox = Letterbox(self.input_hw, self._decoder.style, self.max_batch_size)
        self._lock = threading.Lock()
        self._bound: BoundRunner | None = self._make_bound_runner()
        shapes = [(self._run_rows(1), 3, *self.input_hw)]
        if self.max_batch_size > 1:
            shapes.append((self.max_batch_size, 3, *self.input_hw))
        try:
            self.warmup_s = warm_up(
                self._session,
                self.input_name,
                shapes,
                spec.warmup_runs,
                run=self._bound.run if self._bound is not None else None,
            )
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"{self.name}: warm-up at {shapes} failed: {exc}") from exc
        logger.info(
            "%s: family %s%s, input %dx%d, %d classes (%s), batch %s, providers %s",
            self.name,
            match.family,
            " end-to-end" if match.end_to_end else "",
            *self.input_hw,
            len(self.model_labels.names),
            self.model_labels.source,
            "dynamic" if self.fixed_batch is None else self.fixed_batch,
            ",".join(self.session_settings.providers),
        )

    # -- loading -------------------------------------------------------------------------------

    def _make_bound_runner(self) -> BoundRunner | None:
        """I/O binding on GPU sessions (or wherever ``spec.gpu.io_binding`` asks for it)."""
        wanted = self.spec.gpu.io_binding
        on_gpu = self.session_settings.on_gpu
        if wanted is False or (wanted is None and not on_gpu):
            return None
        device = "cuda" if on_gpu else "cpu"
        return BoundRunner(
            self._session, self.input_name, self.output_name, device, self.spec.gpu.device_id
        )

    def _read_input(self) -> None:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            names = [i.name for i in inputs]
            raise ModelLoadError(f"{self.name}: expected one image input, the model has {names}")
        tensor = inputs[0]
        if tensor.type != "tensor(float)":
            raise ModelLoadError(
                f"{self.name}: input {tensor.name!r} has type {tensor.type}; only float32 "
                f"(tensor(float)) inputs are supported"
            )
        shape = list(tensor.shape)
        channels = _dim(shape[1]) if len(shape) == 4 else None
        if len(shape) != 4 or channels not in (None, 3):
            raise ModelLoadError(
                f"{self.name}: input {tensor.name!r} has shape {shape}; expected [B, 3, H, W]"
            )
        self.input_name: str = tensor.name
        self.output_name: str = self._session.get_outputs()[0].name
        self.fixed_batch: int | None = _dim(shape[0])
        fixed_hw = (_dim(shape[2]), _dim(shape[3]))
        wanted = self.spec.input_hw
        if fixed_hw[0] is not None and fixed_hw[1] is not None:
            model_hw = (fixed_hw[0], fixed_hw[1])
            if wanted is not None and wanted != model_hw:
                raise ModelLoadError(
                    f"{self.name} has a fixed input of {model_hw[0]}x{model_hw[1]} (h x w) but "
                    f"input_size {wanted[0]}x{wanted[1]} was asked for"
                )
            self.input_hw: tuple[int, int] = model_hw
        elif fixed_hw == (None, None):
            self.input_hw = wanted or _metadata_hw(self.metadata) or DEFAULT_INPUT_HW
        else:
            raise ModelLoadError(
                f"{self.name}: input shape {shape} fixes only one of height and width"
            )

    def _probe(self) -> tuple[int, ...]:
        tensor = np.zeros((self._run_rows(1), 3, *self.input_hw), np.float32)
        try:
            outputs = self._session.run([self.output_name], {self.input_name: tensor})
        except ORT_ERRORS as exc:
            raise ModelLoadError(
                f"{self.name}: a probe run at input {list(tensor.shape)} failed: {exc}"
            ) from exc
        return tuple(outputs[0].shape)

    def _resolve_labels(self, match: FamilyMatch) -> ModelLabels:
        names = self.metadata.get("names")
        metadata_names = parse_names_metadata(names) if names else None
        num_classes = match.num_classes
        if num_classes is None:  # end-to-end outputs do not show C: count the names
            if self.spec.labels is not None:
                num_classes = len(self.spec.labels)
            elif self.spec.labels_file is not None:
                num_classes = len(read_labels_file(self.spec.labels_file))
            else:
                num_classes = len(metadata_names or COCO80)
        return resolve_labels(
            num_classes, metadata_names, self.spec.labels, self.spec.labels_file, self.name
        )

    # -- properties ----------------------------------------------------------------------------

    @property
    def family(self) -> ModelFamily:
        return self.match.family

    @property
    def end_to_end(self) -> bool:
        return self.match.end_to_end

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model_labels.names

    @property
    def label_source(self) -> LabelSource:
        return self.model_labels.source

    @property
    def dynamic_batch(self) -> bool:
        return self.fixed_batch is None

    @property
    def max_batch_size(self) -> int:
        return self.spec.batch_max_size if self.fixed_batch is None else self.fixed_batch

    @property
    def letterbox_style(self) -> LetterboxStyle:
        """The family's preprocessing convention."""
        return self._decoder.style

    @property
    def io_binding(self) -> str | None:
        """Where the bound input lives (``cuda``, ``cpu``), or None for plain ``session.run``."""
        return self._bound.device if self._bound is not None else None

    @property
    def session(self) -> ort.InferenceSession:
        """The underlying session (for benchmarks that time a bare ``session.run``)."""
        return self._session

    def _run_rows(self, n: int) -> int:
        """Rows of the tensor for ``n`` images: a fixed-batch model always gets its batch."""
        return n if self.fixed_batch is None else self.fixed_batch

    # -- detection -----------------------------------------------------------------------------

    def check_images(self, images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Validate a batch of images without running anything.

        Raises:
            InputImageError: naming the bad image's index and what is wrong with it.
        """
        if isinstance(images, np.ndarray):
            if images.ndim == 4:
                return [check_image(image, i) for i, image in enumerate(images)]
            raise InputImageError(
                f"detect() takes a sequence of (H, W, 3) images or one (B, H, W, 3) array; got "
                f"one array of shape {tuple(images.shape)} (wrap a single image in a list)"
            )
        if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
            raise InputImageError(
                f"detect() takes a sequence of images, got {type(images).__name__}"
            )
        return [check_image(image, i) for i, image in enumerate(images)]

    def detect(self, images: Sequence[np.ndarray] | np.ndarray) -> list[Detections]:
        """Detect objects in each image.

        Args:
            images: uint8 (H, W, 3) BGR arrays of any sizes (or one (B, H, W, 3) array).

        Returns:
            One Detections per image, in order, boxes in that image's pixels.

        Raises:
            InputImageError: an image is not uint8 (H, W, 3).
            InferenceError: onnxruntime failed to run the batch.
        """
        batch = self.check_images(images)
        results: list[Detections] = []
        step = self.max_batch_size
        with self._lock:
            for start in range(0, len(batch), step):
                results.extend(self._detect_chunk(batch[start : start + step]))
        return results

    def preprocess(
        self, images: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, list[LetterboxGeometry]]:
        """Letterbox up to ``max_batch_size`` images into the input tensor, without running.

        Returns:
            A float32 (B, 3, H, W) view of the preallocated tensor, valid until the next call,
            and each image's geometry.
        """
        batch = self.check_images(images)
        if not 1 <= len(batch) <= self.max_batch_size:
            raise InputImageError(
                f"preprocess takes 1..{self.max_batch_size} images, got {len(batch)}"
            )
        with self._lock:
            return self._letterbox(batch, rows=self._run_rows(len(batch)))

    def _detect_chunk(self, chunk: Sequence[np.ndarray]) -> list[Detections]:
        tensor, geometries = self._letterbox(chunk, rows=self._run_rows(len(chunk)))
        try:
            if self._bound is not None:
                output = self._bound.run(tensor)
            else:
                (output,) = self._session.run([self.output_name], {self.input_name: tensor})
        except ORT_ERRORS as exc:
            raise InferenceError(
                f"{self.name}: session.run failed on a batch of {len(chunk)} "
                f"(tensor {list(tensor.shape)}): {exc}"
            ) from exc
        return self._decoder.decode(output, geometries)


def load_detector(spec: DetectorSpec) -> OnnxDetector:
    """Build an :class:`OnnxDetector` (the family is detected unless ``spec.family`` names it)."""
    return OnnxDetector(spec)
