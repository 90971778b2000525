"""TicketStore on SQLite (always) and on a real PostgreSQL (when installable): events to tickets,
idempotency, repeats, workflow, deadlines, escalation, codes under concurrency, recheck, queries."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.errors import (
    InvalidEntry,
    InvalidQuery,
    InvalidTransition,
    OpenTicketExists,
    StoreError,
    TicketNotFound,
    TransitionForbidden,
    UnknownStatus,
)
from api.settings.levels import LevelsConfig
from api.settings.roles import TokenRole
from api.store import TicketStore, TicketView
from api.workflow import TicketPolicy
from tests.api.hazard_events import T0, event, sha, zone_status
from tests.api.pg_server import PostgresServer
from vision.annotations import AnnotationBox, FrameAnnotation, FrameRef, FrameSource

H = timedelta(hours=1)
POLICY = TicketPolicy(areas={"lane": "block_a", "lobby": "block_b"}, default_area="site")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'tickets.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., TicketStore]]:
    stores: list[TicketStore] = []

    def make(policy: TicketPolicy = POLICY) -> TicketStore:
        store = TicketStore(store_url, policy=policy)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., TicketStore]) -> TicketStore:
    return make_store()


def _start(store: TicketStore, at: datetime = T0, **kwargs: Any) -> TicketView:
    view = store.apply_event(event(**kwargs), received_at=at)
    assert view is not None
    return view


OFFICER = "safety-officer"  # rechecks and closes: never the one who rectified (ARCHITECTURE.md §12)


def _walk(store: TicketStore, ticket_id: str, *statuses: str, at: datetime = T0) -> TicketView:
    view = None
    for status in statuses:
        actor = OFFICER if status in ("rechecked", "closed") else "office"
        view = store.transition(ticket_id, status, actor=actor, now=at)
    assert view is not None
    return view


# --- events ------------------------------------------------------------------------------------


def test_start_makes_a_discovered_ticket(store: TicketStore) -> None:
    ev = event()
    view = store.apply_event(ev, received_at=T0)
    assert view is not None
    assert view.status == "discovered"
    assert view.level == "yellow"
    assert view.code == "block_a-FIRE-Y-0001"
    assert (view.kind, view.camera_id, view.zone, view.area) == (
        "fire_lane_blocked",
        "lane",
        "lane",
        "block_a",
    )
    assert view.hazard_ids == [ev["hazard_id"]]
    assert view.created_at == T0 and view.created_at.tzinfo is not None
    assert view.deadline_at == T0 + H  # the report step
    assert view.started_at == T0
    assert view.evidence["clip"] == ev["evidence"]["clip"]
    assert view.evidence["clip_sha256"] == ev["evidence"]["sha256"]["clip"]
    assert view.evidence["snapshot_public_sha256"] == ev["evidence"]["sha256"]["snapshot_public"]
    assert view.evidence["error"] is None
    assert [h["action"] for h in view.history] == ["created"]
    assert view.history[0]["actor"] == "system" and view.history[0]["to"] == "discovered"
    assert view.allowed_transitions == ["reported", "rejected"]
    assert store.get_ticket(view.id) == view
    assert store.get_ticket(view.code) == view


def test_the_same_event_twice_is_one_ticket(store: TicketStore) -> None:
    ev = event()
    first = store.apply_event(ev, received_at=T0)
    assert first is not None
    assert store.apply_event(dict(ev), received_at=T0 + H) is None
    tickets, total = store.list_tickets()
    assert total == 1 and tickets[0].history == first.history


def test_a_repeat_attaches_to_the_open_ticket(store: TicketStore) -> None:
    first = _start(store)
    second = _start(store, at=T0 + H, started_at=T0 + H)
    assert second.id == first.id
    assert second.hazard_ids == [first.hazard_ids[0], second.hazard_ids[1]]
    assert [h["action"] for h in second.history] == ["created", "repeat"]
    other_zone = _start(store, zone="lane2")
    other_kind = _start(store, kind="ebike_entry")
    assert len({first.id, other_zone.id, other_kind.id}) == 3
    assert store.list_tickets()[1] == 3


def test_end_and_update_are_recorded_on_the_hazards_ticket(store: TicketStore) -> None:
    start = event()
    hazard_id = start["hazard_id"]
    store.apply_event(start, received_at=T0)
    update = event("update", hazard_id=hazard_id, details={"clear_width_m": 2.1}, labels=("box",))
    view = store.apply_event(update, received_at=T0 + timedelta(minutes=2))
    assert view is not None
    assert view.details == {
        "occupancy": 0.4,
        "clear_width_m": 2.1,
        "box_norm": [0.1, 0.2, 0.5, 0.9],  # the event's box (the dashboard's heat map)
    }
    assert view.labels == ["car", "box"]
    assert view.ended_at is None
    end = event("end", hazard_id=hazard_id, ended_at=T0 + timedelta(minutes=5))
    view = store.apply_event(end, received_at=T0 + timedelta(minutes=5))
    assert view is not None
    assert view.ended_at == T0 + timedelta(minutes=5)
    assert view.history[-1]["action"] == "hazard_ended"
    assert view.level == "yellow"  # 5 min is not long enough to raise it


def test_an_end_without_its_start_still_makes_the_ticket(store: TicketStore) -> None:
    view = store.apply_event(event("end"), received_at=T0)
    assert view is not None
    assert view.status == "discovered"
    assert "its start had not arrived" in view.history[0]["note"]
    assert view.ended_at is not None


def test_a_start_applied_after_its_end_is_recorded_as_arrived(store: TicketStore) -> None:
    """Two ticket services may apply a hazard's end before its start (the consumer group gives
    them to different replicas). The history must not keep saying that the start never came:
    before, the start was silently merged and the ticket's only word was "never arrived"."""
    start = event(hazard_id="late-start")
    end = event("end", hazard_id="late-start")
    assert store.apply_event(end, received_at=T0) is not None
    view = store.apply_event(start, received_at=T0)
    assert view is not None and view.hazard_ids == ["late-start"]
    assert [h["action"] for h in view.history] == ["created", "hazard_ended", "start_arrived"]
    assert "arrived after its later events" in view.history[-1]["note"]
    assert view.evidence["clip"] == start["evidence"]["clip"]  # the start's evidence is kept
    assert store.apply_event(start, received_at=T0) is None  # and it is applied once
    assert store.list_tickets()[1] == 1


