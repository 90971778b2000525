"""``/tickets``: list, read, move through the workflow, and fetch the evidence media."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from api.annotation_files import refresh_sidecar
from api.auth import Principal, require_role
from api.context import AppContext, Caller, Ctx
from api.entries import public_clip_available
from api.errors import InvalidTransition, TicketNotFound, UnknownStatus
from api.evidence_files import open_verified, resolve_evidence
from api.media import MediaNotFound, handle_response
from api.public_copy import PublicClipError
from api.schemas import (
    CAMERA_ID_PATTERN,
    TICKET_ID_PATTERN,
    ConflictResponse,
    ErrorResponse,
    TicketList,
    TransitionRequest,
    common_responses,
    media_responses,
)
from api.settings.roles import TokenRole
from api.store import TicketView
from api.tickets_view import can_see, evidence_value, ticket_json
from api.workflow import TicketStatus
from pipelines.evidence_layout import EvidenceError
from vision.types import HazardKind

logger = logging.getLogger(__name__)

router = APIRouter(tags=["tickets"], responses=common_responses())

TicketId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=TICKET_ID_PATTERN,
        description="Ticket id or code.",
    ),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such ticket (or not visible)."}
}
_WRITERS = (TokenRole.ADMIN, TokenRole.REVIEWER, TokenRole.GRID_WORKER)


def visible_ticket(context: AppContext, caller: Principal, ticket_id: str) -> TicketView:
    """The ticket if it exists and ``caller`` may see it; else 404, the same for both cases."""
    ticket = context.store.get_ticket(ticket_id)
    if ticket is None or not can_see(caller, ticket):
        raise HTTPException(status_code=404, detail=str(TicketNotFound(ticket_id)))
    return ticket


def _since_error(value: str, message: str) -> RequestValidationError:
    shown = value if len(value) <= 40 else value[:37] + "..."
    return RequestValidationError(
        [{"type": "datetime_parsing", "loc": ("query", "since"), "msg": message, "input": shown}]
    )


def parse_since(value: str) -> datetime:
    """An ISO-8601 time (``Z`` or an offset; none means UTC), in UTC; 422 for anything else.

    Only ISO-8601 is taken: a bare number would otherwise be read as a Unix time. A time that
    exists in its own offset but not in UTC (``9999-12-31T23:59:59-12:00``) is refused here,
    where the message can name ``since``, not left to overflow in the database driver.
    """
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _since_error(
            value, "expected an ISO-8601 time such as 2026-11-20T08:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise _since_error(
            value, "the time is out of range once converted to UTC (years 1 to 9999)"
        ) from None


@router.get("/tickets", response_model=TicketList, summary="Tickets, newest first")
def list_tickets(
    context: Ctx,
    caller: Caller,
    status: Annotated[TicketStatus | None, Query(description="Only this status.")] = None,
    kind: Annotated[HazardKind | None, Query(description="Only this hazard kind.")] = None,
    camera: Annotated[
        str | None, Query(pattern=CAMERA_ID_PATTERN, description="Only this camera id.")
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Only tickets created at or after this ISO-8601 time (UTC if no offset).",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9, description="Tickets to skip.")] = 0,
    category: Annotated[
        Literal["hazard", "hotspot"] | None,
        Query(
            description="Only hazard tickets, or only hotspot tickets (隐患热点); both if absent."
        ),
    ] = None,
) -> dict[str, Any]:
    items, total = context.store.list_tickets(
        status=None if status is None else status.value,
        kind=None if kind is None else kind.value,
        camera=camera,
        since=None if since is None else parse_since(since),
        cameras=caller.cameras,
        public=caller.is_public,
        limit=limit,
        offset=offset,
        category=category,
    )
    return {
        "items": [ticket_json(ticket, caller) for ticket in items],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/tickets/{ticket_id}", summary="One ticket", responses=_NOT_FOUND)
def get_ticket(context: Ctx, caller: Caller, ticket_id: TicketId) -> dict[str, Any]:
    return ticket_json(visible_ticket(context, caller, ticket_id), caller)


@router.post(
    "/tickets/{ticket_id}/transition",
    summary="Move a ticket to another status",
    responses={
        **_NOT_FOUND,
        403: {
            "model": ErrorResponse,
            "description": "The role may not make this move, or the caller rectified the "
            "ticket and may not also recheck or close it.",
        },
        409: {"model": ConflictResponse, "description": "Not allowed from the current status."},
    },
)
def transition(context: Ctx, caller: Caller, ticket_id: TicketId, body: TransitionRequest) -> Any:
    require_role(caller, _WRITERS, "changing a ticket")
    ticket = visible_ticket(context, caller, ticket_id)
    try:
        updated = context.store.transition(
            ticket.id, body.to, actor=caller.name, role=caller.role, note=body.note
        )
    except UnknownStatus as exc:
        return JSONResponse(
            {
                "detail": str(exc),
                "errors": [{"loc": "body.to", "msg": str(exc)}],
                "current": exc.current,
                "allowed": exc.allowed,
            },
            status_code=422,
        )
    except InvalidTransition as exc:
        return JSONResponse(
            {"detail": str(exc), "current": exc.current, "allowed": exc.allowed},
            status_code=409,
        )
    except TicketNotFound as exc:  # deleted between the two calls
        raise HTTPException(status_code=404, detail=str(exc)) from None
    try:  # an annotated ticket's sidecar records its status (api.annotation_files)
        refresh_sidecar(context.data_dir, context.store, updated)
    except EvidenceError as exc:
        logger.warning(
            "ticket %s: moved, but its annotations sidecar not updated: %s", ticket.id, exc
        )
    return ticket_json(updated, caller)


def _serve_evidence(
    request: Request,
    context: AppContext,
    ticket: TicketView,
    key: str,
    media_type: str,
    what: str,
) -> Response:
    """Serve one evidence file of ``ticket`` if it is in the ticket camera's evidence folder, a
    regular file, and its SHA-256 is the one recorded (:mod:`api.evidence_files`); else 404
    and a warning naming the ticket, the file and why."""
    stored = evidence_value(ticket, key)
    if stored is None:
        error = evidence_value(ticket, "error")
        reason = f" (evidence error: {error})" if error else ""
        raise HTTPException(status_code=404, detail=f"ticket '{ticket.id}' has no {what}{reason}")
    expected = evidence_value(ticket, f"{key}_sha256")
    try:
        path = resolve_evidence(context.data_dir, ticket.camera_id, stored)
        handle = open_verified(path, expected, context.digests)
    except MediaNotFound as exc:
        logger.warning(
            "ticket %s (camera %s): not serving its %s %r: %s",
            ticket.id,
            ticket.camera_id,
            key,
            stored[:200],
            exc,
        )
        raise HTTPException(
            status_code=404, detail=f"the {what} of ticket '{ticket.id}' is not available: {exc}"
        ) from None
    suffix = ".mp4" if media_type == "video/mp4" else ".jpg"
    return handle_response(
        request,
        handle,
        media_type,
        etag=expected,
        filename=f"{ticket.code or ticket.id}-{key}{suffix}",
    )


@router.get(
    "/tickets/{ticket_id}/clip.mp4",
    summary="The evidence clip (HTTP Range supported; the public get the blurred copy)",
    response_class=Response,
    responses=media_responses("video/mp4"),
)
@router.head(
    "/tickets/{ticket_id}/clip.mp4",
    summary="The evidence clip (HTTP Range supported; the public get the blurred copy)",
    response_class=Response,
    responses=media_responses("video/mp4"),
    operation_id="get_clip_head",
)
def get_clip(request: Request, context: Ctx, caller: Caller, ticket_id: TicketId) -> Response:
    ticket = visible_ticket(context, caller, ticket_id)
    if not caller.is_public:
        return _serve_evidence(request, context, ticket, "clip", "video/mp4", "clip")
    if public_clip_available(ticket.evidence):
        try:
            ticket = context.public_clips.ensure(context, ticket)
        except PublicClipError as exc:
            logger.warning("ticket %s: no public clip: %s", ticket.id, exc)
            raise HTTPException(
                status_code=404,
                detail=f"the clip of ticket '{ticket.id}' is not available: {exc}",
            ) from None
    return _serve_evidence(request, context, ticket, "clip_public", "video/mp4", "clip")


@router.get(
    "/tickets/{ticket_id}/snapshot.jpg",
    summary="The snapshot (?after=1: the after-rectification picture; public: blurred copy)",
    response_class=Response,
    responses=media_responses("image/jpeg"),
)
@router.head(
    "/tickets/{ticket_id}/snapshot.jpg",
    summary="The snapshot (?after=1: the after-rectification picture; public: blurred copy)",
    response_class=Response,
    responses=media_responses("image/jpeg"),
    operation_id="get_snapshot_head",
)
def get_snapshot(
    request: Request,
    context: Ctx,
    caller: Caller,
    ticket_id: TicketId,
    after: Annotated[bool, Query(description="The 'after' picture of the recheck.")] = False,
) -> Response:
    ticket = visible_ticket(context, caller, ticket_id)
    if after:
        if caller.is_public:  # the after picture is not privacy-blurred
            raise HTTPException(
                status_code=404, detail="the after-snapshot is not published to the public"
            )
        return _serve_evidence(
            request, context, ticket, "after_snapshot", "image/jpeg", "after-snapshot"
        )
    key = "snapshot_public" if caller.is_public else "snapshot"
    return _serve_evidence(request, context, ticket, key, "image/jpeg", "snapshot")
