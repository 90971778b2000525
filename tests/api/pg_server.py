"""A throw-away PostgreSQL server on loopback for store tests (``initdb`` + ``postgres``).

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (created by Debian's package) in a directory it owns. The server gets SIGTERM
from the kernel if the test process dies, like the other test servers.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from pipelines.linux import die_with_parent
from tests.support.servers import LOOPBACK, free_port

_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


def find_binary(name: str) -> str | None:
    """``name`` on PATH or in Debian's ``/usr/lib/postgresql/*/bin``, newest version first."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def unavailable_reason() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    for name in ("initdb", "postgres"):
        if find_binary(name) is None:
            return f"{name} not found: apt-get install postgresql (PostgreSQL 15 on Debian)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


class PostgresServer:
    """``start()`` a fresh cluster on a free loopback port; ``database()`` makes a new DB.

    ``halt()`` stops the server and keeps its data, so a later ``start()`` brings the same
    databases back (a database outage); ``stop()`` also deletes the data.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hazardwatch-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def start(self) -> PostgresServer:
        initdb, postgres = find_binary("initdb"), find_binary("postgres")
        if initdb is None or postgres is None:
            raise RuntimeError(unavailable_reason() or "PostgreSQL binaries not found")
        if not self.data_dir.exists():
            self._initdb(initdb)
        self._serve(postgres)
        return self

    def _initdb(self, initdb: str) -> None:
        subprocess.run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
            user=self._user,
        )

    def _serve(self, postgres: str) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    postgres,
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.root),
                    "-c",
                    f"listen_addresses={LOOPBACK}",
                    "-c",
                    "fsync=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                preexec_fn=die_with_parent,
                user=self._user,
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_path.read_text(errors='replace')}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=1):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("postgres did not accept connections in time") from None
                time.sleep(0.1)

    def dsn(self, dbname: str) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{dbname}"

    def database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{name}"

    def stop(self) -> None:
        """Stop the server and delete its data."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server (fast shutdown), keeping its data for a later ``start()``."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    self._process.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