def test_a_long_blockage_raises_the_level(store: TicketStore) -> None:
    start = event()
    store.apply_event(start, received_at=T0)
    end = event("end", hazard_id=start["hazard_id"], ended_at=T0 + timedelta(minutes=40))
    view = store.apply_event(end, received_at=T0 + timedelta(minutes=40))
    assert view is not None
    assert view.level == "orange"
    raised = [h for h in view.history if h["action"] == "level_raised"]
    assert raised and raised[0]["level_from"] == "yellow" and raised[0]["level_to"] == "orange"
    assert view.code.split("-")[2] == "Y"  # the code keeps the level at creation


def test_an_ongoing_blockage_is_raised_by_the_periodic_check(store: TicketStore) -> None:
    view = _start(store)
    view = _walk(store, view.id, "reported", "verified", at=T0 + timedelta(minutes=1))
    assert view.deadline_at == T0 + timedelta(minutes=1, days=7)  # yellow
    changed = store.escalate_overdue(T0 + timedelta(hours=2, minutes=1))
    assert [v.id for v in changed] == [view.id]
    after = changed[0]
    assert after.level == "red"
    assert after.escalations == 0  # a duration raise is not an escalation
    # the rectification deadline shrinks to the red response time from now
    assert after.deadline_at == T0 + timedelta(hours=2, minutes=1) + 4 * H


def test_the_events_box_is_kept_in_the_tickets_details(store: TicketStore) -> None:
    """The dashboard's heat map and the review overlay place a hazard by its box."""
    view = _start(store, details={"occupancy": 0.4, "clip_onset_s": 10.52})
    assert view.details == {
        "occupancy": 0.4,
        "clip_onset_s": 10.52,
        "box_norm": [0.1, 0.2, 0.5, 0.9],
    }
    assert view.to_dict(public=True)["details"]["box_norm"] == [0.1, 0.2, 0.5, 0.9]


def test_evidence_error_and_missing_files_are_kept(store: TicketStore) -> None:
    disk_full = event(evidence={"error": "disk full: no space left on /data"})
    view = store.apply_event(disk_full, received_at=T0)
    assert view is not None
    assert view.evidence["clip"] is None and view.evidence["error"].startswith("disk full")
    silent = event(camera_id="lobby", zone="hall", evidence={"clip": "/x/clip.mp4"})
    view = store.apply_event(silent, received_at=T0)
    assert view is not None
    assert "no sha256 for clip" in view.evidence["error"]
    assert (
        "missing without a reason: snapshot, snapshot_public, privacy or clip_public"
        in (view.evidence["error"])
    )


BAD_EVENTS: list[Any] = [
    pytest.param([], "must be a JSON object", id="not-a-dict"),
    pytest.param({"phase": "start"}, "missing fields", id="missing-fields"),
    pytest.param({**event(), "kind": "flood"}, "flood", id="unknown-kind"),
    pytest.param({**event(), "phase": "middle"}, "middle", id="unknown-phase"),
    pytest.param({**event(), "started_at": "yesterday"}, "yesterday", id="bad-time"),
    pytest.param({**event(), "started_at": "2025-03-01T08:00:00"}, "timezone", id="naive-time"),
    pytest.param({**event(), "camera_id": "Lane 1"}, "camera_id", id="camera-not-slug"),
    pytest.param({**event(), "zone": "../etc"}, "zone", id="zone-path-trick"),
    pytest.param({**event(), "event_id": "x" * 300}, "event_id", id="huge-id"),
    pytest.param({**event(), "score": 7}, "score", id="score-out-of-range"),
    pytest.param({**event(), "evidence": "clip.mp4"}, "evidence must be an object", id="evidence"),
    pytest.param(
        {**event(), "evidence": {"clip": "/a.mp4", "sha256": {"clip": "zz"}}},
        "evidence.sha256.clip",
        id="bad-sha",
    ),
    pytest.param({**event(), "evidence": {"clip": 5}}, "evidence.clip", id="clip-not-text"),
    pytest.param({**event("end"), "ended_at": None}, "needs ended_at", id="end-without-ended_at"),
    pytest.param({**event(), "details": {"note": "a\x00b"}}, "NUL", id="nul-in-details"),
    pytest.param({**event(), "labels": ["car\x00"]}, "NUL", id="nul-in-labels"),
    pytest.param({**event(), "details": {"a\x00": 1}}, "NUL", id="nul-in-a-key"),
    pytest.param({**event(), "details": {"x": float("nan")}}, "plain JSON", id="nan-details"),
    pytest.param({**event(), "details": [1, 2]}, "details must be an object", id="details-list"),
]


