"""Validation of the entries the ticket service reads: hazard events and zone statuses.

Each parser returns a small frozen value or raises :class:`api.errors.InvalidEntry` with a message
naming the entry and the bad field; the service moves such entries to the dead-letter stream.
Evidence is flattened to the ticket's keys (``clip``, ``clip_sha256``, ...). A start event that
names no file and gives no ``evidence.error`` breaks the contract ("never missing silently"):
it is still applied, since a hazard must never be lost, and the gap is written into the ticket's
``evidence.error``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.errors import InvalidEntry
from vision.types import HazardEvent, HazardKind, HazardPhase

__all__ = [
    "EVIDENCE_FILES",
    "EVIDENCE_KEYS",
    "ParsedEvent",
    "ZoneStatus",
    "parse_event",
    "parse_zone_status",
    "public_clip_available",
]

# ``privacy`` is the clip's privacy track, from which the service makes ``clip_public`` when it
# is first asked for (pipelines.public_clip); events of earlier releases carry ``clip_public``.
EVIDENCE_FILES = ("clip", "snapshot", "clip_public", "snapshot_public", "privacy")
# What a start event without an ``error`` must name: the clip's public copy, or its track.
_REQUIRED = (("clip",), ("snapshot",), ("snapshot_public",), ("privacy", "clip_public"))
EVIDENCE_KEYS = (
    *(k for name in (*EVIDENCE_FILES, "after_snapshot") for k in (name, f"{name}_sha256")),
    "error",
)
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_PATH = 4096
_MAX_TEXT = 2000
# Fields HazardEvent.from_dict converts with dict()/tuple(): checked first for a clear message.
_CONTAINERS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("details", Mapping, "an object"),
    ("evidence", Mapping, "an object"),
    ("labels", (list, tuple), "a list"),
    ("track_ids", (list, tuple), "a list"),
    ("box_norm", (list, tuple), "a list"),
)


@dataclass(frozen=True)
class ParsedEvent:
    """A validated hazard event and its evidence, flattened to the ticket's evidence keys."""

    event: HazardEvent
    evidence: dict[str, Any]


def public_clip_available(evidence: Mapping[str, Any]) -> bool:
    """The public copy of the clip exists, or can be made (clip and privacy track recorded)."""
    return bool(evidence.get("clip_public")) or bool(
        evidence.get("clip") and evidence.get("privacy")
    )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _check_slug(what: str, value: str, where: str) -> None:
    if not _SLUG_RE.match(value):
        raise InvalidEntry(f"{where}: {what} {value[:80]!r} is not a slug")


def _parse_evidence(raw: Any, where: str, *, phase: HazardPhase) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise InvalidEntry(f"{where}: evidence must be an object, got {type(raw).__name__}")
    digests = raw.get("sha256") or {}
    if not isinstance(digests, Mapping):
        raise InvalidEntry(f"{where}: evidence.sha256 must be an object")
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name in EVIDENCE_FILES:
        path = raw.get(name)
        if path is None:
            continue
        if not isinstance(path, str) or not path or len(path) > _MAX_PATH or "\x00" in path:
            raise InvalidEntry(f"{where}: evidence.{name} must be a file path")
        out[name] = path
        digest = digests.get(name)
        if digest is None:
            problems.append(f"no sha256 for {name}")
        elif not isinstance(digest, str) or not _HEX64_RE.match(digest):
            raise InvalidEntry(f"{where}: evidence.sha256.{name} must be 64 hex digits")
        else:
            out[f"{name}_sha256"] = digest.lower()
    error = raw.get("error")
    if error is not None:
        out["error"] = str(error).replace("\x00", "")[:_MAX_TEXT]
    elif phase is HazardPhase.START:
        missing = [" or ".join(names) for names in _REQUIRED if not any(n in out for n in names)]
        if missing:  # the contract says never silently: say it here at least
            problems.append(f"missing without a reason: {', '.join(missing)}")
    if problems:
        out["error"] = "; ".join([*([out["error"]] if "error" in out else []), *problems])
    return out


