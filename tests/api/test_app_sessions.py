"""Web sessions end on the server at logout, in every process of the site, and the login and
logout forms refuse posts from other sites (issue 8 §2.6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import SESSION_COOKIE, MemoryRevocations, SessionSigner, TokenRegistry
from api.store import TicketStore
from api.workflow import TicketPolicy
from tests.api.app_harness import TOKENS, ApiHarness, make_config

pytestmark = pytest.mark.timeout(60)

SAME_SITE = {"Origin": "http://testserver"}
SECRET = b"s" * 32


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def login(client: TestClient, role: str = "reviewer") -> str:
    response = client.post(
        "/ui/login",
        data={"token": TOKENS[role][0], "next": "/ui/review"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies[SESSION_COOKIE]
    client.cookies.clear()
    return cookie


def with_cookie(client: TestClient, cookie: str, path: str = "/tickets") -> int:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    try:
        return client.get(path, follow_redirects=False).status_code
    finally:
        client.cookies.clear()


def logout(client: TestClient, cookie: str, headers: dict[str, str] | None = None) -> int:
    client.cookies.set(SESSION_COOKIE, cookie)
    try:
        response = client.post(
            "/ui/logout", headers=SAME_SITE if headers is None else headers, follow_redirects=False
        )
        return response.status_code
    finally:
        client.cookies.clear()


# --- revocation ----------------------------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(harness: ApiHarness) -> None:
    cookie = login(harness.client)
    assert with_cookie(harness.client, cookie) == 200
    assert logout(harness.client, cookie) == 303
    # The browser forgot the cookie; someone who copied it must not get in with it either.
    assert with_cookie(harness.client, cookie) == 401
    assert with_cookie(harness.client, cookie, "/ui/review") == 303  # back to the login form
    harness.client.cookies.set(SESSION_COOKIE, cookie)
    assert "log in again" in harness.client.get("/tickets").json()["detail"]


def test_logging_in_again_ends_the_session_it_replaces(harness: ApiHarness) -> None:
    first = login(harness.client, "reviewer")
    harness.client.cookies.set(SESSION_COOKIE, first)
    second = login(harness.client, "admin")
    assert with_cookie(harness.client, first) == 401
    assert with_cookie(harness.client, second) == 200


def test_a_logout_in_one_process_ends_the_session_in_every_one(
    tmp_path: Path, media_cache: Path
) -> None:
    # Two uvicorn workers: two apps on the same database with the same session secret.
    url = f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    config = make_config()
    stores = [TicketStore(url, policy=TicketPolicy.from_config(config)) for _ in range(2)]
    apps = [
        create_app(
            config,
            store,
            data_dir=tmp_path,
            redis_url=None,
            session_secret=SECRET,
            environ={},
        )
        for store in stores
    ]
    first, second = (TestClient(app) for app in apps)
    try:
        cookie = login(first)
        assert with_cookie(second, cookie) == 200
        assert logout(second, cookie) == 303
        assert with_cookie(first, cookie) == 401
        assert with_cookie(second, cookie) == 401
    finally:
        for client in (first, second):
            client.close()
        for store in stores:
            store.close()


def test_serve_replicas_with_the_same_session_secret_in_the_environment_share_sessions(
    tmp_path: Path,
) -> None:
    """Two ``serve`` replicas behind one address (scale-out): a page session made by one is
    valid in the other when both have ``HAZARDWATCH_SESSION_SECRET``. Before, ``serve`` had
    no way to share the secret: each replica drew its own and refused the other's cookies."""
    url = f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    config = make_config()
    stores = [TicketStore(url, policy=TicketPolicy.from_config(config)) for _ in range(3)]
    shared = {"HAZARDWATCH_SESSION_SECRET": "a-long-random-string-for-the-site"}
    environs: list[dict[str, str]] = [shared, dict(shared), {}]
    clients = [
        TestClient(create_app(config, store, data_dir=tmp_path, redis_url=None, environ=env))
        for store, env in zip(stores, environs, strict=True)
    ]
    try:
        cookie = login(clients[0])
        assert with_cookie(clients[1], cookie) == 200
        assert with_cookie(clients[2], cookie) == 401  # a replica without the shared secret
        with pytest.raises(ValueError, match="HAZARDWATCH_SESSION_SECRET must be at least 16"):
            create_app(
                config,
                stores[0],
                data_dir=tmp_path,
                redis_url=None,
                environ={"HAZARDWATCH_SESSION_SECRET": "short"},
            )
    finally:
        for client in clients:
            client.close()
        for store in stores:
            store.close()


