"""Root fixtures: the generated-media cache and real servers. The logic is in ``tests/support``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.evidence_crypto import forget_configured_keys
from tests.api.pg_server import PostgresServer, unavailable_reason
from tests.support.servers import (
    RedisServerFactory,
    RedisServerProcess,
    RtspServerFactory,
    free_port,
)

__all__ = ["free_port"]

MEDIA_CACHE_ENV = "HAZARDWATCH_TEST_CACHE"


@pytest.fixture(scope="session", autouse=True)
def _isolated_xdg_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point XDG_CACHE_HOME at a session tmp dir (onnxruntime and GStreamer write there)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(autouse=True)
def _evidence_keys_from_the_environment() -> Iterator[None]:
    """A test that started a process's evidence keys from a config (hazardwatch.services.load)
    leaves none behind: the next one reads HAZARDWATCH_EVIDENCE_KEYS again."""
    yield
    forget_configured_keys()


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory for generated clips (``support.media.ensure_clip``), shared by the session.

    ``$HAZARDWATCH_TEST_CACHE`` keeps the clips across sessions when set.
    """
    configured = os.environ.get(MEDIA_CACHE_ENV)
    if configured:
        path = Path(configured).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def rtsp_server_factory(tmp_path: Path) -> Iterator[RtspServerFactory]:
    """``factory(mounts, user=None, password=None)`` -> a started RtspServerProcess.

    Every server it made is stopped at teardown, also when the test failed.
    """
    with RtspServerFactory(tmp_path / "rtsp-servers") as factory:
        yield factory


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[RedisServerFactory]:
    """``factory(appendonly=False)`` -> a started RedisServerProcess; all stopped at teardown."""
    with RedisServerFactory(tmp_path / "redis-servers") as factory:
        yield factory


@pytest.fixture
def redis_server(redis_server_factory: RedisServerFactory) -> RedisServerProcess:
    """A fresh redis-server for this test only (no persistence)."""
    return redis_server_factory()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for one test module (skipped, naming why, where none can run)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"PostgreSQL not available: {reason}")
    server = PostgresServer().start()
    yield server
    server.stop()
