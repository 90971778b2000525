"""Credential redaction of camera URLs and of free text."""

from __future__ import annotations

import pytest

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
