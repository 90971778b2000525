"""Alembic environment: runs the revisions on the connection :mod:`api.schema` passes in.

The ticket store upgrades its database itself when it opens it (``TicketStore(url)``, so
``hazardwatch serve`` and ``up`` need no separate step), on a connection that already holds the
migration lock (PostgreSQL advisory lock, SQLite write lock) inside a transaction: every revision
then runs in that one transaction, and a failed upgrade leaves the database as it was. A new
revision file is written from ``script.py.mako`` (``alembic revision`` with
:func:`api.schema.alembic_config`, or by hand) and never needs a database to be made.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from api.store import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("hazardwatch migrations run online only: the ticket store runs them")
_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "hazardwatch migrations run on the ticket store's connection: open the database with "
        "api.store.TicketStore (or api.schema.upgrade_database), not the alembic command"
    )
run_migrations(_connection)
