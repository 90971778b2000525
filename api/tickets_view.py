"""Who may see which ticket, and a ticket as the API returns it to a given caller.

The rules of ARCHITECTURE.md §6 and §12 (分级权限): admin and reviewer see every ticket;
a grid_worker only those of its cameras; the public only closed ones, through the store's public
view (blurred media only, masked actors, no camera sources). A ticket a caller may not see is
answered exactly like one that does not exist (404), so ids do not leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from api.auth import Principal
from api.entries import public_clip_available
from api.workflow import TicketStatus

if TYPE_CHECKING:
    from api.store import TicketView

TICKET_STATUSES: tuple[str, ...] = tuple(status.value for status in TicketStatus)


def can_see(principal: Principal, ticket: TicketView) -> bool:
    """Whether ``principal`` may see ``ticket`` at all."""
    if principal.is_public:
        return str(ticket.status) == TicketStatus.CLOSED.value
    return principal.sees_camera(ticket.camera_id)


def evidence_value(ticket: TicketView, key: str) -> str | None:
    """One entry of the ticket's evidence (a path or a digest), ``None`` when absent."""
    evidence: Any = ticket.evidence
    value = evidence.get(key) if isinstance(evidence, dict) else getattr(evidence, key, None)
    return str(value) if value else None


def ticket_json(ticket: TicketView, principal: Principal) -> dict[str, Any]:
    """The ticket for ``principal``: the store's view (its public view for the public) plus
    the links of its media and actions; ``allowed_transitions`` lists what *this* caller may
    do."""
    data: dict[str, Any] = ticket.to_dict(public=principal.is_public)
    base = f"/tickets/{quote(ticket.id, safe='')}"
    links = {"self": base}
    if principal.is_public:
        if public_clip_available(ticket.evidence):  # made on first request (api.public_copy)
            links["clip"] = f"{base}/clip.mp4"
        if evidence_value(ticket, "snapshot_public"):
            links["snapshot"] = f"{base}/snapshot.jpg"
    else:
        # Only the moves this caller may make (its role, and not the recheck or close of a
        # ticket it rectified): the review page shows one button per entry.
        data["allowed_transitions"] = ticket.allowed_for(principal.role, principal.name)
        links["transition"] = f"{base}/transition"
        if evidence_value(ticket, "clip"):
            links["clip"] = f"{base}/clip.mp4"
        if evidence_value(ticket, "snapshot"):
            links["snapshot"] = f"{base}/snapshot.jpg"
        if evidence_value(ticket, "after_snapshot"):
            links["after_snapshot"] = f"{base}/snapshot.jpg?after=1"
    data["links"] = links
    return data
