"""``hazardwatch check-config`` through the real CLI entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hazardwatch.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "cameras" / "examples"

BROKEN = """\
site: {id: block_a, name: "Block A"}
cameras:
  lobby:
    source: rtsp://admin:Sup3rSecret@10.0.0.21:554/ch1
    zones:
      lift: {polygon: [[0.1, 0.1], [0.9, 0.1]]}
      door: {line: [[0.2, 0.8], [0.6, 0.8]]}
    hazards:
      - {kind: falling_object, zone: lift, colour: red}
"""


@pytest.mark.parametrize(
    ("name", "expected_stdout"),
    [
        pytest.param("fire_lane.yaml", "2 cameras (north_lane, b2_corridor)", id="fire-lane"),
        pytest.param("ebike_entry.yaml", "2 cameras (lobby_lift, stair_b)", id="ebike"),
        pytest.param("falling_object.yaml", "1 camera (east_facade)", id="falling"),
        pytest.param(
            "mixed_site.yaml",
            "4 cameras (north_lane, lobby_lift, east_facade, garage_ramp)",
            id="mixed",
        ),
    ],
)
def test_examples_are_ok(
    name: str, expected_stdout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = EXAMPLES / name
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: {path}: {expected_stdout}\n"
    assert err == ""


def test_broken_file_lists_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    assert main(["check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}: cameras.lobby.zones.door.inward: required key 'inward' is missing (Vector "
        "[dx, dy] in normalized coordinates pointing to the inner side of the line; only the "
        "side it points to matters)",
        f"{path}: cameras.lobby.hazards[0].colour: unknown key 'colour' (allowed here: kind, "
        "zone, min_drop_floors)",
        # The cross checks run on the parts that validated (the hazard without its unknown key):
        f"{path}: cameras.lobby.zones.lift.polygon: zone 'lift' of camera 'lobby': a polygon "
        "needs at least 3 points, got 2",
        f"{path}: cameras.lobby.floors: camera 'lobby' has a falling_object hazard (hazards[0]) "
        "but no 'floors' section (count, lowest_visible_floor, lines) to tell the floor",
        f"{path}: 4 errors",
    ]
    assert "Sup3rSecret" not in err


# Issue 8: an unknown key, a 2-point polygon, a 1.5 coordinate and a hazard on a missing zone.
FOUR_PROBLEMS = """\
site: {id: block_a, name: "Block A"}
detector: {model: models/yolox_nano.onnx, classes: {car: vehicle}}
cameras:
  lane:
    source: rtsp://10.0.0.22/ch1
    colour: red
    zones:
      lane: {polygon: [[0.1, 0.1], [0.9, 0.1]]}
      yard: {polygon: [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]}
    hazards:
      - {kind: fire_lane_blocked, zone: gate}
"""


def _four_problem_lines(path: Path) -> list[str]:
    return [
        f"{path}: cameras.lane.colour: unknown key 'colour' (allowed here: rtsp_transport, "
        "connect_timeout_s, read_timeout_s, decode_threads, preroll_s, postroll_s, decode, "
        "enabled, source, evidence_source, name, area, detect, motion, zones, floors, hazards)",
        f"{path}: cameras.lane.zones.lane.polygon: zone 'lane' of camera 'lane': a polygon "
        "needs at least 3 points, got 2",
        f"{path}: cameras.lane.zones.yard.polygon[1]: point [1.5, 0.1] of zone 'yard' of "
        "camera 'lane' is outside the frame: x = 1.5 must lie in 0..1 (coordinates are "
        "normalized)",
        f"{path}: cameras.lane.hazards[0].zone: fire_lane_blocked hazard refers to zone 'gate', "
        "which camera 'lane' does not define (zones: lane, yard)",
        f"{path}: 4 errors",
    ]


def test_an_unknown_key_does_not_hide_the_other_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "four.yaml"
    path.write_text(FOUR_PROBLEMS)
    assert main(["check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == _four_problem_lines(path)


def test_the_installed_command_lists_all_four(tmp_path: Path) -> None:
    path = tmp_path / "four.yaml"
    path.write_text(FOUR_PROBLEMS)
    done = subprocess.run(
        [sys.executable, "-m", "hazardwatch", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == _four_problem_lines(path)


def test_cross_field_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "geometry.yaml"
    path.write_text(
        BROKEN.replace(
            "{line: [[0.2, 0.8], [0.6, 0.8]]}", "{line: [[0.2, 0.8], [0.6, 0.8]], inward: [0, 1]}"
        ).replace(", colour: red", "")
    )
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path}: cameras.lobby.zones.lift.polygon: zone 'lift' of camera 'lobby': a polygon "
        "needs at least 3 points, got 2" in err
    )
    assert f"{path}: cameras.lobby.floors: camera 'lobby' has a falling_object hazard" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(None, "missing.yaml: file not found", id="missing-file"),
        pytest.param("site: [\n", "YAML syntax error at line 2, column 1", id="syntax"),
        pytest.param("- 1\n", "the top level must be a mapping", id="not-a-mapping"),
    ],
)
def test_unusable_files_exit_2(
    content: str | None, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["check-config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert expected in err


def test_file_argument_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["check-config"])
    assert info.value.code == 2
    assert "FILE" in capsys.readouterr().err
