"""What every fault test needs: hazards that keep happening, ``hazardwatch up`` in a child process,
what the user sees of it (``/health``, ``/metrics``, ``/tickets``) and the ledger check that no
event or ticket was lost or duplicated.

Hazards: the scenario generator's facade clip of one object falling (5 s, one fall decided at about
1.8 s), served looped over RTSP, gives one ``falling_object`` hazard (``start`` then ``end``) per
loop, with no detector (motion analysis only: cheap on 2 cores).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import redis
import yaml

from benchmarks.scenarios.generate import generate_suite

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "faults-admin-token"
EVENTS_STREAM = "hazardwatch:events"
FALL_CLIP_ID = "facade_fall_02_sideways"
FALL_LOOP_S = 5.0  # one hazard per loop of the clip
# Fast fault handling for tests: a stalled camera is noticed within a few seconds.
FAST_CAMERA = {"read_timeout_s": 2.0, "connect_timeout_s": 2.0, "preroll_s": 1.0, "postroll_s": 1.0}


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.2) -> Any:
    """Poll an effect of another process until it is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


@dataclass(frozen=True)
class FacadeMedia:
    """The generated facade clip of one fall and its camera config (zones, floors, hazard)."""

    clip: Path
    camera: dict[str, Any]

    def camera_config(self, source: str, **overrides: Any) -> dict[str, Any]:
        return {**self.camera, **FAST_CAMERA, "source": source, **overrides}


def facade_media(cache_dir: Path) -> FacadeMedia:
    suite_dir = generate_suite(
        cache_dir / "faults-facade", seed=1234, quick=True, scenes=["facade"], log=lambda _: None
    )
    config = yaml.safe_load((suite_dir / "configs" / "facade.yaml").read_text())
    camera = next(iter(config["cameras"].values()))
    return FacadeMedia(suite_dir / "clips" / f"{FALL_CLIP_ID}.mp4", camera)


def write_config(path: Path, cameras: Mapping[str, Mapping[str, Any]]) -> Path:
    config = {"site": {"id": "faults", "name": "Fault tests"}, "cameras": dict(cameras)}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ----- metrics -------------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text -> {(name, labels): value}."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_RE.match(line)
        if match is None:
            raise AssertionError(f"not a Prometheus sample line: {line!r}")
        name, labels, value = match.groups()
        samples[(name, frozenset(_LABEL_RE.findall(labels or "")))] = float(value)
    return samples


# ----- the service -----------------------------------------------------------------------------


@dataclass
class Service:
    """``hazardwatch up`` (or ``run``) in a child process, with its log in ``work_dir``."""

    config: Path
    data_dir: Path
    redis_url: str
    work_dir: Path
    command: str = "up"
    name: str = "up"
    env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # e.g. ["--workers", "2"]
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.name}-{self.starts}.log"

    def start(self, timeout_s: float = 60.0) -> Service:
        from tests.support.servers import free_port

        self.starts += 1
        self.port = free_port()
        args = [sys.executable, "-m", "hazardwatch", "-v", self.command,
                "--config", str(self.config), "--data-dir", str(self.data_dir),
                "--redis-url", self.redis_url]  # fmt: skip
        if self.command != "run":
            args += ["--port", str(self.port)]
        args += self.extra_args
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HAZARDWATCH_ADMIN_TOKEN": ADMIN_TOKEN}
        env.update(self.env)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO
            )
        if self.command == "run":
            wait_for(self._running, timeout_s, "hazardwatch run to start")
        else:
            wait_for(self._answers, timeout_s, "the API to answer")
        assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log()[-3000:]}"
        return self

    def _running(self) -> bool:
        return "running" in self.log() or (self.proc is not None and self.proc.poll() is not None)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            return True
        try:
            return httpx.get(self.url("/health"), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- what the user sees ------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            self.url(path),
            params=params,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json() if "json" in response.headers.get("content-type", "") else response

    def health(self) -> dict[str, Any]:
        return cast(dict[str, Any], self.get("/health"))

    def camera(self, camera_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.health()["cameras"][camera_id])

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return parse_metrics(self.get("/metrics").text)

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, frozenset(labels.items())))

    def tickets(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.get("/tickets", limit=500)["items"])

    # -- the process ------------------------------------------------------------------------

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def terminate(self, timeout_s: float = 60.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"hazardwatch {self.command} did not exit {timeout_s:g} s after SIGTERM:\n"
                f"{self.log()[-3000:]}"
            ) from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it hangs; never raises."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ----- the ledger: nothing lost, nothing duplicated -------------------------------------------

ACCEPTED_RE = re.compile(r"publisher: accepted event (\S+) \((\w+) of hazard (\S+), camera (\S+)\)")


def accepted_events(*logs: str) -> list[tuple[str, str, str, str]]:
    """``(event_id, phase, hazard_id, camera_id)`` the publisher accepted, from its INFO log."""
    return [
        cast(tuple[str, str, str, str], m.groups())
        for log in logs
        for m in ACCEPTED_RE.finditer(log)
    ]


def stream_events(client: redis.Redis) -> list[dict[str, Any]]:
    """Every hazard event on the stream, in stream order."""
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(EVENTS_STREAM))
    return [json.loads(fields[b"event"]) for _id, fields in entries]


def applied_events(data_dir: Path) -> list[tuple[str, str, str]]:
    """``(event_id, hazard_id, ticket_id)`` of every event the ticket store applied."""
    with sqlite3.connect(
        f"file:{data_dir / 'tickets.sqlite3'}?mode=ro", uri=True, timeout=10
    ) as db:
        rows = db.execute("SELECT event_id, hazard_id, ticket_id FROM applied_events").fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


