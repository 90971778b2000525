"""Bearer tokens, roles and page sessions of the API (ARCHITECTURE.md §6).

Tokens are configured as their SHA-256 only (``api.tokens[].token_sha256``); the environment
variable ``HAZARDWATCH_ADMIN_TOKEN`` adds an admin named ``env-admin``. A presented token is hashed
and compared with *every* configured hash with :func:`hmac.compare_digest`, so neither the answer
nor its timing tells which hash, or which prefix of one, came close.

Web pages cannot send an ``Authorization`` header on navigation, so a token given once (login form
or ``?token=``) is exchanged for a session cookie. The cookie holds an HMAC-signed record of the
token's *name*, an expiry, a random session id and a fingerprint of the token's hash — never the
token itself — and a changed or removed token invalidates its sessions. Requests authenticated by
the cookie that change state must also carry the header ``X-Hazardwatch: 1``: a cross-site form
cannot set it, so the cookie alone never suffices for a write (CSRF).

Logging out revokes the session on the server, not only in the browser: its id goes into a
revocation list (:class:`SessionRevocations`) that every check consults until the cookie would
have expired anyway. The app keeps that list in the ticket database (:class:`api.store.TicketStore`
implements it), because that is the one thing every server process of a site already shares: with
several uvicorn workers (or a session secret shared between processes) a logout in one must end
the session in all, and a list in one process's memory would not. Redis was the other candidate;
it is not needed to serve pages and may be down, and a revocation that is lost while Redis is
down is no revocation. The list holds only ids of sessions not yet expired, so it stays small.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from api.settings.roles import ENV_ADMIN_NAME, TokenRole
from pipelines.config import HazardwatchConfig

ADMIN_TOKEN_ENV = "HAZARDWATCH_ADMIN_TOKEN"
SESSION_COOKIE = "hw_session"
CSRF_HEADER = "x-hazardwatch"
SESSION_TTL_S = 12 * 3600
MAX_TOKEN_CHARS = 1024


class AuthError(Exception):
    """Base of the errors of this module."""


class Unauthenticated(AuthError):
    """No usable credentials: answered with 401 and ``WWW-Authenticate: Bearer``."""


class Forbidden(AuthError):
    """Authenticated, but the role may not do this: answered with 403."""


class AuthMethod(StrEnum):
    """How a request proved who it is."""

    BEARER = "bearer"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking.

    Attributes:
        name: the token's name (used as the actor in ticket history).
        role: admin, reviewer, grid_worker or public.
        cameras: camera ids a grid_worker may see; ``None`` for every other role (no limit).
        method: bearer header or session cookie.
    """

    name: str
    role: TokenRole
    cameras: frozenset[str] | None
    method: AuthMethod = AuthMethod.BEARER

    @property
    def is_public(self) -> bool:
        return self.role is TokenRole.PUBLIC

    @property
    def is_admin(self) -> bool:
        return self.role is TokenRole.ADMIN

    @property
    def is_staff(self) -> bool:
        """admin or reviewer: sees every camera and the operational views (metrics)."""
        return self.role in (TokenRole.ADMIN, TokenRole.REVIEWER)

    def sees_camera(self, camera_id: str) -> bool:
        """Whether this principal may see the camera's tickets and pictures at all."""
        if self.is_public:
            return False
        return self.cameras is None or camera_id in self.cameras

    def with_method(self, method: AuthMethod) -> Principal:
        return Principal(self.name, self.role, self.cameras, method)


@dataclass(frozen=True, slots=True)
class _TokenEntry:
    name: str
    role: TokenRole
    cameras: frozenset[str] | None
    digest: bytes  # raw 32-byte SHA-256 of the token


def sha256_hex(token: str) -> str:
    """SHA-256 of a token as 64 lowercase hex digits (what ``token_sha256`` holds)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRegistry:
    """The configured tokens, looked up by the token presented.

    Args:
        config: the validated config (its ``api.tokens``).
        environ: where ``HAZARDWATCH_ADMIN_TOKEN`` is read; ``os.environ`` by default.
    """

    def __init__(self, config: HazardwatchConfig, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        entries: list[_TokenEntry] = []
        tokens = config.api.tokens if config.api is not None else ()
        for token in tokens:
            cameras = frozenset(token.cameras) if token.role is TokenRole.GRID_WORKER else None
            entries.append(
                _TokenEntry(token.name, token.role, cameras, bytes.fromhex(token.token_sha256))
            )
        env_token = env.get(ADMIN_TOKEN_ENV, "")
        if env_token:
            digest = hashlib.sha256(env_token.encode("utf-8")).digest()
            entries.append(_TokenEntry(ENV_ADMIN_NAME, TokenRole.ADMIN, None, digest))
        self._entries = tuple(entries)
        self._by_name = {entry.name: entry for entry in entries}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self._entries)

    def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``, or ``None`` when it matches no configured token.

        Every configured hash is compared, matched or not, in constant time per comparison.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: _TokenEntry | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest) and found is None:
                found = entry
        if found is None:
            return None
        return Principal(found.name, found.role, found.cameras)

    def fingerprint(self, name: str) -> str | None:
        """Short digest of the named token's hash (ties a session to the token it came from)."""
        entry = self._by_name.get(name)
        if entry is None:
            return None
        return hashlib.sha256(b"session:" + entry.digest).hexdigest()[:32]

    def principal_by_name(self, name: str) -> Principal | None:
        entry = self._by_name.get(name)
        if entry is None:
            return None
        return Principal(entry.name, entry.role, entry.cameras)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionRevocations(Protocol):
    """Where revoked session ids are kept until the session would have expired anyway."""

    def revoke_session(self, session_id: str, expires_at: datetime) -> None:
        """Refuse ``session_id`` from now on (until ``expires_at``, when it expires anyway)."""

    def session_revoked(self, session_id: str) -> bool:
        """Whether ``session_id`` was revoked."""


