"""The bench's report: the references measured in the same run, our ratios against them, the
JSON (DESIGN.md §3 fields first) and the printed table.

The references (``benchmarks/capacity/references.py``) are measured after the trials, while no
run is going, on the stream each camera kind analyses (the substream with ``--substream``): the
floor is FFmpeg's bare decode plus a bare ``session.run`` at the detection rate the trial actually
used (detector runs per camera-second from the status records); the naive loop decodes every
frame to BGR and detects on each (cameras with a detector only).
"""

from __future__ import annotations

import importlib
import math
import platform
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from benchmarks.capacity import references as refs
from benchmarks.capacity.harness import BenchSettings, TrialResult
from benchmarks.capacity.media import KindMedia
from benchmarks.capacity.profiles import CAMERA_PROFILES
from benchmarks.capacity.verdict import (
    TrialMetrics,
    bottleneck,
    capacity,
    estimate_cameras,
    stage_groups,
)

REFERENCE_SECONDS = 20.0  # of video decoded; the naive loop and its check take half


def device() -> dict[str, Any]:
    """Where inference and decoding run: ``models.devices.device_summary()`` (providers that
    really start, GPUs, usable hardware decoders) when the runtime has it, else the providers
    onnxruntime offers."""
    import onnxruntime

    try:
        devices = importlib.import_module("models.devices")
        hwdecode = importlib.import_module("cameras.hwdecode")
    except ModuleNotFoundError:
        return {"onnxruntime": onnxruntime.__version__,
                "providers": onnxruntime.get_available_providers()}  # fmt: skip
    summary = devices.device_summary(hwaccels=tuple(hwdecode.usable_hwaccels()))
    return {"onnxruntime": onnxruntime.__version__, **summary.to_dict()}


def machine(cores: int) -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next((ln.split(":", 1)[1].strip() for ln in info if "model name" in ln), "")
    except OSError:
        model = platform.processor()
    return {"cores": cores, "cpu": model, "python": platform.python_version()}


