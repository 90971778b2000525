"""The review page's box editor in a real browser: headless Chromium, real mouse and touch input.

The app runs under uvicorn on a loopback port; Chromium is driven over the DevTools protocol by
``review_editor_cdp.js`` (Node's WebSocket), which draws, selects, moves, re-classes and deletes
boxes with input events as a reviewer's mouse and finger would, marks a frame negative and saves.
The result is read back from the ticket store. Skipped when Chromium or a Node with WebSocket is
not installed (as the page-script syntax check is without Node).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.app_harness import TOKENS, ApiHarness, bearer, harness_fixture, live_server_fixture
from tests.support.assets import in_ci
from tests.support.servers import free_port
from vision.types import HazardKind

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DRIVER = Path(__file__).with_name("review_editor_cdp.js")


def _skip_or_fail(reason: str) -> None:
    """Skip locally; under CI a missing browser or Node is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _node_with_websocket() -> list[str] | None:
    node = shutil.which("node")
    if node is None:
        return None
    check = "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
    for flags in ([], ["--experimental-websocket"]):
        result = subprocess.run(
            [node, *flags, "-e", check], capture_output=True, timeout=30, check=False
        )
        if result.returncode == 0:
            return [node, *flags]
    return None


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    yield from harness_fixture(tmp_path, media_cache)


@pytest.fixture
def live_server(harness: ApiHarness) -> Iterator[str]:
    yield from live_server_fixture(harness, "uvicorn-editor")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[int]:
    """A headless Chromium with the DevTools protocol on a loopback port; yields the port."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _skip_or_fail(
            "chromium is not installed (make deps installs it): cannot drive the review page"
        )
    port = free_port()
    process = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # tests may run as root in a container
            "--disable-gpu",
            "--no-first-run",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30.0
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/json/version", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_a_reviewer_draws_moves_reclasses_deletes_and_saves_with_mouse_and_touch(
    harness: ApiHarness, live_server: str, browser: int
) -> None:
    node = _node_with_websocket()
    if node is None:
        _skip_or_fail(
            "no Node.js with WebSocket (20 with --experimental-websocket, or 22+): "
            "cannot drive the browser"
        )
    made = harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY, seed=9)
    person = {"class": "person", "xyxy": [0.6, 0.1, 0.9, 0.5]}
    put = harness.client.put(
        f"/tickets/{made.id}/annotations",
        json={"frames": [{"frame": {"source": "clip", "t_ms": 480}, "boxes": [person]}]},
        headers=bearer("reviewer"),
    )
    assert put.status_code == 200, put.text

    result = subprocess.run(
        [*node, str(DRIVER), str(browser), live_server, made.id, TOKENS["reviewer"][0]],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    message = json.loads(result.stdout.strip().splitlines()[-1])["message"]
    assert message.startswith("已保存 Saved: 2"), message

    frames = {f.frame.key: f for f in harness.store.annotations(made.id)}
    assert sorted(frames) == ["clip@480", "snapshot"]
    assert frames["snapshot"].negative and frames["snapshot"].boxes == ()
    boxes = {box.cls: box.xyxy for box in frames["clip@480"].boxes}
    assert sorted(boxes) == ["person", "vehicle"]  # the touch-drawn box was deleted again
    assert boxes["vehicle"] == pytest.approx((0.05, 0.10, 0.25, 0.40), abs=0.01)  # mouse
    assert boxes["person"] == pytest.approx((0.65, 0.40, 0.95, 0.80), abs=0.01)  # moved by touch
    assert all(f.author == "reviewer" for f in frames.values())
