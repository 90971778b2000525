"""Dispatch (派单, issue 12) in Chromium against ``hazardwatch up``: a rule added and edited in
``/ui/dispatch`` with the camera and zone pickers, saved and served by ``GET /dispatch`` and used
for the next ticket; an error the API answers shown beside the rule it names; a ticket reassigned
(改派) from the review page with its reason, read back through ``GET /tickets/{id}``.

Every result is read back through the API, not from the page. The mapping in force before the
module is put back after it, so the other modules' tickets are dispatched as they expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from api.dispatch import write_dispatch
from api.settings.dispatch import DispatchConfig
from tests.browser.conftest import OpenPageFactory, Site, save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

UNIT = {"name": "物业服务中心 Property office", "contact": "0571-8888-0000"}
PERSON = {"name": "王伟", "contact": "13800000000"}


def _put_dispatch(site: Site, body: dict[str, Any]) -> None:
    with site.client("admin") as client:
        response = client.put("/dispatch", json=body)
    if response.status_code != 200:
        raise AssertionError(f"PUT /dispatch: {response.status_code} {response.text}")


@pytest.fixture(scope="module", autouse=True)
def mapping_restored(hw_site: Site) -> Iterator[None]:
    """The tests start from no rule and leave the mapping as they found it."""
    before = hw_site.get_json("/dispatch")["dispatch"]
    _put_dispatch(hw_site, {"cameras": {}, "default": None})
    yield
    _put_dispatch(hw_site, before)


def _fill_rule(
    page: Page, camera: str, zone: str, unit: dict[str, str], person: dict[str, str]
) -> None:
    page.select_option("#r-camera", camera)
    # the zone picker is filled from GET /cameras/{camera}/zones
    expect(page.locator(f'#r-zone option[value="{zone}"]')).to_have_count(1)
    page.select_option("#r-zone", zone)
    page.fill("#r-unit-name", unit["name"])
    page.fill("#r-unit-contact", unit.get("contact", ""))
    page.fill("#r-person-name", person.get("name", ""))
    page.fill("#r-person-contact", person.get("contact", ""))
    page.click("#r-apply")
    expect(page.locator("#rule-form")).to_be_hidden()


def _save(page: Page) -> None:
    page.click("#save")
    expect(page.locator("#msg")).to_have_class("ok")
    expect(page.locator("#msg")).to_contain_text("Saved")


def test_a_rule_added_and_edited_in_the_page_is_saved_and_used(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    opened = open_page("/ui/dispatch")
    page = opened.page
    expect(page.locator("#rows")).to_contain_text("No dispatch rule yet")
    # the camera picker lists the cameras the API knows, the default rule last
    page.click("#add")
    options = page.eval_on_selector_all("#r-camera option", "els => els.map(e => e.value)")
    assert options == ["facade_cam", "lane_cam", "lift_cam", "*"], options

    # a rule without a unit is refused in the page, saying why
    page.select_option("#r-camera", "lift_cam")
    page.click("#r-apply")
    expect(page.locator("#form-msg")).to_have_text("Give the responsible unit's name")
    expect(page.locator("#r-unit-name")).to_be_focused()

    _fill_rule(page, "lift_cam", "door", UNIT, PERSON)
    page.click("#add")
    _fill_rule(page, "lift_cam", "", {"name": "Lift maintenance"}, {})
    expect(page.locator("#msg")).to_contain_text("not saved yet")
    _save(page)
    saved = hw_site.get_json("/dispatch")
    assert saved["source"] == "override" and saved["by"] == "env-admin"
    assert saved["dispatch"]["cameras"] == {
        "lift_cam/door": {"unit": UNIT, "person": PERSON},
        "lift_cam": {"unit": {"name": "Lift maintenance", "contact": None}, "person": None},
    }

    # edit the zone's rule: another person, no contact for the unit
    page.locator('tr[data-key="lift_cam/door"] button.edit').click()
    expect(page.locator("#r-zone")).to_have_value("door")
    expect(page.locator("#r-person-name")).to_have_value(PERSON["name"])
    page.fill("#r-unit-contact", "")
    page.fill("#r-person-name", "李娜")
    page.fill("#r-person-contact", "")
    page.click("#r-apply")
    _save(page)
    rule = hw_site.get_json("/dispatch")["dispatch"]["cameras"]["lift_cam/door"]
    assert rule == {
        "unit": {"name": UNIT["name"], "contact": None},
        "person": {"name": "李娜", "contact": None},
    }
    expect(page.locator('tr[data-key="lift_cam/door"]')).to_contain_text("李娜")
    save_screenshot(page, "dispatch-desktop")

    # the next ticket at that zone goes to it: the ticket service reads the saved mapping
    ticket = hw_site.seed_ticket("lift_cam", "ebike_entry", "door", seed=301, labels=("ebike",),
                                 fresh=True)  # fmt: skip
    assert ticket["responsible_person"] == {"name": "李娜", "contact": None}, ticket
    assigned = [h for h in ticket["history"] if h["action"] == "assigned"]
    assert assigned and assigned[-1]["rule"] == "lift_cam/door", ticket["history"]
    # and another zone of the camera to the camera's rule
    other = hw_site.seed_ticket("lift_cam", "ebike_entry", "dispatch_stairs", seed=302,
                                labels=("ebike",))  # fmt: skip
    assert other["responsible_unit"] == {"name": "Lift maintenance", "contact": None}
    assert other["responsible_person"] is None


def test_an_error_of_the_api_is_shown_beside_its_rule(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    """A rule naming a zone that is gone (a hand-edited file, a zone deleted since) is refused
    by the API when the mapping is saved: the page shows it on that rule, which can be deleted."""
    write_dispatch(
        hw_site.data_dir,
        DispatchConfig.model_validate(
            {
                "cameras": {
                    "lane_cam/gone_zone": {"unit": {"name": "Old office"}},
                    "lane_cam": {"unit": {"name": "Fire lane patrol"}},
                }
            }
        ),
        by="browser-test",
    )
    opened = open_page("/ui/dispatch")
    opened.probe.allow("/dispatch")  # the 409 is what this test expects
    page = opened.page
    expect(page.locator('tr[data-key="lane_cam/gone_zone"]')).to_be_visible()
    page.click("#save")
    bad = page.locator('tr[data-key="lane_cam/gone_zone"] td.bad .ferr')
    expect(bad).to_contain_text("camera 'lane_cam' has no zone 'gone_zone'")
    expect(page.locator("#msg")).to_have_text("Not saved: 1 problem(s), shown beside their rules")
    expect(page.locator('tr[data-key="lane_cam"] .ferr')).to_have_count(0)
    save_screenshot(page, "dispatch-error-desktop")
    assert "lane_cam/gone_zone" in hw_site.get_json("/dispatch")["dispatch"]["cameras"]

    page.locator('tr[data-key="lane_cam/gone_zone"] button.delete').click()
    _save(page)
    assert hw_site.get_json("/dispatch")["dispatch"]["cameras"] == {
        "lane_cam": {"unit": {"name": "Fire lane patrol", "contact": None}, "person": None}
    }


def test_a_ticket_is_reassigned_from_the_review_page_with_its_reason(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    _put_dispatch(hw_site, {"cameras": {"lane_cam": {"unit": {"name": "Fire lane patrol"}}}})
    ticket = hw_site.seed_ticket(zone="dispatch_reassign", seed=311)
    assert ticket["responsible_unit"] == {"name": "Fire lane patrol", "contact": None}
    page = open_page(f"/ui/review?ticket={ticket['id']}", role="reviewer").page
    panel = page.locator("#assignee")
    expect(panel.locator(".unit")).to_contain_text("Fire lane patrol")
    page.click("#reassign")
    form = page.locator("#assign-form")
    expect(page.locator("#a-unit-name")).to_have_value("Fire lane patrol")
    page.fill("#a-unit-name", UNIT["name"])
    page.fill("#a-unit-contact", UNIT["contact"])
    page.fill("#a-person-name", PERSON["name"])
    page.fill("#a-person-contact", PERSON["contact"])
    page.click("#a-submit")  # without a reason: refused in the page
    expect(page.locator("#a-msg")).to_have_text("Give the reason for reassigning")
    assert hw_site.ticket(ticket["id"])["responsible_person"] is None
    page.fill("#a-reason", "the lane belongs to the property office")
    save_screenshot(page, "review-reassign-form-desktop")
    page.click("#a-submit")
    expect(form).to_have_count(0)  # the ticket is drawn again, with its new assignee
    expect(panel.locator(".person")).to_contain_text(PERSON["name"])
    expect(page.locator("#msg")).to_contain_text("reassigned to")

    seen = hw_site.ticket(ticket["id"])
    assert seen["responsible_unit"] == UNIT
    assert seen["responsible_person"] == PERSON
    last = seen["history"][-1]
    assert last["action"] == "reassigned" and last["actor"] == "browser-reviewer"
    assert last["note"] == "the lane belongs to the property office"
    assert last["previous_unit"] == {"name": "Fire lane patrol", "contact": None}

    page.click("#detail details summary")
    line = page.locator('#detail li[data-action="reassigned"]')
    expect(line).to_contain_text("browser-reviewer")
    expect(line).to_contain_text(f"Reassigned → {UNIT['name']} / {PERSON['name']}")
    expect(line).to_contain_text("(was Fire lane patrol)")
    expect(line).to_contain_text("the lane belongs to the property office")
    expect(page.locator('#detail li[data-action="assigned"]')).to_contain_text(
        "Dispatched → Fire lane patrol (rule lane_cam)"
    )
    save_screenshot(page, "review-assignee-desktop")


def test_only_the_office_is_offered_reassigning(hw_site: Site, open_page: OpenPageFactory) -> None:
    """A grid worker sees who is responsible but gets no reassign button
    (``POST /tickets/{id}/assign`` is the office's); in Chinese, the users' terms."""
    _put_dispatch(hw_site, {"cameras": {"lane_cam": {"unit": {"name": "Fire lane patrol"}}}})
    ticket = hw_site.seed_ticket(zone="dispatch_grid", seed=321)
    page = open_page(f"/ui/review?ticket={ticket['id']}", role="grid_worker", lang="zh-CN").page
    expect(page.locator("#assignee")).to_contain_text("责任单位 Fire lane patrol")
    expect(page.locator("#reassign")).to_have_count(0)
    admin = open_page(f"/ui/review?ticket={ticket['id']}", lang="zh-CN").page
    expect(admin.locator("#reassign")).to_have_text("改派")