def parse_event(data: Any) -> ParsedEvent:
    """Validate a hazard event dict (ARCHITECTURE.md §5 with ``evidence`` filled).

    Raises:
        InvalidEntry: naming the event (when it has an id) and the bad field.
    """
    if not isinstance(data, Mapping):
        raise InvalidEntry(f"an event must be a JSON object, got {type(data).__name__}")
    where = f"event {str(data.get('event_id'))[:80]!r}"
    for name, kind, what in _CONTAINERS:
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise InvalidEntry(f"{where}: {name} must be {what}, got {type(value).__name__}")
    try:
        hazard = HazardEvent.from_dict(data)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise InvalidEntry(f"{where}: {exc}") from None
    for name in ("event_id", "hazard_id"):
        if not _ID_RE.match(getattr(hazard, name)):
            raise InvalidEntry(f"{where}: {name} must be 1 to 128 letters, digits or _.:-")
    for name in ("started_at", "ended_at"):
        value = getattr(hazard, name)
        if value is not None:
            _check_in_utc_range(value, f"{where}: {name}")
    _check_slug("camera_id", hazard.camera_id, where)
    _check_slug("zone", hazard.zone, where)
    if not math.isfinite(hazard.score):
        raise InvalidEntry(f"{where}: score must be finite")
    try:
        json.dumps([dict(hazard.details), list(hazard.labels)], allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidEntry(f"{where}: details must be plain JSON: {exc}") from None
    if _has_nul([hazard.details, hazard.labels]):  # PostgreSQL cannot store NUL in text
        raise InvalidEntry(f"{where}: details and labels must not contain NUL characters")
    evidence = _parse_evidence(data.get("evidence"), where, phase=hazard.phase)
    return ParsedEvent(hazard, evidence)


@dataclass(frozen=True)
class ZoneStatus:
    """A validated ``hazardwatch:zone_status`` entry."""

    camera_id: str
    zone: str
    kind: HazardKind
    clear: bool
    clear_for_s: float
    at: datetime
    snapshot: str | None
    snapshot_sha256: str | None


def _check_in_utc_range(value: datetime, what: str) -> datetime:
    """``value`` in UTC; a time whose offset pushes it past year 9999 (or before year 1) in UTC
    is refused here, by name, and not left to overflow where it is stored.

    Raises:
        InvalidEntry: naming ``what``.
    """
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidEntry(
            f"{what} {value.isoformat()} is out of range once converted to UTC (years 1 to 9999)"
        ) from None


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidEntry(f"{where}: 'at' must be an ISO-8601 text")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEntry(f"{where}: 'at' {value[:40]!r} is not ISO-8601") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidEntry(f"{where}: 'at' must carry a time zone (UTC)")
    return _check_in_utc_range(parsed, f"{where}: 'at'")


def parse_zone_status(data: Any) -> ZoneStatus:
    """Validate a zone status dict.

    Raises:
        InvalidEntry: naming the bad field.
    """
    if not isinstance(data, Mapping):
        raise InvalidEntry(f"a zone status must be a JSON object, got {type(data).__name__}")
    missing = [
        k for k in ("camera_id", "zone", "kind", "state", "clear_for_s", "at") if k not in data
    ]
    if missing:
        raise InvalidEntry(f"zone status: missing fields {missing}")
    camera_id, zone = data["camera_id"], data["zone"]
    if not isinstance(camera_id, str) or not isinstance(zone, str):
        raise InvalidEntry("zone status: camera_id and zone must be text")
    where = f"zone status of {camera_id[:63]}/{zone[:63]}"
    _check_slug("camera_id", camera_id, where)
    _check_slug("zone", zone, where)
    try:
        kind = HazardKind(data["kind"])
    except ValueError:
        raise InvalidEntry(f"{where}: unknown kind {str(data['kind'])[:40]!r}") from None
    if data["state"] not in ("clear", "occupied"):
        raise InvalidEntry(f"{where}: state must be 'clear' or 'occupied'")
    clear_for = data["clear_for_s"]
    if isinstance(clear_for, bool) or not isinstance(clear_for, int | float):
        raise InvalidEntry(f"{where}: clear_for_s must be a number")
    if not math.isfinite(clear_for) or clear_for < 0:
        raise InvalidEntry(f"{where}: clear_for_s must be finite and >= 0, got {clear_for}")
    snapshot, digest = data.get("snapshot"), data.get("snapshot_sha256")
    if snapshot is not None and (
        not isinstance(snapshot, str) or not snapshot or len(snapshot) > _MAX_PATH
    ):
        raise InvalidEntry(f"{where}: snapshot must be a file path or null")
    if digest is not None and (not isinstance(digest, str) or not _HEX64_RE.match(digest)):
        raise InvalidEntry(f"{where}: snapshot_sha256 must be 64 hex digits or null")
    return ZoneStatus(
        camera_id,
        zone,
        kind,
        data["state"] == "clear",
        float(clear_for),
        _parse_time(data["at"], where),
        snapshot,
        None if digest is None else digest.lower(),
    )
