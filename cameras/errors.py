"""Errors raised by camera sources, the packet ring and clip writing.

Every message names the camera (when known) and the redacted URL or path, never a password.
"""

from __future__ import annotations


class SourceError(Exception):
    """Base of every camera-source failure."""


class SourceConnectionError(SourceError):
    """The source could not be reached: refused, timed out, unknown host, missing file."""


class SourceAuthError(SourceConnectionError):
    """The source refused the credentials (RTSP/HTTP 401 or 403)."""


class SourceNotFoundError(SourceConnectionError):
    """The server answered but the stream does not exist (404), or the file is missing."""


class DecodeError(SourceError):
    """The bytes are not a decodable video stream (garbage, unsupported codec, corrupt data)."""


class EndOfStream(SourceError):
    """A file ended, or a live source stopped sending (treated as a disconnect)."""


class ClipError(Exception):
    """An evidence clip could not be written (no packets, disk full, bad window)."""
