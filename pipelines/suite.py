"""Labelled scenario suites: the ``suite.yaml`` format, its parser, and scoring against it.

A suite directory holds clips, configs and ``suite.yaml``::

    suite: generated
    seed: 1234
    clips:
      - id: lane_park_long_01                 # unique slug
        video: clips/lane_park_long_01.mp4    # relative to the suite dir (or ${ASSETS}/...)
        config: configs/lane.yaml             # relative to the suite dir
        camera: lane_cam                      # camera id in that config
        tags: [fire_lane, positive]
        expected:                             # ground-truth hazards, [] for negatives
          - {kind: fire_lane_blocked, zone: lane, onset_s: 4.0, end_s: 40.0, max_latency_s: 15.0}

``origin_floor`` is given for falling objects only (and must be). ``end_s`` is null when the
hazard lasts to the end of the clip. Latency is ``start_pts_s - onset_s`` of the matching event.
``derive: [crf38, night_gray]`` (optional) replays the clip under those real-camera conditions
(:mod:`pipelines.derived_clips`; the labels must still hold, which they do for the timing-keeping
derivations there). ``${ASSETS}`` at the start of a path stands for the shared test media
(:func:`pipelines.assets.shared_assets_dir`: ``<repo>/../shared/assets`` unless
``HAZARDWATCH_ASSETS`` says otherwise).

:func:`parse_suite_text` is the one parser of the format: ``hazardwatch eval`` reads suites with
it through :func:`load_suite`, the scenario generator (``benchmarks.scenarios.suite``) with
``strict=True``, which also requires ``suite``, ``tags``, ``expected`` and ``max_latency_s``
(the keys the generator always writes); otherwise they default to no name, no tags, no hazards
and :data:`DEFAULT_LATENCY_S`.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.assets import shared_assets_dir
from pipelines.derived_clips import Derivation, parse_derivations
from vision.types import HazardEvent, HazardKind, HazardPhase

SUITE_FILE = "suite.yaml"
ASSETS_PLACEHOLDER = "${ASSETS}"
DEFAULT_LATENCY_S = {
    HazardKind.FIRE_LANE_BLOCKED: 65.0,
    HazardKind.EBIKE_ENTRY: 1.5,
    HazardKind.FALLING_OBJECT: 2.0,
}
EARLY_TOLERANCE_S = 0.5  # a start a little before the labelled onset still matches

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLIP_KEYS = ("id", "video", "config", "camera", "tags", "expected", "derive")
_EXPECTED_KEYS = ("kind", "zone", "onset_s", "end_s", "max_latency_s", "origin_floor")
_NUMBER = (int, float)


class SuiteError(Exception):
    """A suite file that cannot be used: the message names the file and the entry."""


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
    # conditions of real cameras applied to ``video`` before replay (pipelines.derived_clips)
    derive: tuple[Derivation, ...] = ()

    @property
    def report_only(self) -> bool:
        return bool({"report_only", "ambiguous"} & set(self.tags))


@dataclass(frozen=True, slots=True)
class SuiteEntry:
    """One clip of a suite as written: ``video`` and ``config`` not yet resolved."""

    clip_id: str
    video: str
    config: str
    camera: str
    tags: tuple[str, ...]
    expected: tuple[ExpectedHazard, ...]
    derive: tuple[Derivation, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedSuite:
    """The content of a suite file: its name and seed (None when not given) and its clips."""

    name: str | None
    seed: int | None
    clips: tuple[SuiteEntry, ...]


def resolve_suite_path(value: str, base: Path, assets: Path | None = None) -> Path:
    """The file a clip's ``video`` or ``config`` names: ``${ASSETS}`` replaced by ``assets``
    (default: the shared test media), else an absolute path, else relative to ``base``."""
    if value.startswith(ASSETS_PLACEHOLDER):
        folder = shared_assets_dir() if assets is None else assets
        return folder / value[len(ASSETS_PLACEHOLDER) :].lstrip("/")
    path = Path(value)
    return path if path.is_absolute() else base / path


def check_expected(hazard: ExpectedHazard) -> None:
    """Check the values of one ground-truth hazard.

    Raises:
        ValueError: ``"<field>: <what is wrong>"`` for the first bad value.
    """
    if not _SLUG_RE.match(hazard.zone):
        raise ValueError(f"zone: must be a slug, got {hazard.zone!r}")
    if not math.isfinite(hazard.onset_s) or hazard.onset_s < 0:
        raise ValueError(f"onset_s: must be >= 0, got {hazard.onset_s}")
    if not math.isfinite(hazard.max_latency_s) or hazard.max_latency_s <= 0:
        raise ValueError(f"max_latency_s: must be > 0, got {hazard.max_latency_s}")
    end = hazard.end_s
    if end is not None and not (math.isfinite(end) and end > hazard.onset_s):
        raise ValueError(f"end_s: must be after onset_s ({hazard.onset_s}), got {end}")
    falling = hazard.kind is HazardKind.FALLING_OBJECT
    if falling and hazard.origin_floor is None:
        raise ValueError("origin_floor: needed for kind falling_object")
    if not falling and hazard.origin_floor is not None:
        raise ValueError(f"origin_floor: for falling_object only, not {hazard.kind.value}")
    if hazard.origin_floor is not None and hazard.origin_floor < 1:
        raise ValueError(
            f"origin_floor: must be >= 1 (the ground floor is 1), got {hazard.origin_floor}"
        )


def check_entry(entry: SuiteEntry) -> None:
    """Check the values of one clip entry (not its expected hazards: see :func:`check_expected`).

    Raises:
        ValueError: ``"<key>: <what is wrong>"`` for the first bad value.
    """
    for key, value in (("id", entry.clip_id), ("camera", entry.camera)):
        if not _SLUG_RE.match(value):
            raise ValueError(f"{key}: must be a slug, got {value!r}")
    for key, value in (("video", entry.video), ("config", entry.config)):
        if not value:
            raise ValueError(f"{key}: must not be empty")


def _describe(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", list: "a list", int: "an integer", _NUMBER: "a number"}
    return names.get(kind, str(kind))


def _where(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _need(mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in mapping:
        raise SuiteError(f"{where}: missing '{key}'" if where else f"missing '{key}'")
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SuiteError(
            f"{_where(where, key)}: expected {_describe(kind)}, got {type(value).__name__}"
        )
    return value


def _optional(
    mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]
) -> Any:
    value = mapping.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SuiteError(f"{_where(where, key)}: expected {_describe(kind)} or null, got {value!r}")
    return value


def _get(
    mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...], required: bool
) -> Any:
    """``mapping[key]`` checked: missing is an error if ``required``, else None (as is null)."""
    return (_need if required else _optional)(mapping, key, where, kind)


def _mapping(item: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SuiteError(f"{where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - set(allowed), key=str)
    if unknown:
        raise SuiteError(f"{where}: unknown keys {unknown}; allowed: {list(allowed)}")
    return item


def _parse_expected(item: Any, where: str, strict: bool) -> ExpectedHazard:
    item = _mapping(item, where, _EXPECTED_KEYS)
    kind = _need(item, "kind", where, str)
    try:
        hazard_kind = HazardKind(kind)
    except ValueError:
        allowed = [k.value for k in HazardKind]
        raise SuiteError(f"{where}.kind: unknown kind {kind!r}; allowed: {allowed}") from None
    zone = _need(item, "zone", where, str)
    onset_s = _need(item, "onset_s", where, _NUMBER)
    latency = _get(item, "max_latency_s", where, _NUMBER, strict)
    end_s = _optional(item, "end_s", where, _NUMBER)
    hazard = ExpectedHazard(
        kind=hazard_kind,
        zone=zone,
        onset_s=float(onset_s),
        max_latency_s=DEFAULT_LATENCY_S[hazard_kind] if latency is None else float(latency),
        end_s=None if end_s is None else float(end_s),
        origin_floor=_optional(item, "origin_floor", where, int),
    )
    try:
        check_expected(hazard)
    except ValueError as exc:
        raise SuiteError(f"{where}.{exc}") from None
    return hazard


def _parse_entry(item: Any, where: str, strict: bool) -> SuiteEntry:
    item = _mapping(item, where, _CLIP_KEYS)
    clip_id = _need(item, "id", where, str)
    video = _need(item, "video", where, str)
    config = _need(item, "config", where, str)
    camera = _need(item, "camera", where, str)
    tags = _get(item, "tags", where, list, strict)
    expected = _get(item, "expected", where, list, strict)
    derive_raw = _optional(item, "derive", where, list)
    try:
        derive = parse_derivations([str(d) for d in derive_raw or ()], f"{where}.derive")
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    entry = SuiteEntry(
        clip_id=clip_id,
        video=video,
        config=config,
        camera=camera,
        tags=tuple(str(t) for t in tags or ()),
        expected=tuple(
            _parse_expected(e, f"{where}.expected[{i}]", strict)
            for i, e in enumerate(expected or ())
        ),
        derive=derive,
    )
    try:
        check_entry(entry)
    except ValueError as exc:
        raise SuiteError(f"{where}.{exc}") from None
    return entry


def parse_suite_text(text: str, source_name: str, *, strict: bool = False) -> ParsedSuite:
    """Parse and check the text of a suite file.

    Args:
        text: the YAML text.
        source_name: the file name to put at the start of error messages.
        strict: also require ``suite``, ``tags``, ``expected`` and ``max_latency_s``.

    Raises:
        SuiteError: naming the file and the path of the first bad value
            (``suite.yaml: clips[3].expected[0].onset_s: ...``).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{source_name}: not valid YAML: {exc}") from None
    try:
        if not isinstance(data, dict):
            raise SuiteError("the top level must be a mapping with a 'clips' list")
        name = _get(data, "suite", "", str, strict)
        seed = _optional(data, "seed", "", int)
        clips_raw = _need(data, "clips", "", list)
        clips = tuple(_parse_entry(c, f"clips[{i}]", strict) for i, c in enumerate(clips_raw))
        ids = [c.clip_id for c in clips]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise SuiteError(f"clips: ids must be unique, repeated: {doubled}")
    except SuiteError as exc:
        raise SuiteError(f"{source_name}: {exc}") from None
    return ParsedSuite(name=name, seed=seed, clips=clips)


def read_suite_file(path: Path, *, strict: bool = False) -> ParsedSuite:
    """Read and check a ``suite.yaml`` (or a directory holding one); see :func:`parse_suite_text`.

    Raises:
        SuiteError: missing or unreadable file, bad YAML, or a missing or bad value.
    """
    file = path / SUITE_FILE if path.is_dir() else path
    if not file.is_file():
        raise SuiteError(f"{file}: suite file not found")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{file}: cannot read: {exc}") from None
    return parse_suite_text(text, str(file), strict=strict)


def load_suite(path: Path) -> list[SuiteClip]:
    """Read a ``suite.yaml`` (or a directory holding one), with ``video`` and ``config`` resolved.

    Raises:
        SuiteError: missing file, bad YAML, or an entry with a missing or bad field.
    """
    file = path / SUITE_FILE if path.is_dir() else path
    base, assets = file.parent, shared_assets_dir()
    return [
        SuiteClip(
            clip_id=entry.clip_id,
            video=resolve_suite_path(entry.video, base, assets),
            config=resolve_suite_path(entry.config, base, assets),
            camera=entry.camera,
            tags=entry.tags,
            expected=entry.expected,
            derive=entry.derive,
        )
        for entry in read_suite_file(file).clips
    ]


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
