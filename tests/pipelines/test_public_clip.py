"""The privacy track file: what the pipeline writes and the service trusts only when well formed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.evidence_layout import EvidenceError
from pipelines.public_clip import (
    MAX_TRACK_BYTES,
    PrivacyTrack,
    read_privacy_track,
    write_privacy_track,
)
from pipelines.snapshots import PrivacyTimeline


def track() -> PrivacyTrack:
    timeline = PrivacyTimeline(span_s=60.0)
    timeline.add(10.0, [(0.1, 0.2, 0.3, 0.4)])
    timeline.add(10.2, [])
    timeline.add(10.4, [(0.5, 0.5, 0.6, 0.9), (0.0, 0.0, 1.0, 1.0)])
    return PrivacyTrack(
        clip_start_pts_s=9.5, box_hold_s=0.5, max_width_px=640, crf=28, timeline=timeline
    )


def record(**changes: Any) -> dict[str, Any]:
    base = json.loads(track().to_json())
    base.update(changes)
    return base


def test_a_track_round_trips_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "privacy.json"
    digest = write_privacy_track(path, track())
    assert len(digest) == 64 and not list(tmp_path.glob(".*"))  # no temporary file left
    back = read_privacy_track(path)
    assert (back.clip_start_pts_s, back.box_hold_s, back.max_width_px, back.crf) == (
        9.5,
        0.5,
        640,
        28,
    )
    assert back.timeline.entries() == track().timeline.entries()
    assert back.regions_at(10.05) == ((0.1, 0.2, 0.3, 0.4),)
    assert back.regions_at(10.2) == ()
    assert back.regions_at(11.5) == ()  # farther than box_hold_s from every sample


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "is not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps(record(version=2)).encode(), "version 2 is not 1"),
        (json.dumps(record(crf=99)).encode(), "crf must be an integer in 0..51, got 99"),
        (json.dumps(record(crf=True)).encode(), "crf must be an integer"),
        (json.dumps(record(box_hold_s="1")).encode(), "box_hold_s must be a number"),
        (json.dumps(record(max_width_px=8)).encode(), "max_width_px must be an integer in 16"),
        (b'{"version":1,"clip_start_pts_s":NaN}', "clip_start_pts_s must be a number"),
        (json.dumps(record(samples={})).encode(), "samples must be a list"),
        (json.dumps(record(samples=[[1.0]])).encode(), "samples[0]: must be [time, [regions]]"),
        (json.dumps(record(samples=[["x", []]])).encode(), "time must be a number"),
        (json.dumps(record(samples=[[1.0, [[0, 0, 2, 1]]]])).encode(), "in 0..1"),
        (json.dumps(record(samples=[[1.0, [[0.5, 0, 0.2, 1]]]])).encode(), "x1 < x2"),
        (json.dumps(record(samples=[[1.0, [[0, 0, 1]]]])).encode(), "[x1, y1, x2, y2]"),
    ],
    ids=[
        "not-utf8",
        "array",
        "version",
        "crf-range",
        "crf-bool",
        "hold-string",
        "width-small",
        "nan",
        "samples-object",
        "sample-short",
        "time-string",
        "region-outside",
        "region-inverted",
        "region-three",
    ],
)
def test_a_malformed_track_is_refused_naming_the_field(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "privacy.json"
    path.write_bytes(data)
    with pytest.raises(EvidenceError) as caught:
        read_privacy_track(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_an_oversized_track_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "privacy.json"
    path.write_bytes(b" " * (MAX_TRACK_BYTES + 10))
    with pytest.raises(EvidenceError, match="larger than"):
        read_privacy_track(path)


def test_a_missing_track_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"cannot read privacy track .*gone\.json"):
        read_privacy_track(tmp_path / "gone.json")
