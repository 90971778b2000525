"""Notification deliveries: one row per (notification, channel) with its attempts.

The queue and log of :mod:`api.deliveries` (model ``DeliveryRow``): what was sent to which
channel, each attempt's time and result, and what is due next. ``sqlite_autoincrement`` because
delivery ids are sent to webhook receivers, which drop repeats by them: an id must never be
reused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notification_key", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(63), nullable=False),
        sa.Column("ticket_id", sa.String(36), nullable=False, index=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True, index=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("log", _JSON, nullable=False),
        sa.UniqueConstraint("notification_key", "channel", name="uq_delivery_notification_channel"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
