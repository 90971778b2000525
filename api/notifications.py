"""Notifications of ticket changes: which changes are announced, and what the message says.

The ticket store writes a notification into its outbox (``notification_outbox``) in the same
transaction as the change it announces, and the ticket service moves the outbox to the Redis
stream ``hazardwatch:notifications``. Why an outbox and not a queue in the service's memory: a
service killed between its commit and the send (several ``serve`` replicas share the work, and
any of them may die) would lose the message for good, since the replica that takes the entry
over finds the change already applied and has nothing to announce. From the outbox any replica
sends it; a crash between the send and the delete sends it twice at worst.

Types: ``urgent_ticket`` (a new orange or red ticket), ``created`` (a new blue or yellow one:
for the channels that want every new ticket, :mod:`api.channels`; the stream does not carry
it), ``escalated`` (a step overdue), ``level_raised`` (a hazard lasting long), ``reopened``,
``rechecked``, ``hotspot`` (a new hotspot ticket: repeated hazards at one place, api.hotspots).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from api.settings.levels import RiskLevel

if TYPE_CHECKING:
    from api.store import TicketView

__all__ = ["URGENT_LEVELS", "event_notification_kind", "notification"]

URGENT_LEVELS = (RiskLevel.ORANGE.value, RiskLevel.RED.value)
_ANNOUNCED_AFTER_EVENT = ("reopened", "level_raised")


def _headline(view: TicketView) -> Mapping[str, Any]:
    """The history entry a change is about: the last one, but for the ``assigned`` entry that
    dispatch adds right after ``created`` (assigning is part of making the ticket; announced
    by itself, a new ticket of a dispatched camera was never announced as new)."""
    for entry in reversed(view.history):
        if entry.get("action") != "assigned":
            return entry
    return {}


def event_notification_kind(view: TicketView, *, created: bool = False) -> str | None:
    """What a hazard event's change to ``view`` announces: a new ticket (urgent or not), a
    reopening, a raised level; None for anything else.

    ``created``: the event made the ticket. Its history may then end with more than
    ``created``: a ticket first seen in a hazard's ``end`` (its start late, or applied by
    another replica after it) also records ``hazard_ended``, and was never announced.
    """
    last = _headline(view).get("action")
    if created or last == "created":
        return "urgent_ticket" if view.level in URGENT_LEVELS else "created"
    if last in _ANNOUNCED_AFTER_EVENT:
        return str(last)
    return None


def notification(kind: str, view: TicketView, at: datetime) -> dict[str, Any]:
    """The JSON message of a ``kind`` change of ``view`` (the stream's ``notification`` field)."""
    last = _headline(view)
    return {
        "type": kind,
        "ticket_id": view.id,
        "code": view.code,
        "kind": view.kind,
        "status": view.status,
        "level": view.level,
        "camera_id": view.camera_id,
        "zone": view.zone,
        "category": getattr(view, "category", "hazard"),  # the previous release's view: none
        "deadline_at": None if view.deadline_at is None else view.deadline_at.isoformat(),
        "escalations": view.escalations,
        "note": last.get("note"),
        "level_from": last.get("level_from"),
        "level_to": last.get("level_to"),
        "responsible_unit": _name_of(getattr(view, "responsible_unit", None)),
        "responsible_person": _name_of(getattr(view, "responsible_person", None)),
        "at": at.isoformat(),
    }


def _name_of(contact: Any) -> str | None:
    """The name of a responsible unit or person (api.dispatch): the channels are the office's
    own, so the name is told, but not the contact details."""
    if isinstance(contact, Mapping) and contact.get("name"):
        return str(contact["name"])
    return None
