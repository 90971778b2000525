"""No password and no token leaks out of an end-to-end run of ``hazardwatch up``.

Real parts: three gst-rtsp-servers, each requiring HTTP Basic auth with its own awkward password
(``'``, ``"``, space, ``<``, ``>``, ``@``, ``%``, ``:``), serving looped clips of objects falling
from a facade (hazards without a detector, so tickets and evidence come within seconds). Cameras
present those passwords percent-encoded and raw (as typed into a config), to a mount that exists
and to one that does not (a 404 error that names the URL); one camera has a wrong password and
one its password in the query string (refused: errors name their URLs). A redis-server with
``requirepass`` (the password in ``--redis-url``), stopped for a few seconds mid-run so that the
bus's errors are logged and shown; an admin token in ``HAZARDWATCH_ADMIN_TOKEN`` and a reviewer
token in the config (stored hashed), both used for requests and for a ``?token=`` login. ``up``
runs with ``-vv`` (debug logging: the most it ever prints).

Captured: stdout and stderr of ``up``; every file it wrote under the data dir (raw bytes, and each
SQLite database also as its ``iterdump``); the JSON and HTML the API answers (``/health`` with and
without a token, also while Redis is down, ``/tickets``, each ticket, ``/metrics``, ``/cameras``,
``/stats``, the pages after a login); and every key's value in Redis, before the outage and at the
end. Each secret is searched in all of it in every spelling a leak could take (raw,
percent-encoded, JSON/HTML/repr-escaped, the Basic auth header's base64) and by its distinctive
fragments, which catches a redaction that masks only part of a password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import redis
import yaml

from benchmarks.scenarios.generate import generate_suite
from tests.support.servers import (
    LOOPBACK,
    RedisServerProcess,
    RtspServerFactory,
    RtspServerProcess,
    free_port,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Secret:
    """A password or token, and the user it goes with (for the Basic auth header)."""

    value: str
    user: str | None = None


# Distinctive fragments (letters+digit) between the awkward characters: a leak of any part of a
# password shows up as one of them. None of them occurs in the product's own text.
SECRETS = {
    # quote, double quote, space
    "rtsp_quotes_space": Secret("olive7'quince8\"rowan9 sumac6", "viewer"),
    # angle brackets and an at sign
    "rtsp_angles_at": Secret("<larch5>hazel4@cedar3", "ops"),
    # percent (also one that looks like an escape) and colons
    "rtsp_percent_colon": Secret("birch2%41alder1:maple0%", "nvr"),
    # wrong password for the first server: the camera is refused, its errors name the URL
    "rtsp_wrong": Secret('wrong4\'<elder3> "yew2"@aspen1%:', "viewer"),
    # a password in the query string of a camera URL (refused: the server wants Basic auth)
    "rtsp_query": Secret("query9poplar8secret7", None),
    "redis": Secret('rhodo6\'walnut5 "<fir4>"@%:larix3', "default"),
    "admin_token": Secret("hwadmin" + os.urandom(12).hex()),
    "reviewer_token": Secret("hwreview" + os.urandom(12).hex()),
}


class Spelling(StrEnum):
    """How a camera's URL carries its credentials."""

    ENCODED = "encoded"  # percent-encoded userinfo, as a careful installer writes it
    RAW = "raw"  # typed as is into the config (awkward characters and all)
    QUERY = "query"  # ``?password=...``, no userinfo


class Outcome(StrEnum):
    """What the run must show of a camera before the capture is taken."""

    TICKETS = "tickets"  # streams and makes a ticket
    ERROR = "error"  # fails, with an error that names its URL
    EITHER = "either"  # a raw URL: whether FFmpeg accepts it is FFmpeg's business


@dataclass(frozen=True)
class Camera:
    server: str  # the RTSP server it plays from (named after that server's secret)
    presents: str  # the secret it presents
    how: Spelling
    outcome: Outcome
    mount_exists: bool = True  # False: the URL names a mount the server does not have (404)


