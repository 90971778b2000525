"""The generator's side of the labelled-suite format: its labels and the ``suite.yaml`` writer.

The format and its one parser are in :mod:`pipelines.suite` (``hazardwatch eval`` reads suites with
it); here :func:`parse_suite` and :func:`read_suite` call it in strict mode (every key the writer
writes is required) and give the generator's own label classes, which check their values when the
generator builds them and know how they are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.scenarios.errors import SuiteFormatError
from pipelines import suite as core
from pipelines.suite import ASSETS_PLACEHOLDER, SUITE_FILE
from vision.types import HazardKind

__all__ = [
    "ASSETS_PLACEHOLDER",
    "MANIFEST_FILE",
    "SUITE_FILE",
    "ClipLabel",
    "ExpectedHazard",
    "SuiteFile",
    "parse_suite",
    "read_suite",
    "resolve_video",
    "suite_to_yaml",
]

MANIFEST_FILE = "manifest.yaml"


@dataclass(frozen=True, slots=True)
class ExpectedHazard(core.ExpectedHazard):
    """One ground-truth hazard of a clip, checked when built (``pipelines.suite.check_expected``).

    ``onset_s`` is the stream time at which the hazard became true (fire lane: the blocker came to
    rest in the lane; e-bike: it is inside the lift polygon or across the door line; falling
    object: it leaves the window or balcony); ``max_latency_s`` the allowed
    ``start_pts_s - onset_s``; ``end_s`` when it stopped being true, or None if it lasts to the
    clip end; ``origin_floor`` the floor the object fell from (falling objects only).
    """

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", HazardKind(self.kind))
        try:
            core.check_expected(self)
        except ValueError as exc:
            raise SuiteFormatError(f"ExpectedHazard.{exc}") from None

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
class ClipLabel(core.SuiteEntry):
    """One clip of a suite: where its video and config are, and what should be found in it."""

    expected: tuple[ExpectedHazard, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        object.__setattr__(self, "expected", tuple(self.expected))
        try:
            core.check_entry(self)
        except ValueError as exc:
            raise SuiteFormatError(f"ClipLabel.{exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The mapping written to ``suite.yaml``."""
        return {
            "id": self.clip_id,
            "video": self.video,
            "config": self.config,
            "camera": self.camera,
            "tags": list(self.tags),
            "expected": [e.to_dict() for e in self.expected],
            **({"derive": [d.value for d in self.derive]} if self.derive else {}),
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


def _suite_file(parsed: core.ParsedSuite) -> SuiteFile:
    assert parsed.name is not None  # strict mode requires it
    clips = tuple(
        ClipLabel(
            clip_id=c.clip_id,
            video=c.video,
            config=c.config,
            camera=c.camera,
            tags=c.tags,
            expected=tuple(
                ExpectedHazard(e.kind, e.zone, e.onset_s, e.max_latency_s, e.end_s, e.origin_floor)
                for e in c.expected
            ),
            derive=c.derive,
        )
        for c in parsed.clips
    )
    return SuiteFile(name=parsed.name, seed=parsed.seed, clips=clips)


def parse_suite(text: str, source_name: str) -> SuiteFile:
    """Parse and check the text of a suite file (:func:`pipelines.suite.parse_suite_text`, strict).

    Raises:
        SuiteFormatError: naming the file and the path of the first bad value
            (``suite.yaml: clips[3].expected[0].onset_s: ...``).
    """
    try:
        return _suite_file(core.parse_suite_text(text, source_name, strict=True))
    except core.SuiteError as exc:
        raise SuiteFormatError(str(exc)) from None


def read_suite(path: Path | str) -> SuiteFile:
    """Read and check a suite file.

    Raises:
        SuiteFormatError: if the file is missing or unreadable or does not follow the format.
    """
    try:
        return _suite_file(core.read_suite_file(Path(path), strict=True))
    except core.SuiteError as exc:
        raise SuiteFormatError(str(exc)) from None


def resolve_video(suite_dir: Path, video: str, assets_dir: Path) -> Path:
    """The file a clip's ``video`` names: ``${ASSETS}`` replaced, else relative to the suite."""
    return core.resolve_suite_path(video, suite_dir, assets_dir)
