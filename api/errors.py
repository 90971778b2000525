"""Exceptions of the ticket store, the workflow and the ticket service.

Everything raised on purpose by :mod:`api` derives from :class:`ApiError`, so the HTTP layer can
map each kind to a status code (``TicketNotFound`` 404, ``InvalidTransition`` 409,
``TransitionForbidden`` 403, ``InvalidQuery`` 400/422) and never answers a 500 for bad input.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.auth import Forbidden


class ApiError(Exception):
    """Base of the exceptions of the ``api`` package."""


class TicketError(ApiError):
    """A request about a ticket that cannot be carried out."""


class TicketNotFound(TicketError, LookupError):
    """No ticket has this id (or code)."""

    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id
        shown = ticket_id if len(ticket_id) <= 80 else ticket_id[:77] + "..."
        super().__init__(f"no ticket with id or code {shown!r}")


class InvalidTransition(TicketError):
    """A status change the workflow does not allow from the ticket's current status.

    Attributes:
        current: the ticket's status.
        to: the status asked for.
        allowed: the statuses reachable from ``current`` (empty for a final status).
    """

    def __init__(self, current: str, to: str, allowed: Sequence[str]) -> None:
        self.current = current
        self.to = to
        self.allowed = list(allowed)
        super().__init__(self._message())

    def _message(self) -> str:
        targets = ", ".join(self.allowed) if self.allowed else "none"
        return f"a '{self.current}' ticket cannot move to '{self.to}'; allowed: {targets}"


class UnknownStatus(InvalidTransition, ValueError):
    """The target of a transition is not a ticket status at all."""

    def _message(self) -> str:
        targets = ", ".join(self.allowed) if self.allowed else "none"
        return (
            f"'{self.to}' is not a ticket status; a '{self.current}' ticket may move to: {targets}"
        )


class OpenTicketExists(InvalidTransition):
    """Reopening would make a second open ticket for the same camera, zone and hazard kind."""

    def __init__(self, current: str, to: str, other_code: str) -> None:
        self.other_code = other_code
        super().__init__(current, to, [])

    def _message(self) -> str:
        return (
            f"cannot move this '{self.current}' ticket to '{self.to}': ticket {self.other_code} "
            "is already open for the same camera, zone and hazard; work on that one"
        )


class TransitionForbidden(TicketError, Forbidden):
    """The workflow allows the change, but not for this caller (answered 403).

    Either the caller's role may not make it (cancelling and rechecking are the office's call),
    or the caller rectified the ticket and so may not also recheck or close it (separation of
    duties). The message names the role, the roles that may, or the rule. It is an
    :class:`api.auth.Forbidden`, so the app answers it like any other refusal of a role.

    Attributes:
        current: the ticket's status.
        to: the status asked for.
        role: the caller's role (None for a trusted internal caller).
        allowed_roles: the roles that may make this change.
    """

    def __init__(
        self,
        current: str,
        to: str,
        message: str,
        *,
        role: str | None,
        allowed_roles: Sequence[str],
    ) -> None:
        self.current = current
        self.to = to
        self.role = role
        self.allowed_roles = list(allowed_roles)
        super().__init__(message)


class InvalidQuery(ApiError, ValueError):
    """A listing filter or paging value that is out of range or unknown."""


class InvalidEntry(ApiError, ValueError):
    """A stream entry (hazard event or zone status) that cannot be applied as it is.

    The ticket service moves such entries to the dead-letter stream instead of retrying them.
    """


class StoreError(ApiError):
    """The ticket database cannot be opened or used (bad URL, missing driver)."""


class ServiceError(ApiError):
    """The ticket service was given settings it cannot run with."""
