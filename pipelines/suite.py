"""Labelled scenario suites: loading ``suite.yaml`` and scoring events against ground truth.

A suite directory holds clips, configs and ``suite.yaml`` (format in ``benchmarks/scenarios``):
each clip names its video, config, camera, tags and the expected hazards with their true onset,
allowed latency and, for falls, the origin floor. ``${ASSETS}`` in a path stands for the shared
assets folder (``<repo>/../shared/assets`` unless ``HAZARDWATCH_ASSETS`` says otherwise).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vision.types import HazardEvent, HazardKind, HazardPhase

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LATENCY_S = {
    HazardKind.FIRE_LANE_BLOCKED: 65.0,
    HazardKind.EBIKE_ENTRY: 1.5,
    HazardKind.FALLING_OBJECT: 2.0,
}
EARLY_TOLERANCE_S = 0.5  # a start a little before the labelled onset still matches


class SuiteError(Exception):
    """A suite file that cannot be used: the message names the file and the entry."""


def assets_dir() -> Path:
    configured = os.environ.get("HAZARDWATCH_ASSETS")
    return Path(configured) if configured else (REPO_ROOT.parent / "shared" / "assets")


@dataclass(frozen=True, slots=True)
class ExpectedHazard:
    kind: HazardKind
    zone: str
    onset_s: float
    max_latency_s: float
    end_s: float | None = None
    origin_floor: int | None = None


@dataclass(frozen=True, slots=True)
class SuiteClip:
    clip_id: str
    video: Path
    config: Path
    camera: str
    tags: tuple[str, ...]
    expected: tuple[ExpectedHazard, ...]

    @property
    def report_only(self) -> bool:
        return bool({"report_only", "ambiguous"} & set(self.tags))


def _path(value: str, base: Path) -> Path:
    text = str(value).replace("${ASSETS}", str(assets_dir()))
    path = Path(text)
    return path if path.is_absolute() else base / path


def load_suite(path: Path) -> list[SuiteClip]:
    """Read a ``suite.yaml`` (or a directory holding one).

    Raises:
        SuiteError: missing file, bad YAML, or an entry with a missing or bad field.
    """
    file = path / "suite.yaml" if path.is_dir() else path
    if not file.is_file():
        raise SuiteError(f"{file}: suite file not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips"), list):
        raise SuiteError(f"{file}: expected a mapping with a 'clips' list")
    clips = []
    for i, entry in enumerate(data["clips"]):
        where = f"{file}: clips[{i}]"
        try:
            clips.append(_clip(entry, file.parent))
        except (KeyError, TypeError, ValueError) as exc:
            raise SuiteError(f"{where}: {exc}") from None
    ids = [c.clip_id for c in clips]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SuiteError(f"{file}: duplicate clip ids {duplicates}")
    return clips


def _clip(entry: dict[str, Any], base: Path) -> SuiteClip:
    expected = []
    for item in entry.get("expected") or []:
        kind = HazardKind(item["kind"])
        expected.append(
            ExpectedHazard(
                kind=kind,
                zone=str(item["zone"]),
                onset_s=float(item["onset_s"]),
                max_latency_s=float(item.get("max_latency_s") or DEFAULT_LATENCY_S[kind]),
                end_s=None if item.get("end_s") is None else float(item["end_s"]),
                origin_floor=None
                if item.get("origin_floor") is None
                else int(item["origin_floor"]),
            )
        )
    return SuiteClip(
        clip_id=str(entry["id"]),
        video=_path(entry["video"], base),
        config=_path(entry["config"], base),
        camera=str(entry["camera"]),
        tags=tuple(str(t) for t in entry.get("tags") or ()),
        expected=tuple(expected),
    )


# ----- scoring -------------------------------------------------------------------------------


@dataclass(slots=True)
class ClipScore:
    """How one clip's start events matched its ground truth."""

    clip_id: str
    tags: tuple[str, ...]
    matched: list[tuple[ExpectedHazard, HazardEvent]] = field(default_factory=list)
    missed: list[ExpectedHazard] = field(default_factory=list)
    false_starts: list[HazardEvent] = field(default_factory=list)
    repeats: list[HazardEvent] = field(default_factory=list)  # extra starts for one true hazard


def score_clip(clip: SuiteClip, events: Iterable[HazardEvent]) -> ClipScore:
    """Match start events to expected hazards (same kind and zone, in the latency window).

    Each expected hazard first takes the earliest free start in its window; a start left over
    that falls while a matched hazard of the same kind and zone is still true is a repeat
    (flapping); any other left-over start is a false alarm.
    """
    starts = sorted(
        (e for e in events if e.phase is HazardPhase.START), key=lambda e: e.start_pts_s
    )
    score = ClipScore(clip.clip_id, clip.tags)
    unmatched = list(starts)
    for truth in sorted(clip.expected, key=lambda t: t.onset_s):
        window_end = truth.onset_s + truth.max_latency_s
        candidate = next(
            (
                e
                for e in unmatched
                if e.kind is truth.kind
                and e.zone == truth.zone
                and truth.onset_s - EARLY_TOLERANCE_S <= e.start_pts_s <= window_end
            ),
            None,
        )
        if candidate is None:
            score.missed.append(truth)
            continue
        score.matched.append((truth, candidate))
        unmatched.remove(candidate)
    for event in unmatched:
        during_true_hazard = any(
            event.kind is truth.kind
            and event.zone == truth.zone
            and truth.onset_s - EARLY_TOLERANCE_S
            <= event.start_pts_s
            <= (truth.end_s if truth.end_s is not None else float("inf"))
            for truth, _ in score.matched
        )
        (score.repeats if during_true_hazard else score.false_starts).append(event)
    return score


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summarize(scores: Sequence[ClipScore]) -> dict[str, dict[str, Any]]:
    """Per kind: precision, recall, F1, latency median/p95, flapping, origin-floor accuracy,
    and false starts on negative-only clips."""
    out: dict[str, dict[str, Any]] = {}
    for kind in HazardKind:
        tp = sum(1 for s in scores for t, _ in s.matched if t.kind is kind)
        fn = sum(1 for s in scores for t in s.missed if t.kind is kind)
        fp = sum(1 for s in scores for e in s.false_starts if e.kind is kind)
        flapping = sum(1 for s in scores for e in s.repeats if e.kind is kind)
        negatives_fp = sum(
            1
            for s in scores
            if not s.matched and not s.missed  # a clip with no expected hazard
            for e in s.false_starts
            if e.kind is kind
        )
        if tp + fn + fp + flapping == 0:
            continue
        latencies = [
            e.start_pts_s - t.onset_s for s in scores for t, e in s.matched if t.kind is kind
        ]
        floors = [
            (t.origin_floor, e.details.get("origin_floor"))
            for s in scores
            for t, e in s.matched
            if t.kind is kind and t.origin_floor is not None
        ]
        within = sum(1 for want, got in floors if got is not None and abs(int(got) - want) <= 1)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[kind.value] = {
            "true_positives": tp,
            "false_negatives": fn,
            "false_positives": fp,
            "false_positives_on_negative_clips": negatives_fp,
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "latency_median_s": None if not latencies else round(statistics.median(latencies), 3),
            "latency_p95_s": None
            if not latencies
            else round(_percentile(latencies, 0.95) or 0.0, 3),
            "flapping": flapping,
            "origin_floor_within_1": None if not floors else round(within / len(floors), 4),
        }
    return out