@pytest.mark.parametrize(("data", "message"), BAD_EVENTS)
def test_malformed_events_are_refused_with_the_field_named(
    store: TicketStore, data: Any, message: str
) -> None:
    with pytest.raises(InvalidEntry, match=message.replace("(", r"\(")):
        store.apply_event(data)
    assert store.list_tickets()[1] == 0


# --- workflow ----------------------------------------------------------------------------------


def test_full_loop_to_closed_with_history(store: TicketStore) -> None:
    view = _start(store)
    steps = ["reported", "verified", "rectifying", "rechecked", "closed"]
    for index, status in enumerate(steps, start=1):
        actor = OFFICER if status in ("rechecked", "closed") else "office"
        view = store.transition(view.id, status, actor=actor, note=f"step {index}", now=T0 + H)
        assert view.status == status
    assert view.deadline_at is None
    assert view.allowed_transitions == ["reopened"]
    moves = [(h["from"], h["to"], h["actor"], h["note"]) for h in view.history[1:]]
    assert moves == [
        ("discovered", "reported", "office", "step 1"),
        ("reported", "verified", "office", "step 2"),
        ("verified", "rectifying", "office", "step 3"),
        ("rectifying", "rechecked", OFFICER, "step 4"),
        ("rechecked", "closed", OFFICER, "step 5"),
    ]
    assert all(h["at"] == T0 + H for h in view.history[1:])


def test_wrong_transitions_are_refused_and_change_nothing(store: TicketStore) -> None:
    view = _start(store)
    with pytest.raises(InvalidTransition) as info:
        store.transition(view.id, "closed", actor="office")
    assert info.value.current == "discovered"
    assert info.value.allowed == ["reported", "rejected"]
    with pytest.raises(UnknownStatus):
        store.transition(view.id, "fixed", actor="office")
    with pytest.raises(TicketNotFound):
        store.transition("no-such-ticket", "reported", actor="office")
    with pytest.raises(InvalidQuery, match="actor"):
        store.transition(view.id, "reported", actor="")
    with pytest.raises(InvalidQuery, match="note"):
        store.transition(view.id, "reported", actor="office", note="x" * 5000)
    assert store.get_ticket(view.id) == view


def test_a_grid_worker_cannot_run_the_workflow_alone(store: TicketStore) -> None:
    # Issue 8 §2.3: rejected → reopened → rectifying → rechecked → closed, all by one grid
    # worker. Cancelling, reopening, rechecking and closing are the office's call.
    view = _start(store)
    grid = TokenRole.GRID_WORKER
    with pytest.raises(TransitionForbidden, match="role grid_worker may not cancel it"):
        store.transition(view.id, "rejected", actor="gw", role=grid)
    store.transition(view.id, "rejected", actor="office", role=TokenRole.REVIEWER)
    with pytest.raises(TransitionForbidden, match="allowed roles: admin, reviewer"):
        store.transition(view.id, "reopened", actor="gw", role=grid)
    store.transition(view.id, "reopened", actor="office", role=TokenRole.REVIEWER)
    moved = store.transition(view.id, "rectifying", actor="gw", role=grid)
    assert moved.status == "rectifying"
    with pytest.raises(TransitionForbidden, match="role grid_worker may not recheck it"):
        store.transition(view.id, "rechecked", actor="gw", role=grid)
    assert store.get_ticket(view.id) == moved  # a refusal changes nothing


@pytest.mark.parametrize("role", [TokenRole.ADMIN, TokenRole.REVIEWER, None], ids=str)
def test_whoever_rectifies_may_not_recheck_or_close(
    store: TicketStore, role: TokenRole | None
) -> None:
    view = _walk(store, _start(store).id, "reported", "verified")
    store.transition(view.id, "rectifying", actor="ann", role=role)
    with pytest.raises(TransitionForbidden, match="'ann' rectified this ticket"):
        store.transition(view.id, "rechecked", actor="ann", role=role)
    rechecked = store.transition(view.id, "rechecked", actor="bob", role=role)
    assert rechecked.allowed_for(TokenRole.ADMIN, "ann") == ["reopened"]
    assert rechecked.allowed_for(TokenRole.ADMIN, "bob") == ["closed", "reopened"]
    with pytest.raises(TransitionForbidden, match="someone else must close it"):
        store.transition(view.id, "closed", actor="ann", role=role)
    assert store.transition(view.id, "closed", actor="bob", role=role).status == "closed"


def test_the_automatic_recheck_leaves_the_close_to_someone_else(store: TicketStore) -> None:
    view = _walk(store, _start(store).id, "reported", "verified")
    store.transition(view.id, "rectifying", actor="ann", role=TokenRole.REVIEWER)
    [after] = store.apply_zone_status(zone_status(clear_for_s=600))
    assert after.status == "rechecked" and after.history[-1]["actor"] == "system"
    with pytest.raises(TransitionForbidden, match="'ann' rectified"):
        store.transition(view.id, "closed", actor="ann", role=TokenRole.REVIEWER)
    assert store.transition(view.id, "closed", actor="bob").status == "closed"


def test_a_reopened_ticket_is_a_new_round(store: TicketStore) -> None:
    view = _walk(store, _start(store).id, "reported", "verified")
    store.transition(view.id, "rectifying", actor="ann")
    store.transition(view.id, "rechecked", actor="bob")
    store.transition(view.id, "reopened", actor="bob")  # the recheck found it unfixed
    store.transition(view.id, "rectifying", actor="bob")
    with pytest.raises(TransitionForbidden, match="'bob' rectified"):
        store.transition(view.id, "rechecked", actor="bob")
    assert store.transition(view.id, "rechecked", actor="ann").status == "rechecked"