_Q, _A, _P = "rtsp_quotes_space", "rtsp_angles_at", "rtsp_percent_colon"
_ENC, _RAW = Spelling.ENCODED, Spelling.RAW
# Every password reaches an error message at least once (refused, or a missing mount), in the
# encoded and in the raw spelling, since errors are where URLs get printed.
CAMERAS = {
    "cam_quotes": Camera(_Q, _Q, _ENC, Outcome.TICKETS),
    "cam_angles": Camera(_A, _A, _ENC, Outcome.TICKETS),
    "cam_percent": Camera(_P, _P, _ENC, Outcome.TICKETS),
    "cam_quotes_raw": Camera(_Q, _Q, _RAW, Outcome.EITHER),
    "cam_angles_raw": Camera(_A, _A, _RAW, Outcome.EITHER),
    "cam_percent_raw": Camera(_P, _P, _RAW, Outcome.EITHER),  # FFmpeg may decode '%41' to 'A'
    "cam_quotes_404": Camera(_Q, _Q, _ENC, Outcome.ERROR, mount_exists=False),
    "cam_quotes_raw_404": Camera(_Q, _Q, _RAW, Outcome.ERROR, mount_exists=False),
    "cam_angles_404": Camera(_A, _A, _ENC, Outcome.ERROR, mount_exists=False),
    "cam_angles_raw_404": Camera(_A, _A, _RAW, Outcome.ERROR, mount_exists=False),
    "cam_percent_404": Camera(_P, _P, _ENC, Outcome.ERROR, mount_exists=False),
    "cam_percent_raw_404": Camera(_P, _P, _RAW, Outcome.ERROR, mount_exists=False),
    "cam_wrong": Camera(_Q, "rtsp_wrong", _ENC, Outcome.ERROR),
    "cam_wrong_raw": Camera(_Q, "rtsp_wrong", _RAW, Outcome.ERROR),
    "cam_query": Camera(_A, "rtsp_query", Spelling.QUERY, Outcome.ERROR),
}
GOOD_CAMERAS = tuple(c for c, cam in CAMERAS.items() if cam.outcome is Outcome.TICKETS)
FAILING_CAMERAS = tuple(c for c, cam in CAMERAS.items() if cam.outcome is Outcome.ERROR)
FRAGMENT_RE = re.compile(r"[A-Za-z0-9]{6,}")


def spellings(secret: Secret) -> set[str]:
    """Every form in which ``secret`` could leak, whole or in part."""
    value = secret.value
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        html.escape(value),
        repr(value)[1:-1],
        value.replace("%", "%25"),
    }
    if secret.user is not None:
        forms.add(base64.b64encode(f"{secret.user}:{value}".encode()).decode())
    forms.update(FRAGMENT_RE.findall(value))
    return {form for form in forms if form}


class PasswordRedis(RedisServerProcess):
    """A throw-away redis-server that requires a password (``--requirepass``)."""

    def __init__(self, work_dir: Path, password: str) -> None:
        super().__init__(work_dir)
        self.password = password

    def _command(self) -> list[str]:
        return [*super()._command(), "--requirepass", self.password]

    def _is_ready(self) -> bool:
        client = self.client(timeout_s=0.2)
        try:
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    @property
    def url(self) -> str:
        return f"redis://:{quote(self.password, safe='')}@{LOOPBACK}:{self.port}/0"

    def client(self, *, timeout_s: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            password=self.password,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )


@dataclass
class Capture:
    """Everything the run showed or wrote, by where it came from."""

    texts: dict[str, bytes]
    tickets: list[dict[str, Any]]
    health_admin: dict[str, Any]
    data_files: list[str]
    redis_keys: list[str]


def camera_url(server: RtspServerProcess, camera_id: str, camera: Camera) -> str:
    secret = SECRETS[camera.presents]
    if camera.how is Spelling.QUERY:
        url = server.url(camera_id) + f"?user=ops&password={secret.value}"
    else:
        url = server.url(camera_id, secret.user, secret.value)
    if camera.how is Spelling.RAW:
        encoded = f"{quote(str(secret.user), safe='')}:{quote(secret.value, safe='')}@"
        url = url.replace(encoded, f"{secret.user}:{secret.value}@", 1)
    if not camera.mount_exists:
        url = url.replace(f"/{camera_id}", "/no_such_mount")
    return url


