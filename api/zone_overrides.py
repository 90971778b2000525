"""Zones edited through the API: validated like the config file, stored per camera.

``PUT /cameras/{id}/zones`` replaces a camera's zones. The new zones are checked by validating the
whole configuration with them in place (schema and every ``verify_*`` check), so an edit is held
to exactly the rules of ``check-config`` and its errors carry the same dotted paths
(``cameras.north_lane.zones.lane.polygon[2]``); a hazard left pointing at a removed zone is an
error too. The result is written atomically to ``DATA_DIR/zones/{camera_id}.json`` as
``{"zones": {...}, "updated_at": ISO, "by": name}``, which the pipeline reloads; the file it
replaces is kept beside it as ``{camera_id}.json.bak`` (one step back).

An edit may also replace the camera's ``floors`` (a facade's floor lines) and ``hazards`` (their
parameters, e.g. ``dwell_s``): those keys are then stored in the same file, validated the same
way. A key the edit does not give keeps its current value (the override's, else the config's).
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
BACKUP_SUFFIX = ".bak"
# Camera fields besides ``zones`` an edit may replace (stored in the override when given).
EDITABLE_PARTS = ("floors", "hazards")


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
    floors: dict[str, Any] | None = None
    hazards: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "zones": self.zones,
            "floors": self.floors,
            "hazards": list(self.hazards),
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


def config_parts(config: HazardwatchConfig, camera_id: str) -> dict[str, Any]:
    """The camera's floors and hazards as configured, JSON-ready."""
    camera = config.cameras[camera_id].model_dump(mode="json")
    return {part: camera[part] for part in EDITABLE_PARTS}


def _from_config(config: HazardwatchConfig, camera_id: str) -> ZoneSet:
    parts = config_parts(config, camera_id)
    return ZoneSet(
        camera_id,
        config_zones(config, camera_id),
        "config",
        floors=parts["floors"],
        hazards=tuple(parts["hazards"]),
    )


def read_zones(config: HazardwatchConfig, data_dir: Path, camera_id: str) -> ZoneSet:
    """The override of the camera if there is a readable one, else the configured zones (and
    the configured floors and hazards where the override does not hold its own)."""
    path = override_path(data_dir, camera_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return _from_config(config, camera_id)
    except (OSError, ValueError) as exc:
        logger.warning("camera %s: zone override %s unreadable: %s", camera_id, path, exc)
        return _from_config(config, camera_id)
    if not isinstance(data, dict) or not isinstance(data.get("zones"), dict):
        logger.warning("camera %s: zone override %s has no 'zones' mapping", camera_id, path)
        return _from_config(config, camera_id)
    parts = {**config_parts(config, camera_id), **_stored_parts(data)}
    updated_at, by = data.get("updated_at"), data.get("by")
    return ZoneSet(
        camera_id,
        data["zones"],
        "override",
        updated_at if isinstance(updated_at, str) else None,
        by if isinstance(by, str) else None,
        floors=parts["floors"],
        hazards=tuple(parts["hazards"]),
    )


def override_parts(data_dir: Path, camera_id: str) -> dict[str, Any]:
    """The floors and hazards the camera's override holds now (an edit of its zones alone
    is validated with these, which may name zones the config's hazards do not)."""
    try:
        data = json.loads(override_path(data_dir, camera_id).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("camera %s: zone override unreadable: %s", camera_id, exc)
        return {}
    return _stored_parts(data) if isinstance(data, dict) else {}


def _stored_parts(data: dict[str, Any]) -> dict[str, Any]:
    """The floors and hazards an override file holds (only those of the right shape)."""
    out: dict[str, Any] = {}
    if "floors" in data and (data["floors"] is None or isinstance(data["floors"], dict)):
        out["floors"] = data["floors"]
    if isinstance(data.get("hazards"), list):
        out["hazards"] = data["hazards"]
    return out


def validate_zones(
    config: HazardwatchConfig, camera_id: str, zones: dict[str, Any]
) -> dict[str, Any]:
    """The zones, normalized by the schema, if the config with them in place is valid
    (:func:`validate_edit` with no floors or hazards given).

    Raises:
        ZoneEditError: listing every problem, with the config's dotted paths.
    """
    result: dict[str, Any] = validate_edit(config, camera_id, zones, {})["zones"]
    return result


def validate_edit(
    config: HazardwatchConfig, camera_id: str, zones: dict[str, Any], parts: dict[str, Any]
) -> dict[str, Any]:
    """``{"zones": ..., and each key of parts}``, normalized by the schema, if the config with
    them in place (``check-config``'s rules) is valid.

    Raises:
        ZoneEditError: listing every problem, with the config's dotted paths.
        KeyError: ``parts`` names a field that is not editable (a bug of the caller).
    """
    unknown = set(parts) - set(EDITABLE_PARTS)
    if unknown:
        raise KeyError(f"not editable through the zone API: {sorted(unknown)}")
    data = config.model_dump(mode="json")
    data["cameras"][camera_id]["zones"] = zones
    data["cameras"][camera_id].update(parts)
    try:
        checked = validate_config(data, source_name=f"zones of camera '{camera_id}'")
    except ConfigError as exc:
        raise ZoneEditError(camera_id, list(exc.errors)) from None
    normalized = config_parts(checked, camera_id)
    return {"zones": config_zones(checked, camera_id), **{p: normalized[p] for p in parts}}


def write_zones(
    data_dir: Path,
    camera_id: str,
    zones: dict[str, Any],
    by: str,
    now: datetime | None = None,
    parts: dict[str, Any] | None = None,
) -> ZoneSet:
    """Store validated zones (and ``parts``: floors, hazards) atomically (temp file, fsync,
    rename), keeping the file it replaces as ``.bak``; returns what was stored (the floors and
    hazards of the result are those of ``parts``; :func:`read_zones` fills in the rest)."""
    when = (datetime.now(UTC) if now is None else now).isoformat().replace("+00:00", "Z")
    record = {"zones": zones, **(parts or {}), "updated_at": when, "by": by}
    path = override_path(data_dir, camera_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_keeping_backup(path, json.dumps(record, indent=2, sort_keys=True).encode())
    given = parts or {}
    return ZoneSet(
        camera_id,
        zones,
        "override",
        when,
        by,
        floors=given.get("floors"),
        hazards=tuple(given.get("hazards", ())),
    )


def replace_keeping_backup(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path``, first keeping the file it replaces as ``.bak``; each file
    atomically (temporary file, fsync, rename: a crash leaves the old one or the new one, never
    half of one)."""
    try:
        old: bytes | None = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None:
        _write_atomically(path.with_name(path.name + BACKUP_SUFFIX), old)
    _write_atomically(path, content)


def _write_atomically(path: Path, content: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
