"""Zones edited through the API: validated like the config file, stored per camera.

``PUT /cameras/{id}/zones`` replaces a camera's zones. The new zones are checked by validating the
whole configuration with them in place (schema and every ``verify_*`` check), so an edit is held
to exactly the rules of ``check-config`` and its errors carry the same dotted paths
(``cameras.north_lane.zones.lane.polygon[2]``); a hazard left pointing at a removed zone is an
error too. The result is written atomically to ``DATA_DIR/zones/{camera_id}.json`` as
``{"zones": {...}, "updated_at": ISO, "by": name}``, which the pipeline reloads.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cameras.schema_checks import ConfigIssue
from pipelines.config import ConfigError, HazardwatchConfig, validate_config

logger = logging.getLogger(__name__)

ZONES_DIR = "zones"


class ZoneEditError(Exception):
    """The zones given for a camera are not valid; ``issues`` lists every problem."""

    def __init__(self, camera_id: str, issues: list[ConfigIssue]) -> None:
        self.camera_id = camera_id
        self.issues = issues
        lines = "; ".join(f"{issue.path}: {issue.message}" for issue in issues)
        super().__init__(f"invalid zones for camera '{camera_id}': {lines}")


@dataclass(frozen=True, slots=True)
class ZoneSet:
    """A camera's zones as JSON-ready data, and where they came from."""

    camera_id: str
    zones: dict[str, Any]
    source: str  # "override" or "config"
    updated_at: str | None = None
    by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "zones": self.zones,
            "source": self.source,
            "updated_at": self.updated_at,
            "by": self.by,
        }


def override_path(data_dir: Path, camera_id: str) -> Path:
    """Where the zones of ``camera_id`` are stored (the id is a configured slug)."""
    return data_dir / ZONES_DIR / f"{camera_id}.json"


def config_zones(config: HazardwatchConfig, camera_id: str) -> dict[str, Any]:
    """The zones of the camera as configured, JSON-ready."""
    camera = config.cameras[camera_id]
    return {zone_id: zone.model_dump(mode="json") for zone_id, zone in camera.zones.items()}


def read_zones(config: HazardwatchConfig, data_dir: Path, camera_id: str) -> ZoneSet:
    """The override of the camera if there is a readable one, else the configured zones."""
    path = override_path(data_dir, camera_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ZoneSet(camera_id, config_zones(config, camera_id), "config")
    except (OSError, ValueError) as exc:
        logger.warning("camera %s: zone override %s unreadable: %s", camera_id, path, exc)
        return ZoneSet(camera_id, config_zones(config, camera_id), "config")
    if not isinstance(data, dict) or not isinstance(data.get("zones"), dict):
        logger.warning("camera %s: zone override %s has no 'zones' mapping", camera_id, path)
        return ZoneSet(camera_id, config_zones(config, camera_id), "config")
    updated_at, by = data.get("updated_at"), data.get("by")
    return ZoneSet(
        camera_id,
        data["zones"],
        "override",
        updated_at if isinstance(updated_at, str) else None,
        by if isinstance(by, str) else None,
    )


def validate_zones(
    config: HazardwatchConfig, camera_id: str, zones: dict[str, Any]
) -> dict[str, Any]:
    """The zones, normalized by the schema, if the config with them in place is valid.

    Raises:
        ZoneEditError: listing every problem, with the config's dotted paths.
    """
    data = config.model_dump(mode="json")
    data["cameras"][camera_id]["zones"] = zones
    try:
        checked = validate_config(data, source_name=f"zones of camera '{camera_id}'")
    except ConfigError as exc:
        raise ZoneEditError(camera_id, list(exc.errors)) from None
    return config_zones(checked, camera_id)


def write_zones(
    data_dir: Path, camera_id: str, zones: dict[str, Any], by: str, now: datetime | None = None
) -> ZoneSet:
    """Store validated zones atomically (temp file, fsync, rename) and return what was stored."""
    when = (datetime.now(UTC) if now is None else now).isoformat().replace("+00:00", "Z")
    record = {"zones": zones, "updated_at": when, "by": by}
    path = override_path(data_dir, camera_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{camera_id}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return ZoneSet(camera_id, zones, "override", when, by)
