"""Media files (evidence clips, snapshots, live pictures) as HTTP responses with byte ranges.

Paths come from events and the ticket store, i.e. from outside this process: every path is
resolved (symlinks followed) and must land on a regular file *inside* the folder it belongs to
(:func:`resolve_inside`; evidence is held to its camera's folder and its recorded SHA-256 by
:mod:`api.evidence_files`), or it is not served. A relative path is taken relative to the base
folder; ``..`` that climbs out, an absolute path elsewhere, a symlink pointing out, a device or a
directory are all refused, before anything opens the file.

Range requests follow RFC 9110 §14 for one range: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``
answer 206 with ``Content-Range``; a range that starts past the end or cannot be parsed answers 416
with ``Content-Range: bytes */size``. Positions are ASCII digits, at most 20 of them: longer ones
are refused before any conversion (Python refuses to convert more than 4300 digits, and no file
is 10**20 bytes long). A request with several ranges gets the whole file (a server may ignore
Range), which every player handles, instead of a multipart body nobody needs here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from pipelines.evidence_crypto import plaintext_size

CHUNK_BYTES = 64 * 1024
_MAX_RANGES = 16
_MAX_POSITION_DIGITS = 20
_RANGE_SPEC_RE = re.compile(r"^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")


class MediaError(Exception):
    """Base of the errors of this module."""


class MediaNotFound(MediaError):
    """The file is missing, not a regular file, or its path is not inside its folder."""


class RangeNotSatisfiable(MediaError):
    """The Range header cannot be served for a file of ``size`` bytes."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive byte range ``first..last`` of a file."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def resolve_inside(
    root: Path,
    stored: str | os.PathLike[str],
    *,
    base: Path | None = None,
    root_name: str = "the data directory",
) -> Path:
    """The real path of ``stored`` (absolute, or relative to ``base``) if it is a file in ``root``.

    Nothing is opened: only ``stat`` is used, so a path that names something it must not (the
    ticket database) is refused without touching that file.

    Args:
        root: the folder the file must be in (after symlinks are followed).
        stored: the path as stored (text from an event or the ticket store).
        base: what a relative ``stored`` is relative to (default: ``root``).
        root_name: how error messages name ``root``.

    Raises:
        MediaNotFound: empty path, NUL byte, a path outside ``root`` (``..``, absolute elsewhere,
            a symlink out), a missing file, or something that is not a regular file.
    """
    text = os.fspath(stored)
    if not text or "\x00" in text:
        raise MediaNotFound("the stored media path is empty or malformed")
    root_real = root.resolve(strict=False)
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = (root_real if base is None else base.resolve(strict=False)) / candidate
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise MediaNotFound("the media file does not exist") from None
    except (OSError, RuntimeError):  # a symlink loop, a path too long
        raise MediaNotFound("the media path cannot be resolved") from None
    if not real.is_relative_to(root_real):
        raise MediaNotFound(f"the media path is outside {root_name}")
    try:
        mode = real.stat().st_mode
    except OSError:
        raise MediaNotFound("the media file does not exist") from None
    if not stat.S_ISREG(mode):
        raise MediaNotFound("the media path is not a regular file")
    return real


