"""The ticket store: SQLAlchemy 2 models and :class:`TicketStore`.

SQLite (the default, ``sqlite:///DATA_DIR/tickets.sqlite3``) and PostgreSQL
(``postgresql+psycopg://...``; extra ``postgres``) are supported. Every method runs in one
transaction and commits before it returns, so a caller that acknowledges a stream entry after
``apply_event`` returned never acknowledges something the database could lose.

Why the schema looks as it does:

- ``applied_events`` holds every applied event id: a re-delivered entry is a no-op.
- ``tickets.open_key`` is ``camera/zone/kind`` while a ticket is open and NULL once it is closed
  or rejected, under a UNIQUE constraint: two consumers racing on the same hazard can never make
  two open tickets (the loser's insert fails and it retries, then attaches).
- ``serial_counters`` gives each (area, kind) its serial by an atomic upsert in the same
  transaction as the ticket insert, so codes are unique under concurrent inserts.
- SQLite writes take the write lock at ``BEGIN IMMEDIATE`` (no lock upgrade deadlocks between
  threads); reads use their own engine with a plain ``BEGIN`` and, in WAL mode, never wait for a
  writer. ``synchronous=FULL`` makes a commit survive a power cut, not only a crash.
- Several ticket services may write at once (scale-out replicas sharing a consumer group over
  one PostgreSQL). Every change to a ticket reads it under its row lock (``SELECT ... FOR
  UPDATE``) taken before anything else of it is read, so no replica writes back a stale copy
  over another's change; several tickets are locked in id order; a transaction PostgreSQL
  rolled back to break a deadlock or a serialization conflict is run again.
- Times are stored in UTC and always come back timezone-aware.
- A transaction waits for a lock another connection holds (a backup, a long writer): on SQLite
  up to 30 s, on PostgreSQL as the server's ``lock_timeout`` says (no limit by default). The
  ticket service may wait that long; :func:`lock_wait_limit` bounds the wait of the calls made
  inside it (the web app bounds each HTTP request so), set at each transaction's start as
  SQLite's ``busy_timeout`` or PostgreSQL's ``SET LOCAL lock_timeout``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Select

from api.after_picture import AfterPictureError, AfterPictureKeeper
from api.entries import (
    EVIDENCE_KEYS,
    ParsedEvent,
    ZoneStatus,
    parse_event,
    parse_zone_status,
    public_clip_available,
)
from api.errors import (
    InvalidQuery,
    OpenTicketExists,
    StoreError,
    TicketNotFound,
)
from api.hotspots import (
    CATEGORIES,
    CATEGORY_HAZARD,
    CATEGORY_HOTSPOT,
    HOTSPOT_NOTIFICATION,
    count_since,
    created_note,
    hotspot_key,
    hotspot_serial_kind,
    level_for_places,
    systemic_note,
)
from api.notifications import event_notification_kind, notification
from api.schema import upgrade_database
from api.settings.dispatch import Assignee, Contact
from api.settings.levels import RiskLevel
from api.settings.roles import SYSTEM_ACTOR, TokenRole
from api.workflow import (
    TicketPolicy,
    TicketStatus,
    allowed_targets,
    check_transition,
    escalation_for,
    format_code,
    format_hotspot_code,
    is_open,
    level_for_duration,
    level_rank,
    mask_actor,
    recheck_due,
    rectifiers,
    step_deadline,
    step_of,
)
from vision.annotations import AnnotationBox, FrameAnnotation, FrameRef, FrameSource
from vision.types import HazardEvent, HazardKind, HazardPhase

__all__ = ["TicketStore", "TicketView", "lock_wait_limit"]

logger = logging.getLogger(__name__)

_MAX_NOTE = 2000
_MAX_LIMIT = 1000
_RETRIES = 5  # attempts of a write that lost a race on a unique key
# PostgreSQL's "deadlock detected" and "could not serialize access": the transaction was rolled
# back only to let another one through, and succeeds when run again.
_ROLLED_BACK_BY_SERVER = ("40P01", "40001")
_STATE_CHUNK = 500  # hazard ids per query (far below SQLite's bound-variable limit)

_LOCK_WAIT_S = 30.0  # how long a SQLite transaction waits for a lock held by another connection

T = TypeVar("T")
# Who is responsible for a hazard at (camera, zone), and the dispatch rule's key (api.dispatch).
Dispatch = Callable[[str, str], tuple[Assignee, str] | None]
SelectT = TypeVar("SelectT", bound=Select[Any])


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _check_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise InvalidQuery(f"{name} must be timezone-aware, got naive {value.isoformat()}")


# --- schema ------------------------------------------------------------------------------------


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: give UTC")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC text, which also sorts correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


# JSONB on PostgreSQL (comparable, indexable), JSON text elsewhere.
JsonColumn = JSON().with_variant(postgresql.JSONB(), "postgresql")
# The same, with Python None stored as SQL NULL (as a column added later holds in old rows).
NullableJsonColumn = JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    level: Mapped[str] = mapped_column(String(8))
    camera_id: Mapped[str] = mapped_column(String(63), index=True)
    zone: Mapped[str] = mapped_column(String(63))
    area: Mapped[str] = mapped_column(String(63))
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    labels: Mapped[list[str]] = mapped_column(JsonColumn, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JsonColumn, default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonColumn, default=dict)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    # 责任单位/责任人 as {"name", "contact"} (api.dispatch); NULL: not assigned (revision 0002).
    responsible_unit: Mapped[dict[str, Any] | None] = mapped_column(NullableJsonColumn)
    responsible_person: Mapped[dict[str, Any] | None] = mapped_column(NullableJsonColumn)
    # "hazard", or "hotspot" (隐患热点, api.hotspots): an area-level alert over member tickets
    # (revision 0004).
    category: Mapped[str] = mapped_column(
        String(16), default=CATEGORY_HAZARD, server_default=CATEGORY_HAZARD, index=True
    )

    hazards: Mapped[list[HazardRow]] = relationship(
        back_populates="ticket", order_by="HazardRow.started_at", lazy="selectin"
    )
    history: Mapped[list[HistoryRow]] = relationship(
        back_populates="ticket", order_by="HistoryRow.seq", lazy="selectin"
    )
    # A hotspot's member tickets, and the hotspots a hazard ticket is a member of.
    members: Mapped[list[TicketRow]] = relationship(
        secondary="hotspot_members",
        primaryjoin="TicketRow.id == HotspotMemberRow.hotspot_id",
        secondaryjoin="TicketRow.id == HotspotMemberRow.member_id",
        order_by="TicketRow.created_at",
        lazy="selectin",
        viewonly=True,
    )
    hotspots: Mapped[list[TicketRow]] = relationship(
        secondary="hotspot_members",
        primaryjoin="TicketRow.id == HotspotMemberRow.member_id",
        secondaryjoin="TicketRow.id == HotspotMemberRow.hotspot_id",
        order_by="TicketRow.created_at",
        lazy="selectin",
        viewonly=True,
    )


class HotspotMemberRow(Base):
    """A hazard ticket counted in a hotspot ticket (revision 0004)."""

    __tablename__ = "hotspot_members"

    hotspot_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), primary_key=True, index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HazardRow(Base):
    __tablename__ = "ticket_hazards"

    hazard_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonColumn, default=dict)

    ticket: Mapped[TicketRow] = relationship(back_populates="hazards")


class HistoryRow(Base):
    __tablename__ = "ticket_history"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(63))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JsonColumn, default=dict)

    ticket: Mapped[TicketRow] = relationship(back_populates="history")


class AppliedEventRow(Base):
    __tablename__ = "applied_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    hazard_id: Mapped[str] = mapped_column(String(128))
    phase: Mapped[str] = mapped_column(String(8))
    ticket_id: Mapped[str] = mapped_column(String(36))
    applied_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RevokedSessionRow(Base):
    """A web session ended by logout; kept until the session would have expired anyway."""

    __tablename__ = "revoked_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AnnotationRow(Base):
    """A reviewer's boxes on one frame of a ticket's evidence (:mod:`vision.annotations`).

    One row per (ticket, frame): ``frame_key`` is ``snapshot`` or ``clip@{t_ms}``; ``boxes`` is
    ``[{"class", "xyxy"}]`` in normalised coordinates; ``negative`` marks a frame showing none
    of the annotation classes (a false alarm's frame).
    """

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("ticket_id", "frame_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    frame_key: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    t_ms: Mapped[int | None] = mapped_column(Integer)
    image_sha256: Mapped[str] = mapped_column(String(64))
    boxes: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn, default=list)
    negative: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NotificationRow(Base):
    """A notification written with the change it announces, until the ticket service has
    sent it to Redis (:mod:`api.notifications`)."""

    __tablename__ = "notification_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonColumn)


class SerialCounterRow(Base):
    __tablename__ = "serial_counters"

    area: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


# --- the view the API serializes ------------------------------------------------------------


@dataclass(frozen=True)
class TicketView:
    """A ticket as the API shows it (fields are only ever added, never removed).

    ``evidence`` has every key of :data:`EVIDENCE_KEYS` (None when absent): the clip, the
    snapshot, their blurred public copies, the "after" snapshot of the recheck, each with its
    SHA-256, and ``error`` when the evidence writer could not write something. ``history``
    entries are ``{"at", "actor", "from", "to", "note", "action", ...}`` oldest first.
    """

    id: str
    code: str
    kind: str
    status: str
    level: str
    camera_id: str
    zone: str
    area: str
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    hazard_ids: list[str]
    evidence: dict[str, Any]
    history: list[dict[str, Any]]
    details: dict[str, Any]
    labels: list[str]
    score: float
    started_at: datetime
    ended_at: datetime | None
    escalations: int
    allowed_transitions: list[str] = field(default_factory=list)
    responsible_unit: dict[str, Any] | None = None
    responsible_person: dict[str, Any] | None = None
    category: str = CATEGORY_HAZARD
    members: list[dict[str, Any]] = field(default_factory=list)
    hotspot: dict[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        return is_open(self.status)

    def allowed_for(self, role: TokenRole, actor: str) -> list[str]:
        """The statuses ``actor`` with ``role`` may move this ticket to (its role's moves,
        without the recheck and close of a ticket it rectified)."""
        history = ((entry.get("to"), str(entry.get("actor"))) for entry in self.history)
        return allowed_targets(self.status, role, actor=actor, rectified_by=rectifiers(history))

    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        """JSON-ready dict.

        ``public=True`` is what residents see: the blurred media only (their SHA-256 under
        ``clip_sha256`` / ``snapshot_sha256``, since that is what they download), no file
        paths, masked actor names and no free-text notes (they may name people).
        """
        out: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "kind": self.kind,
            "status": self.status,
            "level": self.level,
            "camera_id": self.camera_id,
            "zone": self.zone,
            "area": self.area,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "deadline_at": _iso(self.deadline_at),
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "hazard_ids": list(self.hazard_ids),
            "details": dict(self.details),
            "labels": list(self.labels),
            "score": self.score,
            "escalations": self.escalations,
            "responsible_unit": _contact_json(self.responsible_unit, public=public, person=False),
            "responsible_person": _contact_json(
                self.responsible_person, public=public, person=True
            ),
            "category": self.category,
            "members": [dict(m) for m in self.members],
            "hotspot": None if self.hotspot is None else dict(self.hotspot),
        }
        if public:  # linked tickets may be open ones, which the public do not see
            out["members"], out["hotspot"] = [], None
            out["evidence"] = {
                "clip_sha256": self.evidence.get("clip_public_sha256"),
                "snapshot_sha256": self.evidence.get("snapshot_public_sha256"),
                "has_clip": public_clip_available(self.evidence),
                "has_snapshot": self.evidence.get("snapshot_public") is not None,
                "blurred": True,
            }
            out["history"] = [
                {
                    **_history_json(entry),
                    **_public_contacts(entry),
                    "actor": mask_actor(entry["actor"]),
                    "note": None,
                }
                for entry in self.history
            ]
            return out
        out["evidence"] = dict(self.evidence)
        out["history"] = [_history_json(entry) for entry in self.history]
        out["allowed_transitions"] = list(self.allowed_transitions)
        return out


def _history_json(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {**entry, "at": _iso(entry["at"])}


# History entries of an assignment carry these (api.dispatch); the public see them masked.
_CONTACT_KEYS = ("responsible_unit", "responsible_person", "previous_unit", "previous_person")


def _contact_json(
    value: Mapping[str, Any] | None, *, public: bool, person: bool
) -> dict[str, Any] | None:
    """A responsible unit or person as the caller may see it: the public see no contact and a
    person's name masked (脱敏), but a unit's name (an organisation, not a person)."""
    if value is None:
        return None
    if not public:
        return dict(value)
    name = str(value.get("name", ""))
    return {**value, "name": mask_actor(name) if person else name, "contact": None}


def _public_contacts(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _contact_json(entry[key], public=True, person=key.endswith("_person"))
        for key in _CONTACT_KEYS
        if isinstance(entry.get(key), Mapping)
    }


def _view(row: TicketRow) -> TicketView:
    evidence = {key: row.evidence.get(key) for key in EVIDENCE_KEYS}
    history = [
        {
            "at": h.at,
            "actor": h.actor,
            "from": h.from_status,
            "to": h.to_status,
            "note": h.note,
            "action": h.action,
            **h.extra,
        }
        for h in row.history
    ]
    return TicketView(
        id=row.id,
        code=row.code,
        kind=row.kind,
        status=row.status,
        level=row.level,
        camera_id=row.camera_id,
        zone=row.zone,
        area=row.area,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deadline_at=row.deadline_at,
        hazard_ids=[h.hazard_id for h in row.hazards],
        evidence=evidence,
        history=history,
        details=dict(row.details),
        labels=list(row.labels),
        score=row.score,
        started_at=row.started_at,
        ended_at=row.ended_at,
        escalations=row.escalations,
        allowed_transitions=allowed_targets(row.status),
        responsible_unit=None if row.responsible_unit is None else dict(row.responsible_unit),
        responsible_person=(
            None if row.responsible_person is None else dict(row.responsible_person)
        ),
        category=row.category or CATEGORY_HAZARD,
        members=[_link_json(m) for m in row.members],
        hotspot=next((_link_json(h) for h in reversed(row.hotspots)), None),
    )


def _link_json(row: TicketRow) -> dict[str, Any]:
    """A linked ticket (a hotspot's member, or a member's hotspot) as a ticket shows it."""
    return {
        "id": row.id,
        "code": row.code,
        "status": row.status,
        "level": row.level,
        "created_at": _iso(row.created_at),
        "hazards": len(row.hazards),
    }


# --- engines ---------------------------------------------------------------------------------


_lock_wait_limit_s: ContextVar[float | None] = ContextVar("lock_wait_limit_s", default=None)


@contextmanager
def lock_wait_limit(limit_s: float) -> Iterator[None]:
    """Store calls made inside this block wait at most ``limit_s`` for a lock (30 s at most).

    The bound belongs to the current context (thread or task), and to worker threads started
    from it with a copy of the context (as Starlette runs sync routes), not to other threads
    sharing the store. A call that runs out of time raises SQLAlchemy's ``OperationalError``
    (SQLite: "database is locked"; PostgreSQL: ``LockNotAvailable``).

    Raises:
        ValueError: ``limit_s`` is not positive.
    """
    if not limit_s > 0:
        raise ValueError(f"lock_wait_limit: limit_s must be > 0, got {limit_s!r}")
    token = _lock_wait_limit_s.set(limit_s)
    try:
        yield
    finally:
        _lock_wait_limit_s.reset(token)


def _lock_wait_ms() -> int:
    limit_s = _lock_wait_limit_s.get()
    return round(1000 * (_LOCK_WAIT_S if limit_s is None else min(limit_s, _LOCK_WAIT_S)))


def _enter_wal_mode(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the write lock.

    Switching a new (rollback-journal) database to WAL needs its write lock, taken from inside
    the statement's own read transaction, where SQLite does not call the busy handler: a second
    process opening the same new database at that moment gets "database is locked" at once,
    whatever the connection's timeout (seen when ``serve`` replicas start together). Once the
    file is in WAL mode (it stays so) the statement takes no write lock and passes first time.
    """
    deadline = time.monotonic() + _lock_wait_ms() / 1000
    pause_s = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause_s > deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(2 * pause_s, 0.1)


def _setup_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, explicitly
        cursor = dbapi_connection.cursor()
        _enter_wal_mode(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Pooled connections serve the service and HTTP requests in turn: set the wait each time.
        wait_ms = _lock_wait_ms()
        if connection.info.get("busy_timeout_ms") != wait_ms:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {wait_ms}")
            connection.info["busy_timeout_ms"] = wait_ms
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _setup_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if _lock_wait_limit_s.get() is not None:  # unbounded otherwise, as before
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_lock_wait_ms()}")


def _make_engines(url: str) -> tuple[Engine, Engine]:
    """(write engine, read engine) for ``url``; the same engine twice except for SQLite files."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "database URL is not valid: expected sqlite:///PATH or postgresql+psycopg://..."
        ) from None
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            database = parsed.database
            memory = database in (None, "", ":memory:")
            connect_args = {"check_same_thread": False, "timeout": _LOCK_WAIT_S}
            args: dict[str, Any] = {"connect_args": connect_args}
            if memory:
                write = create_engine(parsed, poolclass=StaticPool, **args)
                _setup_sqlite(write, immediate=True)
                return write, write
            Path(str(database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
            write, read = create_engine(parsed, **args), create_engine(parsed, **args)
            _setup_sqlite(write, immediate=True)
            _setup_sqlite(read, immediate=False)
            return write, read
        if backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = create_engine(parsed, pool_pre_ping=True)
            _setup_postgresql(engine)
            return engine, engine
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(
            f"no database driver for {parsed.drivername}: {exc} (PostgreSQL: pip install "
            "'hazardwatch[postgres]')"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot create the database directory: {exc}") from None
    raise StoreError(f"unsupported database '{backend}': use sqlite:/// or postgresql+psycopg://")


# --- the store -------------------------------------------------------------------------------


class _LostRace(Exception):
    """A concurrent writer changed what this transaction decided on: roll back, try again."""


def _open_key(camera_id: str, zone: str, kind: str) -> str:
    return f"{camera_id}/{zone}/{kind}"


def _open_key_of(ticket: TicketRow) -> str:
    """The key that keeps one open ticket per place and kind (and one open hotspot)."""
    if ticket.category == CATEGORY_HOTSPOT:
        return hotspot_key(ticket.camera_id, ticket.zone, ticket.kind)
    return _open_key(ticket.camera_id, ticket.zone, ticket.kind)


class TicketStore:
    """Tickets in SQLite or PostgreSQL: events in, workflow, queries out.

    Args:
        url: ``sqlite:///path/db.sqlite3`` (parent directory created) or
            ``postgresql+psycopg://user@host/db`` (``postgresql://`` uses psycopg too).
        policy: levels, deadlines, recheck and areas; defaults to the config defaults.
        dispatch: who a new ticket is assigned to (:meth:`api.dispatch.DispatchBook.assignee_for`);
            None: new tickets are not assigned.

    The database is upgraded to the newest schema as it is opened (:mod:`api.schema`).

    Raises:
        StoreError: the URL is invalid, its driver is missing or the database cannot be used;
            :class:`api.schema.NewerDatabase` when a newer release upgraded it.
    """

    def __init__(
        self, url: str, *, policy: TicketPolicy | None = None, dispatch: Dispatch | None = None
    ) -> None:
        self.policy = policy or TicketPolicy()
        self._dispatch = dispatch
        self._write_engine, self._read_engine = _make_engines(url)
        self._dialect = self._write_engine.dialect.name
        try:
            upgrade_database(self._write_engine)
        except StoreError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise StoreError(f"cannot open the ticket database: {type(exc).__name__}") from exc
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)

    def close(self) -> None:
        """Release every database connection."""
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._read() as session, session.begin():
            yield session

    def _writing(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction; retry when it lost a race.

        Races: a unique key another writer took first, a hazard attached meanwhile, or a
        transaction PostgreSQL rolled back to break a deadlock or a serialization conflict
        (SQLSTATE class 40: "retry the transaction", not an outage).
        """
        for attempt in range(_RETRIES):
            try:
                with self._write() as session, session.begin():
                    return work(session)
            except IntegrityError:
                if attempt == _RETRIES - 1:
                    raise
                logger.info("ticket write lost a race on a unique key; retrying")
            except OperationalError as exc:
                state = getattr(exc.orig, "sqlstate", None)
                if state not in _ROLLED_BACK_BY_SERVER or attempt == _RETRIES - 1:
                    raise
                logger.info("ticket write rolled back by the database (%s); retrying", exc.orig)
            except _LostRace as exc:
                if attempt == _RETRIES - 1:
                    raise StoreError(f"ticket write kept losing races: {exc}") from None
                logger.info("ticket write lost a race (%s); retrying", exc)
        raise AssertionError("unreachable")

    def _locked(self, stmt: SelectT) -> SelectT:
        return stmt.with_for_update() if self._dialect == "postgresql" else stmt

    # -- events -------------------------------------------------------------------------------

    def apply_event(
        self, event: dict[str, Any], *, received_at: datetime | None = None
    ) -> TicketView | None:
        """Apply one hazard event; idempotent on ``event_id``.

        ``start`` makes a ticket (``discovered``) or attaches the hazard to the open ticket of
        the same camera, zone and kind (a ``rechecked`` one is reopened); ``update`` and
        ``end`` are recorded on the ticket of their hazard. An ``update``/``end`` of a hazard
        never seen (its start was lost) makes or finds the ticket as a start would.

        Returns:
            The ticket after the change, or None when the event was applied before.

        Raises:
            InvalidEntry: the event is malformed (its message names the field).
        """
        parsed = parse_event(event)
        _check_aware("received_at", received_at)
        now = received_at or _utcnow()
        return self._writing(lambda session: self._apply(session, parsed, now))

    def _apply(self, session: Session, parsed: ParsedEvent, now: datetime) -> TicketView | None:
        hz = parsed.event
        if session.get(AppliedEventRow, hz.event_id) is not None:
            return None
        hazard = self._locked_hazard(session, hz.hazard_id)
        created = False  # whether this event made the ticket (announced as new)
        if hazard is None:
            ticket, created = self._ticket_for_new_hazard(session, parsed, now)
            hazard = HazardRow(
                hazard_id=hz.hazard_id,
                started_at=hz.started_at,
                received_at=now,
                evidence=parsed.evidence,
            )
            ticket.hazards.append(hazard)
            if self.policy.hotspots.enabled:
                self._count_towards_hotspot(session, ticket, hz, now)
        else:
            ticket = hazard.ticket
            _merge_missing(ticket, hazard, parsed.evidence)
            if hz.phase is HazardPhase.START and not self._start_applied(session, hz.hazard_id):
                # Its update or end came first (another ticket service applied it while this
                # start waited, or it was delivered late): the history says it did arrive.
                _add_history(
                    ticket,
                    now,
                    SYSTEM_ACTOR,
                    "start_arrived",
                    ticket.status,
                    ticket.status,
                    f"the start of hazard {hz.hazard_id} arrived after its later events",
                )
        self._record_phase(ticket, hazard, hz, now)
        session.add(
            AppliedEventRow(
                event_id=hz.event_id,
                hazard_id=hz.hazard_id,
                phase=hz.phase.value,
                ticket_id=ticket.id,
                applied_at=now,
            )
        )
        ticket.updated_at = now
        session.flush()
        view = _view(ticket)
        kind = event_notification_kind(view, created=created)
        if kind is not None:
            _announce(session, kind, view)
        return view

    def _start_applied(self, session: Session, hazard_id: str) -> bool:
        stmt = select(AppliedEventRow.event_id).where(
            AppliedEventRow.hazard_id == hazard_id,
            AppliedEventRow.phase == HazardPhase.START.value,
        )
        return session.scalars(stmt.limit(1)).first() is not None

    def _locked_hazard(self, session: Session, hazard_id: str) -> HazardRow | None:
        """The hazard row, read after its ticket's row lock is held (PostgreSQL), or None.

        Several ticket services may apply events of one ticket at once (scale-out replicas
        sharing a consumer group). Reading the ticket without the lock and writing it back
        would let the second commit overwrite the first's details, labels or level; with the
        lock, the second waits and then reads what the first committed. Nothing of the ticket
        is loaded before the lock, so the session holds no stale copy of it.
        """
        ticket_id = session.scalar(
            select(HazardRow.ticket_id).where(HazardRow.hazard_id == hazard_id)
        )
        if ticket_id is None:
            return None
        session.scalars(self._locked(select(TicketRow).where(TicketRow.id == ticket_id))).one()
        return session.get(HazardRow, hazard_id)

    def _ticket_for_new_hazard(
        self, session: Session, parsed: ParsedEvent, now: datetime
    ) -> tuple[TicketRow, bool]:
        """The open ticket the new hazard joins, or a new one; and whether it is new."""
        hz = parsed.event
        key = _open_key(hz.camera_id, hz.zone, hz.kind.value)
        stmt = self._locked(select(TicketRow).where(TicketRow.open_key == key))
        ticket = session.scalars(stmt).one_or_none()
        if ticket is None:
            return self._create(session, parsed, key, now), True
        if any(h.hazard_id == hz.hazard_id for h in ticket.hazards):
            # Another service attached this hazard while this one waited for the ticket's lock
            # (PostgreSQL): start again, now as an event of a known hazard.
            raise _LostRace(f"hazard {hz.hazard_id} was attached to {ticket.code} meanwhile")
        note = f"hazard {hz.hazard_id} at {_iso(hz.started_at)}"
        if hz.phase is not HazardPhase.START:
            note += f" (first seen in its '{hz.phase}' event: its start had not arrived)"
        if ticket.status == TicketStatus.RECHECKED:
            self._move(
                ticket,
                TicketStatus.REOPENED,
                SYSTEM_ACTOR,
                now,
                "reopened",
                f"the hazard recurred after the recheck: {note}",
            )
            for name in ("after_snapshot", "after_snapshot_sha256"):
                ticket.evidence = {k: v for k, v in ticket.evidence.items() if k != name}
        else:
            _add_history(
                ticket, now, SYSTEM_ACTOR, "repeat", ticket.status, ticket.status, f"repeat: {note}"
            )
        ticket.labels = _union(ticket.labels, hz.labels)
        ticket.score = max(ticket.score, hz.score)
        ticket.ended_at = None
        return ticket, False

    def _create(self, session: Session, parsed: ParsedEvent, key: str, now: datetime) -> TicketRow:
        hz = parsed.event
        area = self.policy.area_of(hz.camera_id)
        level = self.policy.starting_level(hz.kind)
        serial = self._next_serial(session, area, hz.kind.value)
        ticket = TicketRow(
            id=str(uuid4()),
            code=format_code(area, hz.kind, level, serial),
            kind=hz.kind.value,
            status=TicketStatus.DISCOVERED.value,
            level=level.value,
            camera_id=hz.camera_id,
            zone=hz.zone,
            area=area,
            open_key=key,
            created_at=now,
            updated_at=now,
            deadline_at=step_deadline(
                self.policy, to_status=TicketStatus.DISCOVERED, level=level, now=now
            ),
            started_at=hz.started_at,
            ended_at=None,
            score=hz.score,
            labels=list(hz.labels),
            details=_details_of(hz),
            evidence=dict(parsed.evidence),
            escalations=0,
            hazards=[],
            history=[],
        )
        session.add(ticket)
        note = f"{hz.kind} at {hz.camera_id}/{hz.zone}, hazard {hz.hazard_id}"
        if hz.phase is not HazardPhase.START:
            note += f" (first seen in its '{hz.phase}' event: its start had not arrived)"
        _add_history(
            ticket, now, SYSTEM_ACTOR, "created", None, ticket.status, note, level=level.value
        )
        self._assign_new(ticket, now)
        return ticket

    def _assign_new(self, ticket: TicketRow, now: datetime) -> None:
        """Dispatch a new ticket to its camera's or zone's responsible unit and person."""
        found = None if self._dispatch is None else self._dispatch(ticket.camera_id, ticket.zone)
        if found is None:
            return
        assignee, rule = found
        _assign(ticket, assignee.unit, assignee.person)
        _add_history(
            ticket,
            now,
            SYSTEM_ACTOR,
            "assigned",
            ticket.status,
            ticket.status,
            f"dispatched to {_who(assignee.unit, assignee.person)} by the rule '{rule}'",
            rule=rule,
            responsible_unit=ticket.responsible_unit,
            responsible_person=ticket.responsible_person,
        )

    def reassign(
        self,
        ticket_id: str,
        *,
        unit: Contact,
        person: Contact | None,
        actor: str,
        reason: str,
        now: datetime | None = None,
    ) -> TicketView:
        """Give an open ticket another responsible unit and person; the history says who did
        it, why, and who was responsible before. Giving the ones it has changes nothing.

        Raises:
            TicketNotFound: no ticket has this id or code.
            InvalidQuery: the ticket is closed or rejected, an empty actor, or a reason that is
                empty or longer than 2000 characters.
        """
        if not actor or len(actor) > 63:
            raise InvalidQuery("actor must be 1 to 63 characters")
        if not reason.strip() or len(reason) > _MAX_NOTE:
            raise InvalidQuery(f"a reassignment needs its reason, 1 to {_MAX_NOTE} characters")
        _check_aware("now", now)
        when = now or _utcnow()

        def work(session: Session) -> TicketView:
            ticket = self._find(session, ticket_id, lock=True)
            if not is_open(ticket.status):
                raise InvalidQuery(
                    f"ticket {ticket.code} is {ticket.status}: only an open ticket is reassigned"
                )
            previous_unit, previous_person = ticket.responsible_unit, ticket.responsible_person
            _assign(ticket, unit, person)
            if (ticket.responsible_unit, ticket.responsible_person) == (
                previous_unit,
                previous_person,
            ):
                return _view(ticket)
            ticket.updated_at = when
            _add_history(
                ticket,
                when,
                actor,
                "reassigned",
                ticket.status,
                ticket.status,
                reason,
                responsible_unit=ticket.responsible_unit,
                responsible_person=ticket.responsible_person,
                previous_unit=previous_unit,
                previous_person=previous_person,
            )
            session.flush()
            return _view(ticket)

        return self._writing(work)

    # -- hotspots (api.hotspots) ------------------------------------------------------------

    def _count_towards_hotspot(
        self, session: Session, ticket: TicketRow, hz: HazardEvent, now: datetime
    ) -> None:
        """A new hazard arrived at ``ticket``'s place: link it to the place's open hotspot, or
        make one when the place's recent hazards reach ``min_hazards``."""
        settings = self.policy.hotspots
        place = (
            TicketRow.camera_id == ticket.camera_id,
            TicketRow.zone == ticket.zone,
            TicketRow.kind == ticket.kind,
        )
        key = hotspot_key(ticket.camera_id, ticket.zone, ticket.kind)
        spot = session.scalars(self._locked(select(TicketRow).where(TicketRow.open_key == key)))
        hotspot = spot.one_or_none()
        ended = session.scalar(
            select(func.max(TicketRow.updated_at)).where(
                *place, TicketRow.category == CATEGORY_HOTSPOT, TicketRow.open_key.is_(None)
            )
        )
        since = count_since(settings, hz.started_at, ended)
        counted = session.execute(
            select(HazardRow.ticket_id, TicketRow.code, HazardRow.started_at)
            .join(TicketRow, HazardRow.ticket_id == TicketRow.id)
            .where(
                *place,
                TicketRow.category == CATEGORY_HAZARD,
                TicketRow.status != TicketStatus.REJECTED.value,
                HazardRow.started_at >= since,
                HazardRow.started_at <= hz.started_at,
            )
            .order_by(HazardRow.started_at)
        ).all()
        if hotspot is not None:
            self._link(session, hotspot, [ticket.id], now)
            session.expire(ticket, ["hotspots"])
            hotspot.details = {
                **hotspot.details,
                "hazards": len(counted),
                "last_hazard_at": _iso(hz.started_at),
            }
            hotspot.updated_at = now
            return
        if len(counted) < settings.min_hazards:
            return
        member_ids = list(dict.fromkeys(row.ticket_id for row in counted))
        codes = list(dict.fromkeys(row.code for row in counted))
        others = session.scalars(
            self._locked(
                select(TicketRow)
                .where(
                    TicketRow.category == CATEGORY_HOTSPOT,
                    TicketRow.area == ticket.area,
                    TicketRow.kind == ticket.kind,
                    TicketRow.open_key.is_not(None),
                )
                .order_by(TicketRow.id)
            )
        ).all()
        places = {(t.camera_id, t.zone) for t in others} | {(ticket.camera_id, ticket.zone)}
        level = level_for_places(settings, len(places))
        hotspot = self._create_hotspot(session, ticket, key, level, counted[0].started_at, now)
        hotspot.details = {
            "hazards": len(counted),
            "window_days": settings.window_days,
            "min_hazards": settings.min_hazards,
            "first_hazard_at": _iso(counted[0].started_at),
            "last_hazard_at": _iso(hz.started_at),
        }
        note = created_note(
            ticket.kind, ticket.camera_id, ticket.zone, len(counted), settings, codes
        )
        if level is RiskLevel.RED:
            note += "; " + systemic_note(ticket.kind, ticket.area, places, None)
        _add_history(
            hotspot, now, SYSTEM_ACTOR, "created", None, hotspot.status, note, level=hotspot.level
        )
        self._assign_new(hotspot, now)
        self._link(session, hotspot, member_ids, now)
        raised = [s for s in others if self._raise_hotspot(s, level, places, now)]
        session.flush()
        session.expire(hotspot, ["members"])
        session.expire(ticket, ["hotspots"])
        _announce(session, HOTSPOT_NOTIFICATION, _view(hotspot))
        for other in raised:
            _announce(session, "level_raised", _view(other))

    def _create_hotspot(
        self,
        session: Session,
        ticket: TicketRow,
        key: str,
        level: RiskLevel,
        first: datetime,
        now: datetime,
    ) -> TicketRow:
        serial = self._next_serial(session, ticket.area, hotspot_serial_kind(ticket.kind))
        hotspot = TicketRow(
            id=str(uuid4()),
            code=format_hotspot_code(ticket.area, ticket.kind, level, serial),
            kind=ticket.kind,
            category=CATEGORY_HOTSPOT,
            status=TicketStatus.DISCOVERED.value,
            level=level.value,
            camera_id=ticket.camera_id,
            zone=ticket.zone,
            area=ticket.area,
            open_key=key,
            created_at=now,
            updated_at=now,
            deadline_at=step_deadline(
                self.policy, to_status=TicketStatus.DISCOVERED, level=level, now=now
            ),
            started_at=first,
            ended_at=None,
            score=0.0,
            labels=[],
            details={},
            evidence={},
            escalations=0,
            hazards=[],
            history=[],
        )
        session.add(hotspot)
        return hotspot

    def _link(
        self, session: Session, hotspot: TicketRow, member_ids: Sequence[str], now: datetime
    ) -> None:
        session.flush()  # the hotspot's row exists before rows that refer to it
        linked = set(
            session.scalars(
                select(HotspotMemberRow.member_id).where(HotspotMemberRow.hotspot_id == hotspot.id)
            )
        )
        for member_id in member_ids:
            if member_id not in linked:
                session.add(
                    HotspotMemberRow(hotspot_id=hotspot.id, member_id=member_id, linked_at=now)
                )
                linked.add(member_id)

    def _raise_hotspot(
        self, spot: TicketRow, level: RiskLevel, places: set[tuple[str, str]], now: datetime
    ) -> bool:
        """Raise an open hotspot to ``level`` (red: its kind is a hotspot at enough places of
        its area); its step's deadline shortens to the new level's when that is sooner."""
        if level_rank(spot.level) >= level_rank(level):
            return False
        self._raise_level(spot, level, now, systemic_note(spot.kind, spot.area, places, spot.level))
        return True

    def _raise_level(self, ticket: TicketRow, level: RiskLevel, now: datetime, note: str) -> None:
        """Raise an open ticket to ``level`` (higher than its own: the caller checked): its
        step's deadline shortens to the new level's when that is sooner, and the history gets a
        ``level_raised`` entry with ``note``."""
        old = ticket.level
        ticket.level = level.value
        if step_of(ticket.status) is not None and ticket.deadline_at is not None:
            shorter = step_deadline(
                self.policy, to_status=TicketStatus(ticket.status), level=level, now=now
            )
            if shorter is not None and shorter < ticket.deadline_at:
                ticket.deadline_at = shorter
        ticket.updated_at = now
        _add_history(
            ticket,
            now,
            SYSTEM_ACTOR,
            "level_raised",
            ticket.status,
            ticket.status,
            note,
            level_from=old,
            level_to=level.value,
        )

    def _next_serial(self, session: Session, area: str, kind: str) -> int:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(SerialCounterRow)
            .values(area=area, kind=kind, value=1)
            .on_conflict_do_update(
                index_elements=[SerialCounterRow.area, SerialCounterRow.kind],
                set_={"value": SerialCounterRow.value + 1},
            )
            .returning(SerialCounterRow.value)
        )
        return int(session.execute(stmt).scalar_one())

    def _record_phase(
        self, ticket: TicketRow, hazard: HazardRow, hz: HazardEvent, now: datetime
    ) -> None:
        if hz.phase is HazardPhase.START:
            return
        ticket.details = {**ticket.details, **_details_of(hz)}
        ticket.labels = _union(ticket.labels, hz.labels)
        ticket.score = max(ticket.score, hz.score)
        if hz.phase is HazardPhase.END and hazard.ended_at is None:
            hazard.ended_at = hz.ended_at
            if all(h.ended_at is not None for h in ticket.hazards):
                ticket.ended_at = max(h.ended_at for h in ticket.hazards if h.ended_at)
            lasted = (hz.ended_at - hazard.started_at).total_seconds() if hz.ended_at else 0.0
            _add_history(
                ticket,
                now,
                SYSTEM_ACTOR,
                "hazard_ended",
                ticket.status,
                ticket.status,
                f"hazard {hz.hazard_id} ended after {lasted:.0f} s",
            )
        end = hz.ended_at if hz.ended_at is not None else now
        self._raise_by_duration(ticket, hazard, end, now)

    def _raise_by_duration(
        self, ticket: TicketRow, hazard: HazardRow, until: datetime, now: datetime
    ) -> bool:
        if not is_open(ticket.status):
            return False
        duration_s = (until - hazard.started_at).total_seconds()
        reached = level_for_duration(self.policy, HazardKind(ticket.kind), duration_s)
        if reached is None or level_rank(reached) <= level_rank(ticket.level):
            return False
        note = (
            f"hazard {hazard.hazard_id} has lasted {duration_s / 60:.0f} min: level "
            f"{ticket.level} → {reached}"
        )
        self._raise_level(ticket, reached, now, note)
        return True

    # -- zone status: the automatic recheck ---------------------------------------------------

    def apply_zone_status(
        self, status: dict[str, Any], *, after_pictures: AfterPictureKeeper | None = None
    ) -> list[TicketView]:
        """Apply a ``hazardwatch:zone_status`` entry; returns the tickets it changed.

        A ``rectifying`` ticket of the same camera, zone and kind moves to ``rechecked`` when
        the zone has stayed clear for ``recheck_clear_s`` since after its latest hazard
        started. With ``after_pictures`` (the ticket service always gives it), the status's
        live picture is copied once into the latest hazard's evidence folder and the ticket
        records that immutable copy as its "after" picture; without it, the status's path is
        recorded as given.

        Raises:
            InvalidEntry: the status is malformed.
        """
        parsed = parse_zone_status(status)
        if not parsed.clear or parsed.clear_for_s < self.policy.levels.recheck_clear_s:
            return []  # the common case, about once a second per zone: no database work
        return self._writing(lambda session: self._recheck(session, parsed, after_pictures))

    def _recheck(
        self, session: Session, zs: ZoneStatus, after_pictures: AfterPictureKeeper | None
    ) -> list[TicketView]:
        key = _open_key(zs.camera_id, zs.zone, zs.kind.value)
        stmt = self._locked(select(TicketRow).where(TicketRow.open_key == key))
        ticket = session.scalars(stmt).one_or_none()
        if ticket is None or not ticket.hazards:
            return []
        latest = max(ticket.hazards, key=lambda h: h.started_at)
        if not recheck_due(
            self.policy,
            status=ticket.status,
            zone_clear=zs.clear,
            clear_for_s=zs.clear_for_s,
            at=zs.at,
            hazard_started_at=latest.started_at,
        ):
            return []
        note = (
            f"automatic recheck: zone clear for {zs.clear_for_s:.0f} s "
            f"(needs {self.policy.levels.recheck_clear_s:.0f} s) at {_iso(zs.at)}"
        )
        after, after_sha256 = zs.snapshot, zs.snapshot_sha256
        if zs.snapshot is None:
            note += "; no after snapshot was available"
        elif after_pictures is not None:
            try:
                kept = after_pictures.keep(
                    camera_id=zs.camera_id,
                    zone=zs.zone,
                    kind=zs.kind.value,
                    stored=zs.snapshot,
                    hazard_id=latest.hazard_id,
                    hazard_started_at=latest.started_at,
                )
                after, after_sha256 = kept.path, kept.sha256
            except AfterPictureError as exc:
                logger.warning("ticket %s: after picture not kept: %s", ticket.id, exc)
                after = after_sha256 = None
                note += f"; the after snapshot could not be kept: {exc}"
        now = _utcnow()
        self._move(ticket, TicketStatus.RECHECKED, SYSTEM_ACTOR, now, "rechecked", note)
        ticket.evidence = {
            **ticket.evidence,
            "after_snapshot": after,
            "after_snapshot_sha256": after_sha256,
        }
        session.flush()
        view = _view(ticket)
        _announce(session, "rechecked", view)
        return [view]

    # -- transitions and escalation -----------------------------------------------------------

    def _move(
        self,
        ticket: TicketRow,
        to: TicketStatus,
        actor: str,
        now: datetime,
        action: str,
        note: str | None,
    ) -> None:
        """Change the status (already checked against the table), deadline and open key."""
        previous = TicketStatus(ticket.status)
        ticket.deadline_at = step_deadline(
            self.policy,
            to_status=to,
            level=RiskLevel(ticket.level),
            now=now,
            from_status=previous,
            current_deadline=ticket.deadline_at,
        )
        ticket.status = to.value
        ticket.open_key = _open_key_of(ticket) if is_open(to) else None
        ticket.updated_at = now
        _add_history(ticket, now, actor, action, previous.value, to.value, note)

    def transition(
        self,
        ticket_id: str,
        to: str,
        *,
        actor: str,
        role: TokenRole | None = None,
        note: str | None = None,
        now: datetime | None = None,
    ) -> TicketView:
        """Move a ticket to ``to`` as ``actor`` with ``role``.

        The role is checked against the workflow table, and the separation of duties against
        the ticket's history, in the same transaction as the move (no race between the check
        and the write). ``role=None`` is a trusted internal caller (maintenance, tests): no role
        check, but whoever rectified the ticket still may not recheck or close it.

        Raises:
            TicketNotFound: no ticket has this id or code.
            InvalidTransition: the workflow does not allow it (``allowed`` lists what this
                caller may do; also when reopening while another ticket is open for the same
                hazard).
            TransitionForbidden: allowed by the workflow, but not for this role or actor.
            InvalidQuery: an empty actor or an over-long note.
        """
        if not actor or len(actor) > 63:
            raise InvalidQuery("actor must be 1 to 63 characters")
        if note is not None and len(note) > _MAX_NOTE:
            raise InvalidQuery(f"note must be at most {_MAX_NOTE} characters, got {len(note)}")
        _check_aware("now", now)
        when = now or _utcnow()

        def work(session: Session) -> TicketView:
            ticket = self._find(session, ticket_id, lock=True)
            target = check_transition(
                ticket.status,
                to,
                role=role,
                actor=actor,
                rectified_by=rectifiers((h.to_status, h.actor) for h in ticket.history),
            )
            if is_open(target) and not is_open(ticket.status):
                self._check_no_other_open(session, ticket, target)
            self._move(ticket, target, actor, when, "transition", note)
            session.flush()
            return _view(ticket)

        return self._writing(work)

    def _check_no_other_open(self, session: Session, ticket: TicketRow, to: TicketStatus) -> None:
        key = _open_key_of(ticket)
        other = session.scalars(select(TicketRow.code).where(TicketRow.open_key == key)).first()
        if other is not None:
            raise OpenTicketExists(ticket.status, to.value, other)

    def escalate_overdue(self, now: datetime) -> list[TicketView]:
        """Escalate every open ticket whose step is overdue at ``now``, and raise the level of
        tickets whose hazard has lasted long enough; returns the tickets changed.

        Escalation: one level up (red stays red), ``escalations`` + 1, a new deadline for the
        same step at the new level, a history entry ``escalated``.
        """
        _check_aware("now", now)

        def work(session: Session) -> list[TicketView]:
            changed: dict[str, TicketRow] = {}
            # Locked in id order: two services escalating at once take the locks in the same
            # order and wait for each other instead of deadlocking.
            overdue = select(TicketRow).where(
                TicketRow.open_key.is_not(None), TicketRow.deadline_at < now
            )
            for ticket in session.scalars(self._locked(overdue.order_by(TicketRow.id))).all():
                if self._escalate(ticket, now):
                    changed[ticket.id] = ticket
            ongoing = select(HazardRow.ticket_id).where(HazardRow.ended_at.is_(None))
            active = select(TicketRow).where(
                TicketRow.open_key.is_not(None), TicketRow.id.in_(ongoing)
            )
            for ticket in session.scalars(self._locked(active.order_by(TicketRow.id))).all():
                for hazard in ticket.hazards:
                    if hazard.ended_at is None and self._raise_by_duration(
                        ticket, hazard, now, now
                    ):
                        changed[ticket.id] = ticket
            session.flush()
            views = [_view(t) for t in changed.values()]
            for view in views:  # escalated, or level_raised by the hazard's duration
                _announce(session, str(view.history[-1]["action"]), view)
            return views

        return self._writing(work)

    def _escalate(self, ticket: TicketRow, now: datetime) -> bool:
        decision = escalation_for(
            self.policy,
            status=ticket.status,
            level=ticket.level,
            deadline_at=ticket.deadline_at,
            now=now,
        )
        if decision is None:
            return False
        ticket.level = decision.level_to.value
        ticket.deadline_at = decision.deadline_at
        ticket.escalations += 1
        ticket.updated_at = now
        _add_history(
            ticket,
            now,
            SYSTEM_ACTOR,
            "escalated",
            ticket.status,
            ticket.status,
            decision.note,
            level_from=decision.level_from.value,
            level_to=decision.level_to.value,
        )
        return True

    # -- annotations (vision.annotations) -----------------------------------------------------

    def record_public_clip(self, ticket_id: str, stored: str, sha256: str) -> TicketView:
        """Name the ticket's public clip, made by the service from its clip and privacy track
        (:mod:`api.public_copy`). The first one recorded stays: a second call leaves it.

        Raises:
            TicketNotFound: no ticket has this id or code.
        """

        def work(session: Session) -> TicketView:
            ticket = self._find(session, ticket_id, lock=True)
            if not ticket.evidence.get("clip_public"):
                ticket.evidence = {
                    **ticket.evidence,
                    "clip_public": stored,
                    "clip_public_sha256": sha256,
                }
                session.flush()
            return _view(ticket)

        return self._writing(work)

    def annotations(self, ticket_id: str) -> list[FrameAnnotation]:
        """The reviewers' annotated frames of a ticket (snapshot first, then by clip time).

        Raises:
            TicketNotFound: no ticket has this id or code.
        """
        with self._reading() as session:
            ticket = self._find(session, ticket_id)
            return _annotations_of(session, ticket.id)

    def replace_annotations(
        self, ticket_id: str, frames: Sequence[FrameAnnotation]
    ) -> list[FrameAnnotation]:
        """Make ``frames`` the ticket's annotations (the ones there before are replaced).

        A PUT of the whole set keeps the review page simple and the write idempotent; each
        frame keeps its own author and time.

        Raises:
            TicketNotFound: no ticket has this id or code.
            InvalidQuery: two annotations of the same frame.
        """
        keys = [frame.frame.key for frame in frames]
        if len(set(keys)) != len(keys):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise InvalidQuery(f"frame annotated twice: {', '.join(twice[:5])}")

        def work(session: Session) -> list[FrameAnnotation]:
            ticket = self._find(session, ticket_id, lock=True)
            session.execute(delete(AnnotationRow).where(AnnotationRow.ticket_id == ticket.id))
            for frame in frames:
                session.add(
                    AnnotationRow(
                        ticket_id=ticket.id,
                        frame_key=frame.frame.key,
                        source=frame.frame.source.value,
                        t_ms=frame.frame.t_ms,
                        image_sha256=frame.image_sha256,
                        boxes=[box.to_json() for box in frame.boxes],
                        negative=frame.negative,
                        author=frame.author,
                        created_at=frame.at,
                    )
                )
            session.flush()
            return _annotations_of(session, ticket.id)

        return self._writing(work)

    def dataset_candidates(
        self,
        *,
        since: datetime,
        kind: str | None = None,
        camera: str | None = None,
    ) -> list[tuple[TicketView, list[FrameAnnotation]]]:
        """For a dataset export: tickets created at or after ``since`` (aware) that have
        annotations or were rejected, oldest first, each with its annotations.

        Raises:
            InvalidQuery: an unknown kind or a naive ``since``.
        """
        _check_aware("since", since)
        annotated = select(AnnotationRow.ticket_id)
        stmt = _filtered(select(TicketRow), None, kind, camera, since, None, False).where(
            TicketRow.id.in_(annotated) | (TicketRow.status == TicketStatus.REJECTED.value)
        )
        with self._reading() as session:
            rows = session.scalars(stmt.order_by(TicketRow.started_at, TicketRow.id)).all()
            return [(_view(row), _annotations_of(session, row.id)) for row in rows]

    # -- web sessions (api.auth.SessionRevocations) -------------------------------------------

    def revoke_session(self, session_id: str, expires_at: datetime) -> None:
        """Record that the web session ``session_id`` was logged out; it is refused until
        ``expires_at`` (its own expiry), after which its row is deleted on a later logout.

        Raises:
            InvalidQuery: an empty or over-long id, or a naive ``expires_at``.
        """
        if not session_id or len(session_id) > 64:
            raise InvalidQuery("a session id must be 1 to 64 characters")
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise InvalidQuery("expires_at must be timezone-aware")

        def work(session: Session) -> None:
            now = _utcnow()
            session.execute(delete(RevokedSessionRow).where(RevokedSessionRow.expires_at < now))
            if session.get(RevokedSessionRow, session_id) is None:
                session.add(RevokedSessionRow(session_id=session_id, expires_at=expires_at))

        self._writing(work)

    def session_revoked(self, session_id: str) -> bool:
        """Whether the web session ``session_id`` was logged out (and has not expired)."""
        with self._reading() as session:
            return session.get(RevokedSessionRow, session_id) is not None

    # -- notification outbox (api.notifications) -----------------------------------------------

    def send_notifications(
        self, send: Callable[[dict[str, Any]], None], *, limit: int = 100
    ) -> tuple[int, int]:
        """Hand the oldest outbox notifications to ``send`` and delete those it took.

        Several services may call this at once: on PostgreSQL each takes rows the others have
        not locked (``SKIP LOCKED``). When ``send`` raises (Redis is down), the rows sent before
        are deleted and the rest stay for a later call; then the error is raised.

        Returns:
            (how many were sent, how many are left).
        """
        with self._reading() as session:
            if session.scalar(select(NotificationRow.id).limit(1)) is None:
                return 0, 0
        failure: Exception | None = None
        sent = 0
        with self._write() as session, session.begin():
            stmt = select(NotificationRow).order_by(NotificationRow.id).limit(limit)
            if self._dialect == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            for row in session.scalars(stmt).all():
                try:
                    send(dict(row.payload))
                except Exception as exc:  # raised below, once what was sent is deleted
                    failure = exc
                    break
                session.delete(row)
                sent += 1
        if failure is not None:
            raise failure
        with self._reading() as session:
            left = session.scalar(select(func.count()).select_from(NotificationRow)) or 0
        return sent, int(left)

    # -- queries ------------------------------------------------------------------------------

    def _find(self, session: Session, ticket_id: str, *, lock: bool = False) -> TicketRow:
        if not isinstance(ticket_id, str) or not ticket_id or len(ticket_id) > 200:
            raise TicketNotFound(str(ticket_id))
        for column in (TicketRow.id, TicketRow.code):
            stmt = select(TicketRow).where(column == ticket_id)
            ticket = session.scalars(self._locked(stmt) if lock else stmt).one_or_none()
            if ticket is not None:
                return ticket
        raise TicketNotFound(ticket_id)

    def get_ticket(self, ticket_id: str) -> TicketView | None:
        """The ticket with this id (or code), or None."""
        with self._reading() as session:
            try:
                return _view(self._find(session, ticket_id))
            except TicketNotFound:
                return None

    def list_tickets(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        camera: str | None = None,
        since: datetime | None = None,
        cameras: frozenset[str] | None = None,
        public: bool = False,
        limit: int = 100,
        offset: int = 0,
        category: str | None = None,
    ) -> tuple[list[TicketView], int]:
        """Tickets newest first, and how many match in all.

        Args:
            status, kind, camera: exact filters; ``since``: created at or after (aware).
            cameras: a grid_worker's cameras (None: all cameras).
            public: only closed tickets (what residents may see).
            limit: 0 to 1000 tickets; offset: how many to skip.
            category: ``hazard`` or ``hotspot`` tickets only (None: both).

        Raises:
            InvalidQuery: an unknown status, kind or category, a naive ``since``, a bad limit
                or offset.
        """
        stmt = select(TicketRow)
        stmt = _filtered(stmt, status, kind, camera, since, cameras, public, category)
        if isinstance(limit, bool) or not 0 <= limit <= _MAX_LIMIT:
            raise InvalidQuery(f"limit must be 0 to {_MAX_LIMIT}, got {limit}")
        if isinstance(offset, bool) or offset < 0:
            raise InvalidQuery(f"offset must be >= 0, got {offset}")
        with self._reading() as session:
            total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
            page = stmt.order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
            rows = session.scalars(page.limit(limit).offset(offset)).all() if limit else []
            return [_view(row) for row in rows], int(total)

    def ticket_states_of_hazards(
        self, hazard_ids: Iterable[str]
    ) -> dict[str, tuple[str, datetime]]:
        """For retention: ``hazard id -> (its ticket's status, when the ticket last changed)``.

        Hazards no ticket knows are left out.
        """
        ids = list(dict.fromkeys(hazard_ids))
        out: dict[str, tuple[str, datetime]] = {}
        with self._reading() as session:
            for first in range(0, len(ids), _STATE_CHUNK):
                stmt = (
                    select(HazardRow.hazard_id, TicketRow.status, TicketRow.updated_at)
                    .join(TicketRow, HazardRow.ticket_id == TicketRow.id)
                    .where(HazardRow.hazard_id.in_(ids[first : first + _STATE_CHUNK]))
                )
                for hazard_id, status, updated_at in session.execute(stmt).all():
                    out[hazard_id] = (status, updated_at)
        return out

    def counts_by_status(self) -> dict[str, int]:
        """Number of tickets in each status (every status, zeros included)."""
        counts = {status.value: 0 for status in TicketStatus}
        with self._reading() as session:
            stmt = select(TicketRow.status, func.count()).group_by(TicketRow.status)
            for status, count in session.execute(stmt).all():
                counts[status] = int(count)
        return counts

    def stats(
        self,
        *,
        cameras: frozenset[str] | None = None,
        public: bool = False,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Counts by status, kind, level and camera; overdue open tickets; rates.

        ``rectification_rate`` is closed / (all − rejected); ``repeat_rate`` is the share of
        non-rejected tickets with more than one hazard attached (ARCHITECTURE.md §12 targets:
        ≥ 95 % and ≤ 5 %). Rates are None when there is nothing to divide by. These count
        hazard tickets; ``hotspots`` counts the hotspot tickets (api.hotspots) by status and
        level, and those open.
        """
        _check_aware("now", now)
        when = now or _utcnow()
        base = _filtered(
            select(TicketRow.id), None, None, None, None, cameras, public, CATEGORY_HAZARD
        )
        ids = base.subquery()
        out: dict[str, Any] = {}
        with self._reading() as session:
            for name, column in (
                ("by_status", TicketRow.status),
                ("by_kind", TicketRow.kind),
                ("by_level", TicketRow.level),
                ("by_camera", TicketRow.camera_id),
            ):
                stmt = (
                    select(column, func.count())
                    .where(TicketRow.id.in_(select(ids.c.id)))
                    .group_by(column)
                )
                out[name] = {str(k): int(v) for k, v in session.execute(stmt).all()}
            overdue = select(func.count()).where(
                TicketRow.id.in_(select(ids.c.id)),
                TicketRow.open_key.is_not(None),
                TicketRow.deadline_at < when,
            )
            out["overdue"] = int(session.scalar(overdue) or 0)
            repeated = (
                select(HazardRow.ticket_id)
                .where(HazardRow.ticket_id.in_(select(ids.c.id)))
                .group_by(HazardRow.ticket_id)
                .having(func.count() > 1)
            )
            rejected_ids = select(TicketRow.id).where(TicketRow.status == TicketStatus.REJECTED)
            repeats = select(func.count()).select_from(
                repeated.where(HazardRow.ticket_id.not_in(rejected_ids)).subquery()
            )
            n_repeats = int(session.scalar(repeats) or 0)
        by_status = out["by_status"]
        total = sum(by_status.values())
        considered = total - by_status.get(TicketStatus.REJECTED.value, 0)
        closed = by_status.get(TicketStatus.CLOSED.value, 0)
        out["total"] = total
        out["rectification_rate"] = closed / considered if considered else None
        out["repeat_rate"] = n_repeats / considered if considered else None
        out["hotspots"] = self._hotspot_counts(cameras, public)
        return out

    def _hotspot_counts(self, cameras: frozenset[str] | None, public: bool) -> dict[str, Any]:
        base = _filtered(
            select(TicketRow.id), None, None, None, None, cameras, public, CATEGORY_HOTSPOT
        ).subquery()
        out: dict[str, Any] = {}
        with self._reading() as session:
            for name, column in (("by_status", TicketRow.status), ("by_level", TicketRow.level)):
                stmt = (
                    select(column, func.count())
                    .where(TicketRow.id.in_(select(base.c.id)))
                    .group_by(column)
                )
                out[name] = {str(k): int(v) for k, v in session.execute(stmt).all()}
            opened = select(func.count()).where(
                TicketRow.id.in_(select(base.c.id)), TicketRow.open_key.is_not(None)
            )
            out["open"] = int(session.scalar(opened) or 0)
        out["total"] = sum(out["by_status"].values())
        return out


# --- helpers ---------------------------------------------------------------------------------


def _filtered(
    stmt: Select[Any],
    status: str | None,
    kind: str | None,
    camera: str | None,
    since: datetime | None,
    cameras: frozenset[str] | None,
    public: bool,
    category: str | None = None,
) -> Select[Any]:
    if category is not None:
        if category not in CATEGORIES:
            raise InvalidQuery(
                f"unknown category {str(category)[:40]!r}; one of: {', '.join(CATEGORIES)}"
            )
        stmt = stmt.where(TicketRow.category == category)
    if status is not None:
        try:
            TicketStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in TicketStatus)
            raise InvalidQuery(f"unknown status {str(status)[:40]!r}; one of: {known}") from None
        stmt = stmt.where(TicketRow.status == status)
    if kind is not None:
        try:
            HazardKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in HazardKind)
            raise InvalidQuery(f"unknown kind {str(kind)[:40]!r}; one of: {known}") from None
        stmt = stmt.where(TicketRow.kind == kind)
    if camera is not None:
        stmt = stmt.where(TicketRow.camera_id == camera)
    if since is not None:
        _check_aware("since", since)
        stmt = stmt.where(TicketRow.created_at >= since)
    if cameras is not None:
        stmt = stmt.where(TicketRow.camera_id.in_(sorted(cameras)))
    if public:
        stmt = stmt.where(TicketRow.status == TicketStatus.CLOSED.value)
    return stmt


def _add_history(
    ticket: TicketRow,
    at: datetime,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
    **extra: Any,
) -> None:
    seq = max((h.seq for h in ticket.history), default=0) + 1
    ticket.history.append(
        HistoryRow(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            extra=extra,
        )
    )


def _annotations_of(session: Session, ticket_id: str) -> list[FrameAnnotation]:
    rows = session.scalars(select(AnnotationRow).where(AnnotationRow.ticket_id == ticket_id)).all()
    frames = [
        FrameAnnotation(
            frame=FrameRef(FrameSource(row.source), row.t_ms),
            image_sha256=row.image_sha256,
            boxes=tuple(AnnotationBox.from_json(box) for box in row.boxes),
            negative=row.negative,
            author=row.author,
            at=row.created_at,
        )
        for row in rows
    ]
    return sorted(frames, key=lambda f: (f.frame.source != FrameSource.SNAPSHOT, f.frame.t_ms or 0))


def _announce(session: Session, kind: str, view: TicketView) -> None:
    """Put the notification of a change into the outbox, in the change's transaction."""
    now = _utcnow()
    session.add(NotificationRow(created_at=now, payload=notification(kind, view, now)))


def _union(first: Sequence[str], second: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _details_of(hz: HazardEvent) -> dict[str, Any]:
    """The event's details, with its box (``box_norm``) when it has one: the dashboard's heat
    map and the review overlay place the hazard with it."""
    details = dict(hz.details)
    if hz.box_norm is not None and "box_norm" not in details:
        details["box_norm"] = [round(float(v), 4) for v in hz.box_norm]
    return details


def _assign(ticket: TicketRow, unit: Contact, person: Contact | None) -> None:
    ticket.responsible_unit = unit.model_dump(mode="json")
    ticket.responsible_person = None if person is None else person.model_dump(mode="json")


def _who(unit: Contact, person: Contact | None) -> str:
    return unit.name if person is None else f"{unit.name} / {person.name}"


def _merge_missing(ticket: TicketRow, hazard: HazardRow, evidence: Mapping[str, Any]) -> None:
    """Evidence that arrives in a later event fills what the earlier ones lacked."""
    if not evidence:
        return
    hazard.evidence = {**evidence, **hazard.evidence}
    ticket.evidence = {**evidence, **ticket.evidence}
