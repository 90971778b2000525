"""Where evidence and live pictures are on disk, and how a file gets there whole.

This module is the layout contract of the data dir, kept free of heavy imports (no PyAV, no
OpenCV) because the ticket service uses it too: it copies the recheck's "after" picture into the
evidence tree and its retention walks that tree.

- ``DATA_DIR/evidence/{camera_id}/{YYYY-MM-DD}/{hazard_id}/``: one folder per hazard (the date is
  the hazard's start date in UTC) holding ``clip.mp4``, ``snapshot.jpg``, ``clip_public.mp4``,
  ``snapshot_public.jpg`` and one ``after-*.jpg`` per automatic recheck. Files there never change
  once written: tickets record their SHA-256.
- ``DATA_DIR/live/``: pictures the pipelines rewrite all the time: ``{camera_id}.jpg`` (the live
  view) and ``{camera_id}__{zone}__{kind}_after.jpg`` (the zone while it is clear, the source of
  the "after" copy).

Every file is written under a temporary name in its own folder, fsynced and renamed
(:func:`write_bytes_atomic`), so a reader never sees half a file; temporary names start with a
dot and end in ``.partial`` (clips: ``.partial.mp4``), which is how retention finds leftovers of
a crash.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

EVIDENCE_DIRNAME = "evidence"
LIVE_DIRNAME = "live"
AFTER_PREFIX = "after-"
PARTIAL_MARK = ".partial"

# Ids become path components: a conservative slug keeps "..", "/" and friends out of the tree.
_SAFE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
DATE_DIR_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EvidenceError(Exception):
    """Evidence could not be written: the message names the file and the reason."""


def os_reason(exc: BaseException) -> str:
    """A short reason for a failed file operation ("disk full" for ENOSPC)."""
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "disk full"
        return exc.strerror or str(exc)
    return str(exc)


def check_id(name: str, value: str) -> None:
    """Raise ValueError unless ``value`` can name one folder.

    Raises:
        ValueError: naming ``name`` and what is allowed.
    """
    if not isinstance(value, str) or not _SAFE_ID_RE.match(value) or ".." in value:
        raise ValueError(
            f"{name} {value!r} cannot name a folder: use letters, digits, '_', '-', '.' "
            "(1-128 characters, starting with a letter or digit, no '..')"
        )


def evidence_dir(data_dir: Path, camera_id: str, started_at: datetime, hazard_id: str) -> Path:
    """``DATA_DIR/evidence/{camera_id}/{YYYY-MM-DD}/{hazard_id}`` (date of ``started_at`` in UTC).

    Raises:
        ValueError: an id that is not a safe folder name, or a naive ``started_at``.
    """
    check_id("camera_id", camera_id)
    check_id("hazard_id", hazard_id)
    if started_at.tzinfo is None:
        raise ValueError(f"started_at must be timezone-aware, got {started_at.isoformat()}")
    day = started_at.astimezone(UTC).strftime("%Y-%m-%d")
    return Path(data_dir) / EVIDENCE_DIRNAME / camera_id / day / hazard_id


def live_after_name(camera_id: str, zone: str, kind: str) -> str:
    """File name (in ``DATA_DIR/live``) of a zone's latest clear picture for one hazard kind.

    Raises:
        ValueError: an id that cannot be part of a file name.
    """
    for name, value in (("camera_id", camera_id), ("zone", zone), ("kind", kind)):
        check_id(name, value)
    return f"{camera_id}__{zone}__{kind}_after.jpg"


def after_copy_name(at: datetime) -> str:
    """A new, unique name for a recheck's "after" copy in a hazard's evidence folder."""
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{AFTER_PREFIX}{stamp}Z-{uuid.uuid4().hex[:8]}.jpg"


def fsync_dir(directory: Path) -> None:
    """Make a rename durable (best effort: some filesystems refuse to open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        logger.debug("fsync of directory %s failed: %s", directory, exc)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PARTIAL_MARK}")


def remove_quietly(path: Path) -> None:
    """Remove a partial file; a failure is logged (the original error is the one that matters)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove partial file %s: %s", path, exc)


def write_bytes_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename; return its SHA-256.

    Raises:
        EvidenceError: the folder cannot be made or the file cannot be written (says where and
            why; a full disk says "disk full").
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise EvidenceError(f"cannot write {path}: {os_reason(exc)}") from exc
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


__all__ = [
    "AFTER_PREFIX",
    "DATE_DIR_RE",
    "EVIDENCE_DIRNAME",
    "LIVE_DIRNAME",
    "PARTIAL_MARK",
    "EvidenceError",
    "after_copy_name",
    "check_id",
    "evidence_dir",
    "fsync_dir",
    "live_after_name",
    "os_reason",
    "remove_quietly",
    "temp_name",
    "write_bytes_atomic",
]
