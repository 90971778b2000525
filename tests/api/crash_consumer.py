"""A ticket service that stops dead between the store's commit and the XACK, for kill -9 tests.

Run as ``python tests/api/crash_consumer.py REDIS_URL DB_URL CONSUMER DATA_DIR``. It runs the real
:class:`api.service.TicketService` on the real store; right after ``apply_event`` has committed,
it prints ``APPLIED <event_id> <ticket_id>`` and blocks, so the test can ``kill -9`` it at exactly
that point (the entry is in the database but not acknowledged in Redis).
"""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from api.service import TicketService
from api.store import TicketStore, TicketView


class CommitThenHang(TicketStore):
    """The real store; after each committed event it reports and waits to be killed."""

    def apply_event(
        self, event: dict[str, Any], *, received_at: datetime | None = None
    ) -> TicketView | None:
        view = super().apply_event(event, received_at=received_at)
        print(f"APPLIED {event['event_id']} {None if view is None else view.id}", flush=True)
        threading.Event().wait()  # until SIGKILL
        return view


def main() -> int:
    redis_url, db_url, consumer, data_dir = sys.argv[1:5]
    service = TicketService(
        redis_url, CommitThenHang(db_url), data_dir=Path(data_dir), consumer=consumer, block_ms=100
    )
    print("READY", flush=True)
    while True:
        service.run_once()


if __name__ == "__main__":
    raise SystemExit(main())