def test_a_conflict_lists_only_what_the_caller_may_do(store: TicketStore) -> None:
    view = _start(store)
    with pytest.raises(InvalidTransition) as info:
        store.transition(view.id, "closed", actor="gw", role=TokenRole.GRID_WORKER)
    assert info.value.allowed == ["reported"]
    with pytest.raises(UnknownStatus) as unknown:
        store.transition(view.id, "done", actor="gw", role=TokenRole.GRID_WORKER)
    assert unknown.value.allowed == ["reported"]


def test_step_deadlines_follow_the_level(store: TicketStore) -> None:
    view = _start(store, kind="falling_object", camera_id="facade", zone="facade")
    assert view.level == "red" and view.code == "site-FALL-R-0001"
    view = _walk(store, view.id, "reported", at=T0 + H)
    assert view.deadline_at == T0 + H + timedelta(hours=24)
    view = _walk(store, view.id, "verified", at=T0 + 2 * H)
    assert view.deadline_at == T0 + 2 * H + timedelta(hours=4)
    view = _walk(store, view.id, "rectifying", at=T0 + 3 * H)
    assert view.deadline_at == T0 + 2 * H + timedelta(hours=4)  # same step, same deadline


def test_overdue_tickets_escalate(store: TicketStore) -> None:
    start = event(kind="falling_object", camera_id="facade", zone="f")
    store.apply_event(start, received_at=T0)
    end = event(
        "end", hazard_id=start["hazard_id"], kind="falling_object", camera_id="facade", zone="f"
    )
    store.apply_event(end, received_at=T0)
    view = _walk(store, store.list_tickets()[0][0].id, "reported", "verified", at=T0)
    due = view.deadline_at
    assert due == T0 + timedelta(hours=4)  # red
    assert store.escalate_overdue(due) == []
    late = due + timedelta(minutes=1)
    [escalated] = store.escalate_overdue(late)
    assert (escalated.level, escalated.escalations) == ("red", 1)  # red stays red
    assert escalated.deadline_at == late + timedelta(hours=4)
    entry = escalated.history[-1]
    assert (entry["action"], entry["actor"], entry["level_from"], entry["level_to"]) == (
        "escalated",
        "system",
        "red",
        "red",
    )
    assert store.escalate_overdue(late) == []  # nothing is escalated twice for one overdue
    [again] = store.escalate_overdue(late + timedelta(hours=5))
    assert (again.level, again.escalations) == ("red", 2)


def test_escalation_raises_one_level_at_a_time(make_store: Callable[..., TicketStore]) -> None:
    levels = LevelsConfig.model_validate({"default_level": {"ebike_entry": "blue"}})
    store = make_store(TicketPolicy(levels=levels))
    view = _start(store, kind="ebike_entry", camera_id="lobby", zone="lift")
    assert view.level == "blue" and view.deadline_at == T0 + H
    seen = []
    now = T0
    for _ in range(4):
        now = now + timedelta(days=10)
        [view] = store.escalate_overdue(now)
        seen.append((view.level, view.escalations))
    assert seen == [("yellow", 1), ("orange", 2), ("red", 3), ("red", 4)]
    assert view.deadline_at == now + H  # still the report step: its window does not shrink


def test_closed_and_rejected_tickets_never_escalate(store: TicketStore) -> None:
    rejected = _walk(store, _start(store).id, "rejected")
    closed = _walk(
        store,
        _start(store, zone="z2").id,
        "reported",
        "verified",
        "rectifying",
        "rechecked",
        "closed",
    )
    assert store.escalate_overdue(T0 + timedelta(days=400)) == []
    assert store.get_ticket(rejected.id) == rejected
    assert store.get_ticket(closed.id) == closed


def test_a_hazard_after_close_makes_a_new_ticket_and_blocks_reopening(store: TicketStore) -> None:
    first = _walk(
        store, _start(store).id, "reported", "verified", "rectifying", "rechecked", "closed"
    )
    second = _start(store, at=T0 + 2 * H, started_at=T0 + 2 * H)
    assert second.id != first.id and second.code == "block_a-FIRE-Y-0002"
    with pytest.raises(OpenTicketExists) as info:
        store.transition(first.id, "reopened", actor="office")
    assert second.code in str(info.value)
    _walk(store, second.id, "rejected")
    assert store.transition(first.id, "reopened", actor="office").status == "reopened"


# --- automatic recheck and recurrence ------------------------------------------------------------


def _rectifying(store: TicketStore) -> TicketView:
    return _walk(store, _start(store).id, "reported", "verified", "rectifying", at=T0)


def test_a_clear_zone_rechecks_a_rectifying_ticket(store: TicketStore) -> None:
    view = _rectifying(store)
    assert store.apply_zone_status(zone_status(clear_for_s=100)) == []  # not long enough
    assert store.apply_zone_status(zone_status(state="occupied", clear_for_s=0)) == []
    assert store.apply_zone_status(zone_status(zone="other")) == []
    status = zone_status(clear_for_s=600, snapshot="evidence/lane/after.jpg")
    [after] = store.apply_zone_status(status)
    assert after.id == view.id and after.status == "rechecked"
    assert after.evidence["after_snapshot"] == "evidence/lane/after.jpg"
    assert after.evidence["after_snapshot_sha256"] == sha("evidence/lane/after.jpg")
    assert after.evidence["snapshot"] == view.evidence["snapshot"]  # the before stays
    entry = after.history[-1]
    assert (entry["action"], entry["actor"], entry["from"], entry["to"]) == (
        "rechecked",
        "system",
        "rectifying",
        "rechecked",
    )
    assert "600 s" in entry["note"]
    assert store.apply_zone_status(status) == []  # already rechecked
    assert _walk(store, view.id, "closed").status == "closed"


