"""What every request handler needs: the app's shared state and the caller's identity.

:class:`AppContext` is built once by :func:`api.app.create_app` and kept on ``app.state``; the
dependencies here fetch it and authenticate the request (bearer header, else session cookie).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from api.auth import (
    CSRF_HEADER,
    SESSION_COOKIE,
    Forbidden,
    Principal,
    SessionSigner,
    TokenRegistry,
    Unauthenticated,
    bearer_token,
)
from api.evidence_files import DigestCache
from api.public_copy import PublicClips
from api.status import StatusReader
from pipelines.clip_frames import FrameCache
from pipelines.config import HazardwatchConfig

if TYPE_CHECKING:
    from api.store import TicketStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AppContext:
    """Shared, read-only state of one app (the store and Redis client are thread-safe)."""

    config: HazardwatchConfig
    store: TicketStore
    data_dir: Path
    registry: TokenRegistry
    signer: SessionSigner
    status: StatusReader
    service_health: Callable[[], dict[str, Any]] | None
    digests: DigestCache = field(default_factory=DigestCache)  # evidence checked before serving
    retention_status: Callable[[], dict[str, Any]] | None = None  # api.retention's status
    frames: FrameCache = field(default_factory=FrameCache)  # clip frames for the review page
    public_clips: PublicClips = field(default_factory=PublicClips)  # made on first request


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.hazardwatch
    return context


def authenticate(request: Request) -> Principal:
    """The caller: a bearer token wins; else a valid session cookie.

    Raises:
        Unauthenticated: no credentials, an unknown token, or an expired/forged session.
        Forbidden: a write authenticated only by the cookie without the CSRF header.
    """
    context = get_context(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        principal = context.registry.authenticate(token)
        if principal is None:
            raise Unauthenticated("the bearer token is not valid")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = context.signer.verify(cookie)
        if principal is None:
            raise Unauthenticated("the session has expired or is no longer valid: log in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise Forbidden(
                "a change made with the session cookie must send the header 'X-Hazardwatch: 1'"
            )
        return principal
    raise Unauthenticated("this endpoint needs the header 'Authorization: Bearer <token>'")


Ctx = Annotated[AppContext, Depends(get_context)]
Caller = Annotated[Principal, Depends(authenticate)]


def _query_names(dependant: Any) -> set[str]:
    names = {getattr(field, "alias", None) or field.name for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _depends_on(dependant: Any, call: Callable[..., Any]) -> bool:
    if getattr(dependant, "call", None) is call:
        return True
    return any(_depends_on(sub, call) for sub in getattr(dependant, "dependencies", ()))


def needs_authentication(route: Any) -> bool:
    """Whether a route takes the caller (:data:`Caller`), i.e. answers only with a token."""
    dependant = getattr(route, "dependant", None)
    return dependant is not None and _depends_on(dependant, authenticate)


def reject_unknown_query(request: Request) -> None:
    """Refuse query parameters the route does not take (``?staus=closed`` would otherwise
    quietly list every ticket).

    A route that needs a token authenticates first: a caller without one gets 401, not a list
    of the parameters the route takes.

    Raises:
        Unauthenticated, Forbidden: as :func:`authenticate`, for routes that need a caller.
        UnknownQueryParameter: naming the unknown parameters and the known ones.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        if needs_authentication(route):
            authenticate(request)
        raise UnknownQueryParameter(unknown, sorted(known))


class UnknownQueryParameter(Exception):
    """A query parameter the route does not take (answered 422)."""

    def __init__(self, unknown: list[str], known: list[str]) -> None:
        self.unknown = unknown
        self.known = known
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        allowed = ", ".join(known) if known else "none"
        super().__init__(f"unknown query parameter {shown} (this endpoint takes: {allowed})")
