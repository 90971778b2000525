"""The review page in Chromium against ``hazardwatch up``: real key presses, bulk moves, the
player and its overlay, before/after, the moves each role may make, and the language switch.

Every ticket is seeded through the Redis events stream (real ticket service, real evidence files)
and every result is read back through the API, not from the page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import REPO, OpenPageFactory, Site, save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def _row(page: Page, ticket: dict[str, Any]) -> Any:
    return page.locator(f'.qlist li[data-id="{ticket["id"]}"]')


def _walk_to(page: Page, ticket: dict[str, Any]) -> None:
    """Press j or k until ``ticket`` is the current one of the queue."""
    ids = page.eval_on_selector_all(".qlist li[data-id]", "els => els.map(e => e.dataset.id)")
    assert ticket["id"] in ids, f"ticket {ticket['code']} is not in the queue"
    current = page.locator(".qlist li.cur").get_attribute("data-id")
    steps = ids.index(ticket["id"]) - ids.index(current)
    for _ in range(abs(steps)):
        page.keyboard.press("j" if steps > 0 else "k")
    expect(page.locator(".qlist li.cur")).to_have_attribute("data-id", ticket["id"])


def _last_note(ticket: dict[str, Any]) -> str:
    return str(ticket["history"][-1]["note"])


def test_review_page_loads_logged_in_with_a_seeded_ticket(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    ticket = hw_site.seed_ticket(seed=1)
    page = open_page("/ui/review").page
    expect(_row(page, ticket)).to_be_visible()
    assert page.url.endswith("/ui/review")
    save_screenshot(page, "review-desktop")


def test_keyboard_confirms_one_ticket_and_rejects_another(
    hw_site: Site, open_page: OpenPageFactory, tmp_path: Path
) -> None:
    older = hw_site.seed_ticket(zone="kb_older", seed=11)
    newer = hw_site.seed_ticket(zone="kb_newer", seed=12)
    page = open_page(f"/ui/review?ticket={newer['id']}", role="reviewer").page
    expect(page.locator(".qlist li.cur")).to_have_attribute("data-id", newer["id"])

    page.keyboard.press("c")
    expect(_row(page, newer).locator(".st")).to_have_text("Reported")

    _walk_to(page, older)
    page.keyboard.press("r")
    form = page.locator("#reject-form")
    expect(form).to_be_visible()
    expect(page.locator("#reject-reason")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the second reason: not in the zone
    page.keyboard.press("Tab")
    page.keyboard.type("shadow of a tree")
    page.keyboard.press("Enter")
    expect(form).to_be_hidden()
    expect(_row(page, older).locator(".st")).to_have_text("Rejected")

    confirmed, rejected = hw_site.ticket(newer["id"]), hw_site.ticket(older["id"])
    assert confirmed["status"] == "reported"
    assert confirmed["history"][-1]["actor"] == "browser-reviewer"
    assert rejected["status"] == "rejected"
    assert _last_note(rejected) == "The object is not in the zone: shadow of a tree"

    # A rejected ticket is a labelled negative of the dataset export (Step 6).
    out = tmp_path / "dataset"
    result = subprocess.run(
        [sys.executable, "-m", "hazardwatch", "dataset", "export",
         "--since", datetime.now(UTC).date().isoformat(), "--data-dir", str(hw_site.data_dir),
         "--camera", "lane_cam", "--gap-s", "0", "--skip-unreadable", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    exported = [
        entry
        for entry in _dicts(manifest)
        if entry.get("ticket_id") == older["id"] and "negative" in entry
    ]
    assert exported and all(entry["negative"] for entry in exported), manifest


def _dicts(value: Any) -> list[dict[str, Any]]:
    """Every dict nested anywhere in ``value`` (the manifest's layout is the exporter's)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(_dicts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_dicts(item))
    return found


