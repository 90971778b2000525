"""Soak: N cameras with hazards happening, for many minutes; memory, fds, threads, latency, tickets.

Real parts, all on loopback: a gst-rtsp-server (``tests/support/rtsp_server.py``, run by Debian's
python3) serves one mount per camera, each a generated clip of the quick scenario suite looped
forever (a truck parking in a fire lane, an e-bike entering a lift, an object falling from a
facade), so that every loop of every clip raises a hazard; every mount needs HTTP Basic auth and the
camera URLs carry the user and password. A redis-server, and ``hazardwatch up`` as a subprocess
with an N-camera config. This script plays the property office: it polls ``GET /tickets`` every
0.5 s and (with ``--review reject``, the default) rejects each new ticket, so that the next hazard
of that camera opens a new ticket instead of piling onto one that nobody reviews.

Every ``--sample-s`` it records, for the ``up`` process and its children: RSS, open fds
(``/proc/PID/fd``), threads (``/proc/PID/status``), CPU time; per camera fps in/out, dropped
frames and reconnects from ``/health``; ticket and service counters from ``/metrics``; hazard
starts read from the ``hazardwatch:events`` stream; and prints one progress line.

Latency of a hazard (the definition used throughout): from the event's ``started_at`` (the
wall-clock time of the frame on which the rule decided) to the first ``GET /tickets`` poll that
shows its hazard id. It includes the evidence post-roll (``--postroll-s``: a start is published
only once its clip is on disk), the publish, the ticket service, the store and the API, plus up to
one poll interval. It is split at the ``XADD`` time (the stream entry id) into decision→publish and
publish→ticket.

Judged after a warm-up (the first 2 minutes, or 20 % of a shorter run: ring buffers fill, the
detector warms up, the first tickets are made), with a window of 5 minutes (or half of what is
left in a shorter run):

- RSS: median of the last window vs median of the first window after the warm-up, within ±10 %;
- open fds and threads: median of the last window minus median of the first, at most +10 fds and
  +8 threads (thread pools swing by about ±10 from one sample to the next);
- latency: p50/p95 per window (with the mean CPU of ``up`` and of the whole box meanwhile, since
  latency rises with contention); stable (no upward drift) if the last window's p95 is at most
  1.25 × the first window's p95 + 0.5 s;
- tickets vs hazards: every hazard start on the stream is in exactly one ticket, no ticket holds a
  hazard that never started, no dead letters;
- keeping up: frames dropped after the warm-up at most ``--max-drop-pct`` % of frames decoded;
  every camera raised hazards after the warm-up;
- the camera password never appears in ``up``'s output; ``up`` survives the run and stops with
  exit code 0 on SIGTERM.

Usage::

    .venv/bin/python benchmarks/soak.py --cameras 8 --minutes 30 [--json OUT] [--sample-s 15]

Exit codes: 0 every criterion met, 1 a criterion failed, 2 the soak could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import redis
import yaml

from benchmarks.capacity.procfs import box_cpu, proc_sample, slope
from benchmarks.scenarios.errors import AssetError, ScenarioError
from benchmarks.scenarios.generate import generate_suite
from pipelines.linux import die_with_parent
from pipelines.overload import percentile
from tests.support.servers import (
    RedisServerProcess,
    RtspServerProcess,
    ServerStartError,
    free_port,
)

REPO = Path(__file__).resolve().parents[1]
EVENTS_STREAM = "hazardwatch:events"
MEDIA_SEED = 2026  # the seed of `hazardwatch demo`: its clips are known to raise their hazards
# Suites made by the scenario generator: name -> (scene types, quick). The quick suite's lane clip
# ends with the truck still parked, so looped it is one endless blockage; the full suite's
# lane_park_leave_02 drives off and leaves the lane clear for ~9 s, so every loop is a new one.
SUITES = {"quick": (("facade", "lift"), True), "lane": (("lane",), False)}
# camera profile -> (suite, clip id prefix); cameras take the profiles in turn
PROFILES = (
    ("lane", "lane", "lane_park_leave"),
    ("lift", "quick", "lift_ebike_enter"),
    ("facade", "quick", "facade_fall"),
)
RTSP_USER = "soak-viewer"
TICKET_POLL_S = 0.5
STREAM_READ_S = 1.0
# pass criteria (see the module docstring)
RSS_DRIFT_MAX_PCT = 10.0
FD_GROWTH_MAX = 10
THREAD_GROWTH_MAX = 8  # thread pools (uvicorn's, evidence) swing by ±10 from sample to sample
LATENCY_P95_FACTOR = 1.25
LATENCY_P95_SLACK_S = 0.5
WARMUP_MAX_S = 120.0
WINDOW_MAX_S = 300.0
SETTLE_MAX_S = 90.0
STOP_TIMEOUT_S = 90.0


class SoakSetupError(Exception):
    """The soak could not be set up (missing tool or media, a server that did not start)."""


@dataclass(frozen=True, slots=True)
class SoakSettings:
    cameras: int
    duration_s: float
    sample_s: float
    detect_fps: float
    detect_width_px: int
    preroll_s: float
    postroll_s: float
    review: str
    max_drop_pct: float
    work_dir: Path
    keep: bool

    @property
    def warmup_s(self) -> float:
        return min(WARMUP_MAX_S, 0.2 * self.duration_s)

    @property
    def window_s(self) -> float:
        return min(WINDOW_MAX_S, (self.duration_s - self.warmup_s) / 2)


# ----- media, servers, config -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraPlan:
    camera_id: str
    profile: str
    clip: Path
    camera: dict[str, Any]  # the camera's config block from the suite, source not yet set
    detector: dict[str, Any] | None


def make_media(media_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The scenario suites (generated once, then reused): name -> (dir, its suite.yaml)."""
    out = {}
    for name, (scenes, quick) in SUITES.items():
        try:
            suite_dir = generate_suite(
                media_dir / name, seed=MEDIA_SEED, quick=quick, scenes=scenes, log=lambda _: None
            )
        except (AssetError, ScenarioError, ValueError, OSError) as exc:
            raise SoakSetupError(
                f"scenario media could not be made in {media_dir / name}: {exc}"
            ) from None
        out[name] = suite_dir, yaml.safe_load((suite_dir / "suite.yaml").read_text())
    return out


