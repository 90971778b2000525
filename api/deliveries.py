"""The delivery queue and log of notification channels (table ``notification_deliveries``).

One row per (notification, channel): what was sent where, each attempt with its time and
result, and what is still due. Why rows in the ticket database and not a queue in memory:
a receiver down for an hour, or a service restarted while a delivery waits for its next try,
must lose nothing, and the office must be able to see on the ticket who was told and when.

How a notification gets here. The ticket store writes it into its outbox with the change it
announces (:mod:`api.notifications`); before the ticket service moves the outbox to Redis, it
copies each outbox notification into this table once per channel that wants it
(:meth:`DeliveryStore.enqueue_outbox`). The copy is keyed by the SHA-256 of the notification's
JSON and the channel under a UNIQUE constraint, so a copy repeated after a crash (or by another
replica) adds nothing: the outbox row is deleted only after its copy committed.

Attempts. :class:`api.delivery_worker.DeliveryWorker` claims one due row at a time (a lease,
so two replicas never send the same one at once, and one killed mid-send leaves it to another
once the lease ends), makes one attempt outside any transaction, and records the result: sent;
or a retry after ``backoff_initial_s * backoff_factor ** (attempts - 1)`` (at most
``backoff_max_s``); or given up after ``max_attempts`` or at once when the receiver refused it
for good (HTTP 4xx but 408/425/429). A delivery is at least once: a service killed between the
send and the record sends it again (webhook receivers drop repeats by ``delivery_id``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, String, Table, Text, UniqueConstraint, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.store import Base, JsonColumn, NotificationRow, TicketStore, UtcDateTime

__all__ = [
    "FAILED",
    "PENDING",
    "SENT",
    "Claimed",
    "DeliveryRow",
    "DeliveryStore",
    "RetryPolicy",
    "notification_key",
]

PENDING, SENT, FAILED = "pending", "sent", "failed"
_OUTBOX_BATCH = 500
_MAX_ERROR = 1000


class DeliveryRow(Base):
    """One notification for one channel, its attempts (``log``) and what is due next."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_key", "channel", name="uq_delivery_notification_channel"),
        {"sqlite_autoincrement": True},  # ids are sent to receivers: never reused
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(63))
    ticket_id: Mapped[str] = mapped_column(String(36), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn, default=list)


