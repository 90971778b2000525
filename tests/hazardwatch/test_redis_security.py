"""Redis AUTH/ACL users and TLS in every ``--redis-url`` (issue 8 §2.7), against a real
redis-server that wants a password: the publisher and the ticket service work with exactly the
ACL of docs/redis-security.md, wrong credentials or a wrong CA fail with a clear message that
never shows the password, and ``rediss://`` round-trips with a CA made here by openssl."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from api.service import EVENTS_STREAM, ZONE_STATUS_STREAM, TicketService
from api.status import StatusReader
from api.store import TicketStore
from hazardwatch.cli import main
from hazardwatch.services import local_redis, local_redis_acl, redis_reachable
from pipelines.publish import CAMERA_STATUS_KEY, EventPublisher
from pipelines.redis_url import (
    PUBLISHER_ACL,
    TICKET_SERVICE_ACL,
    RedisAccess,
    probe_redis,
)
from tests.api.app_harness import config_yaml
from tests.support.redis_secure import SecureRedisServer, TlsFiles, make_tls_files
from tests.support.servers import free_port
from vision.types import HazardEvent, HazardKind, HazardPhase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "adm1n'pw <x>"
BOX_PASSWORD = "b0x p@ss:/'w"  # a space, '@', ':', '/' and a quote: all percent-encoded
SERVICE_PASSWORD = 'tick3ts"pw#1'
WRONG_PASSWORD = "wr0ng-'pw-77"
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def hazard(i: int) -> HazardEvent:
    return HazardEvent(
        event_id=f"acl-ev-{i}",
        hazard_id=f"acl-hz-{i}",
        phase=HazardPhase.START,
        kind=HazardKind.FIRE_LANE_BLOCKED,
        camera_id="lane_a",
        zone=f"zone-{i}",
        started_at=T0,
        start_pts_s=1.0,
    )


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s")


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


@pytest.fixture(params=["tcp", "tls"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecureRedisServer]:
    tls = request.getfixturevalue("tls_files") if request.param == "tls" else None
    made = SecureRedisServer(tmp_path / "redis", admin_password=ADMIN_PASSWORD, tls=tls)
    try:
        yield made.start()
    finally:
        made.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TicketStore]:
    made = TicketStore(f"sqlite:///{tmp_path / 'tickets.sqlite3'}")
    yield made
    made.close()


def test_the_publisher_and_the_ticket_service_work_with_their_acls(
    server: SecureRedisServer, store: TicketStore, tmp_path: Path
) -> None:
    box_url = server.set_user("box-a", BOX_PASSWORD, PUBLISHER_ACL)
    service_url = server.set_user("tickets", SERVICE_PASSWORD, TICKET_SERVICE_ACL)
    assert probe_redis(box_url).access is RedisAccess.UP
    publisher = EventPublisher(box_url, tmp_path / "spool.sqlite3", backoff_max_s=0.3)
    try:
        for i in range(3):
            publisher.publish(hazard(i))
        publisher.publish_status(ZONE_STATUS_STREAM, {"status": json.dumps({"x": 1})})
        publisher.set_camera_status("lane_a", {"state": "streaming", "updated_at": "now"})
        assert publisher.flush(timeout_s=20)
        wait_for(lambda: publisher.stats().status_sent >= 2)
    finally:
        publisher.close()
    assert publisher.stats().send_errors == 0, publisher.stats().last_error
    admin = server.admin_client()
    try:
        assert admin.xlen(EVENTS_STREAM) == 3
        assert admin.xlen(ZONE_STATUS_STREAM) == 1
        assert admin.hexists(CAMERA_STATUS_KEY, "lane_a")
    finally:
        admin.close()
    assert server.acl_denials("box-a") == []

    service = TicketService(service_url, store, data_dir=tmp_path / "data", block_ms=50)
    try:
        wait_for(lambda: service.run_once() == 0 and store.list_tickets()[1] == 3)
        assert service.counters()["redis_errors"] == 0, service.counters()["last_error"]
    finally:
        service.stop()
    records, state = StatusReader(service_url).read(["lane_a"])
    assert state.state == "up" and "state" in records["lane_a"]
    assert server.acl_denials("tickets") == []


def test_a_publish_only_user_can_do_nothing_else(server: SecureRedisServer) -> None:
    import redis

    box_url = server.set_user("box-a", BOX_PASSWORD, PUBLISHER_ACL)
    client = redis.Redis.from_url(box_url, socket_timeout=2)
    try:
        client.xadd(EVENTS_STREAM, {"event_id": "x", "event": "{}"})  # allowed
        for forbidden in (
            lambda: client.xreadgroup("tickets", "me", {EVENTS_STREAM: ">"}),
            lambda: client.xack(EVENTS_STREAM, "tickets", "0-1"),
            lambda: client.hget(CAMERA_STATUS_KEY, "lane_a"),
            lambda: client.xrange(ZONE_STATUS_STREAM),
            lambda: client.delete(EVENTS_STREAM),
            lambda: client.set("hazardwatch:other", "1"),
            lambda: client.keys("*"),
            lambda: client.config_get("*"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                forbidden()
    finally:
        client.close()


def test_wrong_credentials_fail_clearly_and_never_show_the_password(
    server: SecureRedisServer,
    store: TicketStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.set_user("box-a", BOX_PASSWORD, PUBLISHER_ACL)
    wrong = server.url_for("box-a", WRONG_PASSWORD)
    probe = probe_redis(wrong)
    assert probe.access is RedisAccess.REFUSED_CREDENTIALS
    assert "refused the credentials" in probe.message and "***" in probe.message
    no_password = server.url_for(None, "").replace(":@", "")
    assert probe_redis(no_password).access is RedisAccess.REFUSED_CREDENTIALS
    with caplog.at_level(logging.DEBUG):
        publisher = EventPublisher(wrong, tmp_path / "spool.sqlite3", backoff_max_s=0.2)
        try:
            publisher.publish(hazard(0))
            wait_for(lambda: publisher.stats().send_errors >= 2)
            stats = publisher.stats()
        finally:
            publisher.close(flush_timeout_s=0.0)
        service = TicketService(wrong, store, data_dir=tmp_path / "data", block_ms=50)
        try:
            service.run_once()
            assert service.counters()["redis_errors"] >= 1
        finally:
            service.stop()
    assert stats.spooled == 1  # kept, not lost
    assert "AuthenticationError" in (stats.last_error or "")
    shown = [caplog.text, stats.last_error or "", str(service.counters()), probe.message]
    for text in shown:
        for secret in (WRONG_PASSWORD, "wr0ng", BOX_PASSWORD):
            assert secret not in text


@pytest.mark.parametrize("command", ["run", "serve", "up"])
def test_commands_refuse_wrong_credentials_with_exit_2(
    server: SecureRedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(config_yaml())
    wrong = server.url_for("box-a", WRONG_PASSWORD)
    args = [command, "--config", str(config), "--data-dir", str(tmp_path / "d")]
    assert main([*args, "--redis-url", wrong]) == 2
    err = capsys.readouterr().err
    assert "refused the credentials" in err
    assert WRONG_PASSWORD not in err and "wr0ng" not in err
    assert "redis://***:***@" in err or "rediss://***:***@" in err
    assert not (tmp_path / "d" / "redis").exists()  # up did not start a second server


def test_tls_with_an_untrusted_ca_fails_clearly(
    tls_files: TlsFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = SecureRedisServer(tmp_path / "redis", admin_password=ADMIN_PASSWORD, tls=tls_files)
    server.start()
    try:
        url = server.url_for(None, ADMIN_PASSWORD, ca=tls_files.other_ca)
        probe = probe_redis(url)
        assert probe.access is RedisAccess.TLS_FAILED
        assert "certificate verify failed" in probe.message
        assert "ssl_ca_certs" in probe.message
        plain = f"redis://:x@127.0.0.1:{server.port}/0"
        assert probe_redis(plain).access is RedisAccess.UNREACHABLE
        config = tmp_path / "site.yaml"
        config.write_text(config_yaml())
        assert main(["run", "--config", str(config), "--redis-url", url]) == 2
        err = capsys.readouterr().err
        assert "TLS with Redis at rediss://***:***@127.0.0.1" in err
        assert "adm1n" not in err
    finally:
        server.stop()


def test_up_starts_its_own_redis_with_the_urls_credentials(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://box:{quote(BOX_PASSWORD, safe='')}@127.0.0.1:{port}/0"
    with local_redis(url, tmp_path) as proc:
        assert proc is not None
        assert redis_reachable(url)
        assert probe_redis(f"redis://box:{WRONG_PASSWORD}@127.0.0.1:{port}/0").access is (
            RedisAccess.REFUSED_CREDENTIALS
        )
        assert probe_redis(f"redis://127.0.0.1:{port}/0").access is (
            RedisAccess.REFUSED_CREDENTIALS
        )  # the default user is off
        conf = tmp_path / "redis" / "local.conf"
        assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
        assert BOX_PASSWORD not in conf.read_text()  # only its SHA-256
    assert not redis_reachable(url, 0.2)


@pytest.mark.parametrize(
    ("url", "lines"),
    [
        ("redis://127.0.0.1:6379/0", []),
        ("redis://:pw@127.0.0.1:6379/0", ["user default reset on #{pw} ~* &* +@all"]),
        (
            "redis://default:pw@127.0.0.1:6379/0",
            ["user default reset on #{pw} ~* &* +@all"],
        ),
        (
            "redis://box-1:pw@127.0.0.1:6379/0",
            ["user default reset off", "user box-1 reset on #{pw} ~* &* +@all"],
        ),
    ],
    ids=["no-password", "default-user", "default-named", "acl-user"],
)
def test_local_redis_acl(url: str, lines: list[str]) -> None:
    import hashlib

    digest = hashlib.sha256(b"pw").hexdigest()
    assert local_redis_acl(url) == [line.replace("{pw}", digest) for line in lines]


def test_the_security_doc_gives_exactly_the_tested_acls() -> None:
    doc = (ROOT / "docs" / "redis-security.md").read_text()
    assert PUBLISHER_ACL in " ".join(doc.split())
    assert TICKET_SERVICE_ACL in " ".join(doc.split())