def plan_cameras(count: int, suites: dict[str, tuple[Path, dict[str, Any]]]) -> list[CameraPlan]:
    """``count`` cameras taking the lane, lift and facade profiles in turn; cameras of a profile
    take its positive clips in turn (the facade has three different falls)."""
    plans = []
    used: Counter[str] = Counter()
    for index in range(count):
        profile, suite_name, prefix = PROFILES[index % len(PROFILES)]
        suite_dir, suite = suites[suite_name]
        clips = [c for c in suite["clips"] if c["id"].startswith(prefix) and c["expected"]]
        if not clips:
            raise SoakSetupError(f"the suite in {suite_dir} has no positive {prefix}* clip")
        entry = clips[used[profile] % len(clips)]
        used[profile] += 1
        raw = yaml.safe_load((suite_dir / entry["config"]).read_text())
        detector = raw.get("detector")
        if detector is not None:  # its file paths are relative to the suite's config
            base = (suite_dir / entry["config"]).parent
            detector = {
                key: str(base.joinpath(value).resolve())
                if key in ("model", "labels_file")
                else value
                for key, value in detector.items()
            }
        plans.append(
            CameraPlan(
                camera_id=f"{profile}{index + 1:02d}",
                profile=profile,
                clip=suite_dir / entry["video"],
                camera=dict(raw["cameras"][entry["camera"]]),
                detector=detector,
            )
        )
    return plans


def write_config(
    plans: Sequence[CameraPlan], urls: dict[str, str], settings: SoakSettings, path: Path
) -> None:
    cameras: dict[str, Any] = {}
    detector = None
    for plan in plans:
        camera = {
            **plan.camera,
            "name": f"soak {plan.profile} {plan.camera_id}",
            "source": urls[plan.camera_id],
            "preroll_s": settings.preroll_s,
            "postroll_s": settings.postroll_s,
        }
        if plan.detector is not None:
            camera["detect"] = {"fps": settings.detect_fps, "width": settings.detect_width_px}
            detector = plan.detector
        cameras[plan.camera_id] = camera
    config: dict[str, Any] = {"site": {"id": "soak", "name": "Soak"}, "cameras": cameras}
    if detector is not None:
        config["detector"] = detector
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def start_up(config: Path, data_dir: Path, port: int, redis_url: str, token: str, log: Path) -> Any:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HAZARDWATCH_ADMIN_TOKEN": token}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hazardwatch", "up", "--config", str(config),
             "--data-dir", str(data_dir), "--port", str(port), "--redis-url", redis_url],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO,
            preexec_fn=die_with_parent,
        )  # fmt: skip


def stop_up(proc: Any) -> tuple[int | None, float]:
    """SIGTERM, wait; returns the exit code (None if it had to be killed) and the seconds taken."""
    started = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, time.monotonic() - started
    return proc.returncode, time.monotonic() - started