class MemoryRevocations:
    """Revoked session ids in this process's memory: right only for a single process whose
    session secret is its own (the cookies of no other process verify here anyway)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, datetime] = {}

    def revoke_session(self, session_id: str, expires_at: datetime) -> None:
        now = datetime.now(UTC)
        with self._lock:
            self._expiry = {sid: exp for sid, exp in self._expiry.items() if exp > now}
            self._expiry[session_id] = expires_at

    def session_revoked(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._expiry


class SessionSigner:
    """Signs and checks session cookies: ``base64(payload).base64(hmac_sha256)``.

    Args:
        registry: the tokens; a session is valid only while its token still exists unchanged.
        secret: HMAC key; a random one per process by default (sessions end on restart).
        ttl_s: lifetime of a session in seconds.
        revocations: where logouts are recorded (the app passes its ticket store, shared by
            every process of the site); this process's memory by default.
    """

    def __init__(
        self,
        registry: TokenRegistry,
        secret: bytes | None = None,
        ttl_s: int = SESSION_TTL_S,
        revocations: SessionRevocations | None = None,
    ) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError(f"session secret must be at least 16 bytes, got {len(secret)}")
        self._registry = registry
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.ttl_s = ttl_s
        self._revocations: SessionRevocations = (
            revocations if revocations is not None else MemoryRevocations()
        )

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(self, principal: Principal, now_s: float | None = None) -> str:
        """A cookie value for ``principal``, valid for ``ttl_s``."""
        now = time.time() if now_s is None else now_s
        fingerprint = self._registry.fingerprint(principal.name)
        if fingerprint is None:
            raise ValueError(f"no configured token is named '{principal.name}'")
        record = {
            "n": principal.name,
            "exp": int(now) + self.ttl_s,
            "k": fingerprint,
            "sid": _b64encode(secrets.token_bytes(18)),
        }
        payload = json.dumps(record, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def verify(self, cookie: str, now_s: float | None = None) -> Principal | None:
        """The principal of a cookie value, or ``None`` if forged, expired or revoked (logged
        out, or its token changed or removed)."""
        checked = self._check(cookie, now_s)
        if checked is None or self._revocations.session_revoked(checked[1]):
            return None
        return checked[0]

    def revoke(self, cookie: str, now_s: float | None = None) -> bool:
        """End the session of a cookie value for good (logout); False if it was not valid."""
        checked = self._check(cookie, now_s)
        if checked is None:
            return False
        _principal, session_id, expiry = checked
        self._revocations.revoke_session(session_id, datetime.fromtimestamp(expiry, UTC))
        return True

    def _check(self, cookie: str, now_s: float | None) -> tuple[Principal, str, int] | None:
        """(principal, session id, expiry) of an authentic, unexpired cookie of a current
        token; revocation is not looked at."""
        if not cookie or len(cookie) > 4096 or cookie.count(".") != 1:
            return None
        payload_b64, mac_b64 = cookie.split(".")
        try:
            payload = _b64decode(payload_b64)
            mac = _b64decode(mac_b64)
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            record = json.loads(payload)
            name, expiry, fingerprint = str(record["n"]), int(record["exp"]), str(record["k"])
            session_id = str(record["sid"])  # a cookie without one could not be revoked
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time() if now_s is None else now_s
        if expiry < now or not 16 <= len(session_id) <= 64:
            return None
        current = self._registry.fingerprint(name)
        if current is None or not hmac.compare_digest(current, fingerprint):
            return None
        principal = self._registry.principal_by_name(name)
        if principal is None:
            return None
        return principal.with_method(AuthMethod.SESSION), session_id, expiry


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` when absent.

    Raises:
        Unauthenticated: the header is present but not a bearer token.
    """
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("expected the header 'Authorization: Bearer <token>'")
    return value.strip()


def require_role(principal: Principal, roles: Iterable[TokenRole], what: str) -> None:
    """Raise :class:`Forbidden` unless the principal has one of ``roles``."""
    allowed = tuple(roles)
    if principal.role not in allowed:
        names = ", ".join(role.value for role in allowed)
        raise Forbidden(
            f"{what} needs the role {names}; token '{principal.name}' is {principal.role.value}"
        )
