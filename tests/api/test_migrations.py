"""Schema migrations (api/migrations, api.schema) on SQLite and on a real PostgreSQL.

The main test makes a database with the previous release's own code (``git show
0c674f0:api/store.py``, :mod:`tests.api.previous_release`): its ``create_all`` schema, real
events, transitions, a recheck, an escalation, a repeat, annotations, a revoked session and
notifications waiting in the outbox. Today's store then opens (and upgrades) it, and every ticket
must read back identical, every row of every table of that release must still be there, and the
new columns must hold their defaults. Also: a fresh database, one already upgraded, one a newer
release upgraded, and two services opening one database at the same moment.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Constraint, Engine, Index, Table, create_engine, inspect, text

from api.errors import StoreError
from api.schema import (
    BASELINE_REVISION,
    NewerDatabase,
    SchemaMismatch,
    alembic_config,
    head_revisions,
)
from api.settings.roles import TokenRole
from api.store import Base, TicketStore
from api.workflow import TicketPolicy
from tests.api.hazard_events import T0, event, sha, zone_status
from tests.api.pg_server import PostgresServer
from tests.api.previous_release import REPO, previous_store_module
from vision.annotations import AnnotationBox, FrameAnnotation, FrameRef, FrameSource

M = timedelta(minutes=1)
H = timedelta(hours=1)
POLICY = TicketPolicy(
    areas={"lane": "block_a", "lobby": "block_b", "facade": "block_c"}, default_area="site"
)
# Columns added to tables of the baseline since, and what an upgraded old row holds.
NEW_COLUMN_DEFAULTS = {
    "tickets": {"responsible_unit": None, "responsible_person": None, "category": "hazard"}
}


@pytest.fixture(scope="module")
def previous() -> Iterator[ModuleType]:
    with previous_store_module() as module:
        yield module


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def new_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes the URL of another new, empty database of the test's kind."""
    made = iter(range(100))

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'tickets{next(made)}.sqlite3'}"
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.database()

    return make


@pytest.fixture
def url(new_url: Callable[[], str]) -> str:
    return new_url()


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """A plain engine on the test's database, for looking at it from outside the store."""
    plain = create_engine(url)
    yield plain
    plain.dispose()


# --- the previous release's database -----------------------------------------------------------


def _annotation(key: str) -> FrameAnnotation:
    ref = FrameRef(FrameSource.SNAPSHOT) if key == "snapshot" else FrameRef(FrameSource.CLIP, 1500)
    return FrameAnnotation(
        frame=ref,
        image_sha256=sha(key),
        boxes=(AnnotationBox("vehicle", (0.1, 0.2, 0.5, 0.9)),),
        negative=False,
        author="reviewer-1",
        at=T0 + 2 * H,
    )