# ----- what the system says: API and stream ------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {'name{labels}': value} (labels as written)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


@dataclass(slots=True)
class HazardStart:
    camera_id: str
    kind: str
    started_at: float  # epoch s: the rule's decision (wall clock of the frame)
    published_at: float  # epoch s: the XADD (stream entry id)
    seen_at: float | None = None  # epoch s: first ticket poll that showed it

    @property
    def latency_s(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.started_at


@dataclass
class Observed:
    """Hazard starts from the stream and what the ticket polls saw."""

    starts: dict[str, HazardStart] = field(default_factory=dict)
    phases: Counter[str] = field(default_factory=Counter)
    duplicate_starts: int = 0
    seen_before_start: dict[str, float] = field(default_factory=dict)
    last_stream_id: str = "0-0"
    reviewed: int = 0
    review_failures: Counter[str] = field(default_factory=Counter)

    def read_stream(self, client: redis.Redis) -> None:
        while True:
            reply: Any = client.xread({EVENTS_STREAM: self.last_stream_id}, count=500)
            if not reply:
                return
            for entry_id, fields in reply[0][1]:
                self.last_stream_id = entry_id.decode()
                self._add_entry(self.last_stream_id, fields)

    def _add_entry(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        event = json.loads(fields[b"event"])
        self.phases[event["phase"]] += 1
        if event["phase"] != "start":
            return
        hazard_id = event["hazard_id"]
        if hazard_id in self.starts:
            self.duplicate_starts += 1
            return
        start = HazardStart(
            camera_id=event["camera_id"],
            kind=event["kind"],
            started_at=datetime.fromisoformat(event["started_at"]).timestamp(),
            published_at=int(entry_id.split("-")[0]) / 1000,
        )
        start.seen_at = self.seen_before_start.pop(hazard_id, None)
        self.starts[hazard_id] = start

    def poll_tickets(self, api: httpx.Client, review: bool) -> None:
        response = api.get("/tickets", params={"status": "discovered", "limit": 1000})
        response.raise_for_status()
        now = time.time()
        for ticket in response.json()["items"]:
            for hazard_id in ticket["hazard_ids"]:
                start = self.starts.get(hazard_id)
                if start is None:
                    self.seen_before_start.setdefault(hazard_id, now)
                elif start.seen_at is None:
                    start.seen_at = now
            if review:
                self._reject(api, ticket["id"])

    def _reject(self, api: httpx.Client, ticket_id: str) -> None:
        answer = api.post(
            f"/tickets/{ticket_id}/transition", json={"to": "rejected", "note": "soak: reviewed"}
        )
        if answer.status_code == 200:
            self.reviewed += 1
        else:
            self.review_failures[f"{answer.status_code}: {answer.text[:200]}"] += 1


def all_tickets(api: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = api.get("/tickets", params={"limit": 1000, "offset": len(items)})
        page.raise_for_status()
        body = page.json()
        items += body["items"]
        if not body["items"] or len(items) >= body["total"]:
            return items


# ----- sampling ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    t_s: float  # since the measured period began
    rss_kb: int
    fds: int
    threads: int
    cpu_s: float
    pids: int
    cores_up: float  # CPU of `up` and children since the previous sample, in cores
    cores_box: float  # the whole machine's busy cores since the previous sample
    cores_rtsp: float
    cameras: dict[str, dict[str, Any]]
    frames_in: int
    frames_dropped: int
    reconnects: int
    tickets: int
    hazard_starts: int
    dead_letters: float
    service_duplicates: float
    redis_used_kb: int


class Sampler:
    def __init__(self, up_pid: int, rtsp_pid: int, ncpu: int) -> None:
        self.up_pid, self.rtsp_pid, self.ncpu = up_pid, rtsp_pid, ncpu
        self._last = (time.monotonic(), proc_sample(up_pid).cpu_s, box_cpu())
        self._rtsp_cpu = proc_sample(rtsp_pid).cpu_s

    def take(
        self, t_s: float, api: httpx.Client, rclient: redis.Redis, observed: Observed
    ) -> Sample:
        now, proc, box = time.monotonic(), proc_sample(self.up_pid), box_cpu()
        rtsp_cpu = proc_sample(self.rtsp_pid).cpu_s
        then, cpu_then, box_then = self._last
        wall = max(now - then, 1e-6)
        cores_box = self.ncpu * (box[0] - box_then[0]) / max(box[1] - box_then[1], 1.0)
        cores_rtsp = (rtsp_cpu - self._rtsp_cpu) / wall
        self._last, self._rtsp_cpu = (now, proc.cpu_s, box), rtsp_cpu
        cameras = api.get("/health").json()["cameras"]
        metrics = parse_metrics(api.get("/metrics").text)
        tickets = int(api.get("/tickets", params={"limit": 1}).json()["total"])
        return Sample(
            t_s=round(t_s, 1), rss_kb=proc.rss_kb, fds=proc.fds, threads=proc.threads,
            cpu_s=round(proc.cpu_s, 2), pids=proc.pids,
            cores_up=round((proc.cpu_s - cpu_then) / wall, 3), cores_box=round(cores_box, 3),
            cores_rtsp=round(cores_rtsp, 3), cameras=cameras,
            frames_in=sum(int(c.get("frames_in", 0)) for c in cameras.values()),
            frames_dropped=sum(int(c.get("dropped", 0)) for c in cameras.values()),
            reconnects=sum(int(c.get("reconnects", 0)) for c in cameras.values()),
            tickets=tickets, hazard_starts=len(observed.starts),
            dead_letters=metrics.get("hazardwatch_service_dead_letters", math.nan),
            service_duplicates=metrics.get("hazardwatch_service_duplicates", math.nan),
            redis_used_kb=int(rclient.info("memory")["used_memory"]) // 1024,
        )  # fmt: skip


def progress_line(sample: Sample, observed: Observed, t0_epoch: float) -> str:
    fps_in = [float(c.get("fps_in", 0.0)) for c in sample.cameras.values()]
    states = Counter(str(c.get("state")) for c in sample.cameras.values())
    recent = [
        s.latency_s
        for s in observed.starts.values()
        if s.latency_s is not None and s.started_at >= t0_epoch + sample.t_s - 60
    ]
    lat = (
        f"p50 {percentile(recent, 50):.2f} s p95 {percentile(recent, 95):.2f} s" if recent else "-"
    )
    minutes, seconds = divmod(int(sample.t_s), 60)
    return (
        f"[{minutes:3d}:{seconds:02d}] rss {sample.rss_kb / 1024:7.1f} MB  fds {sample.fds:4d}  "
        f"threads {sample.threads:3d}  cpu {sample.cores_up:4.2f} cores "
        f"(box {sample.cores_box:4.2f})"
        f"  fps_in {min(fps_in, default=0):4.1f}-{max(fps_in, default=0):4.1f}  "
        f"dropped {sample.frames_dropped}  cams {dict(states)}  hazards {sample.hazard_starts}  "
        f"tickets {sample.tickets}  latency(last 60 s) {lat}"
    )


# ----- judging ----------------------------------------------------------------------------------


def window_median(samples: Sequence[Sample], attr: str, lo_s: float, hi_s: float) -> float:
    values = [getattr(s, attr) for s in samples if lo_s <= s.t_s <= hi_s]
    if not values:
        raise ValueError(f"no samples between {lo_s:.0f} s and {hi_s:.0f} s: lower --sample-s")
    return float(statistics.median(values))


def judge_resources(samples: Sequence[Sample], settings: SoakSettings) -> dict[str, Any]:
    w, span, end = settings.warmup_s, settings.window_s, settings.duration_s
    first = (w, w + span)
    last = (end - span, end)
    out: dict[str, Any] = {"first_window_s": first, "last_window_s": last}
    for attr in ("rss_kb", "fds", "threads"):
        a = window_median(samples, attr, *first)
        b = window_median(samples, attr, *last)
        out[attr] = {"first_median": a, "last_median": b, "growth": b - a,
                     "max": max(getattr(s, attr) for s in samples)}  # fmt: skip
    rss = out["rss_kb"]
    rss["slope_mb_per_min"] = round(
        slope([(s.t_s, s.rss_kb / 1024) for s in samples if s.t_s >= w]) * 60, 2
    )
    rss["drift_pct"] = round(
        100 * (rss["last_median"] - rss["first_median"]) / rss["first_median"], 2
    )
    judged = [s for s in samples if s.t_s > w]
    out["cores_up_mean"] = round(statistics.fmean(s.cores_up for s in judged), 3)
    out["cores_box_mean"] = round(statistics.fmean(s.cores_box for s in judged), 3)
    out["cores_rtsp_mean"] = round(statistics.fmean(s.cores_rtsp for s in judged), 3)
    return out


def latency_windows(
    starts: Sequence[HazardStart],
    samples: Sequence[Sample],
    settings: SoakSettings,
    t0_epoch: float,
) -> list[dict[str, Any]]:
    span = settings.duration_s - settings.warmup_s
    count = max(1, round(span / settings.window_s))
    size = span / count
    windows = []
    for index in range(count):
        lo = settings.warmup_s + index * size
        inside = [s for s in starts if lo <= s.started_at - t0_epoch < lo + size]
        seen = [s for s in inside if s.latency_s is not None]
        row: dict[str, Any] = {"from_s": round(lo), "to_s": round(lo + size),
                               "hazards": len(inside), "measured": len(seen)}  # fmt: skip
        # how busy `up` and the whole box were meanwhile (latency rises with contention)
        cpu = [x for x in samples if lo < x.t_s <= lo + size]
        if cpu:
            row["cores_up"] = round(statistics.fmean(x.cores_up for x in cpu), 2)
            row["cores_box"] = round(statistics.fmean(x.cores_box for x in cpu), 2)
        if seen:
            for name, values in (
                ("latency", [s.latency_s for s in seen if s.latency_s is not None]),
                ("to_publish", [s.published_at - s.started_at for s in seen]),
                ("publish_to_ticket", [s.seen_at - s.published_at for s in seen if s.seen_at]),
            ):
                row[f"{name}_p50_s"] = round(percentile(values, 50), 3)
                row[f"{name}_p95_s"] = round(percentile(values, 95), 3)
        windows.append(row)
    return windows


def reconcile(observed: Observed, tickets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    holders: Counter[str] = Counter()
    for ticket in tickets:
        holders.update(ticket["hazard_ids"])
    started = set(observed.starts)
    ticketed = set(holders)
    return {
        "hazard_starts": len(started),
        "tickets": len(tickets),
        "ticketed_hazards": len(ticketed),
        "missing": sorted(started - ticketed)[:20],
        "missing_count": len(started - ticketed),
        "orphans_count": len(ticketed - started),
        "in_two_tickets_count": sum(1 for n in holders.values() if n > 1),
        "duplicate_starts": observed.duplicate_starts,
        "phases": dict(observed.phases),
        "latency_unmeasured": sum(1 for s in observed.starts.values() if s.seen_at is None),
    }


def criteria(report: dict[str, Any], settings: SoakSettings) -> dict[str, tuple[bool, str]]:
    res, tick, windows = report["resources"], report["tickets"], report["latency_windows"]
    rss, fds, thr = res["rss_kb"], res["fds"], res["threads"]
    p95 = [w["latency_p95_s"] for w in windows if "latency_p95_s" in w]
    bound = p95[0] * LATENCY_P95_FACTOR + LATENCY_P95_SLACK_S if p95 else math.nan
    drops, frames = report["frames_dropped_after_warmup"], report["frames_in_after_warmup"]
    drop_pct = 100 * drops / max(frames, 1)
    quiet = [c for c, n in report["hazards_after_warmup_by_camera"].items() if n == 0]
    up = report["up"]
    return {
        "rss_drift": (abs(rss["drift_pct"]) <= RSS_DRIFT_MAX_PCT,
                      f"{rss['drift_pct']:+.1f} % (limit ±{RSS_DRIFT_MAX_PCT:g} %)"),
        "fd_growth": (fds["growth"] <= FD_GROWTH_MAX,
                      f"{fds['first_median']:.0f} -> {fds['last_median']:.0f} "
                      f"(limit +{FD_GROWTH_MAX})"),
        "thread_growth": (thr["growth"] <= THREAD_GROWTH_MAX,
                          f"{thr['first_median']:.0f} -> {thr['last_median']:.0f} "
                          f"(limit +{THREAD_GROWTH_MAX})"),
        "latency_stable": (bool(p95) and p95[-1] <= bound,
                           f"p95 of the last window {p95[-1] if p95 else math.nan} s (limit "
                           f"{bound:.2f} s = first window's x{LATENCY_P95_FACTOR:g} + "
                           f"{LATENCY_P95_SLACK_S:g} s); all windows {p95}"),
        "no_ticket_lost_or_duplicated": (
            tick["missing_count"] == 0 and tick["orphans_count"] == 0
            and tick["in_two_tickets_count"] == 0 and tick["duplicate_starts"] == 0
            and report["dead_letters"] == 0,
            f"{tick['hazard_starts']} starts, {tick['missing_count']} missing, "
            f"{tick['orphans_count']} orphans, {tick['in_two_tickets_count']} in two tickets, "
            f"{tick['duplicate_starts']} duplicate starts, {report['dead_letters']} dead letters"),
        "keeps_up": (drop_pct <= settings.max_drop_pct,
                     f"{drops} of {frames} frames dropped ({drop_pct:.2f} %, "
                     f"limit {settings.max_drop_pct:g} %)"),
        "hazards_on_every_camera": (not quiet, f"cameras without hazards: {quiet or 'none'}"),
        "no_password_in_output": (report["password_in_output"] == 0,
                                  f"{report['password_in_output']} occurrences"),
        "up_ran_and_stopped_cleanly": (up["alive_at_end"] and up["exit_code"] == 0,
                                       f"alive at end {up['alive_at_end']}, exit code "
                                       f"{up['exit_code']} after {up['stop_s']:.1f} s"),
    }  # fmt: skip


# ----- the run ----------------------------------------------------------------------------------


@dataclass
class Run:
    """The live parts of one soak, set up by :func:`setup`."""

    proc: Any
    api: httpx.Client
    rclient: redis.Redis
    rtsp: RtspServerProcess
    log: Path
    password: str
    plans: list[CameraPlan]


def _wait_streaming(run: Run, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            raise SoakSetupError(
                f"hazardwatch up exited with {run.proc.returncode}:\n{_tail(run.log)}"
            )
        with contextlib.suppress(httpx.HTTPError, ValueError):
            cameras = run.api.get("/health").json()["cameras"]
            states = {cid: c.get("state") for cid, c in cameras.items()}
            if states and all(s == "streaming" for s in states.values()):
                return
        time.sleep(0.5)
    raise SoakSetupError(f"cameras not all streaming after {timeout_s:.0f} s: {states}")


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(no output)"
    return text[-chars:]


def setup(settings: SoakSettings, stack: contextlib.ExitStack) -> Run:
    for binary in ("redis-server", "ffmpeg"):
        if shutil.which(binary) is None:
            raise SoakSetupError(f"{binary} not found on PATH (make deps)")
    plans = plan_cameras(settings.cameras, make_media(settings.work_dir / "media"))
    password = "s0ak:p@ss/" + secrets.token_hex(6)  # ':', '@', '/' percent-encoded in the URL
    rtsp = RtspServerProcess(
        {f"/{p.camera_id}": f"file:{p.clip}" for p in plans},
        work_dir=settings.work_dir / "rtsp",
        user=RTSP_USER,
        password=password,
        ready_timeout_s=60,
    )
    stack.callback(rtsp.stop)
    redis_server = RedisServerProcess(settings.work_dir / "redis")
    stack.callback(redis_server.stop)
    try:
        rtsp.start()
        redis_server.start()
    except ServerStartError as exc:
        raise SoakSetupError(str(exc)) from None
    urls = {p.camera_id: rtsp.url(p.camera_id, RTSP_USER, password) for p in plans}
    config = settings.work_dir / "soak.yaml"
    write_config(plans, urls, settings, config)
    token = secrets.token_urlsafe(24)
    port = free_port()
    log = settings.work_dir / "up.log"
    proc = start_up(config, settings.work_dir / "data", port, redis_server.url, token, log)
    stack.callback(stop_up, proc)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    stack.callback(api.close)
    rclient = redis_server.client(timeout_s=5)
    stack.callback(rclient.close)
    run = Run(proc, api, rclient, rtsp, log, password, plans)
    _wait_streaming(run, timeout_s=180)
    return run


def measure(run: Run, settings: SoakSettings) -> tuple[list[Sample], Observed, float, Counter[str]]:
    """The measured period: poll, read, sample until the duration is over (or `up` died)."""
    observed, samples, errors = Observed(), [], Counter[str]()
    sampler = Sampler(run.proc.pid, run.rtsp.pid or 0, os.cpu_count() or 1)
    t0_epoch, t0 = time.time(), time.monotonic()
    next_poll = next_read = t0
    next_sample = t0 + settings.sample_s
    while run.proc.poll() is None:
        now = time.monotonic()
        if now - t0 >= settings.duration_s:
            break
        try:
            if now >= next_read:
                next_read = now + STREAM_READ_S
                observed.read_stream(run.rclient)
            if now >= next_poll:
                next_poll = now + TICKET_POLL_S
                observed.poll_tickets(run.api, settings.review == "reject")
            if now >= next_sample:
                next_sample += settings.sample_s
                sample = sampler.take(now - t0, run.api, run.rclient, observed)
                samples.append(sample)
                print(progress_line(sample, observed, t0_epoch), flush=True)
        except (httpx.HTTPError, redis.RedisError, ValueError, KeyError) as exc:
            errors[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1  # counted and reported
        time.sleep(max(0.0, min(next_poll, next_read, next_sample) - time.monotonic()))
    return samples, observed, t0_epoch, errors


def settle(run: Run, observed: Observed, settings: SoakSettings, review: bool) -> float:
    """After the period: let hazards decided before its end reach their tickets."""
    started = time.monotonic()
    quiet_until = started + settings.postroll_s + 10
    while time.monotonic() - started < SETTLE_MAX_S and run.proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError, redis.RedisError):
            observed.read_stream(run.rclient)
            observed.poll_tickets(run.api, review)
        pending = [s for s in observed.starts.values() if s.seen_at is None]
        if time.monotonic() >= quiet_until and not pending:
            break
        time.sleep(TICKET_POLL_S)
    return time.monotonic() - started


def soak(settings: SoakSettings) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        run = setup(settings, stack)
        print(
            f"soak: {len(run.plans)} cameras streaming "
            f"({', '.join(p.camera_id for p in run.plans)}); "
            f"measuring {settings.duration_s / 60:g} min, warm-up {settings.warmup_s:.0f} s, "
            f"windows {settings.window_s:.0f} s; work dir {settings.work_dir}",
            flush=True,
        )
        samples, observed, t0_epoch, errors = measure(run, settings)
        alive = run.proc.poll() is None
        settle_s = settle(run, observed, settings, settings.review == "reject")
        tickets = all_tickets(run.api) if run.proc.poll() is None else []
        metrics = parse_metrics(run.api.get("/metrics").text) if run.proc.poll() is None else {}
        exit_code, stop_s = stop_up(run.proc)
        output = run.log.read_text(errors="replace")
        leaks = sum(output.count(f) for f in {run.password, quote(run.password, safe="")})
        report = build_report(settings, samples, observed, t0_epoch, tickets, metrics)
        report["up"] = {"alive_at_end": alive, "exit_code": exit_code, "stop_s": stop_s,
                        "log_tail": output[-1500:] if exit_code != 0 else ""}  # fmt: skip
        report["settle_s"] = round(settle_s, 1)
        report["password_in_output"] = leaks
        report["loop_errors"] = dict(errors)
        report["review_failures"] = dict(observed.review_failures)
        report["reviewed"] = observed.reviewed
        report["cameras"] = {p.camera_id: {"profile": p.profile, "clip": p.clip.name}
                             for p in run.plans}  # fmt: skip
    return report


def build_report(
    settings: SoakSettings,
    samples: list[Sample],
    observed: Observed,
    t0_epoch: float,
    tickets: list[dict[str, Any]],
    metrics: dict[str, float],
) -> dict[str, Any]:
    if len(samples) < 3:
        raise SoakSetupError(f"only {len(samples)} samples were taken: `up` died early?")
    after = [s for s in samples if s.t_s >= settings.warmup_s] or samples[-1:]
    base = after[0]
    by_camera: Counter[str] = Counter({p: 0 for p in samples[-1].cameras})
    for start in observed.starts.values():
        if start.started_at - t0_epoch >= settings.warmup_s:
            by_camera[start.camera_id] += 1
    starts = list(observed.starts.values())
    latencies = [s.latency_s for s in starts if s.latency_s is not None]
    return {
        "settings": {**asdict(settings), "work_dir": str(settings.work_dir),
                     "warmup_s": settings.warmup_s, "window_s": settings.window_s},
        "latency_definition": "ticket first seen by GET /tickets (0.5 s polls) minus the "
        "event's started_at (wall clock of the deciding frame); includes the post-roll",
        "resources": judge_resources(samples, settings),
        "latency_windows": latency_windows(starts, samples, settings, t0_epoch),
        "latency_all": {"p50_s": round(percentile(latencies, 50), 3),
                        "p95_s": round(percentile(latencies, 95), 3),
                        "max_s": round(max(latencies), 3)} if latencies else {},
        "tickets": reconcile(observed, tickets),
        "dead_letters": metrics.get("hazardwatch_service_dead_letters", math.nan),
        "service_duplicates": metrics.get("hazardwatch_service_duplicates", math.nan),
        "frames_in_after_warmup": samples[-1].frames_in - base.frames_in,
        "frames_dropped_after_warmup": samples[-1].frames_dropped - base.frames_dropped,
        "reconnects": samples[-1].reconnects,
        "hazards_after_warmup_by_camera": dict(by_camera),
        "samples": [asdict(s) for s in samples],
    }  # fmt: skip


def print_summary(report: dict[str, Any], verdict: dict[str, tuple[bool, str]]) -> None:
    res = report["resources"]
    print(f"\nlatency = {report['latency_definition']}")
    print(
        "window        hazards  latency p50/p95 s  decision->publish p50/p95  "
        "publish->ticket p50/p95  cores up/box"
    )
    for w in report["latency_windows"]:
        if "latency_p50_s" not in w:
            print(f"{w['from_s']:5d}-{w['to_s']:5d} s  {w['hazards']:6d}  (none measured)")
            continue
        print(
            f"{w['from_s']:5d}-{w['to_s']:5d} s  {w['hazards']:6d}  "
            f"{w['latency_p50_s']:7.2f} / {w['latency_p95_s']:5.2f}     "
            f"{w['to_publish_p50_s']:7.2f} / {w['to_publish_p95_s']:5.2f}          "
            f"{w['publish_to_ticket_p50_s']:6.3f} / {w['publish_to_ticket_p95_s']:6.3f}    "
            f"{w.get('cores_up', math.nan):4.2f} / {w.get('cores_box', math.nan):4.2f}"
        )
    rss = res["rss_kb"]
    print(
        f"RSS first/last window median {rss['first_median'] / 1024:.1f} / "
        f"{rss['last_median'] / 1024:.1f} MB (drift {rss['drift_pct']:+.1f} %, trend "
        f"{rss['slope_mb_per_min']:+.2f} MB/min after the warm-up, max "
        f"{rss['max'] / 1024:.1f} MB); CPU of up {res['cores_up_mean']:.2f} cores, whole box "
        f"{res['cores_box_mean']:.2f}, RTSP server {res['cores_rtsp_mean']:.2f}"
    )
    t = report["tickets"]
    print(
        f"hazard starts {t['hazard_starts']}, tickets {t['tickets']}, reviewed "
        f"{report['reviewed']}, latency unmeasured {t['latency_unmeasured']}, reconnects "
        f"{report['reconnects']}, loop errors {sum(report['loop_errors'].values())}"
    )
    for name, (ok, detail) in verdict.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")


def parse_args(argv: Sequence[str] | None) -> tuple[SoakSettings, Path | None]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--cameras", type=int, default=8, help="cameras (lane, lift, facade in turn)"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="measured period")
    parser.add_argument("--sample-s", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--json", type=Path, help="write the full report (with samples) here")
    parser.add_argument("--detect-fps", type=float, default=3.0, help="lane and lift cameras")
    parser.add_argument("--detect-width", type=int, default=416, help="pixels, before the detector")
    parser.add_argument("--preroll-s", type=float, default=5.0)
    parser.add_argument("--postroll-s", type=float, default=5.0)
    parser.add_argument("--review", choices=("reject", "none"), default="reject",
                        help="reject each new ticket (default) or leave tickets open")  # fmt: skip
    parser.add_argument("--max-drop-pct", type=float, default=1.0)
    parser.add_argument("--work-dir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (evidence, logs)")
    args = parser.parse_args(argv)
    problems = [
        f"{name} must be {rule}"
        for name, ok, rule in (
            ("--cameras", 1 <= args.cameras <= 32, "1..32"),
            ("--minutes", 0.5 <= args.minutes <= 24 * 60, "0.5..1440"),
            ("--sample-s", 1 <= args.sample_s <= 300, "1..300"),
            ("--detect-fps", 0.5 <= args.detect_fps <= 25, "0.5..25"),
            ("--max-drop-pct", 0 <= args.max_drop_pct <= 100, "0..100"),
        )
        if not ok
    ]
    if problems:
        parser.error("; ".join(problems))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="hw-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = SoakSettings(
        cameras=args.cameras, duration_s=args.minutes * 60, sample_s=args.sample_s,
        detect_fps=args.detect_fps, detect_width_px=args.detect_width, preroll_s=args.preroll_s,
        postroll_s=args.postroll_s, review=args.review, max_drop_pct=args.max_drop_pct,
        work_dir=work.resolve(), keep=args.keep or args.work_dir is not None,
    )  # fmt: skip
    if settings.window_s < 2 * settings.sample_s:
        parser.error(
            f"a window of {settings.window_s:.0f} s holds fewer than 2 samples of "
            f"{settings.sample_s:g} s: lower --sample-s or raise --minutes"
        )
    return settings, args.json


def main(argv: Sequence[str] | None = None) -> int:
    settings, json_out = parse_args(argv)
    try:
        report = soak(settings)
    except SoakSetupError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        if not settings.keep:
            shutil.rmtree(settings.work_dir, ignore_errors=True)
    verdict = criteria(report, settings)
    report["criteria"] = {name: {"pass": ok, "detail": d} for name, (ok, d) in verdict.items()}
    report["pass"] = all(ok for ok, _ in verdict.values())
    print_summary(report, verdict)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2, default=str))
        print(f"report: {json_out}")
    print("soak: PASS" if report["pass"] else "soak: FAIL")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