def write_config(suite_dir: Path, urls: dict[str, str], path: Path) -> None:
    raw = yaml.safe_load((suite_dir / "configs" / "facade.yaml").read_text())
    facade = next(iter(raw["cameras"].values()))
    short = {"preroll_s": 2.0, "postroll_s": 1.0, "connect_timeout_s": 2.0, "read_timeout_s": 3.0}
    reviewer = SECRETS["reviewer_token"].value
    config = {
        "site": {"id": "leaks", "name": "Credential leak check"},
        "cameras": {cid: {**facade, **short, "source": url} for cid, url in urls.items()},
        "api": {"tokens": [{"name": "leak-reviewer", "role": "reviewer",
                            "token_sha256": hashlib.sha256(reviewer.encode()).hexdigest()}]},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def sqlite_dump(path: Path) -> bytes:
    """The database as SQL text (``iterdump``), read-only; b"" when it is not a database."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return b""
    try:
        return "\n".join(db.iterdump()).encode()
    except sqlite3.DatabaseError:
        return b""
    finally:
        db.close()


def capture_data_dir(data_dir: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = f"data:{path.relative_to(data_dir)}"
        out[name] = path.read_bytes()
        if out[name].startswith(b"SQLite format 3\x00"):
            out[name + " (iterdump)"] = sqlite_dump(path)
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def capture_redis(client: redis.Redis, when: str) -> dict[str, bytes]:
    """Every key's value (and the streams' groups and consumers), as ``redis:KEY (when)``."""
    out: dict[str, bytes] = {}
    for key in client.scan_iter(count=1000):
        kind = _text(client.type(key))
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "stream":
            value = client.xrange(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = f"(unread type {kind})"
        out[f"redis:{_text(key)} ({when})"] = repr(value).encode()
        if kind == "stream":  # group and consumer names too
            groups = client.xinfo_groups(key)
            consumers = [client.xinfo_consumers(key, g["name"]) for g in groups]
            out[f"redis:{_text(key)} groups ({when})"] = repr((groups, consumers)).encode()
    client.close()
    return out


def _redis_state(base: str, auth: dict[str, str]) -> str | None:
    try:
        return str(httpx.get(f"{base}/health", headers=auth, timeout=5).json()["redis"]["state"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def _spooled(spool: Path) -> int:
    """Events waiting in the publisher's durable spool (its ``events`` table)."""
    if not spool.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(spool, timeout=5)) as db:
        return int(db.execute("select count(*) from events").fetchone()[0])


def capture_redis_outage(
    base: str, auth: dict[str, str], redis_server: PasswordRedis, data_dir: Path
) -> dict[str, bytes]:
    """Redis stopped while ``up`` runs, until a hazard's event had to be spooled (so the
    publisher failed to send it and said so, naming the Redis URL), then started again."""
    redis_server.stop()
    wait_for(lambda: _redis_state(base, auth) == "down", 30, "the API to see Redis down")
    wait_for(lambda: _spooled(data_dir / "spool.sqlite3"), 30, "an event spooled while down")
    out = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        out["api:/health (anonymous, Redis down)"] = client.get("/health").content
        out["api:/health (Redis down)"] = client.get("/health", headers=auth).content
        out["api:/metrics (Redis down)"] = client.get("/metrics", headers=auth).content
    redis_server.start()
    wait_for(lambda: _streaming(base, auth), 30, "camera status back in Redis")
    return out