def parse_range(header: str, size: int) -> ByteRange | None:
    """The one byte range asked for by a ``Range`` header, or ``None`` to send the whole file.

    ``None`` means several ranges were asked for (served whole, see the module doc).

    Raises:
        RangeNotSatisfiable: malformed header, unknown unit, a range starting past the end, an
            empty suffix range, or a file of size 0.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise RangeNotSatisfiable(
            f"Range must look like 'bytes=first-last', got {_shown(header)}", size
        )
    parts = spec.split(",")
    if len(parts) > _MAX_RANGES:
        raise RangeNotSatisfiable(f"too many ranges ({len(parts)}, at most {_MAX_RANGES})", size)
    ranges = [_parse_one(part, size, header) for part in parts]
    return ranges[0] if len(ranges) == 1 else None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _position(text: str, part: str) -> int:
    """A byte position of a range spec, refused before ``int()`` when it is absurdly long."""
    if len(text) > _MAX_POSITION_DIGITS:
        raise RangeNotSatisfiable(
            f"byte position in range {_shown(part.strip())} has {len(text)} digits "
            f"(at most {_MAX_POSITION_DIGITS})",
            0,
        )
    return int(text)


def _parse_one(part: str, size: int, header: str) -> ByteRange:
    match = _RANGE_SPEC_RE.match(part)
    if match is None or (not match.group(1) and not match.group(2)):
        raise RangeNotSatisfiable(f"malformed byte range in {_shown(header)}", size)
    first_text, last_text = match.groups()
    try:
        first = _position(first_text, part) if first_text else None
        last = _position(last_text, part) if last_text else None
    except RangeNotSatisfiable as exc:
        raise RangeNotSatisfiable(str(exc), size) from None
    if first is None:  # suffix: the last n bytes
        if not last or size == 0:
            raise RangeNotSatisfiable(
                f"suffix range {_shown(part.strip())} selects nothing of a {size}-byte file", size
            )
        return ByteRange(max(0, size - last), size - 1)
    if last is not None and last < first:
        raise RangeNotSatisfiable(f"range {_shown(part.strip())} ends before it starts", size)
    if first >= size:
        raise RangeNotSatisfiable(
            f"range {_shown(part.strip())} starts at or past the end of the {size}-byte file", size
        )
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))


def _read_chunks(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:  # the file shrank under us: end the body early, never loop
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_response(
    request: Request,
    path: Path,
    media_type: str,
    *,
    etag: str | None = None,
    filename: str | None = None,
    cache_control: str = "private, max-age=300",
) -> Response:
    """Serve ``path`` (already checked with :func:`resolve_inside`), honouring ``Range``.

    Raises:
        MediaNotFound: the file disappeared before it could be opened.
    """
    try:
        handle = path.open("rb")
    except OSError:
        raise MediaNotFound("the media file does not exist") from None
    return handle_response(
        request,
        handle,
        media_type,
        etag=etag,
        filename=filename,
        cache_control=cache_control,
    )


def handle_response(
    request: Request,
    handle: BinaryIO,
    media_type: str,
    *,
    etag: str | None = None,
    filename: str | None = None,
    cache_control: str = "private, max-age=300",
) -> Response:
    """Serve an open file, honouring ``Range``; the response closes ``handle``.

    Serving the handle that was checked (rather than opening the path again) means a file
    renamed over the path in between is never what gets sent. A decrypting handle
    (:mod:`pipelines.evidence_crypto`) serves the plaintext, and a range decrypts only the
    chunks it covers.

    Args:
        request: the request (its ``Range``, ``If-Range`` headers and method).
        handle: the file, opened for binary reading; owned by the response from here on.
        media_type: Content-Type of the file.
        etag: strong validator (e.g. the file's SHA-256); ``If-Range`` must match it for a range.
        filename: suggested file name for ``Content-Disposition: inline``.
        cache_control: Cache-Control header value.
    """
    try:
        size = plaintext_size(handle)  # an encrypted evidence file: its plaintext's length
    except OSError:
        handle.close()
        raise MediaNotFound("the media file cannot be read") from None
    headers = {"Accept-Ranges": "bytes", "Cache-Control": cache_control}
    if etag:
        headers["ETag"] = f'"{etag}"'
    if filename:
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
    byte_range: ByteRange | None = None
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if range_header is not None and (if_range is None or (etag and if_range == f'"{etag}"')):
        try:
            byte_range = parse_range(range_header, size)
        except RangeNotSatisfiable as exc:
            handle.close()
            return JSONResponse(
                {"detail": str(exc)},
                status_code=416,
                headers={**headers, "Content-Range": f"bytes */{exc.size}"},
            )
    status = 200
    start, length = 0, size
    if byte_range is not None:
        status = 206
        start, length = byte_range.first, byte_range.length
        headers["Content-Range"] = f"bytes {byte_range.first}-{byte_range.last}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        handle.close()
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        _read_chunks(handle, start, length),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )
