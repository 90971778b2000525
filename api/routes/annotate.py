"""``/tickets/{id}/annotations`` and ``/tickets/{id}/frames/{t_ms}.jpg``: reviewers' boxes.

Only the office (``reviewer``, ``admin``) annotates: the boxes become training data, and a
grid worker's or the public's view of a ticket is narrower. The role is a dependency, so a
caller without it learns 403 before anything about its request body (422).

A PUT replaces the ticket's whole set of annotated frames. Each frame's picture is read from
the ticket's verified evidence here (:mod:`api.annotation_files`), its SHA-256 stored with the
boxes, a clip time snapped to the frame shown then; the set goes to the ticket store and to the
``annotations.json`` sidecar beside the evidence.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import JSONResponse, Response

from api.annotation_files import FrameUnavailable, frame_image, sidecar_path, write_sidecar
from api.auth import Principal, require_role
from api.context import AppContext, Caller, Ctx
from api.errors import TicketNotFound
from api.routes.tickets import TicketId, visible_ticket
from api.schemas import AnnotationsUpdate, ErrorResponse, FrameAnnotationIn, common_responses
from api.store import TicketView
from api.workflow import OFFICE_ROLES
from pipelines.evidence_layout import EvidenceError
from vision.annotations import (
    ANNOTATION_CLASSES,
    MAX_CLIP_T_MS,
    AnnotationBox,
    AnnotationError,
    FrameAnnotation,
    FrameRef,
    FrameSource,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["annotations"], responses=common_responses())

_ROLES = tuple(sorted(OFFICE_ROLES))
_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Only a reviewer or an admin annotates."},
    404: {"model": ErrorResponse, "description": "No such ticket (or not visible)."},
}


def annotator(caller: Caller) -> Principal:
    """The caller, if its role may annotate (reviewer, admin); else 403."""
    require_role(caller, _ROLES, "annotating a ticket's frames")
    return caller


Annotator = Annotated[Principal, Depends(annotator)]


def _relative(context: AppContext, ticket: TicketView) -> str | None:
    path = sidecar_path(context.data_dir, ticket)
    if path is None:
        return None
    try:
        return str(path.relative_to(context.data_dir))
    except ValueError:
        return str(path)


def _answer(
    context: AppContext, ticket: TicketView, frames: list[FrameAnnotation]
) -> dict[str, Any]:
    evidence = ticket.evidence
    return {
        "ticket_id": ticket.id,
        "code": ticket.code,
        "camera_id": ticket.camera_id,
        "status": ticket.status,
        "classes": list(ANNOTATION_CLASSES),
        "has_snapshot": bool(evidence.get("snapshot")),
        "has_clip": bool(evidence.get("clip")),
        "frames": [frame.to_json() for frame in frames],
        "sidecar": _relative(context, ticket),
    }


@router.get(
    "/tickets/{ticket_id}/annotations",
    summary="The reviewers' boxes on the ticket's frames",
    responses=_RESPONSES,
)
def get_annotations(context: Ctx, caller: Annotator, ticket_id: TicketId) -> dict[str, Any]:
    ticket = visible_ticket(context, caller, ticket_id)
    try:
        frames = context.store.annotations(ticket.id)
    except TicketNotFound as exc:  # deleted between the two calls
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return _answer(context, ticket, frames)


def _unprocessable(loc: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"{loc}: {message}", "errors": [{"loc": loc, "msg": message}]},
        status_code=422,
    )


class _Refused(Exception):
    """A frame of the request that breaks the annotation rules (answered 422 at ``loc``)."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _boxes(item: FrameAnnotationIn, where: str) -> tuple[AnnotationBox, ...]:
    boxes = []
    for index, box in enumerate(item.boxes):
        try:
            x1, y1, x2, y2 = box.xyxy
            boxes.append(AnnotationBox(box.cls, (x1, y1, x2, y2)))
        except AnnotationError as exc:
            raise _Refused(f"{where}.boxes.{index}", str(exc)) from None
    return tuple(boxes)


def _annotation(
    context: AppContext,
    ticket: TicketView,
    item: FrameAnnotationIn,
    where: str,
    author: str,
    now: datetime,
) -> FrameAnnotation:
    """One frame of the request as stored: the rules of :mod:`vision.annotations` applied, and
    its picture's digest read from the ticket's evidence (a clip time snapped to its frame)."""
    try:
        ref = FrameRef(FrameSource(item.frame.source), item.frame.t_ms)
    except AnnotationError as exc:
        raise _Refused(f"{where}.frame", str(exc)) from None
    boxes = _boxes(item, where)
    try:
        image = frame_image(context.data_dir, context.digests, context.frames, ticket, ref)
    except FrameUnavailable as exc:
        raise _Refused(f"{where}.frame", str(exc)) from None
    try:
        return FrameAnnotation(
            frame=image.frame,
            image_sha256=image.sha256,
            boxes=boxes,
            negative=item.negative,
            author=author,
            at=now,
        )
    except AnnotationError as exc:
        raise _Refused(where, str(exc)) from None


@router.put(
    "/tickets/{ticket_id}/annotations",
    summary="Replace the reviewers' boxes on the ticket's frames",
    responses=_RESPONSES,
)
def put_annotations(
    context: Ctx, caller: Annotator, ticket_id: TicketId, body: AnnotationsUpdate
) -> Any:
    ticket = visible_ticket(context, caller, ticket_id)
    now = datetime.now(UTC)
    frames: list[FrameAnnotation] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(body.frames):
        where = f"body.frames.{index}"
        try:
            frame = _annotation(context, ticket, item, where, caller.name, now)
        except _Refused as exc:
            return _unprocessable(exc.loc, str(exc))
        if frame.frame.key in seen:
            return _unprocessable(
                f"{where}.frame",
                f"the same frame ({frame.frame.key}) as frames.{seen[frame.frame.key]}: "
                "annotate each frame once",
            )
        seen[frame.frame.key] = index
        frames.append(frame)
    try:
        stored = context.store.replace_annotations(ticket.id, frames)
    except TicketNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    answer = _answer(context, ticket, stored)
    try:
        write_sidecar(context.data_dir, ticket, stored, now)
    except EvidenceError as exc:  # stored in the database; the next save writes it again
        logger.warning("ticket %s: annotations saved, but not their sidecar: %s", ticket.id, exc)
        answer["sidecar_error"] = str(exc)
    return answer


@router.get(
    "/tickets/{ticket_id}/frames/{t_ms}.jpg",
    summary="The clip frame shown t_ms after the clip's first frame, as JPEG (reviewers)",
    response_class=Response,
    responses={
        **_RESPONSES,
        200: {
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The frame; X-Frame-Time-Ms says the time of the frame itself.",
        },
    },
)
def get_frame(
    context: Ctx,
    caller: Annotator,
    ticket_id: TicketId,
    t_ms: Annotated[int, Path(ge=0, le=MAX_CLIP_T_MS, description="Milliseconds into the clip.")],
) -> Response:
    ticket = visible_ticket(context, caller, ticket_id)
    try:
        image = frame_image(
            context.data_dir,
            context.digests,
            context.frames,
            ticket,
            FrameRef(FrameSource.CLIP, t_ms),
        )
    except FrameUnavailable as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return Response(
        image.jpeg,
        media_type="image/jpeg",
        headers={
            "X-Frame-Time-Ms": str(image.frame.t_ms),
            "ETag": f'"{image.sha256}"',
            "Cache-Control": "private, max-age=300",
        },
    )
