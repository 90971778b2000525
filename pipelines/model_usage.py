"""A config file's detectors as :class:`models.usage.ModelUse` records, for ``models list``."""

from __future__ import annotations

from pathlib import Path

from models.errors import RegistryError
from models.registry import sha256_file
from models.usage import ModelUse
from pipelines.builders import BuildError, camera_needs_detector, resolve_model, resolve_path
from pipelines.config import ConfigError, load_config


def model_uses(config_path: Path) -> list[ModelUse]:
    """Every detector of the config with its resolved model file and the cameras that run on it
    (those whose hazards need detection).

    Raises:
        RegistryError: the config cannot be read or is invalid (every problem listed).
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise RegistryError(f"--config {config_path}:\n{exc}") from None
    uses = []
    for name, block in config.detector_configs().items():
        try:
            model, _ = resolve_model(block, Path(config_path).parent, name)
        except BuildError:  # shown as "file not found"
            model = resolve_path(block.model, Path(config_path).parent)
        cameras = tuple(
            cid
            for cid, camera in config.cameras.items()
            if config.detector_name(cid) == name and camera_needs_detector(camera)
        )
        digest = sha256_file(model) if model.is_file() else None
        uses.append(ModelUse(name, model, digest, cameras))
    return uses
