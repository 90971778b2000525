"""Dispatch (派单): the responsible unit and person (责任单位/责任人) of each camera and zone.

The mapping comes from the config (``api.dispatch``, :mod:`api.settings.dispatch`) until
an admin replaces it through ``PUT /dispatch``; it is then kept in ``DATA_DIR/dispatch.json`` as
``{"dispatch": {...}, "updated_at": ISO, "by": name}`` (the file it replaces beside it as
``dispatch.json.bak``), like the zone editor's overrides. An edit is validated by validating the
whole configuration with it in place (``check-config``'s rules: each key a configured camera or
``camera/zone``, with the zones the zone editor added), so its errors carry the same dotted
paths (``api.dispatch.cameras.lane``).

:class:`DispatchBook` is what the ticket store asks when it makes a ticket. The web app and the
ticket service may be different processes (``serve`` replicas, ``up``), so the book reads the
file again whenever it changed, rather than being told.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from api.settings.dispatch import Assignee, DispatchConfig, assignee_for
from api.settings.roles import TokenRole
from api.zone_overrides import read_zones, replace_keeping_backup
from cameras.schema_checks import ConfigIssue
from pipelines.config import ConfigError, HazardwatchConfig, validate_config

__all__ = [
    "ASSIGN_ROLES",
    "DISPATCH_FILE",
    "DispatchBook",
    "DispatchEditError",
    "DispatchSet",
    "validate_dispatch",
    "write_dispatch",
]

logger = logging.getLogger(__name__)

DISPATCH_FILE = "dispatch.json"

# Who may reassign a ticket by hand (``POST /tickets/{id}/assign``; the review page offers it to
# them alone): the office. Editing the mapping itself is the admin's.
ASSIGN_ROLES: tuple[TokenRole, ...] = (TokenRole.ADMIN, TokenRole.REVIEWER)


class DispatchEditError(Exception):
    """A dispatch mapping that is not valid; ``issues`` lists every problem."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = "; ".join(f"{issue.path}: {issue.message}" for issue in issues)
        super().__init__(f"invalid dispatch mapping: {lines}")


@dataclass(frozen=True, slots=True)
class DispatchSet:
    """The mapping in force and where it came from (``config`` or ``override``)."""

    dispatch: DispatchConfig
    source: str
    updated_at: str | None = None
    by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "dispatch": self.dispatch.model_dump(mode="json"),
            "source": self.source,
            "updated_at": self.updated_at,
            "by": self.by,
        }


def dispatch_path(data_dir: Path) -> Path:
    return data_dir / DISPATCH_FILE


def config_dispatch(config: HazardwatchConfig) -> DispatchConfig:
    """The mapping of the config file (empty when it has no ``api`` section)."""
    return config.api.dispatch if config.api is not None else DispatchConfig()


class DispatchBook:
    """The mapping in force: the data dir's override when there is a readable one, else the
    config's; the file is read again when it was replaced (inode, size or time changed)."""

    def __init__(self, config: HazardwatchConfig, data_dir: Path) -> None:
        self._config = config
        self._path = dispatch_path(data_dir)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._current = DispatchSet(config_dispatch(config), "config")

    def current(self) -> DispatchSet:
        """The mapping in force now."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            with self._lock:
                self._seen = None
                self._current = DispatchSet(config_dispatch(self._config), "config")
                return self._current
        except OSError as exc:
            logger.warning("dispatch override %s not readable: %s", self._path, exc)
            return self._current
        # every write is a new file renamed into place: a new inode even within one clock tick
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if seen != self._seen:
                self._current = self._read()
                self._seen = seen
            return self._current

    def assignee_for(self, camera_id: str, zone: str) -> tuple[Assignee, str] | None:
        """Who a new ticket at ``camera_id``/``zone`` goes to, and the rule's key; or None."""
        return assignee_for(self.current().dispatch, camera_id, zone)

    def _read(self) -> DispatchSet:
        """The override file, or the config's mapping (with a warning) when it is unusable."""
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            dispatch = DispatchConfig.model_validate(data["dispatch"])
        except FileNotFoundError:
            return DispatchSet(config_dispatch(self._config), "config")
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            logger.warning(
                "dispatch override %s unusable (%s): using the config's api.dispatch",
                self._path,
                exc,
            )
            return DispatchSet(config_dispatch(self._config), "config")
        updated_at, by = data.get("updated_at"), data.get("by")
        return DispatchSet(
            dispatch,
            "override",
            updated_at if isinstance(updated_at, str) else None,
            by if isinstance(by, str) else None,
        )


def validate_dispatch(config: HazardwatchConfig, data_dir: Path, raw: Any) -> DispatchConfig:
    """``raw`` as a mapping, if the config with it as ``api.dispatch`` is valid; each camera's
    zones are those in force (the zone editor's, else the config's).

    Raises:
        DispatchEditError: listing every problem, with the config's dotted paths.
    """
    data = config.model_dump(mode="json")
    for camera_id in config.cameras:
        zones = read_zones(config, data_dir, camera_id)
        if zones.source == "override":
            data["cameras"][camera_id].update(
                zones=zones.zones, floors=zones.floors, hazards=list(zones.hazards)
            )
    data["api"] = {**(data.get("api") or {}), "dispatch": raw}
    try:
        checked = validate_config(data, source_name="dispatch mapping")
    except ConfigError as exc:
        raise DispatchEditError(list(exc.errors)) from None
    return config_dispatch(checked)


def write_dispatch(
    data_dir: Path, dispatch: DispatchConfig, by: str, now: datetime | None = None
) -> DispatchSet:
    """Store a validated mapping atomically (temp file, fsync, rename), keeping the file it
    replaces as ``.bak``."""
    when = (datetime.now(UTC) if now is None else now).isoformat().replace("+00:00", "Z")
    record = {"dispatch": dispatch.model_dump(mode="json"), "updated_at": when, "by": by}
    path = dispatch_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_keeping_backup(path, json.dumps(record, indent=2, ensure_ascii=False).encode())
    return DispatchSet(dispatch, "override", when, by)
