"""Scheduled reports: after each week or month ends, the ticket service writes its report once.

Configured by ``api.reports`` (:class:`api.settings.reports.ReportSettings`); off unless
``periods`` names one. A background thread (started and stopped with the ticket service, like
evidence retention) checks every ``check_interval_s`` for the last *complete* week and month and
writes, for each language and format, ``DATA_DIR/{folder}/{period}.{lang}.{fmt}``, e.g.
``reports/week-2026-W48.zh-CN.pdf``.

Written once: a file already there is never rewritten, so a restart, a second check or a second
``serve`` replica on the same box (the run holds an ``flock`` on ``{folder}/.lock``) does not
repeat a period. Files are written under a temporary name and renamed, so a crash leaves no half
report that would count as written. Only the last complete period is written (no backfill of
history on first start: ``hazardwatch report`` makes any past period by hand).

Why a thread of its own and not the service's loop: a PDF takes a few seconds of CPU, which the
loop that applies hazard events must not wait for.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from api.periodic import PeriodicThread
from api.reports.build import (
    CameraZones,
    ReportRequest,
    make_report,
    report_bytes,
    write_atomically,
)
from api.reports.pdf import ReportError
from api.reports.periods import Period, last_complete
from api.settings.hotspots import HotspotSettings
from api.settings.reports import ReportFormat, ReportSettings

if TYPE_CHECKING:
    from api.store import TicketStore
    from pipelines.config import HazardwatchConfig

__all__ = ["ScheduledReports", "report_path"]

logger = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 3600.0  # a report that failed is tried again an hour later, not each check


def report_path(folder: Path, period: Period, lang: str, fmt: ReportFormat) -> Path:
    """``{folder}/{period.name}.{lang}.{fmt}``."""
    return folder / f"{period.name}.{lang}.{fmt.value}"


@dataclass(frozen=True, slots=True)
class _Target:
    period: Period
    lang: str
    fmt: ReportFormat
    path: Path


class ScheduledReports:
    """Writes each complete period's reports once (see the module docstring).

    Args:
        store: the ticket store (read only).
        data_dir: the data dir; reports go to ``data_dir / settings.folder``, live pictures
            are read from ``data_dir / "live"``.
        settings: the config's ``api.reports``.
        zones_of: camera -> zone name -> zone (for the heat maps), read at each run (zones
            edited in the UI change); None: no zone outlines or centres.
    """

    def __init__(
        self,
        store: TicketStore,
        data_dir: Path,
        settings: ReportSettings,
        zones_of: Callable[[], CameraZones] | None = None,
        hotspots: HotspotSettings | None = None,
    ) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.settings = settings
        self.hotspots = hotspots if hotspots is not None else HotspotSettings()
        self.folder = self.data_dir / settings.folder
        self.tz = ZoneInfo(settings.time_zone)
        self.zones_of = zones_of
        self._thread = PeriodicThread(
            "scheduled-reports", self.run_once, settings.check_interval_s, self._count_error
        )
        self._retry_at: dict[Path, float] = {}  # failed file -> monotonic time of next try
        self._lock = threading.Lock()  # guards the counters
        self._written = 0
        self._errors = 0

    @classmethod
    def from_config(
        cls, config: HazardwatchConfig, store: TicketStore, data_dir: Path
    ) -> ScheduledReports | None:
        """The scheduled reports the config asks for, or None when ``api.reports.periods`` is
        empty (or there is no ``api`` section)."""
        if config.api is None or not config.api.reports.periods:
            return None
        from api.zone_overrides import read_zones

        def zones_of() -> CameraZones:
            return {cid: read_zones(config, data_dir, cid).zones for cid in config.cameras}

        return cls(store, data_dir, config.api.reports, zones_of, config.api.hotspots)

    # -- one run ------------------------------------------------------------------------------

    def targets(self, now: datetime) -> list[_Target]:
        """The files of the last complete periods at ``now`` (written or not)."""
        out = []
        for kind in self.settings.periods:
            period = last_complete(kind, now, self.tz)
            for lang in self.settings.languages:
                for fmt in self.settings.formats:
                    path = report_path(self.folder, period, lang, fmt)
                    out.append(_Target(period, lang, fmt, path))
        return out

    def run_once(self, now: datetime | None = None) -> list[Path]:
        """Write the missing reports of the last complete periods; returns the files written.

        A report that fails (logged with the reason) does not stop the others.
        """
        when = now or datetime.now(UTC)
        missing = [t for t in self.targets(when) if not t.path.exists()]
        if not missing:
            return []
        written = []
        with self._folder_lock():
            for target in missing:
                if target.path.exists():  # another process wrote it while we waited
                    continue
                if time.monotonic() < self._retry_at.get(target.path, 0.0):
                    continue
                try:
                    self._write(target, when)
                except (ReportError, OSError) as exc:
                    self._retry_at[target.path] = time.monotonic() + RETRY_AFTER_FAILURE_S
                    logger.error("scheduled report %s not written: %s", target.path.name, exc)
                    with self._lock:
                        self._errors += 1
                    continue
                written.append(target.path)
                logger.info("scheduled report written: %s", target.path)
        with self._lock:
            self._written += len(written)
        return written

    def _write(self, target: _Target, now: datetime) -> None:
        request = ReportRequest.with_settings(
            target.period, target.lang, None, self.settings, self.hotspots
        )
        zones = self.zones_of() if self.zones_of is not None else None
        html, _ = make_report(self.store, request, as_of=now, data_dir=self.data_dir, zones=zones)
        write_atomically(target.path, report_bytes(html, target.fmt))

    @contextmanager
    def _folder_lock(self) -> Iterator[None]:
        """An exclusive ``flock`` on ``{folder}/.lock``: one writer per folder at a time."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- thread -------------------------------------------------------------------------------

    def start(self) -> None:
        """Check at once, then every ``check_interval_s``, until :meth:`stop`.

        Raises:
            RuntimeError: already running.
        """
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the thread (a report being written is finished first)."""
        self._thread.stop(timeout_s)

    def _count_error(self) -> None:
        with self._lock:
            self._errors += 1

    def status(self) -> dict[str, Any]:
        """Files written and errors since start."""
        with self._lock:
            return {"written_total": self._written, "errors_total": self._errors}
