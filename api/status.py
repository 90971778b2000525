"""Camera and Redis status as the API shows it (``/health``, ``/metrics``, dashboard).

The pipelines write one JSON record per camera into the Redis hash ``hazardwatch:camera_status``
every second. A camera whose record is missing, unreadable or older than :data:`STALE_AFTER_S`
is shown as ``stale``: its pipeline is not running or cannot reach Redis, and either way what we
last heard is no longer true. Only the fields of the contract are passed on, and ``last_error``
is redacted again here as a last line of defence (camera URLs carry passwords).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from cameras.redact import redact_text
from pipelines.redis_url import redis_client

logger = logging.getLogger(__name__)

CAMERA_STATUS_KEY = "hazardwatch:camera_status"
STALE_AFTER_S = 10.0
MAX_ERROR_CHARS = 500  # of a camera's last_error as the API shows it
_MAX_ERROR_IN_CHARS = 65_536  # longer error texts in a status record are not shown
REDIS_TIMEOUT_S = 0.5
# Fields of a camera status record that are passed on, and their types.
_NUMBER_FIELDS = (
    "fps_in",
    "fps_out",
    "frames_in",
    "frames_out",
    "dropped",
    "reconnects",
    "decode_errors",
    "inference_ms_avg",
    "events",
    # the camera's evidence writer
    "evidence_captures",
    "evidence_pending",
    "evidence_errors",
    "clips_skipped_disk_full",
    # the event publisher of the pipeline process that runs the camera
    "spool_pending",
    "publish_errors",
)
_STATES = frozenset({"streaming", "connecting", "backoff", "stopped"})


@dataclass(frozen=True, slots=True)
class RedisState:
    """Whether Redis answered, and why not when it did not."""

    state: str  # "up", "down" or "not_configured"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state}
        if self.error is not None:
            out["error"] = self.error
        return out


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _shown_error(value: Any) -> str | None:
    """A status record's error text, redacted, then cut to :data:`MAX_ERROR_CHARS`.

    Redaction comes first (cutting first could split a URL before its '@' and show part of a
    password); text too long to redact cheaply is not shown at all.
    """
    if not value:
        return None
    text = str(value)
    if len(text) > _MAX_ERROR_IN_CHARS:
        return f"(an error text of {len(text)} characters, too long to show)"
    return redact_text(text)[:MAX_ERROR_CHARS]


def camera_record(raw: str | bytes | None, now: datetime) -> dict[str, Any]:
    """One camera's status for the API from the raw hash value (``None`` when missing).

    The result has ``state`` (one of the pipeline states, or ``stale``), ``age_s`` (seconds since
    ``updated_at``, ``None`` if unknown) and the contract's numeric fields that were present.
    """
    if raw is None:
        return {"state": "stale", "age_s": None, "reason": "no status reported"}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"state": "stale", "age_s": None, "reason": "unreadable status record"}
    if not isinstance(data, dict):
        return {"state": "stale", "age_s": None, "reason": "unreadable status record"}
    record: dict[str, Any] = {}
    for key in _NUMBER_FIELDS:
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            record[key] = value
    if isinstance(data.get("disk_full"), bool):  # clips stop below the free-space minimum
        record["disk_full"] = data["disk_full"]
    record["last_error"] = _shown_error(data.get("last_error"))
    updated_at = _parse_time(data.get("updated_at"))
    record["updated_at"] = None if updated_at is None else updated_at.isoformat()
    age_s = None if updated_at is None else (now - updated_at).total_seconds()
    record["age_s"] = None if age_s is None else round(age_s, 3)
    state = data.get("state")
    if age_s is None or age_s > STALE_AFTER_S:
        record["state"] = "stale"
        record["reason"] = f"status older than {STALE_AFTER_S:g} s"
    elif state not in _STATES:
        record["state"] = "stale"
        record["reason"] = "unknown state in status record"
    else:
        record["state"] = state
    return record


class StatusReader:
    """Reads camera status from Redis with short timeouts (health must answer fast).

    Args:
        redis_url: Redis URL (ACL user and TLS as :mod:`pipelines.redis_url` describes), or
            ``None`` when the API runs without Redis.
        timeout_s: connect and socket timeout of each call.
    """

    def __init__(self, redis_url: str | None, timeout_s: float = REDIS_TIMEOUT_S) -> None:
        self._client: redis.Redis | None = None
        if redis_url is not None:
            self._client = redis_client(redis_url, timeout_s=timeout_s, retry_on_timeout=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def read(
        self, camera_ids: Iterable[str], now: datetime | None = None
    ) -> tuple[dict[str, dict[str, Any]], RedisState]:
        """Status of each camera and the state of Redis.

        Never raises for Redis being down: every camera is then ``stale`` and the state says why.
        """
        ids = list(camera_ids)
        when = datetime.now(UTC) if now is None else now
        if self._client is None:
            records = {cid: camera_record(None, when) for cid in ids}
            return records, RedisState("not_configured")
        try:
            values: list[Any] = self._client.hmget(CAMERA_STATUS_KEY, ids) if ids else []
            if not ids:
                self._client.ping()
        except redis.RedisError as exc:
            logger.warning("Redis unreachable for camera status: %s", redact_text(str(exc)))
            records = {cid: camera_record(None, when) for cid in ids}
            for record in records.values():
                record["reason"] = "redis unreachable"
            return records, RedisState("down", redact_text(str(exc))[:300])
        records = {cid: camera_record(raw, when) for cid, raw in zip(ids, values, strict=True)}
        return records, RedisState("up")

    def read_raw(self, camera_id: str) -> str | bytes | None:
        """The camera's raw status record (None: missing, or the API runs without Redis), for
        fields beyond the health contract (:mod:`api.live_view`).

        Raises:
            redis.RedisError: Redis did not answer.
        """
        if self._client is None:
            return None
        value: str | bytes | None = self._client.hget(CAMERA_STATUS_KEY, camera_id)
        return value


def merge_disabled(
    records: Mapping[str, dict[str, Any]], disabled: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """``records`` plus ``{"state": "disabled"}`` for cameras the config does not run."""
    out = dict(records)
    for camera_id in disabled:
        out[camera_id] = {"state": "disabled"}
    return out