def test_a_stale_clear_status_does_not_recheck(store: TicketStore) -> None:
    _rectifying(store)
    # clear for 2 h at T0 + 1 h: clear since before the hazard started at T0
    assert store.apply_zone_status(zone_status(clear_for_s=7200, at=T0 + H)) == []


def test_the_recheck_waits_for_rectifying(store: TicketStore) -> None:
    view = _walk(store, _start(store).id, "reported", "verified")
    assert store.apply_zone_status(zone_status()) == []
    assert store.get_ticket(view.id) == view


def test_a_recurrence_reopens_a_rechecked_ticket(store: TicketStore) -> None:
    view = _rectifying(store)
    store.apply_zone_status(zone_status())
    again = _start(store, at=T0 + 2 * H, started_at=T0 + 2 * H)
    assert again.id == view.id and again.status == "reopened"
    assert again.history[-1]["action"] == "reopened"
    assert again.history[-1]["from"] == "rechecked"
    assert again.evidence["after_snapshot"] is None  # the after picture no longer holds
    assert again.deadline_at == T0 + 2 * H + timedelta(hours=24)  # verify again
    assert len(again.hazard_ids) == 2


def test_a_recurrence_while_rectifying_keeps_it_rectifying(store: TicketStore) -> None:
    view = _rectifying(store)
    again = _start(store, at=T0 + H, started_at=T0 + H)
    assert again.id == view.id and again.status == "rectifying"
    assert again.history[-1]["action"] == "repeat"
    # the zone was clear since before this recurrence: not a valid recheck
    assert store.apply_zone_status(zone_status(clear_for_s=600, at=T0 + H)) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**zone_status(), "state": "empty"}, "state"),
        ({**zone_status(), "clear_for_s": "long"}, "clear_for_s"),
        ({**zone_status(), "clear_for_s": -1}, "clear_for_s"),
        ({**zone_status(), "at": "2025-03-01T08:00:00"}, "time zone"),
        ({**zone_status(), "kind": "flood"}, "kind"),
        ({**zone_status(), "snapshot_sha256": "abc"}, "snapshot_sha256"),
        ({"camera_id": "lane"}, "missing fields"),
        ("clear", "JSON object"),
    ],
    ids=["state", "clear-text", "negative", "naive-at", "kind", "sha", "missing", "not-object"],
)
def test_malformed_zone_status_is_refused(store: TicketStore, data: Any, message: str) -> None:
    with pytest.raises(InvalidEntry, match=message):
        store.apply_zone_status(data)


# --- codes ---------------------------------------------------------------------------------------


def test_serials_count_per_area_and_kind(store: TicketStore) -> None:
    codes = [
        _start(store, zone="a").code,
        _start(store, zone="b").code,
        _start(store, zone="a", kind="ebike_entry").code,
        _start(store, camera_id="lobby", zone="a").code,
        _start(store, camera_id="elsewhere", zone="a").code,
    ]
    assert codes == [
        "block_a-FIRE-Y-0001",
        "block_a-FIRE-Y-0002",
        "block_a-EBIKE-O-0001",
        "block_b-FIRE-Y-0001",
        "site-FIRE-Y-0001",
    ]


def test_concurrent_inserts_get_unique_serials(make_store: Callable[..., TicketStore]) -> None:
    stores = [make_store() for _ in range(4)]  # separate engines: separate connections
    per_thread, errors = 6, []
    barrier = threading.Barrier(len(stores))

    def work(index: int, store: TicketStore) -> None:
        try:
            barrier.wait()
            for n in range(per_thread):
                store.apply_event(event(zone=f"z{index}-{n}"))
        except Exception as exc:  # collected and reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    tickets, total = stores[0].list_tickets(limit=1000)
    assert total == len(stores) * per_thread
    serials = sorted(int(t.code.rsplit("-", 1)[1]) for t in tickets)
    assert serials == list(range(1, total + 1))


