"""Evidence retention: which hazard folders may go, and deleting them (ARCHITECTURE.md §9).

The evidence tree (:mod:`pipelines.evidence_layout`) grows with every hazard. One retention run:

1. removes temporary files (as :func:`cameras.clips.is_partial_name` tells them) older than
   :data:`PARTIAL_MAX_AGE_S`, the leftovers of a process killed while it wrote a clip or snapshot;
2. lists every hazard folder with its size and newest file time, and asks the caller what became
   of each hazard (:class:`HazardState`: its ticket is open, or closed/rejected and since when, or
   no ticket knows it);
3. **by age**: deletes the folders of closed or rejected tickets changed (closed) more than
   ``max_age_days`` ago, and folders no ticket knows whose newest file is that old (events that
   were refused, or never applied);
4. **by budget**: while the tree holds more than ``max_bytes``, or the disk has less than
   ``min_free_bytes`` free, deletes more folders of closed or rejected tickets, oldest first.

Evidence of an open ticket is never deleted, by age or by budget: when only open tickets' evidence
is left over the budget, the run says so (``over_budget``) and the writers' free-space guard stops
new clips (events and tickets go on). A folder no ticket knows yet is deleted by age only: its
event may still be waiting in a spool. Tickets themselves are never deleted here: the ticket
records are kept (at least five years, the office's duty of record), only their files go.

This module walks the filesystem and never imports the ticket store: the ticket service, which
knows the tickets, schedules the runs (:mod:`api.retention`) and passes the states in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import Field

from cameras.clips import is_partial_name
from cameras.schema import ConfigModel
from pipelines.evidence_layout import DATE_DIR_RE, EVIDENCE_DIRNAME, os_reason

logger = logging.getLogger(__name__)

GIB = 1024**3
PARTIAL_MAX_AGE_S = 3600.0  # no clip or snapshot takes an hour to write


class RetentionSettings(ConfigModel):
    """When evidence files are deleted (the ticket records are always kept)."""

    max_age_days: float = Field(
        default=180.0,
        ge=1.0,
        le=3650.0,
        description="Evidence of a closed or rejected ticket is deleted this many days after the "
        "ticket was closed; evidence no ticket knows, this many days after it was written. "
        "Evidence of open tickets is never deleted.",
    )
    max_bytes: int = Field(
        default=20 * GIB,
        ge=0,
        le=1024**5,
        description="Disk budget of the evidence tree in bytes: above it, the evidence of closed "
        "and rejected tickets is deleted oldest first (never that of open tickets).",
    )
    min_free_bytes: int = Field(
        default=GIB,
        ge=0,
        le=1024**5,
        description="Free space to keep on the data dir's disk, in bytes: below it, the evidence "
        "of closed and rejected tickets is deleted oldest first. Keep it above the writers' "
        "500 MB minimum, below which new clips are skipped.",
    )
    interval_s: float = Field(
        default=600.0,
        ge=10.0,
        le=86400.0,
        description="Seconds between retention runs of the ticket service.",
    )


@dataclass(frozen=True, slots=True)
class HazardState:
    """What became of a hazard: its ticket is open, or closed/rejected since ``changed_at``."""

    open: bool
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class HazardFolder:
    """One ``evidence/{camera}/{date}/{hazard}`` folder."""

    path: Path
    hazard_id: str
    size_bytes: int
    files: int
    newest_at: datetime


@dataclass(frozen=True, slots=True)
class RetentionRun:
    """What one run did and found (shown in ``/health`` and ``/metrics``)."""

    started_at: datetime
    duration_s: float
    folders_deleted: int
    files_deleted: int
    bytes_deleted: int
    partials_deleted: int
    bytes_in_use: int
    free_bytes: int | None
    over_budget: bool
    folders_kept_open: int
    errors: int
    last_error: str | None
    deleted_hazard_ids: tuple[str, ...] = field(default=(), repr=False)


def _tree_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path`` (lstat: symlinks are not followed)."""
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
                files += 1
    return total, files


