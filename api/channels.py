"""Notification channels: a signed JSON webhook, WeCom and DingTalk group bots, SMTP e-mail.

Each channel is built from its settings (:mod:`api.settings.notify`) when the ticket
service starts: secrets named as ``${ENV}`` or by a ``*_env`` field are read from the
environment then, and a missing one stops the start with the config path in the message. A
channel's :meth:`Channel.send` makes ONE attempt; retries, backoff and the log are
:mod:`api.deliveries`' job. A failed attempt raises :class:`DeliveryFailed`, whose message has
been passed through the channel's redaction: URLs with keys, signing secrets and passwords
never reach a log, the database or the API.

Signed webhook (``type: webhook``). The body is the notification JSON plus ``delivery_id``
(the same in every attempt of one delivery: a receiver drops repeats by it). Headers::

    X-Hazardwatch-Timestamp: 1765000000            (Unix seconds of this attempt)
    X-Hazardwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes,
compares it with :func:`hmac.compare_digest`, and refuses a timestamp more than 5 minutes from
its own clock: a captured request cannot be replayed later, nor its timestamp changed without
breaking the signature (:func:`verify_signature` is that check).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

from pydantic import SecretStr

from api.notify_text import Rendered, events_of, is_urgent, render
from api.settings.notify import (
    ENV_REFERENCE,
    CreatedScope,
    DingTalkChannelSettings,
    EmailChannelSettings,
    NotificationSettings,
    WebhookChannelSettings,
    WeComChannelSettings,
)
from cameras.redact import redact_text

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Channel",
    "ChannelConfigError",
    "DeliveryFailed",
    "build_channels",
    "sign_body",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Hazardwatch-Signature"
TIMESTAMP_HEADER = "X-Hazardwatch-Timestamp"
DELIVERY_HEADER = "X-Hazardwatch-Delivery"
REPLAY_WINDOW_S = 300
_MASK = "***"
_MAX_RESPONSE = 64 * 1024
_USER_AGENT = "hazardwatch-notify/1"
# 4xx answers worth another try: the receiver was busy, not the request wrong.
_RETRYABLE_4XX = frozenset({408, 425, 429})


class ChannelConfigError(ValueError):
    """A channel cannot be built (a secret's environment variable is not set, a bad URL)."""


class DeliveryFailed(Exception):
    """One attempt failed. ``permanent``: retrying cannot help (the receiver refused it)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    """One configured destination."""

    name: str
    kind: str
    timeout_s: float  # the longest one attempt takes

    def wants(self, note: Mapping[str, Any]) -> bool:
        """Whether this notification goes to this channel (its events, levels, kinds)."""

    def send(self, note: Mapping[str, Any], delivery_id: int) -> str:
        """Make one attempt; returns a short result ("HTTP 200"), raises DeliveryFailed."""


# --- secrets ---------------------------------------------------------------------------------


def _resolve(path: str, value: SecretStr | None, env: str | None) -> str | None:
    """A secret's value: literal, ``${ENV}``, or the variable named by the ``*_env`` field."""
    name: str | None = env
    literal = value.get_secret_value() if value is not None else None
    if literal is not None:
        match = ENV_REFERENCE.match(literal)
        if match is None:
            return literal
        name = match.group(1)
    if name is None:
        return None
    found = os.environ.get(name)
    if not found:
        raise ChannelConfigError(f"{path}: environment variable {name} is not set or empty")
    return found


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """A receiver's check of a signed webhook request (see the module docstring)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > window_s:
        return False
    return hmac.compare_digest(sign_body(secret, timestamp, body), signature)


@dataclass(frozen=True)
class _Filter:
    events: frozenset[str]
    all_created: bool
    levels: frozenset[str]
    hazard_kinds: frozenset[str]

    def wants(self, note: Mapping[str, Any]) -> bool:
        events = events_of(note) & self.events
        if not events:
            return False
        if events == {"created"} and not self.all_created and not is_urgent(note):
            return False
        if self.levels and note.get("level") not in self.levels:
            return False
        return not self.hazard_kinds or note.get("kind") in self.hazard_kinds


def _filter_of(settings: Any) -> _Filter:
    return _Filter(
        events=frozenset(str(e) for e in settings.events),
        all_created=settings.created is CreatedScope.ALL,
        levels=frozenset(settings.levels),
        hazard_kinds=frozenset(str(k) for k in settings.hazard_kinds),
    )


class _Base:
    """Filter, rendering and redaction shared by the channels."""

    kind = "base"
    timeout_s = 10.0

    def __init__(
        self, name: str, filt: _Filter, notify: NotificationSettings, secrets: Sequence[str]
    ) -> None:
        self.name = name
        self._filter = filt
        self._base_url = notify.public_base_url
        self._timezone = notify.timezone
        self._secrets = tuple(s for s in secrets if s)

    def wants(self, note: Mapping[str, Any]) -> bool:
        return self._filter.wants(note)

    def _render(self, note: Mapping[str, Any]) -> Rendered:
        return render(note, base_url=self._base_url, timezone=self._timezone)

    def redact(self, text: str) -> str:
        """``text`` without this channel's secrets (longest first), URL credentials masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
            quoted = urllib.parse.quote(secret, safe="")
            if quoted != secret:
                text = text.replace(quoted, _MASK)
        return redact_text(text)

    def _failed(self, message: str, *, permanent: bool = False) -> DeliveryFailed:
        return DeliveryFailed(self.redact(message)[:1000], permanent=permanent)


# --- HTTP channels ---------------------------------------------------------------------------


def _check_url(path: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelConfigError(f"{path}: the URL must be http(s)://host/... (value not shown)")
    return url


class _HttpChannel(_Base):
    """POST a JSON body; 2xx is success (and, for the bots, ``errcode`` 0)."""

    check_errcode = False

    def __init__(self, *args: Any, timeout_s: float) -> None:
        super().__init__(*args)
        self.timeout_s = timeout_s

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT, **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status = int(response.status)
                answer = response.read(_MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in _RETRYABLE_4XX
            raise self._failed(f"HTTP {exc.code} {exc.reason}", permanent=permanent) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise self._failed(f"{type(exc).__name__}: {reason}") from None
        if not 200 <= status < 300:
            raise self._failed(f"HTTP {status}")
        if self.check_errcode:
            self._check_errcode(answer, status)
        return f"HTTP {status}"

    def _check_errcode(self, answer: bytes, status: int) -> None:
        try:
            data = json.loads(answer or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._failed(f"HTTP {status} but the answer is not JSON") from None
        code = data.get("errcode", 0) if isinstance(data, dict) else 0
        if code != 0:
            message = str(data.get("errmsg", ""))[:200]
            raise self._failed(f"HTTP {status}, errcode {code}: {message}")


class WebhookChannel(_HttpChannel):
    """Generic JSON webhook, HMAC-signed (module docstring)."""

    kind = "webhook"

    def __init__(
        self, path: str, settings: WebhookChannelSettings, notify: NotificationSettings
    ) -> None:
        url = _check_url(path, _resolve(f"{path}.url", settings.url, settings.url_env) or "")
        secret = _resolve(f"{path}.secret", settings.secret, settings.secret_env) or ""
        if len(secret) < 16:
            raise ChannelConfigError(f"{path}.secret: at least 16 characters are needed")
        super().__init__(
            settings.name,
            _filter_of(settings),
            notify,
            [url, secret],
            timeout_s=settings.timeout_s,
        )
        self._url, self._secret = url, secret

    def send(self, note: Mapping[str, Any], delivery_id: int) -> str:
        body = json.dumps(
            {**note, "delivery_id": delivery_id}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_body(self._secret, timestamp, body),
            DELIVERY_HEADER: str(delivery_id),
        }
        return self._post(self._url, body, headers)


class WeComChannel(_HttpChannel):
    """WeCom group bot: ``{"msgtype": "markdown", "markdown": {"content": ...}}``."""

    kind = "wecom"
    check_errcode = True

    def __init__(
        self, path: str, settings: WeComChannelSettings, notify: NotificationSettings
    ) -> None:
        url = _check_url(path, _resolve(f"{path}.url", settings.url, settings.url_env) or "")
        super().__init__(
            settings.name, _filter_of(settings), notify, [url], timeout_s=settings.timeout_s
        )
        self._url = url

    def send(self, note: Mapping[str, Any], delivery_id: int) -> str:
        text = self._render(note)
        body = {"msgtype": "markdown", "markdown": {"content": text.markdown}}
        return self._post(self._url, json.dumps(body, ensure_ascii=False).encode(), {})


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's ``sign``: base64 HMAC-SHA256(secret, ``timestamp + "\\n" + secret``)."""
    material = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), material, hashlib.sha256).digest()).decode()


class DingTalkChannel(_HttpChannel):
    """DingTalk group bot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with a
    secret the URL gets ``timestamp`` (ms) and ``sign`` (:func:`dingtalk_sign`), as DingTalk's
    "加签" security setting requires."""

    kind = "dingtalk"
    check_errcode = True

    def __init__(
        self, path: str, settings: DingTalkChannelSettings, notify: NotificationSettings
    ) -> None:
        url = _check_url(path, _resolve(f"{path}.url", settings.url, settings.url_env) or "")
        secret = _resolve(f"{path}.secret", settings.secret, settings.secret_env)
        super().__init__(
            settings.name,
            _filter_of(settings),
            notify,
            [url, secret or ""],
            timeout_s=settings.timeout_s,
        )
        self._url, self._secret = url, secret

    def signed_url(self, timestamp_ms: int) -> str:
        if self._secret is None:
            return self._url
        sign = urllib.parse.quote_plus(dingtalk_sign(self._secret, timestamp_ms))
        joiner = "&" if urllib.parse.urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}timestamp={timestamp_ms}&sign={sign}"

    def send(self, note: Mapping[str, Any], delivery_id: int) -> str:
        text = self._render(note)
        body = {"msgtype": "markdown", "markdown": {"title": text.title, "text": text.markdown}}
        # The signed URL starts with the configured one, which redaction masks whole.
        url = self.signed_url(int(time.time() * 1000))
        return self._post(url, json.dumps(body, ensure_ascii=False).encode(), {})