def test_concurrent_starts_of_one_hazard_make_one_open_ticket(
    make_store: Callable[..., TicketStore],
) -> None:
    stores = [make_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[TicketView | None] = []

    def work(store: TicketStore) -> None:
        barrier.wait()
        results.append(store.apply_event(event()))

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    tickets, total = stores[0].list_tickets(category="hazard")
    assert total == 1 and len(tickets[0].hazard_ids) == len(stores)
    assert len({v.id for v in results if v is not None}) == 1
    # four hazards at one place, applied at once: one hotspot over them, not one per writer
    spots, _ = stores[0].list_tickets(category="hotspot")
    assert len(spots) == 1 and [m["id"] for m in spots[0].members] == [tickets[0].id]


# --- queries -------------------------------------------------------------------------------------


def _populate(store: TicketStore) -> dict[str, TicketView]:
    views = {
        "lane": _start(store, at=T0),
        "lobby": _start(store, at=T0 + H, camera_id="lobby", zone="lift", kind="ebike_entry"),
        "facade": _start(store, at=T0 + 2 * H, camera_id="facade", zone="f", kind="falling_object"),
    }
    views["lane"] = _walk(
        store,
        views["lane"].id,
        "reported",
        "verified",
        "rectifying",
        "rechecked",
        "closed",
        at=T0 + 3 * H,
    )
    return views


def test_list_filters_scope_and_paging(store: TicketStore) -> None:
    views = _populate(store)
    items, total = store.list_tickets()
    assert total == 3
    assert [v.camera_id for v in items] == ["facade", "lobby", "lane"]  # newest first
    page, total = store.list_tickets(limit=1, offset=1)
    assert total == 3 and [v.camera_id for v in page] == ["lobby"]
    assert store.list_tickets(limit=0) == ([], 3)
    assert store.list_tickets(status="closed")[0] == [views["lane"]]
    assert store.list_tickets(kind="ebike_entry")[0] == [views["lobby"]]
    assert store.list_tickets(camera="facade")[0] == [views["facade"]]
    assert store.list_tickets(since=T0 + H)[1] == 2
    assert store.list_tickets(cameras=frozenset({"lane", "lobby"}))[1] == 2
    assert store.list_tickets(cameras=frozenset({"nowhere"})) == ([], 0)
    assert store.list_tickets(cameras=frozenset(), public=False) == ([], 0)
    assert store.list_tickets(public=True)[0] == [views["lane"]]
    assert store.list_tickets(public=True, status="discovered") == ([], 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "open"}, "unknown status 'open'"),
        ({"kind": "flood"}, "unknown kind 'flood'"),
        ({"limit": -1}, "limit"),
        ({"limit": 5000}, "limit"),
        ({"offset": -5}, "offset"),
        ({"since": datetime(2025, 1, 1)}, "timezone-aware"),
    ],
    ids=["status", "kind", "negative-limit", "huge-limit", "offset", "naive-since"],
)
def test_bad_queries_are_refused(store: TicketStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidQuery, match=message):
        store.list_tickets(**kwargs)


@pytest.mark.parametrize(
    "ticket_id",
    ["", "../../etc/passwd", "x" * 500, "00000000-0000-0000-0000-000000000000", "' OR 1=1 --"],
    ids=["empty", "path", "huge", "unknown-uuid", "sql"],
)
def test_unknown_ids_are_none(store: TicketStore, ticket_id: str) -> None:
    _start(store)
    assert store.get_ticket(ticket_id) is None


def test_public_view_shows_only_blurred_media_and_masks_people(store: TicketStore) -> None:
    view = _populate(store)["lane"]
    public = view.to_dict(public=True)
    evidence = public["evidence"]
    # The public clip is made on first request (api.public_copy): none yet, but one can be.
    assert evidence["clip_sha256"] is None and evidence["has_clip"] is True
    assert evidence["snapshot_sha256"] == view.evidence["snapshot_public_sha256"]
    text = repr(public)
    for key in ("clip", "snapshot", "snapshot_public", "privacy"):
        assert str(view.evidence[key]) not in text  # no file paths at all
    for key in ("clip", "snapshot", "privacy"):  # nor a word of the unblurred files
        assert str(view.evidence[f"{key}_sha256"]) not in text
    made = store.record_public_clip(view.id, "evidence/lane/x/clip_public.mp4", "ab" * 32)
    assert made.to_dict(public=True)["evidence"]["clip_sha256"] == "ab" * 32
    again = store.record_public_clip(view.id, "evidence/lane/y/clip_public.mp4", "cd" * 32)
    assert again.evidence["clip_public"] == "evidence/lane/x/clip_public.mp4"  # the first stays
    assert "office" not in text and OFFICER not in text and "step" not in text
    assert {h["actor"] for h in public["history"]} == {"system", "o***", "s***"}
    assert all(h["note"] is None for h in public["history"])
    staff = view.to_dict()
    assert staff["evidence"]["clip"] == view.evidence["clip"]
    assert staff["history"][1]["actor"] == "office"
    assert staff["created_at"] == "2025-03-01T08:00:00Z"


def test_stats_and_counts(store: TicketStore) -> None:
    _populate(store)
    _start(
        store,
        at=T0 + 4 * H,
        started_at=T0 + 4 * H,
        camera_id="lobby",
        zone="lift",
        kind="ebike_entry",
    )  # a repeat
    stats = store.stats(now=T0 + timedelta(days=30))
    assert stats["total"] == 3
    assert stats["by_status"] == {"closed": 1, "discovered": 2}
    assert stats["by_kind"] == {"fire_lane_blocked": 1, "ebike_entry": 1, "falling_object": 1}
    assert stats["by_level"] == {"yellow": 1, "orange": 1, "red": 1}
    assert stats["by_camera"] == {"lane": 1, "lobby": 1, "facade": 1}
    assert stats["overdue"] == 2
    assert stats["rectification_rate"] == pytest.approx(1 / 3)
    assert stats["repeat_rate"] == pytest.approx(1 / 3)
    scoped = store.stats(cameras=frozenset({"lobby"}), now=T0)
    assert scoped["total"] == 1 and scoped["repeat_rate"] == 1.0 and scoped["overdue"] == 0
    public = store.stats(public=True)
    assert public["by_status"] == {"closed": 1} and public["rectification_rate"] == 1.0
    counts = store.counts_by_status()
    assert counts["discovered"] == 2 and counts["closed"] == 1 and counts["rejected"] == 0
    assert set(counts) == {
        "discovered",
        "reported",
        "verified",
        "rectifying",
        "rechecked",
        "closed",
        "rejected",
        "reopened",
    }


def test_empty_stats_have_no_rates(store: TicketStore) -> None:
    stats = store.stats()
    assert stats["total"] == 0
    assert stats["rectification_rate"] is None and stats["repeat_rate"] is None


