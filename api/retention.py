"""Evidence retention, scheduled in the ticket service's process (ARCHITECTURE.md §9).

Every ``retention.interval_s`` a background thread runs :func:`pipelines.retention.run_retention`
over the data dir: by age and by disk budget, closed and rejected tickets' evidence first, oldest
first, never an open ticket's; the ticket records themselves are never deleted.

Why here and not in the pipeline process: what may be deleted depends on the tickets (open,
closed, since when), and only this process has the ticket store, beside the data dir the evidence
is in. The pipelines would otherwise need the tickets' states sent back to them over Redis (the
API and the pipelines talk only through Redis, and neither imports the other's live objects);
running it here needs nothing new on the wire. The pipelines' own guard stays where it is: below
the free-space minimum their evidence writers skip clips, and this retention frees the space.

:meth:`EvidenceRetention.status` is what ``/health`` and ``/metrics`` show of the last run.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.periodic import PeriodicThread
from api.workflow import is_open
from pipelines.retention import HazardState, RetentionRun, RetentionSettings, run_retention

if TYPE_CHECKING:
    from api.store import TicketStore

__all__ = ["EvidenceRetention", "health_record"]


class EvidenceRetention:
    """Runs retention every ``settings.interval_s`` on its own thread (first run at start).

    Args:
        store: the ticket store (which hazards belong to open tickets).
        data_dir: the data dir holding ``evidence/``.
        settings: ages, budget, free space and interval (the config's ``retention``).
    """

    def __init__(self, store: TicketStore, data_dir: Path, settings: RetentionSettings) -> None:
        self.store = store
        self.data_dir = Path(data_dir)
        self.settings = settings
        self._lock = threading.Lock()  # guards what status() reads
        self._last: RetentionRun | None = None
        self._runs = 0
        self._folders_total = 0
        self._files_total = 0
        self._bytes_total = 0
        self._errors_total = 0
        self._thread = PeriodicThread(
            "evidence-retention", self.run_once, settings.interval_s, self._count_error
        )

    # -- running ------------------------------------------------------------------------------

    def states_of(self, hazard_ids: Collection[str]) -> Mapping[str, HazardState]:
        """What became of each hazard, from its ticket (hazards without a ticket left out)."""
        return {
            hazard_id: HazardState(open=is_open(status), changed_at=changed_at)
            for hazard_id, (status, changed_at) in self.store.ticket_states_of_hazards(
                hazard_ids
            ).items()
        }

    def run_once(self, now: datetime | None = None) -> RetentionRun:
        """One retention run now; its result is what :meth:`status` shows next."""
        run = run_retention(self.data_dir, self.settings, self.states_of, now=now)
        with self._lock:
            self._last = run
            self._runs += 1
            self._folders_total += run.folders_deleted
            self._files_total += run.files_deleted
            self._bytes_total += run.bytes_deleted
            self._errors_total += run.errors
        return run

    def start(self) -> None:
        """Run at once, then every ``interval_s``, until :meth:`stop`.

        Raises:
            RuntimeError: already running.
        """
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (a run in progress finishes its current folder list first)."""
        self._thread.stop(timeout_s)

    def _count_error(self) -> None:
        with self._lock:
            self._errors_total += 1

    # -- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The last run and the totals since start (``last_error`` is error text: staff only)."""
        with self._lock:
            last, runs = self._last, self._runs
            totals = {
                "folders_deleted_total": self._folders_total,
                "files_deleted_total": self._files_total,
                "bytes_deleted_total": self._bytes_total,
                "errors_total": self._errors_total,
            }
        out: dict[str, Any] = {
            "runs_total": runs,
            "interval_s": self.settings.interval_s,
            "max_age_days": self.settings.max_age_days,
            "max_bytes": self.settings.max_bytes,
            "min_free_bytes": self.settings.min_free_bytes,
            **totals,
            "last_run": None,
        }
        if last is not None:
            out["last_run"] = {
                "at": last.started_at.isoformat().replace("+00:00", "Z"),
                "at_unix": round(last.started_at.timestamp(), 3),
                "duration_s": last.duration_s,
                "folders_deleted": last.folders_deleted,
                "files_deleted": last.files_deleted,
                "bytes_deleted": last.bytes_deleted,
                "bytes_in_use": last.bytes_in_use,
                "free_bytes": last.free_bytes,
                "over_budget": last.over_budget,
                "folders_kept_open": last.folders_kept_open,
                "errors": last.errors,
                "last_error": last.last_error,
            }
        return out


def health_record(status: dict[str, Any], *, staff: bool) -> tuple[dict[str, Any], list[str]]:
    """The small ``retention`` field of ``/health`` and the reasons it gives for ``degraded``.

    Error text (it names paths) is shown to staff only.
    """
    if "status_error" in status:  # the status itself could not be read
        return {"error": status["status_error"]}, ["evidence retention status is unavailable"]
    last = status.get("last_run")
    record: dict[str, Any] = {"runs_total": status.get("runs_total", 0), "last_run_at": None}
    reasons: list[str] = []
    if isinstance(last, dict):
        record.update(
            {
                "last_run_at": last.get("at"),
                "files_deleted": last.get("files_deleted"),
                "bytes_deleted": last.get("bytes_deleted"),
                "bytes_in_use": last.get("bytes_in_use"),
                "free_bytes": last.get("free_bytes"),
                "over_budget": last.get("over_budget"),
                "errors": last.get("errors"),
            }
        )
        if staff:
            record["last_error"] = last.get("last_error")
        if last.get("errors"):
            reasons.append(f"evidence retention: {last['errors']} error(s) in its last run")
        if last.get("over_budget"):
            reasons.append(
                "evidence is over its disk budget and what is left belongs to open tickets"
            )
    return record, reasons