def list_hazard_folders(data_dir: Path) -> list[HazardFolder]:
    """Every hazard folder of the evidence tree (symlinks and stray entries skipped)."""
    root = Path(data_dir) / EVIDENCE_DIRNAME
    found: list[HazardFolder] = []
    if not root.is_dir():
        return found
    for camera_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        for day_dir in sorted(p for p in camera_dir.iterdir() if DATE_DIR_RE.match(p.name)):
            if not day_dir.is_dir() or day_dir.is_symlink():
                continue
            for hazard_dir in sorted(day_dir.iterdir()):
                if not hazard_dir.is_dir() or hazard_dir.is_symlink():
                    continue
                size, files = _tree_size(hazard_dir)
                mtimes = [f.lstat().st_mtime for f in hazard_dir.iterdir() if f.is_file()]
                newest = max(mtimes, default=hazard_dir.lstat().st_mtime)
                found.append(
                    HazardFolder(
                        hazard_dir,
                        hazard_dir.name,
                        size,
                        files,
                        datetime.fromtimestamp(newest, UTC),
                    )
                )
    return found


def remove_stale_partials(data_dir: Path, now: datetime) -> tuple[int, int, list[str]]:
    """Delete temporary files older than :data:`PARTIAL_MAX_AGE_S` in the evidence tree.

    Returns:
        (files deleted, bytes deleted, error messages).
    """
    root = Path(data_dir) / EVIDENCE_DIRNAME
    cutoff = now.timestamp() - PARTIAL_MAX_AGE_S
    deleted = freed = 0
    errors: list[str] = []
    if not root.is_dir():
        return deleted, freed, errors
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if not is_partial_name(name):  # the one rule the start-up cleanup uses too
                continue
            path = Path(folder) / name
            try:
                info = path.lstat()
                if info.st_mtime >= cutoff:
                    continue  # may still be being written
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                errors.append(f"cannot delete {path}: {os_reason(exc)}")
                continue
            deleted += 1
            freed += info.st_size
    return deleted, freed, errors


def evidence_tree_bytes(data_dir: Path) -> int:
    """Bytes of every file under ``DATA_DIR/evidence`` (hazard folders or not)."""
    root = Path(data_dir) / EVIDENCE_DIRNAME
    return _tree_size(root)[0] if root.is_dir() else 0