def notification_key(payload: Mapping[str, Any]) -> str:
    """The SHA-256 of a notification's canonical JSON (it holds the ticket, type and time)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, and when to stop (``api.notifications`` settings)."""

    max_attempts: int = 8
    initial_s: float = 30.0
    factor: float = 2.0
    max_s: float = 3600.0

    def delay_after(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return float(min(self.initial_s * self.factor ** max(attempts - 1, 0), self.max_s))


@dataclass(frozen=True)
class Claimed:
    """A due delivery leased to this worker."""

    id: int
    channel: str
    payload: dict[str, Any]
    attempts: int


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class DeliveryStore:
    """The ``notification_deliveries`` table, on the ticket store's database and engines.

    It uses the store's transactions (:meth:`TicketStore._writing`: SQLite's ``BEGIN
    IMMEDIATE``, PostgreSQL's retried serialization failures) so that both see one database in
    one way; the table is created with the others (``api.store.Base``, Alembic revision
    ``0003``, api/migrations).
    """

    def __init__(self, store: TicketStore, policy: RetryPolicy | None = None) -> None:
        self._store = store
        self.policy = policy or RetryPolicy()
        self._dialect = store._dialect

    # -- enqueue ------------------------------------------------------------------------------

    def enqueue_outbox(
        self, wants: Callable[[Mapping[str, Any]], Sequence[str]], now: datetime | None = None
    ) -> int:
        """Copy the outbox's notifications into the queue, one row per channel ``wants`` names.

        Returns the rows added (0 when each was there already).
        """
        with self._store._reading() as session:
            stmt = select(NotificationRow.payload).order_by(NotificationRow.id)
            payloads = [dict(p) for p in session.scalars(stmt.limit(_OUTBOX_BATCH)).all()]
        rows: list[dict[str, Any]] = []
        when = now or datetime.now(UTC)
        for payload in payloads:
            key = notification_key(payload)
            for channel in wants(payload):
                rows.append(_new_row(key, channel, payload, when))
        if not rows:
            return 0
        return self._store._writing(lambda session: self._insert_new(session, rows))

    def _insert_new(self, session: Session, rows: list[dict[str, Any]]) -> int:
        table = cast(Table, DeliveryRow.__table__)
        index = ["notification_key", "channel"]
        stmt: Any
        if self._dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=index)
        else:
            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=index)
        added = 0
        for row in rows:  # RETURNING: rowcount is not reliable for an ignored conflict
            added += len(session.execute(stmt.values(**row).returning(table.c.id)).all())
        return added

    # -- attempts -----------------------------------------------------------------------------

    def claim_due(self, channels: Iterable[str], now: datetime, lease_s: float) -> Claimed | None:
        """Lease the most overdue pending delivery of one of ``channels``, or None."""
        names = sorted(set(channels))
        if not names:
            return None

        def work(session: Session) -> Claimed | None:
            stmt = (
                select(DeliveryRow)
                .where(
                    DeliveryRow.status == PENDING,
                    DeliveryRow.channel.in_(names),
                    DeliveryRow.next_attempt_at <= now,
                    (DeliveryRow.lease_until.is_(None)) | (DeliveryRow.lease_until < now),
                )
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
                .limit(1)
            )
            if self._dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            row = session.scalars(stmt).one_or_none()
            if row is None:
                return None
            row.lease_until = now + timedelta(seconds=lease_s)
            return Claimed(row.id, row.channel, dict(row.payload), row.attempts)

        return self._store._writing(work)

    def record(
        self,
        delivery_id: int,
        *,
        ok: bool,
        result: str,
        permanent: bool = False,
        started: datetime,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Record one attempt's result; returns the delivery as :meth:`for_ticket` shows it."""
        when = now or datetime.now(UTC)

        def work(session: Session) -> dict[str, Any]:
            row = session.get(DeliveryRow, delivery_id)
            if row is None:
                raise LookupError(f"notification delivery {delivery_id} does not exist")
            row.attempts += 1
            entry: dict[str, Any] = {
                "attempt": row.attempts,
                "at": _iso(started),
                "ok": ok,
                "result": result[:_MAX_ERROR],
                "duration_ms": max(0, int((when - started).total_seconds() * 1000)),
            }
            row.lease_until = None
            row.updated_at = when
            if ok:
                row.status, row.sent_at, row.next_attempt_at = SENT, when, None
            elif permanent or row.attempts >= self.policy.max_attempts:
                row.status, row.next_attempt_at = FAILED, None
                row.last_error = result[:_MAX_ERROR]
                entry["gave_up"] = (
                    "the receiver refused it; not retried"
                    if permanent
                    else f"given up after {row.attempts} attempts (max_attempts)"
                )
            else:
                delay = self.policy.delay_after(row.attempts)
                row.next_attempt_at = when + timedelta(seconds=delay)
                row.last_error = result[:_MAX_ERROR]
                entry["retry_in_s"] = round(delay, 3)
            row.log = [*row.log, entry]
            return _json(row)

        return self._store._writing(work)

    def next_due(self, channels: Iterable[str]) -> datetime | None:
        """The earliest time a pending delivery of ``channels`` is due (None: nothing pending)."""
        names = sorted(set(channels))
        if not names:
            return None
        stmt = select(func.min(DeliveryRow.next_attempt_at)).where(
            DeliveryRow.status == PENDING, DeliveryRow.channel.in_(names)
        )
        with self._store._reading() as session:
            value = session.scalar(stmt)
        if value is not None and value.tzinfo is None:  # min() bypasses the column type
            value = _parse_db_time(value)
        return value

    # -- reading ------------------------------------------------------------------------------

    def for_ticket(self, ticket_id: str) -> list[dict[str, Any]]:
        """The deliveries of a ticket's notifications, oldest first, each with its attempts."""
        stmt = (
            select(DeliveryRow)
            .where(DeliveryRow.ticket_id == ticket_id)
            .order_by(DeliveryRow.created_at, DeliveryRow.id)
        )
        with self._store._reading() as session:
            return [_json(row) for row in session.scalars(stmt).all()]

    def counts(self) -> dict[str, int]:
        """Deliveries by status."""
        stmt = select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        with self._store._reading() as session:
            found = {str(status): int(n) for status, n in session.execute(stmt).all()}
        return {status: found.get(status, 0) for status in (PENDING, SENT, FAILED)}


def _parse_db_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _new_row(key: str, channel: str, payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "notification_key": key,
        "channel": channel,
        "ticket_id": str(payload.get("ticket_id", ""))[:36],
        "event_type": str(payload.get("type", ""))[:32],
        "payload": dict(payload),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "last_error": None,
        "log": [],
    }


def _json(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
        "next_attempt_at": _iso(row.next_attempt_at) if row.status == PENDING else None,
        "last_error": row.last_error,
        "log": list(row.log),
    }
