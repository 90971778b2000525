"""``hazardwatch eval SUITE_DIR``: replay every clip of a labelled suite and score it."""

from __future__ import annotations

import functools
import logging
import multiprocessing
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.config import load_config
from pipelines.derived_clips import derived_clip
from pipelines.replay import DetectorCache, ReplayResult, replay
from pipelines.suite import ClipScore, SuiteClip, load_suite, score_clip, summarize

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SuiteReport:
    """Everything ``eval`` found: per clip, per kind, and speed."""

    clips: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    speed: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_only: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "speed": self.speed,
            "clips": self.clips,
            "report_only": self.report_only,
        }


def _kind_of(clip: SuiteClip, result: ReplayResult) -> str:
    if clip.expected:
        return clip.expected[0].kind.value
    for tag in clip.tags:
        if tag in ("fire_lane", "fire_lane_blocked"):
            return "fire_lane_blocked"
        if tag in ("ebike", "ebike_entry", "lift"):
            return "ebike_entry"
        if tag in ("falling", "falling_object", "facade"):
            return "falling_object"
    return "other"


@dataclass(slots=True)
class _ClipOutcome:
    """One clip replayed and scored: its report row, its score and its replay's speed."""

    row: dict[str, Any]
    score: ClipScore
    report_only: bool
    kind: str
    replay: ReplayResult


def _evaluate_clip(clip: SuiteClip, detectors: DetectorCache) -> _ClipOutcome:
    config = load_config(clip.config)
    video = derived_clip(clip.video, clip.derive)
    result = replay(config, clip.camera, video, base_dir=clip.config.parent, detectors=detectors)
    score = score_clip(clip, result.events)
    kind = _kind_of(clip, result)
    row = {
        "id": clip.clip_id,
        "kind": kind,
        "tags": list(clip.tags),
        "derive": [d.value for d in clip.derive],
        "expected": len(clip.expected),
        "matched": len(score.matched),
        "missed": len(score.missed),
        "false_starts": len(score.false_starts),
        "repeats": len(score.repeats),
        "latencies_s": [round(e.start_pts_s - t.onset_s, 3) for t, e in score.matched],
        "origin_floors": [
            [t.origin_floor, e.details.get("origin_floor")]
            for t, e in score.matched
            if t.origin_floor is not None
        ],
        "starts": [
            {
                "kind": e.kind.value,
                "zone": e.zone,
                "start_pts_s": round(e.start_pts_s, 3),
                "labels": list(e.labels),
                "origin_floor": e.details.get("origin_floor"),
            }
            for e in result.events
            if e.phase.value == "start"
        ],
        "replay": result.summary(),
    }
    result.events = []  # scored: the speed figures are all that is kept of the replay
    return _ClipOutcome(row, score, clip.report_only, kind, result)


@functools.cache
def _worker_detectors() -> DetectorCache:
    """A worker process's detectors, loaded once per process (used only in the pool's worker
    processes, one thread each: nothing is shared between processes or threads)."""
    return DetectorCache()


def _evaluate_in_worker(clip: SuiteClip) -> _ClipOutcome:
    return _evaluate_clip(clip, _worker_detectors())


def _outcomes(clips: Sequence[SuiteClip], jobs: int) -> Iterator[_ClipOutcome]:
    """Each clip's outcome, in the order of ``clips`` (whatever the number of processes)."""
    if jobs <= 1 or len(clips) <= 1:
        detectors = DetectorCache()
        for clip in clips:
            yield _evaluate_clip(clip, detectors)
        return
    # spawn, not fork: the caller may hold threads (a test run, onnxruntime) that a fork copies
    # mid-lock. Every replay is deterministic, so the report does not depend on ``jobs``.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(clips)), mp_context=context) as pool:
        yield from pool.map(_evaluate_in_worker, clips)


def evaluate_suite(
    suite_paths: Sequence[Path],
    *,
    progress: Callable[[str], None] | None = None,
    only: Callable[[SuiteClip], bool] | None = None,
    jobs: int = 1,
) -> SuiteReport:
    """Replay and score every clip of the given suites (a directory or a suite.yaml each), in
    ``jobs`` processes (the report is the same for any number; only its speed figures differ,
    since processes share the cores)."""
    clips = [
        clip
        for suite_path in suite_paths
        for clip in load_suite(suite_path)
        if only is None or only(clip)
    ]
    report = SuiteReport()
    scores: list[ClipScore] = []
    speed_acc: dict[str, list[ReplayResult]] = defaultdict(list)
    for outcome in _outcomes(clips, jobs):
        if outcome.report_only:
            report.report_only.append(outcome.row)
        else:
            report.clips.append(outcome.row)
            scores.append(outcome.score)
        speed_acc[outcome.kind].append(outcome.replay)
        if progress is not None:
            progress(_progress_line(outcome.row))
    report.metrics = summarize(scores)
    for kind, results in speed_acc.items():
        duration = sum(r.duration_s for r in results)
        wall = sum(r.wall_s for r in results)
        report.speed[kind] = {
            "clips": len(results),
            "video_s": round(duration, 2),
            "wall_s": round(wall, 2),
            "x_realtime": round(duration / wall, 2) if wall else None,
            "slowest_x_realtime": round(min(r.x_realtime for r in results), 2),
            "largest_source": max(
                ((r.width_px or 0) * (r.height_px or 0), f"{r.width_px}x{r.height_px}")
                for r in results
            )[1],
        }
    return report


def _progress_line(row: dict[str, Any]) -> str:
    verdict = "ok"
    if row["missed"] or row["false_starts"] or row["repeats"]:
        verdict = "MISS" if row["missed"] else "FALSE" if row["false_starts"] else "FLAP"
    if "report_only" in row["tags"] or "ambiguous" in row["tags"]:
        verdict = "report"
    rep = row["replay"]
    return (
        f"{row['id']:<34} {row['kind']:<18} {verdict:<6} expected={row['expected']} "
        f"starts={len(row['starts'])} latency={row['latencies_s']} "
        f"{rep['x_realtime']}x realtime ({rep['source_size'][0]}x{rep['source_size'][1]})"
    )


def format_report(report: SuiteReport) -> str:
    lines = ["", "per kind:"]
    header = (
        f"  {'kind':<18} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FN':>4} {'FP':>4} "
        f"{'flap':>5} {'lat med':>8} {'lat p95':>8} {'floor±1':>8}"
    )
    lines.append(header)
    for kind, m in report.metrics.items():
        floor = m["origin_floor_within_1"]
        lines.append(
            f"  {kind:<18} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} "
            f"{m['true_positives']:>4} {m['false_negatives']:>4} {m['false_positives']:>4} "
            f"{m['flapping']:>5} {_num(m['latency_median_s']):>8} {_num(m['latency_p95_s']):>8} "
            f"{_num(floor):>8}"
        )
    lines.append("speed (replay, decode + analysis, wall clock):")
    for kind, s in report.speed.items():
        lines.append(
            f"  {kind:<18} {s['x_realtime']}x realtime over {s['video_s']}s of video "
            f"({s['clips']} clips, slowest {s['slowest_x_realtime']}x, "
            f"largest {s['largest_source']})"
        )
    if report.report_only:
        lines.append("report-only clips (not scored):")
        for row in report.report_only:
            starts = ", ".join(
                f"{s['kind']}@{s['start_pts_s']}s floor={s['origin_floor']}" for s in row["starts"]
            )
            lines.append(f"  {row['id']}: {len(row['starts'])} starts {starts}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
