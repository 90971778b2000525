"""Hotspots (隐患热点): a ticket's category, and the links of a hotspot to its member tickets.

``tickets.category`` is ``hazard`` for every ticket made before this revision (the server
default fills old rows) and ``hotspot`` for an area-level alert (api.hotspots);
``hotspot_members`` links a hotspot ticket to each hazard ticket it counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("category", sa.String(16), nullable=False, server_default="hazard")
        )
        batch.create_index("ix_tickets_category", ["category"])
    op.create_table(
        "hotspot_members",
        sa.Column("hotspot_id", sa.String(36), sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("member_id", sa.String(36), sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hotspot_members_member_id", "hotspot_members", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_hotspot_members_member_id", table_name="hotspot_members")
    op.drop_table("hotspot_members")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_category")
        batch.drop_column("category")
