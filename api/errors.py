"""Exceptions of the ticket store, the workflow and the ticket service.

Everything raised on purpose by :mod:`api` derives from :class:`ApiError`, so the HTTP layer can
map each kind to a status code (``TicketNotFound`` 404, ``InvalidTransition`` 409,
``TransitionForbidden`` 403, ``InvalidQuery`` 400/422) and never answers a 500 for bad input.
:func:`is_database_unavailable` tells, among the database's own errors, an outage (busy, locked,
unreachable: answered 503) from a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.auth import Forbidden

# SQLite primary result codes (the low byte of the extended code) that say the database cannot
# be used now, not that a statement is wrong: BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 10, 13, 14, 15})
# PostgreSQL SQLSTATEs that say the same: connection exception (08), transaction rollback
# (40: serialization failure, deadlock), insufficient resources (53), lock not available (55P03),
# operator intervention (57P: shutting down, cannot connect now).
_POSTGRES_UNAVAILABLE = ("08", "40", "53", "55P03", "57P")


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


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the ticket database is busy or unreachable, not that code is wrong.

    True for: no pooled connection came free in time; a lost connection (SQLAlchemy invalidated
    it); an ``OperationalError`` or ``InterfaceError`` of SQLite with a busy, locked, I/O, disk
    full or cannot-open code; of PostgreSQL with no server answer (connection refused or lost)
    or one of the SQLSTATEs above (a lock wait cut by ``lock_timeout`` included). False for
    everything else, integrity errors and SQLite's errors about the SQL itself ("no such
    table" is an ``OperationalError`` too) among them: those are bugs or conflicts.
    """
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.orig
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in _SQLITE_UNAVAILABLE
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(_POSTGRES_UNAVAILABLE)
