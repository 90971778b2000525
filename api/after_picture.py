"""The recheck's "after" picture, kept: one immutable copy in the hazard's evidence folder.

While a zone is clear, its pipeline keeps ``DATA_DIR/live/{camera}__{zone}__{kind}_after.jpg``
current (rewritten every 10 s) and names it in the zone statuses it publishes. A ticket must not
point at that file: the SHA-256 it records (and the ETag served from it) would go stale within
seconds. So when a status moves a ticket to ``rechecked``, the ticket service copies the picture
as it is at that moment into the evidence folder of the ticket's latest hazard
(``evidence/{camera}/{date}/{hazard}/after-<UTC time>-<random>.jpg``), hashes the copy, and the
ticket records that path and hash. Nothing ever writes to the copy again; it goes when retention
deletes the hazard's folder.

Why the service copies and not the pipeline: only the service knows that a recheck happens, when,
and for which ticket and hazard (the recheck is decided against the ticket's status and history in
the database). The pipeline would have to learn ticket states over Redis to do it, or write a new
file every 10 s for every clear zone without knowing which one will ever be used.

The status's path comes over Redis, from outside this process. It is used only when it names that
camera's own live picture for that zone and kind, and that is judged with ``stat`` before anything
is opened: the data dir also holds the ticket database, which no other file handle may touch (see
:mod:`api.evidence_files`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.evidence_crypto import write_evidence_bytes
from pipelines.evidence_layout import (
    LIVE_DIRNAME,
    EvidenceError,
    after_copy_name,
    evidence_dir,
    live_after_name,
)

__all__ = ["MAX_AFTER_BYTES", "AfterPictureError", "AfterPictureKeeper", "KeptPicture"]

MAX_AFTER_BYTES = 32 * 1024 * 1024  # far above any JPEG of a camera frame
_JPEG_MAGIC = b"\xff\xd8\xff"


class AfterPictureError(Exception):
    """The after picture could not be kept; the message says why (never file content)."""


@dataclass(frozen=True, slots=True)
class KeptPicture:
    """The immutable copy: ``path`` relative to the data dir (POSIX), and its SHA-256."""

    path: str
    sha256: str


class AfterPictureKeeper:
    """Copies a zone's live after picture into a hazard's evidence folder.

    Args:
        data_dir: the data dir shared with the pipelines.
        max_bytes: a bigger file is refused (it is not a camera picture).
    """

    def __init__(self, data_dir: Path, *, max_bytes: int = MAX_AFTER_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.data_dir = Path(data_dir)
        self.max_bytes = max_bytes

    def keep(
        self,
        *,
        camera_id: str,
        zone: str,
        kind: str,
        stored: str,
        hazard_id: str,
        hazard_started_at: datetime,
        now: datetime | None = None,
    ) -> KeptPicture:
        """Copy the live after picture named by a zone status (``stored``) for a recheck.

        Args:
            camera_id, zone, kind: whose zone status it is.
            stored: the status's ``snapshot`` path (relative to the data dir, or absolute).
            hazard_id, hazard_started_at: the ticket's latest hazard (its evidence folder).
            now: when the copy is made (names the file); default the current time.

        Raises:
            AfterPictureError: the path is not that zone's live picture, the file is missing,
                not a regular file, too big or not a JPEG, or the copy cannot be written.
        """
        try:
            live_name = live_after_name(camera_id, zone, kind)
            folder = evidence_dir(self.data_dir, camera_id, hazard_started_at, hazard_id)
        except ValueError as exc:
            raise AfterPictureError(str(exc)) from None
        source = self._confined(stored, self.data_dir / LIVE_DIRNAME / live_name)
        data = self._read(source)
        target = folder / after_copy_name(now or datetime.now(UTC))
        try:
            digest = write_evidence_bytes(target, data)  # encrypted at rest when keyed
        except EvidenceError as exc:
            raise AfterPictureError(str(exc)) from None
        return KeptPicture(target.relative_to(self.data_dir).as_posix(), digest)

    def _confined(self, stored: str, expected: Path) -> Path:
        """``expected`` if ``stored`` names it and it is a regular file (``stat`` only).

        The expected file's own name is not resolved: a symlink there (to the database, say)
        resolves elsewhere, so a status naming it is refused, and so is the symlink itself.
        """
        text = str(stored)
        if not text or "\x00" in text:
            raise AfterPictureError("the zone status names no usable after picture path")
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = self.data_dir / candidate
        try:
            real = candidate.resolve(strict=False)
            wanted = expected.parent.resolve(strict=False) / expected.name
        except (OSError, RuntimeError):  # a symlink loop, a path too long
            raise AfterPictureError(
                "the zone status's after picture path cannot be resolved"
            ) from None
        shown = f"{LIVE_DIRNAME}/{expected.name}"
        if real != wanted:
            raise AfterPictureError(
                f"the zone status names {text[:160]!r}, not this zone's live after picture {shown}"
            )
        try:
            info = os.lstat(wanted)
        except FileNotFoundError:
            raise AfterPictureError(f"the live after picture {shown} does not exist") from None
        except OSError as exc:
            raise AfterPictureError(f"cannot stat the live after picture: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise AfterPictureError(f"the live after picture {shown} is not a regular file")
        return wanted

    def _read(self, path: Path) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise AfterPictureError(f"cannot open the live after picture: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise AfterPictureError(
                f"the live after picture is over {self.max_bytes} bytes: not a camera picture"
            )
        if not data.startswith(_JPEG_MAGIC):
            raise AfterPictureError("the live after picture is not a JPEG")
        return data
