"""The zone editor in Chromium against ``hazardwatch up``: every camera's live picture, a polygon
drawn with the mouse, saved, served by the API and taken up by the running pipeline; floor lines
dragged; the page at a phone's width."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import OpenPage, OpenPageFactory, Site, save_screenshot, scroll_width

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


def _wait_for(what: str, check: Any, timeout_s: float, site: Site) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s:g} s\n{site.log_tail()}")
        time.sleep(0.5)


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
    page.click("#save")
    page.wait_for_function(
        "() => document.getElementById('msg').className === 'ok'"
        " && /Saved/.test(document.getElementById('msg').textContent)"
    )
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
    if live["zones"] is None:
        pytest.xfail(
            "the pipeline's status record does not carry 'zones' yet (pipelines/runner.py "
            "_publish_camera_status; see the ZONES report)"
        )
    _wait_for(
        "the pipeline's status did not name the drawn zone",
        lambda: "drawn" in (hw_site.get_json("/cameras/lane_cam/live")["zones"] or []),
        RELOAD_TIMEOUT_S,
        hw_site,
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
    page.click("#save")
    page.wait_for_function("() => document.getElementById('msg').className === 'ok'")
    after = hw_site.get_json("/cameras/facade_cam/zones")["floors"]["lines"]
    assert abs(after[2] - 0.47) < 0.01, after
    assert [a for i, a in enumerate(after) if i != 2] == [b for i, b in enumerate(before) if i != 2]
    save_screenshot(page, "zones-floors-desktop")


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
