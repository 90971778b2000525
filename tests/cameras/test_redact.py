"""Credential redaction of camera URLs and of free text."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cameras.redact import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "rtsp://admin:secret@10.0.0.21:554/Streaming/Channels/102",
            "rtsp://***:***@10.0.0.21:554/Streaming/Channels/102",
            id="user-and-password",
        ),
        pytest.param("rtsp://admin@10.0.0.21/live", "rtsp://***@10.0.0.21/live", id="user-only"),
        pytest.param(
            "rtsps://a:b@cam.example.org/x", "rtsps://***:***@cam.example.org/x", id="rtsps-host"
        ),
        pytest.param(
            "http://u:p@10.0.0.5:8080/video.mjpg?channel=1",
            "http://***:***@10.0.0.5:8080/video.mjpg?channel=1",
            id="http-keeps-other-params",
        ),
        pytest.param(
            "rtsp://10.0.0.9/live?user=adm&password=p1&PWD=p2&passwd=p3&token=t&key=k&ch=2",
            "rtsp://10.0.0.9/live?user=adm&password=***&PWD=***&passwd=***&token=***&key=***&ch=2",
            id="secret-query-params",
        ),
        pytest.param(
            "rtsp://admin:Pass#1@10.0.0.5/x", "rtsp://***:***@10.0.0.5/x", id="hash-in-password"
        ),
        pytest.param(
            "rtsp://admin:p/a?s@s@10.0.0.5:554/x",
            "rtsp://***:***@10.0.0.5:554/x",
            id="slash-question-at-in-password",
        ),
        pytest.param(
            "rtsp://a:b@[fe80::1]:554/x", "rtsp://***:***@[fe80::1]:554/x", id="ipv6-host"
        ),
        pytest.param("rtsp://10.0.0.1:554/x", "rtsp://10.0.0.1:554/x", id="no-credentials"),
        pytest.param("/srv/video/lane.mp4", "/srv/video/lane.mp4", id="file-path-unchanged"),
        pytest.param("", "", id="empty"),
        pytest.param(
            "http://h/x?email=a@b.com", "http://***@b.com", id="at-in-query-over-redacts-safely"
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "password",
    ["hunter2", "p@ss", "a#b", "x/y", "q?r", "s:t", "percent%40", "long-" * 10],
    ids=["plain", "at", "hash", "slash", "question", "colon", "escaped", "long"],
)
def test_password_never_survives(password: str) -> None:
    out = redact_url(f"rtsp://admin:{password}@10.0.0.21:554/ch1?token=t0k")
    assert out == "rtsp://***:***@10.0.0.21:554/ch1?token=***"
    # In the query an '@' is ambiguous; redaction may then take more than needed, never less.
    out = redact_url(f"rtsp://admin:pw@10.0.0.21:554/ch1?token={password}")
    assert password not in out
    assert "admin" not in out


def test_redact_text_finds_every_url() -> None:
    text = "cannot open 'rtsp://a:pw1@h1/x', fallback http://b:pw2@h2:80/y failed; file /a/b.mp4"
    out = redact_text(text)
    assert "pw1" not in out and "pw2" not in out
    assert out == (
        "cannot open 'rtsp://***:***@h1/x', fallback http://***:***@h2:80/y failed; file /a/b.mp4"
    )


# --- passwords the old character class let through (issue 8 §2.4) ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "cannot open 'rtsp://admin:it's@10.0.0.5/x' (401)",
            "cannot open 'rtsp://***:***@10.0.0.5/x' (401)",
            id="single-quote-in-single-quotes",
        ),
        pytest.param(
            'cannot open "rtsp://admin:a"b@10.0.0.5/x" (401)',
            'cannot open "rtsp://***:***@10.0.0.5/x" (401)',
            id="double-quote-in-double-quotes",
        ),
        pytest.param(
            "cannot open <rtsp://admin:a<b>c@10.0.0.5/x> (401)",
            "cannot open <rtsp://***:***@10.0.0.5/x> (401)",
            id="angle-brackets",
        ),
        pytest.param(
            "cannot open rtsp://admin:pa ss@10.0.0.5/x: refused",
            "cannot open rtsp://***:***@10.0.0.5/x: refused",
            id="space",
        ),
        pytest.param(
            "status: rtsp://admin:a' b\"<c>@d@10.0.0.5:554/x timed out",
            "status: rtsp://***:***@10.0.0.5:554/x timed out",
            id="all-of-them-and-an-at",
        ),
        pytest.param(
            "rtsps://u:x://y@cam.example/z failed",
            "rtsps://***:***@cam.example/z failed",
            id="scheme-like-text-in-password",
        ),
        pytest.param(
            "rtsp://h1/x and rtsp://u:p@h2/y",
            "rtsp://h1/x and rtsp://***:***@h2/y",
            id="plain-url-then-url-with-credentials",
        ),
        pytest.param(
            "a=rtsp://h1/x;b=rtsp://u:p@h2/y",
            "a=rtsp://h1/x;b=rtsp://***:***@h2/y",
            id="urls-without-spaces-between",
        ),
        pytest.param(
            "http://h/x?next=http://u:pw@h2/ ok",
            "http://h/x?next=http://***:***@h2/ ok",
            id="url-in-a-query",
        ),
        pytest.param(
            "Error connecting to redis://tickets:p%27w@10.0.0.9:6379/0 (NOAUTH)",
            "Error connecting to redis://***:***@10.0.0.9:6379/0 (NOAUTH)",
            id="redis-percent-encoded",
        ),
        pytest.param(
            "rediss://box:pw@[fe80::1%25eth0]:6380/0?ssl_password=k3y&ssl_cert_reqs=required",
            "rediss://***:***@[fe80::1%25eth0]:6380/0?ssl_password=***&ssl_cert_reqs=required",
            id="ipv6-zone-and-ssl-password",
        ),
        pytest.param(
            "rtsp://cam/x ok\nmail ops@example.com",
            "rtsp://cam/x ok\nmail ops@example.com",
            id="an-at-on-the-next-line-is-not-the-url's",
        ),
        pytest.param(
            "rtsp://u:pw@cam/x down; mail ops@example.com",
            "rtsp://***:***@example.com",
            id="an-at-later-on-the-line-over-redacts-safely",
        ),
    ],
)
def test_redact_text_by_parsing_urls(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- properties: random passwords in random text ------------------------------------------------

_PASSWORD_CHARS = st.characters(
    codec="utf-8",
    categories=("L", "N", "P", "S", "Zs"),
    include_characters="'\"<> @:/?#%&=;,[]{}()|\\^`~!$+",
    exclude_characters="*\r\n\x85\u2028\u2029",
)
_TEXT_CHARS = st.characters(
    codec="utf-8",
    categories=("L", "N", "P", "S", "Zs"),
    include_characters="\n@:/",
    exclude_characters="*",
)
_WRAPPERS = [("", ""), ("'", "'"), ('"', '"'), ("<", ">"), ("(", ")"), ("url=", ";")]


def _occurrences(text: str, part: str) -> int:
    """How many times ``part`` occurs in ``text``, overlaps included."""
    return sum(text.startswith(part, i) for i in range(len(text)))


@st.composite
def _embedded(draw: st.DrawFn) -> tuple[str, str, str]:
    """(text, password as written in it, password itself)."""
    password = draw(st.text(_PASSWORD_CHARS, min_size=4, max_size=24))
    assume("://" not in password)  # such a password cannot be told from a second URL
    written = draw(st.sampled_from([password, quote(password, safe="")]))
    user = draw(st.sampled_from(["admin", "viewer", "", "u%40x"]))
    scheme = draw(st.sampled_from(["rtsp", "rtsps", "http", "https", "redis", "rediss", "rtmp"]))
    host = draw(st.sampled_from(["10.0.0.21:554", "cam-3.example.org", "[fe80::1]:6379"]))
    path = draw(st.sampled_from(["", "/", "/Streaming/Channels/102", "/0?ch=1"]))
    opening, closing = draw(st.sampled_from(_WRAPPERS))
    before = draw(st.text(_TEXT_CHARS, max_size=30))
    after = draw(st.text(_TEXT_CHARS, max_size=30))
    url = f"{scheme}://{user}:{written}@{host}{path}"
    text = f"{before}{opening}{url}{closing}{after}"
    # Each appears only where the URL holds it (a raw password written encoded: nowhere).
    assume(_occurrences(text, written) == 1)
    assume(_occurrences(text, password) == (1 if written == password else 0))
    return text, written, password


@settings(max_examples=400, deadline=None)
@given(_embedded())
def test_a_password_never_survives_redact_text(case: tuple[str, str, str]) -> None:
    text, written, password = case
    out = redact_text(text)
    assert password not in out
    assert written not in out


@settings(max_examples=300, deadline=None)
@given(
    st.text(_PASSWORD_CHARS, min_size=1, max_size=24),
    st.sampled_from(["rtsp://", "redis://", "rediss://", "http://"]),
)
def test_redact_url_masks_exactly_the_userinfo(password: str, scheme: str) -> None:
    url = f"{scheme}admin:{password}@10.0.0.21:554/ch1?x=1"
    assert redact_url(url) == f"{scheme}***:***@10.0.0.21:554/ch1?x=1"


@settings(max_examples=200, deadline=None)
@given(
    st.text(_PASSWORD_CHARS, min_size=4, max_size=24),
    st.text(st.characters(categories=("L", "N", "Zs")), max_size=20),
    st.text(st.characters(categories=("L", "N", "Zs")), max_size=20),
)
def test_plain_surroundings_are_kept_exactly(password: str, before: str, after: str) -> None:
    assume("://" not in password)
    text = f"{before} 'rtsp://admin:{password}@10.0.0.21:554/ch1' {after}"
    expected = f"{before} 'rtsp://***:***@10.0.0.21:554/ch1' {after}"
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "unit",
    [" a://x@h", "a://", "x", "@" + "a" * 50, "rtsp://u:p'@h x://"],
    ids=["many-urls", "schemes-glued", "no-url", "ats", "quoted-passwords"],
)
def test_redact_text_takes_linear_time(unit: str) -> None:
    # Status text comes from anyone who can write to Redis: 400 kB must not take minutes.
    text = unit * (400_000 // len(unit))
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 10.0