def delete_hazard_folder(folder: HazardFolder) -> str | None:
    """Delete a hazard folder, then its date and camera folders if empty.

    Returns:
        None when done (or already gone), else what went wrong.
    """
    try:
        shutil.rmtree(folder.path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot delete {folder.path}: {os_reason(exc)}"
    for parent in (folder.path.parent, folder.path.parent.parent):
        with contextlib.suppress(OSError):
            parent.rmdir()  # only succeeds when empty
    return None


def _free_bytes(data_dir: Path) -> int | None:
    try:
        return shutil.disk_usage(data_dir).free
    except OSError:
        return None


class _Deleter:
    """Deletes folders and keeps the tallies of one run."""

    def __init__(self) -> None:
        self.deleted: list[HazardFolder] = []
        self.errors: list[str] = []

    def delete(self, folder: HazardFolder) -> bool:
        error = delete_hazard_folder(folder)
        if error is not None:
            self.errors.append(error)
            return False
        self.deleted.append(folder)
        return True


def run_retention(
    data_dir: Path,
    settings: RetentionSettings,
    states_of: Callable[[Collection[str]], Mapping[str, HazardState]],
    *,
    now: datetime | None = None,
    free_bytes: Callable[[Path], int | None] = _free_bytes,
) -> RetentionRun:
    """One retention run over ``DATA_DIR/evidence`` (see the module docstring).

    Args:
        data_dir: the data dir.
        settings: age, budget and free-space limits.
        states_of: hazard ids -> what became of them; ids it does not return are hazards no
            ticket knows. If it raises, nothing is deleted (the run reports the error).
        now: the current time (aware); default the clock.
        free_bytes: free space of the data dir's disk (``None``: unknown).

    Returns:
        What was deleted, what is left, and the errors (each also logged).
    """
    started = time.monotonic()
    when = now or datetime.now(UTC)
    deleter = _Deleter()
    partials, partial_bytes, errors = remove_stale_partials(Path(data_dir), when)
    deleter.errors += errors
    folders = list_hazard_folders(Path(data_dir))
    tree_bytes = evidence_tree_bytes(Path(data_dir))
    kept_open = 0
    try:
        states = states_of([folder.hazard_id for folder in folders])
    except Exception as exc:  # e.g. the database is down: delete nothing without knowing
        logger.exception("retention: cannot read the tickets' states; nothing deleted")
        deleter.errors.append(f"cannot read the tickets' states: {type(exc).__name__}: {exc}")
        states = None
    if states is not None:
        kept_open = _apply_limits(
            folders, states, settings, when, deleter, Path(data_dir), tree_bytes, free_bytes
        )
    total = tree_bytes - sum(f.size_bytes for f in deleter.deleted)
    free = free_bytes(Path(data_dir))
    over = total > settings.max_bytes or (free is not None and free < settings.min_free_bytes)
    for error in deleter.errors:
        logger.error("retention: %s", error)
    if deleter.deleted or partials:
        logger.info(
            "retention: deleted %d evidence folders (%d bytes) and %d partial files",
            len(deleter.deleted),
            sum(f.size_bytes for f in deleter.deleted),
            partials,
        )
    if over and states is not None:
        logger.warning(
            "retention: evidence holds %d bytes (budget %d, free %s, minimum free %d) and what "
            "is left belongs to open tickets",
            total,
            settings.max_bytes,
            free,
            settings.min_free_bytes,
        )
    return RetentionRun(
        started_at=when,
        duration_s=round(time.monotonic() - started, 3),
        folders_deleted=len(deleter.deleted),
        files_deleted=sum(f.files for f in deleter.deleted) + partials,
        bytes_deleted=sum(f.size_bytes for f in deleter.deleted) + partial_bytes,
        partials_deleted=partials,
        bytes_in_use=total,
        free_bytes=free,
        over_budget=over,
        folders_kept_open=kept_open,
        errors=len(deleter.errors),
        last_error=deleter.errors[-1] if deleter.errors else None,
        deleted_hazard_ids=tuple(f.hazard_id for f in deleter.deleted),
    )


def _apply_limits(
    folders: list[HazardFolder],
    states: Mapping[str, HazardState],
    settings: RetentionSettings,
    now: datetime,
    deleter: _Deleter,
    data_dir: Path,
    tree_bytes: int,
    free_bytes: Callable[[Path], int | None],
) -> int:
    """The age pass, then the budget pass; returns how many folders belong to open tickets."""
    cutoff = now - timedelta(days=settings.max_age_days)
    closed: list[tuple[datetime, HazardFolder]] = []
    kept_open = 0
    for folder in folders:
        state = states.get(folder.hazard_id)
        if state is not None and state.open:
            kept_open += 1
            continue
        if state is None:  # no ticket knows it (yet): by age only, from its newest file
            if folder.newest_at < cutoff:
                deleter.delete(folder)
            continue
        if state.changed_at < cutoff:
            deleter.delete(folder)
        else:
            closed.append((state.changed_at, folder))
    closed.sort(key=lambda item: (item[0], str(item[1].path)))
    total = tree_bytes - sum(f.size_bytes for f in deleter.deleted)
    free = free_bytes(data_dir)
    need = max(0, total - settings.max_bytes)
    if free is not None:
        need = max(need, settings.min_free_bytes - free)
    for _changed, folder in closed:
        if need <= 0:
            break
        if deleter.delete(folder):
            need -= folder.size_bytes
    return kept_open


__all__ = [
    "PARTIAL_MAX_AGE_S",
    "HazardFolder",
    "HazardState",
    "RetentionRun",
    "RetentionSettings",
    "delete_hazard_folder",
    "evidence_tree_bytes",
    "list_hazard_folders",
    "remove_stale_partials",
    "run_retention",
]
