"""Dispatch: each ticket's responsible unit and person (责任单位/责任人).

Two nullable JSON columns on ``tickets`` (``{"name", "contact"}``, api.dispatch). Tickets made
before this revision had no assignment: they keep NULL, which the API shows as null.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("responsible_unit", _JSON, nullable=True))
    op.add_column("tickets", sa.Column("responsible_person", _JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "responsible_person")
    op.drop_column("tickets", "responsible_unit")