def seed_previous_release(previous: ModuleType, url: str) -> None:
    """Use the database as a site running the previous release did."""
    store = previous.TicketStore(url, policy=POLICY)
    try:
        # A fire lane blocked 40 min (raised to orange), reported, verified, rectified, rechecked
        # by the zone staying clear, closed; its frames annotated.
        store.apply_event(event(hazard_id="a"), received_at=T0)
        store.apply_event(
            event("update", hazard_id="a", details={"occupancy": 0.7}, labels=("van",)),
            received_at=T0 + M,
        )
        store.apply_event(
            event("end", hazard_id="a", ended_at=T0 + 40 * M), received_at=T0 + 41 * M
        )
        a = store.list_tickets(camera="lane")[0][0].id
        for to, actor, role, at in (
            ("reported", "reviewer-1", TokenRole.REVIEWER, T0 + 50 * M),
            ("verified", "grid-1", TokenRole.GRID_WORKER, T0 + 2 * H),
            ("rectifying", "grid-1", TokenRole.GRID_WORKER, T0 + 3 * H),
        ):
            store.transition(a, to, actor=actor, role=role, note=f"{to} on site", now=at)
        store.apply_zone_status(zone_status(at=T0 + 5 * H, clear_for_s=900))
        store.transition(a, "closed", actor="reviewer-2", role=TokenRole.REVIEWER, now=T0 + 6 * H)
        store.replace_annotations(a, [_annotation("snapshot"), _annotation("clip")])
        # An e-bike in the lift, rejected as a false alarm.
        store.apply_event(
            event(hazard_id="b", kind="ebike_entry", camera_id="lobby", zone="lift"),
            received_at=T0 + H,
        )
        b = store.list_tickets(camera="lobby")[0][0].id
        store.transition(b, "rejected", actor="reviewer-1", role=TokenRole.REVIEWER, note="bag")
        # A falling object nobody reported: escalated when its report step was overdue.
        store.apply_event(
            event(hazard_id="c", kind="falling_object", camera_id="facade", zone="facade"),
            received_at=T0 + 2 * H,
        )
        store.escalate_overdue(T0 + 5 * H)
        # A fire lane blocked twice while its ticket was open (a repeat), still open.
        for hazard_id, at in (("d1", T0 + 7 * H), ("d2", T0 + 8 * H)):
            store.apply_event(
                event(hazard_id=hazard_id, zone="exit", started_at=at), received_at=at + M
            )
        store.revoke_session("session-0000000001", T0 + 24 * 365 * H * 20)
    finally:
        store.close()


def _rows(engine: Engine, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    listed = ", ".join(columns)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {listed} FROM {table}")).all()
    return sorted((tuple(row) for row in rows), key=repr)


Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def _all_rows(engine: Engine, like: Rows | None = None) -> Rows:
    """Every row of every table, as ``table -> (columns, rows)``; with ``like``, only its tables
    and columns (what an older database had: a later revision's columns are left out)."""
    found = inspect(engine)
    if like is not None:
        return {table: (cols, _rows(engine, table, cols)) for table, (cols, _) in like.items()}
    out: Rows = {}
    for table in found.get_table_names():
        if table != "alembic_version":
            columns = [column["name"] for column in found.get_columns(table)]
            out[table] = (columns, _rows(engine, table, columns))
    return out


def test_a_previous_release_database_is_upgraded_and_every_ticket_is_kept(
    previous: ModuleType, url: str, engine: Engine
) -> None:
    seed_previous_release(previous, url)
    old = previous.TicketStore(url, policy=POLICY)
    old_views, total = old.list_tickets(limit=1000)
    old_annotations = {view.id: old.annotations(view.id) for view in old_views}
    old.close()
    assert total == 4  # the fire lane's, the e-bike's, the falling object's, the repeat's
    before = _all_rows(engine)
    assert "alembic_version" not in inspect(engine).get_table_names()

    store = TicketStore(url, policy=POLICY)
    try:
        assert _current(engine) == set(head_revisions())
        assert _all_rows(engine, like=before) == before  # not one row of that release changed
        new_views, new_total = store.list_tickets(limit=1000)
        assert new_total == total
        assert [v.id for v in new_views] == [v.id for v in old_views]
        for was, now in zip(old_views, new_views, strict=True):
            for public in (False, True):
                was_json, now_json = was.to_dict(public=public), now.to_dict(public=public)
                if public:  # "has_clip" is worked out anew since (the public clip made on demand)
                    del was_json["evidence"]["has_clip"], now_json["evidence"]["has_clip"]
                assert {k: now_json[k] for k in was_json} == was_json, was.code
                assert now_json["responsible_unit"] is None
                assert now_json["responsible_person"] is None
            assert store.annotations(now.id) == old_annotations[was.id]
        assert store.session_revoked("session-0000000001")
        with engine.connect() as connection:
            for table, defaults in NEW_COLUMN_DEFAULTS.items():
                for column, default in defaults.items():
                    values = connection.execute(text(f"SELECT {column} FROM {table}")).scalars()
                    assert set(values) == {default}, f"{table}.{column}"
        # The outbox's notifications are still there to send, in order.
        waiting = before["notification_outbox"][1]
        sent: list[dict[str, Any]] = []
        store.send_notifications(sent.append, limit=1000)
        assert len(sent) == len(waiting) > 0
        # The serials go on where the previous release left them.
        counters = {(a, k): v for a, k, v in before["serial_counters"][1]}
        view = store.apply_event(event(hazard_id="e", zone="side"), received_at=T0 + 9 * H)
        assert view is not None
        assert view.code == f"block_a-FIRE-Y-{counters[('block_a', 'fire_lane_blocked')] + 1:04d}"
    finally:
        store.close()


def test_every_kind_of_history_survives_the_upgrade(previous: ModuleType, url: str) -> None:
    """The seed is worth its name: it made each kind of history entry the store writes."""
    seed_previous_release(previous, url)
    store = TicketStore(url, policy=POLICY)
    try:
        actions = {entry["action"] for view in store.list_tickets()[0] for entry in view.history}
    finally:
        store.close()
    assert {
        "created",
        "hazard_ended",
        "level_raised",
        "transition",
        "rechecked",
        "escalated",
        "repeat",
    } <= actions


# --- the schema ----------------------------------------------------------------------------------


def _schema(engine: Engine) -> dict[str, Any]:
    """Tables with their columns (name, type, nullable), keys, indexes and unique constraints."""
    found = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)
            ],
            "pk": found.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in found.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in found.get_indexes(table)
            ),
            "uniques": sorted(
                tuple(u["column_names"]) for u in found.get_unique_constraints(table)
            ),
        }
    return out


