"""Waiting in tests for an effect of another process or thread (a ticket, a delivery, a status)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    predicate: Callable[[], Any],
    timeout_s: float,
    what: str,
    poll_s: float = 0.5,
    explain: Callable[[], str] | None = None,
) -> Any:
    """Call ``predicate`` every ``poll_s`` until it returns something truthy, and return that.

    Raises:
        AssertionError: ``timeout_s`` passed first; the message says what was awaited, then
            what ``explain`` returns then (a log's tail, say).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            why = f"\n{explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}{why}")
        time.sleep(poll_s)
