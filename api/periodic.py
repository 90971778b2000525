"""A background thread that runs one job at once, then every interval, until stopped: what the
scheduled reports and the evidence retention share (one thread each, per process)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicThread:
    """Runs ``job`` now and then every ``interval_s`` seconds on a daemon thread.

    A job that raises is a bug: it is logged with its traceback, ``on_error`` is called (the
    owner counts it in its status) and the schedule goes on.

    Args:
        name: the thread's name (and the log's words for the job).
        job: the work of one run.
        interval_s: seconds from the end of one run to the start of the next.
        on_error: called after a run raised.
    """

    def __init__(
        self,
        name: str,
        job: Callable[[], object],
        interval_s: float,
        on_error: Callable[[], None],
    ) -> None:
        self.name = name
        self._job = job
        self._interval_s = interval_s
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread.

        Raises:
            RuntimeError: it is running already.
        """
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Ask the thread to stop and wait up to ``timeout_s`` (a run in progress finishes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._job()
            except Exception:  # a bug (the log has it): count it, keep the schedule
                logger.exception("%s: run failed", self.name)
                self._on_error()
            self._stop.wait(self._interval_s)
