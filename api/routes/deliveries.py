"""``/tickets/{id}/deliveries``: who was told of a ticket's changes, and how each try went.

Staff only (admin, reviewer, and the grid worker of the ticket's camera): the log names the
office's channels and their errors, nothing a resident needs. The role is judged before the
ticket, so the public gets 403 whatever the ticket. Nothing secret is in the log: channel names,
not URLs; errors are redacted by the channel before they are stored (:mod:`api.channels`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.auth import Principal, require_role
from api.context import Caller, Ctx
from api.deliveries import DeliveryStore
from api.routes.tickets import TicketId, visible_ticket
from api.schemas import ErrorResponse, common_responses
from api.workflow import FIELD_ROLES

router = APIRouter(tags=["tickets"], responses=common_responses())

_ROLES = tuple(sorted(FIELD_ROLES))
_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Residents do not see deliveries."},
    404: {"model": ErrorResponse, "description": "No such ticket (or not visible)."},
}


def staff(caller: Caller) -> Principal:
    """The caller, if staff (admin, reviewer, grid worker); else 403."""
    require_role(caller, _ROLES, "reading a ticket's notification deliveries")
    return caller


Staff = Annotated[Principal, Depends(staff)]


@router.get(
    "/tickets/{ticket_id}/deliveries",
    summary="The ticket's notification deliveries, each with its attempts",
    responses=_RESPONSES,
)
def get_deliveries(context: Ctx, caller: Staff, ticket_id: TicketId) -> dict[str, Any]:
    ticket = visible_ticket(context, caller, ticket_id)
    deliveries = DeliveryStore(context.store).for_ticket(ticket.id)
    return {"ticket_id": ticket.id, "code": ticket.code, "deliveries": deliveries}
