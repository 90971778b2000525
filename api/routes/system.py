"""``/health``, ``/metrics`` and ``/stats``."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from api import metrics
from api.auth import AuthError, Principal, require_role
from api.context import AppContext, Caller, Ctx, authenticate
from api.hotspots import CATEGORY_HAZARD
from api.retention import health_record
from api.schemas import ErrorResponse, HealthResponse, common_responses
from api.settings.roles import TokenRole
from api.status import RedisState, merge_disabled
from api.tickets_view import TICKET_STATUSES
from cameras.redact import redact_text
from vision.types import HazardKind

logger = logging.getLogger(__name__)

router = APIRouter(tags=["system"], responses=common_responses())

_STAFF = (TokenRole.ADMIN, TokenRole.REVIEWER)
_DEGRADED_SERVICE_STATES = frozenset({"degraded", "down", "error", "stopped"})
# Keys of /health records whose text only staff see (a number under such a key is a count).
_ERROR_WORDS = ("error", "exception", "traceback", "detail", "message")
_WORD = re.compile(r"[a-z_]{1,32}")


def _service_health(context: AppContext) -> dict[str, Any] | None:
    """The ticket service's health record; a failing callback is reported, not raised."""
    if context.service_health is None:
        return None
    try:
        record = context.service_health()
    except Exception as exc:  # a broken callback must not break /health itself
        logger.exception("service_health callback failed")
        return {"status": "error", "error": type(exc).__name__}
    return dict(record) if isinstance(record, dict) else {"status": "error", "error": "not a dict"}


def _retention_status(context: AppContext) -> dict[str, Any] | None:
    """The evidence retention's status; a failing callback is reported, not raised."""
    if context.retention_status is None:
        return None
    try:
        return dict(context.retention_status())
    except Exception as exc:  # a broken callback must not break /health itself
        logger.exception("retention_status callback failed")
        return {"status_error": type(exc).__name__}


def _camera_states(context: AppContext) -> tuple[dict[str, dict[str, Any]], RedisState]:
    enabled = [cid for cid, camera in context.config.cameras.items() if camera.enabled]
    disabled = [cid for cid, camera in context.config.cameras.items() if not camera.enabled]
    records, redis_state = context.status.read(enabled)
    return merge_disabled(records, disabled), redis_state


def _optional_principal(request: Request) -> Principal | None:
    try:
        return authenticate(request)
    except AuthError:
        return None


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Health of Redis, every camera and the ticket service (no token needed)",
)
def health(request: Request, context: Ctx) -> dict[str, Any]:
    cameras, redis_state = _camera_states(context)
    reasons: list[str] = []
    if redis_state.state != "up":
        reasons.append(f"redis is {redis_state.state.replace('_', ' ')}")
    for camera_id, record in sorted(cameras.items()):
        if record["state"] not in ("streaming", "disabled"):
            reasons.append(f"camera {camera_id} is {record['state']}")
    service = _service_health(context)
    if service is not None and str(service.get("status", "ok")) in _DEGRADED_SERVICE_STATES:
        reasons.append(f"ticket service is {service['status']}")
    elif service is not None and service.get("healthy") is False:
        reasons.append("ticket service is unhealthy")
    caller = _optional_principal(request)
    retention = _retention_status(context)
    retention_info = None
    if retention is not None:
        staff = caller is not None and caller.is_staff
        retention_info, retention_reasons = health_record(retention, staff=staff)
        reasons += retention_reasons
    # Error text (a camera's last error, Redis's, the ticket service's dead-letter reason or
    # database error) may name hosts, paths or SQL: staff (admin, reviewer) only.
    is_staff = caller is not None and caller.is_staff
    return {
        "status": "degraded" if reasons else "ok",
        "cameras": {
            camera_id: _redacted(record) if is_staff else _without_error_text(record)
            for camera_id, record in cameras.items()
        },
        "redis": _redacted(redis_state.to_dict()) if is_staff else {"state": redis_state.state},
        "reasons": reasons,
        "service": _service_shown(service, staff=is_staff),
        "retention": retention_info,
    }


def _service_shown(service: dict[str, Any] | None, *, staff: bool) -> dict[str, Any] | None:
    if service is None:
        return None
    return _redacted(service) if staff else _states(service)


def _is_error_key(key: str) -> bool:
    return any(word in key.lower() for word in _ERROR_WORDS)


def _is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float)


def _without_error_text(record: dict[str, Any]) -> dict[str, Any]:
    """A camera record without its error text (``last_error`` and the like; counts stay)."""
    return {k: v for k, v in record.items() if not _is_error_key(k) or _is_number(v)}


def _states(record: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a free-form health record (the ticket service's): numbers and
    flags, and one-word ``status``/``state`` values; no other text at all, so no dead-letter
    reason, SQL, host or path, whatever fields the record gains later."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = _states(value)
        elif _is_number(value) or value is None or _is_state_word(key, value):
            out[key] = value
    return out


def _is_state_word(key: str, value: Any) -> bool:
    return key in ("status", "state") and isinstance(value, str) and bool(_WORD.fullmatch(value))


def _redacted(value: Any) -> Any:
    """``value`` with every string passed through :func:`redact_text`: staff see error text,
    never a credential in it."""
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return redact_text(value) if isinstance(value, str) else value


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin or reviewer)",
    response_model=None,
    responses={
        200: {
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format 0.0.4.",
        },
        403: {"model": ErrorResponse},
    },
)
def get_metrics(context: Ctx, caller: Caller) -> PlainTextResponse:
    require_role(caller, _STAFF, "/metrics")
    cameras, redis_state = _camera_states(context)
    snapshot = metrics.ApiSnapshot(
        cameras=cameras,
        redis_up=redis_state.state == "up",
        tickets_by_status=context.store.counts_by_status(),
        ticket_statuses=TICKET_STATUSES,
        service=_service_health(context),
        retention=_retention_status(context),
    )
    return PlainTextResponse(metrics.render(snapshot.families()), media_type=metrics.CONTENT_TYPE)


@router.get(
    "/stats",
    summary="Ticket statistics (counts by status, kind, level; overdue; rates)",
)
def get_stats(context: Ctx, caller: Caller) -> dict[str, Any]:
    stats = dict(context.store.stats(cameras=caller.cameras, public=caller.is_public))
    stats["by_camera_kind"] = _camera_kind_counts(context, caller)
    return stats


def _camera_kind_counts(context: AppContext, caller: Principal) -> dict[str, dict[str, int]]:
    """Tickets per camera and kind (the dashboard's heat table), as the caller may see them."""
    counts: dict[str, dict[str, int]] = {}
    for camera_id in sorted(context.config.cameras):
        if caller.cameras is not None and camera_id not in caller.cameras:
            continue
        row: dict[str, int] = {}
        for kind in HazardKind:
            _, total = context.store.list_tickets(
                camera=camera_id,
                kind=kind.value,
                category=CATEGORY_HAZARD,
                cameras=caller.cameras,
                public=caller.is_public,
                limit=0,
            )
            row[kind.value] = total
        counts[camera_id] = row
    return counts