def test_tickets_survive_reopening_the_store(make_store: Callable[..., TicketStore]) -> None:
    first = make_store()
    view = _walk(first, _start(first).id, "reported")
    first.close()
    second = make_store()
    again = second.get_ticket(view.id)
    assert again == view
    assert again is not None and again.created_at.tzinfo is not None
    assert second.apply_event(event(zone="next")) is not None


def test_custom_levels_apply(make_store: Callable[..., TicketStore]) -> None:
    levels = LevelsConfig.model_validate(
        {"default_level": {"fire_lane_blocked": "blue"}, "report_within_s": 120}
    )
    store = make_store(TicketPolicy(levels=levels, default_area="estate"))
    view = _start(store)
    assert view.code == "estate-FIRE-B-0001"
    assert view.deadline_at == T0 + timedelta(seconds=120)


# --- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not valid"),
        ("mysql://user@host/db", "unsupported database 'mysql'"),
        ("postgresql+nosuchdriver://u@h/db", "no database driver"),
    ],
    ids=["garbage", "mysql", "driver"],
)
def test_bad_database_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        TicketStore(url)


def test_sqlite_in_memory_works() -> None:
    store = TicketStore("sqlite://")
    try:
        assert store.apply_event(event(), received_at=T0) is not None
        assert store.list_tickets()[1] == 1
    finally:
        store.close()


def test_naive_times_are_refused(store: TicketStore) -> None:
    with pytest.raises(InvalidQuery, match="received_at"):
        store.apply_event(event(), received_at=datetime(2025, 1, 1))
    with pytest.raises(InvalidQuery, match="now"):
        store.escalate_overdue(datetime(2025, 1, 1))
    assert datetime.now(UTC).tzinfo is not None


# --- web sessions ------------------------------------------------------------------------------


def test_logged_out_sessions_are_kept_until_they_expire(store: TicketStore) -> None:
    now = datetime.now(UTC)
    store.revoke_session("expired-session-0001", now - timedelta(seconds=1))
    assert store.session_revoked("expired-session-0001")  # until a later logout prunes it
    store.revoke_session("live-session-000001", now + timedelta(hours=12))
    assert not store.session_revoked("expired-session-0001")
    assert store.session_revoked("live-session-000001")
    store.revoke_session("live-session-000001", now + timedelta(hours=12))  # twice is fine
    assert not store.session_revoked("never-logged-out-01")
    with pytest.raises(InvalidQuery, match="session id"):
        store.revoke_session("", now)
    with pytest.raises(InvalidQuery, match="timezone-aware"):
        store.revoke_session("naive-session-00001", datetime(2026, 1, 1))


# --- annotations (vision.annotations) ------------------------------------------------------


def _frame_annotation(
    key: str, *boxes: tuple[str, tuple[float, float, float, float]]
) -> FrameAnnotation:
    ref = (
        FrameRef(FrameSource.SNAPSHOT)
        if key == "snapshot"
        else FrameRef(FrameSource.CLIP, int(key))
    )
    return FrameAnnotation(
        frame=ref,
        image_sha256=sha(key),
        boxes=tuple(AnnotationBox(cls, xyxy) for cls, xyxy in boxes),
        negative=not boxes,
        author="reviewer-1",
        at=T0 + H,
    )


def test_annotations_are_replaced_per_ticket_and_read_back(store: TicketStore) -> None:
    ticket = _start(store)
    other = _start(store, camera_id="lobby", zone="lobby", kind="ebike_entry")
    first = [
        _frame_annotation(
            "1500", ("ebike", (0.1, 0.2, 0.3, 0.4)), ("person", (0.5, 0.0, 1.0, 1.0))
        ),
        _frame_annotation("snapshot"),
        _frame_annotation("40", ("clutter", (0.0, 0.5, 0.25, 1.0))),
    ]
    saved = store.replace_annotations(ticket.code, first)  # by code, as the API may
    assert [f.frame.key for f in saved] == ["snapshot", "clip@40", "clip@1500"]
    assert store.annotations(ticket.id) == saved
    assert saved[2].boxes[1].cls == "person" and saved[2].boxes[1].xyxy == (0.5, 0.0, 1.0, 1.0)
    assert saved[0].negative and saved[0].at == T0 + H and saved[0].image_sha256 == sha("snapshot")
    store.replace_annotations(other.id, [_frame_annotation("0", ("ebike", (0.1, 0.1, 0.2, 0.2)))])
    store.replace_annotations(ticket.id, first[:1])
    assert [f.frame.key for f in store.annotations(ticket.id)] == ["clip@1500"]
    assert [f.frame.key for f in store.annotations(other.id)] == ["clip@0"]  # untouched
    with pytest.raises(InvalidQuery, match="frame annotated twice: clip@1500"):
        store.replace_annotations(ticket.id, [first[0], first[0]])
    with pytest.raises(TicketNotFound):
        store.replace_annotations("no-such-ticket", first)


def test_dataset_candidates_are_annotated_or_rejected_tickets(store: TicketStore) -> None:
    annotated = _start(store, started_at=T0)
    store.replace_annotations(
        annotated.id, [_frame_annotation("0", ("vehicle", (0.1, 0.1, 0.9, 0.9)))]
    )
    store.transition(annotated.id, "rejected", actor="office")  # frees the lane for a new ticket
    plain = _start(store, started_at=T0 + H)  # neither annotated nor rejected
    rejected = _start(store, camera_id="lobby", zone="lobby", kind="ebike_entry")
    store.transition(rejected.id, "rejected", actor="office")
    found = store.dataset_candidates(since=T0 - H)
    assert {view.id for view, _ in found} == {annotated.id, rejected.id}
    assert plain.id not in {view.id for view, _ in found}
    frames = {view.id: frames for view, frames in found}
    assert [f.frame.key for f in frames[annotated.id]] == ["clip@0"] and frames[rejected.id] == []
    for only in ({"camera": "lobby"}, {"kind": "ebike_entry"}):
        assert [v.id for v, _ in store.dataset_candidates(since=T0 - H, **only)] == [rejected.id]
    assert store.dataset_candidates(since=T0 + 100 * H) == []
    with pytest.raises(InvalidQuery, match="since must be timezone-aware"):
        store.dataset_candidates(since=datetime(2026, 1, 1))