def test_bulk_reject_of_two_selected_tickets(hw_site: Site, open_page: OpenPageFactory) -> None:
    first = hw_site.seed_ticket(zone="bulk_a", seed=21)
    second = hw_site.seed_ticket(zone="bulk_b", seed=22)
    left = hw_site.seed_ticket(zone="bulk_c", seed=23)
    page = open_page("/ui/review", role="reviewer").page
    expect(_row(page, left)).to_be_visible()

    _row(page, first).locator("input[type=checkbox]").check()  # ticked with the pointer
    _row(page, second).locator(".t").click()  # made current, then selected with x
    page.keyboard.press("x")
    expect(page.locator("#selected-count")).to_have_text("2 selected")

    page.locator("#bulk-reject").click()
    expect(page.locator("#reject-form")).to_be_visible()
    expect(page.locator("#reject-what")).to_contain_text(first["code"])
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#msg")).to_contain_text("2 moved to Rejected, 0 not moved")

    for ticket in (first, second):
        seen = hw_site.ticket(ticket["id"])
        assert seen["status"] == "rejected", seen
        assert _last_note(seen) == "False alarm: not that kind of object"
    assert hw_site.ticket(left["id"])["status"] == "discovered"
    expect(_row(page, left).locator(".st")).to_have_text("Discovered")

    # bulk confirm: the one left and a rejected one, which may not be confirmed
    _row(page, left).locator("input[type=checkbox]").check()
    _row(page, first).locator("input[type=checkbox]").check()
    page.locator("#bulk-confirm").click()
    expect(page.locator("#msg")).to_contain_text("1 moved to Reported, 1 not moved")
    assert hw_site.ticket(left["id"])["status"] == "reported"
    assert hw_site.ticket(first["id"])["status"] == "rejected"


def test_a_grid_worker_is_offered_only_its_moves(hw_site: Site, open_page: OpenPageFactory) -> None:
    ticket = hw_site.seed_ticket(zone="grid_only", seed=31)
    page = open_page(f"/ui/review?ticket={ticket['id']}", role="grid_worker").page
    expect(page.locator(".qlist li.cur")).to_have_attribute("data-id", ticket["id"])
    offered = page.eval_on_selector_all(
        "#actions button[data-to]", "els => els.map(e => e.dataset.to)"
    )
    with hw_site.client("grid_worker") as client:
        allowed = client.get(f"/tickets/{ticket['id']}").json()["allowed_transitions"]
    assert offered == allowed == ["reported"]

    page.keyboard.press("r")  # rejecting is the office's move: refused in the page, no request
    expect(page.locator("#msg")).to_contain_text("Your role cannot move this ticket")
    expect(page.locator("#reject-form")).to_be_hidden()
    assert hw_site.ticket(ticket["id"])["status"] == "discovered"

    page.keyboard.press("c")
    expect(_row(page, ticket).locator(".st")).to_have_text("Reported")
    assert hw_site.ticket(ticket["id"])["status"] == "reported"


