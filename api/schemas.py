"""Request and response models of the REST API.

Request models reject unknown fields and wrong types (no silent coercion of a number into text),
so a typo in a field name is a 422 naming the field rather than a request that quietly does less
than was meant. Response models document the shapes in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from api.workflow import TicketStatus
from vision.annotations import (
    ANNOTATION_CLASSES,
    MAX_BOXES_PER_FRAME,
    MAX_CLIP_T_MS,
    MAX_FRAMES_PER_TICKET,
)

TICKET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
CAMERA_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_NOTE_CHARS = 2000
TICKET_STATUS_VALUES = tuple(status.value for status in TicketStatus)


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields rejected, strict types, frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TransitionRequest(RequestModel):
    """``POST /tickets/{id}/transition``: move a ticket to another status."""

    to: str = Field(
        min_length=1,
        max_length=32,
        description="Target status; which ones a ticket may move to depends on its status "
        "(its 'allowed_transitions').",
        json_schema_extra={"enum": list(TICKET_STATUS_VALUES)},
    )
    note: str | None = Field(
        default=None, max_length=MAX_NOTE_CHARS, description="Why, for the ticket's history."
    )


class ZonesUpdate(RequestModel):
    """``PUT /cameras/{id}/zones``: the camera's zones, replacing the current ones."""

    zones: dict[str, Any] = Field(
        description="Zones by id: {'polygon': [[x, y], ...]} or {'line': [[x, y], [x, y]], "
        "'inward': [dx, dy]}, normalized 0..1 coordinates (the config's zone schema)."
    )
    floors: dict[str, Any] | None = Field(
        default=None,
        description="The camera's floor lines (the config's floors schema; null: none); "
        "left out: unchanged.",
    )
    hazards: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=64,
        description="The camera's hazards with their parameters (the config's hazards schema); "
        "left out: unchanged.",
    )


# The classes a reviewer may draw; the same tuple as vision.annotations (checked below).
AnnotationClass = Literal["ebike", "vehicle", "person", "clutter", "bicycle"]
if get_args(AnnotationClass) != ANNOTATION_CLASSES:  # pragma: no cover - a drift caught at import
    raise RuntimeError("api.schemas.AnnotationClass differs from vision.annotations")
Fraction01 = Annotated[float, Field(ge=0.0, le=1.0)]


class AnnotationBoxIn(RequestModel):
    """One box: its class and normalised ``[x1, y1, x2, y2]`` (0..1, x1 < x2, y1 < y2).

    The order of the corners is checked by the route (:mod:`api.routes.annotate`), with the
    rules of :mod:`vision.annotations`; the schema says what a schema can.
    """

    cls: AnnotationClass = Field(alias="class", description="Object class.")
    xyxy: list[Fraction01] = Field(
        min_length=4, max_length=4, description="[x1, y1, x2, y2], fractions of the frame."
    )


class FrameRefIn(RequestModel):
    """Which frame: ``{"source": "snapshot"}`` or ``{"source": "clip", "t_ms": 1234}``."""

    source: Literal["snapshot", "clip"]
    t_ms: int | None = Field(
        default=None,
        strict=False,  # JSON Schema's integer includes 1234.0; a fraction is still refused
        ge=0,
        le=MAX_CLIP_T_MS,
        description="Clip frames (required there): milliseconds from the clip's first frame; "
        "snapped to the frame shown then.",
    )


class FrameAnnotationIn(RequestModel):
    """One annotated frame: boxes, or ``negative`` (no hazard object of any class, no boxes)."""

    frame: FrameRefIn
    boxes: list[AnnotationBoxIn] = Field(default_factory=list, max_length=MAX_BOXES_PER_FRAME)
    negative: bool = Field(default=False, description="The frame shows none of the classes.")


class AnnotationsUpdate(RequestModel):
    """``PUT /tickets/{id}/annotations``: every annotated frame of the ticket (replaces all)."""

    frames: list[FrameAnnotationIn] = Field(max_length=MAX_FRAMES_PER_TICKET)


class ErrorResponse(BaseModel):
    """Every 4xx answer has a ``detail`` message."""

    detail: str = Field(description="What is wrong, and where.")


class ValidationErrorItem(BaseModel):
    """One problem of a request."""

    loc: str = Field(description="Where: 'body.to', 'query.limit', 'cameras.x.zones.lane'.")
    msg: str = Field(description="What is wrong.")


class ValidationErrorResponse(ErrorResponse):
    """422: the request is malformed; every problem is listed."""

    errors: list[ValidationErrorItem] = Field(description="Each problem with its location.")


class ConflictResponse(ErrorResponse):
    """409: the transition is not allowed from the ticket's current status."""

    current: str = Field(description="The ticket's current status.")
    allowed: list[str] = Field(description="Statuses the ticket may move to from here.")


class TicketList(BaseModel):
    """``GET /tickets``: one page, newest first, and the total matching the filters."""

    items: list[dict[str, Any]] = Field(description="Tickets of this page.")
    total: int = Field(ge=0, description="Tickets matching the filters, all pages.")
    limit: int = Field(ge=1, description="Page size used.")
    offset: int = Field(ge=0, description="Offset used.")


class HealthResponse(BaseModel):
    """``GET /health``: ok when Redis answers and every enabled camera is streaming."""

    status: str = Field(description="'ok' or 'degraded'.")
    cameras: dict[str, dict[str, Any]] = Field(description="Status per camera id.")
    redis: dict[str, Any] = Field(description="{'state': 'up'|'down'|'not_configured'}.")
    reasons: list[str] = Field(description="Why the status is degraded (empty when ok).")
    service: dict[str, Any] | None = Field(
        default=None, description="The ticket service's own health, when it reports one."
    )
    retention: dict[str, Any] | None = Field(
        default=None,
        description="The last evidence retention run (time, files and bytes deleted, bytes in "
        "use, errors), when the ticket service runs retention.",
    )


def common_responses() -> dict[int | str, dict[str, Any]]:
    """The answers any API route may give, for the OpenAPI schema of every router."""
    return {
        400: {"model": ErrorResponse, "description": "The request body could not be read."},
        401: {"model": ErrorResponse, "description": "No or invalid token."},
        413: {"model": ErrorResponse, "description": "The request body is too large."},
        422: {"model": ValidationErrorResponse, "description": "Malformed request."},
    }


def media_responses(media_type: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI answers of a file route with byte ranges."""
    binary = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    return {
        200: {"content": binary, "description": "The whole file."},
        206: {"content": binary, "description": "The requested byte range."},
        404: {"model": ErrorResponse, "description": "No such file (or not visible)."},
        416: {"model": ErrorResponse, "description": "The byte range cannot be served."},
    }


class ZonesResponse(BaseModel):
    """``GET/PUT /cameras/{id}/zones``."""

    camera_id: str
    zones: dict[str, Any]
    floors: dict[str, Any] | None = Field(default=None, description="Floor lines (facades).")
    hazards: list[dict[str, Any]] = Field(default_factory=list, description="Hazards watched.")
    source: str = Field(description="'override' (edited through the API) or 'config'.")
    updated_at: str | None = None
    by: str | None = None