# --- several ticket services on one PostgreSQL (scale-out) ---------------------------------------


def _waiting_on_locks(dsn: str, count: int) -> Callable[[], bool]:
    """Whether ``count`` other backends of this database wait for a lock."""
    import psycopg

    def check() -> bool:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
        return row is not None and int(row[0]) >= count

    return check


@pytest.mark.integration
def test_concurrent_events_of_one_ticket_lose_no_update(postgres: PostgresServer) -> None:
    """Two replicas apply events of one ticket at the same time: neither change is lost.

    A third connection holds the ticket's row lock (as a writer in the middle of a transaction
    does) while two stores, each with its own connection, apply an ``update`` event of the
    ticket's hazard with different details. Before the fix both read the ticket before the lock
    was free and the second UPDATE overwrote the first's details (``a`` lost).
    """
    import psycopg

    url = postgres.database()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    stores = [TicketStore(url, policy=POLICY) for _ in range(2)]
    try:
        now = datetime.now(UTC)  # a fresh hazard: no level raise, so no history row is written
        hazard = "h-lost-update"
        first = stores[0].apply_event(event(hazard_id=hazard, started_at=now))
        assert first is not None
        errors: list[BaseException] = []

        def apply(store: TicketStore, details: dict[str, Any]) -> None:
            try:
                store.apply_event(
                    event("update", hazard_id=hazard, started_at=now, details=details)
                )
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        with psycopg.connect(dsn) as holder:
            holder.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (first.id,))
            threads = [
                threading.Thread(target=apply, args=(stores[0], {"a": 1})),
                threading.Thread(target=apply, args=(stores[1], {"b": 2})),
            ]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 20
            while not _waiting_on_locks(dsn, 2)():
                assert time.monotonic() < deadline, "the two writers never waited for the lock"
                time.sleep(0.02)
            holder.commit()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors, errors
        view = stores[0].get_ticket(first.id)
        assert view is not None
        assert {"a": 1, "b": 2}.items() <= view.details.items(), view.details
    finally:
        for store in stores:
            store.close()


@pytest.mark.integration
def test_a_deadlock_is_retried_not_reported_as_an_outage(postgres: PostgresServer) -> None:
    """PostgreSQL breaks a deadlock by rolling back one transaction, which must be run again.

    The escalation locks the overdue tickets in id order; another connection holds the second
    one and then asks for the first: a cycle. The escalation's backend finds it (its
    ``deadlock_timeout`` of 1 s fires first) and is rolled back with SQLSTATE 40P01. Before the
    fix that error came out of the store, and the ticket service took it for a database outage
    (unhealthy, entries left pending, backoff).
    """
    import psycopg

    url = postgres.database()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    store = TicketStore(url, policy=POLICY)
    try:
        ids = sorted(_start(store, zone=f"z{n}").id for n in range(2))
        result: list[Any] = []

        def escalate() -> None:
            try:
                result.append(store.escalate_overdue(T0 + 2 * H))
            except BaseException as exc:  # reported by the main thread
                result.append(exc)

        with psycopg.connect(dsn) as other:
            other.execute("SET deadlock_timeout = '20s'")  # the other side detects it first
            other.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ids[1],))
            thread = threading.Thread(target=escalate)
            thread.start()
            deadline = time.monotonic() + 20
            while not _waiting_on_locks(dsn, 1)():
                assert time.monotonic() < deadline, "the escalation never waited for the lock"
                time.sleep(0.02)
            # Blocks until the escalation is rolled back for the deadlock and lets go of it.
            other.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ids[0],))
            other.commit()
        thread.join(timeout=30)
        assert len(result) == 1 and not isinstance(result[0], BaseException), result
        assert sorted(view.id for view in result[0]) == ids
        assert all(store.get_ticket(i).escalations == 1 for i in ids)  # type: ignore[union-attr]
    finally:
        store.close()


def test_the_outbox_sends_each_notification_once_and_keeps_what_failed(
    store: TicketStore,
) -> None:
    """Changes that announce something (here new tickets) leave their notification in the
    outbox with the change; a send that fails half way deletes only what went out."""
    for zone in ("a", "b", "c"):
        _start(store, kind="falling_object", camera_id="facade", zone=zone)
    _start(store)  # yellow: "created", for the channels that want every new ticket
    sent: list[dict[str, Any]] = []

    def flaky(payload: dict[str, Any]) -> None:
        if len(sent) == 1:
            raise ConnectionError("redis went away")
        sent.append(payload)

    with pytest.raises(ConnectionError, match="redis went away"):
        store.send_notifications(flaky)
    assert store.send_notifications(sent.append) == (3, 0)
    assert store.send_notifications(sent.append) == (0, 0)
    assert [(n["type"], n["zone"], n["level"]) for n in sent] == [
        *[("urgent_ticket", zone, "red") for zone in ("a", "b", "c")],
        ("created", "lane", "yellow"),
    ]
