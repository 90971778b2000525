"""Signals received without a lock in the handler (a worker hung for ever in Event.set inside
Event.set when two SIGTERMs arrived at once)."""

from __future__ import annotations

import os
import signal
import threading

from pipelines.signals import SignalInbox


def test_a_signal_landing_inside_the_handler_of_another_does_not_hang() -> None:
    """The deadlock, reproduced deterministically: a second SIGTERM delivered while the first
    one's handler is running (here: from within it). The old handler, ``Event.set``, took the
    Event's lock again inside itself and never returned."""
    inbox = SignalInbox()
    nested: list[int] = []

    def first(signum: int, frame: object) -> None:
        inbox.note(signum, frame)
        if not nested:
            nested.append(signum)
            first(signal.SIGTERM, None)  # the second signal, inside the first handler

    done = threading.Event()

    def run() -> None:
        first(signal.SIGTERM, None)
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert done.wait(5), "the handler did not return"
    assert inbox.drain() and inbox.stop_received == signal.SIGTERM


def test_real_signals_and_sighup_callbacks() -> None:
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        inbox = SignalInbox().install([signal.SIGHUP, signal.SIGTERM])
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGHUP)
        assert inbox.take_hups() == 2
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        hups: list[int] = []
        assert inbox.wait_for_stop(on_hup=lambda: hups.append(1)) == signal.SIGTERM
        assert hups == [1]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
