"""Tokens, roles and page sessions: hashed tokens, constant-time lookup, signed cookies, CSRF."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.auth import (
    ADMIN_TOKEN_ENV,
    SESSION_COOKIE,
    AuthMethod,
    Principal,
    SessionSigner,
    TokenRegistry,
    Unauthenticated,
    bearer_token,
    sha256_hex,
)
from api.settings.roles import ENV_ADMIN_NAME, TokenRole
from pipelines.config import parse_config
from tests.api.app_harness import TOKENS, ApiHarness, bearer, config_yaml, make_config
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected_role", "expected_cameras"),
    [
        ("admin", TokenRole.ADMIN, None),
        ("reviewer", TokenRole.REVIEWER, None),
        ("grid_lane", TokenRole.GRID_WORKER, frozenset({"lane_a", "lane_b"})),
        ("public", TokenRole.PUBLIC, None),
    ],
    ids=["admin", "reviewer", "grid_worker", "public"],
)
def test_registry_finds_each_configured_token(
    role: str, expected_role: TokenRole, expected_cameras: frozenset[str] | None
) -> None:
    registry = TokenRegistry(make_config(), environ={})
    principal = registry.authenticate(TOKENS[role][0])
    assert principal == Principal(role, expected_role, expected_cameras)


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "tok-admin-5f1c9e0a7",  # a prefix of a real token
        "tok-admin-5f1c9e0a7bX",  # a real token plus one character
        sha256_hex("tok-admin-5f1c9e0a7b"),  # the stored hash itself is not a token
        "x" * 5000,  # longer than any token may be
    ],
    ids=["empty", "prefix", "suffix", "the-hash", "huge"],
)
def test_registry_refuses_near_misses(presented: str) -> None:
    assert TokenRegistry(make_config(), environ={}).authenticate(presented) is None


def test_env_token_adds_an_admin_named_env_admin() -> None:
    registry = TokenRegistry(make_config(), environ={ADMIN_TOKEN_ENV: "from-the-env-0042"})
    principal = registry.authenticate("from-the-env-0042")
    assert principal == Principal(ENV_ADMIN_NAME, TokenRole.ADMIN, None)
    assert ENV_ADMIN_NAME in registry.names
    assert TokenRegistry(make_config(), environ={}).authenticate("from-the-env-0042") is None


def test_registry_stores_no_plain_token() -> None:
    registry = TokenRegistry(make_config(), environ={ADMIN_TOKEN_ENV: "from-the-env-0042"})
    dumped = repr(vars(registry))
    for token, _, _ in TOKENS.values():
        assert token not in dumped
    assert "from-the-env-0042" not in dumped


@pytest.mark.parametrize(
    ("header", "expected", "error"),
    [
        (None, None, None),
        ("Bearer abc", "abc", None),
        ("bearer   abc  ", "abc", None),
        ("Basic dXNlcjpwYXNz", None, "Authorization: Bearer"),
        ("Bearer", None, "Authorization: Bearer"),
        ("Bearer    ", None, "Authorization: Bearer"),
        ("abc", None, "Authorization: Bearer"),
    ],
    ids=["absent", "plain", "case-and-spaces", "basic", "no-token", "blank-token", "no-scheme"],
)
def test_bearer_token_parsing(header: str | None, expected: str | None, error: str | None) -> None:
    if error is None:
        assert bearer_token(header) == expected
    else:
        with pytest.raises(Unauthenticated, match=error):
            bearer_token(header)


# --- sessions ------------------------------------------------------------------------------------


def _signer() -> tuple[TokenRegistry, SessionSigner]:
    registry = TokenRegistry(make_config(), environ={})
    return registry, SessionSigner(registry, secret=b"k" * 32, ttl_s=3600)


def test_session_round_trip_and_holds_no_token() -> None:
    registry, signer = _signer()
    reviewer = registry.authenticate(TOKENS["reviewer"][0])
    assert reviewer is not None
    cookie = signer.issue(reviewer, now_s=1000.0)
    assert TOKENS["reviewer"][0] not in cookie
    assert sha256_hex(TOKENS["reviewer"][0]) not in cookie
    back = signer.verify(cookie, now_s=1000.0 + 3599)
    assert back == Principal("reviewer", TokenRole.REVIEWER, None, AuthMethod.SESSION)


def test_session_expires() -> None:
    registry, signer = _signer()
    admin = registry.authenticate(TOKENS["admin"][0])
    assert admin is not None
    cookie = signer.issue(admin, now_s=1000.0)
    assert signer.verify(cookie, now_s=1000.0 + 3601) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # signature changed
        lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:],  # payload changed
        lambda c: c.replace(".", ""),  # no separator
        lambda c: c + ".x",  # two separators
        lambda c: "",  # empty
        lambda c: "!!!.???",  # not base64
    ],
    ids=["signature", "payload", "no-dot", "two-dots", "empty", "not-base64"],
)
def test_tampered_session_is_refused(mangle: Callable[[str], str]) -> None:
    registry, signer = _signer()
    admin = registry.authenticate(TOKENS["admin"][0])
    assert admin is not None
    assert signer.verify(mangle(signer.issue(admin, now_s=1000.0)), now_s=1000.0) is None


def test_session_from_another_secret_is_refused() -> None:
    registry, signer = _signer()
    other = SessionSigner(registry, secret=b"z" * 32)
    admin = registry.authenticate(TOKENS["admin"][0])
    assert admin is not None
    assert other.verify(signer.issue(admin)) is None


def test_changing_a_token_ends_its_sessions() -> None:
    registry, signer = _signer()
    grid = registry.authenticate(TOKENS["grid_lane"][0])
    assert grid is not None
    cookie = signer.issue(grid, now_s=1000.0)
    rotated = config_yaml().replace(
        sha256_hex(TOKENS["grid_lane"][0]), sha256_hex("a-brand-new-token")
    )
    new_registry = TokenRegistry(parse_config(rotated), environ={})
    new_signer = SessionSigner(new_registry, secret=b"k" * 32, ttl_s=3600)
    assert new_signer.verify(cookie, now_s=1000.0) is None


def test_short_session_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SessionSigner(TokenRegistry(make_config(), environ={}), secret=b"short")


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "needs the header 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer not-a-token"}, "bearer token is not valid"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "expected the header"),
        ({"Authorization": "Bearer " + "x" * 3000}, "bearer token is not valid"),
    ],
    ids=["none", "unknown", "basic-auth", "huge-token"],
)
@pytest.mark.parametrize("path", ["/tickets", "/stats", "/metrics", "/cameras/lane_a/zones"])
def test_requests_without_a_valid_token_get_401(
    harness: ApiHarness, path: str, headers: dict[str, str], detail: str
) -> None:
    response = harness.client.get(path, headers=headers)
    assert response.status_code == 401, response.text
    assert detail in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_token(harness: ApiHarness) -> None:
    assert harness.client.get("/health").status_code == 200


def test_env_admin_token_works_over_http(tmp_path: Path, media_cache: Path) -> None:
    made = ApiHarness(tmp_path, media_cache, environ={ADMIN_TOKEN_ENV: "env-token-77"})
    try:
        response = made.client.get("/metrics", headers={"Authorization": "Bearer env-token-77"})
        assert response.status_code == 200
    finally:
        made.close()


@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("reviewer", 200), ("grid_lane", 403), ("public", 403)],
    ids=["admin", "reviewer", "grid_worker", "public"],
)
def test_metrics_is_for_admin_and_reviewer(harness: ApiHarness, role: str, status: int) -> None:
    response = harness.client.get("/metrics", headers=bearer(role))
    assert response.status_code == status
    if status == 403:
        assert "needs the role admin, reviewer" in response.json()["detail"]


def _login(harness: ApiHarness, role: str) -> str:
    response = harness.client.post(
        "/ui/login",
        data={"token": TOKENS[role][0], "next": "/ui/dashboard"},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/dashboard"
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    assert TOKENS[role][0] not in set_cookie
    cookie = response.cookies[SESSION_COOKIE]
    harness.client.cookies.clear()
    return cookie


def test_session_cookie_authenticates_reads(harness: ApiHarness) -> None:
    harness.client.cookies.set(SESSION_COOKIE, _login(harness, "reviewer"))
    assert harness.client.get("/tickets").status_code == 200


def test_session_cookie_write_needs_the_csrf_header(harness: ApiHarness) -> None:
    ticket = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    harness.client.cookies.set(SESSION_COOKIE, _login(harness, "reviewer"))
    url = f"/tickets/{ticket.id}/transition"
    refused = harness.client.post(url, json={"to": "reported"})
    assert refused.status_code == 403
    assert "X-Hazardwatch: 1" in refused.json()["detail"]
    assert harness.store.get_ticket(ticket.id).status == "discovered"  # type: ignore[union-attr]
    accepted = harness.client.post(url, json={"to": "reported"}, headers={"X-Hazardwatch": "1"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["history"][-1]["actor"] == "reviewer"


def test_bearer_write_needs_no_csrf_header(harness: ApiHarness) -> None:
    ticket = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    response = harness.client.post(
        f"/tickets/{ticket.id}/transition", json={"to": "reported"}, headers=bearer("reviewer")
    )
    assert response.status_code == 200


def test_forged_cookie_gets_401(harness: ApiHarness) -> None:
    harness.client.cookies.set(SESSION_COOKIE, "eyJuIjoiYWRtaW4ifQ.AAAA")
    response = harness.client.get("/tickets")
    assert response.status_code == 401
    assert "log in again" in response.json()["detail"]
