"""``--redis-url``: checked before use, turned into clients, and probed at start-up.

Every part of hazardwatch that opens Redis (the event publisher, the ticket service, the API's
status reader, ``run``/``serve``/``up``/``demo``) takes the same URL, in the forms redis-py's
``from_url`` knows:

- ``redis://[[user]:password@]host[:port][/db]``: plain TCP; ``user`` is an ACL user (Redis 6+),
  ``:password@`` alone authenticates the ``default`` user (``requirepass``).
- ``rediss://...``: the same over TLS, with options in the query string:
  ``ssl_cert_reqs=required|optional|none``, ``ssl_ca_certs=/path/ca.pem`` (the CA that signed the
  server's certificate), ``ssl_certfile=`` and ``ssl_keyfile=`` (a client certificate, when the
  server asks for one), ``ssl_check_hostname=true|false``, ``ssl_ca_path=``, ``ssl_password=``.
- ``unix:///path/redis.sock[?db=N]``: a local socket.

Other query options redis-py takes (``socket_timeout``, ``health_check_interval``...) pass
through. Characters of a user or password that mean something in a URL (``@ : / ? # %``) must be
percent-encoded (``p@ss`` → ``p%40ss``): redis-py decodes them.

A URL is checked here rather than left to fail later: redis-py silently reads ``/abc`` as
database 0, passes an unknown option name to the connection (which fails with a TypeError at the
first command, far from the cause), and parses a password holding ``/``, ``?`` or ``#`` into a
wrong host and port. Every message names the URL with its credentials masked
(:func:`cameras.redact.redact_url`), never the URL itself.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from redis.connection import URL_QUERY_ARGUMENT_PARSERS

from cameras.redact import redact_text, redact_url

__all__ = [
    "PUBLISHER_ACL",
    "REDIS_SCHEMES",
    "TICKET_SERVICE_ACL",
    "RedisAccess",
    "RedisProbe",
    "RedisTarget",
    "RedisUrlError",
    "describe_redis_error",
    "parse_redis_url",
    "probe_redis",
    "redis_client",
]

REDIS_SCHEMES = ("redis", "rediss", "unix")

# ACL rules of the two Redis users a site needs (docs/redis-security.md; the tests run each part
# with exactly these): every command the part issues, on its keys only.
#
# A camera box's publisher (pipelines.publish): XADD events and XREVRANGE of the events stream
# (after a reconnect it looks for events it sent just before a crash), XADD zone status, HSET
# camera status, PING (``run`` checks the credentials at start-up). The two status keys are
# write-only (%W~): a box cannot read other boxes' status.
PUBLISHER_ACL = (
    "resetkeys resetchannels -@all +ping +xadd +xrevrange +hset "
    "~hazardwatch:events %W~hazardwatch:zone_status %W~hazardwatch:camera_status"
)
# The ticket service (api.service) and the API's status reader (api.status): the consumer group
# on events and zone status, the dead-letter and notification streams, MULTI/EXEC around a dead
# letter and its XACK, HMGET of camera status (read-only), PING for /health.
TICKET_SERVICE_ACL = (
    "resetkeys resetchannels -@all +ping +xgroup|create +xgroup|delconsumer +xreadgroup "
    "+xautoclaim +xinfo|consumers +xack +xadd +multi +exec +discard +hmget "
    "~hazardwatch:events ~hazardwatch:zone_status ~hazardwatch:events:dead "
    "~hazardwatch:notifications %R~hazardwatch:camera_status"
)
# Query options of the TLS connection (rediss:// only); the values of the file ones must exist.
_TLS_OPTIONS = frozenset(
    {
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "ssl_validate_ocsp",
        "ssl_validate_ocsp_stapled",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
    }
)
_FILE_OPTIONS = frozenset({"ssl_ca_certs", "ssl_certfile", "ssl_keyfile"})
_CERT_REQS = ("none", "optional", "required")
# Options of any connection (redis-py parses these from the query string itself).
_OTHER_OPTIONS = (frozenset(URL_QUERY_ARGUMENT_PARSERS) - _TLS_OPTIONS) | {
    "client_name",
    "username",
    "password",
}
_MAX_DB = 1_000_000  # a sanity bound; servers have 16 databases unless configured otherwise


class RedisUrlError(ValueError):
    """A ``--redis-url`` that cannot work; the message names what and masks the credentials."""


@dataclass(frozen=True)
class RedisTarget:
    """What a checked Redis URL points at (no credentials: only whether there are some).

    Attributes:
        safe_url: the URL with its credentials masked, for messages.
        scheme: ``redis``, ``rediss`` or ``unix``.
        host: the host name or address (None for ``unix``).
        port: the TCP port (6379 when not given; 0 for ``unix``).
        db: the database number.
        username: the ACL user named in the URL (None: the ``default`` user).
        has_password: whether the URL carries a password.
        options: the query options, by name (their values, which may hold a key password, are
            not shown anywhere).
    """

    safe_url: str
    scheme: str
    host: str | None
    port: int
    db: int
    username: str | None
    has_password: bool
    options: dict[str, str] = field(repr=False)

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def is_loopback(self) -> bool:
        return self.scheme == "unix" or self.host in ("127.0.0.1", "localhost", "::1")


def _fail(url: str, problem: str) -> RedisUrlError:
    if "://" not in url:  # not a URL: no telling where a password in it would be
        return RedisUrlError(f"the Redis URL (not shown) {problem}")
    return RedisUrlError(f"Redis URL {redact_url(url)!r}: {problem}")


def _check_options(url: str, scheme: str, query: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _fail(url, "the query string is not name=value pairs joined by '&'") from None
    options: dict[str, str] = {}
    for name, value in pairs:
        if name in options:
            raise _fail(url, f"the option {name!r} is given twice")
        if name in _TLS_OPTIONS and scheme != "rediss":
            raise _fail(url, f"the option {name!r} is for TLS: use a rediss:// URL")
        if name not in _TLS_OPTIONS and name not in _OTHER_OPTIONS:
            known = ", ".join(sorted(_TLS_OPTIONS | _OTHER_OPTIONS))
            raise _fail(url, f"unknown option {name[:40]!r}; known: {known}")
        options[name] = value
    reqs = options.get("ssl_cert_reqs")
    if reqs is not None and reqs.lower() not in _CERT_REQS:
        raise _fail(url, f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}, got {reqs!r}")
    for name in sorted(_FILE_OPTIONS & options.keys()):
        if not Path(options[name]).is_file():
            raise _fail(url, f"{name}: no such file {options[name]!r}")
    if "ssl_ca_path" in options and not Path(options["ssl_ca_path"]).is_dir():
        raise _fail(url, f"ssl_ca_path: no such folder {options['ssl_ca_path']!r}")
    return options


def _db_of(url: str, path: str, options: dict[str, str]) -> int:
    text = options.get("db", path.strip("/") or "0")
    if not text.isdigit() or int(text) > _MAX_DB:
        raise _fail(url, f"the database must be a number such as /0, got {text[:20]!r}")
    return int(text)


def parse_redis_url(url: str) -> RedisTarget:
    """Check a Redis URL (see the module docstring) and say what it points at.

    Raises:
        RedisUrlError: naming what is wrong: the scheme, a password that breaks the URL, the
            port, the database, an unknown option, a TLS option on a plain URL, a missing
            certificate file. The URL in the message has its credentials masked.
    """
    if not isinstance(url, str) or not url.strip():
        raise RedisUrlError("the Redis URL is empty: give redis://host:6379/0")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in REDIS_SCHEMES:
        raise _fail(url, "must start with redis://, rediss:// (TLS) or unix://")
    scheme = scheme.lower()
    parts = urlsplit(url)
    if ("@" in rest and "@" not in parts.netloc) or "@" in parts.path:
        raise _fail(
            url,
            "the user or password holds a '/', '?', '#' or '@' that is not percent-encoded "
            "(write %2F, %3F, %23, %40)",
        )
    if parts.fragment:
        raise _fail(url, "a '#' must be percent-encoded (%23)")
    options = _check_options(url, scheme, parts.query)
    try:
        port = parts.port
    except ValueError:
        raise _fail(url, "the port is not a number from 1 to 65535") from None
    username = unquote(parts.username) if parts.username else None
    has_password = bool(parts.password) or "password" in options
    if scheme == "unix":
        if not parts.path:
            raise _fail(url, "give the socket's path: unix:///run/redis/redis.sock")
        db = _db_of(url, "", options)
        return RedisTarget(redact_url(url), scheme, None, 0, db, username, has_password, options)
    host = parts.hostname or "localhost"
    db = _db_of(url, parts.path, options)
    return RedisTarget(
        redact_url(url),
        scheme,
        host,
        port or 6379,
        db,
        None if username in (None, "default") else username,
        has_password,
        options,
    )


def redis_client(url: str, *, timeout_s: float, **kwargs: Any) -> redis.Redis:
    """A client of the checked ``url`` with connect and socket timeouts of ``timeout_s``.

    ``kwargs`` go to ``redis.Redis.from_url`` (e.g. ``retry``); options in the URL win.

    Raises:
        RedisUrlError: the URL cannot work (see :func:`parse_redis_url`).
    """
    parse_redis_url(url)
    kwargs.setdefault("socket_connect_timeout", timeout_s)
    kwargs.setdefault("socket_timeout", timeout_s)
    try:
        return redis.Redis.from_url(url, **kwargs)
    except (ValueError, TypeError) as exc:  # checked above; redis-py may know more
        raise _fail(url, redact_text(str(exc))) from None


class RedisAccess(StrEnum):
    """What a probe of a Redis URL found."""

    UP = "up"  # answered and took the credentials
    UNREACHABLE = "unreachable"  # nothing answered (refused, timed out, name unknown)
    REFUSED_CREDENTIALS = "refused_credentials"  # answered, but not to these credentials
    TLS_FAILED = "tls_failed"  # the TLS handshake failed (certificate, protocol)


@dataclass(frozen=True)
class RedisProbe:
    """The outcome of :func:`probe_redis`; ``message`` is for people and has no credentials."""

    access: RedisAccess
    message: str


def describe_redis_error(exc: BaseException) -> str:
    """``Type: message`` of a Redis error, credentials masked (some errors quote a URL)."""
    return redact_text(f"{type(exc).__name__}: {exc}")[:500]


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "SSL" in text or "certificate" in text.lower()


def probe_redis(url: str, timeout_s: float = 2.0) -> RedisProbe:
    """Connect to ``url``, authenticate, PING, and say what happened.

    A user whose ACL does not allow PING still counts as up: it authenticated, and what it may
    do is checked as it does it.

    Raises:
        RedisUrlError: the URL cannot work (see :func:`parse_redis_url`).
    """
    target = parse_redis_url(url)
    where = target.safe_url
    client = redis_client(url, timeout_s=timeout_s, retry_on_timeout=False)
    try:
        client.ping()
    except redis.exceptions.NoPermissionError:
        return RedisProbe(RedisAccess.UP, f"Redis at {where} answered (this user may not PING)")
    except redis.exceptions.AuthenticationError as exc:
        return RedisProbe(
            RedisAccess.REFUSED_CREDENTIALS,
            f"Redis at {where} refused the credentials ({describe_redis_error(exc)}): check the "
            "user and password in --redis-url (percent-encode @ : / ? # in them)",
        )
    except redis.exceptions.ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "Authentication required" in text or "AUTH" in text.upper():
            return RedisProbe(
                RedisAccess.REFUSED_CREDENTIALS,
                f"Redis at {where} did not take the credentials ({describe_redis_error(exc)}): "
                "give the user and password it expects in --redis-url "
                "(redis://user:password@host:port/db)",
            )
        return RedisProbe(
            RedisAccess.UP, f"Redis at {where} answered ({describe_redis_error(exc)})"
        )
    except redis.exceptions.ConnectionError as exc:
        if target.tls and _is_tls_failure(exc):
            return RedisProbe(
                RedisAccess.TLS_FAILED,
                f"TLS with Redis at {where} failed ({describe_redis_error(exc)}): check "
                "ssl_ca_certs (the CA that signed the server's certificate), the host name the "
                "certificate names, and that the port speaks TLS",
            )
        hint = ""
        if not target.tls and "closed by server" in str(exc):
            hint = " (if that port speaks TLS, use rediss://)"
        return RedisProbe(
            RedisAccess.UNREACHABLE,
            f"no Redis answers at {where} ({describe_redis_error(exc)}){hint}",
        )
    except redis.exceptions.TimeoutError as exc:
        return RedisProbe(
            RedisAccess.UNREACHABLE,
            f"Redis at {where} did not answer ({describe_redis_error(exc)})",
        )
    finally:
        client.close()
    return RedisProbe(RedisAccess.UP, f"Redis at {where} answered")
