"""The ticket service: a Redis Streams consumer group feeding the ticket store.

It reads ``hazardwatch:events`` and ``hazardwatch:zone_status`` with ``XREADGROUP``, applies
each entry to the :class:`api.store.TicketStore` and ``XACK`` s it only after the store
committed. Why that is enough for "no loss, no duplicates":

- an entry is acknowledged only once the ticket change is durable, so a crash at any point
  leaves it pending in the group: this consumer re-reads its own pending entries (``0`` id) at
  start-up and after every failure, and entries another consumer has held for
  ``claim_idle_ms`` are taken over with ``XAUTOCLAIM`` (looked for every second);
- the store is idempotent on ``event_id``, so an entry applied before the crash and delivered
  again is a no-op (counted as a duplicate) and is then acknowledged.

An event's evidence is checked before the store sees it (:mod:`api.evidence_files`): every file
it names must be a regular file inside ``DATA_DIR/evidence/{camera_id}/`` whose SHA-256 is the
one the event gives. An event naming anything else (the ticket database, another camera's
clip, a file changed since it was hashed) is refused as malformed. An event that names no file
(the disk was full, the clip was skipped) is fine, and so is one naming a file of its camera's
folder that is not there: it is applied without that file, the gap noted in ``evidence.error``.

A malformed entry is never retried forever: it is copied, with the reason, to
``hazardwatch:events:dead`` and acknowledged in one MULTI/EXEC. An entry that keeps failing for
an unexpected reason is dead-lettered after :data:`MAX_ATTEMPTS`; a database that cannot be
reached is not the entry's fault, so those entries stay pending and are retried after a backoff.
Redis going away makes ``healthy`` false; the loop backs off (capped) and carries on when it
returns, recreating the groups if Redis lost them.

Several services may share the group (scale-out: ``serve`` replicas on several boxes over one
PostgreSQL, each its own consumer). When one is killed, what it held is taken over by another
within ``claim_idle_ms`` plus a second. The default, 5 s, is the time after which a ticket write
already counts as stalled (``STORE_STALL_S``): a live replica holds an entry for milliseconds,
or a batch for about a second, so one holding it longer is dead or stuck on the database, and
applying an entry it did apply after all is harmless (the store is idempotent on event ids).

Escalation of overdue tickets runs every ``escalation_interval_s`` in the same thread (it needs
only the database). Notifications (urgent new tickets, escalations, reopenings, rechecks) are
written by the store into its outbox with the change they announce (:mod:`api.notifications`),
and this loop moves them to ``hazardwatch:notifications``: while Redis is down they wait there,
and those of a service killed before it sent them are sent by another.

With notification channels configured (``api.notifications``), each outbox notification is
first copied into the delivery queue (:mod:`api.deliveries`, idempotent) and then put on the
stream; :class:`api.delivery_worker.DeliveryWorker`, started and stopped with the service, sends
the queue to the channels in its own thread. The stream carries what it always carried: the
``created`` notification of a blue or yellow ticket (for channels that want every new ticket)
is not put on it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import redis
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from api.after_picture import AfterPictureKeeper
from api.delivery_worker import DeliveryWorker
from api.entries import EVIDENCE_FILES, ParsedEvent, parse_event
from api.errors import InvalidEntry, ServiceError
from api.evidence_files import (
    DigestCache,
    EvidenceKeyUnavailable,
    EvidenceMissing,
    EvidenceRejected,
    check_evidence_file,
)
from api.retention import EvidenceRetention
from api.store import TicketStore

if TYPE_CHECKING:
    from api.reports.schedule import ScheduledReports

__all__ = [
    "DEAD_LETTER_STREAM",
    "EVENTS_STREAM",
    "MAX_ATTEMPTS",
    "NOTIFICATIONS_STREAM",
    "ZONE_STATUS_STREAM",
    "TicketService",
]

logger = logging.getLogger(__name__)

EVENTS_STREAM = "hazardwatch:events"
ZONE_STATUS_STREAM = "hazardwatch:zone_status"
DEAD_LETTER_STREAM = "hazardwatch:events:dead"
NOTIFICATIONS_STREAM = "hazardwatch:notifications"
MAX_ATTEMPTS = 3  # unexpected failures of one entry before it is dead-lettered
MAX_ENTRY_BYTES = 1_000_000
_NOTIFICATIONS_MAXLEN = 10_000
# The notification types the stream has always carried (api.notifications); the others exist
# for the channels only.
STREAM_TYPES = frozenset(
    {"urgent_ticket", "reopened", "level_raised", "escalated", "rechecked", "hotspot"}
)
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 10.0
_STALE_CONSUMER_MS = 3_600_000  # a consumer idle this long with nothing pending is removed
_CLAIM_CHECK_S = 1.0  # how often entries held by other consumers are looked for
# A ticket write waiting this long for the database (SQLite waits up to 30 s for a lock held by
# another connection) makes the service unhealthy meanwhile, so that /health shows it at once.
STORE_STALL_S = 5.0

_RedisDown = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class _RetryLater(Exception):
    """An entry could not be applied now (database unavailable, unexpected error): it stays
    pending and is re-read on the next iteration."""


def _database_down(exc: DBAPIError) -> bool:
    """Whether a database error is an outage (retry later) rather than a bug."""
    return isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _payload(stream: str, fields: Mapping[bytes, bytes]) -> dict[str, Any]:
    """The JSON payload of an entry (``event`` or ``status`` field), or InvalidEntry."""
    name = b"event" if stream == EVENTS_STREAM else b"status"
    raw = fields.get(name)
    if raw is None:
        present = sorted(_text(k) for k in fields)
        raise InvalidEntry(f"no '{name.decode()}' field (fields: {present})")
    if len(raw) > MAX_ENTRY_BYTES:
        raise InvalidEntry(f"'{name.decode()}' is {len(raw)} bytes; at most {MAX_ENTRY_BYTES}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEntry(f"'{name.decode()}' is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEntry(f"'{name.decode()}' must be a JSON object")
    if stream == EVENTS_STREAM and b"event_id" in fields:
        declared = _text(fields[b"event_id"])
        if declared != str(data.get("event_id")):
            raise InvalidEntry(f"field event_id {declared[:80]!r} differs from the event's")
    return data


class TicketService:
    """Consumer-group reader of the event and zone-status streams, and periodic escalation.

    Args:
        redis_url: ``redis://host:port/db``.
        store: where tickets live.
        data_dir: the data dir the evidence writer writes to; every file an event names must
            be in its ``evidence/{camera_id}/`` folder with the SHA-256 the event gives.
        group: consumer group name (shared by every instance of the service).
        consumer: this consumer's name (default ``hostname-pid``).
        block_ms: longest ``XREADGROUP`` waits for new entries, 1 to 60000 ms.
        claim_idle_ms: how long another consumer's entry must have been pending before it is
            taken over (0: at once).
        escalation_interval_s: how often overdue tickets are escalated.
        batch_size: entries read per call.
        retention: evidence retention, started and stopped with the service (its own thread).
        deliveries: the notification channels' sender, started and stopped with the service
            (its own thread); None: notifications go to the stream only.
        reports: the scheduled weekly/monthly reports (:mod:`api.reports.schedule`), started
            and stopped with the service (their own thread: a PDF must not hold up events).

    Raises:
        ServiceError: for a bad URL or an out-of-range setting.
    """

    def __init__(
        self,
        redis_url: str,
        store: TicketStore,
        *,
        data_dir: Path,
        group: str = "tickets",
        consumer: str | None = None,
        block_ms: int = 500,
        claim_idle_ms: int = 5000,
        escalation_interval_s: float = 60.0,
        batch_size: int = 100,
        retention: EvidenceRetention | None = None,
        deliveries: DeliveryWorker | None = None,
        reports: ScheduledReports | None = None,
    ) -> None:
        if not 1 <= block_ms <= 60000:
            raise ServiceError(f"block_ms must be 1 to 60000, got {block_ms}")
        if claim_idle_ms < 0:
            raise ServiceError(f"claim_idle_ms must be >= 0, got {claim_idle_ms}")
        if not escalation_interval_s > 0:
            raise ServiceError(f"escalation_interval_s must be > 0, got {escalation_interval_s}")
        if not 1 <= batch_size <= 10000:
            raise ServiceError(f"batch_size must be 1 to 10000, got {batch_size}")
        if not group or not (consumer is None or consumer):
            raise ServiceError("group and consumer names must not be empty")
        self.store = store
        self.retention = retention
        self.deliveries = deliveries
        self.reports = reports
        self.data_dir = Path(data_dir)
        self._digests = DigestCache()
        self._after_pictures = AfterPictureKeeper(self.data_dir)
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.escalation_interval_s = escalation_interval_s
        self.batch_size = batch_size
        try:
            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=block_ms / 1000 + 5.0, socket_connect_timeout=2.0
            )
        except ValueError as exc:
            raise ServiceError(f"bad Redis URL: {exc}") from None
        self._lock = threading.Lock()  # guards the counters read by other threads
        self._counters: dict[str, Any] = {
            "events_applied": 0,
            "duplicates": 0,
            "zone_status_applied": 0,
            "rechecks": 0,
            "dead_letters": 0,
            "reclaimed": 0,
            "escalations": 0,
            "notifications_sent": 0,
            "notifications_dropped": 0,  # kept for /metrics: the outbox drops nothing
            "redis_errors": 0,
            "store_errors": 0,
            "last_error": None,
            "last_error_at": None,
        }
        self._healthy = False
        self._groups_ready = False
        self._own_pending = True  # re-read this consumer's pending entries before new ones
        self._next_claim = 0.0  # monotonic time of the next XAUTOCLAIM round (0: at once)
        self._next_escalation = 0.0
        self._attempts: dict[str, int] = {}
        self._notifications_left = 0  # in the outbox after the last send
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed = False
        self._store_busy_since: float | None = None  # monotonic start of a ticket write

    # -- public -------------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Redis answered and the database worked in the last iteration."""
        return self._healthy

    def counters(self) -> dict[str, Any]:
        """A snapshot of the counters for /metrics, plus ``healthy`` and ``store_wait_s`` (how
        long the ticket write in progress has been waiting for the database)."""
        with self._lock:
            out = dict(self._counters)
            busy_since = self._store_busy_since
        out["healthy"] = self._healthy
        out["notifications_pending"] = self._notifications_left
        if self.deliveries is not None:
            out.update(self.deliveries.counters())
        waited_s = 0.0 if busy_since is None else time.monotonic() - busy_since
        out["store_wait_s"] = round(waited_s, 1)
        if waited_s >= STORE_STALL_S:
            out["healthy"] = False
            out["last_error"] = (
                f"database busy: a ticket write has waited {waited_s:.0f} s (is it locked by "
                "another connection?); the entries stay pending in Redis"
            )
        return out

    def start(self) -> None:
        """Run the loop in a background thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("TicketService is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ticket-service", daemon=True)
        self._thread.start()
        if self.retention is not None:
            self.retention.start()
        if self.deliveries is not None:
            self.deliveries.start()
        if self.reports is not None:
            self.reports.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the loop (and retention), wait for the thread, close the Redis connection."""
        if self.retention is not None:
            self.retention.stop()
        if self.deliveries is not None:
            self.deliveries.stop()
        if self.reports is not None:
            self.reports.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s if timeout_s is not None else self.block_ms / 1000 + 10)
            self._thread = None
        self._redis.close()

    def run_once(self) -> int:
        """One iteration: groups, recovery of pending entries, new entries, escalation.

        Never raises for Redis or database trouble (it is counted, logged and retried on the
        next call). Returns the number of entries handled (applied, duplicate or dead-lettered).
        """
        handled = 0
        self._failed = False
        try:
            if not self._groups_ready:
                self._ensure_groups()
            if self._own_pending:
                handled += self._recover_own()
            if time.monotonic() >= self._next_claim:
                handled += self._reclaim()
            handled += self._read_new()
            self._flush_notifications()  # what this batch (or a killed service) announced
            self._healthy = True
        except _RedisDown as exc:
            self._redis_failed(exc)
        except redis.exceptions.ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis lost the group (restarted without persistence)
                self._groups_ready = False
            self._redis_failed(exc)
        except _RetryLater as exc:
            self._retry_later(exc)
        self._maybe_escalate()
        return handled

    # -- loop ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        backoff = _BACKOFF_START_S
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bug: keep the service alive, count it, slow down
                logger.exception("ticket service iteration failed")
                self._note_error("internal error (see log)", "store_errors")
                self._failed = True
            if self._failed:
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            else:
                backoff = _BACKOFF_START_S

    def _note_error(self, message: str, counter: str) -> None:
        with self._lock:
            self._counters[counter] += 1
            self._counters["last_error"] = message[:500]
            self._counters["last_error_at"] = datetime.now(UTC).isoformat()

    def _count(self, counter: str, n: int = 1) -> None:
        with self._lock:
            self._counters[counter] += n

    def _redis_failed(self, exc: Exception) -> None:
        was_healthy = self._healthy
        self._healthy, self._failed, self._own_pending = False, True, True
        self._note_error(f"redis: {type(exc).__name__}: {exc}", "redis_errors")
        if was_healthy:
            logger.warning("ticket service lost Redis: %s; retrying with backoff", exc)
        else:
            logger.debug("Redis still unavailable: %s", exc)

    def _retry_later(self, exc: Exception) -> None:
        self._healthy, self._failed, self._own_pending = False, True, True
        self._note_error(str(exc), "store_errors")
        logger.warning("entries stay pending and are retried: %s", exc)

    # -- groups and reading -------------------------------------------------------------------

    def _ensure_groups(self) -> None:
        for stream in (EVENTS_STREAM, ZONE_STATUS_STREAM):
            try:
                self._redis.xgroup_create(stream, self.group, id="0", mkstream=True)
                logger.info("created consumer group %s on %s", self.group, stream)
            except redis.exceptions.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True
        self._own_pending = True

    def _read(self, ids: Mapping[str, str], block: int | None) -> list[Any]:
        streams: dict[Any, Any] = dict(ids)
        reply = self._redis.xreadgroup(
            self.group, self.consumer, streams, count=self.batch_size, block=block
        )
        return cast(list[Any], reply or [])

    def _read_new(self) -> int:
        ids = {EVENTS_STREAM: ">", ZONE_STATUS_STREAM: ">"}
        handled = 0
        for stream_name, entries in self._read(ids, self.block_ms):
            handled += self._handle_all(_text(stream_name), entries)
        return handled

    def _recover_own(self) -> int:
        """Entries delivered to this consumer and never acknowledged (a crash, an error)."""
        handled = 0
        for stream in (EVENTS_STREAM, ZONE_STATUS_STREAM):
            while True:
                reply = self._read({stream: "0"}, None)
                entries = reply[0][1] if reply else []
                if not entries:
                    break
                handled += self._handle_all(stream, entries)
                if len(entries) < self.batch_size:
                    break
        self._own_pending = False
        return handled

    def _reclaim(self) -> int:
        """Take over entries left pending by other consumers (``XAUTOCLAIM``)."""
        handled = 0
        for stream in (EVENTS_STREAM, ZONE_STATUS_STREAM):
            start = "0-0"
            while True:
                reply = cast(
                    list[Any],
                    self._redis.xautoclaim(
                        stream,
                        self.group,
                        self.consumer,
                        min_idle_time=self.claim_idle_ms,
                        start_id=start,
                        count=self.batch_size,
                    ),
                )
                start, entries = _text(reply[0]), reply[1]
                if entries:
                    logger.warning(
                        "reclaimed %d pending entries of %s from a stopped consumer",
                        len(entries),
                        stream,
                    )
                    self._count("reclaimed", len(entries))
                    handled += self._handle_all(stream, entries)
                if start == "0-0":
                    break
        self._drop_stale_consumers()
        # Not every claim_idle_ms: an entry that came just after a round would wait twice that.
        self._next_claim = time.monotonic() + min(self.claim_idle_ms / 1000, _CLAIM_CHECK_S)
        return handled

    def _drop_stale_consumers(self) -> None:
        for stream in (EVENTS_STREAM, ZONE_STATUS_STREAM):
            for info in cast(list[Any], self._redis.xinfo_consumers(stream, self.group)):
                name = _text(info["name"])
                if (
                    name != self.consumer
                    and info["pending"] == 0
                    and info["idle"] > _STALE_CONSUMER_MS
                ):
                    self._redis.xgroup_delconsumer(stream, self.group, name)

    # -- entries ------------------------------------------------------------------------------

    def _handle_all(self, stream: str, entries: list[Any]) -> int:
        for entry_id, fields in entries:
            self._handle(stream, _text(entry_id), fields or {})
        return len(entries)

    def _handle(self, stream: str, entry_id: str, fields: Mapping[bytes, bytes]) -> None:
        """Apply one entry and acknowledge it; only a database outage (or evidence this process
        has no key for) leaves it pending."""
        if not fields:  # trimmed away while pending: nothing left to apply
            logger.warning("%s entry %s has no data (trimmed); acknowledging it", stream, entry_id)
            self._redis.xack(stream, self.group, entry_id)
            return
        try:
            with self._store_call():
                self._apply(stream, fields)
        except InvalidEntry as exc:
            self._dead_letter(stream, entry_id, fields, str(exc))
            return
        except _RetryLater:
            raise
        except Exception as exc:
            if isinstance(exc, DBAPIError) and _database_down(exc):
                reason = exc.orig if exc.orig is not None else exc
                raise _RetryLater(f"database unavailable: {reason}") from exc
            attempts = self._attempts.get(entry_id, 0) + 1
            logger.exception("%s entry %s failed (attempt %d)", stream, entry_id, attempts)
            if attempts < MAX_ATTEMPTS:
                self._attempts[entry_id] = attempts
                raise _RetryLater(f"entry {entry_id}: {type(exc).__name__}: {exc}") from exc
            self._attempts.pop(entry_id, None)
            self._dead_letter(
                stream, entry_id, fields, f"failed {attempts} times: {type(exc).__name__}: {exc}"
            )
            return
        self._attempts.pop(entry_id, None)
        self._redis.xack(stream, self.group, entry_id)

    @contextmanager
    def _store_call(self) -> Iterator[None]:
        """Mark a ticket write in progress, for :meth:`counters` to see one that hangs."""
        with self._lock:
            self._store_busy_since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._store_busy_since = None

    def _apply(self, stream: str, fields: Mapping[bytes, bytes]) -> None:
        data = _payload(stream, fields)
        if stream == EVENTS_STREAM:
            self._check_evidence(data, parse_event(data))
            view = self.store.apply_event(data)
            if view is None:
                self._count("duplicates")
                return
            self._count("events_applied")
            return
        # A recheck keeps its own copy of the zone's live picture (api.after_picture).
        changed = self.store.apply_zone_status(data, after_pictures=self._after_pictures)
        self._count("zone_status_applied")
        self._count("rechecks", len(changed))

    def _check_evidence(self, data: dict[str, Any], parsed: ParsedEvent) -> None:
        """Every file the event names is its camera's, a regular file, and has its SHA-256.

        A file that is simply not there (inside the camera's folder) is no reason to lose the
        hazard: it is taken out of ``data`` and the gap is written into ``evidence.error``.

        Raises:
            InvalidEntry: naming the event, the file and why (the entry is dead-lettered).
        """
        camera_id = parsed.event.camera_id
        for name in EVIDENCE_FILES:
            stored = parsed.evidence.get(name)
            if stored is None:
                continue
            try:
                check_evidence_file(
                    self.data_dir,
                    camera_id,
                    stored,
                    parsed.evidence.get(f"{name}_sha256"),
                    self._digests,
                )
            except EvidenceMissing:
                _drop_missing_file(data, name)
                logger.warning(
                    "event %s of camera %s: evidence.%s %r is not on disk; the event is applied "
                    "without it",
                    parsed.event.event_id,
                    camera_id,
                    name,
                    stored[:160],
                )
            except EvidenceKeyUnavailable as exc:  # this service's keys, not the event, are wrong
                raise _RetryLater(
                    f"event {parsed.event.event_id!r} of camera {camera_id!r}: "
                    f"evidence.{name} cannot be verified: {exc}"
                ) from None
            except EvidenceRejected as exc:
                raise InvalidEntry(
                    f"event {parsed.event.event_id!r} of camera {camera_id!r}: "
                    f"evidence.{name} {stored[:160]!r} is refused: {exc}"
                ) from None

    def _dead_letter(
        self, stream: str, entry_id: str, fields: Mapping[bytes, bytes], error: str
    ) -> None:
        logger.error(
            "%s entry %s is malformed, moved to %s: %s", stream, entry_id, DEAD_LETTER_STREAM, error
        )
        record: dict[Any, Any] = {k: v for k, v in fields.items() if k not in (b"stream", b"id")}
        record.update({"stream": stream, "id": entry_id, "error": error[:2000]})
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(DEAD_LETTER_STREAM, record)
        pipe.xack(stream, self.group, entry_id)
        pipe.execute()
        self._note_error(f"dead letter {entry_id}: {error}", "dead_letters")

    # -- escalation and notifications -----------------------------------------------------

    def _maybe_escalate(self) -> None:
        if time.monotonic() < self._next_escalation:
            return
        self._next_escalation = time.monotonic() + self.escalation_interval_s
        try:
            with self._store_call():
                changed = self.store.escalate_overdue(datetime.now(UTC))
        except DBAPIError as exc:
            if not _database_down(exc):
                raise
            self._retry_later(exc)
            return
        self._count("escalations", len(changed))
        if changed:
            logger.info("escalated %d overdue tickets", len(changed))
        try:
            self._flush_notifications()
        except _RedisDown as exc:
            self._redis_failed(exc)
        except _RetryLater as exc:
            self._retry_later(exc)

    def _flush_notifications(self) -> None:
        """Copy the store's outbox into the delivery queue (channels configured), then move it
        to the notifications stream (Redis errors propagate)."""
        try:
            if self.deliveries is not None:
                self.deliveries.enqueue_outbox()
            _sent, self._notifications_left = self.store.send_notifications(self._send_notification)
        except DBAPIError as exc:
            if not _database_down(exc):
                raise
            reason = exc.orig if exc.orig is not None else exc
            raise _RetryLater(f"database unavailable: {reason}") from exc

    def _send_notification(self, payload: dict[str, Any]) -> None:
        if payload.get("type") not in STREAM_TYPES:
            return  # for the channels only (queued above); taken out of the outbox
        self._redis.xadd(
            NOTIFICATIONS_STREAM,
            {"notification": json.dumps(payload)},
            maxlen=_NOTIFICATIONS_MAXLEN,
            approximate=True,
        )
        self._count("notifications_sent")


def _drop_missing_file(data: dict[str, Any], name: str) -> None:
    """Take evidence file ``name`` out of an event dict and say so in ``evidence.error``."""
    evidence = dict(data.get("evidence") or {})
    evidence.pop(name, None)
    digests = evidence.get("sha256")
    if isinstance(digests, Mapping):
        evidence["sha256"] = {k: v for k, v in digests.items() if k != name}
    note = f"{name} was not on disk when the ticket service received the event"
    error = evidence.get("error")
    evidence["error"] = f"{error}; {note}" if error else note
    data["evidence"] = evidence
