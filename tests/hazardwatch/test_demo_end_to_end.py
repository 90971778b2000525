"""``hazardwatch demo --exit-after`` as a user runs it after cloning: the repository's own assets
only (no shared test media), its own redis-server, the web API, and one ticket per hazard kind.

This is the README's first command (``make demo``) minus the endless serving at the end. It
caught the HTTP thread of the demo dying at start-up (signal handlers set outside the main
thread), which no unit test of the demo's parts could see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
KINDS = ("fire_lane_blocked", "ebike_entry", "falling_object")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_makes_one_ticket_per_hazard_kind_from_the_repository_assets(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HAZARDWATCH_ASSETS"}
    env["HAZARDWATCH_ADMIN_TOKEN"] = "demo-test-token"
    port, redis_port = free_port(), free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "hazardwatch", "demo", "--exit-after",
         "--data-dir", str(tmp_path / "demo"), "--port", str(port),
         "--redis-url", f"redis://127.0.0.1:{redis_port}/0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Exception in thread" not in output, output[-4000:]
    assert "left out" not in output, output[-4000:]  # every kind shown, none skipped
    tickets = re.findall(r"^\s+(demo-\S+)\s+(\w+)\s+discovered\b", proc.stdout, re.MULTILINE)
    assert sorted(kind for _, kind in tickets) == sorted(KINDS), proc.stdout[-3000:]
    assert f"http://127.0.0.1:{port}/ui/login?token=demo-test-token" in proc.stdout
    # The zone editor shows each camera's live picture: every demo camera wrote one.
    cameras = re.findall(r"camera=(\S+)", proc.stdout)
    assert len(cameras) == len(KINDS)
    for camera in cameras:
        assert (tmp_path / "demo" / "live" / f"{camera}.jpg").stat().st_size > 1000, camera
