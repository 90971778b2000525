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
from bisect import bisect_left

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
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_MAX_SCHEME_CHARS = 32
# What may follow the userinfo's '@': a host name, IPv4 or bracketed IPv6 (with a zone), an
# optional port, and then the end or a character that cannot continue a host.
_HOST_AFTER_AT_RE = re.compile(
    r"@(?:\[[0-9A-Za-z:.%\-]+\]|[A-Za-z0-9\-._~%]+)(?::\d*)?(?=$|[/?#;\s'\"<>()\[\],`|])"
)
_QUERY_PARAM_RE = re.compile(r"(?P<lead>[?&;](?P<name>[^=&#;?/\s]+)=)(?P<value>[^&#;\s]*)")
# A userinfo holding one of these is not a plain one: it may go on past a second URL.
_UNSAFE_IN_PLAIN_USERINFO = re.compile(r"[\s'\"<>`]")
# Characters after which a scheme starts a new URL rather than continuing a password.
_BOUNDARY_BEFORE_URL = frozenset(" \t\f\v'\"<>([{,;=|`")
_LINE_END_RE = re.compile(r"[\r\n]")
_SPACE_RE = re.compile(r"\s")


def _last_before(positions: list[int], start: int, stop: int) -> int | None:
    """The largest of the sorted ``positions`` in ``[start, stop)``, or None."""
    index = bisect_left(positions, stop) - 1
    return positions[index] if index >= 0 and positions[index] >= start else None


def _first_from(positions: list[int], start: int) -> int | None:
    """The smallest of the sorted ``positions`` at or after ``start``, or None."""
    index = bisect_left(positions, start)
    return positions[index] if index < len(positions) else None


class _Scan:
    """Where the '@'s, hosts, URLs, unsafe characters and line ends of a text are, found once
    (linear time), so that each URL is then cut with a few binary searches: a hostile text
    (a status record written by anyone with Redis access) cannot make redaction quadratic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.host_ats = [m.start() for m in _HOST_AFTER_AT_RE.finditer(text)]
        self.ats = [i for i, ch in enumerate(text) if ch == "@"]
        self.unsafe = [m.start() for m in _UNSAFE_IN_PLAIN_USERINFO.finditer(text)]
        self.line_ends = [m.start() for m in _LINE_END_RE.finditer(text)]
        self.spaces = [m.start() for m in _SPACE_RE.finditer(text)]
        self.urls = self._find_urls(text)  # (scheme start, userinfo start)
        self.begins = [begin for begin, _ in self.urls]
        self.new_url_begins = [b for b in self.begins if b and text[b - 1] in _BOUNDARY_BEFORE_URL]

    @staticmethod
    def _find_urls(text: str) -> list[tuple[int, int]]:
        urls = []
        slashes = text.find("://")
        while slashes >= 0:
            begin = slashes
            while (
                begin > 0
                and text[begin - 1] in _SCHEME_CHARS
                and slashes - begin < _MAX_SCHEME_CHARS
            ):
                begin -= 1
            while begin < slashes and not text[begin].isalpha():  # a scheme starts with a letter
                begin += 1
            if begin < slashes:
                urls.append((begin, slashes + 3))
            slashes = text.find("://", slashes + 3)
        return urls

    def userinfo_end(self, start: int, stop: int) -> int | None:
        """The '@' ending a userinfo that begins at ``start`` (looked for before ``stop``): the
        last '@' followed by a host, else the last '@'; None when there is none."""
        at = _last_before(self.host_ats, start, stop)
        return at if at is not None else _last_before(self.ats, start, stop)

    def search_stop(self, start: int) -> int:
        """Where the search for the '@' of the userinfo beginning at ``start`` stops: the end of
        the line, or the next URL when the text before it is a complete plain URL (or holds no
        '@' at all). A userinfo with whitespace or a quote runs to the end of the line."""
        line_end = _first_from(self.line_ends, start)
        line_end = len(self.text) if line_end is None else line_end
        begin = _first_from(self.new_url_begins, start)
        if begin is None or begin >= line_end:
            return line_end
        at = self.userinfo_end(start, begin)
        if at is None or _last_before(self.unsafe, start, at) is None:
            return begin
        return line_end

    def tail_end(self, start: int) -> int:
        """End of the host, path and query that begin at ``start``: the next whitespace, or the
        next URL (``?next=http://...``), which is then redacted on its own."""
        ends = [len(self.text)]
        for positions in (self.spaces, self.begins):
            found = _first_from(positions, start)
            if found is not None:
                ends.append(found)
        return min(ends)


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
    scan = _Scan(rest)
    at = scan.userinfo_end(0, len(rest))
    if at is None:
        return scheme + _redact_query(rest)
    return f"{scheme}{_mask(rest[:at])}@{_redact_query(rest[at + 1 :])}"


def redact_text(text: str) -> str:
    """Redact every URL found in free text (error messages from other libraries, for example).

    See the module docstring for how URLs are found and where their credentials end. Linear
    time (plus a logarithm) in the length of ``text``, whatever it holds.

    Args:
        text: any text.

    Returns:
        ``text`` with the userinfo of every ``scheme://`` URL masked and the values of secret
        query parameters masked.
    """
    scan = _Scan(text)
    out: list[str] = []
    done = 0  # text[:done] is already in ``out``
    for _, start in scan.urls:
        if start <= done:
            continue  # inside a span already masked (a '://' in a password)
        out.append(text[done:start])
        at = scan.userinfo_end(start, scan.search_stop(start))
        if at is not None:
            out.append(_mask(text[start:at]) + "@")
            start = at + 1
        done = scan.tail_end(start)
        out.append(_redact_query(text[start:done]))
    out.append(text[done:])
    return "".join(out)
