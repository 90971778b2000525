"""Settings of the notification channels (the config's ``api.notifications``).

The channels themselves are :mod:`api.channels` and the delivery queue :mod:`api.deliveries`;
the root config (:mod:`pipelines.config`) holds these settings as a field of ``api``.

Secrets (a webhook's signing secret, a group bot's URL with its key, the SMTP password) are
never meant to sit in a config file that is checked in or shown: each may be given as
``${ENV_NAME}`` or through its ``*_env`` field naming an environment variable, resolved when the
ticket service starts. Literal values are accepted too (a test, a demo) and are held as
:class:`pydantic.SecretStr`, so a printed config shows ``**********`` instead.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import Discriminator, Field, SecretStr, Tag, field_validator, model_validator

from cameras.schema import ConfigModel
from vision.types import HazardKind

__all__ = [
    "ENV_REFERENCE",
    "ChannelSettings",
    "CreatedScope",
    "DingTalkChannelSettings",
    "EmailChannelSettings",
    "NotificationSettings",
    "NotifyEvent",
    "WeComChannelSettings",
    "WebhookChannelSettings",
]

ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_CHANNEL_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_LEVELS = Literal["blue", "yellow", "orange", "red"]


class NotifyEvent(StrEnum):
    """What a channel may be told (a notification may be more than one of these at once).

    - ``created``: a new ticket (all of them, or only orange/red ones: see ``created``);
    - ``overdue``: a step missed its deadline (超时预警); the ticket was escalated for it;
    - ``escalated``: the ticket's level went up (an overdue step, or a hazard lasting long);
    - ``rechecked``: the zone stayed clear after rectification (复查);
    - ``reopened``: the hazard came back to a rechecked ticket;
    - ``hotspot``: repeated hazards at one place raised a hotspot ticket (隐患热点, area alert).
    """

    CREATED = "created"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    RECHECKED = "rechecked"
    REOPENED = "reopened"
    HOTSPOT = "hotspot"


class CreatedScope(StrEnum):
    URGENT = "urgent"  # orange and red only
    ALL = "all"


class _ChannelBase(ConfigModel):
    """Name and filter shared by every channel."""

    name: str = Field(
        pattern=_CHANNEL_NAME,
        description="The channel's name, shown in the delivery log (lower-case letters, digits, "
        "'_' and '-').",
    )
    events: tuple[NotifyEvent, ...] = Field(
        default=tuple(NotifyEvent),
        min_length=1,
        max_length=len(NotifyEvent),
        description="Which changes this channel is told of: created, overdue, escalated, "
        "rechecked, reopened, hotspot.",
    )
    created: CreatedScope = Field(
        default=CreatedScope.URGENT,
        description="Which new tickets are announced: 'urgent' (orange and red) or 'all'.",
    )
    levels: tuple[_LEVELS, ...] = Field(
        default=(),
        max_length=4,
        description="Only tickets of these levels (e.g. [orange, red]); empty: every level.",
    )
    hazard_kinds: tuple[HazardKind, ...] = Field(
        default=(),
        max_length=len(HazardKind),
        description="Only tickets of these hazard kinds; empty: every kind.",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="How long one delivery attempt may take."
    )


def _one_of(value: object, env: str | None, field: str) -> None:
    if (value is None) == (env is None):
        raise ValueError(f"give exactly one of '{field}' and '{field}_env'")


class WebhookChannelSettings(_ChannelBase):
    """A generic JSON webhook: the notification is POSTed as JSON, signed with HMAC-SHA256."""

    type: Literal["webhook"] = Field(
        description="Channel type: a JSON webhook, each request signed with HMAC-SHA256."
    )
    url: SecretStr | None = Field(
        default=None, description="The receiver's URL (http or https), or '${ENV_NAME}'."
    )
    url_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="Environment variable holding the URL."
    )
    secret: SecretStr | None = Field(
        default=None,
        description="The signing secret (at least 16 characters), or '${ENV_NAME}'.",
    )
    secret_env: str | None = Field(
        default=None,
        pattern=_ENV_NAME,
        description="Environment variable holding the signing secret.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> WebhookChannelSettings:
        _one_of(self.url, self.url_env, "url")
        _one_of(self.secret, self.secret_env, "secret")
        return self


class WeComChannelSettings(_ChannelBase):
    """A WeCom (企业微信) group bot: markdown text with a link to the ticket."""

    type: Literal["wecom"] = Field(
        description="Channel type: a WeCom (企业微信) group bot webhook (markdown)."
    )
    url: SecretStr | None = Field(
        default=None,
        description="The bot's webhook URL (its 'key' is a secret), or '${ENV_NAME}'.",
    )
    url_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="Environment variable holding the URL."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> WeComChannelSettings:
        _one_of(self.url, self.url_env, "url")
        return self


class DingTalkChannelSettings(_ChannelBase):
    """A DingTalk (钉钉) group bot; with a secret, the URL is signed (``timestamp`` + ``sign``)."""

    type: Literal["dingtalk"] = Field(
        description="Channel type: a DingTalk (钉钉) group bot (markdown; optional signed URL)."
    )
    url: SecretStr | None = Field(
        default=None,
        description="The bot's webhook URL (its access_token is a secret), or '${ENV_NAME}'.",
    )
    url_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="Environment variable holding the URL."
    )
    secret: SecretStr | None = Field(
        default=None,
        description="The bot's signing secret ('SEC...'), or '${ENV_NAME}'; none: unsigned.",
    )
    secret_env: str | None = Field(
        default=None,
        pattern=_ENV_NAME,
        description="Environment variable holding the signing secret.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> DingTalkChannelSettings:
        _one_of(self.url, self.url_env, "url")
        if self.secret is not None and self.secret_env is not None:
            raise ValueError("give at most one of 'secret' and 'secret_env'")
        return self


class EmailChannelSettings(_ChannelBase):
    """E-mail over SMTP: a plain-text and an HTML body."""

    type: Literal["email"] = Field(description="Channel type: e-mail over SMTP.")
    host: str = Field(min_length=1, max_length=253, description="The SMTP server.")
    port: int = Field(default=587, ge=1, le=65535, description="The SMTP port.")
    starttls: bool = Field(
        default=True, description="Upgrade the connection with STARTTLS before logging in."
    )
    ssl: bool = Field(default=False, description="Implicit TLS from the start (port 465).")
    username: str | None = Field(
        default=None, max_length=254, description="SMTP login; none: no login."
    )
    password: SecretStr | None = Field(default=None, description="SMTP password, or '${ENV_NAME}'.")
    password_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="Environment variable holding it."
    )
    sender: str = Field(
        min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$", description="From address."
    )
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)], ...] = Field(
        min_length=1, max_length=100, description="Recipients."
    )

    @model_validator(mode="after")
    def _login(self) -> EmailChannelSettings:
        if self.password is not None and self.password_env is not None:
            raise ValueError("give at most one of 'password' and 'password_env'")
        has_password = self.password is not None or self.password_env is not None
        if has_password and self.username is None:
            raise ValueError("a password needs a 'username'")
        if self.ssl and self.starttls:
            raise ValueError("'ssl' (implicit TLS) and 'starttls' exclude each other")
        return self


CHANNEL_TYPES = ("webhook", "wecom", "dingtalk", "email")


def _channel_type(value: Any) -> str | None:
    """The channel's tag; None (an unknown or missing type) gives the custom error below."""
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return found if found in CHANNEL_TYPES else None


