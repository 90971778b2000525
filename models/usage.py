"""Which configured detectors, and so which cameras, use a model file (``models list --config``).

The registry knows files; the config knows cameras. The pipelines layer reads a config into
:class:`ModelUse` records (``pipelines.model_usage``); :func:`uses_of` matches them to a registry
manifest by the file's SHA-256, so a model copied out of the registry is still recognised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelUse:
    """One configured detector: its name, its model file and the cameras that run on it.

    Attributes:
        detector: the detector's name (``default`` for the ``detector`` block).
        model: the model file as resolved from the config.
        sha256: the file's SHA-256, or None when the file does not exist.
        cameras: ids of the cameras using this detector (may be empty).
    """

    detector: str
    model: Path
    sha256: str | None
    cameras: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "detector": self.detector,
            "model": str(self.model),
            "sha256": self.sha256,
            "cameras": list(self.cameras),
        }


# Reads a config file into its detectors' uses; raises models.errors.ModelError subclasses.
UsageReader = Callable[[Path], list[ModelUse]]


def uses_of(sha256: str, uses: Iterable[ModelUse]) -> list[ModelUse]:
    """The uses whose model file is the file with digest ``sha256``."""
    return [use for use in uses if use.sha256 == sha256]
