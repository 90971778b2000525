"""The requests the web pages make, read from their source (``api/pages/*.py``).

A page's script builds its addresses by concatenating string literals and expressions
(``'/cameras/' + encodeURIComponent(cam) + '/snapshot.jpg?t=' + Date.now()``), or with template
literals. :func:`page_requests` finds every string literal that starts with ``/`` and follows its
``+`` chain, so an expression becomes a ``{}`` placeholder, and reads the query parameters the page
adds: the ``name=`` pieces after ``?``, and for ``'/tickets?' + q.toString()`` the names given to
``q.set('name', ...)`` / ``q.append(...)`` / ``new URLSearchParams({name: ...})`` in the same file.
An address whose query the reader cannot work out is reported as such (``unresolved``), so a new
way of building queries makes the test say so rather than pass unread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "api" / "pages"

_QUOTES = "'\"`"
_EXPR_CHARS = re.compile(r"[\w$.]")
_CALL = re.compile(r"(HW\.api|fetch)\s*\(\s*$")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One address a page asks for: its path template (``{}`` for a computed part) and the query
    parameter names it adds; ``unresolved`` names a query expression that could not be read."""

    module: str
    line: int
    path: str
    query: frozenset[str] = field(default_factory=frozenset)
    method: str | None = None  # None: not a script's call (a link, a form, an image): any method
    unresolved: str | None = None

    def where(self) -> str:
        return f"api/pages/{self.module}:{self.line}"


def _read_literal(text: str, i: int) -> tuple[str, int]:
    """The literal starting at ``text[i]`` (a quote) with ``${...}``/``{...}`` parts as ``{}``;
    returns it and the index after its closing quote."""
    quote, i, out = text[i], i + 1, []
    while i < len(text) and text[i] != quote:
        ch = text[i]
        if ch == "\\":
            out.append(text[i : i + 2])
            i += 2
            continue
        if ch == "{" or (ch == "$" and text[i + 1 : i + 2] == "{"):
            i = _skip_balanced(text, text.index("{", i))
            out.append("{}")
            continue
        if ch == "\n" and quote != "`":
            break  # not a JS/Python one-line string after all
        out.append(ch)
        i += 1
    return "".join(out), i + 1


def _skip_balanced(text: str, i: int) -> int:
    """Index after the bracket group opening at ``text[i]``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[text[i]]]
    i += 1
    while stack and i < len(text):
        ch = text[i]
        if ch in _QUOTES:
            _lit, i = _read_literal(text, i)
            continue
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch == stack[-1]:
            stack.pop()
        i += 1
    return i


def _read_expression(text: str, i: int) -> tuple[str, int]:
    """An operand of ``+`` (identifiers, dots, calls, indexing) starting at ``text[i]``."""
    start = i
    while i < len(text):
        if _EXPR_CHARS.match(text[i]):
            i += 1
        elif text[i] in "([":
            i = _skip_balanced(text, i)
        else:
            break
    return text[start:i], i


def _chain(text: str, i: int) -> tuple[list[tuple[str, str]], int]:
    """The ``+`` chain starting with the literal at ``i``: ``[("lit", s) | ("expr", s)]``."""
    parts: list[tuple[str, str]] = []
    while True:
        if text[i] in _QUOTES:
            literal, i = _read_literal(text, i)
            parts.append(("lit", literal))
        else:
            expression, i = _read_expression(text, i)
            if not expression:
                break
            parts.append(("expr", expression))
        j = i
        while j < len(text) and text[j] in " \t\n":
            j += 1
        if j >= len(text) or text[j] != "+" or text[j + 1 : j + 2] in "+=":
            break
        i = j + 1
        while i < len(text) and text[i] in " \t\n":
            i += 1
    return parts, i


def _search_names(text: str, variable: str) -> set[str] | None:
    """Names a ``URLSearchParams`` held in ``variable`` is given in ``text`` (None: none seen)."""
    base = re.escape(variable)
    names = set(re.findall(rf"\b{base}\.(?:set|append)\(\s*['\"]([^'\"]+)['\"]", text))
    built = re.search(rf"\b{base}\s*=\s*new URLSearchParams\(\s*\{{([^}}]*)\}}", text)
    if built:
        names |= set(re.findall(r"['\"]?([A-Za-z_][\w-]*)['\"]?\s*:", built.group(1)))
    declared = re.search(rf"\b{base}\s*=\s*new URLSearchParams\(", text)
    return names if names or declared else None


def _method_of(text: str, start: int, end: int) -> str | None:
    """The HTTP method of the ``HW.api(``/``fetch(`` call whose first argument is at ``start``
    (None when the address is not the first argument of such a call)."""
    if not _CALL.search(text[max(0, start - 40) : start]):
        return None
    close = _skip_balanced(text, text.rindex("(", 0, start))
    found = re.search(r"method\s*:\s*['\"](\w+)['\"]", text[end:close])
    return found.group(1).upper() if found else "GET"


def _request(
    module: str, text: str, start: int, parts: list[tuple[str, str]], end: int
) -> PageRequest | None:
    """One :class:`PageRequest` from a chain, or None when the chain is not an address."""
    template = "".join(value if kind == "lit" else "{}" for kind, value in parts)
    path, _, query_text = template.partition("?")
    if not re.fullmatch(r"/[\w{}./%-]*", path) or path.startswith("//"):
        return None
    names = set(re.findall(r"(?:^|&)([\w-]+)=", query_text))
    unresolved = None
    # An expression right after '?' or '&' is a whole query string: find what builds it.
    for index, (kind, value) in enumerate(parts):
        before = "".join(v for k, v in parts[:index] if k == "lit")
        if kind == "expr" and "?" in before and before.endswith(("?", "&")):
            variable = value.split(".")[0]
            found = _search_names(text, variable)
            if found is None:
                unresolved = value
            else:
                names |= found
    return PageRequest(
        module=module,
        line=text.count("\n", 0, start) + 1,
        path=path,
        query=frozenset(names),
        method=_method_of(text, start, end),
        unresolved=unresolved,
    )


def requests_in(module: str, text: str) -> list[PageRequest]:
    """Every address built in ``text`` (the source of one page module)."""
    found: list[PageRequest] = []
    done = 0  # the end of the last chain read: its later literals are not addresses of their own
    for match in re.finditer(r"(?:(?<![\w\\])|(?<=\bf))['\"`]/", text):
        start = match.start()
        if start < done or re.search(r"\+\s*$", text[max(0, start - 20) : start]):
            continue  # a later piece of an address ('/zones' in base + '/zones')
        parts, end = _chain(text, start)
        done = end
        request = _request(module, text, start, parts, end)
        if request is not None:
            found.append(request)
    return found


def page_requests(pages_dir: Path = PAGES_DIR) -> list[PageRequest]:
    """Every address built by the page modules in ``pages_dir``."""
    out: list[PageRequest] = []
    for path in sorted(pages_dir.glob("*.py")):
        out.extend(requests_in(path.name, path.read_text(encoding="utf-8")))
    return out