def test_player_starts_at_the_onset_with_the_overlay_and_steps_by_key(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    trajectory = [[0.5, 0.2, 0.0], [0.51, 0.4, 0.4], [0.53, 0.7, 0.8], [0.55, 0.9, 1.1]]
    ticket = hw_site.seed_ticket(
        "facade_cam",
        "falling_object",
        "facade",
        fresh=True,
        seed=41,
        labels=(),
        details={"origin_floor": 7, "drop_floors": 4.0, "trajectory_norm": trajectory},
    )
    page = open_page(f"/ui/review?ticket={ticket['id']}").page
    video = page.locator("#clip")
    page.wait_for_function(
        "() => { const v = document.getElementById('clip');"
        " return v && v.readyState >= 1 && v.currentTime > 0; }"
    )
    # the facade camera's pre-roll is 2 s: the hazard starts 2 s into its clip
    assert video.evaluate("v => v.currentTime") == pytest.approx(2.0, abs=0.05)
    expect(page.locator("#detail")).to_contain_text("Origin floor 7")
    expect(page.locator("#overlay .ov-zone")).to_have_count(1)
    expect(page.locator("#overlay .ov-trajectory")).to_have_count(1)
    band = page.locator("#overlay .ov-floor")  # floor 7: between the first two floor lines
    assert float(band.get_attribute("y") or "nan") == pytest.approx(0.1)
    assert float(band.get_attribute("height") or "nan") == pytest.approx(0.15)
    save_screenshot(page, "review-player-overlay")

    page.keyboard.press(" ")
    page.wait_for_function("() => !document.getElementById('clip').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('clip').paused")
    before = video.evaluate("v => v.currentTime")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    after = video.evaluate("v => v.currentTime")
    assert after - before == pytest.approx(0.08, abs=0.005)
    page.keyboard.press("ArrowLeft")
    assert video.evaluate("v => v.currentTime") == pytest.approx(after - 0.04, abs=0.005)

    page.keyboard.press("o")
    expect(page.locator("#overlay")).to_be_hidden()
    page.keyboard.press("o")
    expect(page.locator("#overlay")).to_be_visible()


def test_rechecked_ticket_shows_before_and_after_and_the_checker_s_moves(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    ticket = hw_site.seed_ticket(zone="lane", seed=51, fresh=True)  # the configured fire lane
    for step in ("reported", "verified", "rectifying"):
        hw_site.transition(ticket["id"], step, role="reviewer", note=f"browser test: {step}")
    rechecked = hw_site.recheck(ticket)

    page = open_page(f"/ui/review?ticket={ticket['id']}", role="admin").page
    expect(page.locator("#overlay polygon.ov-zone")).to_have_count(1)  # the lane's polygon
    pictures = page.locator("#before-after img")
    expect(pictures).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#before-after img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert pictures.nth(1).get_attribute("src", timeout=1000) == (
        f"/tickets/{ticket['id']}/snapshot.jpg?after=1"
    )
    expect(page.locator("#before-after figcaption")).to_have_text(["Before", "After"])
    offered = page.eval_on_selector_all(
        "#actions button[data-to]", "els => els.map(e => e.dataset.to)"
    )
    assert offered == rechecked["allowed_transitions"]
    assert "closed" in offered
    save_screenshot(page, "review-before-after")

    # the reviewer rectified it, so may not close it too: the page does not offer it
    as_reviewer = open_page(f"/ui/review?ticket={ticket['id']}", role="reviewer").page
    expect(as_reviewer.locator("#before-after img")).to_have_count(2)
    offered = as_reviewer.eval_on_selector_all(
        "#actions button[data-to]", "els => els.map(e => e.dataset.to)"
    )
    assert "closed" not in offered
    with hw_site.client("reviewer") as client:
        assert offered == client.get(f"/tickets/{ticket['id']}").json()["allowed_transitions"]


def test_language_follows_the_browser_and_the_switch_is_remembered(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    ticket = hw_site.seed_ticket(zone="lang", seed=61)
    page = open_page(f"/ui/review?ticket={ticket['id']}", lang="zh-CN").page
    expect(page.locator("h2").first).to_have_text("审核队列")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(_row(page, ticket).locator(".st")).to_have_text("发现")
    expect(page.locator("#hw-lang")).to_have_text("English")
    save_screenshot(page, "review-zh")

    with page.expect_navigation():
        page.locator("#hw-lang").click()
    expect(page.locator("h2").first).to_have_text("Review queue")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(_row(page, ticket).locator(".st")).to_have_text("Discovered")

    # remembered: the same browser (its storage and cookie) opens the page in English again
    page.goto(f"{hw_site.base_url}/ui/review")
    expect(page.locator("h2").first).to_have_text("Review queue")
    expect(page.locator("header nav a.on")).to_have_text("Review")

    english = open_page("/ui/login", role=None, lang="en-GB").page
    expect(english.locator("h2")).to_have_text("Log in")
    chinese = open_page("/ui/login", role=None, lang="zh-CN").page
    expect(chinese.locator("h2")).to_have_text("登录")


def test_the_machine_has_a_chinese_font_for_the_screenshots() -> None:
    """fontconfig must find a CJK font (make deps: fonts-noto-cjk), or Chinese shows as boxes."""
    result = subprocess.run(
        ["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Noto Sans CJK" in result.stdout, result.stdout


def test_a_resident_sees_closed_items_read_only(hw_site: Site, open_page: OpenPageFactory) -> None:
    ticket = hw_site.seed_ticket(zone="lane", seed=81, fresh=True)  # the configured fire lane
    for step in ("reported", "verified", "rectifying"):
        hw_site.transition(ticket["id"], step, role="reviewer")
    hw_site.recheck(ticket)
    hw_site.transition(ticket["id"], "closed", role="admin", note="browser test: closed")

    page = open_page("/ui/review", role="public").page
    expect(_row(page, ticket)).to_be_visible()
    expect(page.locator("header nav a")).to_have_count(2)  # no zone editor
    expect(page.locator("#bulk")).to_be_hidden()
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.locator("#detail")).to_contain_text("Residents see closed, blurred records only.")
    statuses = page.eval_on_selector_all(
        ".qlist li[data-id] .st", "els => els.map(e => e.textContent)"
    )
    assert statuses and set(statuses) == {"Closed"}
    page.keyboard.press("c")  # no move for the public, by key either
    page.keyboard.press("r")
    expect(page.locator("#reject-form")).to_be_hidden()
    assert hw_site.ticket(ticket["id"])["status"] == "closed"
    save_screenshot(page, "review-public")


def test_filters_narrow_the_queue(hw_site: Site, open_page: OpenPageFactory) -> None:
    lift = hw_site.seed_ticket("lift_cam", "ebike_entry", "filter_door", seed=91, labels=("ebike",))
    lane = hw_site.seed_ticket(zone="filter_lane", seed=92)
    page = open_page("/ui/review", role="reviewer").page
    expect(_row(page, lift)).to_be_visible()
    expect(_row(page, lane)).to_be_visible()

    def kinds() -> set[str]:
        texts = page.eval_on_selector_all(
            ".qlist li[data-id] .t > div:nth-child(2)", "els => els.map(e => e.textContent)"
        )
        return {text.split(" · ")[0] for text in texts}

    page.select_option("#f-kind", "ebike_entry")
    expect(_row(page, lane)).to_have_count(0)
    expect(_row(page, lift)).to_be_visible()
    assert kinds() == {"E-bike in lift"}
    page.select_option("#f-kind", "")

    page.select_option("#f-camera", "lift_cam")  # the zone list follows the camera
    expect(page.locator("#f-zone option")).to_have_text(["All", "door"])
    expect(_row(page, lane)).to_have_count(0)
    page.select_option("#f-camera", "")

    page.select_option("#f-level", "orange")  # e-bikes start orange, fire lanes yellow
    expect(_row(page, lane)).to_have_count(0)
    expect(_row(page, lift)).to_be_visible()
    page.select_option("#f-level", "")

    page.fill("#f-since", "2099-01-01")  # sent to the API as since=
    page.locator("#f-since").dispatch_event("change")
    expect(page.locator(".qlist li")).to_have_text(["No ticket matches"])
    page.fill("#f-since", "")
    page.locator("#f-since").dispatch_event("change")
    expect(_row(page, lane)).to_be_visible()


def test_a_hotspot_links_its_tickets_and_a_ticket_shows_its_notifications(
    hw_site: Site, open_page: OpenPageFactory
) -> None:
    """Three hazards in one zone: the review page of the hotspot ticket lists the hazard ticket
    (a link that opens it), the hazard ticket names its hotspot, and the delivery log opens."""
    for n in range(3):  # repeats join one open ticket; the third raises the hotspot
        member = hw_site.seed_ticket(zone="hs_repeat", seed=40 + n)
    spot = next(
        t
        for t in hw_site.get_json("/tickets", category="hotspot", limit=1000)["items"]
        if t["zone"] == "hs_repeat"
    )
    assert [m["id"] for m in spot["members"]] == [member["id"]]
    page = open_page(f"/ui/review?ticket={spot['id']}", role="reviewer").page
    members = page.locator("#members li")
    expect(members).to_have_count(1)
    expect(members.first).to_contain_text(member["code"])
    expect(page.locator("#detail .hotspot-tag")).to_have_text("Hotspot")  # told apart at a glance
    expect(page.locator(f'#list li[data-id="{spot["id"]}"] .hotspot-tag')).to_be_visible()
    expect(page.locator("#no-clip")).to_contain_text("each of its tickets has one")
    members.first.locator("a").click()  # opens the hazard ticket, which names its hotspot
    expect(page.locator("#detail h3")).to_contain_text(member["code"])
    expect(page.locator(".hotspot-of a")).to_have_text(spot["code"])
    expect(page.locator("#detail .hotspot-tag")).to_have_count(0)  # a hazard ticket: no tag
    page.locator("details:has(#deliveries) > summary").click()
    expect(page.locator("#deliveries li").first).to_be_visible()  # rows, or "none yet"
    save_screenshot(page, "review-hotspot-member")