ChannelSettings = Annotated[
    Annotated[WebhookChannelSettings, Tag("webhook")]
    | Annotated[WeComChannelSettings, Tag("wecom")]
    | Annotated[DingTalkChannelSettings, Tag("dingtalk")]
    | Annotated[EmailChannelSettings, Tag("email")],
    Discriminator(
        _channel_type,
        custom_error_type="channel_type",
        custom_error_message="a channel needs 'type': one of webhook, wecom, dingtalk, email",
    ),
]


class NotificationSettings(ConfigModel):
    """Where ticket changes are sent, and how failed deliveries are retried."""

    channels: tuple[ChannelSettings, ...] = Field(
        default=(),
        max_length=50,
        description="Notification channels (type webhook, wecom, dingtalk or email); none: "
        "changes are only put on the Redis stream hazardwatch:notifications.",
    )
    public_base_url: str | None = Field(
        default=None,
        max_length=300,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The address staff open the web pages at (e.g. https://safety.example.org); "
        "messages link to {public_base_url}/ui/review?ticket=ID. None: no link.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        max_length=64,
        description="The IANA time zone deadlines are written in (e.g. Asia/Shanghai).",
    )
    max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts of one delivery before it is given up."
    )
    backoff_initial_s: float = Field(
        default=30.0, gt=0, le=3600, description="Wait after the first failed attempt."
    )
    backoff_factor: float = Field(
        default=2.0, ge=1, le=10, description="Each further wait is this many times longer."
    )
    backoff_max_s: float = Field(
        default=3600.0, gt=0, le=86400, description="The longest wait between two attempts."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)")
        return value

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, channels: tuple[ChannelSettings, ...]) -> tuple[ChannelSettings, ...]:
        names = [channel.name for channel in channels]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"channel names must be unique: {', '.join(twice)} used twice")
        return channels
