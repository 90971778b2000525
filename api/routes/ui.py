"""The web pages: login, review queue, dashboard, zone editor, dispatch rules.

A page takes a token once — from the login form or from ``?token=`` (then redirected to the same
address without it, so the token does not stay in the address bar or the history) — and sets a
session cookie (HttpOnly, SameSite=Lax, signed; see :mod:`api.auth`). Without a session a page
redirects to the login form, remembering where to come back to (only ever a ``/ui/`` path: no
open redirect). Logging out revokes the session on the server (the cookie no longer works even
if it was copied), and so does logging in again over an existing session.

``POST /ui/login`` and ``POST /ui/logout`` are form posts, which any site can make a browser send
(login CSRF: a victim logged in as the attacker files reports into the attacker's account). So
they must come from this site (:func:`same_origin`): the ``Origin`` header, which every current
browser sends on a POST, must name this host; ``Origin: null`` (sandboxed or privacy-stripped
origins) is refused. Without ``Origin`` (browsers from before 2020), the ``Referer`` must name this
host, which these pages allow: they send ``Referrer-Policy: same-origin``, so a same-site post
carries it and nothing leaks to other sites. A post with neither header is refused: a browser
always sends one of them for our own form, and scripts use bearer tokens, not the form. The host
compared is the request's ``Host``, or ``X-Forwarded-Host`` when a reverse proxy rewrote it (a
cross-site form cannot set that header, so trusting it does not reopen the hole).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import SESSION_COOKIE, AuthError, Principal
from api.context import AppContext, Ctx, authenticate
from api.pages.common import new_nonce, security_headers
from api.pages.dashboard import render_dashboard
from api.pages.dispatch import render_dispatch
from api.pages.login import render_login
from api.pages.review import render_review, review_cameras
from api.pages.zones import render_zones
from api.routes.cameras import camera_summary

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False)

DEFAULT_PAGE = "/ui/review"
_MAX_FORM_FIELDS = 10


def safe_next(value: str | None) -> str:
    """A path to return to after login: only this app's pages, never another site."""
    if (
        not value
        or not value.startswith("/ui/")
        or value.startswith("/ui//")
        or "\\" in value
        or any(ord(ch) < 0x20 for ch in value)
        or len(value) > 200
    ):
        return DEFAULT_PAGE
    return value


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host_of(url: str) -> str | None:
    """``host[:port]`` of an absolute http(s) URL, lowercased, without its default port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port is None or str(port) == _DEFAULT_PORTS[parts.scheme]:
        return host
    return f"{host}:{port}"


def _request_hosts(request: Request) -> set[str]:
    """The names this site was reached by: ``Host`` and any ``X-Forwarded-Host``."""
    hosts = set()
    for header in ("host", "x-forwarded-host"):
        for value in request.headers.get(header, "").split(","):
            value = value.strip().lower()
            for default in (":80", ":443"):
                if value.endswith(default):
                    value = value[: -len(default)]
            if value:
                hosts.add(value)
    return hosts


def same_origin(request: Request) -> str | None:
    """None when a form post comes from this site; otherwise why it is refused.

    See the module docstring: ``Origin`` decides; without it, ``Referer``; with neither, the
    post is refused.
    """
    hosts = _request_hosts(request)
    origin = request.headers.get("origin")
    if origin is not None:
        if _host_of(origin) in hosts:
            return None
        shown = origin if len(origin) <= 80 else origin[:77] + "..."
        return f"the form was sent from another site (Origin: {shown})"
    referer = request.headers.get("referer")
    if referer is not None:
        if _host_of(referer) in hosts:
            return None
        return "the form was sent from another site (its Referer names another host)"
    return "the form post carries neither Origin nor Referer, so it may come from another site"


def _cross_site(reason: str, next_path: str = DEFAULT_PAGE) -> HTMLResponse:
    logger.warning("refused a cross-site form post: %s", reason)
    return _login_page(next_path, f"跨站请求已拒绝 Refused: {reason}.", 403)


def _set_session(response: Response, request: Request, context: AppContext, who: Principal) -> None:
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a new login ends the session it replaces
        context.signer.revoke(previous)
    response.set_cookie(
        SESSION_COOKIE,
        context.signer.issue(who),
        max_age=context.signer.ttl_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def _login_page(next_path: str, error: str | None, status_code: int = 200) -> HTMLResponse:
    nonce = new_nonce()
    return HTMLResponse(
        render_login(next_path=next_path, error=error, nonce=nonce),
        status_code=status_code,
        headers=security_headers(nonce),
    )


def _token_redirect(request: Request, context: AppContext, token: str) -> Response:
    """``?token=``: set the session and reload the same page without the token."""
    who = context.registry.authenticate(token)
    if who is None:
        return _login_page(request.url.path, "令牌无效 The token is not valid.", 401)
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
    response = RedirectResponse(target, status_code=303)
    _set_session(response, request, context, who)
    return response


def _page(
    request: Request,
    context: AppContext,
    render: Callable[[Principal, str], str],
    status: Callable[[Principal], int] | None = None,
) -> Response:
    token = request.query_params.get("token")
    if token is not None:
        return _token_redirect(request, context, token)
    try:
        who = authenticate(request)
    except AuthError:
        query = urlencode({"next": request.url.path})
        return RedirectResponse(f"/ui/login?{query}", status_code=303)
    nonce = new_nonce()
    return HTMLResponse(
        render(who, nonce),
        status_code=200 if status is None else status(who),
        headers=security_headers(nonce),
    )


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def ui_root() -> Response:
    return RedirectResponse(DEFAULT_PAGE, status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, context: Ctx) -> Response:
    token = request.query_params.get("token")
    next_path = safe_next(request.query_params.get("next"))
    if token is not None:
        who = context.registry.authenticate(token)
        if who is None:
            return _login_page(next_path, "令牌无效 The token is not valid.", 401)
        response = RedirectResponse(next_path, status_code=303)
        _set_session(response, request, context, who)
        return response
    return _login_page(next_path, None)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, context: Ctx) -> Response:
    refused = same_origin(request)
    if refused is not None:
        return _cross_site(refused)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _login_page(
            DEFAULT_PAGE, "表单格式错误 Send the login form (x-www-form-urlencoded).", 415
        )
    raw = await request.body()
    try:
        form = parse_qs(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        return _login_page(DEFAULT_PAGE, "表单格式错误 The form could not be read.", 400)
    next_path = safe_next((form.get("next") or [""])[0])
    token = (form.get("token") or [""])[0]
    who = context.registry.authenticate(token) if token else None
    if who is None:
        return _login_page(next_path, "令牌无效 The token is not valid.", 401)
    response = RedirectResponse(next_path, status_code=303)
    _set_session(response, request, context, who)
    return response


@router.post("/logout")
def logout(request: Request, context: Ctx) -> Response:
    refused = same_origin(request)
    if refused is not None:
        return _cross_site(refused)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        context.signer.revoke(cookie)  # refused from now on, in every process of the site
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, context: Ctx) -> Response:
    def render(who: Principal, nonce: str) -> str:
        return render_review(who, nonce, review_cameras(context.config, context.data_dir, who))

    return _page(request, context, render)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, context: Ctx) -> Response:
    def render(who: Principal, nonce: str) -> str:
        return render_dashboard(who, nonce, context=context, query=request.query_params)

    return _page(request, context, render)


@router.get("/zones", response_class=HTMLResponse)
def zones_page(request: Request, context: Ctx) -> Response:
    def render(who: Principal, nonce: str) -> str:
        cameras = [
            camera_summary(context, cid)
            for cid in sorted(context.config.cameras)
            if who.sees_camera(cid)
        ]
        return render_zones(who, cameras, nonce)

    return _page(request, context, render)


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_page(request: Request, context: Ctx) -> Response:
    """The dispatch rules; 403 (a page saying so) for anyone but an admin, like the API."""
    return _page(request, context, render_dispatch, lambda who: 200 if who.is_admin else 403)
