"""One trial of ``hazardwatch bench``: N cameras played in real time into ``hazardwatch run``,
sampled every second.

The parts are the real ones, on loopback: a redis-server the bench starts (flushed between
trials), optionally a gst-rtsp-server with one mount per camera (``--source rtsp``; its own CPU is
measured apart, since it shares the box), and ``hazardwatch run`` as a child process with an
N-camera config (``--workers`` passed through). Every second the harness reads from /proc the CPU
(utime + stime), RSS, PSS, threads and fds of the run's whole process tree (its workers are
children), the machine's busy cores, and from Redis each camera's status record (frames in,
drops, stage_ms, detector runs and skips, lag_ms_p50/p95, overloaded...). Hazard starts are read
from ``hazardwatch:events`` at the end of the measured period.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import redis
import yaml

from benchmarks.capacity.media import CameraMedia, KindMedia, camera_media, make_kind
from benchmarks.capacity.procfs import alive, box_cpu, children, cpu_cores, proc_sample
from benchmarks.capacity.profiles import CameraProfile, DetectorSpec, camera_profiles
from benchmarks.capacity.verdict import (
    EventSeen,
    Sample,
    TrialMetrics,
    Verdict,
    bottleneck,
    estimate_cameras,
    judge,
    next_cameras,
    trial_metrics,
    warmup_s,
)
from benchmarks.scenarios import facade, lane, lift
from pipelines.linux import die_with_parent
from tests.support.servers import RedisServerProcess, RtspServerProcess, ServerStartError

REPO = Path(__file__).resolve().parents[2]
CAMERA_STATUS_KEY = "hazardwatch:camera_status"  # pipelines/publish.py
EVENTS_STREAM = "hazardwatch:events"
SAMPLE_S = 1.0
STOP_TIMEOUT_S = 90.0  # above run's own 60 s for its workers: it must not be killed first


class BenchError(Exception):
    """The bench cannot go on (a server or the run would not start, media missing)."""


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """What ``hazardwatch bench`` was asked for (see hazardwatch/bench.py for each option)."""

    profile: str
    cameras: int | None  # None: --cameras auto
    duration_s: float
    substream: bool
    source: str  # file | rtsp
    workers: str | None
    size: tuple[int, int] | None
    max_cameras: int
    max_trials: int
    references: bool
    work_dir: Path

    def profiles(self, count: int) -> list[CameraProfile]:
        out = camera_profiles(self.profile, count)
        return [p.resized(*self.size) for p in out] if self.size else out


@dataclass
class TrialResult:
    """A finished trial: its cameras, numbers, verdict and bottleneck."""

    cameras: int
    metrics: TrialMetrics
    verdict: Verdict
    bottleneck: tuple[str, str]
    kinds: dict[str, str]  # camera id -> lane|lift|facade
    offsets_s: dict[str, float]
    run_exit_code: int | None
    log_tail: str = ""


# ----- config --------------------------------------------------------------------------------


def camera_block(
    profile: CameraProfile, media: CameraMedia, sources: tuple[str, str | None]
) -> dict[str, Any]:
    """The camera's config entry: the generator's scene config with the profile's rates."""
    if profile.name == "lane":
        block = lane.camera_config()
    elif profile.name == "lift":
        block = lift.lift_camera_config()
    else:
        block = facade.camera_config(facade.FacadeGeometry.standard())
    block = dict(block, name=f"bench {profile.name} (loop from {media.offset_s:g} s)")
    source, evidence = sources
    block["source"] = source
    if evidence is not None:
        block["evidence_source"] = evidence
    if profile.detector is not None and profile.detect_fps is not None:
        block["detect"] = {
            "fps": profile.detect_fps,
            "width": profile.detect_width_px,
            "model": profile.detector.name,
        }
    else:
        block.pop("detect", None)
    if profile.motion_fps is not None:
        block["motion"] = {"fps": profile.motion_fps, "width": profile.motion_width_px}
    return block


