"""``hazardwatch up``'s own redis-server: started only when none answers, stopped with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from hazardwatch.cli import main
from hazardwatch.services import StartupError, check_startable, local_redis, redis_reachable
from tests.support.servers import RedisServerProcess, free_port
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_starts_a_local_redis_when_none_answers(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_reachable(url, 0.2)
    with local_redis(url, tmp_path) as proc:
        assert proc is not None
        assert redis.Redis.from_url(url).ping()
    assert not redis_reachable(url, 0.2)  # stopped with us


def _ended(pid: int) -> bool:
    """The process is gone or a zombie (nobody may reap an orphan in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


KILLED_OWNER = """
import sys, time
from pathlib import Path
from hazardwatch.services import local_redis
with local_redis(sys.argv[1], Path(sys.argv[2])) as proc:
    print(proc.pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_a_killed_owner_takes_its_redis_with_it(tmp_path: Path) -> None:
    """A SIGKILLed ``up`` or ``demo`` runs no ``finally``: its redis-server must still stop
    (told by the kernel) instead of holding the port and the data dir for the next start."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    owner = subprocess.Popen(
        [sys.executable, "-c", KILLED_OWNER, url, str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert owner.stdout is not None
        redis_pid = int(owner.stdout.readline())
        assert redis.Redis.from_url(url).ping()
        owner.kill()
        owner.wait(10)
        wait_for(lambda: _ended(redis_pid), 10, "the killed owner's redis-server to stop")
        assert not redis_reachable(url, 0.2)
    finally:
        owner.kill()


def test_uses_the_running_redis(redis_server: RedisServerProcess, tmp_path: Path) -> None:
    with local_redis(redis_server.url, tmp_path) as proc:
        assert proc is None  # nothing started: one was there


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("redis://127.0.0.1:6379/0", True),
        ("redis://localhost/0", True),
        ("redis://[::1]:6380/0", True),
        ("redis://cache.example:6379/0", False),
    ],
    ids=["ipv4-loopback", "localhost", "ipv6-loopback", "remote"],
)
def test_only_a_local_url_gets_its_own_redis(url: str, local: bool) -> None:
    # Decided on the URL alone: no traffic to any address but loopback in tests.
    if local:
        check_startable(url)
    else:
        with pytest.raises(StartupError, match="not local"):
            check_startable(url)


def test_up_with_a_broken_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("site: {id: a, name: A}\ncameras:\n  cam: {sourse: x}\n")
    assert main(["up", "--config", str(config), "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "cameras.cam" in err and "sourse" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://user:s3cret@db/hw", "unsupported database 'mysql'"),
        ("not a url", "not valid"),
    ],
)
def test_serve_with_a_bad_database_url_exits_2_without_the_password(
    url: str,
    message: str,
    redis_server: RedisServerProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("site: {id: a, name: A}\ncameras:\n  a: {source: /nonexistent/a.mp4}\n")
    args = ["serve", "--config", str(config), "--data-dir", str(tmp_path / "d"),
            "--redis-url", redis_server.url, "--database-url", url]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--database-url" in err and message in err
    assert "s3cret" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "many"], "--workers"),
        (["--workers", "2", "--node", "a/b"], "--node"),
    ],
)
def test_run_with_bad_worker_options_exits_2(
    extra: list[str],
    message: str,
    redis_server: RedisServerProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: a, name: A}\ncameras:\n"
        "  a: {source: /nonexistent/a.mp4}\n  b: {source: /nonexistent/b.mp4}\n"
    )
    args = ["run", "--config", str(config), "--data-dir", str(tmp_path / "d"),
            "--redis-url", redis_server.url, *extra]  # fmt: skip
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_run_refuses_a_hardware_decoder_this_box_lacks_at_start(
    redis_server: RedisServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused once at start with exit 2, not in each worker (which would be restarted for
    ever). VideoToolbox is macOS only, so no Linux box here has it."""
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {id: a, name: A}\ncameras:\n"
        "  a: {source: /nonexistent/a.mp4, decode: {hwaccel: videotoolbox}}\n"
        "  b: {source: /nonexistent/b.mp4}\n"
    )
    args = ["run", "--config", str(config), "--data-dir", str(tmp_path / "d"),
            "--redis-url", redis_server.url, "--workers", "2"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cameras.a.decode.hwaccel" in err and "videotoolbox" in err
