"""Dispatch through the API: the mapping (``GET``/``PUT /dispatch``, admin) and reassigning one
ticket (``POST /tickets/{id}/assign``, the office: admin or reviewer). :mod:`api.dispatch` has
the rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import Field

from api.auth import require_role
from api.context import Caller, Ctx
from api.dispatch import (
    ASSIGN_ROLES,
    DispatchBook,
    DispatchEditError,
    validate_dispatch,
    write_dispatch,
)
from api.routes.tickets import TicketId, visible_ticket
from api.schemas import (
    MAX_NOTE_CHARS,
    ErrorResponse,
    RequestModel,
    ValidationErrorResponse,
    common_responses,
)
from api.settings.dispatch import Contact, DispatchConfig
from api.settings.roles import TokenRole
from api.tickets_view import ticket_json

router = APIRouter(
    tags=["dispatch"],
    responses={
        **common_responses(),
        403: {"model": ErrorResponse, "description": "The role may not do this."},
    },
)


class ContactIn(RequestModel):
    """A responsible unit or person."""

    name: str = Field(min_length=1, max_length=100, description="Name shown on the ticket.")
    contact: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Phone, e-mail or chat id (not shown to the public).",
    )


class AssignRequest(RequestModel):
    """``POST /tickets/{id}/assign``: give the ticket another responsible unit and person."""

    unit: ContactIn = Field(description="The responsible unit (责任单位).")
    person: ContactIn | None = Field(
        default=None, description="The responsible person (责任人); null or left out: none."
    )
    reason: str = Field(
        min_length=1, max_length=MAX_NOTE_CHARS, description="Why, for the ticket's history."
    )


_MAPPING_EXAMPLE = {
    "cameras": {
        "north_lane": {
            "unit": {"name": "物业服务中心", "contact": "0571-8888-0000"},
            "person": {"name": "王伟", "contact": "13800000000"},
        },
        "north_lane/gate": {"unit": {"name": "Security office"}},
    },
    "default": {"unit": {"name": "物业服务中心"}},
}


@router.get("/dispatch", summary="Who new tickets go to, by camera and zone (admin)")
def get_dispatch(context: Ctx, caller: Caller) -> dict[str, Any]:
    require_role(caller, (TokenRole.ADMIN,), "reading the dispatch mapping")
    return DispatchBook(context.config, context.data_dir).current().to_dict()


@router.put(
    "/dispatch",
    summary="Replace the dispatch mapping (admin); checked against the cameras and zones like "
    "the config file",
    responses={
        409: {
            "model": ValidationErrorResponse,
            "description": "The mapping names a camera or zone that is not configured, or a key "
            "that is not 'camera' or 'camera/zone': each problem with its config path "
            "(api.dispatch.cameras.KEY).",
        }
    },
)
def put_dispatch(
    context: Ctx,
    caller: Caller,
    body: Annotated[DispatchConfig, Body(examples=[_MAPPING_EXAMPLE])],
) -> Any:
    require_role(caller, (TokenRole.ADMIN,), "editing the dispatch mapping")
    try:
        dispatch = validate_dispatch(context.config, context.data_dir, body.model_dump(mode="json"))
    except DispatchEditError as exc:
        errors = [{"loc": issue.path, "msg": issue.message} for issue in exc.issues]
        first = exc.issues[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return JSONResponse(
            {"detail": f"{first.path}: {first.message}{more}", "errors": errors},
            status_code=409,
        )
    return write_dispatch(context.data_dir, dispatch, by=caller.name).to_dict()


@router.post(
    "/tickets/{ticket_id}/assign",
    tags=["tickets"],
    summary="Reassign a ticket to another responsible unit and person (admin, reviewer)",
    responses={404: {"model": ErrorResponse, "description": "No such ticket (or not visible)."}},
)
def assign_ticket(
    context: Ctx, caller: Caller, ticket_id: TicketId, body: AssignRequest
) -> dict[str, Any]:
    require_role(caller, ASSIGN_ROLES, "reassigning a ticket")
    ticket = visible_ticket(context, caller, ticket_id)
    updated = context.store.reassign(
        ticket.id,
        unit=Contact(name=body.unit.name, contact=body.unit.contact),
        person=None
        if body.person is None
        else Contact(name=body.person.name, contact=body.person.contact),
        actor=caller.name,
        reason=body.reason,
    )
    return ticket_json(updated, caller)
