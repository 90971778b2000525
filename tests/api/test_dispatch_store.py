"""Dispatch in the ticket store: a new ticket is assigned to its zone's or camera's responsible
unit and person (责任单位/责任人); reassignment is recorded with who and why; the public see
the unit but not the person's name or any contact. SQLite always, PostgreSQL when installable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from api.errors import InvalidQuery
from api.settings.dispatch import Assignee, Contact, DispatchConfig, assignee_for
from api.settings.levels import LevelsConfig
from api.settings.roles import TokenRole
from api.store import TicketStore
from api.workflow import TicketPolicy, step_of
from tests.api.hazard_events import T0, event
from tests.api.pg_server import PostgresServer

H = timedelta(hours=1)
PROPERTY = Contact(name="物业服务中心", contact="0571-8888-0000")
SECURITY = Contact(name="Security office", contact="security@example.org")
WANG = Contact(name="王伟", contact="13800000000")
LI = Contact(name="Li Na", contact="13900000000")
DISPATCH = DispatchConfig(
    cameras={
        "lane": Assignee(unit=PROPERTY, person=WANG),
        "lane/exit": Assignee(unit=SECURITY, person=LI),
    },
    default=Assignee(unit=PROPERTY),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tickets.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[DispatchConfig | None], TicketStore]]:
    stores: list[TicketStore] = []

    def make(dispatch: DispatchConfig | None = DISPATCH) -> TicketStore:
        book = None if dispatch is None else (lambda c, z: assignee_for(dispatch, c, z))
        store = TicketStore(store_url, policy=TicketPolicy(), dispatch=book)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[[DispatchConfig | None], TicketStore]) -> TicketStore:
    return make_store(DISPATCH)


def _new(store: TicketStore, **kw: str) -> str:
    view = store.apply_event(event(**kw), received_at=T0)
    assert view is not None
    return view.id


@pytest.mark.parametrize(
    ("camera_id", "zone", "unit", "person", "rule"),
    [
        ("lane", "exit", SECURITY, LI, "lane/exit"),
        ("lane", "lane", PROPERTY, WANG, "lane"),
        ("lobby", "lift", PROPERTY, None, "default"),
    ],
    ids=["zone-rule-wins", "camera-rule", "default"],
)
def test_a_new_ticket_is_assigned_by_the_most_specific_rule(
    store: TicketStore,
    camera_id: str,
    zone: str,
    unit: Contact,
    person: Contact | None,
    rule: str,
) -> None:
    ticket = store.get_ticket(_new(store, camera_id=camera_id, zone=zone))
    assert ticket is not None
    assert ticket.responsible_unit == unit.model_dump()
    assert ticket.responsible_person == (None if person is None else person.model_dump())
    assigned = [h for h in ticket.history if h["action"] == "assigned"]
    assert len(assigned) == 1
    assert assigned[0]["actor"] == "system"
    assert assigned[0]["rule"] == rule
    assert assigned[0]["responsible_unit"] == unit.model_dump()
    assert unit.name in assigned[0]["note"]
    data = ticket.to_dict()
    assert data["responsible_unit"] == {"name": unit.name, "contact": unit.contact}


def test_without_a_rule_a_ticket_is_left_unassigned(
    make_store: Callable[[DispatchConfig | None], TicketStore],
) -> None:
    store = make_store(DispatchConfig(cameras={"lane": Assignee(unit=PROPERTY)}))
    ticket = store.get_ticket(_new(store, camera_id="lobby", zone="lift"))
    assert ticket is not None
    assert ticket.responsible_unit is None and ticket.responsible_person is None
    assert [h["action"] for h in ticket.history] == ["created"]
    assert ticket.to_dict()["responsible_unit"] is None


def test_a_repeat_keeps_the_assignment_it_has(store: TicketStore) -> None:
    ticket_id = _new(store, zone="exit")
    store.reassign(ticket_id, unit=PROPERTY, person=WANG, actor="office-1", reason="night shift")
    again = store.apply_event(event(zone="exit"), received_at=T0 + H)
    assert again is not None and again.id == ticket_id
    assert again.responsible_person == WANG.model_dump()
    assert [h["action"] for h in again.history].count("assigned") == 1


def test_a_reassignment_is_recorded_with_who_and_why(store: TicketStore) -> None:
    ticket_id = _new(store, zone="exit")
    view = store.reassign(
        ticket_id,
        unit=PROPERTY,
        person=WANG,
        actor="office-1",
        reason="the security office is closed at night",
        now=T0 + H,
    )
    assert view.responsible_unit == PROPERTY.model_dump()
    assert view.responsible_person == WANG.model_dump()
    entry = view.history[-1]
    assert entry["action"] == "reassigned"
    assert entry["actor"] == "office-1"
    assert entry["at"] == T0 + H
    assert entry["note"] == "the security office is closed at night"
    assert entry["previous_unit"] == SECURITY.model_dump()
    assert entry["previous_person"] == LI.model_dump()
    assert entry["from"] == entry["to"] == view.status
    assert view.updated_at == T0 + H
    # read back from the database, not only the returned view
    again = store.get_ticket(ticket_id)
    assert again is not None and again.history == view.history
    # the same again changes nothing
    same = store.reassign(ticket_id, unit=PROPERTY, person=WANG, actor="office-2", reason="x")
    assert same.history == view.history


def test_a_person_can_be_removed_by_reassigning_to_the_unit_alone(store: TicketStore) -> None:
    ticket_id = _new(store, zone="exit")
    view = store.reassign(ticket_id, unit=SECURITY, person=None, actor="office-1", reason="left")
    assert view.responsible_person is None
    assert view.history[-1]["previous_person"] == LI.model_dump()


@pytest.mark.parametrize(
    ("reason", "actor", "message"),
    [
        ("", "office-1", "needs its reason"),
        ("   ", "office-1", "needs its reason"),
        ("x" * 2001, "office-1", "needs its reason"),
        ("why", "", "actor must be"),
    ],
    ids=["empty-reason", "blank-reason", "long-reason", "no-actor"],
)
def test_a_reassignment_needs_a_reason_and_an_actor(
    store: TicketStore, reason: str, actor: str, message: str
) -> None:
    ticket_id = _new(store)
    with pytest.raises(InvalidQuery, match=message):
        store.reassign(ticket_id, unit=PROPERTY, person=None, actor=actor, reason=reason)


def test_a_closed_ticket_is_not_reassigned(store: TicketStore) -> None:
    ticket_id = _new(store, camera_id="lobby", zone="lift", kind="ebike_entry")
    store.transition(ticket_id, "rejected", actor="office-1", role=TokenRole.REVIEWER)
    with pytest.raises(InvalidQuery, match="is rejected: only an open ticket is reassigned"):
        store.reassign(ticket_id, unit=SECURITY, person=None, actor="office-1", reason="why")


def test_the_public_see_the_unit_but_no_person_or_contact(store: TicketStore) -> None:
    ticket_id = _new(store, zone="exit")
    store.reassign(ticket_id, unit=PROPERTY, person=WANG, actor="office-1", reason="王伟 on duty")
    view = store.get_ticket(ticket_id)
    assert view is not None
    public = view.to_dict(public=True)
    assert public["responsible_unit"] == {"name": PROPERTY.name, "contact": None}
    assert public["responsible_person"] == {"name": "王***", "contact": None}
    text = repr(public)
    for secret in (WANG.name, LI.name, "13800000000", "13900000000", "0571-8888-0000", "security@"):
        assert secret not in text, secret
    entry = public["history"][-1]
    assert entry["previous_person"] == {"name": "L***", "contact": None}
    assert entry["previous_unit"] == {"name": SECURITY.name, "contact": None}
    assert entry["note"] is None


@pytest.mark.parametrize("verify_within_h", [24, 12], ids=["default-24h", "configured-12h"])
def test_each_step_has_its_own_deadline(store_url: str, verify_within_h: int) -> None:
    """Report within report_within_s; verify within 24 h (configurable) of the report; rectify
    by the level's limit from verification; starting the work does not buy more time."""
    levels = LevelsConfig(verify_within_s=verify_within_h * 3600.0)
    store = TicketStore(store_url, policy=TicketPolicy(levels=levels))
    try:
        ticket_id = _new(store)  # fire lane blocked: yellow, 7 days to rectify
        steps = []
        for to, at in (
            (None, T0),
            ("reported", T0 + 0.5 * H),
            ("verified", T0 + 5 * H),
            ("rectifying", T0 + 30 * H),
            ("rechecked", T0 + 40 * H),
        ):
            view = (
                store.get_ticket(ticket_id)
                if to is None
                else store.transition(ticket_id, to, actor=f"{to}-crew", now=at)
            )
            assert view is not None
            step = step_of(view.status)
            steps.append((None if step is None else step.value, view.deadline_at))
    finally:
        store.close()
    assert steps == [
        ("report", T0 + H),
        ("verify", T0 + 0.5 * H + verify_within_h * H),
        ("rectify", T0 + 5 * H + 7 * 24 * H),
        ("rectify", T0 + 5 * H + 7 * 24 * H),
        (None, None),
    ]


