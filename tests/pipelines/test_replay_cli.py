"""``hazardwatch replay``: events as JSON lines, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazardwatch.cli import main
from tests.support.assets import SHARED_ASSETS, require_shared

REPO = Path(__file__).resolve().parents[2]
FACADE_CONFIG = REPO / "benchmarks" / "scenarios" / "real_configs" / "office_facade.yaml"
OFFICE3 = SHARED_ASSETS / "clips" / "falling_object" / "office3_facade_paper_fall_720p.mp4"
CONTRACT_FIELDS = {
    "event_id", "hazard_id", "phase", "kind", "camera_id", "zone", "started_at", "ended_at",
    "start_pts_s", "end_pts_s", "track_ids", "labels", "score", "box_norm", "details", "evidence",
}  # fmt: skip


def test_replay_real_paper_fall_writes_contract_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_shared(OFFICE3, "replaying the real paper fall")
    out = tmp_path / "events.jsonl"
    code = main(["replay", "--config", str(FACADE_CONFIG), "--camera", "office_facade",
                 "--video", str(OFFICE3), "--events-out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in out.read_text().splitlines()]
    starts = [e for e in events if e["phase"] == "start"]
    assert len(starts) == 1
    start = starts[0]
    assert set(start) == CONTRACT_FIELDS
    assert start["kind"] == "falling_object" and start["zone"] == "facade"
    assert 123 / 29.97 <= start["start_pts_s"] <= 165 / 29.97
    assert start["details"]["origin_floor"] >= 3
    assert [e["phase"] for e in events if e["hazard_id"] == start["hazard_id"]][-1] == "end"
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames_decoded"] == 198 and summary["x_realtime"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "office_facade", "--video", "{tmp}/none.mp4"], "video not found"),
        (["--camera", "nope", "--video", "{garbage}"], "camera 'nope' is not in the config"),
        (["--camera", "office_facade", "--video", "{garbage}"], "not a readable video stream"),
    ],
    ids=["missing-video", "unknown-camera", "garbage-video"],
)
def test_replay_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 1000)
    filled = [a.format(tmp=tmp_path, garbage=garbage) for a in args]
    code = main(["replay", "--config", str(FACADE_CONFIG), *filled,
                 "--events-out", str(tmp_path / "e.jsonl")])  # fmt: skip
    assert code == 2
    assert message in capsys.readouterr().err


def test_replay_broken_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("site: {id: s, name: S}\ncameras: {}\n")
    code = main(["replay", "--config", str(config), "--camera", "c", "--video", str(config),
                 "--events-out", str(tmp_path / "e.jsonl")])  # fmt: skip
    assert code == 2
    assert "bad.yaml" in capsys.readouterr().err
