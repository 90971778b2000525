"""Notification channels against real receivers on loopback: the signed webhook (its HMAC
checked as a receiver would), the WeCom and DingTalk bots (markdown in Chinese with the ticket's
link; DingTalk's signed URL), e-mail through a real SMTP server (aiosmtpd), secrets from the
environment and kept out of errors, and which notifications each channel takes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

import pytest

from api.channels import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ChannelConfigError,
    DeliveryFailed,
    build_channels,
    verify_signature,
)
from api.notify_text import events_of, render
from api.settings.notify import NotificationSettings
from tests.api.notify_receivers import MailBox, Receiver, receivers, sample_note
from tests.support.servers import free_port

__all__ = ["receivers"]  # the fixture, imported for pytest

SECRET = "whsec-0123456789abcdef"
BASE = "https://safety.example.org"


def channel(base: dict[str, Any] | None = None, **spec: Any) -> Any:
    settings = NotificationSettings.model_validate(
        {"public_base_url": BASE, **(base or {}), "channels": [spec]}
    )
    [built] = build_channels(settings)
    return built


def test_webhook_posts_the_notification_signed_with_hmac(receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    hook = channel(type="webhook", name="ops", url=receiver.url, secret=SECRET)
    note = sample_note()
    assert hook.send(note, 41) == "HTTP 200"
    [request] = receiver.requests
    body = request.json()
    assert body == {**note, "delivery_id": 41}
    assert request.headers["Content-Type"] == "application/json"
    timestamp = request.headers[TIMESTAMP_HEADER]
    assert abs(int(timestamp) - time.time()) < 30
    # The receiver's check, written out: HMAC-SHA256 over "timestamp.body" with the secret.
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert verify_signature(SECRET, request.headers, request.body)
    # A changed body, another secret, or the same request replayed 10 minutes later: refused.
    assert not verify_signature(SECRET, request.headers, request.body.replace(b"red", b"blue"))
    assert not verify_signature("another-secret-0123456", request.headers, request.body)
    assert not verify_signature(SECRET, request.headers, request.body, now=time.time() + 600)
    moved = {**request.headers, TIMESTAMP_HEADER: str(int(timestamp) + 1)}
    assert not verify_signature(SECRET, moved, request.body)


def test_wecom_bot_gets_chinese_markdown_with_the_ticket_link(receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    bot = channel(type="wecom", name="wecom", url=receiver.url + "?key=bot-key-123")
    note = sample_note()
    bot.send(note, 1)
    [request] = receiver.requests
    body = request.json()
    assert body["msgtype"] == "markdown" and set(body) == {"msgtype", "markdown"}
    content = body["markdown"]["content"]
    for part in (
        "block_a-FALL-R-0007",  # code
        "高空抛物",  # kind, in the users' term
        "红色",  # level
        "facade / south_wall",  # camera / zone
        "2026-12-06 11:00 CST",  # deadline 03:00 UTC in Asia/Shanghai
        "处置期限",
        f"{BASE}/ui/review?ticket={note['ticket_id']}",
    ):
        assert part in content, (part, content)


def test_wecom_errcode_is_a_failure(receivers: list[Receiver]) -> None:
    receiver = Receiver(answer={"errcode": 45009, "errmsg": "api freq out of limit"})
    receivers.append(receiver)
    bot = channel(type="wecom", name="wecom", url=receiver.url + "?key=bot-key-123")
    with pytest.raises(DeliveryFailed, match="errcode 45009") as failed:
        bot.send(sample_note(), 1)
    assert not failed.value.permanent


def test_dingtalk_signed_url(receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    secret = "SEC0123456789abcdef"
    bot = channel(
        type="dingtalk", name="ding", url=receiver.url + "?access_token=tok-9", secret=secret
    )
    bot.send(sample_note("escalated"), 2)
    [request] = receiver.requests
    assert request.query["access_token"] == ["tok-9"]
    timestamp = request.query["timestamp"][0]
    assert abs(int(timestamp) / 1000 - time.time()) < 30
    material = f"{timestamp}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(secret.encode(), material, hashlib.sha256).digest())
    assert request.query["sign"] == [expected.decode()]
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert "超时预警" in body["markdown"]["title"]
    assert "/ui/review?ticket=" in body["markdown"]["text"]


def test_email_through_a_real_smtp_server() -> None:
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":  # CI installs the dev extra: a skip would hide it
            raise
        pytest.skip("aiosmtpd (dev extra: make venv) is needed for the SMTP test")
    box = MailBox()
    try:
        mail = channel(
            type="email",
            name="office",
            host="127.0.0.1",
            port=box.port,
            starttls=False,
            sender="hazardwatch@example.org",
            to=["duty@example.org", "chief@example.org"],
        )
        assert mail.send(sample_note(), 9) == "sent to 2 recipient(s)"
    finally:
        box.close()
    [message] = box.messages
    assert box.envelopes == [("hazardwatch@example.org", ["duty@example.org", "chief@example.org"])]
    assert "block_a-FALL-R-0007" in str(message["Subject"])
    assert "高空抛物" in str(message["Subject"])
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert "处置期限：2026-12-06 11:00 CST" in plain.get_content()
    assert "<table>" in html.get_content() and "红色" in html.get_content()
    assert f"{BASE}/ui/review?ticket=" in html.get_content()


def test_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, receivers: list[Receiver]
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    monkeypatch.setenv("HW_HOOK_URL", receiver.url)
    monkeypatch.setenv("HW_HOOK_SECRET", SECRET)
    hook = channel(type="webhook", name="ops", url="${HW_HOOK_URL}", secret_env="HW_HOOK_SECRET")
    hook.send(sample_note(), 1)
    assert verify_signature(SECRET, receiver.requests[0].headers, receiver.requests[0].body)
    monkeypatch.delenv("HW_HOOK_SECRET")
    with pytest.raises(ChannelConfigError) as missing:
        channel(type="webhook", name="ops", url="${HW_HOOK_URL}", secret_env="HW_HOOK_SECRET")
    assert str(missing.value) == (
        "api.notifications.channels.0.secret: environment variable HW_HOOK_SECRET is not set "
        "or empty"
    )


def test_failures_never_show_the_url_key_or_secret() -> None:
    port = free_port()  # nothing listens: connection refused
    key = "wecom-key-do-not-show"
    bot = channel(type="wecom", name="wecom", url=f"http://127.0.0.1:{port}/x?key={key}")
    with pytest.raises(DeliveryFailed) as failed:
        bot.send(sample_note(), 1)
    assert key not in str(failed.value) and "refused" in str(failed.value).lower()
    assert bot.redact(f"GET http://127.0.0.1:{port}/x?key={key} failed") == "GET *** failed"


def test_a_4xx_answer_is_permanent_a_5xx_or_429_is_not(receivers: list[Receiver]) -> None:
    for status, permanent in ((404, True), (429, False), (503, False)):
        receiver = Receiver(statuses=(status,))
        receivers.append(receiver)
        hook = channel(type="webhook", name="ops", url=receiver.url, secret=SECRET)
        with pytest.raises(DeliveryFailed, match=f"HTTP {status}") as failed:
            hook.send(sample_note(), 1)
        assert failed.value.permanent is permanent


def test_which_notifications_a_channel_takes() -> None:
    urgent_only = channel(type="webhook", name="a", url="http://127.0.0.1:9/", secret=SECRET)
    every_new = channel(
        type="webhook", name="b", url="http://127.0.0.1:9/", secret=SECRET, created="all"
    )
    red_orange = channel(
        type="webhook",
        name="c",
        url="http://127.0.0.1:9/",
        secret=SECRET,
        levels=["red", "orange"],
        events=["created", "overdue"],
    )
    yellow_new = sample_note("created", level="yellow", kind="fire_lane_blocked")
    red_new = sample_note("urgent_ticket")
    stays_red = {"action": "escalated", "level_from": "red", "level_to": "red"}
    red_overdue = sample_note("escalated", history=[{"at": None, "note": None, **stays_red}])
    red_rechecked = sample_note("rechecked")
    assert [c.wants(yellow_new) for c in (urgent_only, every_new, red_orange)] == [
        False,
        True,
        False,
    ]
    assert [c.wants(red_new) for c in (urgent_only, every_new, red_orange)] == [True] * 3
    assert red_orange.wants(red_overdue) and not red_orange.wants(red_rechecked)
    assert events_of(red_overdue) == {"overdue"}  # red stays red: overdue, not a level raise
    up = {"action": "escalated", "level_from": "yellow", "level_to": "orange"}
    raised = sample_note("escalated", history=[{"at": None, "note": None, **up}])
    assert events_of(raised) == {"overdue", "escalated"}
    assert events_of(sample_note("level_raised")) == {"escalated"}


def test_render_escapes_html_and_has_no_link_without_base_url() -> None:
    note = sample_note(zone="<script>x</script>")
    text = render(note, base_url=None, timezone="Asia/Shanghai")
    assert text.link is None and "/ui/review" not in text.markdown
    assert "<script>" not in text.html and "&lt;script&gt;" in text.html
    assert json.dumps(note)  # the notification itself stays plain JSON


def test_the_responsible_unit_and_person_are_named_without_their_contacts() -> None:
    unit = {"name": "物业服务中心", "contact": "0571-8800-1234"}
    person = {"name": "张伟", "contact": "13800001111"}
    note = sample_note(responsible_unit=unit, responsible_person=person)
    assert (note["responsible_unit"], note["responsible_person"]) == ("物业服务中心", "张伟")
    assert "0571-8800-1234" not in json.dumps(note) and "13800001111" not in json.dumps(note)
    text = render(note, base_url=None, timezone="Asia/Shanghai")
    assert "> 责任单位：物业服务中心" in text.markdown and "> 责任人：张伟" in text.markdown
