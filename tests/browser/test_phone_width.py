"""Every page at a phone's 390 CSS px: no sideways scrolling (grid workers act from phones).

The document's ``scrollWidth`` must not exceed the viewport's 390 px once the page has drawn its
data (seeded tickets, the cameras' pictures). A screenshot of each page at that width is kept as
a test artifact. The dashboard and zone pages are DASH's and ZONES' work; this test holds them
to the same width as the review and login pages, and so the dispatch rules and the review page's
reassignment form.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import OpenPageFactory, Site, save_screenshot, scroll_width

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

PHONE_WIDTH_PX = 390
PHONE_HEIGHT_PX = 844


def _wider_elements(page: Page) -> list[str]:
    """The elements reaching past the right edge, named for the failure message."""
    found: list[str] = page.evaluate(
        """(limit) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > limit + 0.5)
            .slice(0, 8)
            .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                 (e.className && typeof e.className === 'string' ? '.' + e.className : '') +
                 ' right=' + Math.round(e.getBoundingClientRect().right))""",
        PHONE_WIDTH_PX,
    )
    return found


def _assert_fits(page: Page, name: str) -> None:
    save_screenshot(page, f"{name}-390px")
    width = scroll_width(page)
    assert width <= PHONE_WIDTH_PX, (
        f"{name} is {width} px wide at {PHONE_WIDTH_PX} px: {_wider_elements(page)}"
    )


@pytest.fixture(scope="module")
def seeded(hw_site: Site) -> None:
    """Tickets with long names and a rechecked one, so the pages have something to lay out."""
    hw_site.seed_ticket(zone="phone_lane_with_a_rather_long_zone_name", seed=71)
    hw_site.seed_ticket("lift_cam", "ebike_entry", "door", seed=72, labels=("ebike",))
    hw_site.seed_ticket(
        "facade_cam",
        "falling_object",
        "phone_facade",
        seed=73,
        labels=(),
        details={"origin_floor": 5, "trajectory_norm": [[0.4, 0.45, 0.0], [0.42, 0.8, 0.6]]},
    )


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_review_page_fits_a_phone(
    hw_site: Site, open_page: OpenPageFactory, seeded: None, lang: str
) -> None:
    page = open_page(
        "/ui/review", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX, role="reviewer", lang=lang
    ).page
    expect(page.locator(".qlist li[data-id]").first).to_be_visible()
    expect(page.locator("#detail h3")).to_be_visible()
    page.keyboard.press("j")  # another ticket drawn in the detail
    page.wait_for_load_state("networkidle")
    _assert_fits(page, f"review-{lang}")


def test_review_page_on_a_phone_with_a_finger(
    hw_site: Site, open_page: OpenPageFactory, seeded: None
) -> None:
    """Tap a ticket, tap confirm: a grid worker's way on a phone (no keyboard)."""
    ticket = hw_site.seed_ticket(zone="phone_tap", seed=74)
    page = open_page(
        "/ui/review", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX, role="grid_worker"
    ).page
    expect(page.locator("#bulk-reject")).to_be_hidden()  # the office's move, not theirs
    page.locator(f'.qlist li[data-id="{ticket["id"]}"] .t').tap()
    expect(page.locator("#detail h3")).to_contain_text(ticket["code"])
    page.locator('#actions button[data-to="reported"]').tap()
    expect(page.locator(f'.qlist li[data-id="{ticket["id"]}"] .st')).to_have_text("Reported")
    assert hw_site.ticket(ticket["id"])["status"] == "reported"
    _assert_fits(page, "review-tapped")


def test_login_page_fits_a_phone(open_page: OpenPageFactory) -> None:
    page = open_page("/ui/login", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX, role=None).page
    expect(page.locator("#token")).to_be_visible()
    _assert_fits(page, "login")


def test_dashboard_fits_a_phone(open_page: OpenPageFactory, seeded: None) -> None:
    page = open_page("/ui/dashboard", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX).page
    page.wait_for_load_state("networkidle")
    _assert_fits(page, "dashboard")


def test_zones_page_fits_a_phone(open_page: OpenPageFactory) -> None:
    page = open_page("/ui/zones", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX).page
    page.wait_for_load_state("networkidle")
    _assert_fits(page, "zones")


LONG_NAME = "街道综合治理中心第三网格物业服务与消防安全管理办公室"  # a long unit name


@pytest.fixture
def dispatch_rules(hw_site: Site) -> Iterator[None]:
    """Rules with long names and contacts (the table's widest case); the mapping is put back."""
    before = hw_site.get_json("/dispatch")["dispatch"]
    rules = {
        "cameras": {
            "lane_cam": {
                "unit": {"name": LONG_NAME, "contact": "fire-lane-office@estate.example.com"},
                "person": {"name": "王伟", "contact": "13800000000"},
            },
            "lift_cam/door": {"unit": {"name": "Lift maintenance contractor Ltd."}},
        },
        "default": {"unit": {"name": "物业服务中心"}},
    }
    with hw_site.client("admin") as client:
        assert client.put("/dispatch", json=rules).status_code == 200
    yield
    with hw_site.client("admin") as client:
        assert client.put("/dispatch", json=before).status_code == 200


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_dispatch_page_fits_a_phone(
    open_page: OpenPageFactory, dispatch_rules: None, lang: str
) -> None:
    page = open_page("/ui/dispatch", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX, lang=lang).page
    expect(page.locator('tr[data-key="lane_cam"]')).to_contain_text(LONG_NAME)
    page.locator('tr[data-key="lane_cam"] button.edit').tap()  # the rule's form open too
    expect(page.locator("#r-zone")).to_have_value("")
    _assert_fits(page, f"dispatch-{lang}")


def test_review_reassign_form_fits_a_phone(
    hw_site: Site, open_page: OpenPageFactory, dispatch_rules: None
) -> None:
    ticket = hw_site.seed_ticket(zone="phone_reassign", seed=75)
    page = open_page(
        f"/ui/review?ticket={ticket['id']}", width=PHONE_WIDTH_PX, height=PHONE_HEIGHT_PX
    ).page
    expect(page.locator("#assignee")).to_contain_text(LONG_NAME)
    page.locator("#reassign").tap()
    expect(page.locator("#a-unit-name")).to_have_value(LONG_NAME)
    _assert_fits(page, "review-reassign")
