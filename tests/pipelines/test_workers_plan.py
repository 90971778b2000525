"""Planning the worker processes of ``hazardwatch run``: counts, balance, spools, node names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipelines.workers import (
    LEGACY_SPOOL_NAME,
    SupervisorSettings,
    WorkerPlanError,
    WorkerSupervisor,
    check_node_name,
    default_node_name,
    orphan_spools,
    plan_workers,
    resolve_worker_count,
    spool_path,
)


@pytest.mark.parametrize(
    ("requested", "cameras", "cores", "expected"),
    [
        ("auto", 8, 2, 2),
        ("auto", 1, 8, 1),
        ("auto", 0, 4, 1),
        ("3", 8, 2, 3),  # asked for more than cores: honoured
        ("6", 2, 2, 2),  # never more workers than cameras
        (1, 5, 2, 1),
    ],
)
def test_worker_count(requested: str | int, cameras: int, cores: int, expected: int) -> None:
    assert resolve_worker_count(requested, cameras, cores) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", ""])
def test_bad_worker_count_names_the_option(bad: str) -> None:
    with pytest.raises(WorkerPlanError, match="--workers"):
        resolve_worker_count(bad, 4, 2)


def test_plan_balances_costs_and_is_deterministic() -> None:
    costs = {"lane1": 145.0, "lane2": 145.0, "lane3": 145.0, "facade1": 105.0, "door": 80.0}
    plan = plan_workers(costs, 2)
    assert sorted(c for cams in plan for c in cams) == sorted(costs)
    loads = [sum(costs[c] for c in cams) for cams in plan]
    assert max(loads) - min(loads) <= 145.0
    assert plan == plan_workers(dict(reversed(list(costs.items()))), 2)


def test_plan_with_more_workers_than_cameras_leaves_empty_slots() -> None:
    plan = plan_workers({"a": 1.0}, 3)
    assert plan == [["a"], [], []]
    settings = SupervisorSettings(Path("c.yaml"), Path("d"), "redis://x", "n")
    assert [w.index for w in WorkerSupervisor(settings, plan).workers] == [0]


def test_orphan_spools_are_this_nodes_unowned_ones_and_the_legacy_spool(tmp_path: Path) -> None:
    for node, index in [("box", 0), ("box", 1), ("box", 2), ("box", 10), ("other", 3)]:
        path = spool_path(tmp_path, node, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (tmp_path / LEGACY_SPOOL_NAME).write_bytes(b"")
    names = [p.name for p in orphan_spools(tmp_path, "box", 2)]
    assert names == [LEGACY_SPOOL_NAME, "box-w10.sqlite3", "box-w2.sqlite3"]


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a b", "x" * 64, "..", "ü"])
def test_bad_node_names_are_refused(bad: str) -> None:
    with pytest.raises(WorkerPlanError, match="--node"):
        check_node_name(bad)


def test_default_node_name_is_valid() -> None:
    assert check_node_name(default_node_name())


def test_worker_command_carries_its_cameras_node_and_verbosity() -> None:
    settings = SupervisorSettings(
        Path("/etc/hw.yaml"), Path("/data"), "redis://127.0.0.1:6379/0", "box1", verbosity=2
    )
    supervisor = WorkerSupervisor(settings, [["a", "b"], ["c"]])
    command = supervisor.command(supervisor.workers[1])
    assert command[1:5] == ["-m", "hazardwatch", "-v", "-v"]
    assert command[command.index("--only-cameras") + 1] == "c"
    assert command[command.index("--worker-index") + 1] == "1"
    assert command[command.index("--node") + 1] == "box1"


def test_a_start_removes_only_its_own_cameras_partial_files(tmp_path: Path) -> None:
    """Boxes and workers share the data volume: a starting process must not delete another's
    writes in progress (it did: node b's start removed node a's half-written clip)."""
    from hazardwatch.services import remove_own_partial_files

    day = "2026-12-06"
    planted = {
        "a_clip": tmp_path / "evidence" / "a1" / day / "h1" / ".clip.mp4.0123abcd.partial.mp4",
        "b_clip": tmp_path / "evidence" / "b1" / day / "h2" / ".clip.mp4.4567cdef.partial.mp4",
        "a_live": tmp_path / "live" / ".a1.jpg.89abcdef.partial",
        "a_after": tmp_path / "live" / ".a1__lane__fire_lane_blocked_after.jpg.0a1b2c3d.partial",
        "b_live": tmp_path / "live" / ".b1.jpg.fedcba98.partial",
        "a10_live": tmp_path / "live" / ".a10.jpg.76543210.partial",  # a1 is a prefix of a10
    }  # fmt: skip
    for path in planted.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    remove_own_partial_files(tmp_path, ["a1"], older_than_s=time.time() + 1)
    left = {name for name, path in planted.items() if path.exists()}
    assert left == {"b_clip", "b_live", "a10_live"}
