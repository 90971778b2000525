"""From one trial's per-second samples to its numbers, its real-time verdict, the bottleneck, and
the next camera count of ``--cameras auto``. Pure: no processes, no clock; tests feed it recorded
samples.

Real time for N cameras (issue 10), judged after the warm-up:

- every camera's input rate (frames in / seconds) within 5 % of its clip's frame rate;
- no frame dropped from a queue, and no camera's detect rate lowered by the overload policy
  (``overloaded``): capacity is at the configured rates;
- analysis lag (frame captured to analysis done) p95 under 1 s;
- no growing backlog: the lag of the last third of the run is not above the first third's by more
  than ``BACKLOG_RISE_MS`` and ``BACKLOG_RISE_FRACTION``;
- the run process alive to the end, every camera streaming.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.capacity.procfs import slope
from pipelines.overload import percentile

FPS_TOLERANCE = 0.05
LAG_P95_LIMIT_MS = 1000.0
BACKLOG_RISE_MS = 250.0
BACKLOG_RISE_FRACTION = 0.25
STAGE_GROUPS = {  # stage_ms keys -> what the bottleneck is called
    "decode": "decode",
    "luma": "motion analysis",
    "motion_gate": "motion analysis",
    "motion_rules": "motion analysis",
    "inference": "inference",
    "tracking": "tracking and rules",
    "rules": "tracking and rules",
    "evidence": "evidence",
}
# Native thread names (pipelines/thread_names.py) -> what the bottleneck is called. The CPU of
# these threads is measured from /proc, unlike stage_ms (wall time inside the analysis thread).
THREAD_STAGES = {
    "source": "decode",
    "batching": "inference",
    "analysis": "analysis (gate, tracking, rules, motion)",
    "evidence": "evidence",
    "snapshots": "evidence",
    "clips": "evidence",
}
SATURATED_FRACTION = 0.85  # of the box's cores: below it a lagging run is not CPU bound
RTSP_SHARE_LIMIT = 0.25  # of the box's busy CPU: above it the RTSP server is named


@dataclass(frozen=True, slots=True)
class Sample:
    """One second of a trial.

    Attributes:
        t_s: seconds since the measured period began.
        cpu_s: utime + stime of the run process tree so far.
        rss_kb, pss_kb, threads, fds, pids: of the run process tree.
        box_cores: busy cores of the whole machine since the previous sample.
        rtsp_cpu_s: CPU of the RTSP server so far (0 with file sources).
        cameras: each camera's status record as the run published it (JSON).
        alive: the run process was alive.
        processes: (pid, rss_kb, pss_kb) of each process of the run's tree.
        rtsp_rss_kb: the RTSP server's resident memory (0 with file sources).
        bench_cpu_s: CPU of the bench process itself so far (the observer's own cost).
        threads_cpu_s: CPU seconds so far of the run's threads by kind (native thread name).
    """

    t_s: float
    cpu_s: float
    rss_kb: int
    pss_kb: int
    threads: int
    fds: int
    pids: int
    box_cores: float
    rtsp_cpu_s: float
    cameras: Mapping[str, Mapping[str, Any]]
    alive: bool = True
    processes: tuple[tuple[int, int, int], ...] = ()
    rtsp_rss_kb: int = 0
    bench_cpu_s: float = 0.0
    threads_cpu_s: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventSeen:
    """A hazard start read from ``hazardwatch:events``: decision (wall clock of the deciding
    frame) and the XADD time (the stream entry id)."""

    camera_id: str
    kind: str
    decided_at: float
    published_at: float

    @property
    def to_publish_s(self) -> float:
        return self.published_at - self.decided_at


@dataclass
class TrialMetrics:
    """What one trial measured after its warm-up (see :func:`trial_metrics`)."""

    cameras: int
    seconds: float
    cores: int
    cpu_ms_per_camera_s: float
    cores_used: float
    box_cores: float
    rtsp_cores: float
    fps_in: dict[str, float]
    clip_fps: dict[str, float]
    dropped: dict[str, int]
    reconnects: int
    not_streaming: list[str]
    stages_ms_per_camera_s: dict[str, float]
    detect_runs_per_camera_s: dict[str, float]
    detector_skips: int
    overloaded_cameras: list[str]
    detect_fps_effective: dict[str, float]
    lag_p50_ms: float | None
    lag_p95_ms: float | None
    lag_first_third_ms: float | None
    lag_last_third_ms: float | None
    lag_slope_ms_per_s: float | None
    rss_mb: float
    pss_mb: float
    trends: dict[str, dict[str, float]]
    alive: bool
    rss_per_process_mb: dict[str, float] = field(default_factory=dict)
    rtsp_rss_mb: float = 0.0
    bench_cores: float = 0.0
    cameras_per_worker: dict[str, int] = field(default_factory=dict)
    thread_cpu_ms_per_camera_s: dict[str, float] = field(default_factory=dict)
    decode_in_use: dict[str, int] = field(default_factory=dict)  # "cpu"/hwaccel -> cameras
    events: dict[str, int] = field(default_factory=dict)
    to_publish_p50_s: float | None = None
    to_publish_p95_s: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    real_time: bool
    reasons: tuple[str, ...]  # why not (empty when real time)


def warmup_s(duration_s: float) -> float:
    """The first ~20 % of a run, at least 10 s, at most half of it."""
    return min(max(0.2 * duration_s, 10.0), 0.5 * duration_s)


def _number(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _delta(a: Mapping[str, Any], b: Mapping[str, Any], key: str) -> float:
    return (_number(b, key) or 0.0) - (_number(a, key) or 0.0)


def record_span_s(a: Mapping[str, Any], b: Mapping[str, Any]) -> float | None:
    """Seconds between two status records of a camera (their ``updated_at``); None without."""
    try:
        t0 = datetime.fromisoformat(str(a["updated_at"]))
        t1 = datetime.fromisoformat(str(b["updated_at"]))
    except (KeyError, ValueError):
        return None
    seconds = (t1 - t0).total_seconds()
    return seconds if seconds > 0 else None


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def _values(sample: Sample, ids: Sequence[str], key: str) -> list[float]:
    """``key`` of each camera's record in ``sample`` that has a number there."""
    found = (_number(sample.cameras.get(c, {}), key) for c in ids)
    return [v for v in found if v is not None]


def _thirds(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    if len(points) < 3:
        return None
    n = len(points) // 3
    first = statistics.median(y for _, y in points[: max(n, 1)])
    last = statistics.median(y for _, y in points[-max(n, 1) :])
    return first, last


def trend(points: Sequence[tuple[float, float]]) -> dict[str, float]:
    """Slope per minute and the change (in %) from the first third's median to the last's."""
    thirds = _thirds(points)
    if thirds is None:
        return {}
    first, last = thirds
    return {
        "first_third": round(first, 2),
        "last_third": round(last, 2),
        "change_pct": round(100 * (last - first) / first, 2) if first else 0.0,
        "slope_per_min": round(slope(points) * 60, 3),
    }


def trial_metrics(
    samples: Sequence[Sample],
    clip_fps: Mapping[str, float],
    warmup: float,
    cores: int,
    events: Sequence[EventSeen] = (),
) -> TrialMetrics:
    """The numbers of a trial from its samples after ``warmup`` seconds.

    Raises:
        ValueError: fewer than two samples after the warm-up, or a camera of ``clip_fps`` that
            never published a status record.
    """
    after = [s for s in samples if s.t_s >= warmup]
    if len(after) < 2:
        raise ValueError(
            f"{len(after)} samples after the {warmup:.0f} s warm-up (of {len(samples)}): "
            "the run was too short or died; raise --duration"
        )
    base, end = after[0], after[-1]
    seconds = end.t_s - base.t_s
    ids = sorted(clip_fps)
    missing = [c for c in ids if c not in base.cameras or c not in end.cameras]
    if missing:
        raise ValueError(f"cameras without a status record in the measured period: {missing}")
    n = len(ids)
    a, b = base.cameras, end.cameras
    # Rates per camera over its own records' times (each record is up to a second old when
    # sampled, which would skew a short run's rates by several percent).
    span = {c: record_span_s(a[c], b[c]) or seconds for c in ids}
    stages: dict[str, float] = {}
    for cid in ids:
        before = a[cid].get("stage_ms") or {}
        for stage, total in (b[cid].get("stage_ms") or {}).items():
            per_s = (float(total) - float(before.get(stage, 0.0))) / span[cid]
            stages[stage] = stages.get(stage, 0.0) + per_s
    lags95 = [(s.t_s, max(v)) for s in after if (v := _values(s, ids, "lag_ms_p95"))]
    all95 = [v for s in after for v in _values(s, ids, "lag_ms_p95")]
    all50 = [v for s in after for v in _values(s, ids, "lag_ms_p50")]
    overloaded = [c for c in ids if any(s.cameras.get(c, {}).get("overloaded") for s in after)]
    thirds = _thirds(lags95)
    per_worker: dict[str, int] = {}
    for c in ids:
        worker = str(b[c].get("worker", "-"))
        per_worker[worker] = per_worker.get(worker, 0) + 1
    effective = {c: x for c in ids if (x := _number(b[c], "detect_fps_effective")) is not None}
    to_publish = [e.to_publish_s for e in events]
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return TrialMetrics(
        cameras=n,
        seconds=round(seconds, 2),
        cores=cores,
        cpu_ms_per_camera_s=round(1000 * (end.cpu_s - base.cpu_s) / n / seconds, 1),
        cores_used=round((end.cpu_s - base.cpu_s) / seconds, 3),
        box_cores=round(statistics.fmean(s.box_cores for s in after[1:]), 3),
        rtsp_cores=round((end.rtsp_cpu_s - base.rtsp_cpu_s) / seconds, 3),
        fps_in={c: round(_delta(a[c], b[c], "frames_in") / span[c], 2) for c in ids},
        clip_fps=dict(clip_fps),
        dropped={c: int(_delta(a[c], b[c], "dropped")) for c in ids},
        reconnects=int(sum(_delta(a[c], b[c], "reconnects") for c in ids)),
        # Any of the last 3 s: a looped file source reconnects at its loop's end (a moment in
        # "backoff"), which a trial as long as the loop always ends on.
        not_streaming=[
            c
            for c in ids
            if not any(s.cameras.get(c, {}).get("state") == "streaming" for s in after[-3:])
        ],
        stages_ms_per_camera_s={k: round(v / n, 2) for k, v in sorted(stages.items())},
        detect_runs_per_camera_s={
            c: round(_delta(a[c], b[c], "detector_runs") / span[c], 3) for c in ids
        },
        detector_skips=int(sum(_delta(a[c], b[c], "detector_skips") for c in ids)),
        overloaded_cameras=overloaded,
        detect_fps_effective=effective,
        lag_p50_ms=round(statistics.median(all50), 1) if all50 else None,
        lag_p95_ms=round(percentile(all95, 95), 1) if all95 else None,
        lag_first_third_ms=round(thirds[0], 1) if thirds else None,
        lag_last_third_ms=round(thirds[1], 1) if thirds else None,
        lag_slope_ms_per_s=round(slope(lags95), 3) if len(lags95) >= 2 else None,
        rss_mb=round(end.rss_kb / 1024, 1),
        pss_mb=round(end.pss_kb / 1024, 1),
        trends={
            "rss_mb": trend([(s.t_s, s.rss_kb / 1024) for s in after]),
            "pss_mb": trend([(s.t_s, s.pss_kb / 1024) for s in after]),
            "threads": trend([(s.t_s, float(s.threads)) for s in after]),
            "fds": trend([(s.t_s, float(s.fds)) for s in after]),
        },
        alive=all(s.alive for s in samples),
        rss_per_process_mb={str(pid): round(rss / 1024, 1) for pid, rss, _ in end.processes},
        rtsp_rss_mb=round(end.rtsp_rss_kb / 1024, 1),
        bench_cores=round((end.bench_cpu_s - base.bench_cpu_s) / seconds, 3),
        cameras_per_worker=per_worker,
        decode_in_use=_count(str(b[c].get("decode", "unknown")) for c in ids),
        thread_cpu_ms_per_camera_s={
            group: round(1000 * (cpu - base.threads_cpu_s.get(group, 0.0)) / n / seconds, 1)
            for group, cpu in sorted(end.threads_cpu_s.items())
        },
        events=kinds,
        to_publish_p50_s=round(percentile(to_publish, 50), 3) if to_publish else None,
        to_publish_p95_s=round(percentile(to_publish, 95), 3) if to_publish else None,
    )


def judge(m: TrialMetrics) -> Verdict:
    """Whether the trial ran in real time, and if not, every reason."""
    reasons = []
    if not m.alive:
        reasons.append("the run process died during the trial")
    if m.not_streaming:
        reasons.append(f"cameras not streaming at the end: {m.not_streaming}")
    slow = {
        c: fps
        for c, fps in m.fps_in.items()
        if abs(fps - m.clip_fps[c]) > FPS_TOLERANCE * m.clip_fps[c]
    }
    if slow:
        reasons.append(f"input rate off the clip's by more than {100 * FPS_TOLERANCE:g} %: {slow}")
    dropped = {c: d for c, d in m.dropped.items() if d > 0}
    if dropped:
        reasons.append(f"frames dropped from queues after the warm-up: {dropped}")
    if m.overloaded_cameras:
        # The overload policy kept these cameras in real time by detecting less often: the
        # box carries them, but not at their configured rate, which is what capacity means.
        reasons.append(
            f"detect rate lowered by the overload policy on {sorted(m.overloaded_cameras)}"
        )
    if m.lag_p95_ms is None:
        reasons.append("the run published no analysis lag (lag_ms_p95): cannot judge latency")
    elif m.lag_p95_ms >= LAG_P95_LIMIT_MS:
        reasons.append(f"analysis lag p95 {m.lag_p95_ms:.0f} ms >= {LAG_P95_LIMIT_MS:.0f} ms")
    if m.lag_first_third_ms is not None and m.lag_last_third_ms is not None:
        rise = m.lag_last_third_ms - m.lag_first_third_ms
        if rise > BACKLOG_RISE_MS and rise > BACKLOG_RISE_FRACTION * m.lag_first_third_ms:
            reasons.append(
                f"growing backlog: lag {m.lag_first_third_ms:.0f} -> "
                f"{m.lag_last_third_ms:.0f} ms from the first to the last third"
            )
    return Verdict(not reasons, tuple(reasons))


def stage_groups(stages_ms_per_camera_s: Mapping[str, float]) -> dict[str, float]:
    """Stage costs summed into the bottleneck names (unknown stages under their own name)."""
    out: dict[str, float] = {}
    for stage, ms in stages_ms_per_camera_s.items():
        name = STAGE_GROUPS.get(stage, stage)
        out[name] = out.get(name, 0.0) + ms
    return out


def thread_stage_groups(thread_cpu_ms_per_camera_s: Mapping[str, float]) -> dict[str, float]:
    """CPU of the named pipeline threads summed into the bottleneck names; empty when the run's
    threads carry no names (no ``source`` thread seen)."""
    if "source" not in thread_cpu_ms_per_camera_s:
        return {}
    out: dict[str, float] = {}
    for group, ms in thread_cpu_ms_per_camera_s.items():
        name = THREAD_STAGES.get(group)
        if name is not None:
            out[name] = out.get(name, 0.0) + ms
    return out


def bottleneck(
    m: TrialMetrics, verdict: Verdict, decode_ms: float | None = None
) -> tuple[str, str]:
    """What limits this trial: (name, why). A run that keeps up is limited by the stage that
    costs the most (it saturates first as cameras are added); one that does not is limited by
    the RTSP server when that takes a large share of the box, by the interpreter lock when the
    CPU is not saturated while it lags or drops, else by its most costly stage.

    ``decode_ms``: decode cost per camera-second from elsewhere (the floor reference's FFmpeg
    decode of the same stream) when the status records have no ``decode`` stage."""
    groups = thread_stage_groups(m.thread_cpu_ms_per_camera_s)
    unit = "CPU ms per camera-second (threads)"
    if not groups:  # threads without native names: the status records' wall-time stages
        groups = stage_groups(m.stages_ms_per_camera_s)
        unit = "stage ms per camera-second"
        if decode_ms is not None and "decode" not in groups:
            groups["decode"] = decode_ms
    top = max(groups, key=lambda k: groups[k]) if groups else None
    total = sum(groups.values())
    share = (
        f"{top}: {groups[top]:.0f} of {total:.0f} {unit}" if top else "the run reported no stage_ms"
    )
    if verdict.real_time:
        return (top or "unknown", f"keeps up; largest stage {share}")
    if m.box_cores > 0 and m.rtsp_cores / m.box_cores > RTSP_SHARE_LIMIT:
        return "RTSP server", (
            f"the RTSP server used {m.rtsp_cores:.2f} of {m.box_cores:.2f} busy cores"
        )
    if m.box_cores < SATURATED_FRACTION * m.cores:
        return "interpreter lock", (
            f"lagging or dropping with the box at {m.box_cores:.2f} of {m.cores} cores "
            f"(run {m.cores_used:.2f}): CPU not saturated"
        )
    return (top or "CPU", f"CPU saturated ({m.box_cores:.2f} of {m.cores} cores); {share}")


# ----- --cameras auto ---------------------------------------------------------------------------


def estimate_cameras(cores: int, cpu_ms_per_camera_s: float, limit: int) -> int:
    """How many cameras the cores carry at this CPU cost per camera (at least 1)."""
    if cpu_ms_per_camera_s <= 0:
        return limit
    return max(1, min(limit, math.floor(cores * 1000 / cpu_ms_per_camera_s)))


def next_cameras(trials: Mapping[int, bool], estimate: int, limit: int) -> int | None:
    """The next camera count to try, or None when the search is over.

    ``trials`` maps each camera count tried to whether it ran in real time. The estimate first
    (unless a count at or below it already failed); then upwards from the best real-time count
    by a quarter (at least 1) until a count fails, downwards likewise from the smallest failure
    while nothing passed, then bisect between the best pass and the smallest failure above it.
    The capacity is :func:`capacity`.
    """
    estimate = max(1, min(limit, estimate))
    passed = [n for n, ok in trials.items() if ok]
    best = max(passed, default=0)
    failed_at_or_below = any(not ok and n <= estimate for n, ok in trials.items())
    if estimate not in trials and best < estimate and not failed_at_or_below:
        return estimate
    above = [n for n, ok in trials.items() if not ok and n > best]
    if not above:
        if best >= limit:
            return None
        return min(limit, best + max(1, math.ceil(best / 4)))
    lowest_fail = min(above)
    if not passed:
        if lowest_fail <= 1:
            return None
        return max(1, lowest_fail - max(1, math.ceil(lowest_fail / 4)))
    if lowest_fail - best <= 1:
        return None
    return (best + lowest_fail) // 2


def capacity(trials: Mapping[int, bool]) -> int:
    """The largest camera count that ran in real time (0 when none did)."""
    passed = [n for n, ok in trials.items() if ok]
    return max(passed, default=0)
