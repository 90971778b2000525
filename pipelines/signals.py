"""Process signals received without taking a lock in the handler.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
is, including inside another handler. ``threading.Event.set`` (or any lock) in a handler
therefore deadlocks when a second signal lands while the first handler holds the Event's
lock: a worker process that received two SIGTERMs at once (its supervisor's, then the kernel's
``PR_SET_PDEATHSIG`` when the supervisor was killed) hung for ever in ``Event.set`` inside
``Event.set``, holding its spool lock. So handlers here only append the signal number to a
deque (atomic, lock-free), and the main thread polls it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.1


class SignalInbox:
    """Signals noted by lock-free handlers; :meth:`wait_for_stop` runs in the main thread."""

    def __init__(self) -> None:
        self._received: deque[int] = deque()
        self.stop_received: int | None = None  # the first SIGINT/SIGTERM, once seen

    def note(self, signum: int, _frame: object = None) -> None:
        """The handler itself: appends and returns (nothing that can block)."""
        self._received.append(signum)

    def install(self, signals: Iterable[int] = STOP_SIGNALS) -> SignalInbox:
        """Route ``signals`` here (main thread only, as Python requires)."""
        if threading.current_thread() is threading.main_thread():
            for sig in signals:
                signal.signal(sig, self.note)
        return self

    def drain(self, on_hup: Callable[[], None] | None = None) -> bool:
        """Act on what arrived: SIGHUP calls ``on_hup``; True once SIGINT/SIGTERM was seen."""
        while self._received:
            signum = self._received.popleft()
            if signum in STOP_SIGNALS:
                if self.stop_received is None:
                    self.stop_received = signum
            elif signum == signal.SIGHUP and on_hup is not None:
                on_hup()
        return self.stop_received is not None

    def take_hups(self) -> int:
        """Drain; how many SIGHUPs arrived since the last call (stop signals are kept)."""
        hups = 0

        def count() -> None:
            nonlocal hups
            hups += 1

        self.drain(on_hup=count)
        return hups

    def wait_for_stop(self, on_hup: Callable[[], None] | None = None) -> int:
        """Until SIGINT or SIGTERM (SIGHUPs meanwhile call ``on_hup``); returns the signal."""
        while not self.drain(on_hup):
            time.sleep(POLL_S)
        assert self.stop_received is not None
        return self.stop_received