def test_revoked_sessions_are_kept_until_they_expire(tmp_path: Path) -> None:
    store = TicketStore(f"sqlite:///{tmp_path / 't.sqlite3'}")
    try:
        now = datetime.now(UTC)
        store.revoke_session("expired-session-0001", now - timedelta(seconds=1))
        store.revoke_session("live-session-000001", now + timedelta(hours=12))
        assert store.session_revoked("live-session-000001")
        store.revoke_session("live-session-000002", now + timedelta(hours=12))
        assert not store.session_revoked("expired-session-0001")  # pruned: it expired anyway
        assert store.session_revoked("live-session-000001")
        store.revoke_session("live-session-000001", now + timedelta(hours=12))  # twice is fine
    finally:
        store.close()


def test_signer_revocation_and_cookies_without_a_session_id() -> None:
    registry = TokenRegistry(make_config(), environ={})
    signer = SessionSigner(registry, secret=SECRET, ttl_s=3600, revocations=MemoryRevocations())
    admin = registry.authenticate(TOKENS["admin"][0])
    assert admin is not None
    cookie = signer.issue(admin)
    other = signer.issue(admin)
    assert signer.revoke(cookie) is True
    assert signer.verify(cookie) is None
    assert signer.verify(other) is not None  # one logout ends one session
    assert signer.revoke("forged.cookie") is False
    # A cookie signed right but without a session id (it could never be revoked) is refused.
    fingerprint = registry.fingerprint("admin")
    record = {"n": "admin", "exp": 4_000_000_000, "k": fingerprint}
    payload = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(SECRET, payload, hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    assert signer.verify(f"{b64(payload)}.{b64(mac)}") is None


# --- cross-site form posts ---------------------------------------------------------------------

ORIGIN_CASES = [
    ({"Origin": "http://testserver"}, 303),
    ({"Origin": "http://testserver:80"}, 303),
    ({"Origin": "https://evil.example"}, 403),
    ({"Origin": "http://testserver.evil.example"}, 403),
    ({"Origin": "http://testserver:8080"}, 403),
    ({"Origin": "null"}, 403),
    ({"Origin": "not a url"}, 403),
    ({"Referer": "http://testserver/ui/login?next=%2Fui%2Freview"}, 303),
    ({"Referer": "https://evil.example/testserver"}, 403),
    ({"Origin": "https://evil.example", "Referer": "http://testserver/ui/login"}, 403),
    ({}, 403),
    ({"Origin": "https://hw.example.org", "X-Forwarded-Host": "hw.example.org"}, 303),
    ({"Origin": "https://evil.example", "X-Forwarded-Host": "hw.example.org"}, 403),
]
ORIGIN_IDS = [
    "same-origin",
    "same-origin-default-port",
    "other-site",
    "lookalike-host",
    "other-port",
    "null-origin",
    "garbage-origin",
    "referer-only-same-site",
    "referer-only-other-site",
    "origin-decides-over-referer",
    "neither-header",
    "behind-a-proxy",
    "behind-a-proxy-other-site",
]


@pytest.mark.parametrize(("headers", "expected"), ORIGIN_CASES, ids=ORIGIN_IDS)
def test_login_form_posts_must_come_from_this_site(
    harness: ApiHarness, headers: dict[str, str], expected: int
) -> None:
    response = harness.client.post(
        "/ui/login",
        data={"token": TOKENS["admin"][0], "next": "/ui/review"},
        headers=headers,
        follow_redirects=False,
    )
    assert response.status_code == expected, response.text
    if expected == 403:
        assert "set-cookie" not in response.headers  # no session for a cross-site post
        assert "Refused" in response.text
        assert "another site" in response.text or "neither Origin nor Referer" in response.text


@pytest.mark.parametrize(("headers", "expected"), ORIGIN_CASES, ids=ORIGIN_IDS)
def test_logout_form_posts_must_come_from_this_site(
    harness: ApiHarness, headers: dict[str, str], expected: int
) -> None:
    cookie = login(harness.client)
    assert logout(harness.client, cookie, headers) == expected
    assert with_cookie(harness.client, cookie) == (401 if expected == 303 else 200)


def test_pages_send_their_origin_on_their_own_forms(harness: ApiHarness) -> None:
    # With "no-referrer" a browser posts our login form with "Origin: null", which is refused.
    page = harness.client.get("/ui/login")
    assert page.headers["referrer-policy"] == "same-origin"