@dataclass(frozen=True)
class Ledger:
    """Hazards and events as published, on the stream, applied, and in tickets."""

    hazards: dict[str, list[str]]  # hazard_id -> phases on the stream, in order
    stream_ids: list[str]
    applied_ids: list[str]
    ticket_of_hazard: dict[str, list[str]]  # hazard_id -> ids of the tickets listing it


def check_ledger(
    client: redis.Redis,
    data_dir: Path,
    tickets: list[dict[str, Any]],
    logs: list[str],
    *,
    resent_ok: bool = False,
) -> Ledger:
    """Assert that no event or ticket was lost or duplicated, and return what was compared.

    - every event the publisher accepted is on the stream, exactly once (``resent_ok``: a crash
      between XADD and the spool delete may put it there twice, which the store absorbs);
    - every hazard on the stream has exactly one ``start``, first, and at most one ``end``, last;
    - the ticket store applied exactly the stream's events, once each;
    - every hazard is listed by exactly one ticket, and no ticket lists a hazard twice.
    """
    events = stream_events(client)
    stream_ids = [e["event_id"] for e in events]
    accepted = accepted_events(*logs)
    accepted_ids = [a[0] for a in accepted]
    assert len(set(accepted_ids)) == len(accepted_ids), "the publisher accepted an event twice"
    missing = set(accepted_ids) - set(stream_ids)
    assert not missing, f"{len(missing)} accepted events never reached the stream: {missing}"
    dups = [i for i, n in Counter(stream_ids).items() if n > 1]
    if not resent_ok:
        assert not dups, f"events on the stream twice: {dups}"
    hazards: dict[str, list[str]] = {}
    for e in events:
        hazards.setdefault(e["hazard_id"], []).append(e["phase"])
    for hazard_id, phases in hazards.items():
        unique = list(dict.fromkeys(phases)) if resent_ok else phases
        assert unique[0] == "start" and unique.count("start") == 1, (hazard_id, phases)
        assert unique.count("end") <= 1 and ("end" not in unique or unique[-1] == "end"), (
            hazard_id,
            phases,
        )
    applied = applied_events(data_dir)
    applied_ids = [a[0] for a in applied]
    assert sorted(applied_ids) == sorted(set(stream_ids)), (
        f"applied {len(applied_ids)} events, the stream holds {len(set(stream_ids))}: "
        f"missing {set(stream_ids) - set(applied_ids)}, extra {set(applied_ids) - set(stream_ids)}"
    )
    ticket_of_hazard: dict[str, list[str]] = {}
    for ticket in tickets:
        assert len(ticket["hazard_ids"]) == len(set(ticket["hazard_ids"])), ticket
        for hazard_id in ticket["hazard_ids"]:
            ticket_of_hazard.setdefault(hazard_id, []).append(ticket["id"])
    assert set(ticket_of_hazard) == set(hazards), (
        f"hazards without a ticket: {set(hazards) - set(ticket_of_hazard)}; "
        f"tickets naming unknown hazards: {set(ticket_of_hazard) - set(hazards)}"
    )
    assert all(len(ids) == 1 for ids in ticket_of_hazard.values()), ticket_of_hazard
    return Ledger(hazards, stream_ids, applied_ids, ticket_of_hazard)


# ----- after the service stopped ---------------------------------------------------------------


def settle_tickets(config: Path, redis_url: str, data_dir: Path) -> list[dict[str, Any]]:
    """Apply what the stopped service left on the stream, with the real ticket service, and
    return every ticket.

    ``up`` stops its ticket service right after the pipelines' last events reached Redis, so the
    very last entries may still be unread (or read and not yet acknowledged): they wait in Redis
    for the next start, which this is. Entries another consumer left pending are claimed at once.
    """
    from api.service import TicketService
    from api.store import TicketStore
    from api.workflow import TicketPolicy
    from pipelines.config import load_config

    policy = TicketPolicy.from_config(load_config(config))
    store = TicketStore(f"sqlite:///{data_dir / 'tickets.sqlite3'}", policy=policy)
    service = TicketService(
        redis_url,
        store,
        data_dir=data_dir,
        block_ms=50,
        claim_idle_ms=0,
        consumer="fault-suite-settle",
    )
    try:
        quiet = 0
        deadline = time.monotonic() + 30
        while quiet < 3:
            handled = service.run_once()
            assert service.healthy, service.counters()
            quiet = 0 if handled else quiet + 1
            assert time.monotonic() < deadline, "the stream never settled"
        views, _total = store.list_tickets(limit=1000)
        return [view.to_dict() for view in views]
    finally:
        service.stop()
        store.close()


PARTIAL_RE = re.compile(r"\.partial")


def partial_files(data_dir: Path) -> list[Path]:
    """Temporary files of unfinished writes (clips, snapshots) anywhere under the data dir."""
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and PARTIAL_RE.search(p.name))


def spool_rows(data_dir: Path) -> int:
    """Events waiting in the publishers' spools (read-only look at each ``events`` table): the
    single process's ``spool.sqlite3`` and the worker processes' ``spool/*.sqlite3``."""
    total = 0
    for spool in [data_dir / "spool.sqlite3", *sorted((data_dir / "spool").glob("*.sqlite3"))]:
        if not spool.is_file():
            continue
        with sqlite3.connect(f"file:{spool}?mode=ro", uri=True, timeout=10) as db:
            total += int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    return total
