"""The zone editor in Chromium against ``hazardwatch up``: every camera's live picture, a polygon
drawn with the mouse, saved, served by the API and taken up by the running pipeline; floor lines
dragged; the page at a phone's width."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from tests.browser.conftest import (
    REPO,
    TOKENS,
    OpenPage,
    OpenPageFactory,
    PageProbe,
    Site,
    save_screenshot,
    scroll_width,
    site_config,
)
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess, free_port
from tests.support.waiting import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

PICTURE_TIMEOUT_MS = 30_000  # the pipeline writes the live picture every 5 s
RELOAD_TIMEOUT_S = 30.0  # the pipeline looks at zones/{camera}.json every 5 s
DRAWN = [(0.15, 0.15), (0.45, 0.12), (0.5, 0.4), (0.2, 0.45)]  # fractions of the picture


def _pick_camera(opened: OpenPage, camera_id: str) -> None:
    page = opened.page
    page.select_option("#camera", camera_id)
    # the picture and the zones shown are this camera's (data-camera is set when each arrives)
    page.wait_for_function(
        """(cam) => {
            const snap = document.getElementById('snap');
            return snap.naturalWidth > 0 && snap.complete && snap.dataset.camera === cam
                && document.getElementById('canvas').dataset.camera === cam;
        }""",
        arg=camera_id,
        timeout=PICTURE_TIMEOUT_MS,
    )


def _canvas_point(opened: OpenPage, x: float, y: float) -> tuple[float, float]:
    box = opened.page.locator("#canvas").bounding_box()
    assert box is not None and box["width"] > 100, f"the canvas is not shown: {box}"
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def _save(page: Page) -> None:
    """Click Save and wait for the server's answer: "Saved (…)", not just an ``ok`` message
    (an edit's "Not saved yet" is ``ok`` too, so that wait returned before the PUT was answered
    and the test read the old zones back: CI on Chromium 156.0.8078.129, 1 run in 2)."""
    page.click("#save")
    page.wait_for_function(
        "() => document.getElementById('msg').className === 'ok'"
        " && /Saved/.test(document.getElementById('msg').textContent)"
    )


def test_every_camera_shows_its_live_picture(hw_site: Site, open_page: OpenPageFactory) -> None:
    opened = open_page("/ui/zones")
    for camera_id in hw_site.camera_ids:
        _pick_camera(opened, camera_id)
        natural = opened.page.evaluate(
            "() => [document.getElementById('snap').naturalWidth,"
            " document.getElementById('snap').naturalHeight]"
        )
        # the generated clips are 4:3 (the pipeline may scale its snapshot)
        assert natural[0] > 0 and natural[0] * 3 == natural[1] * 4, (camera_id, natural)
        opened.page.wait_for_function(
            "() => /\\d/.test(document.getElementById('live').textContent)"
        )  # the picture's time is shown
        save_screenshot(opened.page, f"zones-{camera_id}-desktop")


def test_a_polygon_drawn_with_the_mouse_is_saved_and_taken_up_by_the_pipeline(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    opened = open_page("/ui/zones")
    page = opened.page
    _pick_camera(opened, "lane_cam")
    page.fill("#zname", "drawn")
    page.click("#newpoly")
    for x, y in DRAWN:
        page.mouse.click(*_canvas_point(opened, x, y))
    page.click("#finish")
    _save(page)
    saved = hw_site.get_json("/cameras/lane_cam/zones")
    assert saved["source"] == "override" and saved["by"] == "env-admin"
    assert set(saved["zones"]) == {"lane", "drawn"}
    drawn = saved["zones"]["drawn"]["polygon"]
    assert len(drawn) == len(DRAWN)
    for (x, y), (want_x, want_y) in zip(drawn, DRAWN, strict=True):
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01, (drawn, DRAWN)
    assert (hw_site.data_dir / "zones" / "lane_cam.json").is_file()
    save_screenshot(page, "zones-drawn-desktop")

    # The running pipeline reloads the file; its next status names the zones it runs with.
    live = hw_site.get_json("/cameras/lane_cam/live")
    assert live["zones"] is not None, "the pipeline's status record names no zones"
    wait_for(
        lambda: "drawn" in (hw_site.get_json("/cameras/lane_cam/live")["zones"] or []),
        RELOAD_TIMEOUT_S,
        "the pipeline's status to name the drawn zone",
        explain=hw_site.log_tail,
    )


def test_a_floor_line_is_dragged_and_saved(hw_site: Site, open_page: OpenPageFactory) -> None:
    opened = open_page("/ui/zones")
    page = opened.page
    _pick_camera(opened, "facade_cam")
    before = hw_site.get_json("/cameras/facade_cam/zones")["floors"]["lines"]
    assert before[2] == 0.4
    x, y = _canvas_point(opened, 0.3, before[2])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, _canvas_point(opened, 0.3, 0.47)[1], steps=5)
    page.mouse.up()
    _save(page)
    after = hw_site.get_json("/cameras/facade_cam/zones")["floors"]["lines"]
    assert abs(after[2] - 0.47) < 0.01, after
    assert [a for i, a in enumerate(after) if i != 2] == [b for i, b in enumerate(before) if i != 2]
    save_screenshot(page, "zones-floors-desktop")


def test_a_floor_line_is_grabbed_where_it_is_shown_while_the_canvas_buffer_lags(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    """The canvas's drawing buffer follows its laid-out size a moment later (a ResizeObserver):
    a press in that moment hit-tested against the stale buffer and missed the line (CI, under
    load: the drag did nothing). The buffer is made to lag here on purpose."""
    opened = open_page("/ui/zones")
    page = opened.page
    _pick_camera(opened, "facade_cam")
    before = hw_site.get_json("/cameras/facade_cam/zones")["floors"]["lines"]
    page.evaluate(
        "() => { const c = document.getElementById('canvas');"
        " c.height = Math.round(c.height * 0.6); c.width = Math.round(c.width * 0.6); }"
    )

    def drag(from_y: float, to_y: float) -> list[float]:
        x, y = _canvas_point(opened, 0.3, from_y)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x, _canvas_point(opened, 0.3, to_y)[1], steps=5)
        page.mouse.up()
        _save(page)
        lines: list[float] = hw_site.get_json("/cameras/facade_cam/zones")["floors"]["lines"]
        return lines

    moved = drag(before[3], before[3] + 0.05)
    assert abs(moved[3] - (before[3] + 0.05)) < 0.01, moved
    restored = drag(moved[3], before[3])  # as the other tests expect it
    assert abs(restored[3] - before[3]) < 0.01, restored


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_the_zone_editor_fits_a_phone(hw_site: Site, open_page: OpenPageFactory, lang: str) -> None:
    opened = open_page("/ui/zones", width=390, height=844, lang=lang)
    _pick_camera(opened, "facade_cam")
    width = scroll_width(opened.page)
    assert width <= 390, f"the zone editor is {width} px wide at 390 px ({lang})"
    box = opened.page.locator("#canvas").bounding_box()
    assert box is not None and 300 <= box["width"] <= 390, box
    title = opened.page.locator("h2").first.text_content()
    assert title == ("区域编辑" if lang == "zh-CN" else "Zone editor"), title
    save_screenshot(opened.page, f"zones-facade_cam-phone-{lang}")


# ----- a camera that goes down ----------------------------------------------------------------
# The shared site's cameras loop for ever; this one plays its file once and then stops, as a
# camera does when its stream ends: its pipeline keeps reporting it ("stopped") and its last live
# picture stays on disk. A second, small ``hazardwatch up`` of its own, so the shared one is left
# as the other tests expect it.


@pytest.fixture(scope="module")
def ended_site(
    tmp_path_factory: pytest.TempPathFactory, media_cache: Path, browser: Browser
) -> Iterator[str]:
    """Base URL of ``hazardwatch up`` with one facade camera whose file has played out."""
    root = tmp_path_factory.mktemp("hw-ended")
    clip = ensure_clip(media_cache, width=320, height=240, seconds=4.0, pattern="moving_box")
    config = site_config(dict.fromkeys(("lane_cam", "lift_cam", "facade_cam"), clip))
    config["cameras"] = {"facade_cam": config["cameras"]["facade_cam"]}
    config["api"]["tokens"] = [t for t in config["api"]["tokens"] if "cameras" not in t]
    config_path = root / "site.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    redis = RedisServerProcess(root / "redis", ready_timeout_s=15.0).start()
    base_url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HAZARDWATCH_ADMIN_TOKEN": TOKENS["admin"]}
    env.pop("HAZARDWATCH_LOOP_FILES", None)
    log_path = root / "up.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hazardwatch", "up", "--config", str(config_path),
             "--data-dir", str(root / "data"), "--host", "127.0.0.1",
             "--port", base_url.rsplit(":", 1)[1], "--redis-url", redis.url],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120.0
        while _camera_state(base_url, "facade_cam") != "stopped":
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "the one-shot camera did not stop within 120 s:\n"
                    + log_path.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.5)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        redis.stop()


def _camera_state(base_url: str, camera_id: str) -> str | None:
    try:
        response = httpx.get(f"{base_url}/health", timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code not in (200, 503):
        return None
    return response.json().get("cameras", {}).get(camera_id, {}).get("state")


def test_a_camera_that_is_down_keeps_its_last_picture_with_a_message(
    ended_site: str, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        probe = PageProbe(ended_site)
        page.on("console", probe.on_console)
        page.on("pageerror", probe.on_page_error)
        page.on("response", probe.on_response)
        page.on("requestfailed", probe.on_failed)
        page.goto(f"{ended_site}/ui/zones?token={TOKENS['admin']}")
        page.wait_for_function(
            "() => document.getElementById('snap').naturalWidth > 0",
            timeout=PICTURE_TIMEOUT_MS,
        )
        live = page.locator("#live")
        page.wait_for_function("() => document.getElementById('live').className === 'err'")
        text = live.text_content() or ""
        assert "Camera stopped: showing its last picture, from" in text, text
        save_screenshot(page, "zones-camera-down-desktop")
        OpenPage(page, probe).check()
    finally:
        context.close()
