"""Hotspots (api.hotspots) in the store, on SQLite and a real PostgreSQL: repeated hazards of one
kind at one place make one hotspot ticket that links its members; what does not count (other
kinds, other zones, old hazards, false alarms, a closed hotspot's hazards); systemic red; its
notifications; its own series of codes; the deadlines and escalation of any ticket; the filters,
stats and reports that keep hazards and hotspots apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.errors import InvalidQuery
from api.notify_text import events_of, render
from api.reports.figures import compute_figures, select_hotspot_tickets, select_tickets
from api.reports.periods import period_containing
from api.settings.dispatch import Assignee, Contact
from api.settings.hotspots import HotspotSettings
from api.settings.levels import LevelsConfig
from api.settings.notify import NotifyEvent
from api.store import TicketStore, TicketView
from api.workflow import TicketPolicy
from tests.api.hazard_events import T0, event, zone_status
from tests.api.pg_server import PostgresServer

M = timedelta(minutes=1)
D = timedelta(days=1)
AREAS = {"lane": "block_a", "gate": "block_a", "lobby": "block_b"}


def policy(**hotspots: Any) -> TicketPolicy:
    return TicketPolicy(areas=AREAS, default_area="site", hotspots=HotspotSettings(**hotspots))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., TicketStore]]:
    stores: list[TicketStore] = []

    def make(chosen: TicketPolicy | None = None, **kwargs: Any) -> TicketStore:
        store = TicketStore(store_url, policy=chosen or policy(), **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def hotspots(store: TicketStore) -> list[TicketView]:
    return store.list_tickets(category="hotspot")[0]


def hazards(store: TicketStore) -> list[TicketView]:
    return store.list_tickets(category="hazard")[0]


def notes(store: TicketStore) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    store.send_notifications(sent.append)
    return sent


def repeat(store: TicketStore, n: int, *, start: int = 0, **kwargs: Any) -> None:
    """``n`` hazards at one place, 10 minutes apart (``start``: index of the first)."""
    for i in range(start, start + n):
        at = T0 + 10 * i * M
        store.apply_event(event(started_at=at, **kwargs), received_at=at + M)


def test_three_repeats_in_one_zone_make_one_hotspot_ticket_linking_them(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    repeat(store, 2)
    assert hotspots(store) == []  # two are not a cluster
    notes(store)
    repeat(store, 1, start=2)
    [spot] = hotspots(store)
    [ticket] = hazards(store)  # the three attached to one open ticket (repeats)
    assert len(ticket.hazard_ids) == 3
    assert spot.category == "hotspot" and spot.kind == "fire_lane_blocked"
    assert (spot.camera_id, spot.zone, spot.area) == ("lane", "lane", "block_a")
    assert spot.level == "yellow" and spot.status == "discovered"
    assert spot.code == "block_a-FIRE-Y-H0001"  # a series of its own: the hazard is 0001 too
    assert ticket.code == "block_a-FIRE-Y-0001"
    assert spot.deadline_at is not None
    assert spot.details["hazards"] == 3
    assert [m["id"] for m in spot.members] == [ticket.id]
    assert store.get_ticket(ticket.id).hotspot["id"] == spot.id  # type: ignore[union-attr]
    assert spot.history[0]["action"] == "created" and ticket.code in spot.history[0]["note"]
    sent = notes(store)
    assert [n["type"] for n in sent if n["ticket_id"] == spot.id] == ["hotspot"]
    # Later repeats count in the open hotspot: still one, its count follows.
    repeat(store, 2, start=3)
    [again] = hotspots(store)
    assert again.id == spot.id and again.details["hazards"] == 5
    assert [n["type"] for n in notes(store) if n["ticket_id"] == spot.id] == []


def test_what_does_not_count_towards_a_hotspot(make_store: Callable[..., TicketStore]) -> None:
    store = make_store()
    # two here, one of another kind, one in another zone, one at another camera
    repeat(store, 2)
    repeat(store, 1, start=2, kind="ebike_entry")
    repeat(store, 1, start=3, zone="other")
    repeat(store, 1, start=4, camera_id="gate")
    assert hotspots(store) == []
    # a hazard older than the window before the newest one does not count
    old = make_store(policy(window_days=1))
    old.apply_event(event(zone="w", started_at=T0 - 3 * D), received_at=T0)
    repeat(old, 2, zone="w")
    assert [t for t in hotspots(old) if t.zone == "w"] == []


def test_hazards_of_rejected_tickets_are_false_alarms_not_repeats(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    repeat(store, 2)
    [ticket] = hazards(store)
    store.transition(ticket.id, "rejected", actor="rev", note="a shadow")
    repeat(store, 1, start=2)
    assert hotspots(store) == []
    repeat(store, 2, start=3)  # three real ones since
    [spot] = hotspots(store)
    assert spot.details["hazards"] == 3
    assert ticket.id not in [m["id"] for m in spot.members]


def test_members_across_tickets_and_a_closed_hotspot_starts_the_count_again(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    for i in range(3):  # three tickets, each closed before the next hazard
        at = T0 + 10 * i * M
        view = store.apply_event(event(started_at=at), received_at=at + M)
        assert view is not None
        if i < 2:
            for step in ("reported", "verified", "rectifying"):
                store.transition(view.id, step, actor="a")
            store.transition(view.id, "rechecked", actor="b")
            store.transition(view.id, "closed", actor="b")
    [spot] = hotspots(store)
    assert len(spot.members) == 3 and spot.details["hazards"] == 3
    done = T0 + 25 * M  # after the third hazard, before the next
    for step in ("reported", "verified", "rectifying"):
        store.transition(spot.id, step, actor="office", now=done)
    store.transition(spot.id, "rechecked", actor="officer", now=done)  # a person rechecks it
    store.transition(spot.id, "closed", actor="officer", now=done)
    repeat(store, 2, start=3)
    assert [t.id for t in hotspots(store)] == [spot.id]  # the old three count no more
    repeat(store, 1, start=5)
    newer = [t for t in hotspots(store) if t.id != spot.id]
    assert len(newer) == 1 and newer[0].code == "block_a-FIRE-Y-H0002"
    assert newer[0].details["hazards"] == 3


def test_a_clear_zone_does_not_recheck_a_hotspot(make_store: Callable[..., TicketStore]) -> None:
    store = make_store(
        TicketPolicy(
            areas=AREAS, levels=LevelsConfig(recheck_clear_s=60), hotspots=HotspotSettings()
        )
    )
    repeat(store, 3)
    [spot], [ticket] = hotspots(store), hazards(store)
    for view in (spot, ticket):
        for step in ("reported", "verified", "rectifying"):
            store.transition(view.id, step, actor="a")
    status = zone_status(clear_for_s=600, at=T0 + D)
    changed = store.apply_zone_status(status)
    assert [t.id for t in changed] == [ticket.id]
    assert store.get_ticket(spot.id).status == "rectifying"  # type: ignore[union-attr]


def test_the_same_kind_at_two_places_of_one_area_is_systemic_red(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    repeat(store, 3)
    notes(store)
    repeat(store, 3, start=3, camera_id="gate", zone="gate")  # same area block_a
    repeat(store, 3, start=6, camera_id="lobby", zone="hall")  # another area: stays yellow
    spots = {t.camera_id: t for t in hotspots(store)}
    assert spots["lane"].level == "red" and spots["gate"].level == "red"
    assert spots["lobby"].level == "yellow"
    assert spots["gate"].code == "block_a-FIRE-R-H0002"  # made red
    raised = spots["lane"].history[-1]
    assert raised["action"] == "level_raised" and "systemic" in raised["note"]
    assert (raised["level_from"], raised["level_to"]) == ("yellow", "red")
    sent = notes(store)
    ids = {spots["lane"].id, spots["gate"].id}
    told = {(n["type"], n["camera_id"]) for n in sent if n["ticket_id"] in ids}
    assert told == {("level_raised", "lane"), ("hotspot", "gate")}
    # a red deadline: the red hotspot's step is due sooner than a yellow one's
    assert spots["gate"].deadline_at < spots["lobby"].deadline_at  # type: ignore[operator]


def test_a_hotspot_is_dispatched_and_escalated_like_a_ticket(
    make_store: Callable[..., TicketStore],
) -> None:
    unit = Contact(name="物业工程部", contact="+86 21 5555 0100")

    def dispatch(camera_id: str, zone: str) -> tuple[Assignee, str] | None:
        return (Assignee(unit=unit, person=None), "lane") if camera_id == "lane" else None

    store = make_store(dispatch=dispatch)
    repeat(store, 3)
    [spot] = hotspots(store)
    assert spot.responsible_unit == {"name": "物业工程部", "contact": "+86 21 5555 0100"}
    assert [h["action"] for h in spot.history] == ["created", "assigned"]
    [told] = [n for n in notes(store) if n["ticket_id"] == spot.id]
    assert told["type"] == "hotspot" and told["note"].startswith("hotspot: 3 fire_lane_blocked")
    assert told["responsible_unit"] == "物业工程部"
    assert spot.deadline_at is not None
    escalated = store.escalate_overdue(spot.deadline_at + M)
    assert spot.id in {t.id for t in escalated}
    after = store.get_ticket(spot.id)
    assert after is not None and after.level == "orange" and after.escalations == 1


def test_hotspots_can_be_turned_off(make_store: Callable[..., TicketStore]) -> None:
    store = make_store(policy(enabled=False))
    repeat(store, 5)
    assert hotspots(store) == []


def test_counts_and_reports_keep_hazards_and_hotspots_apart(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    repeat(store, 3)
    stats = store.stats()
    assert stats["total"] == 1 and stats["by_kind"] == {"fire_lane_blocked": 1}
    assert stats["hotspots"] == {
        "by_status": {"discovered": 1},
        "by_level": {"yellow": 1},
        "open": 1,
        "total": 1,
    }
    everything, total = store.list_tickets()
    assert total == 2 and {t.category for t in everything} == {"hazard", "hotspot"}
    with pytest.raises(InvalidQuery, match="unknown category 'area'"):
        store.list_tickets(category="area")
    period = period_containing("week", T0.date(), ZoneInfo("UTC"))
    chosen = select_tickets(everything, period, None)
    assert [t.category for t in chosen] == ["hazard"]
    figures = compute_figures(
        chosen,
        period,
        area=None,
        as_of=T0 + D,
        hotspot_tickets=select_hotspot_tickets(everything, period, None),
    )
    assert figures["total"] == 1
    [place] = figures["hotspots"]
    assert place["hazards"] == 3 and place["ticket"] == "block_a-FIRE-Y-H0001"


def test_the_public_see_no_links_to_tickets_they_may_not_see(
    make_store: Callable[..., TicketStore],
) -> None:
    store = make_store()
    repeat(store, 3)
    [spot] = hotspots(store)
    [ticket] = hazards(store)
    assert spot.to_dict()["members"][0]["code"] == ticket.code
    public = spot.to_dict(public=True)
    assert public["members"] == [] and public["hotspot"] is None
    assert store.get_ticket(ticket.id).to_dict(public=True)["hotspot"] is None  # type: ignore[union-attr]


def test_a_hotspot_notification_reaches_channels_as_an_area_alert() -> None:
    note = {
        "type": "hotspot",
        "ticket_id": "t1",
        "code": "block_a-FIRE-Y-H0001",
        "kind": "fire_lane_blocked",
        "level": "yellow",
        "category": "hotspot",
        "camera_id": "lane",
        "zone": "lane",
        "note": "hotspot: 3 fire_lane_blocked hazards at lane/lane within 30 days",
    }
    assert events_of(note) == {"hotspot"}
    text = render(note, base_url="https://safety.example.org", timezone="Asia/Shanghai")
    assert "隐患热点" in text.title and "block_a-FIRE-Y-H0001" in text.title
    assert "3 fire_lane_blocked hazards" in text.markdown
    assert "hotspot" in [e.value for e in NotifyEvent]  # a channel's default takes it
