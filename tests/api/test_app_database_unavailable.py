"""The ticket database locked or unreachable while requests arrive (issue 8 §4, DESIGN §9).

What a client sees: a request that needs a lock another connection holds (SQLite's exclusive
lock, as a backup tool or a long writer takes it; a PostgreSQL row lock), or a database server
that is down, is answered **503** within a bounded time (the app waits ``DB_WAIT_S`` for a lock,
not the 30 s the ticket service may wait), with ``Retry-After``, ``nosniff`` and a detail that
names no SQL, host, port or file. The server log has a warning naming the route. Reads that need
no lock still answer (SQLite in WAL mode), ``/health`` answers, and once the lock is gone or the
server is back the same request succeeds, applied once. The ticket service, calling the store
outside any request, keeps its longer wait.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import DB_RETRY_AFTER_S, DB_WAIT_S, create_app
from api.errors import is_database_unavailable
from api.store import TicketStore
from api.workflow import TicketPolicy
from tests.api.app_harness import ApiHarness, bearer, harness_fixture, make_config
from tests.api.hazard_events import event
from tests.api.pg_server import PostgresServer
from tests.support.servers import LOOPBACK, free_port
from vision.types import HazardKind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

T = TypeVar("T")

BOUND_S = 15.0  # generous: a request waits DB_WAIT_S (5 s) for a lock, then is answered
DETAIL = "the ticket database is busy or unreachable; try again in a few seconds"
TRANSITION_ROUTE = "POST /tickets/{ticket_id}/transition"


@pytest.fixture
def site(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    yield from harness_fixture(tmp_path, media_cache)


@contextmanager
def exclusive_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holds SQLite's exclusive lock on ``database`` until the block ends."""
    lock = sqlite3.connect(database, timeout=10, check_same_thread=False)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        yield lock
    finally:
        lock.rollback()
        lock.close()


def assert_unavailable(response: httpx.Response, *, not_shown: tuple[str, ...]) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": DETAIL}
    assert response.headers["retry-after"] == str(DB_RETRY_AFTER_S)
    assert response.headers["x-content-type-options"] == "nosniff"
    for word in ("SELECT", "UPDATE", "INSERT", "sqlite", "psycopg", *not_shown):
        assert word not in response.text


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """What ``call`` returned, and how long it took in seconds."""
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def unavailable_logged(caplog: pytest.LogCaptureFixture, route: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "api.app"
        and record.levelno == logging.WARNING
        and route in record.getMessage()
        and "answered 503" in record.getMessage()
    ]


# id -> (method, url, role or None): requests that take no write lock, answered while one is held
# (SQLite in WAL mode: reads never wait for a writer; /health does not touch the database)
READS_WHILE_LOCKED: dict[str, tuple[str, str, str | None]] = {
    "list": ("GET", "/tickets", "reviewer"),
    "one-ticket": ("GET", "/tickets/{id}", "reviewer"),
    "stats": ("GET", "/stats", "reviewer"),
    "metrics": ("GET", "/metrics", "admin"),
    "health": ("GET", "/health", None),
    "health-staff": ("GET", "/health", "admin"),
}


