"""Errors of the detector runtime.

Every error raised on purpose by ``models`` derives from :class:`ModelError`, so a caller can catch
the whole family in one place (the CLI maps them to exit code 2, "bad input"). Each message names
what is wrong and where (the file, the label, the image index, the provider).
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error raised on purpose by the ``models`` package."""


class DetectorSpecError(ModelError, ValueError):
    """A :class:`models.spec.DetectorSpec` field has a value outside its bounds."""


class ModelLoadError(ModelError):
    """The model file is missing, is not ONNX, or has inputs the runtime cannot feed."""


class UnknownModelFamilyError(ModelError):
    """The model's inputs, outputs and metadata fit none of the supported families."""


class ProviderUnavailableError(ModelError):
    """An execution provider was asked for that onnxruntime does not report as available."""


class LabelMappingError(ModelError):
    """Class names are missing or inconsistent, or the class mapping names an unknown label."""


class InputImageError(ModelError, ValueError):
    """An image handed to ``detect`` is not a uint8 (H, W, 3) array."""


class InferenceError(ModelError):
    """onnxruntime failed while running a batch (an internal error, not bad input)."""


class DetectorClosedError(ModelError):
    """A request reached a :class:`models.batching.BatchingDetector` that is closed."""


class RegistryError(ModelError):
    """The model registry cannot list, import, pull or resolve a model."""