def _streaming(base: str, auth: dict[str, str]) -> bool:
    """Whether the API reads every good camera as streaming (from Redis)."""
    try:
        cameras = httpx.get(f"{base}/health", headers=auth, timeout=5).json()["cameras"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return all(cameras.get(c, {}).get("state") == "streaming" for c in GOOD_CAMERAS)


def capture_api(base: str, tickets: list[dict[str, Any]]) -> dict[str, bytes]:
    """What the API answers anonymously and to each token, and the pages after a login."""
    out: dict[str, bytes] = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        out["api:/health (anonymous)"] = client.get("/health").content
    for role in ("admin_token", "reviewer_token"):
        token = SECRETS[role].value
        auth = {"Authorization": f"Bearer {token}"}
        paths = ["/health", "/tickets", "/metrics", "/cameras", "/stats"]
        paths += [f"/tickets/{ticket['id']}" for ticket in tickets]
        with httpx.Client(base_url=base, timeout=10) as client:
            for path in paths:
                out[f"api:{path} ({role})"] = client.get(path, headers=auth).content
            # A browser's way in: the token once in the query string, then a session cookie.
            login = client.get("/ui/login", params={"token": token}, follow_redirects=True)
            out[f"api:/ui/login?token= and its redirect ({role})"] = (
                login.content + repr(login.headers).encode()
            )
            for page in ("/ui/review", "/ui/dashboard", "/ui/zones", "/ui/dispatch"):
                out[f"api:{page} ({role})"] = client.get(page).content
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> Iterator[Capture]:
    work = tmp_path_factory.mktemp("leaks")
    suite_dir = generate_suite(
        media_cache / "facade-quick", seed=1234, quick=True, scenes=("facade",), log=lambda _: None
    )
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    falls = [c for c in suite["clips"] if c["id"].startswith("facade_fall")]
    redis_server = PasswordRedis(work / "redis", SECRETS["redis"].value)
    with RtspServerFactory(work / "rtsp") as rtsp_factory:
        servers = {}
        for index, name in enumerate(("rtsp_quotes_space", "rtsp_angles_at", "rtsp_percent_colon")):
            clip = suite_dir / falls[index % len(falls)]["video"]
            mounts = {f"/{cid}": f"file:{clip}" for cid, c in CAMERAS.items() if c.server == name}
            servers[name] = rtsp_factory(
                mounts, user=SECRETS[name].user, password=SECRETS[name].value
            )
        urls = {cid: camera_url(servers[c.server], cid, c) for cid, c in CAMERAS.items()}
        config = work / "leaks.yaml"
        write_config(suite_dir, urls, config)
        with redis_server:
            yield run_and_capture(work, config, redis_server)


def run_and_capture(work: Path, config: Path, redis_server: PasswordRedis) -> Capture:
    data_dir, port = work / "data", free_port()
    admin = SECRETS["admin_token"].value
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HAZARDWATCH_ADMIN_TOKEN": admin}
    stdout, stderr = work / "up.stdout", work / "up.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hazardwatch", "-vv", "up", "--config", str(config),
             "--data-dir", str(data_dir), "--port", str(port), "--redis-url", redis_server.url],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
        )  # fmt: skip
    base = f"http://{LOOPBACK}:{port}"
    auth = {"Authorization": f"Bearer {admin}"}
    try:
        health = wait_for(
            lambda: _ready(base, auth, proc, stderr),
            90,
            "3 tickets and the refused cameras' errors",
        )
        tickets = httpx.get(f"{base}/tickets", headers=auth, timeout=10).json()["items"]
        texts = capture_api(base, tickets)
        texts.update(capture_redis(redis_server.client(), "before the outage"))
        texts.update(capture_redis_outage(base, auth, redis_server, data_dir))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    texts["up stdout"] = stdout.read_bytes()
    texts["up stderr"] = stderr.read_bytes()
    redis_texts = capture_redis(redis_server.client(), "at the end")
    data_texts = capture_data_dir(data_dir)
    texts.update(redis_texts)
    texts.update(data_texts)
    return Capture(texts, tickets, health, sorted(data_texts), sorted(redis_texts))


def _ready(base: str, auth: dict[str, str], proc: Any, stderr: Path) -> dict[str, Any] | None:
    """/health (as admin) once every good camera has a ticket and both refused cameras report
    an error; raises if ``up`` exited."""
    if proc.poll() is not None:
        raise AssertionError(f"up exited with {proc.returncode}:\n{stderr.read_text()[-3000:]}")
    try:
        health = httpx.get(f"{base}/health", headers=auth, timeout=5).json()
        tickets = httpx.get(f"{base}/tickets", headers=auth, timeout=5).json()["items"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    cameras = health.get("cameras", {})
    refused = all(cameras.get(c, {}).get("last_error") for c in FAILING_CAMERAS)
    ticketed = {t["camera_id"] for t in tickets} >= set(GOOD_CAMERAS)
    return health if refused and ticketed else None


def test_the_capture_holds_what_a_leak_would_be_in(capture: Capture) -> None:
    """Guard against a vacuous pass: the run did make tickets, evidence and errors about the
    refused cameras, and all of it was captured."""
    assert {t["camera_id"] for t in capture.tickets} >= {"cam_quotes", "cam_angles", "cam_percent"}
    errors = {
        c: capture.health_admin["cameras"][c]["last_error"] for c in ("cam_wrong", "cam_query")
    }
    assert all(errors.values()), errors
    assert "tickets.sqlite3 (iterdump)" in " ".join(capture.data_files)
    assert any(name.endswith(".mp4") for name in capture.data_files), capture.data_files
    assert any(name.endswith(".jpg") for name in capture.data_files), capture.data_files
    assert "redis:hazardwatch:camera_status (at the end)" in capture.redis_keys
    assert "redis:hazardwatch:events (before the outage)" in capture.texts
    logs = capture.texts["up stderr"].decode(errors="replace")
    assert all(camera in logs for camera in FAILING_CAMERAS), logs[-3000:]


@pytest.mark.parametrize("name", list(SECRETS), ids=list(SECRETS))
def test_secret_appears_nowhere(capture: Capture, name: str) -> None:
    secret = SECRETS[name]
    leaks = []
    for form in sorted(spellings(secret)):
        needle = form.encode()
        for where, text in capture.texts.items():
            at = text.find(needle)
            if at >= 0:
                context = text[max(0, at - 80) : at + len(needle) + 80].decode(errors="replace")
                leaks.append(f"{form!r} in {where}: ...{context}...")
    assert not leaks, f"{name} leaked:\n" + "\n".join(leaks[:20])
