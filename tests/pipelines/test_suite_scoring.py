"""Scoring hazard events against a suite's ground truth, and loading suite files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.suite import (
    ExpectedHazard,
    SuiteClip,
    SuiteError,
    load_suite,
    score_clip,
    summarize,
)
from vision.types import HazardEvent, HazardKind

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FALL = HazardKind.FALLING_OBJECT
LANE = HazardKind.FIRE_LANE_BLOCKED


def start(
    t: float, kind: HazardKind = FALL, zone: str = "z", floor: int | None = None
) -> HazardEvent:
    return HazardEvent(
        event_id=f"e{t}", hazard_id=f"h{t}", phase="start", kind=kind, camera_id="c",  # type: ignore[arg-type]
        zone=zone, started_at=T0, start_pts_s=t,
        details={} if floor is None else {"origin_floor": floor},
    )  # fmt: skip


def clip(*expected: ExpectedHazard) -> SuiteClip:
    return SuiteClip("c1", Path("v.mp4"), Path("c.yaml"), "cam", (), tuple(expected))


def truth(onset: float, kind: HazardKind = FALL, latency: float = 2.0, end: float | None = None,
          floor: int | None = None) -> ExpectedHazard:  # fmt: skip
    return ExpectedHazard(kind, "z", onset, latency, end, floor)


@pytest.mark.parametrize(
    ("expected", "events", "matched", "missed", "false", "repeats"),
    [
        ((truth(5.0),), [start(5.8)], 1, 0, 0, 0),
        ((truth(5.0),), [start(7.5)], 0, 1, 1, 0),  # too late: a miss and a false alarm
        ((truth(5.0),), [start(4.7)], 1, 0, 0, 0),  # a little early is fine
        ((truth(5.0),), [start(3.0)], 0, 1, 1, 0),
        ((truth(5.0),), [start(5.5), start(6.0)], 1, 0, 0, 1),  # flapping
        ((truth(5.0, end=6.0),), [start(5.5), start(9.0)], 1, 0, 1, 0),  # later, after it ended
        ((), [start(1.0)], 0, 0, 1, 0),  # a negative clip
        ((truth(5.0), truth(5.2)), [start(5.5), start(5.6)], 2, 0, 0, 0),  # two at once
        ((truth(5.0),), [start(5.5, kind=LANE)], 0, 1, 1, 0),  # wrong kind
        ((truth(5.0),), [start(5.5, zone="other")], 0, 1, 1, 0),  # wrong zone
    ],
    ids=[
        "hit",
        "late",
        "early-ok",
        "too-early",
        "repeat",
        "after-end",
        "negative",
        "two",
        "wrong-kind",
        "wrong-zone",
    ],
)
def test_score_clip(
    expected: tuple[ExpectedHazard, ...],
    events: list[HazardEvent],
    matched: int,
    missed: int,
    false: int,
    repeats: int,
) -> None:
    score = score_clip(clip(*expected), events)
    assert (len(score.matched), len(score.missed), len(score.false_starts), len(score.repeats)) == (
        matched,
        missed,
        false,
        repeats,
    )


def test_summary_metrics() -> None:
    scores = [
        score_clip(clip(truth(5.0, floor=7)), [start(5.5, floor=8)]),
        score_clip(clip(truth(2.0, floor=3)), [start(3.0, floor=6)]),
        score_clip(clip(truth(2.0)), []),
        score_clip(clip(), [start(1.0)]),
    ]
    m = summarize(scores)["falling_object"]
    assert (m["true_positives"], m["false_negatives"], m["false_positives"]) == (2, 1, 1)
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["origin_floor_within_1"] == 0.5
    assert m["latency_median_s"] == pytest.approx(0.75)
    assert m["false_positives_on_negative_clips"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clips: 3", "suite.yaml: clips: expected a list, got int"),
        (
            "clips: [{video: a.mp4, config: c.yaml, camera: x}]",
            "suite.yaml: clips\\[0\\]: missing 'id'",
        ),
        (
            "clips:\n  - {id: a, video: a, config: c, camera: x,\n"
            "     expected: [{kind: flood, zone: z, onset_s: 1}]}",
            "clips\\[0\\].*flood",
        ),
        (
            "clips:\n  - {id: a, video: a, config: c, camera: x}\n"
            "  - {id: a, video: b, config: c, camera: x}",
            "suite.yaml: clips: ids must be unique, repeated: \\['a'\\]",
        ),
        ("clips: [", "not valid YAML"),
    ],
    ids=["not-a-list", "missing-id", "bad-kind", "duplicate-id", "bad-yaml"],
)
def test_bad_suite_files(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "suite.yaml").write_text(text)
    with pytest.raises(SuiteError, match=message):
        load_suite(tmp_path)


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path)


def test_assets_placeholder_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAZARDWATCH_ASSETS", "/somewhere/assets")
    (tmp_path / "suite.yaml").write_text(
        "clips:\n  - {id: a, video: '${ASSETS}/clips/x.mp4', config: configs/c.yaml, camera: cam,"
        " tags: [real], expected: [{kind: falling_object, zone: f, onset_s: 4.1, origin_floor: 4}]}"
    )
    (loaded,) = load_suite(tmp_path / "suite.yaml")
    assert loaded.video == Path("/somewhere/assets/clips/x.mp4")
    assert loaded.config == tmp_path / "configs" / "c.yaml"
    assert loaded.expected[0].max_latency_s == 2.0 and loaded.expected[0].origin_floor == 4
