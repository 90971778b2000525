"""Web pages: login by form or ``?token=``, session cookie, bilingual text, CSP, nothing leaked."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import SESSION_COOKIE
from api.routes.ui import safe_next
from tests.api.app_harness import SECRET_IN_SOURCES, TOKENS, ApiHarness

pytestmark = pytest.mark.timeout(60)

SAME_SITE = {"Origin": "http://testserver"}  # what a browser sends with our own forms
PAGES = ["/ui/review", "/ui/dashboard", "/ui/zones", "/ui/dispatch"]


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    made = ApiHarness(tmp_path, media_cache)
    yield made
    made.close()


def _login(harness: ApiHarness, role: str) -> None:
    response = harness.client.post(
        "/ui/login",
        data={"token": TOKENS[role][0], "next": "/ui/review"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.mark.parametrize("page", PAGES)
def test_pages_without_a_session_redirect_to_login(harness: ApiHarness, page: str) -> None:
    response = harness.client.get(page, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?next={page.replace('/', '%2F')}"


def test_token_in_the_address_is_exchanged_for_a_cookie(harness: ApiHarness) -> None:
    token = TOKENS["reviewer"][0]
    response = harness.client.get(f"/ui/dashboard?token={token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/dashboard"  # the token is gone from the address
    cookie = response.cookies[SESSION_COOKIE]
    assert token not in cookie
    page = harness.client.get("/ui/dashboard")
    assert page.status_code == 200
    assert "reviewer" in page.text
    assert token not in page.text


def test_bad_token_in_the_address_shows_the_login_form(harness: ApiHarness) -> None:
    response = harness.client.get("/ui/review?token=wrong", follow_redirects=False)
    assert response.status_code == 401
    assert "令牌无效 The token is not valid." in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"token": "wrong", "next": "/ui/review"}, 401),
        ({"token": "", "next": "/ui/review"}, 401),
        ({"next": "/ui/review"}, 401),
    ],
    ids=["wrong", "empty", "missing"],
)
def test_login_form_refuses_bad_tokens(
    harness: ApiHarness, form: dict[str, str], status: int
) -> None:
    response = harness.client.post(
        "/ui/login", data=form, headers=SAME_SITE, follow_redirects=False
    )
    assert response.status_code == status
    assert "set-cookie" not in response.headers


def test_login_form_needs_a_form_body(harness: ApiHarness) -> None:
    response = harness.client.post(
        "/ui/login", json={"token": TOKENS["admin"][0]}, headers=SAME_SITE
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/ui/zones", "/ui/zones"),
        ("/ui/review?status=closed", "/ui/review?status=closed"),
        ("https://evil.example/", "/ui/review"),
        ("//evil.example/ui/", "/ui/review"),
        ("/ui//evil.example", "/ui/review"),
        ("/ui/\\evil", "/ui/review"),
        ("/api/tickets", "/ui/review"),
        ("/ui/x\r\nSet-Cookie: a=b", "/ui/review"),
        ("", "/ui/review"),
        (None, "/ui/review"),
    ],
    ids=[
        "page",
        "query",
        "absolute",
        "scheme-relative",
        "double-slash",
        "backslash",
        "not-ui",
        "header-injection",
        "empty",
        "none",
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_redirect_never_leaves_the_site(harness: ApiHarness) -> None:
    response = harness.client.post(
        "/ui/login",
        data={"token": TOKENS["admin"][0], "next": "https://evil.example/"},
        headers=SAME_SITE,
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/review"


@pytest.mark.parametrize("role", ["admin", "reviewer", "grid_lane", "public"])
@pytest.mark.parametrize("page", PAGES)
def test_pages_render_bilingual_with_a_strict_csp(
    harness: ApiHarness, role: str, page: str
) -> None:
    _login(harness, role)
    response = harness.client.get(page)
    # the dispatch rules are the admin's (GET/PUT /dispatch): anyone else gets the 403 page
    assert response.status_code == (403 if page == "/ui/dispatch" and role != "admin" else 200)
    html = response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    nonces = re.findall(r'<script nonce="([^"]+)">', html)
    assert len(nonces) == 1
    assert f"script-src 'nonce-{nonces[0]}'" in csp
    assert "<script>" not in html  # no script without the nonce
    assert response.headers["x-frame-options"] == "DENY"
    # both languages' words go to the page (api.pages.i18n); the browser shows one of them
    for term in (
        '"discovered": "发现"',
        '"discovered": "Discovered"',
        '"closed": "销号"',
        '"blue": "蓝色"',
        '"red": "Red"',
        '"fire_lane_blocked": "消防通道堵塞"',
    ):
        assert term in html
    assert SECRET_IN_SOURCES not in html
    assert "rtsp://" not in html
    for token, _, _ in TOKENS.values():
        assert token not in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # no CDN, no remote assets
    assert 'src="http' not in html and 'href="http' not in html


def test_zones_page_lists_only_visible_cameras(harness: ApiHarness) -> None:
    _login(harness, "grid_lane")
    html = harness.client.get("/ui/zones").text
    assert '"id": "lane_a"' in html and '"id": "lane_b"' in html
    assert '"id": "facade"' not in html
    assert '"can_edit": false' in html
    harness.client.cookies.clear()
    _login(harness, "admin")
    admin_html = harness.client.get("/ui/zones").text
    assert '"id": "facade"' in admin_html
    assert '"can_edit": true' in admin_html


def test_public_navigation_has_no_zone_editor(harness: ApiHarness) -> None:
    _login(harness, "public")
    html = harness.client.get("/ui/review").text
    assert 'href="/ui/zones"' not in html
    assert '"public": true' in html


@pytest.mark.parametrize("role", ["reviewer", "grid_lane", "public"])
def test_the_dispatch_rules_are_the_admins_only(harness: ApiHarness, role: str) -> None:
    """Like ``GET``/``PUT /dispatch``: others get a page saying so, no script calling the API,
    and no link to it in their navigation."""
    _login(harness, role)
    response = harness.client.get("/ui/dispatch")
    assert response.status_code == 403
    assert 'data-i18n="dispatch.only_admins"' in response.text
    assert "'/dispatch'" not in response.text  # the admin's script is not sent
    assert harness.client.get("/dispatch").status_code == 403  # as the API itself answers
    assert 'href="/ui/dispatch"' not in harness.client.get("/ui/review").text


def test_the_admin_gets_the_dispatch_rules_and_the_link(harness: ApiHarness) -> None:
    _login(harness, "admin")
    page = harness.client.get("/ui/dispatch")
    assert page.status_code == 200
    assert "HW.api('/dispatch'" in page.text
    assert 'href="/ui/dispatch" class="on" aria-current="page"' in page.text
    for other in ("/ui/review", "/ui/dashboard", "/ui/zones"):
        assert 'href="/ui/dispatch"' in harness.client.get(other).text, other


@pytest.mark.parametrize(
    ("role", "can"), [("admin", True), ("reviewer", True), ("grid_lane", False), ("public", False)]
)
def test_the_review_page_offers_reassigning_to_the_roles_the_api_takes(
    harness: ApiHarness, role: str, can: bool
) -> None:
    from api.dispatch import ASSIGN_ROLES

    _login(harness, role)
    html = harness.client.get("/ui/review").text
    assert f'"can_assign": {"true" if can else "false"}' in html
    assert (TOKENS[role][1] in {r.value for r in ASSIGN_ROLES}) is can


def test_page_data_cannot_close_the_script(harness: ApiHarness) -> None:
    from api.pages.common import script_json

    assert "</script>" not in script_json({"x": "</script><img src=x onerror=alert(1)>"})


def test_logout_clears_the_session(harness: ApiHarness) -> None:
    _login(harness, "reviewer")
    assert harness.client.get("/ui/review", follow_redirects=False).status_code == 200
    response = harness.client.post("/ui/logout", headers=SAME_SITE, follow_redirects=False)
    assert response.status_code == 303
    assert harness.client.get("/ui/review", follow_redirects=False).status_code == 303


def test_root_goes_to_the_review_page(harness: ApiHarness) -> None:
    for path in ("/", "/ui", "/ui/"):
        response = harness.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/review"


@pytest.mark.parametrize("page", [*PAGES, "/ui/login"])
def test_page_scripts_are_valid_javascript(harness: ApiHarness, tmp_path: Path, page: str) -> None:
    """``node --check`` parses each page's script (a typo would break the page silently)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot syntax-check the page scripts")
    _login(harness, "admin")
    html = harness.client.get(page).text
    scripts = re.findall(r"<script nonce=\"[^\"]+\">(.*?)</script>", html, flags=re.DOTALL)
    assert len(scripts) == 1
    source = tmp_path / "page.js"
    source.write_text(scripts[0])
    result = subprocess.run(
        [node, "--check", str(source)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
