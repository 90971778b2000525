"""The dashboard in Chromium against ``hazardwatch up``: charts and heat maps show seeded tickets.

Expected numbers are counted here from ``GET /tickets`` (every ticket of the site, including
those other browser tests seeded), in the page's time zone, and compared with the ``data-*``
attributes of what the page drew; the seeded tickets' heat points are checked where the test
put them (a falling object's trajectory origin, a zone's centre) and over the camera's picture.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import OpenPageFactory, Site, save_screenshot, scroll_width

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

TZ = "Asia/Shanghai"
DAYS = 7
PATH = f"/ui/dashboard?days={DAYS}&tz={TZ}"


def _new_ticket(site: Site, camera: str, kind: str, zone: str, **kwargs: Any) -> dict[str, Any]:
    """A ticket of its own: a seed that joined an open ticket of the same camera, zone and kind
    (another test's) rejects that one and seeds again."""
    for _ in range(3):
        ticket = site.seed_ticket(camera, kind, zone, **kwargs)
        if len(ticket["hazard_ids"]) == 1:
            return ticket
        site.transition(ticket["id"], "rejected", note="dashboard test: make room")
    raise AssertionError(f"could not get a ticket of its own on {camera}/{zone}")


def _expected(site: Site) -> tuple[Counter[tuple[str, str]], Counter[int], Counter[str]]:
    """(kind, local day) and local start hour counts of the window's tickets, tickets per camera."""
    tz = ZoneInfo(TZ)
    first = datetime.now(tz).date() - timedelta(days=DAYS - 1)
    by_kind_day: Counter[tuple[str, str]] = Counter()
    by_hour: Counter[int] = Counter()
    by_camera: Counter[str] = Counter()
    for ticket in site.get_json("/tickets", limit=1000)["items"]:
        day = datetime.fromisoformat(ticket["created_at"]).astimezone(tz).date()
        if day < first:
            continue
        by_kind_day[(ticket["kind"], day.isoformat())] += 1
        by_hour[datetime.fromisoformat(ticket["started_at"]).astimezone(tz).hour] += 1
        by_camera[ticket["camera_id"]] += 1
    return by_kind_day, by_hour, by_camera


def _drawn(page: Any, selector: str, *attrs: str) -> list[dict[str, str]]:
    return list(
        page.eval_on_selector_all(
            selector,
            "(nodes, attrs) => nodes.map(n => Object.fromEntries("
            "attrs.map(a => [a, n.getAttribute(a)])))",
            list(attrs),
        )
    )


def _wait_for_live_pictures(site: Site) -> None:
    deadline = datetime.now() + timedelta(seconds=60)
    with site.client() as client:
        while datetime.now() < deadline:
            codes = [
                client.head(f"/cameras/{cid}/snapshot.jpg").status_code for cid in site.camera_ids
            ]
            if all(code == 200 for code in codes):
                return
    raise AssertionError(f"no live picture of every camera after 60 s: {codes}")


def test_dashboard_draws_the_seeded_tickets(hw_site: Site, open_page: OpenPageFactory) -> None:
    _wait_for_live_pictures(hw_site)
    lane = _new_ticket(hw_site, "lane_cam", "fire_lane_blocked", "lane", seed=11)
    lift = _new_ticket(hw_site, "lift_cam", "ebike_entry", "door", seed=12, labels=("ebike",))
    path = [[0.7, 0.5, 0.0], [0.72, 0.18, 0.4], [0.74, 0.6, 0.8]]  # origin: the highest point
    falling = _new_ticket(
        hw_site,
        "facade_cam",
        "falling_object",
        "facade",
        seed=13,
        labels=("object",),
        details={"origin_floor": 12, "trajectory_norm": path},
    )
    by_kind_day, by_hour, by_camera = _expected(hw_site)

    page = open_page(PATH).page  # English (the fixture's default browser language)
    assert page.locator('h3[data-i18n="dash.by_kind"]').inner_text() == "By kind"
    assert page.locator("#legend_kind [data-label='kind:falling_object']").inner_text() == (
        "Falling object"
    )
    segments = _drawn(page, "#chart_kind rect.seg", "data-key", "data-col", "data-count")
    drawn = Counter({(s["data-key"], s["data-col"]): int(s["data-count"]) for s in segments})
    assert drawn == by_kind_day
    hours = _drawn(page, "#chart_hours rect.hour", "data-hour", "data-count")
    assert len(hours) == 24
    assert {int(h["data-hour"]): int(h["data-count"]) for h in hours} == {
        hour: by_hour.get(hour, 0) for hour in range(24)
    }
    for group in ("status", "level"):
        total = page.get_attribute(f"#chart_{group}", "data-total")
        assert total == str(sum(by_kind_day.values())), group

    for camera, count in by_camera.items():
        points = _drawn(page, f"#heat_{camera} circle.pt", "data-ticket")
        assert len(points) == count, camera
    box_centre = (0.375, 0.575)  # of the event box every seeded ticket has (conftest)
    where = {
        lane["id"]: ("lane_cam", "box", box_centre),
        lift["id"]: ("lift_cam", "box", box_centre),
        falling["id"]: ("facade_cam", "trajectory", (0.72, 0.18)),
    }
    for ticket_id, (camera, source, (x, y)) in where.items():
        circle = page.locator(f'#heat_{camera} circle.pt[data-ticket="{ticket_id}"]')
        assert circle.get_attribute("data-source") == source
        assert float(circle.get_attribute("cx") or "nan") == pytest.approx(x * 1000, abs=1)
        assert float(circle.get_attribute("cy") or "nan") == pytest.approx(y * 1000, abs=1)
        # Over the camera's picture: the overlay covers the loaded image, the point inside it.
        img = page.locator(f"#cam_{camera} .pic img")
        assert img.evaluate("i => i.complete && i.naturalWidth > 0"), camera
        picture, overlay = img.bounding_box(), page.locator(f"#heat_{camera}").bounding_box()
        dot = circle.bounding_box()
        assert picture is not None and overlay is not None and dot is not None
        for key in ("x", "y", "width", "height"):
            assert overlay[key] == pytest.approx(picture[key], abs=1.5), (camera, key)
        centre_x, centre_y = dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2
        assert centre_x == pytest.approx(picture["x"] + x * picture["width"], abs=3)
        assert centre_y == pytest.approx(picture["y"] + y * picture["height"], abs=3)
    assert page.locator("#cam_lane_cam").get_attribute("data-state") == "streaming"
    save_screenshot(page, "dashboard-desktop")


def test_dashboard_fits_a_phone_and_scopes_a_grid_worker(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    _wait_for_live_pictures(hw_site)
    _new_ticket(hw_site, "lane_cam", "fire_lane_blocked", "lane", seed=21)
    phone = open_page(PATH, width=390, height=844, lang="zh-CN").page
    assert scroll_width(phone) <= 390
    assert phone.locator('h3[data-i18n="dash.by_kind"]').inner_text() == "按类型"
    assert phone.locator('[data-i18n="dash.window"]').inner_text() == f"近 {DAYS} 天"
    for img in phone.locator(".pic img").all():  # every picture loaded before the screenshot
        img.scroll_into_view_if_needed()
        phone.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert phone.locator("#chart_kind").is_visible()
    box = phone.locator("#heat_lane_cam").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    save_screenshot(phone, "dashboard-390")

    grid = open_page(PATH, role="grid_worker").page
    assert _drawn(grid, ".cam", "data-camera") == [{"data-camera": "lane_cam"}]
    expected_lane = sum(
        1
        for t in hw_site.get_json("/tickets", limit=1000)["items"]
        if t["camera_id"] == "lane_cam"
        and datetime.fromisoformat(t["created_at"]).astimezone(ZoneInfo(TZ)).date()
        >= datetime.now(ZoneInfo(TZ)).date() - timedelta(days=DAYS - 1)
    )
    assert grid.get_attribute("#panels", "data-count") == str(expected_lane)

    public = open_page(PATH, role="public").page
    assert public.locator(".cam").count() == 0
    assert public.locator("#overdue_card").count() == 0
    assert public.locator("#tile_overdue").count() == 0
    save_screenshot(public, "dashboard-public")


def test_refresh_swaps_in_new_tickets_in_the_readers_language(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    _wait_for_live_pictures(hw_site)
    page = open_page(PATH).page
    before = int(page.get_attribute("#panels", "data-count") or "-1")
    ticket = _new_ticket(hw_site, "lift_cam", "ebike_entry", "door", seed=31, labels=("ebike",))
    page.evaluate("refresh()")  # what the page runs every 30 s
    page.wait_for_function(f"document.getElementById('panels').dataset.count === '{before + 1}'")
    page.locator(f'#heat_lift_cam circle.pt[data-ticket="{ticket["id"]}"]').wait_for()
    # The swapped-in panels are in English too, their pictures loaded anew.
    assert page.locator('h3[data-i18n="dash.by_kind"]').inner_text() == "By kind"
    assert page.locator("#legend_kind [data-label='kind:ebike_entry']").inner_text() == (
        "E-bike in lift"
    )
    img = page.locator("#cam_lift_cam .pic img")
    img.scroll_into_view_if_needed()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    assert page.locator("#msg").inner_text() == ""
