"""What each camera's source is asked to do, from its config and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.builders import build_rules, source_settings
from pipelines.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "cameras" / "examples"


@pytest.mark.parametrize(
    ("example", "deblock"),
    [("fire_lane.yaml", "auto"), ("ebike_entry.yaml", "auto"), ("falling_object.yaml", "always")],
)
def test_motion_analysis_keeps_the_deblocking_filter(example: str, deblock: str) -> None:
    """Background subtraction sees H.264 block edges as motion: a falling-object camera never
    skips the filter (without this one fall of the accuracy suite was missed)."""
    config = load_config(EXAMPLES / example)
    for camera_id, camera in config.cameras.items():
        settings = source_settings(camera_id, camera, build_rules(camera_id, camera), "x.mp4")
        assert settings.deblock == deblock, camera_id