def test_a_dispatched_new_ticket_is_announced_as_new(store: TicketStore) -> None:
    """Dispatch adds its ``assigned`` entry after ``created``: the change is still a new ticket
    (announced before as nothing: channels never heard of new tickets of dispatched cameras)."""
    view = store.apply_event(event(), received_at=T0)
    assert view is not None and [h["action"] for h in view.history][-2:] == ["created", "assigned"]
    sent: list[dict[str, object]] = []
    store.send_notifications(sent.append)
    [note] = [n for n in sent if n["ticket_id"] == view.id]
    assert note["type"] in ("created", "urgent_ticket")
    assert note["note"] == view.history[0]["note"]  # what was found, not whom it went to
    assert note["responsible_unit"] == view.responsible_unit["name"]  # type: ignore[index]


def test_a_ticket_first_seen_in_its_hazard_s_end_is_announced_as_new(store: TicketStore) -> None:
    """Two replicas may apply a short hazard's end before its start (the scale-out test saw a
    red ticket never announced): the ticket made by the end is new all the same."""
    end = event("end", kind="falling_object", zone="facade")
    view = store.apply_event(end, received_at=T0)
    assert view is not None and [h["action"] for h in view.history][-1] == "hazard_ended"
    sent: list[dict[str, object]] = []
    store.send_notifications(sent.append)
    assert [n["type"] for n in sent if n["ticket_id"] == view.id] == ["urgent_ticket"]
    start = event(hazard_id=end["hazard_id"], kind="falling_object", zone="facade")
    store.apply_event(start, received_at=T0)  # the late start announces nothing more
    store.send_notifications(sent.append)
    assert [n["type"] for n in sent if n["ticket_id"] == view.id] == ["urgent_ticket"]
