"""Baseline: the ticket database as the release before migrations made it (``create_all``).

Every table, column, index and constraint of ``api/store.py`` at that release, with the same
types and names, so a database that release made is this revision exactly
(:func:`api.schema.upgrade_database` checks its tables and stamps it instead of running this;
one made by an older release, lacking tables added since, is upgraded through this file, which
creates only the tables that are not there). Nothing here may change: it is what five-year-old
databases hold.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The types as they were: timestamps with a time zone (UTC), JSONB on PostgreSQL, JSON text on
# SQLite (api.store's UtcDateTime and JsonColumn make the same DDL).
_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _create_table(name: str, *items: sa.schema.SchemaItem) -> None:
    """Create a baseline table unless it is there: a database made by ``create_all`` of a
    release older than the baseline lacks the tables added since, and gets them here."""
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *items)


def upgrade() -> None:
    _create_table(
        "tickets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(120), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("camera_id", sa.String(63), nullable=False, index=True),
        sa.Column("zone", sa.String(63), nullable=False),
        sa.Column("area", sa.String(63), nullable=False),
        sa.Column("open_key", sa.String(200), nullable=True, unique=True),
        sa.Column("created_at", _TIME, nullable=False, index=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("deadline_at", _TIME, nullable=True, index=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
    )
    _create_table(
        "ticket_hazards",
        sa.Column("hazard_id", sa.String(128), primary_key=True),
        sa.Column(
            "ticket_id", sa.String(36), sa.ForeignKey("tickets.id"), nullable=False, index=True
        ),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
    )
    _create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.String(36), sa.ForeignKey("tickets.id"), nullable=False, index=True
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("actor", sa.String(63), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("extra", _JSON, nullable=False),
        sa.UniqueConstraint("ticket_id", "seq"),
    )
    _create_table(
        "applied_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("hazard_id", sa.String(128), nullable=False),
        sa.Column("phase", sa.String(8), nullable=False),
        sa.Column("ticket_id", sa.String(36), nullable=False),
        sa.Column("applied_at", _TIME, nullable=False),
    )
    _create_table(
        "revoked_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("expires_at", _TIME, nullable=False, index=True),
    )
    _create_table(
        "annotations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.String(36), sa.ForeignKey("tickets.id"), nullable=False, index=True
        ),
        sa.Column("frame_key", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("t_ms", sa.Integer(), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        sa.Column("boxes", _JSON, nullable=False),
        sa.Column("negative", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(63), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint("ticket_id", "frame_key"),
    )
    _create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("payload", _JSON, nullable=False),
    )
    _create_table(
        "serial_counters",
        sa.Column("area", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline is not downgraded: tickets are kept (ARCHITECTURE §6)")
