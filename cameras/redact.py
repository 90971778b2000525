"""Credential redaction for camera URLs and for any text that may contain one.

Camera URLs carry passwords (``rtsp://admin:secret@10.0.0.21/...``) and sometimes tokens in the
query string. They must never reach a log, an error message or an API response, so everything that
prints a URL goes through :func:`redact_url`, and messages built from third-party text (pydantic,
PyYAML, FFmpeg) go through :func:`redact_text` as a last line of defence.
"""

from __future__ import annotations

import re

MASK = "***"

# Query-string parameters whose values are secrets. Matched case-insensitively on the whole name.
SECRET_QUERY_PARAMS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "token",
        "key",
        "secret",
        "auth",
        "access_token",
        "api_key",
        "apikey",
    }
)

_SCHEME_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.DOTALL)
# What may follow the userinfo's '@': a host name, IPv4 or bracketed IPv6, an optional port, and
# then the end or the start of the path, query or fragment.
_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%]+)(?::\d*)?(?:[/?#;]|$)")
_QUERY_PARAM_RE = re.compile(r"(?P<lead>[?&;](?P<name>[^=&#;?/]+)=)(?P<value>[^&#;]*)")
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")


def _split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split ``rest`` (the URL after ``scheme://``) into userinfo and the remainder.

    Passwords on cameras often contain unescaped ``#``, ``?``, ``/`` or ``@``, which make a
    standards-following parser (urllib) cut the authority short and leave part of the password in
    the path or fragment. So the userinfo is taken to end at the *last* ``@`` that is followed by
    something shaped like a host: this may over-redact an odd URL with an ``@`` in its query, but it
    never leaks a password. When no ``@`` is followed by a host (a malformed URL), the last one
    is used all the same.
    """
    last = at = rest.rfind("@")
    while at >= 0:
        if _HOST_RE.match(rest[at + 1 :]):
            return rest[:at], rest[at + 1 :]
        at = rest.rfind("@", 0, at)
    if last >= 0:
        return rest[:last], rest[last + 1 :]
    return None, rest


def _redact_query(tail: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("name").strip().lower() in SECRET_QUERY_PARAMS:
            return match.group("lead") + MASK
        return match.group(0)

    return _QUERY_PARAM_RE.sub(replace, tail)


def redact_url(url: str) -> str:
    """Return ``url`` with its credentials replaced by ``***``.

    The user and the password of the userinfo both become ``***``
    (``rtsp://***:***@10.0.0.21:554/Streaming/Channels/102``), and the values of query parameters
    named password, passwd, pwd, pass, token, key, secret, auth, access_token, api_key or apikey
    become ``***``. A string that is not a URL (a file path) is returned unchanged.

    Args:
        url: a camera URL or file path, possibly malformed.

    Returns:
        The redacted string; host, port, path and other parameters are kept so the URL stays
        recognisable in messages.
    """
    match = _SCHEME_RE.match(url)
    if match is None:
        return url
    scheme, rest = match.group("scheme"), match.group("rest")
    userinfo, remainder = _split_userinfo(rest)
    if userinfo is None:
        return scheme + _redact_query(rest)
    masked = f"{MASK}:{MASK}" if ":" in userinfo else MASK
    return f"{scheme}{masked}@{_redact_query(remainder)}"


def redact_text(text: str) -> str:
    """Redact every URL found in free text (error messages from other libraries, for example).

    Args:
        text: any text.

    Returns:
        ``text`` with each ``scheme://...`` run (up to whitespace or a quote) passed through
        :func:`redact_url`.
    """
    return _URL_IN_TEXT_RE.sub(lambda m: redact_url(m.group(0)), text)