# --- e-mail ----------------------------------------------------------------------------------


class EmailChannel(_Base):
    """SMTP with optional STARTTLS or implicit TLS, optional login; plain text and HTML."""

    kind = "email"

    def __init__(
        self, path: str, settings: EmailChannelSettings, notify: NotificationSettings
    ) -> None:
        password = _resolve(f"{path}.password", settings.password, settings.password_env)
        super().__init__(settings.name, _filter_of(settings), notify, [password or ""])
        self._settings = settings
        self._password = password
        self.timeout_s = settings.timeout_s

    def message(self, note: Mapping[str, Any], delivery_id: int) -> EmailMessage:
        text = self._render(note)
        msg = EmailMessage()
        msg["Subject"] = text.title
        msg["From"] = self._settings.sender
        msg["To"] = ", ".join(self._settings.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(idstring=f"hazardwatch.{delivery_id}")
        msg["X-Hazardwatch-Delivery"] = str(delivery_id)
        msg.set_content(text.plain)
        msg.add_alternative(text.html, subtype="html")
        return msg

    def send(self, note: Mapping[str, Any], delivery_id: int) -> str:
        s = self._settings
        msg = self.message(note, delivery_id)
        try:
            smtp: smtplib.SMTP
            if s.ssl:
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            with smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username is not None and self._password is not None:
                    smtp.login(s.username, self._password)
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise self._failed(
                f"every recipient refused: {exc.recipients}", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(f"SMTP {type(exc).__name__}: {exc}") from None
        if refused:
            return f"sent; refused by the server for {sorted(refused)}"
        return f"sent to {len(s.to)} recipient(s)"


def build_channels(settings: NotificationSettings) -> list[Channel]:
    """The channels of ``api.notifications``, secrets resolved from the environment.

    Raises:
        ChannelConfigError: naming the config path (``api.notifications.channels.0.secret``).
    """
    channels: list[Channel] = []
    for index, item in enumerate(settings.channels):
        path = f"api.notifications.channels.{index}"
        if isinstance(item, WebhookChannelSettings):
            channels.append(WebhookChannel(path, item, settings))
        elif isinstance(item, WeComChannelSettings):
            channels.append(WeComChannel(path, item, settings))
        elif isinstance(item, DingTalkChannelSettings):
            channels.append(DingTalkChannel(path, item, settings))
        else:
            channels.append(EmailChannel(path, item, settings))
    return channels
