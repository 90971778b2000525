"""The FastAPI application: :func:`create_app` wires the store, tokens, routes and pages.

Bad input never becomes a 500: request models reject unknown fields and wrong types, query
values are bounded, bodies over the limit are refused before parsing (:mod:`api.limits`), unknown
query parameters are refused, and every error the ticket store raises on purpose maps to its 4xx.
The ticket database being busy (locked by another connection) or unreachable is no bug either:
a request waits at most ``db_wait_s`` for a lock (the ticket service's own writes may wait
longer), then gets 503 with ``Retry-After`` and a detail that names no SQL, host or path; the
server log has a warning naming the route. Anything else is a bug: it is logged with an opaque
id and answered 500 with that id only.

Order of answers: a route that needs a token authenticates before anything about the request is
judged, so a caller without a valid token learns 401 and nothing else (not which parameters a
route takes). Every response carries ``X-Content-Type-Options: nosniff``, and every GET route
answers HEAD too (:mod:`api.headers`).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import AuthError, Forbidden, SessionSigner, TokenRegistry, Unauthenticated
from api.context import (
    AppContext,
    UnknownQueryParameter,
    authenticate,
    needs_authentication,
    reject_unknown_query,
)
from api.errors import InvalidQuery, TicketNotFound, is_database_unavailable
from api.headers import ResponseHeadersMiddleware
from api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware
from api.routes import annotate, cameras, deliveries, dispatch, stats, system, tickets, ui
from api.status import StatusReader
from api.store import lock_wait_limit
from pipelines.config import HazardwatchConfig

if TYPE_CHECKING:
    from api.store import TicketStore

logger = logging.getLogger(__name__)

_MAX_SHOWN_INPUT = 60
DB_WAIT_S = 5.0  # how long a request waits for a database lock before it is answered 503
DB_RETRY_AFTER_S = 5  # the Retry-After of that 503


SESSION_SECRET_ENV = "HAZARDWATCH_SESSION_SECRET"
_MIN_SESSION_SECRET_BYTES = 16


def _session_secret_from(environ: Mapping[str, str]) -> bytes | None:
    """The page sessions' HMAC key shared by every ``serve`` replica of a site, if set.

    Behind one address, a browser's requests reach any replica: with a key of its own in each,
    a session made by one is refused by the others (the user is sent back to the login page).
    """
    text = environ.get(SESSION_SECRET_ENV, "")
    if not text:
        return None
    secret = text.encode()
    if len(secret) < _MIN_SESSION_SECRET_BYTES:
        raise ValueError(
            f"{SESSION_SECRET_ENV} must be at least {_MIN_SESSION_SECRET_BYTES} bytes, got "
            f"{len(secret)} (a long random string, the same for every serve replica of the site)"
        )
    return secret


def create_app(
    config: HazardwatchConfig,
    store: TicketStore,
    *,
    data_dir: Path,
    redis_url: str | None,
    service_health: Callable[[], dict[str, Any]] | None = None,
    retention_status: Callable[[], dict[str, Any]] | None = None,
    session_secret: bytes | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    db_wait_s: float = DB_WAIT_S,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the API and web pages.

    Args:
        config: the validated configuration (cameras, ``api.tokens``).
        store: the ticket store (also where logged-out sessions are kept); the app does not
            close it.
        data_dir: the data directory; media are served only from inside it.
        redis_url: where the pipelines' camera status is read; ``None``: no Redis (degraded).
        service_health: returns the ticket service's health record (shown in ``/health`` and
            as ``hazardwatch_service_*`` metrics).
        retention_status: the evidence retention's status (:class:`api.retention.
            EvidenceRetention`), shown in ``/health`` and as ``hazardwatch_retention_*``.
        session_secret: HMAC key of page sessions (>= 16 bytes). If None, the environment's
            ``HAZARDWATCH_SESSION_SECRET``; without it, random per process, and a page session
            is then valid only in the process that made it (not in another ``serve`` replica).
        max_body_bytes: request bodies larger than this are refused with 413.
        db_wait_s: how long a request waits for a ticket database lock held by another
            connection before it is answered 503 (> 0; the ticket service keeps its own wait).
        environ: where ``HAZARDWATCH_ADMIN_TOKEN`` and ``HAZARDWATCH_SESSION_SECRET`` are read
            (``os.environ`` by default).

    Raises:
        ValueError: ``HAZARDWATCH_SESSION_SECRET`` is shorter than 16 bytes.
    """
    registry = TokenRegistry(config, environ)
    if session_secret is None:
        session_secret = _session_secret_from(os.environ if environ is None else environ)
    if not len(registry):
        logger.warning(
            "no API tokens configured (api.tokens, HAZARDWATCH_ADMIN_TOKEN): only /health works"
        )
    status = StatusReader(redis_url)
    context = AppContext(
        config=config,
        store=store,
        data_dir=Path(data_dir).resolve(),
        registry=registry,
        signer=SessionSigner(registry, session_secret, revocations=store),
        status=status,
        service_health=service_health,
        retention_status=retention_status,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        status.close()

    app = FastAPI(
        title="hazardwatch",
        summary="Community safety hazards from cameras: tickets, evidence, zones.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN: nothing offline
        redoc_url=None,
    )
    app.state.hazardwatch = context
    strict_query = [Depends(reject_unknown_query)]
    app.include_router(system.router, dependencies=strict_query)
    app.include_router(tickets.router, dependencies=strict_query)
    app.include_router(annotate.router, dependencies=strict_query)
    app.include_router(deliveries.router, dependencies=strict_query)
    app.include_router(cameras.router, dependencies=strict_query)
    app.include_router(dispatch.router, dependencies=strict_query)
    app.include_router(stats.router, dependencies=strict_query)
    app.include_router(ui.router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui/review", status_code=303)

    add_head_routes(app)
    declare_bearer_auth(app)
    _add_exception_handlers(app)
    app.add_middleware(LockWaitLimitMiddleware, limit_s=db_wait_s)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)
    app.add_middleware(ResponseHeadersMiddleware)  # outermost: it sees every answer
    return app


class LockWaitLimitMiddleware:
    """Every store call of a request waits at most ``limit_s`` for a database lock.

    The bound is set in the request's context (:func:`api.store.lock_wait_limit`), which
    Starlette copies into the worker thread of each sync route and dependency; the ticket
    service, in its own thread, keeps the store's longer wait.

    Args:
        app: the ASGI app to wrap.
        limit_s: the bound in seconds (> 0).

    Raises:
        ValueError: ``limit_s`` is not positive.
    """

    def __init__(self, app: ASGIApp, *, limit_s: float) -> None:
        if not limit_s > 0:
            raise ValueError(f"db_wait_s must be > 0 seconds, got {limit_s!r}")
        self.app = app
        self.limit_s = limit_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with lock_wait_limit(self.limit_s):
            await self.app(scope, receive, send)


def api_routes(app: FastAPI) -> list[Any]:
    """Every FastAPI route of ``app`` with its full path and methods, included routers too.

    Since FastAPI 0.137 ``app.routes`` holds included routers unexpanded;
    ``fastapi.routing.iter_route_contexts`` walks them (older versions kept them flat).
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - FastAPI before 0.137
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return [
        context
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def add_head_routes(app: FastAPI) -> None:
    """A HEAD route beside every GET route that has none (RFC 9110: GET implies HEAD).

    Each runs the GET route's endpoint with the same dependencies (authentication first), so
    it answers the same status and headers; :class:`api.headers.ResponseHeadersMiddleware`
    drops the body. They stay out of the OpenAPI schema (HEAD is implied by GET there).
    """
    routes = api_routes(app)
    has_head = {route.path for route in routes if "HEAD" in (route.methods or ())}
    for route in routes:
        if "GET" not in (route.methods or ()) or route.path in has_head:
            continue
        app.add_api_route(
            route.path,
            route.endpoint,
            methods=["HEAD"],
            response_model=route.response_model,
            response_class=route.response_class,
            dependencies=list(route.dependencies),
            include_in_schema=False,
            name=f"{route.name}_head",
        )
        has_head.add(route.path)


BEARER_SCHEME = "bearer"


def declare_bearer_auth(app: FastAPI) -> None:
    """Say in the OpenAPI schema which operations need ``Authorization: Bearer <token>``.

    Authentication is a plain dependency (:func:`api.context.authenticate`, which also takes
    the page session cookie), invisible to the schema on its own; this marks every operation
    whose route depends on it, so clients (and schemathesis's ``ignored_auth`` check) know.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if not fresh:
            return schema
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A token of api.tokens (or HAZARDWATCH_ADMIN_TOKEN).",
        }
        paths = schema.get("paths", {})
        for route in api_routes(app):
            operations = paths.get(route.path_format or route.path, {})
            if not needs_authentication(route):
                continue
            for method in route.methods or ():
                if method.lower() in operations:
                    operations[method.lower()]["security"] = [{BEARER_SCHEME: []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """pydantic's errors as ``{"loc": "body.to", "msg": ...}``, echoing short inputs only."""
    out = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error.get("loc", ()))
        msg = str(error.get("msg", "invalid value"))
        if error.get("type") == "extra_forbidden":
            msg = f"unknown field '{loc.rsplit('.', 1)[-1]}'"
        elif error.get("type") == "json_invalid":
            msg = f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
        elif error.get("type") != "missing" and "input" in error:
            msg = f"{msg}, got {_shown(error['input'])}"
        out.append({"loc": loc, "msg": msg})
    return out


def _allowed_methods(request: Request, starlette_allow: str) -> list[str]:
    """Every method some route answers at this request's path.

    Starlette's own ``Allow`` names only the first route of a path; the OpenAPI paths name all
    (pages, outside the schema, keep Starlette's answer).
    """
    methods = {m.strip().upper() for m in starlette_allow.split(",") if m.strip()}
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:  # every GET route has its HEAD twin (add_head_routes)
        methods.add("HEAD")
    return sorted(methods)


def _json(status_code: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code)


def _auth_error(request: Request) -> JSONResponse | None:
    """The 401/403 answer for a request to a route that needs a token and lacks a valid one.

    Called before answering 422: whoever has no valid token learns only that.
    """
    if not needs_authentication(request.scope.get("route")):
        return None
    try:
        authenticate(request)
    except Unauthenticated as exc:
        response = _json(401, str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    except Forbidden as exc:
        return _json(403, str(exc))
    except AuthError as exc:  # any other refusal of the credentials
        return _json(401, str(exc))
    return None


def _route_shown(request: Request) -> str:
    """``METHOD /path/{template}`` of the matched route (the raw path if none matched)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path[:200]
    return f"{request.method} {path}"


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503: the ticket database is busy or unreachable. The log names the route and the
    driver's error class and message (never the SQL or its parameters); the answer neither."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    logger.warning(
        "ticket database busy or unreachable on %s: %s: %s; answered 503",
        _route_shown(request),
        type(cause).__name__,
        (str(cause).splitlines() or [""])[0][:300],
    )
    response = _json(
        503,
        "the ticket database is busy or unreachable; try again in a few seconds",
    )
    response.headers["Retry-After"] = str(DB_RETRY_AFTER_S)
    # Answered by the outermost error middleware too (on_unexpected), outside
    # ResponseHeadersMiddleware.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = _auth_error(request)
        if refused is not None:
            return refused
        errors = _validation_errors(exc) or [{"loc": "request", "msg": "invalid request"}]
        shown = "; ".join(f"{error['loc']}: {error['msg']}" for error in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return _json(422, shown + more, errors=errors)

    @app.exception_handler(UnknownQueryParameter)
    async def on_unknown_query(request: Request, exc: UnknownQueryParameter) -> JSONResponse:
        refused = _auth_error(request)
        if refused is not None:
            return refused
        errors = [
            {"loc": f"query.{name[:40]}", "msg": "unknown query parameter"} for name in exc.unknown
        ]
        return _json(422, str(exc), errors=errors)

    @app.exception_handler(Unauthenticated)
    async def on_unauthenticated(_request: Request, exc: Unauthenticated) -> JSONResponse:
        response = _json(401, str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Forbidden)
    async def on_forbidden(_request: Request, exc: Forbidden) -> JSONResponse:
        return _json(403, str(exc))

    @app.exception_handler(TicketNotFound)
    async def on_not_found(_request: Request, exc: TicketNotFound) -> JSONResponse:
        return _json(404, str(exc))

    @app.exception_handler(InvalidQuery)
    async def on_invalid_query(request: Request, exc: InvalidQuery) -> JSONResponse:
        refused = _auth_error(request)
        if refused is not None:
            return refused
        return _json(422, str(exc), errors=[{"loc": "query", "msg": str(exc)}])

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":  # no route matched
            detail = f"no such endpoint: {request.method} {request.url.path[:200]}"
        if exc.status_code == 405:  # Starlette names only the first route of the path
            allowed = _allowed_methods(request, headers.get("Allow", ""))
            headers["Allow"] = ", ".join(allowed)
            detail = f"method {request.method} not allowed here; allowed: {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_database_unavailable(exc):
            return _database_unavailable(request, exc)
        raise exc  # a bug (an integrity error no route expects, bad SQL): on_unexpected, 500

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_database_unavailable(exc):  # raised inside another error handler (auth check)
            return _database_unavailable(request, exc)
        error_id = uuid.uuid4().hex[:12]
        logger.error(
            "internal error %s on %s %s",
            error_id,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        response = _json(
            500,
            f"internal error (id {error_id}); the details are in the server log",
            error_id=error_id,
        )
        # Answered by Starlette's outermost error middleware, outside ResponseHeadersMiddleware.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
