"""The periodic thread of the scheduled reports and the evidence retention."""

from __future__ import annotations

import logging
import threading

import pytest

from api.periodic import PeriodicThread
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(30)


def test_runs_at_once_then_every_interval_until_stopped() -> None:
    runs: list[float] = []
    ticker = PeriodicThread("tick", lambda: runs.append(1.0), 0.05, lambda: None)
    ticker.start()
    wait_for(lambda: len(runs) >= 3, 5, "three runs", poll_s=0.01)
    ticker.stop(5)
    done = len(runs)
    threading.Event().wait(0.2)
    assert len(runs) == done  # nothing after stop
    assert not any(t.name == "tick" for t in threading.enumerate())


def test_a_failing_run_is_logged_counted_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, errors = [], []

    def job() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("disk on fire")

    ticker = PeriodicThread("flaky", job, 0.01, lambda: errors.append(1))
    with caplog.at_level(logging.ERROR, logger="api.periodic"):
        ticker.start()
        wait_for(lambda: len(calls) >= 3, 5, "runs after the failure", poll_s=0.01)
        ticker.stop(5)
    assert errors == [1]
    [record] = [r for r in caplog.records if r.name == "api.periodic"]
    assert "flaky: run failed" in record.getMessage() and record.exc_info is not None


def test_a_second_start_while_running_is_refused_and_a_restart_after_stop_works() -> None:
    runs: list[int] = []
    ticker = PeriodicThread("twice", lambda: runs.append(1), 60, lambda: None)
    ticker.start()
    with pytest.raises(RuntimeError, match="twice is already running"):
        ticker.start()
    ticker.stop(5)
    ticker.start()  # once stopped, it can start again: and runs at once
    wait_for(lambda: len(runs) >= 2, 5, "the run of the restart", poll_s=0.01)
    ticker.stop(5)