def _current(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def test_the_baseline_is_the_previous_releases_schema(
    previous: ModuleType, new_url: Callable[[], str]
) -> None:
    """Revision 0001 makes exactly what the previous release's create_all made."""
    made_by_create_all, made_by_baseline = new_url(), new_url()
    previous.TicketStore(made_by_create_all, policy=POLICY).close()
    baseline = create_engine(made_by_baseline)
    legacy = create_engine(made_by_create_all)
    try:
        with baseline.begin() as connection:
            command.upgrade(alembic_config(connection), BASELINE_REVISION)
        schema = {k: v for k, v in _schema(baseline).items() if k != "alembic_version"}
        assert schema == _schema(legacy)
    finally:
        baseline.dispose()
        legacy.dispose()


def test_an_upgraded_database_has_the_schema_of_a_fresh_one(
    previous: ModuleType, new_url: Callable[[], str]
) -> None:
    fresh_url, old_url = new_url(), new_url()
    previous.TicketStore(old_url, policy=POLICY).close()
    for db in (fresh_url, old_url):
        TicketStore(db).close()
    schemas = []
    for db in (fresh_url, old_url):
        plain = create_engine(db)
        schemas.append(_schema(plain))
        plain.dispose()
    assert schemas[0] == schemas[1]


def test_a_fresh_database_gets_every_revision_and_matches_the_models(
    url: str, engine: Engine
) -> None:
    TicketStore(url).close()
    assert _current(engine) == set(head_revisions())
    importlib.import_module("api.app")  # every model the app uses is declared on Base
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    # A table no imported model declares (made by its own revision) is no difference of these.
    declared = set(Base.metadata.tables)
    assert [d for d in diffs if _table_of(d) in declared] == []


def _table_of(diff: Any) -> str:
    """The table an Alembic autogenerate difference is about: ``(op, Table)``, ``(op, Index or
    constraint)``, ``(op, schema, table, ...)``, or a list of ``modify_*`` of one column."""
    if isinstance(diff, list):
        return _table_of(diff[0])
    first = diff[1]
    if isinstance(first, Table):
        return str(first.name)
    if isinstance(first, Index | Constraint):
        return str(first.table.name)
    return str(diff[2])


def test_the_revisions_form_one_chain() -> None:
    """Each revision names the one before it: one head, so every database goes through the
    same steps in the same order (two files revising one parent would be applied in either)."""
    heads = head_revisions()
    assert len(heads) == 1, f"revisions {heads} revise the same one: chain one after the other"


def test_an_upgraded_database_opens_without_change(
    url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    store = TicketStore(url)
    store.apply_event(event(hazard_id="x"), received_at=T0)
    store.close()
    schema, rows = _schema(engine), _all_rows(engine)
    with caplog.at_level(logging.INFO, logger="api.schema"):
        again = TicketStore(url)
    try:
        assert not [r for r in caplog.records if "upgrading" in r.getMessage()]
        assert _schema(engine) == schema
        assert _all_rows(engine) == rows
        assert again.get_ticket(rows["tickets"][1][0][0]) is not None
    finally:
        again.close()


def test_a_database_a_newer_release_upgraded_is_refused_naming_its_revision(
    url: str, engine: Engine
) -> None:
    TicketStore(url).close()
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0099_from_the_future')"))
    with pytest.raises(NewerDatabase) as caught:
        TicketStore(url)
    message = str(caught.value)
    assert "this database was upgraded by a newer hazardwatch: revision 0099_from_the_future" in (
        message
    )
    assert isinstance(caught.value, StoreError)
    assert _current(engine) == {"0099_from_the_future"}  # left as it was


def test_a_database_without_migrations_whose_tables_differ_is_refused(
    previous: ModuleType, url: str, engine: Engine
) -> None:
    previous.TicketStore(url, policy=POLICY).close()
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE tickets ADD COLUMN colour VARCHAR(8)"))
    with pytest.raises(SchemaMismatch, match=r"table tickets has unknown column\(s\) colour"):
        TicketStore(url)
    assert "alembic_version" not in inspect(engine).get_table_names()


def test_a_database_of_an_older_release_gets_the_tables_it_lacks(
    previous: ModuleType, url: str, engine: Engine
) -> None:
    """A release before the outbox and annotations made fewer tables; its tickets stay."""
    store = previous.TicketStore(url, policy=POLICY)
    store.apply_event(event(hazard_id="old"), received_at=T0)
    store.close()
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE notification_outbox"))
        connection.execute(text("DROP TABLE annotations"))
    tickets = {"tickets": _all_rows(engine)["tickets"]}
    TicketStore(url).close()
    assert {"notification_outbox", "annotations"} <= set(inspect(engine).get_table_names())
    assert _all_rows(engine, like=tickets) == tickets
    assert _current(engine) == set(head_revisions())


def test_a_new_sqlite_database_opens_while_another_process_holds_its_write_lock(
    tmp_path: Path,
) -> None:
    """Switching a new file to WAL wants the write lock from inside a read transaction, where
    SQLite answers "database is locked" at once instead of waiting: three replicas opening one
    new database together failed so in CI. The store waits for the lock like any other."""
    path = tmp_path / "tickets.sqlite3"
    path.touch()  # a new, empty database in the default (rollback journal) mode
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process is about to migrate it
    released = threading.Timer(0.5, other.execute, ("COMMIT",))
    released.start()
    started = time.monotonic()
    try:
        TicketStore(f"sqlite:///{path}").close()
    finally:
        released.join()
        other.close()
    assert time.monotonic() - started >= 0.4  # it waited for the lock, did not skip WAL
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


_OPEN_STORE = """
import sys
from api.store import TicketStore
print("ready", flush=True)
sys.stdin.readline()
TicketStore(sys.argv[1]).close()
print("opened", flush=True)
"""


def test_services_opening_one_new_database_at_once_migrate_it_once(
    url: str, engine: Engine
) -> None:
    """Replicas started together (separate processes, as ``serve`` replicas are): one migrates
    under the database's lock, the others wait and find it done. Without the lock, the others'
    CREATE TABLE fails on PostgreSQL and they do not start."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_STORE, url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for child in children:  # all imported and waiting
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:  # then all open the store at once
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [child.communicate(timeout=90) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0 and out.strip() == "opened", err[-2000:]
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        assert sorted(versions) == sorted(head_revisions())
