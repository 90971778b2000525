"""`hazardwatch bench`'s judging (benchmarks/capacity/verdict.py) on recorded-shape samples:
the real-time verdict and each reason it refuses, rates from the records' own times, per-stage
costs, the bottleneck named, and the `--cameras auto` search."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.capacity.verdict import (
    Sample,
    TrialMetrics,
    Verdict,
    bottleneck,
    capacity,
    estimate_cameras,
    judge,
    next_cameras,
    trend,
    trial_metrics,
    warmup_s,
)

T0 = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
FPS = 25.0
# What a camera spends per second of video (ms), as the status record's stage_ms accumulates it
STAGE_RATES = {"decode": 80.0, "inference": 40.0, "tracking": 2.0, "luma": 3.0}

Record = dict[str, Any]
Tweak = Callable[[str, float, Record], None]


def record(camera: str, t_s: float, *, fps: float = FPS, lag_ms: float = 120.0) -> Record:
    """A camera status record as `hazardwatch run` publishes it, ``t_s`` into the run."""
    return {
        "state": "streaming",
        "fps_in": fps,
        "frames_in": int(fps * (t_s + 30)),  # it had been streaming for 30 s before
        "dropped": 0,
        "reconnects": 0,
        "detector_runs": int(5 * (t_s + 30)),
        "detector_skips": 0,
        "overloaded": False,
        "detect_fps_effective": 5.0,
        "stage_ms": {k: v * (t_s + 30) for k, v in STAGE_RATES.items()},
        "lag_ms_p50": lag_ms * 0.6,
        "lag_ms_p95": lag_ms,
        "updated_at": (T0 + timedelta(seconds=t_s)).isoformat(),
    }


def samples(
    cameras: int = 3,
    seconds: int = 30,
    *,
    tweak: Tweak | None = None,
    cpu_cores: float = 0.9,
    box_cores: float = 1.2,
    rtsp_cores: float = 0.0,
    stale_s: float = 0.0,
) -> list[Sample]:
    """One sample a second; each record ``stale_s`` older than the sample (published before)."""
    out = []
    for t in range(1, seconds + 1):
        records = {}
        for k in range(cameras):
            cid = f"lane{k + 1:02d}"
            rec = record(cid, t - stale_s * (k % 2))
            if tweak is not None:
                tweak(cid, t, rec)
            records[cid] = rec
        out.append(
            Sample(
                t_s=float(t), cpu_s=cpu_cores * t, rss_kb=300_000 * cameras,
                pss_kb=200_000 * cameras, threads=10 * cameras, fds=12 * cameras, pids=3,
                box_cores=box_cores, rtsp_cpu_s=rtsp_cores * t, cameras=records,
            )
        )  # fmt: skip
    return out


def metrics_of(batch: list[Sample], cameras: int = 3) -> TrialMetrics:
    return trial_metrics(batch, {f"lane{k + 1:02d}": FPS for k in range(cameras)}, 10.0, 2)


def test_a_steady_run_is_real_time_with_its_numbers() -> None:
    m = metrics_of(samples())
    assert judge(m) == Verdict(True, ())
    assert m.seconds == 20.0  # samples 10..30 after a 10 s warm-up
    assert m.cpu_ms_per_camera_s == pytest.approx(900 / 3, abs=0.2)
    assert m.fps_in == {"lane01": 25.0, "lane02": 25.0, "lane03": 25.0}
    assert m.stages_ms_per_camera_s == pytest.approx(STAGE_RATES)
    assert m.detect_runs_per_camera_s == {"lane01": 5.0, "lane02": 5.0, "lane03": 5.0}
    assert m.lag_p95_ms == 120.0
    assert m.lag_p50_ms == 72.0
    assert m.rss_mb == pytest.approx(900_000 / 1024, abs=0.1)


def test_rates_use_the_records_own_times_not_the_sampling_times() -> None:
    # every other camera's record is 0.9 s old when sampled, and the first sample after the
    # warm-up sees it fresh: over the sampling times its rate would be off by ~4.5 %
    def fresh_first(cid: str, t: float, rec: Record) -> None:
        if cid == "lane02" and t == 10:
            rec.update(record(cid, t))

    m = metrics_of(samples(stale_s=0.9, tweak=fresh_first))
    assert m.fps_in["lane02"] == pytest.approx(FPS, abs=0.05)  # over sampling times: 23.85
    assert judge(m).real_time


def _slow(cid: str, t: float, rec: Record) -> None:
    if cid == "lane02":
        rec["frames_in"] = int(23.0 * (t + 30))


def _drops_after_warmup(cid: str, t: float, rec: Record) -> None:
    if cid == "lane03" and t >= 20:
        rec["dropped"] = 7


def _lagging(_: str, t: float, rec: Record) -> None:
    rec["lag_ms_p95"] = 1500.0


def _growing(_: str, t: float, rec: Record) -> None:
    rec["lag_ms_p95"] = 100.0 + 30.0 * t  # 400 -> 1000 ms over the judged period


def _no_lag(_: str, t: float, rec: Record) -> None:
    del rec["lag_ms_p95"], rec["lag_ms_p50"]


def _reconnecting(cid: str, t: float, rec: Record) -> None:
    if cid == "lane01" and t >= 27:  # the last 3 s and more: not a loop's reconnect
        rec["state"] = "reconnecting"


@pytest.mark.parametrize(
    ("tweak", "reason"),
    [
        (_slow, "input rate off the clip's"),
        (_drops_after_warmup, "frames dropped from queues after the warm-up: {'lane03': 7}"),
        (_lagging, "analysis lag p95 1500 ms >= 1000 ms"),
        (_growing, "growing backlog"),
        (_no_lag, "published no analysis lag"),
        (_reconnecting, "cameras not streaming at the end: ['lane01']"),
    ],
    ids=["slow-input", "drops", "lag", "backlog", "no-lag-field", "not-streaming"],
)
def test_each_failure_is_named(tweak: Tweak, reason: str) -> None:
    verdict = judge(metrics_of(samples(tweak=tweak)))
    assert not verdict.real_time
    assert any(reason in r for r in verdict.reasons), verdict.reasons


def test_the_growing_backlog_is_caught_although_its_p95_stays_under_a_second() -> None:
    m = metrics_of(samples(tweak=lambda c, t, r: r.update(lag_ms_p95=100.0 + 25.0 * t)))
    assert m.lag_p95_ms is not None and m.lag_p95_ms < 1000
    assert [r for r in judge(m).reasons if "growing backlog" in r]


def test_drops_in_the_warmup_are_allowed() -> None:
    def warming(cid: str, t: float, rec: Record) -> None:
        rec["dropped"] = min(40, int(4 * t))  # all dropped while warming up

    assert judge(metrics_of(samples(tweak=warming))).real_time


def test_a_detect_rate_lowered_by_the_overload_policy_is_not_capacity() -> None:
    """The box kept up only by detecting less often than configured: counted, reported, and
    not real time (capacity is at the configured rates)."""

    def policy(cid: str, t: float, rec: Record) -> None:
        rec["detector_skips"] = int(3 * t)
        rec["overloaded"] = t > 15
        rec["detect_fps_effective"] = 2.0

    m = metrics_of(samples(tweak=policy))
    assert m.detector_skips == 3 * 3 * 20
    assert m.overloaded_cameras == ["lane01", "lane02", "lane03"]
    verdict = judge(m)
    assert not verdict.real_time
    assert any("overload policy" in r for r in verdict.reasons)


def test_a_dead_run_is_not_real_time() -> None:
    batch = samples()
    batch[-1] = replace(batch[-1], alive=False)
    assert "the run process died during the trial" in judge(metrics_of(batch)).reasons


def test_too_short_a_run_or_a_camera_without_records_is_refused() -> None:
    with pytest.raises(ValueError, match="samples after the 10 s warm-up"):
        trial_metrics(samples(seconds=10), {"lane01": FPS}, 10.0, 2)
    with pytest.raises(ValueError, match=r"without a status record.*lane09"):
        trial_metrics(samples(), {"lane01": FPS, "lane09": FPS}, 10.0, 2)


@pytest.mark.parametrize(("duration", "warmup"), [(15, 7.5), (30, 10.0), (60, 12.0), (600, 120.0)])
def test_warmup_is_a_fifth_at_least_10_s_at_most_half(duration: float, warmup: float) -> None:
    assert warmup_s(duration) == warmup


def test_trend_gives_change_between_thirds_and_slope() -> None:
    points = [(float(t), 100.0 + t) for t in range(60)]
    got = trend(points)
    assert got["slope_per_min"] == pytest.approx(60.0)
    assert got["first_third"] == pytest.approx(109.5)
    assert got["last_third"] == pytest.approx(149.5)
    assert trend(points[:2]) == {}


# ----- the bottleneck ---------------------------------------------------------------------------


def test_bottleneck_of_a_run_that_keeps_up_is_its_costliest_stage() -> None:
    m = metrics_of(samples())
    assert bottleneck(m, judge(m))[0] == "decode"


def test_bottleneck_is_the_interpreter_lock_when_lagging_on_idle_cores() -> None:
    m = metrics_of(samples(tweak=_lagging, box_cores=1.3))
    name, why = bottleneck(m, judge(m))
    assert name == "interpreter lock"
    assert "CPU not saturated" in why


def test_bottleneck_is_the_saturated_stage_or_the_rtsp_server() -> None:
    m = metrics_of(samples(tweak=_lagging, box_cores=1.95))
    assert bottleneck(m, judge(m))[0] == "decode"
    m = metrics_of(samples(tweak=_lagging, box_cores=1.95, rtsp_cores=0.7))
    assert bottleneck(m, judge(m))[0] == "RTSP server"


def test_decode_from_the_floor_reference_counts_when_the_records_have_no_decode_stage() -> None:
    def no_decode(_: str, t: float, rec: Record) -> None:
        del rec["stage_ms"]["decode"]

    m = metrics_of(samples(tweak=no_decode))
    assert bottleneck(m, judge(m))[0] == "inference"
    name, why = bottleneck(m, judge(m), decode_ms=88.5)
    assert (name, "decode: 88 of") == ("decode", why[why.index("decode:") :][:13])
    # a decode stage the runtime measured is not replaced
    m = metrics_of(samples())
    assert bottleneck(m, judge(m), decode_ms=5.0)[0] == "decode"


# ----- --cameras auto ---------------------------------------------------------------------------


def run_search(true_capacity: int, estimate: int, limit: int = 48) -> tuple[int, list[int]]:
    """The search against a box that carries exactly ``true_capacity`` cameras; the calibration
    trial (2 cameras) first, as the harness does."""
    trials = {2: true_capacity >= 2}
    order = [2]
    while (n := next_cameras(trials, estimate, limit)) is not None:
        assert n not in trials, f"{n} tried twice: {order}"
        trials[n] = n <= true_capacity
        order.append(n)
        assert len(order) < 15, order
    return capacity(trials), order


@pytest.mark.parametrize(
    ("true_capacity", "estimate", "trials_at_most"),
    [(13, 13, 5), (13, 10, 6), (13, 18, 6), (24, 12, 8), (6, 14, 6), (1, 5, 2), (2, 2, 2),
     (48, 40, 3)],
)  # fmt: skip
def test_auto_search_finds_the_capacity(
    true_capacity: int, estimate: int, trials_at_most: int
) -> None:
    found, order = run_search(true_capacity, estimate)
    assert found == true_capacity, order
    if true_capacity >= 2 and estimate > 2:  # the calibration passed: the estimate comes next
        assert order[1] == estimate, order
    assert len(order) <= trials_at_most, order  # the calibration included


def test_auto_search_when_nothing_keeps_up_ends_at_one_camera() -> None:
    found, order = run_search(0, 8)
    assert found == 0
    assert order[-1] == 1


def test_estimate_from_cpu_per_camera() -> None:
    assert estimate_cameras(2, 145.0, 48) == 13
    assert estimate_cameras(2, 2500.0, 48) == 1
    assert estimate_cameras(2, 10.0, 48) == 48


# ----- samples recorded from a real run ---------------------------------------------------------

RECORDED = Path(__file__).parent / "recorded" / "bench_lane_2cams_320x180_samples.jsonl"


def recorded_samples() -> list[Sample]:
    """`hazardwatch bench --profile lane --cameras 2 --duration 15 --size 320x180` on this
    2-core box while others were busy (2 worker processes), as the harness saved them."""
    rows = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    for row in rows:
        row["processes"] = tuple(tuple(p) for p in row.get("processes", ()))
    return [Sample(**row) for row in rows]


def test_the_recorded_run_is_judged_real_time_with_its_numbers() -> None:
    batch = recorded_samples()
    m = trial_metrics(batch, {"lane01": FPS, "lane02": FPS}, warmup_s(15), 2)
    assert judge(m) == Verdict(True, ())
    assert m.fps_in == pytest.approx({"lane01": FPS, "lane02": FPS}, rel=0.05)
    assert 0 < m.cpu_ms_per_camera_s < 1000
    assert m.lag_p95_ms is not None and 0 < m.lag_p95_ms < 1000
    assert {"inference", "motion_gate", "tracking"} <= set(m.stages_ms_per_camera_s)
    assert m.cameras_per_worker == {"0": 1, "1": 1}


def test_the_recorded_run_with_a_queue_drop_or_a_stall_is_not_real_time() -> None:
    batch = recorded_samples()
    last = batch[-1]
    dropping = {**last.cameras, "lane02": {**last.cameras["lane02"], "dropped": 3}}
    verdict = judge(
        trial_metrics(
            [*batch[:-1], replace(last, cameras=dropping)],
            {"lane01": FPS, "lane02": FPS},
            warmup_s(15),
            2,
        )
    )
    assert verdict.reasons == ("frames dropped from queues after the warm-up: {'lane02': 3}",)
    # lane01 delivering nothing in the last second: its input rate falls off the clip's
    frozen = {**batch[-2].cameras["lane01"], "updated_at": last.cameras["lane01"]["updated_at"]}
    stalled = {**last.cameras, "lane01": frozen}
    verdict = judge(
        trial_metrics(
            [*batch[:-1], replace(last, cameras=stalled)],
            {"lane01": FPS, "lane02": FPS},
            warmup_s(15),
            2,
        )
    )
    assert any("input rate off" in r and "lane01" in r for r in verdict.reasons), verdict.reasons


def test_thread_cpu_names_the_stages_when_threads_are_named() -> None:
    from benchmarks.capacity.verdict import thread_stage_groups

    cpu = {"source": 80.0, "batching": 30.0, "analysis": 12.0, "evidence": 20.0, "clips": 1.0,
           "status": 0.5, "python": 3.0}  # fmt: skip
    groups = thread_stage_groups(cpu)
    assert groups["decode"] == 80.0 and groups["inference"] == 30.0
    assert groups["evidence"] == 21.0
    assert "status" not in groups and "python" not in groups
    assert thread_stage_groups({"python": 200.0}) == {}  # unnamed threads: no claim


def test_a_loop_boundary_at_the_last_sample_is_still_streaming() -> None:
    """Trials as long as the media loop end on the files' reconnect ("backoff" for a moment)."""

    def boundary(cid: str, t: float, rec: Record) -> None:
        if t >= 29:
            rec["state"] = "backoff"

    assert judge(metrics_of(samples(tweak=boundary))).real_time

    def down(cid: str, t: float, rec: Record) -> None:
        if t >= 20:
            rec["state"] = "backoff"

    assert "cameras not streaming" in judge(metrics_of(samples(tweak=down))).reasons[0]