def measure_references(
    kinds: Mapping[str, KindMedia], substream: bool, cores: int, log: Any, duration_s: float
) -> dict[str, dict[str, Any]]:
    """Each camera kind's references (the floor's parts, the naive loop and its estimated
    camera count run in real time to confirm it), or the error that stopped them (named,
    never hidden)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, media in kinds.items():
        profile = CAMERA_PROFILES[kind]
        clip = media.sub if substream else media.main
        log(f"bench: references for {kind} on {clip.name} (floor decode, session.run, naive loop)")
        entry: dict[str, Any] = {"clip": clip.name}
        try:
            # as long as a trial at most, so that a quick bench stays quick
            seconds = min(REFERENCE_SECONDS, duration_s)
            decode = refs.floor_decode(clip, seconds)
            entry["decode"] = decode.as_json()
            if profile.detector is not None:
                model = profile.detector.model
                size = profile.detector.input_size
                entry["inference"] = refs.bare_inference(model, size, clip=clip).as_json()
                naive = refs.naive_loop(clip, model, size, seconds / 2)
                entry["naive"] = naive.as_json()
                count = refs.naive_capacity_cameras(naive, cores)
                entry["naive_capacity_cameras"] = count
                if count >= 1:  # the CPU estimate, checked by that many loops in real time
                    check = refs.naive_realtime_check(clip, model, count, seconds / 2, size)
                    entry["naive_realtime_check"] = check.as_json()
        except (refs.ReferenceMeasurementError, OSError, ValueError) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out[kind] = entry
    return out


def floor_per_camera(
    trial: TrialResult, references: Mapping[str, Mapping[str, Any]]
) -> float | None:
    """Mean over the trial's cameras of decode ms per video-second + their actual detector runs
    per second x bare ms per run; None when a reference is missing."""
    values = []
    for cid, kind in trial.kinds.items():
        entry = references.get(kind, {})
        decode = entry.get("decode")
        if decode is None:
            return None
        runs_per_s = trial.metrics.detect_runs_per_camera_s.get(cid, 0.0)
        inference = entry.get("inference")
        if runs_per_s > 0 and inference is None:
            return None
        per_run = inference["cpu_ms_per_run"] if inference else 0.0
        values.append(decode["cpu_ms_per_video_s"] + runs_per_s * per_run)
    return round(statistics.fmean(values), 1) if values else None


def reference_decode_ms(
    trial: TrialResult, references: Mapping[str, Mapping[str, Any]]
) -> float | None:
    """FFmpeg's decode ms per video-second of the trial's streams (mean over its cameras), the
    decode cost when the runtime reports no decode stage; None without the references."""
    costs = [references.get(kind, {}).get("decode") for kind in trial.kinds.values()]
    if not costs or any(c is None for c in costs):
        return None
    return round(statistics.fmean(c["cpu_ms_per_video_s"] for c in costs if c), 1)


def naive_for(
    trial: TrialResult, references: Mapping[str, Mapping[str, Any]], cores: int
) -> tuple[float | None, int | None]:
    """The naive loop's CPU ms per camera-second over the trial's cameras and the count it
    carries; None when a camera kind has no naive reference (facade: no detector)."""
    costs = []
    for kind in trial.kinds.values():
        naive = references.get(kind, {}).get("naive")
        if naive is None:
            return None, None
        costs.append(naive["cpu_ms_per_video_s"])
    if not costs:
        return None, None
    mean = statistics.fmean(costs)
    return round(mean, 1), math.floor(cores * 1000 / mean)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def build_report(
    settings: BenchSettings,
    trials: Sequence[TrialResult],
    references: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, KindMedia],
    cores: int,
) -> dict[str, Any]:
    """The JSON report. The headline trial is the largest real-time one (else the last)."""
    verdicts = {t.cameras: t.verdict.real_time for t in trials}
    passing = [t for t in trials if t.verdict.real_time]
    head = max(passing, key=lambda t: t.cameras) if passing else trials[-1]
    m = head.metrics
    ours = m.cpu_ms_per_camera_s
    floor = floor_per_camera(head, references)
    naive_ms, naive_count = naive_for(head, references, cores)
    decode_ms = reference_decode_ms(head, references)
    named = bottleneck(head.metrics, head.verdict, decode_ms)
    cap = (
        capacity(verdicts)
        if settings.cameras is None
        else (head.cameras if head.verdict.real_time else None)
    )
    return {
        "profile": settings.profile,
        "capacity_cameras": cap,
        "naive_capacity_cameras": naive_count,
        "our_cpu_ms_per_camera_s": ours,
        "floor_cpu_ms_per_camera_s": floor,
        "naive_cpu_ms_per_camera_s": naive_ms,
        "naive_capacity_kept_up_in_real_time": {
            kind: entry["naive_realtime_check"]["kept_up"]
            for kind, entry in references.items()
            if "naive_realtime_check" in entry
        },
        "ratios": {
            # a capacity is only found by --cameras auto; a fixed count is not one
            "ours_over_naive_cameras": _ratio(cap, naive_count)
            if cap and settings.cameras is None
            else None,
            "ours_over_floor_cpu": _ratio(ours, floor),
            "naive_over_ours_cpu": _ratio(naive_ms, ours),
        },
        "latency_p50_s": None if m.lag_p50_ms is None else round(m.lag_p50_ms / 1000, 3),
        "latency_p95_s": None if m.lag_p95_ms is None else round(m.lag_p95_ms / 1000, 3),
        "latency_definition": "frame captured_at to analysis done (lag_ms_p50/p95 of the "
        "camera status records, over all cameras and samples after the warm-up: median of "
        "the p50s, p95 of the p95s)",
        "decision_to_published_p50_s": m.to_publish_p50_s,
        "decision_to_published_p95_s": m.to_publish_p95_s,
        "decision_to_published_definition": "hazard start's started_at to its XADD on "
        "hazardwatch:events; a start is published once its clip is written, so this includes "
        "the post-roll",
        "stages": m.stages_ms_per_camera_s,
        "stages_definition": "ms per camera-second spent in each stage, from the status "
        "records' cumulative stage_ms after the warm-up (as the runtime's StageClock measures "
        "them: with perf_counter this is wall time, which exceeds CPU when threads wait for a "
        "core or the interpreter lock)",
        "stages_sum_ms_per_camera_s": round(sum(m.stages_ms_per_camera_s.values()), 1),
        "thread_cpu_ms_per_camera_s": m.thread_cpu_ms_per_camera_s,
        "thread_cpu_definition": "CPU (utime + stime from /proc/PID/task/TID/stat) of the run's "
        "threads after the warm-up, summed by native thread name up to its first '-' "
        "(source-lane01 -> source); threads the runtime does not name natively carry the "
        "process name",
        "stage_groups": {k: round(v, 2) for k, v in stage_groups(m.stages_ms_per_camera_s).items()},
        "real_time": head.verdict.real_time,
        "reasons": list(head.verdict.reasons),
        "bottleneck": {"name": named[0], "why": named[1]},
        "decode_ms_per_camera_s_from_floor": decode_ms,
        "cameras": head.cameras,
        "cores_used": m.cores_used,
        "box_cores": m.box_cores,
        "rtsp_server_cores": m.rtsp_cores,
        "rtsp_server_rss_mb": m.rtsp_rss_mb,
        "bench_sampler_cores": m.bench_cores,
        "cameras_per_worker": m.cameras_per_worker,
        "rss_per_process_mb": m.rss_per_process_mb,
        "estimated_cameras_at_this_cpu": estimate_cameras(cores, ours, 10_000),
        "drops": sum(m.dropped.values()),
        "rss_per_camera_mb": round(m.rss_mb / head.cameras, 1),
        "pss_per_camera_mb": round(m.pss_mb / head.cameras, 1),
        "trends": m.trends,
        "memory": memory_check(m, head.cameras, settings.duration_s),
        "device": {**device(), "decode_in_use": m.decode_in_use},
        "machine": machine(cores),
        "settings": {**asdict(settings), "work_dir": str(settings.work_dir)},
        "media": {k: v.facts for k, v in kinds.items()},
        "references": dict(references),
        "trials": [
            {"cameras": t.cameras, "real_time": t.verdict.real_time,
             "reasons": list(t.verdict.reasons),
             "bottleneck": {"name": t.bottleneck[0], "why": t.bottleneck[1]},
             "kinds": t.kinds, "offsets_s": t.offsets_s, "run_exit_code": t.run_exit_code,
             "metrics": asdict(t.metrics), "log_tail": t.log_tail}
            for t in trials
        ],
    }  # fmt: skip


MEMORY_PER_CAMERA_MB = 150.0  # issue 10
MEMORY_FLAT_PCT = 10.0
LONG_RUN_S = 300.0


def memory_check(m: TrialMetrics, cameras: int, duration_s: float) -> dict[str, Any]:
    """Issue 10's memory targets on this trial: RSS (and PSS) per camera, RSS flat between the
    first and last third, no thread or fd growth; judged only for runs of 5 minutes or more."""
    rss, threads, fds = (m.trends.get(k) or {} for k in ("rss_mb", "threads", "fds"))
    return {
        "judged": duration_s >= LONG_RUN_S,
        "rss_per_camera_mb": round(m.rss_mb / cameras, 1),
        "pss_per_camera_mb": round(m.pss_mb / cameras, 1),
        "rss_per_camera_within_limit": m.rss_mb / cameras <= MEMORY_PER_CAMERA_MB,
        "pss_per_camera_within_limit": m.pss_mb / cameras <= MEMORY_PER_CAMERA_MB,
        "rss_change_pct": rss.get("change_pct"),
        "rss_flat": rss.get("change_pct") is not None and abs(rss["change_pct"]) <= MEMORY_FLAT_PCT,
        "threads_growth": None if not threads else threads["last_third"] - threads["first_third"],
        "fds_growth": None if not fds else fds["last_third"] - fds["first_third"],
    }


def trial_line(t: TrialResult) -> str:
    m = t.metrics
    lag = "-" if m.lag_p95_ms is None else f"{m.lag_p95_ms:.0f} ms"
    verdict = (
        "REAL TIME" if t.verdict.real_time else "NOT real time: " + "; ".join(t.verdict.reasons)
    )
    return (
        f"trial {t.cameras:3d} cameras: {m.cpu_ms_per_camera_s:6.1f} CPU ms/camera-s, run "
        f"{m.cores_used:.2f} cores (box {m.box_cores:.2f}), lag p95 {lag}, dropped "
        f"{sum(m.dropped.values())}, bottleneck {t.bottleneck[0]} -> {verdict}"
    )


def _device_text(info: Mapping[str, Any]) -> str:
    if "device" not in info:
        return f"providers {info.get('providers')}; decode in use {info['decode_in_use']}"
    return (
        f"{info['device']} (providers {', '.join(info['providers_auto'])}; GPUs "
        f"{', '.join(info['gpus']) or 'none'}; video decode "
        f"{', '.join(info['hwaccels']) or 'software'}; cameras decoding on "
        f"{info['decode_in_use']})"
    )


def print_report(report: Mapping[str, Any]) -> None:
    r = report
    rows = [
        ("profile", r["profile"]),
        ("capacity (cameras in real time)", r["capacity_cameras"]),
        ("our CPU ms per camera-second", r["our_cpu_ms_per_camera_s"]),
        ("floor CPU ms per camera-second", r["floor_cpu_ms_per_camera_s"]),
        ("naive CPU ms per camera-second", r["naive_cpu_ms_per_camera_s"]),
        ("naive capacity (cameras)", r["naive_capacity_cameras"]),
        ("  that many naive loops kept up", r["naive_capacity_kept_up_in_real_time"]),
        ("ours / naive (cameras)", r["ratios"]["ours_over_naive_cameras"]),
        ("ours / floor (CPU)", r["ratios"]["ours_over_floor_cpu"]),
        ("frame->analysis latency p50 / p95 s", f"{r['latency_p50_s']} / {r['latency_p95_s']}"),
        ("decision->published p50 / p95 s",
         f"{r['decision_to_published_p50_s']} / {r['decision_to_published_p95_s']}"),
        ("drops after warm-up", r["drops"]),
        ("RSS / PSS per camera MB", f"{r['rss_per_camera_mb']} / {r['pss_per_camera_mb']}"),
        ("RTSP server cores / RSS MB", f"{r['rtsp_server_cores']} / {r['rtsp_server_rss_mb']}"),
        ("run cores / box cores", f"{r['cores_used']} / {r['box_cores']}"),
        ("cameras per worker", r["cameras_per_worker"]),
        ("bottleneck", f"{r['bottleneck']['name']} ({r['bottleneck']['why']})"),
        ("device", _device_text(r["device"])),
    ]  # fmt: skip
    print(f"\nhazardwatch bench: {r['cameras']} cameras of profile {r['profile']} "
          f"{'in real time' if r['real_time'] else 'NOT in real time'}")  # fmt: skip
    for name, value in rows:
        print(f"  {name:<38} {value}")
    print(f"  per-stage ms per camera-second (sum {r['stages_sum_ms_per_camera_s']}):")
    for stage, ms in sorted(r["stages"].items(), key=lambda kv: -kv[1]):
        print(f"    {stage:<14} {ms:8.2f}")
    print("  CPU ms per camera-second by thread kind:")
    for group, ms in sorted(r["thread_cpu_ms_per_camera_s"].items(), key=lambda kv: -kv[1]):
        print(f"    {group:<14} {ms:8.2f}")
    mem = r["memory"]
    print(
        f"  memory ({'judged' if mem['judged'] else 'not judged: run under 5 minutes'}): "
        f"RSS/PSS per camera {mem['rss_per_camera_mb']} / {mem['pss_per_camera_mb']} MB "
        f"(limit {MEMORY_PER_CAMERA_MB:g}), RSS change {mem['rss_change_pct']} % (flat "
        f"{mem['rss_flat']}), threads {mem['threads_growth']:+}, fds {mem['fds_growth']:+}"
    )
    trends = r["trends"]
    for name in ("rss_mb", "threads", "fds"):
        t = trends.get(name) or {}
        if t:
            print(f"  {name:<8} first/last third {t['first_third']} / {t['last_third']} "
                  f"({t['change_pct']:+.1f} %, {t['slope_per_min']:+.2f}/min)")  # fmt: skip
