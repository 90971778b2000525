"""The labelled-suite format that ``hazardwatch eval`` reads, written and checked here.

A suite directory holds ``suite.yaml``::

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

``origin_floor`` is given for falling objects only. ``end_s`` is null when the hazard lasts to the
end of the clip. Latency is ``start_pts_s - onset_s`` of the matching event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.scenarios.errors import SuiteFormatError
from vision.types import HazardKind

SUITE_FILE = "suite.yaml"
MANIFEST_FILE = "manifest.yaml"
ASSETS_PLACEHOLDER = "${ASSETS}"

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_CLIP_KEYS = ("id", "video", "config", "camera", "tags", "expected")
_EXPECTED_KEYS = ("kind", "zone", "onset_s", "end_s", "max_latency_s", "origin_floor")


@dataclass(frozen=True, slots=True)
class ExpectedHazard:
    """One ground-truth hazard of a clip.

    Attributes:
        kind: the hazard kind.
        zone: id of the zone of the camera's config the hazard belongs to.
        onset_s: stream time at which the hazard became true (fire lane: the blocker came to
            rest in the lane; e-bike: it is inside the lift polygon or across the door line;
            falling object: it leaves the window or balcony).
        max_latency_s: allowed ``start_pts_s - onset_s``.
        end_s: stream time at which it stopped being true, or None if it lasts to the clip end.
        origin_floor: floor number the object fell from (falling objects only).
    """

    kind: HazardKind
    zone: str
    onset_s: float
    max_latency_s: float
    end_s: float | None = None
    origin_floor: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", HazardKind(self.kind))
        if not _SLUG_RE.match(self.zone):
            raise SuiteFormatError(f"ExpectedHazard.zone must be a slug, got {self.zone!r}")
        if not math.isfinite(self.onset_s) or self.onset_s < 0:
            raise SuiteFormatError(f"ExpectedHazard.onset_s must be >= 0, got {self.onset_s}")
        if not math.isfinite(self.max_latency_s) or self.max_latency_s <= 0:
            raise SuiteFormatError(
                f"ExpectedHazard.max_latency_s must be > 0, got {self.max_latency_s}"
            )
        if self.end_s is not None and not (math.isfinite(self.end_s) and self.end_s > self.onset_s):
            raise SuiteFormatError(
                f"ExpectedHazard.end_s ({self.end_s}) must be after onset_s ({self.onset_s})"
            )
        falling = self.kind is HazardKind.FALLING_OBJECT
        if falling and self.origin_floor is None:
            raise SuiteFormatError("ExpectedHazard of kind falling_object needs origin_floor")
        if not falling and self.origin_floor is not None:
            raise SuiteFormatError(
                f"ExpectedHazard.origin_floor is for falling_object only, not {self.kind}"
            )
        if self.origin_floor is not None and self.origin_floor < 1:
            raise SuiteFormatError(
                f"ExpectedHazard.origin_floor must be >= 1 (the ground floor is 1), got "
                f"{self.origin_floor}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The mapping written to ``suite.yaml`` (times rounded to the millisecond)."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "zone": self.zone,
            "onset_s": round(self.onset_s, 3),
            "end_s": None if self.end_s is None else round(self.end_s, 3),
            "max_latency_s": round(self.max_latency_s, 3),
        }
        if self.origin_floor is not None:
            out["origin_floor"] = self.origin_floor
        return out


@dataclass(frozen=True, slots=True)
class ClipLabel:
    """One clip of a suite: where its video and config are, and what should be found in it."""

    clip_id: str
    video: str
    config: str
    camera: str
    tags: tuple[str, ...]
    expected: tuple[ExpectedHazard, ...]

    def __post_init__(self) -> None:
        for name in ("clip_id", "camera"):
            value = getattr(self, name)
            if not _SLUG_RE.match(value):
                raise SuiteFormatError(f"ClipLabel.{name} must be a slug, got {value!r}")
        if not self.video or not self.config:
            raise SuiteFormatError(f"clip {self.clip_id}: video and config must not be empty")
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        object.__setattr__(self, "expected", tuple(self.expected))

    def to_dict(self) -> dict[str, Any]:
        """The mapping written to ``suite.yaml``."""
        return {
            "id": self.clip_id,
            "video": self.video,
            "config": self.config,
            "camera": self.camera,
            "tags": list(self.tags),
            "expected": [e.to_dict() for e in self.expected],
        }


@dataclass(frozen=True, slots=True)
class SuiteFile:
    """A parsed ``suite.yaml``."""

    name: str
    seed: int | None
    clips: tuple[ClipLabel, ...]


def suite_to_yaml(name: str, seed: int | None, clips: Sequence[ClipLabel], header: str) -> str:
    """The text of a ``suite.yaml``: a comment header, then ``suite``, ``seed`` and ``clips``.

    Raises:
        SuiteFormatError: if two clips share an id.
    """
    ids = [c.clip_id for c in clips]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise SuiteFormatError(f"clip ids must be unique, repeated: {doubled}")
    body = {"suite": name, "seed": seed, "clips": [c.to_dict() for c in clips]}
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(
        body, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
    )


def _need(mapping: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if key not in mapping:
        raise SuiteFormatError(f"{where}: missing '{key}'")
    value = mapping[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SuiteFormatError(f"{where}.{key}: expected {kind}, got {type(value).__name__}")
    return value


def _parse_expected(item: Any, where: str) -> ExpectedHazard:
    if not isinstance(item, dict):
        raise SuiteFormatError(f"{where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - set(_EXPECTED_KEYS))
    if unknown:
        raise SuiteFormatError(f"{where}: unknown keys {unknown}; allowed: {list(_EXPECTED_KEYS)}")
    kind = _need(item, "kind", where, str)
    try:
        hazard_kind = HazardKind(kind)
    except ValueError:
        allowed = [k.value for k in HazardKind]
        raise SuiteFormatError(f"{where}.kind: unknown kind {kind!r}; allowed: {allowed}") from None
    end_s = item.get("end_s")
    if end_s is not None and (isinstance(end_s, bool) or not isinstance(end_s, int | float)):
        raise SuiteFormatError(f"{where}.end_s: expected a number or null, got {end_s!r}")
    floor = item.get("origin_floor")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int)):
        raise SuiteFormatError(f"{where}.origin_floor: expected an integer, got {floor!r}")
    try:
        return ExpectedHazard(
            kind=hazard_kind,
            zone=_need(item, "zone", where, str),
            onset_s=float(_need(item, "onset_s", where, (int, float))),
            max_latency_s=float(_need(item, "max_latency_s", where, (int, float))),
            end_s=None if end_s is None else float(end_s),
            origin_floor=floor,
        )
    except SuiteFormatError as exc:
        raise SuiteFormatError(f"{where}: {exc}") from None


def _parse_clip(item: Any, where: str) -> ClipLabel:
    if not isinstance(item, dict):
        raise SuiteFormatError(f"{where}: expected a mapping, got {type(item).__name__}")
    unknown = sorted(set(item) - set(_CLIP_KEYS))
    if unknown:
        raise SuiteFormatError(f"{where}: unknown keys {unknown}; allowed: {list(_CLIP_KEYS)}")
    tags = _need(item, "tags", where, list)
    expected = _need(item, "expected", where, list)
    try:
        return ClipLabel(
            clip_id=_need(item, "id", where, str),
            video=_need(item, "video", where, str),
            config=_need(item, "config", where, str),
            camera=_need(item, "camera", where, str),
            tags=tuple(str(t) for t in tags),
            expected=tuple(
                _parse_expected(e, f"{where}.expected[{i}]") for i, e in enumerate(expected)
            ),
        )
    except SuiteFormatError as exc:
        text = str(exc)
        raise SuiteFormatError(text if text.startswith(where) else f"{where}: {text}") from None


def parse_suite(text: str, source_name: str) -> SuiteFile:
    """Parse and check the text of a suite file.

    Raises:
        SuiteFormatError: naming the file and the path of the first bad value
            (``suite.yaml: clips[3].expected[0].onset_s: ...``).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SuiteFormatError(f"{source_name}: not valid YAML: {exc}") from None
    try:
        if not isinstance(data, dict):
            raise SuiteFormatError("the top level must be a mapping with suite, seed, clips")
        name = _need(data, "suite", "suite file", str)
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SuiteFormatError(f"seed: expected an integer or null, got {seed!r}")
        clips_raw = _need(data, "clips", "suite file", list)
        clips = tuple(_parse_clip(c, f"clips[{i}]") for i, c in enumerate(clips_raw))
        ids = [c.clip_id for c in clips]
        doubled = sorted({i for i in ids if ids.count(i) > 1})
        if doubled:
            raise SuiteFormatError(f"clips: ids must be unique, repeated: {doubled}")
    except SuiteFormatError as exc:
        raise SuiteFormatError(f"{source_name}: {exc}") from None
    return SuiteFile(name=name, seed=seed, clips=clips)


def read_suite(path: Path | str) -> SuiteFile:
    """Read and check a suite file.

    Raises:
        SuiteFormatError: if the file is unreadable or does not follow the format.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteFormatError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return parse_suite(text, str(file))


def resolve_video(suite_dir: Path, video: str, assets_dir: Path) -> Path:
    """The file a clip's ``video`` names: ``${ASSETS}`` replaced, else relative to the suite."""
    if video.startswith(ASSETS_PLACEHOLDER):
        return assets_dir / video[len(ASSETS_PLACEHOLDER) :].lstrip("/")
    return suite_dir / video
