"""The cameras and detector of a generated scenario suite's configs, for a test's own config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def suite_camera(suite_dir: Path, scene: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The first camera of ``configs/SCENE.yaml`` and its detector block (None for a scene
    without one, the facade's motion only), the detector's model path made absolute (it is
    relative to the config's folder), ready to write elsewhere."""
    config = yaml.safe_load((suite_dir / "configs" / f"{scene}.yaml").read_text())
    camera = dict(next(iter(config["cameras"].values())))
    if "detector" not in config:
        return camera, None
    detector = dict(config["detector"])
    model = Path(detector["model"])
    if not model.is_absolute():
        detector["model"] = str((suite_dir / "configs" / model).resolve())
    return camera, detector