@pytest.mark.slow
def test_sqlite_locked_by_another_connection(
    site: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ticket = site.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    not_shown = (str(tmp_path), "tickets.sqlite3", "locked")  # the 503 names no file, no cause

    def transition() -> httpx.Response:
        return site.client.post(
            f"/tickets/{ticket.id}/transition", json={"to": "reported"}, headers=bearer("reviewer")
        )

    caplog.set_level(logging.WARNING, logger="api.app")
    with exclusive_lock(tmp_path / "tickets.sqlite3"):
        response, took_s = timed(transition)
        assert took_s < BOUND_S, f"the transition took {took_s:.1f} s while the database was locked"
        assert took_s >= DB_WAIT_S * 0.9, f"answered after {took_s:.1f} s: it did not wait"
        assert_unavailable(response, not_shown=not_shown)
        for case, (method, url, role) in READS_WHILE_LOCKED.items():
            headers = bearer(role) if role else {}
            request = partial(site.client.request, method, url.replace("{id}", ticket.id))
            read, read_s = timed(partial(request, headers=headers))
            assert read.status_code == 200, f"{case}: {read.text}"
            assert read_s < BOUND_S, f"{case} took {read_s:.1f} s while the database was locked"
            assert read.headers["x-content-type-options"] == "nosniff"
            assert "database is locked" not in read.text, f"{case}: {read.text}"
    logged = unavailable_logged(caplog, "")
    assert len(logged) == 1 and TRANSITION_ROUTE in logged[0], caplog.text
    assert "database is locked" in logged[0] and str(tmp_path) not in logged[0]

    again = transition()  # the lock is gone: the same request succeeds, and is applied once
    assert again.status_code == 200, again.text
    history = again.json()["history"]
    assert [entry.get("to") for entry in history].count("reported") == 1, history


@pytest.mark.slow
def test_the_ticket_service_keeps_its_longer_wait(site: ApiHarness, tmp_path: Path) -> None:
    """After a request was cut short on a pooled connection, a store call made outside any
    request (as the ticket service makes it) waits out a lock longer than ``DB_WAIT_S``."""
    ticket = site.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
    hold_s = DB_WAIT_S + 2.0
    with exclusive_lock(tmp_path / "tickets.sqlite3") as lock:
        refused = site.client.post(
            f"/tickets/{ticket.id}/transition", json={"to": "reported"}, headers=bearer("reviewer")
        )
        assert refused.status_code == 503, refused.text
        release = threading.Timer(hold_s, lock.rollback)
        release.start()
        try:
            view, took_s = timed(
                lambda: site.store.transition(ticket.id, "reported", actor="maintenance")
            )
        finally:
            release.join()
    assert view.status == "reported"
    assert took_s >= hold_s - 0.5, f"the service's write gave up or ran after {took_s:.1f} s"


def test_a_database_error_about_the_sql_stays_a_500(
    site: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A guard (it passes on the code before the 503, too): an ``OperationalError`` that is a
    bug, not an outage (here "no such table"), still gets the opaque 500, not a 503."""
    conn = sqlite3.connect(tmp_path / "tickets.sqlite3")
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DROP TABLE tickets")
        conn.commit()
    finally:
        conn.close()
    caplog.set_level(logging.WARNING, logger="api.app")
    with TestClient(site.app, raise_server_exceptions=False) as client:
        response = client.get("/tickets", headers=bearer("reviewer"))
    assert response.status_code == 500, response.text
    assert set(response.json()) == {"detail", "error_id"}
    assert "retry-after" not in response.headers
    assert not unavailable_logged(caplog, ""), caplog.text


# --- which database errors are an outage ------------------------------------------------------


def _sqlite_engine(tmp_path: Path, **kwargs: Any) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'errors.sqlite3'}", **kwargs)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT OR IGNORE INTO t (k) VALUES (1)")
    return engine


def _raised(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("expected the call to fail")


def _sqlite_busy(tmp_path: Path) -> BaseException:
    engine = _sqlite_engine(tmp_path, connect_args={"timeout": 0.1})
    with exclusive_lock(tmp_path / "errors.sqlite3"), engine.connect() as conn:
        return _raised(lambda: conn.execute(text("INSERT INTO t (k) VALUES (2)")))


def _sqlite_statement(sql: str) -> Callable[[Path], BaseException]:
    def make(tmp_path: Path) -> BaseException:
        with _sqlite_engine(tmp_path).connect() as conn:
            return _raised(lambda: conn.execute(text(sql)))

    return make


def _pool_exhausted(tmp_path: Path) -> BaseException:
    engine = _sqlite_engine(tmp_path, pool_size=1, max_overflow=0, pool_timeout=0.05)
    with engine.connect():
        return _raised(engine.connect)


def _postgresql_refused(_tmp_path: Path) -> BaseException:
    engine = create_engine(f"postgresql+psycopg://hw@{LOOPBACK}:{free_port()}/hw")
    return _raised(engine.connect)


# id -> (a real error made by the real driver, is it an outage)
DATABASE_ERRORS: dict[str, tuple[Callable[[Path], BaseException], bool]] = {
    "sqlite-locked": (_sqlite_busy, True),
    "pool-exhausted": (_pool_exhausted, True),
    "postgresql-refused": (_postgresql_refused, True),
    "sqlite-no-such-table": (_sqlite_statement("SELECT * FROM missing"), False),
    "sqlite-syntax": (_sqlite_statement("SELEKT 1"), False),
    "sqlite-unique": (_sqlite_statement("INSERT INTO t (k) VALUES (1)"), False),
    "not-a-database-error": (lambda _path: ValueError("database is locked"), False),
}


@pytest.mark.parametrize("case", list(DATABASE_ERRORS))
def test_which_database_errors_are_an_outage(tmp_path: Path, case: str) -> None:
    make, outage = DATABASE_ERRORS[case]
    exc = make(tmp_path)
    assert is_database_unavailable(exc) is outage, f"{type(exc).__name__}: {exc}"


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def pg_site(postgres: PostgresServer, tmp_path: Path) -> Iterator[tuple[TestClient, str, str]]:
    """(client of an app on a PostgreSQL store, ticket id, database URL)."""
    config = make_config()
    url = postgres.database()
    store = TicketStore(url, policy=TicketPolicy.from_config(config))
    view = store.apply_event(event(camera_id="lane_a", zone="lane"))
    assert view is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    app = create_app(config, store, data_dir=data_dir, redis_url=None, environ={})
    client = TestClient(app, raise_server_exceptions=True)
    try:
        yield client, view.id, url
    finally:
        client.close()
        store.close()


@pytest.mark.slow
def test_postgresql_server_stopped_then_restarted(
    postgres: PostgresServer,
    pg_site: tuple[TestClient, str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, ticket_id, _url = pg_site
    reviewer = bearer("reviewer")
    calls: dict[str, Callable[[], httpx.Response]] = {
        "GET /tickets": lambda: client.get("/tickets", headers=reviewer),
        "GET /tickets/{ticket_id}": lambda: client.get(f"/tickets/{ticket_id}", headers=reviewer),
        TRANSITION_ROUTE: lambda: client.post(
            f"/tickets/{ticket_id}/transition", json={"to": "reported"}, headers=reviewer
        ),
    }
    assert calls["GET /tickets"]().status_code == 200  # a pooled connection to lose
    caplog.set_level(logging.WARNING, logger="api.app")
    postgres.halt()
    try:
        for route, call in calls.items():
            response, took_s = timed(call)
            assert took_s < BOUND_S, f"{route} took {took_s:.1f} s with the server down"
            assert_unavailable(response, not_shown=(LOOPBACK, str(postgres.port), "postgres"))
            assert len(unavailable_logged(caplog, route)) == 1, caplog.text
        health = client.get("/health")
        assert health.status_code == 200, health.text
    finally:
        postgres.start()
    for route, call in calls.items():
        response = call()
        assert response.status_code == 200, f"{route} after the restart: {response.text}"


@pytest.mark.slow
def test_postgresql_row_lock_held_elsewhere(
    postgres: PostgresServer, pg_site: tuple[TestClient, str, str]
) -> None:
    client, ticket_id, url = pg_site

    def transition() -> httpx.Response:
        return client.post(
            f"/tickets/{ticket_id}/transition", json={"to": "reported"}, headers=bearer("reviewer")
        )

    # The server ends the holder's session if it is still idle in its transaction well after
    # the bound, so that a request that waits without limit fails this test instead of hanging.
    holder = psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"),
        options=f"-c idle_in_transaction_session_timeout={round(BOUND_S * 1000) + 5000}",
    )
    try:
        holder.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ticket_id,))
        response, took_s = timed(transition)
    finally:
        with suppress(psycopg.errors.IdleInTransactionSessionTimeout):  # ended by the server
            holder.rollback()
        holder.close()
    assert took_s < BOUND_S, f"the transition waited {took_s:.1f} s for the row lock"
    assert_unavailable(response, not_shown=(LOOPBACK, str(postgres.port)))
    again = transition()
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "reported"
