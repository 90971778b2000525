"""Opening the ticket database: upgrade it to the newest schema with Alembic (api/migrations).

:func:`upgrade_database` is what :class:`api.store.TicketStore` runs when it opens a database:

- an empty database gets every revision, from ``0001`` (the baseline) to the newest;
- a database made by the release before migrations (its tables made by ``create_all``, no
  ``alembic_version`` table) is recognised as the baseline: its tables are checked against
  what ``0001`` makes (a column missing or unknown, or a table hazardwatch never made, stops
  the upgrade, naming it), it is stamped ``0001`` and then upgraded like any other; one made
  by an older release still, lacking tables added since, is not stamped: ``0001`` runs and
  creates only the tables that are missing;
- a database at the newest revision is left as it is;
- a database at a revision this release does not know was upgraded by a newer hazardwatch: it
  is refused with :class:`NewerDatabase` rather than used with a schema the code does not match.

Everything happens in one transaction holding the migration lock: on PostgreSQL an advisory
lock (``pg_advisory_xact_lock``), on SQLite the write lock (the store's write engine begins
with ``BEGIN IMMEDIATE``). Two ``serve`` replicas starting at once on one database therefore
run the migration once: the second waits, then finds the database at the newest revision.
PostgreSQL and SQLite both undo DDL on rollback, so a revision that fails leaves the database
as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.pool import StaticPool

from api.errors import StoreError

__all__ = [
    "BASELINE_REVISION",
    "MIGRATIONS_DIR",
    "NewerDatabase",
    "SchemaMismatch",
    "head_revisions",
    "upgrade_database",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BASELINE_REVISION = "0001"
VERSION_TABLE = "alembic_version"
# PostgreSQL advisory lock held while the schema is checked and upgraded (the key the store
# used for create_all before, so a replica of the previous release waits for it too).
SCHEMA_LOCK_KEY = 0x6877_7469_636B
# Alembic's ``context`` and ``op`` are module-level proxies: two upgrades running at once in one
# process (stores opened from two threads) would use each other's. Across processes and
# machines the database lock above is what serialises them.
_IN_PROCESS = threading.Lock()


class NewerDatabase(StoreError):
    """The database is at a revision this release does not have: a newer release upgraded it."""

    def __init__(self, revisions: tuple[str, ...]) -> None:
        self.revisions = revisions
        super().__init__(
            "this database was upgraded by a newer hazardwatch: revision "
            f"{', '.join(revisions)} (this release knows up to {', '.join(head_revisions())}); "
            "run the newer release, or restore a backup taken before the upgrade"
        )


class SchemaMismatch(StoreError):
    """A database without migrations whose tables are not those of the baseline."""


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic config of the ticket database (no ini file: the folder is the package's)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revisions() -> tuple[str, ...]:
    """The newest revision(s) this release has: one while every revision file names the one
    before it (two files revising the same parent make two heads; both are applied, and
    tests/api/test_migrations.py asks for them to be chained)."""
    return tuple(sorted(_scripts().get_heads()))


def _known(revision: str) -> bool:
    return any(script.revision == revision for script in _scripts().walk_revisions())


def upgrade_database(engine: Engine) -> tuple[str, ...]:
    """Bring the database of ``engine`` to the newest revision; returns the revisions it is at.

    ``engine`` is the store's write engine (on SQLite it begins transactions with ``BEGIN
    IMMEDIATE``, which is the migration lock).

    Raises:
        NewerDatabase: the database is at a revision this release does not know.
        SchemaMismatch: a database without migrations whose tables differ from the baseline.
    """
    with _IN_PROCESS, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
        current = MigrationContext.configure(connection).get_current_heads()
        unknown = tuple(sorted(rev for rev in current if not _known(rev)))
        if unknown:
            raise NewerDatabase(unknown)
        tables = set(inspect(connection).get_table_names())
        if not current and tables - {VERSION_TABLE}:
            _adopt_baseline(connection, tables)
        heads = head_revisions()
        if set(current) != set(heads):
            logger.info(
                "upgrading the ticket database from %s to %s",
                ", ".join(current) or "nothing",
                ", ".join(heads),
            )
            command.upgrade(alembic_config(connection), "heads")
        return heads


def _adopt_baseline(connection: Connection, tables: set[str]) -> None:
    """Stamp a database the release before migrations made as ``0001``, after checking it."""
    baseline = baseline_columns()
    unknown = sorted(tables - set(baseline) - {VERSION_TABLE})
    if unknown:
        raise SchemaMismatch(
            "the ticket database has no migration record and tables hazardwatch never made: "
            f"{', '.join(unknown)}; is this the ticket database?"
        )
    inspector = inspect(connection)
    problems: list[str] = []
    for table in sorted(tables & set(baseline)):
        found = {column["name"] for column in inspector.get_columns(table)}
        missing, extra = baseline[table] - found, found - baseline[table]
        if missing:
            problems.append(f"table {table} lacks column(s) {', '.join(sorted(missing))}")
        if extra:
            problems.append(f"table {table} has unknown column(s) {', '.join(sorted(extra))}")
    if problems:
        raise SchemaMismatch(
            "the ticket database has no migration record and its tables are not those of "
            f"the release before migrations: {'; '.join(problems)}"
        )
    absent = sorted(set(baseline) - tables)
    if absent:
        # A release older still made fewer tables: the baseline revision creates the missing
        # ones (and only those) when the upgrade runs it.
        logger.info("ticket database made before migrations lacks %s: upgrading it", absent)
        return
    logger.info("ticket database made before migrations: stamped as the baseline revision")
    command.stamp(alembic_config(connection), BASELINE_REVISION)


@lru_cache(maxsize=1)
def baseline_columns() -> Mapping[str, frozenset[str]]:
    """Table -> column names of the baseline revision, read from an in-memory database it made
    (the revision file is the one description of the baseline)."""
    scratch = create_engine("sqlite://", poolclass=StaticPool)  # called under _IN_PROCESS
    try:
        with scratch.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE_REVISION)
            inspector = inspect(connection)
            return {
                table: frozenset(column["name"] for column in inspector.get_columns(table))
                for table in inspector.get_table_names()
                if table != VERSION_TABLE
            }
    finally:
        scratch.dispose()
