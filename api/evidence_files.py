"""Evidence files named by events and tickets: held to their camera's folder and their SHA-256.

An event names its files by path (``evidence.clip``, ...) and the ticket keeps those paths, so
the paths come from outside this process. The data dir holds more than evidence: the ticket
database lives there too. Merely opening and closing ``tickets.sqlite3`` from the process that
uses it drops that process's POSIX (``fcntl``) locks on it — they belong to the process, and any
``close`` of any descriptor of the file releases them — after which another process closing the
database believes it is the last user and deletes the live write-ahead log: accepted changes
vanish. So a path is judged *before anything opens it*:

1. it must resolve (symlinks followed) inside ``DATA_DIR/evidence/{camera_id}/``, the folder the
   evidence writer puts that camera's files in (:func:`pipelines.evidence_layout.evidence_dir`),
   and be a regular file;
2. only then it is opened, and its SHA-256 must equal the one recorded for it. The digest is
   taken from the open descriptor, and a response serves that same descriptor, so bytes whose
   digest differs are never sent (a rename over the path in between does not matter). Digests
   are cached by (device, inode, size, mtime, ctime), see :class:`DigestCache`: a file the
   writer finished never changes, so each is hashed about once.

The ticket service applies the same checks to every event before the store sees it, and the
media routes again before serving (a ticket written before these checks existed, or a file
changed on disk since, is refused rather than trusted).

Evidence encrypted at rest (:mod:`pipelines.evidence_crypto`) is opened as its plaintext: the
digest checked is the plaintext's (the one the writer recorded), every chunk is authenticated
while it is hashed, and the handle handed on reads plaintext, decrypting only what is read.
The digest cache still keys on the file on disk.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

from api.media import MediaNotFound, resolve_inside
from pipelines.evidence_crypto import (
    EvidenceCryptoError,
    EvidenceKeyConfigError,
    EvidenceKeyMissing,
    wrap_plaintext,
)
from pipelines.evidence_layout import EVIDENCE_DIRNAME

__all__ = [
    "EVIDENCE_DIRNAME",
    "DigestCache",
    "EvidenceKeyUnavailable",
    "EvidenceMissing",
    "EvidenceRejected",
    "camera_evidence_dir",
    "check_evidence_file",
    "open_verified",
    "resolve_evidence",
]

_HASH_CHUNK_BYTES = 1024 * 1024
_DEFAULT_CACHE_ENTRIES = 4096
_SETTLE_S = 2.0
_CAMERA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


class EvidenceRejected(MediaNotFound):
    """An evidence file that must not be used: its message says why (no path, no file content)."""


class EvidenceKeyUnavailable(EvidenceRejected):
    """The file is encrypted with a key this process does not have (or its keys are
    malformed): a fault of this process's configuration, not of the file, so the ticket service
    keeps the event pending (and says why) instead of refusing it."""


class EvidenceMissing(EvidenceRejected):
    """The path is inside the camera's evidence folder, but nothing is there (not even a link).

    Not an attack and not a corrupt file: the file was never finished, or retention removed it
    since. The ticket service applies such an event without that file (a hazard is never lost
    for want of its evidence); the media routes answer 404 like any other refusal.
    """


def camera_evidence_dir(data_dir: Path, camera_id: str) -> Path:
    """``DATA_DIR/evidence/{camera_id}``, the only folder a camera's evidence may be in.

    Raises:
        EvidenceRejected: ``camera_id`` is not a slug (it would not name one folder).
    """
    if not _CAMERA_ID_RE.match(camera_id):
        raise EvidenceRejected(f"camera id {camera_id[:80]!r} is not a slug")
    return Path(data_dir) / EVIDENCE_DIRNAME / camera_id


def resolve_evidence(data_dir: Path, camera_id: str, stored: str) -> Path:
    """The real path of a stored evidence path, if it is a regular file in the camera's folder.

    A relative path is relative to the data dir (as the evidence writer stores them). Only
    ``stat`` is used: nothing outside the camera's folder is ever opened.

    Raises:
        EvidenceRejected: naming why (outside the camera's evidence folder, missing, not a
            regular file, malformed).
    """
    root = camera_evidence_dir(data_dir, camera_id)
    _raise_if_missing_inside(Path(data_dir), root, stored)
    try:
        return resolve_inside(
            root,
            stored,
            base=Path(data_dir),
            root_name=f"the evidence folder of camera '{camera_id}' "
            f"({EVIDENCE_DIRNAME}/{camera_id}/)",
        )
    except EvidenceRejected:
        raise
    except MediaNotFound as exc:
        raise EvidenceRejected(str(exc)) from None


def _raise_if_missing_inside(data_dir: Path, root: Path, stored: str) -> None:
    """Raise :class:`EvidenceMissing` when ``stored`` names nothing, inside ``root``.

    Only a path that lands inside the camera's folder *as written* (after ``..`` and the
    symlinks of its existing parents) counts as missing; one that would land elsewhere is left
    to :func:`api.media.resolve_inside`, which refuses it as outside.
    """
    if not stored or "\x00" in stored:
        return
    candidate = Path(stored)
    if not candidate.is_absolute():
        candidate = data_dir / candidate
    try:
        if os.path.lexists(candidate):
            return
        landed = candidate.resolve(strict=False)
    except (OSError, RuntimeError):
        return
    if landed.is_relative_to(root.resolve(strict=False)):
        raise EvidenceMissing("the evidence file does not exist")


class DigestCache:
    """SHA-256 of open files, remembered by (device, inode, size, mtime_ns, ctime_ns).

    A file replaced by a rename is another inode; a write in place moves its ctime, which no
    one can set back. The kernel advances ctime only at its clock tick (a few ms), so a file
    changed less than ``settle_s`` ago is hashed afresh on every call and only settled files are
    remembered: a later change then always moves ctime away from the remembered value. The
    evidence writer's files are settled within seconds and never change again.
    Thread-safe; at most ``max_entries`` digests are kept (least recently used dropped).

    Args:
        max_entries: how many digests to remember.
        settle_s: how long after its last change a file's digest may be remembered.
    """

    def __init__(
        self, max_entries: int = _DEFAULT_CACHE_ENTRIES, settle_s: float = _SETTLE_S
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if settle_s < 0:
            raise ValueError(f"settle_s must be >= 0, got {settle_s}")
        self.max_entries = max_entries
        self.settle_ns = int(settle_s * 1e9)
        self._lock = threading.Lock()
        self._digests: OrderedDict[tuple[int, int, int, int, int], str] = OrderedDict()

    def sha256(self, handle: BinaryIO) -> str:
        """Hex SHA-256 of the whole file behind ``handle``; leaves it positioned at 0."""
        info = os.fstat(handle.fileno())
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        with self._lock:
            cached = self._digests.get(key)
            if cached is not None:
                self._digests.move_to_end(key)
                return cached
        digest = hashlib.sha256()
        handle.seek(0)
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
        handle.seek(0)
        value = digest.hexdigest()
        if time.time_ns() - max(info.st_ctime_ns, info.st_mtime_ns) >= self.settle_ns:
            with self._lock:
                self._digests[key] = value
                while len(self._digests) > self.max_entries:
                    self._digests.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._digests)


def open_verified(path: Path, expected_sha256: str | None, cache: DigestCache) -> BinaryIO:
    """Open ``path`` (already confined by :func:`resolve_evidence`) if its SHA-256 matches.

    Returns the open file at position 0; the caller closes it (or hands it to a response).

    Raises:
        EvidenceRejected: no digest recorded, the file vanished, or its digest differs.
    """
    expected = (expected_sha256 or "").lower()
    if not _HEX64_RE.match(expected):
        raise EvidenceRejected("no valid sha256 is recorded for it, so it cannot be verified")
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise EvidenceRejected(f"it cannot be opened ({exc.strerror or exc})") from None
    try:  # an encrypted file (pipelines.evidence_crypto) is read, hashed and served decrypted
        handle = wrap_plaintext(raw, "the file")
    except (EvidenceKeyMissing, EvidenceKeyConfigError) as exc:
        raw.close()
        raise EvidenceKeyUnavailable(f"it cannot be decrypted: {exc}") from None
    except (EvidenceCryptoError, OSError) as exc:
        raw.close()
        raise EvidenceRejected(f"it cannot be decrypted: {exc}") from None
    try:
        actual = cache.sha256(handle)
    except OSError as exc:  # EvidenceDecryptError too: a chunk failing authentication
        handle.close()
        raise EvidenceRejected(f"it cannot be read ({exc.strerror or exc})") from None
    if actual != expected:
        handle.close()
        raise EvidenceRejected(
            f"its sha256 {actual[:12]}... differs from the recorded {expected[:12]}..."
        )
    return handle


def check_evidence_file(
    data_dir: Path, camera_id: str, stored: str, expected_sha256: str | None, cache: DigestCache
) -> Path:
    """Confine, open and hash one evidence file; its real path if everything holds.

    Raises:
        EvidenceRejected: naming the first check that failed.
    """
    path = resolve_evidence(data_dir, camera_id, stored)
    open_verified(path, expected_sha256, cache).close()
    return path
