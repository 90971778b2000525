"""Evidence retention on a real folder tree: age, budget, free space, open tickets kept."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.config import parse_config
from pipelines.retention import (
    PARTIAL_MAX_AGE_S,
    HazardState,
    RetentionSettings,
    evidence_tree_bytes,
    list_hazard_folders,
    run_retention,
)

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SIZE = 1000  # bytes per hazard folder (two files of 500)

# hazard -> (camera, age of its newest file, state: "open" | ("closed", closed this long ago) |
# None for a hazard no ticket knows)
TREE: dict[str, tuple[str, timedelta, object]] = {
    "h1": ("a", 400 * DAY, ("closed", 200 * DAY)),
    "h2": ("b", 30 * DAY, ("closed", 10 * DAY)),
    "h3": ("a", 300 * DAY, "open"),
    "h4": ("b", 200 * DAY, None),
    "h5": ("a", 1 * DAY, None),
    "h6": ("b", 20 * DAY, ("closed", 5 * DAY)),
}


def make_tree(data_dir: Path) -> None:
    for hazard, (camera, age, _state) in TREE.items():
        written = NOW - age
        folder = data_dir / "evidence" / camera / written.strftime("%Y-%m-%d") / hazard
        folder.mkdir(parents=True)
        for name in ("clip.mp4", "snapshot.jpg"):
            (folder / name).write_bytes(b"x" * (SIZE // 2))
            os.utime(folder / name, (written.timestamp(), written.timestamp()))


def states(ids: Collection[str]) -> Mapping[str, HazardState]:
    out = {}
    for hazard in ids:
        state = TREE[hazard][2]
        if state == "open":
            out[hazard] = HazardState(open=True, changed_at=NOW - DAY)
        elif isinstance(state, tuple):
            out[hazard] = HazardState(open=False, changed_at=NOW - state[1])
    return out


def left(data_dir: Path) -> set[str]:
    return {folder.hazard_id for folder in list_hazard_folders(data_dir)}


@pytest.mark.parametrize(
    ("settings", "free", "deleted", "over"),
    [
        pytest.param({"max_age_days": 180}, None, ["h1", "h4"], False, id="age-closed-and-unknown"),
        pytest.param({"max_age_days": 3650}, None, [], False, id="nothing-old-enough"),
        pytest.param(
            {"max_age_days": 180, "max_bytes": 3 * SIZE},
            None,
            ["h1", "h4", "h2"],
            False,
            id="budget-oldest-closed-first",
        ),
        pytest.param(
            {"max_age_days": 180, "max_bytes": 0},
            None,
            ["h1", "h4", "h2", "h6"],
            True,
            id="budget-never-open-nor-unknown",
        ),
        pytest.param(
            {"max_age_days": 3650, "min_free_bytes": 10_000},
            8_500,
            ["h1", "h2"],
            False,
            id="free-space-closed-only",
        ),
        pytest.param(
            {"max_age_days": 3650, "min_free_bytes": 100_000},
            8_500,
            ["h1", "h2", "h6"],
            True,
            id="free-space-short-open-kept",
        ),
    ],
)
def test_retention_deletes_what_may_go(
    tmp_path: Path,
    settings: dict[str, float],
    free: int | None,
    deleted: list[str],
    over: bool,
) -> None:
    make_tree(tmp_path)
    initial = evidence_tree_bytes(tmp_path)

    def disk_free(path: Path) -> int | None:
        # A disk with `free` bytes free before the run: what the run deletes becomes free.
        return None if free is None else free + initial - evidence_tree_bytes(path)

    run = run_retention(
        tmp_path, RetentionSettings.model_validate(settings), states, now=NOW, free_bytes=disk_free
    )
    assert list(run.deleted_hazard_ids) == deleted
    assert left(tmp_path) == set(TREE) - set(deleted)
    assert (run.folders_deleted, run.files_deleted) == (len(deleted), 2 * len(deleted))
    assert run.bytes_deleted == SIZE * len(deleted)
    assert run.bytes_in_use == SIZE * (len(TREE) - len(deleted))
    assert run.folders_kept_open == 1
    assert (run.errors, run.last_error) == (0, None)
    assert run.over_budget is over
    # Empty date and camera folders went with their last hazard.
    for folder in (tmp_path / "evidence").rglob("*"):
        assert not folder.is_dir() or any(folder.iterdir()), folder


def test_nothing_is_deleted_without_the_tickets_states(tmp_path: Path) -> None:
    make_tree(tmp_path)

    def unavailable(_ids: Collection[str]) -> Mapping[str, HazardState]:
        raise ConnectionError("database is down")

    run = run_retention(tmp_path, RetentionSettings(max_bytes=0), unavailable, now=NOW)
    assert run.folders_deleted == 0 and left(tmp_path) == set(TREE)
    assert run.errors == 1
    assert run.last_error == "cannot read the tickets' states: ConnectionError: database is down"


def test_stale_partial_files_are_removed(tmp_path: Path) -> None:
    make_tree(tmp_path)
    [folder] = [f.path for f in list_hazard_folders(tmp_path) if f.hazard_id == "h5"]
    stale = folder / ".clip.1a2b3c4d.partial.mp4"
    # the public clip's temporary name ends in .mp4 with no ".partial" (the encoder needs it)
    stale_public = folder / ".clip_public.mp4.9c8d7e6f.mp4"
    fresh = folder / ".snapshot.jpg.5e6f7a8b.partial"
    for path, age_s in (
        (stale, PARTIAL_MAX_AGE_S + 60),
        (stale_public, PARTIAL_MAX_AGE_S + 60),
        (fresh, 60.0),
    ):
        path.write_bytes(b"p" * 300)
        moment = (NOW - timedelta(seconds=age_s)).timestamp()
        os.utime(path, (moment, moment))
    run = run_retention(tmp_path, RetentionSettings(max_age_days=3650), states, now=NOW)
    assert not stale.exists() and not stale_public.exists() and fresh.exists()
    assert (run.partials_deleted, run.files_deleted, run.bytes_deleted) == (2, 2, 600)


def test_an_empty_data_dir_is_fine(tmp_path: Path) -> None:
    run = run_retention(tmp_path / "nothing", RetentionSettings(), states, now=NOW)
    assert (run.folders_deleted, run.bytes_in_use, run.errors) == (0, 0, 0)


def test_retention_settings_in_the_config() -> None:
    base = """
site: {id: a, name: A}
cameras:
  c: {source: rtsp://10.0.0.1/x}
"""
    config = parse_config(base, "t")
    assert config.retention == RetentionSettings()
    assert (config.retention.max_age_days, config.retention.interval_s) == (180, 600)
    assert config.retention.max_bytes == 20 * 1024**3
    tuned = parse_config(base + "retention: {max_age_days: 30, interval_s: 60}\n", "t")
    assert (tuned.retention.max_age_days, tuned.retention.interval_s) == (30, 60)
