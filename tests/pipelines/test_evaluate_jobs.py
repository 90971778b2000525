"""``hazardwatch eval --jobs N``: clips replayed in N processes give the report of one process,
and a clip's error reaches the caller as the error it is."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scenarios.generate import generate_suite
from cameras.schema_checks import ConfigIssue
from hazardwatch.cli import main
from pipelines.config import ConfigError
from pipelines.evaluate import SuiteReport, evaluate_suite

pytestmark = pytest.mark.slow

SEED = 7


@pytest.fixture(scope="module")
def facade_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick facade-only suite: it needs no detector and no shared assets."""
    out = tmp_path_factory.mktemp("eval-jobs") / "suite"
    return generate_suite(out, seed=SEED, quick=True, scenes="facade", jobs=2, log=lambda _: None)


def _without_speed(report: SuiteReport) -> list[dict[str, Any]]:
    rows = []
    for row in [*report.clips, *report.report_only]:
        kept = {key: value for key, value in row.items() if key != "replay"}
        replay = dict(row["replay"])
        for speed in ("wall_s", "x_realtime", "cpu_s", "stage_ms"):
            replay.pop(speed, None)
        rows.append({**kept, "replay": replay})
    return rows


def test_two_processes_give_the_report_of_one(facade_suite: Path) -> None:
    serial = evaluate_suite([facade_suite])
    lines: list[str] = []
    parallel = evaluate_suite([facade_suite], jobs=2, progress=lines.append)
    assert len(serial.clips) >= 4, "the quick suite has too few clips to tell anything"
    assert _without_speed(parallel) == _without_speed(serial)
    assert parallel.metrics == serial.metrics
    # progress comes in the suite's order, one line per clip, whichever process finished first
    ids = [row["id"] for row in [*serial.clips, *serial.report_only]]
    assert [line.split()[0] for line in lines] == ids
    assert set(parallel.speed) == set(serial.speed)


def test_a_broken_clip_config_reaches_the_caller_as_a_config_error(
    facade_suite: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "suite"
    shutil.copytree(facade_suite, broken)
    config = broken / "configs" / "facade.yaml"
    assert config.is_file()
    config.write_text(config.read_text().replace("cameras:", "cameras: 12\nnot_cameras:", 1))
    with pytest.raises(ConfigError) as raised:
        evaluate_suite([broken], jobs=2)
    assert str(config) in str(raised.value)
    assert raised.value.errors, "the issues were lost on the way from the worker"


def test_config_error_survives_pickling() -> None:
    error = ConfigError("site.yaml", [ConfigIssue("cameras.lane.fps", "must be positive")])
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is ConfigError
    assert again.errors == error.errors and str(again) == str(error)


@pytest.mark.parametrize("value", ["0", "-1", "65", "two"])
def test_eval_refuses_a_bad_job_count(
    value: str, facade_suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["eval", str(facade_suite), "--jobs", value])
    assert raised.value.code == 2
    assert "1..64" in capsys.readouterr().err
