"""The review page in Chromium against ``hazardwatch up``: the queue, the keyboard, bulk moves."""

from __future__ import annotations

import pytest

from tests.browser.conftest import OpenPageFactory, Site, save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def test_review_page_loads_logged_in_with_a_seeded_ticket(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    ticket = hw_site.seed_ticket(seed=1)
    opened = open_page("/ui/review")
    page = opened.page
    page.get_by_text(ticket["code"]).first.wait_for()
    assert page.url.endswith("/ui/review")
    save_screenshot(page, "review-smoke")
