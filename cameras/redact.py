"""Credential redaction for camera URLs and for any text that may contain one.

Camera URLs carry passwords (``rtsp://admin:secret@10.0.0.21/...``) and sometimes tokens in the
query string. They must never reach a log, an error message or an API response, so everything that
prints a URL goes through :func:`redact_url`, and messages built from third-party text (pydantic,
PyYAML, FFmpeg, Redis, a status record read back from Redis) go through :func:`redact_text` as a
last line of defence.

How a URL is found and cut (the rules the tests pin down):

- A URL starts at a scheme followed by ``://`` (``rtsp``, ``rtsps``, ``http(s)``, ``redis(s)``,
  ``rtmp``, any ``[A-Za-z][A-Za-z0-9+.-]*``), even when glued to the word before it.
- Its userinfo (``user:password``) runs from after ``//`` to the **last** ``@`` that is followed
  by something shaped like a host (name, IPv4 or bracketed IPv6, optional port, then the end, a
  ``/?#;``, whitespace, a quote or a closing bracket). Camera passwords hold unescaped ``@ : / ?
  #``, quotes (``'`` is legal in a URL password), spaces and ``< >``, so the userinfo is never
  cut at any character class: a password can only end at an ``@``, and taking the last one
  never leaves part of it behind. When no ``@`` is followed by a host, the last ``@`` is used
  all the same.
- In free text the search for that ``@`` ends at the end of the line, or earlier at the start of
  another URL when the text before it holds a complete, plain userinfo (no whitespace, quote or
  angle bracket) and host: so ``rtsp://a:p1@h1/x and rtsp://b:p2@h2/y`` keeps both hosts, while a
  password with a space or quote is masked whole however it continues.
- What this may cost: an ``@`` later on the same line (an e-mail address after a URL) can make the
  masked span longer than the userinfo; that hides more text than needed, never less. A password
  that itself contains whitespace or a quote followed by ``scheme://`` cannot be told from a
  second URL and may be shown in part; no camera or Redis password looks like that.
- Query parameters named like secrets (``password``, ``token``, ``key``... see
  :data:`SECRET_QUERY_PARAMS`) have their values masked up to the next ``&``, ``#``, ``;`` or
  whitespace. A percent-encoded password is masked like any other (the whole userinfo goes).
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
        "ssl_password",
    }
)

_SCHEME_RE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>.*)$", re.DOTALL)
# A scheme in free text, wherever it starts: ``0rtsp://`` glued to a word is still a URL.
_SCHEME_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# What may follow the userinfo's '@': a host name, IPv4 or bracketed IPv6 (with a zone), an
# optional port, and then the end or a character that cannot continue a host.
_HOST_AFTER_AT_RE = re.compile(
    r"@(?:\[[0-9A-Za-z:.%\-]+\]|[A-Za-z0-9\-._~%]+)(?::\d*)?(?=$|[/?#;\s'\"<>()\[\],`|])"
)
_QUERY_PARAM_RE = re.compile(r"(?P<lead>[?&;](?P<name>[^=&#;?/\s]+)=)(?P<value>[^&#;\s]*)")
# Characters that separate a URL from the text around it (a URL's tail ends at whitespace).
_UNSAFE_IN_PLAIN_USERINFO = re.compile(r"[\s'\"<>`]")
# Characters after which a scheme starts a new URL rather than continuing a password.
_BOUNDARY_BEFORE_URL = frozenset(" \t\f\v'\"<>([{,;=|`")
_LINE_END_RE = re.compile(r"[\r\n]")
_SPACE_RE = re.compile(r"\s")


def _userinfo_end(text: str, start: int, stop: int) -> int | None:
    """Index of the '@' ending the userinfo that begins at ``start`` (search ends at ``stop``):
    the last '@' followed by a host, else the last '@'; None when there is none."""
    last_host_at = None
    for match in _HOST_AFTER_AT_RE.finditer(text, start, stop):
        last_host_at = match.start()
    if last_host_at is not None:
        return last_host_at
    at = text.rfind("@", start, stop)
    return at if at >= 0 else None


def _redact_query(tail: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("name").strip().lower() in SECRET_QUERY_PARAMS:
            return match.group("lead") + MASK
        return match.group(0)

    return _QUERY_PARAM_RE.sub(replace, tail)


def _mask(userinfo: str) -> str:
    return f"{MASK}:{MASK}" if ":" in userinfo else MASK


def redact_url(url: str) -> str:
    """Return ``url`` with its credentials replaced by ``***``.

    The user and the password of the userinfo both become ``***``
    (``rtsp://***:***@10.0.0.21:554/Streaming/Channels/102``), and the values of query parameters
    named password, passwd, pwd, pass, token, key, secret, auth, access_token, api_key, apikey or
    ssl_password become ``***``. A string that is not a URL (a file path) is returned unchanged.

    Args:
        url: a camera (or Redis) URL or file path, possibly malformed.

    Returns:
        The redacted string; host, port, path and other parameters are kept so the URL stays
        recognisable in messages.
    """
    match = _SCHEME_RE.match(url)
    if match is None:
        return url
    scheme, rest = match.group("scheme"), match.group("rest")
    at = _userinfo_end(rest, 0, len(rest))
    if at is None:
        return scheme + _redact_query(rest)
    return f"{scheme}{_mask(rest[:at])}@{_redact_query(rest[at + 1 :])}"


def _search_stop(text: str, start: int, line_end: int, urls: list[tuple[int, int]]) -> int:
    """Where the search for the '@' ending the userinfo that begins at ``start`` stops: the end
    of the line, or the start of the next URL when the text before it is a complete plain
    URL (or holds no '@' at all).

    Args:
        urls: ``(scheme start, userinfo start)`` of every URL in ``text``, in order.
    """
    for begin, _ in urls:
        if begin < start:
            continue
        if begin >= line_end:
            break
        if text[begin - 1] not in _BOUNDARY_BEFORE_URL:
            continue  # ``user:x://`` inside a password, not a new URL
        at = _userinfo_end(text, start, begin)
        if at is None or not _UNSAFE_IN_PLAIN_USERINFO.search(text, start, at):
            return begin
    return line_end


def _tail_end(text: str, start: int, urls: list[tuple[int, int]]) -> int:
    """End of the host, path and query that begin at ``start``: the next whitespace, or the
    start of the next URL (``?next=http://...``), which is then redacted on its own."""
    space = _SPACE_RE.search(text, start)
    end = space.start() if space else len(text)
    for begin, _ in urls:
        if start <= begin < end:
            return begin
    return end


def redact_text(text: str) -> str:
    """Redact every URL found in free text (error messages from other libraries, for example).

    See the module docstring for how URLs are found and where their credentials end.

    Args:
        text: any text.

    Returns:
        ``text`` with the userinfo of every ``scheme://`` URL masked and the values of secret
        query parameters masked.
    """
    urls = [(m.start(), m.end()) for m in _SCHEME_IN_TEXT_RE.finditer(text)]
    out: list[str] = []
    done = 0  # text[:done] is already in ``out``
    for _, start in urls:
        if start <= done:
            continue  # inside a span already masked (a '://' in a password)
        out.append(text[done:start])
        line = _LINE_END_RE.search(text, start)
        line_end = line.start() if line else len(text)
        at = _userinfo_end(text, start, _search_stop(text, start, line_end, urls))
        if at is not None:
            out.append(_mask(text[start:at]) + "@")
            start = at + 1
        done = _tail_end(text, start, urls)
        out.append(_redact_query(text[start:done]))
    out.append(text[done:])
    return "".join(out)