def write_config(
    ids: Sequence[str],
    profiles: Sequence[CameraProfile],
    media: Sequence[CameraMedia],
    sources: Sequence[tuple[str, str | None]],
    path: Path,
) -> None:
    detectors: dict[str, DetectorSpec] = {}
    cameras = {}
    for cid, profile, files, urls in zip(ids, profiles, media, sources, strict=True):
        cameras[cid] = camera_block(profile, files, urls)
        if profile.detector is not None:
            detectors[profile.detector.name] = profile.detector
    config: dict[str, Any] = {"site": {"id": "bench", "name": "hazardwatch bench"}}
    if detectors:
        config["detectors"] = {name: d.config() for name, d in detectors.items()}
    config["cameras"] = cameras
    path.write_text(yaml.safe_dump(config, sort_keys=False))


# ----- progress --------------------------------------------------------------------------------


class Progress:
    """One updating line on a terminal; plain lines (every ``plain_every_s``) otherwise."""

    def __init__(self, stream: IO[str] = sys.stdout, plain_every_s: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.plain_every_s = plain_every_s
        self._last_plain = -1e9
        self._open_line = False

    def update(self, text: str) -> None:
        if self.tty:
            columns = os.get_terminal_size(self.stream.fileno()).columns
            width = columns - 1 if columns > 20 else 119  # a pty may report 0 columns
            self.stream.write("\r" + text[:width].ljust(width))
            self._open_line = True
        elif time.monotonic() - self._last_plain >= self.plain_every_s:
            self._last_plain = time.monotonic()
            self.stream.write(text + "\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        """A line that stays (a trial's result, a setup step)."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()


# ----- one trial ---------------------------------------------------------------------------------


def _status(client: redis.Redis) -> dict[str, dict[str, Any]]:
    raw: Any = client.hgetall(CAMERA_STATUS_KEY)
    out = {}
    for key, value in raw.items():
        with contextlib.suppress(ValueError):
            out[key.decode()] = json.loads(value)
    return out


def _events(client: redis.Redis, since_epoch: float) -> list[EventSeen]:
    seen: list[EventSeen] = []
    last = "0-0"
    while True:
        reply: Any = client.xread({EVENTS_STREAM: last}, count=1000)
        if not reply:
            return seen
        for entry_id, fields in reply[0][1]:
            last = entry_id.decode()
            event = json.loads(fields[b"event"])
            decided = datetime.fromisoformat(event["started_at"]).timestamp()
            if event.get("phase") == "start" and decided >= since_epoch:
                published = int(last.split("-")[0]) / 1000
                seen.append(EventSeen(event["camera_id"], event["kind"], decided, published))


def _tail(path: Path, chars: int = 2500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no output)"


@dataclass
class Bench:
    """The bench's lasting parts: the redis-server, the media of each camera kind, progress."""

    settings: BenchSettings
    progress: Progress
    redis_server: RedisServerProcess | None = None
    kinds: dict[str, KindMedia] = field(default_factory=dict)
    cores: int = field(default_factory=cpu_cores)

    def __enter__(self) -> Bench:
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server = RedisServerProcess(self.settings.work_dir / "redis")
        try:
            self.redis_server.start()
        except ServerStartError as exc:
            raise BenchError(str(exc)) from None
        return self

    def __exit__(self, *_: object) -> None:
        if self.redis_server is not None:
            self.redis_server.stop()

    def _redis(self) -> RedisServerProcess:
        if self.redis_server is None:
            raise BenchError("the bench's redis-server is not running (use Bench as a context)")
        return self.redis_server

    def media(self, profiles: Sequence[CameraProfile]) -> list[CameraMedia]:
        for profile in profiles:
            if profile.name not in self.kinds:
                self.kinds[profile.name] = make_kind(profile, self.progress.line)
        return camera_media(self.kinds, list(profiles), self.settings.substream)

    def trial(self, count: int) -> TrialResult:
        """Run ``count`` cameras for the duration and judge it.

        Raises:
            BenchError: a server or the run could not be started, or the cameras never all
                streamed.
        """
        s = self.settings
        profiles = s.profiles(count)
        media = self.media(profiles)
        ids = [f"{p.name}{k + 1:02d}" for k, p in enumerate(profiles)]
        trial_dir = s.work_dir / f"trial-{count:02d}-{int(time.time())}"
        trial_dir.mkdir(parents=True)
        self.progress.line(
            f"trial {count} cameras ({_kind_counts(profiles)}): {s.duration_s:g} s, "
            f"warm-up {warmup_s(s.duration_s):g} s, {s.source} sources"
            + (", substreams" if s.substream else "")
        )
        with contextlib.ExitStack() as stack:
            rtsp = None
            if s.source == "rtsp":
                rtsp = self._rtsp(ids, media, trial_dir)
                stack.callback(rtsp.stop)
                sources = [
                    (rtsp.url(cid), rtsp.url(cid + "_main") if m.evidence_source else None)
                    for cid, m in zip(ids, media, strict=True)
                ]
            else:
                sources = [
                    (str(m.source), str(m.evidence_source) if m.evidence_source else None)
                    for m in media
                ]
            config = trial_dir / "bench.yaml"
            write_config(ids, profiles, media, sources, config)
            client = self._redis().client(timeout_s=5)
            stack.callback(client.close)
            client.flushdb()
            log = trial_dir / "run.log"
            proc = self._start_run(config, trial_dir / "data", log)
            stack.callback(_stop, proc)
            self._wait_streaming(proc, client, ids, log)
            samples, t0_epoch = self._measure(proc, client, ids, rtsp.pid if rtsp else None)
            events = _events(client, t0_epoch + warmup_s(s.duration_s))
            code = _stop(proc)
        with (trial_dir / "samples.jsonl").open("w") as out:
            for sample in samples:
                out.write(json.dumps(asdict(sample)) + "\n")
        try:
            metrics = trial_metrics(
                samples,
                {cid: float(p.main.fps) for cid, p in zip(ids, profiles, strict=True)},
                warmup_s(s.duration_s),
                self.cores,
                events,
            )
        except ValueError as exc:  # the run died early, or a camera never reported
            raise BenchError(f"trial of {count} cameras: {exc}; run output:\n{_tail(log)}") from exc
        verdict = judge(metrics)
        return TrialResult(
            cameras=count,
            metrics=metrics,
            verdict=verdict,
            bottleneck=bottleneck(metrics, verdict),
            kinds={cid: p.name for cid, p in zip(ids, profiles, strict=True)},
            offsets_s={cid: m.offset_s for cid, m in zip(ids, media, strict=True)},
            run_exit_code=code,
            log_tail=_tail(log) if not metrics.alive or code not in (0, None) else "",
        )

    def _rtsp(
        self, ids: Sequence[str], media: Sequence[CameraMedia], trial_dir: Path
    ) -> RtspServerProcess:
        mounts = {}
        for cid, m in zip(ids, media, strict=True):
            mounts[cid] = f"file:{m.source}"
            if m.evidence_source is not None:
                mounts[cid + "_main"] = f"file:{m.evidence_source}"
        server = RtspServerProcess(mounts, work_dir=trial_dir / "rtsp", ready_timeout_s=120)
        try:
            server.start()
        except ServerStartError as exc:
            raise BenchError(f"the RTSP server did not start: {exc}") from None
        return server

    def _start_run(self, config: Path, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "hazardwatch", "run", "--config", str(config),
                   "--data-dir", str(data_dir), "--redis-url", self._redis().url]  # fmt: skip
        if self.settings.workers is not None:
            command += ["--workers", self.settings.workers]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.settings.source == "file":
            env["HAZARDWATCH_LOOP_FILES"] = "1"
        with log.open("wb") as out:
            return subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=REPO, preexec_fn=die_with_parent,
            )  # fmt: skip

    def _wait_streaming(
        self, proc: subprocess.Popen[bytes], client: redis.Redis, ids: Sequence[str], log: Path
    ) -> None:
        timeout_s = 60.0 + 3.0 * len(ids)
        deadline = time.monotonic() + timeout_s
        states: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(
                    f"hazardwatch run exited with {proc.returncode} before streaming:\n{_tail(log)}"
                )
            status = _status(client)
            states = {cid: status.get(cid, {}).get("state") for cid in ids}
            self.progress.update(
                f"  starting {len(ids)} cameras: "
                f"{sum(v == 'streaming' for v in states.values())} streaming"
            )
            if all(v == "streaming" for v in states.values()):
                return
            time.sleep(0.5)
        raise BenchError(f"cameras not all streaming after {timeout_s:.0f} s: {states}")

    def _measure(
        self,
        proc: subprocess.Popen[bytes],
        client: redis.Redis,
        ids: Sequence[str],
        rtsp_pid: int | None,
    ) -> tuple[list[Sample], float]:
        duration = self.settings.duration_s
        samples: list[Sample] = []
        t0_epoch, t0 = time.time(), time.monotonic()
        box_then = box_cpu()
        next_at = t0
        while True:
            next_at += SAMPLE_S
            time.sleep(max(0.0, next_at - time.monotonic()))
            now = time.monotonic() - t0
            tree = proc_sample(proc.pid, detail=True)
            rtsp = proc_sample(rtsp_pid) if rtsp_pid else None
            box = box_cpu()
            busy = self.cores * (box[0] - box_then[0]) / max(box[1] - box_then[1], 1.0)
            box_then = box
            sample = Sample(
                t_s=round(now, 2), cpu_s=tree.cpu_s, rss_kb=tree.rss_kb, pss_kb=tree.pss_kb,
                threads=tree.threads, fds=tree.fds, pids=tree.pids, box_cores=round(busy, 3),
                rtsp_cpu_s=rtsp.cpu_s if rtsp else 0.0, cameras=_status(client),
                alive=proc.poll() is None,
                processes=tuple((u.pid, u.rss_kb, u.pss_kb) for u in tree.processes),
                rtsp_rss_kb=rtsp.rss_kb if rtsp else 0, bench_cpu_s=time.process_time(),
                threads_cpu_s=tree.threads_cpu_s or {},
            )  # fmt: skip
            samples.append(sample)
            self.progress.update(_progress_text(sample, ids, duration, self.cores))
            if not sample.alive or now >= duration:
                return samples, t0_epoch


def _kind_counts(profiles: Sequence[CameraProfile]) -> str:
    counts: dict[str, int] = {}
    for p in profiles:
        counts[p.name] = counts.get(p.name, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def _progress_text(sample: Sample, ids: Sequence[str], duration_s: float, cores: int) -> str:
    fps = [float(sample.cameras.get(c, {}).get("fps_in") or 0.0) for c in ids]
    lag = [
        float(v)
        for c in ids
        if isinstance(v := sample.cameras.get(c, {}).get("lag_ms_p95"), int | float)
    ]
    dropped = sum(int(sample.cameras.get(c, {}).get("dropped") or 0) for c in ids)
    lag_text = f"{max(lag):.0f} ms" if lag else "-"
    return (
        f"  {len(ids)} cameras  {sample.t_s:5.0f}/{duration_s:.0f} s  box {sample.box_cores:4.2f}/"
        f"{cores} cores  fps_in {min(fps, default=0):4.1f}-{max(fps, default=0):4.1f}  "
        f"lag p95 max {lag_text}  dropped {dropped}  rss {sample.rss_kb / 1024:.0f} MB"
    )


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, wait; the exit code (None if it had to be killed). Then no process of the run
    is left: its worker processes, still ending their hazards' evidence after a supervisor
    that had to be killed, would otherwise run on into the next trial and take its CPU."""
    tree = children(proc.pid)
    code: int | None = proc.returncode
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
    deadline = time.monotonic() + 10.0
    left = [pid for pid in tree if alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [pid for pid in left if alive(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        print(f"bench: killed {len(left)} process(es) of the run still ending", flush=True)
    return code


def search(bench: Bench, on_trial: Callable[[TrialResult], None]) -> list[TrialResult]:
    """``--cameras N``: one trial. ``--cameras auto``: a calibration trial with 2 cameras gives
    the CPU per camera-second, hence an estimate (cores x 1000 / it); real trials then go up
    or down from it and bisect (:func:`benchmarks.capacity.verdict.next_cameras`)."""
    s = bench.settings
    if s.cameras is not None:
        result = bench.trial(s.cameras)
        on_trial(result)
        return [result]
    results: list[TrialResult] = []
    calibration = bench.trial(min(2, s.max_cameras))
    on_trial(calibration)
    results.append(calibration)
    estimate = estimate_cameras(bench.cores, calibration.metrics.cpu_ms_per_camera_s, s.max_cameras)
    bench.progress.line(
        f"bench: {calibration.metrics.cpu_ms_per_camera_s:.0f} CPU ms per camera-second with "
        f"{calibration.cameras} cameras -> estimate {estimate} cameras on {bench.cores} cores"
    )
    trials = {calibration.cameras: calibration.verdict.real_time}
    while len(results) < s.max_trials:
        count = next_cameras(trials, estimate, s.max_cameras)
        if count is None:
            break
        result = bench.trial(count)
        on_trial(result)
        results.append(result)
        trials[count] = result.verdict.real_time
    return results
