"""The optional action of a hazard (a door-hold relay, an announcement): a command or HTTP POST.

The pipeline calls :meth:`ActionHook.fire` on a hazard's ``start`` and ``end`` events. The action
runs in the hook's own worker thread, so a slow relay or an unreachable URL never holds up the
analysis; each run is bounded by ``timeout_s``. Failures (a command that cannot start, exits
non-zero or times out; an HTTP error or an unreachable host) are logged with the camera and zone
and counted, and never raised into the pipeline.

Drop policy of the action queue: it holds up to ``max_pending`` events; when it is full (the
actions are slower than the hazards arrive) the newest event is dropped, counted and logged.
Hazard events themselves are never dropped; only their side action is.

The command is an argv list run without a shell. It gets the event in its environment:
``HAZARDWATCH_EVENT_JSON`` (the event as JSON), ``HAZARDWATCH_PHASE`` (start or end),
``HAZARDWATCH_CAMERA``, ``HAZARDWATCH_ZONE``, ``HAZARDWATCH_KIND`` and ``HAZARDWATCH_HAZARD_ID``.
The URL receives the event JSON as the body of a POST (``Content-Type: application/json``).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cameras.redact import redact_url
from vision.types import HazardEvent

logger = logging.getLogger(__name__)

_STOP = object()
# Bytes of a failed command's stderr kept in the log line.
_STDERR_TAIL = 400


@dataclass(frozen=True, slots=True)
class ActionStats:
    """Counts of one hook since it started."""

    fired: int
    succeeded: int
    failed: int
    dropped: int


class ActionHook:
    """Runs a command and/or POSTs to a URL for each event, in a background worker thread.

    Args:
        command: program and arguments (argv, no shell), or None.
        url: http(s) URL to POST the event JSON to, or None.
        timeout_s: seconds after which a command is killed or a request abandoned.
        max_pending: events waiting for the worker beyond which new ones are dropped.
        name: shown in logs and the thread name (e.g. ``lobby_lift/lift_car``).

    Raises:
        ValueError: when there is nothing to do, the command is empty, the URL is not http(s)
            with a host, or ``timeout_s`` / ``max_pending`` are not positive.
    """

    def __init__(
        self,
        command: Sequence[str] | None,
        url: str | None,
        timeout_s: float = 5.0,
        *,
        max_pending: int = 256,
        name: str = "action",
    ) -> None:
        if command is None and url is None:
            raise ValueError(f"action hook {name}: needs a command or a url (or both)")
        if command is not None and (isinstance(command, str) or not command or not command[0]):
            raise ValueError(
                f"action hook {name}: command must be a non-empty argv list, got {command!r}"
            )
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"action hook {name}: url must be http(s)://host/..., got '{redact_url(url)}'"
                )
        if not timeout_s > 0:
            raise ValueError(f"action hook {name}: timeout_s must be > 0, got {timeout_s}")
        if max_pending < 1:
            raise ValueError(f"action hook {name}: max_pending must be >= 1, got {max_pending}")
        self.command = tuple(command) if command is not None else None
        self.url = url
        self.timeout_s = timeout_s
        self.name = name
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._counts = {"fired": 0, "succeeded": 0, "failed": 0, "dropped": 0}
        self._closed = False
        self._worker = threading.Thread(target=self._run, name=f"action-{name}", daemon=True)
        self._worker.start()

    # ----- called by the pipeline ------------------------------------------------------------

    def fire(self, event: HazardEvent) -> None:
        """Queue the action for ``event``; returns at once and never raises."""
        with self._lock:
            self._counts["fired"] += 1
            closed = self._closed
        if closed:
            self._drop(event, "the hook is closed")
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._drop(event, "the action queue is full")

    def close(self, timeout_s: float | None = None) -> None:
        """Run the actions still queued, then stop the worker (waits up to ``timeout_s``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout_s)
        if self._worker.is_alive():
            logger.warning(
                "action hook %s: worker still busy after %.1f s at close", self.name, timeout_s
            )

    @property
    def stats(self) -> ActionStats:
        with self._lock:
            return ActionStats(**self._counts)

    # ----- worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if not isinstance(item, HazardEvent):
                continue
            try:
                ok = self._perform(item)
            except Exception:  # one bad action must not stop the worker: log, count, go on
                logger.exception(
                    "action %s for camera %s zone %s: unexpected error",
                    self.name,
                    item.camera_id,
                    item.zone,
                )
                ok = False
            with self._lock:
                self._counts["succeeded" if ok else "failed"] += 1

    def _perform(self, event: HazardEvent) -> bool:
        body = json.dumps(event.to_dict(), separators=(",", ":"))
        ok = True
        if self.command is not None:
            ok = self._run_command(event, body) and ok
        if self.url is not None:
            ok = self._post(event, body, self.url) and ok
        return ok

    def _run_command(self, event: HazardEvent, body: str) -> bool:
        env = dict(os.environ)
        env.update(
            {
                "HAZARDWATCH_EVENT_JSON": body,
                "HAZARDWATCH_PHASE": event.phase.value,
                "HAZARDWATCH_CAMERA": event.camera_id,
                "HAZARDWATCH_ZONE": event.zone,
                "HAZARDWATCH_KIND": event.kind.value,
                "HAZARDWATCH_HAZARD_ID": event.hazard_id,
            }
        )
        argv = list(self.command or ())
        try:
            done = subprocess.run(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return self._failed(event, f"command {argv[0]} timed out after {self.timeout_s} s")
        except OSError as exc:
            return self._failed(event, f"command {argv[0]} could not run: {exc}")
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace")[-_STDERR_TAIL:].strip()
            return self._failed(
                event, f"command {argv[0]} exited with {done.returncode}: {tail or 'no stderr'}"
            )
        return True

    def _post(self, event: HazardEvent, body: str, url: str) -> bool:
        request = urllib.request.Request(
            url,
            data=body.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        shown = redact_url(url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            return self._failed(event, f"POST {shown} answered HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return self._failed(event, f"POST {shown} failed: {reason}")
        return True

    def _failed(self, event: HazardEvent, why: str) -> bool:
        logger.warning(
            "action %s for camera %s zone %s (%s %s): %s",
            self.name,
            event.camera_id,
            event.zone,
            event.phase.value,
            event.hazard_id,
            why,
        )
        return False

    def _drop(self, event: HazardEvent, why: str) -> None:
        with self._lock:
            self._counts["dropped"] += 1
        logger.warning(
            "action %s for camera %s zone %s (%s %s) dropped: %s",
            self.name,
            event.camera_id,
            event.zone,
            event.phase.value,
            event.hazard_id,
            why,
        )
