"""The thread that sends due notification deliveries (:mod:`api.deliveries`) to the channels.

It runs beside the ticket service's loop, not in it: a webhook that takes its whole timeout, or
an SMTP server that never answers, must not hold up tickets. The service wakes it when it has
queued something; otherwise it sleeps until the next retry is due (at most
:data:`IDLE_POLL_S`, since another replica may have queued something meanwhile).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from api.channels import Channel, DeliveryFailed, build_channels
from api.deliveries import DeliveryStore, RetryPolicy
from api.store import TicketStore
from pipelines.config import HazardwatchConfig

__all__ = ["DeliveryWorker"]

logger = logging.getLogger(__name__)

IDLE_POLL_S = 2.0
_ERROR_PAUSE_S = 5.0


class DeliveryWorker:
    """Queue deliveries for ``channels`` and send them with retries, in its own thread.

    Args:
        deliveries: the queue and log.
        channels: the configured channels (names unique).
    """

    def __init__(self, deliveries: DeliveryStore, channels: Sequence[Channel]) -> None:
        self.deliveries = deliveries
        self.channels = {channel.name: channel for channel in channels}
        # Longer than any attempt can take: a lease only runs out when its holder died.
        self._lease_s = 60.0 + 2 * max((c.timeout_s for c in channels), default=30.0)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._counters = {"deliveries_sent": 0, "delivery_failures": 0, "deliveries_given_up": 0}

    @classmethod
    def from_config(cls, config: HazardwatchConfig, store: TicketStore) -> DeliveryWorker | None:
        """The worker of ``api.notifications``, or None when no channel is configured.

        Raises:
            ChannelConfigError: a channel's secret is missing from the environment (the message
                names the config path, never the value).
        """
        settings = config.api.notifications if config.api is not None else None
        if settings is None or not settings.channels:
            return None
        policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            initial_s=settings.backoff_initial_s,
            factor=settings.backoff_factor,
            max_s=settings.backoff_max_s,
        )
        return cls(DeliveryStore(store, policy), build_channels(settings))

    # -- used by the ticket service -----------------------------------------------------------

    def wanted_by(self, note: Mapping[str, Any]) -> list[str]:
        """The names of the channels this notification goes to."""
        return [name for name, channel in self.channels.items() if channel.wants(note)]

    def enqueue_outbox(self) -> int:
        """Copy the store's outbox into the delivery queue (idempotent); wake the sender."""
        added = self.deliveries.enqueue_outbox(self.wanted_by)
        if added:
            self._wake.set()
        return added

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("DeliveryWorker is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="notification-delivery", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the attempt in progress (a lease left behind ends by itself)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    # -- sending ------------------------------------------------------------------------------

    def run_due(self, limit: int = 100) -> int:
        """Attempt up to ``limit`` due deliveries now; returns how many were attempted."""
        done = 0
        while done < limit and not self._stop.is_set():
            claimed = self.deliveries.claim_due(
                self.channels, datetime.now(UTC), lease_s=self._lease_s
            )
            if claimed is None:
                break
            channel = self.channels[claimed.channel]
            started = datetime.now(UTC)
            ok, permanent = True, False
            try:
                result = channel.send(claimed.payload, claimed.id)
            except DeliveryFailed as exc:
                ok, permanent, result = False, exc.permanent, str(exc)
            except Exception as exc:  # a bug in a channel must not stop the others
                logger.exception("channel %s: delivery %d failed", claimed.channel, claimed.id)
                ok, result = False, f"internal error: {type(exc).__name__}"
            record = self.deliveries.record(
                claimed.id, ok=ok, result=result, permanent=permanent, started=started
            )
            self._note(record, claimed.channel)
            done += 1
        return done

    def _note(self, record: Mapping[str, Any], channel: str) -> None:
        status = record["status"]
        with self._lock:
            if status == "sent":
                self._counters["deliveries_sent"] += 1
            else:
                self._counters["delivery_failures"] += 1
                if status == "failed":
                    self._counters["deliveries_given_up"] += 1
        if status == "failed":
            logger.error(
                "notification delivery %d to channel %s given up after %d attempts: %s",
                record["id"],
                channel,
                record["attempts"],
                record["last_error"],
            )
        elif status == "pending":
            logger.warning(
                "notification delivery %d to channel %s failed (attempt %d, next at %s): %s",
                record["id"],
                channel,
                record["attempts"],
                record["next_attempt_at"],
                record["last_error"],
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_due()
                pause = self._pause()
            except DBAPIError as exc:
                logger.warning("notification delivery: database unavailable: %s", exc.orig)
                pause = _ERROR_PAUSE_S
            except Exception:
                logger.exception("notification delivery round failed")
                pause = _ERROR_PAUSE_S
            self._wake.wait(pause)
            self._wake.clear()

    def _pause(self) -> float:
        due = self.deliveries.next_due(self.channels)
        if due is None:
            return IDLE_POLL_S
        return min(max((due - datetime.now(UTC)).total_seconds(), 0.01), IDLE_POLL_S)
