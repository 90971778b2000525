"""The workflow's pure rules: transition table, steps and deadlines, levels, escalation, codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.auth import Forbidden
from api.errors import InvalidTransition, TransitionForbidden, UnknownStatus
from api.settings.levels import LevelsConfig, RiskLevel
from api.settings.roles import TokenRole
from api.workflow import (
    TRANSITIONS,
    Step,
    TicketPolicy,
    TicketStatus,
    allowed_targets,
    check_transition,
    escalation_for,
    format_code,
    is_open,
    level_for_duration,
    mask_actor,
    max_level,
    next_level,
    recheck_due,
    rectifiers,
    step_deadline,
    step_of,
)
from pipelines.config import parse_config
from vision.types import HazardKind

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
POLICY = TicketPolicy()
H, DAY = 3600.0, 86400.0

S = TicketStatus
ALLOWED = {
    (S.DISCOVERED, S.REPORTED),
    (S.DISCOVERED, S.REJECTED),
    (S.REPORTED, S.VERIFIED),
    (S.REPORTED, S.REJECTED),
    (S.VERIFIED, S.RECTIFYING),
    (S.RECTIFYING, S.RECHECKED),
    (S.RECHECKED, S.CLOSED),
    (S.RECHECKED, S.REOPENED),
    (S.CLOSED, S.REOPENED),
    (S.REJECTED, S.REOPENED),
    (S.REOPENED, S.VERIFIED),
    (S.REOPENED, S.RECTIFYING),
    (S.REOPENED, S.REJECTED),
}


@pytest.mark.parametrize(
    ("current", "target"),
    [(a, b) for a in TicketStatus for b in TicketStatus],
    ids=lambda s: str(s),
)
def test_transition_table(current: TicketStatus, target: TicketStatus) -> None:
    if (current, target) in ALLOWED:
        assert check_transition(current, target.value) is target
        return
    with pytest.raises(InvalidTransition) as info:
        check_transition(current, target.value)
    assert info.value.current == current.value
    assert info.value.to == target.value
    assert set(info.value.allowed) == {b.value for a, b in ALLOWED if a is current}
    assert "allowed:" in str(info.value)


def test_closed_is_reached_only_through_rechecked() -> None:
    sources = [a for a, targets in TRANSITIONS.items() if S.CLOSED in targets]
    assert sources == [S.RECHECKED]


def test_every_status_can_be_left_or_reopened() -> None:
    # No dead end: every status has somewhere to go (closed and rejected can be reopened).
    assert all(TRANSITIONS[s] for s in TicketStatus)


@pytest.mark.parametrize(
    ("current", "to", "allowed"),
    [
        ("discovered", "done", ["reported", "rejected"]),
        ("verified", "", ["rectifying"]),
        ("closed", "CLOSED", ["reopened"]),
    ],
    ids=["unknown-word", "empty", "wrong-case"],
)
def test_unknown_status_lists_what_is_allowed(current: str, to: str, allowed: list[str]) -> None:
    with pytest.raises(UnknownStatus) as info:
        check_transition(current, to)
    assert info.value.allowed == allowed
    assert "is not a ticket status" in str(info.value)
    assert isinstance(info.value, InvalidTransition)


@pytest.mark.parametrize(
    ("status", "open_", "step"),
    [
        (S.DISCOVERED, True, Step.REPORT),
        (S.REPORTED, True, Step.VERIFY),
        (S.VERIFIED, True, Step.RECTIFY),
        (S.RECTIFYING, True, Step.RECTIFY),
        (S.RECHECKED, True, None),
        (S.CLOSED, False, None),
        (S.REJECTED, False, None),
        (S.REOPENED, True, Step.VERIFY),
    ],
    ids=lambda v: str(v),
)
def test_open_and_steps(status: TicketStatus, open_: bool, step: Step | None) -> None:
    assert is_open(status) is open_
    assert step_of(status) is step


@pytest.mark.parametrize(
    ("to", "level", "from_", "current", "expected"),
    [
        (S.DISCOVERED, RiskLevel.RED, None, None, T0 + timedelta(hours=1)),
        (S.REPORTED, RiskLevel.YELLOW, S.DISCOVERED, T0, T0 + timedelta(hours=24)),
        (S.VERIFIED, RiskLevel.BLUE, S.REPORTED, T0, T0 + timedelta(days=3)),
        (S.VERIFIED, RiskLevel.YELLOW, S.REPORTED, T0, T0 + timedelta(days=7)),
        (S.VERIFIED, RiskLevel.ORANGE, S.REPORTED, T0, T0 + timedelta(hours=24)),
        (S.VERIFIED, RiskLevel.RED, S.REPORTED, T0, T0 + timedelta(hours=4)),
        (S.RECTIFYING, RiskLevel.RED, S.VERIFIED, T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
        (S.RECTIFYING, RiskLevel.RED, S.REOPENED, T0, T0 + timedelta(hours=4)),
        (S.REOPENED, RiskLevel.RED, S.RECHECKED, None, T0 + timedelta(hours=24)),
        (S.RECHECKED, RiskLevel.RED, S.RECTIFYING, T0, None),
        (S.CLOSED, RiskLevel.RED, S.RECHECKED, None, None),
        (S.REJECTED, RiskLevel.RED, S.DISCOVERED, T0, None),
    ],
    ids=[
        "discovered-report-1h",
        "reported-verify-24h",
        "verified-blue-3d",
        "verified-yellow-7d",
        "verified-orange-24h",
        "verified-red-4h",
        "rectifying-keeps-the-verified-deadline",
        "rectifying-after-reopen-starts-anew",
        "reopened-verify-again",
        "rechecked-none",
        "closed-none",
        "rejected-none",
    ],
)
def test_step_deadlines(
    to: TicketStatus,
    level: RiskLevel,
    from_: TicketStatus | None,
    current: datetime | None,
    expected: datetime | None,
) -> None:
    got = step_deadline(
        POLICY, to_status=to, level=level, now=T0, from_status=from_, current_deadline=current
    )
    assert got == expected


@pytest.mark.parametrize(
    ("level", "up"),
    [
        (RiskLevel.BLUE, RiskLevel.YELLOW),
        (RiskLevel.YELLOW, RiskLevel.ORANGE),
        (RiskLevel.ORANGE, RiskLevel.RED),
        (RiskLevel.RED, RiskLevel.RED),
    ],
    ids=["blue", "yellow", "orange", "red-stays"],
)
def test_next_level(level: RiskLevel, up: RiskLevel) -> None:
    assert next_level(level) is up
    assert max_level(level, up) is up
    assert max_level(up, level) is up


@pytest.mark.parametrize(
    ("kind", "duration_s", "expected"),
    [
        (HazardKind.FIRE_LANE_BLOCKED, 0.0, None),
        (HazardKind.FIRE_LANE_BLOCKED, 1799.9, None),
        (HazardKind.FIRE_LANE_BLOCKED, 1800.0, RiskLevel.ORANGE),
        (HazardKind.FIRE_LANE_BLOCKED, 7199.0, RiskLevel.ORANGE),
        (HazardKind.FIRE_LANE_BLOCKED, 7200.0, RiskLevel.RED),
        (HazardKind.FIRE_LANE_BLOCKED, 10 * DAY, RiskLevel.RED),
        (HazardKind.EBIKE_ENTRY, 10 * DAY, None),
        (HazardKind.FALLING_OBJECT, 10 * DAY, None),
    ],
    ids=["0s", "just-under-30min", "30min", "under-2h", "2h", "10days", "ebike", "falling"],
)
def test_level_for_duration(
    kind: HazardKind, duration_s: float, expected: RiskLevel | None
) -> None:
    assert level_for_duration(POLICY, kind, duration_s) == expected


def test_starting_levels_follow_the_domain() -> None:
    assert POLICY.starting_level(HazardKind.FALLING_OBJECT) is RiskLevel.RED
    assert POLICY.starting_level(HazardKind.EBIKE_ENTRY) is RiskLevel.ORANGE
    assert POLICY.starting_level(HazardKind.FIRE_LANE_BLOCKED) is RiskLevel.YELLOW


@pytest.mark.parametrize(
    ("status", "level", "deadline", "now", "expected"),
    [
        (S.VERIFIED, RiskLevel.YELLOW, T0, T0, None),
        (S.VERIFIED, RiskLevel.YELLOW, T0, T0 - timedelta(seconds=1), None),
        (S.VERIFIED, RiskLevel.YELLOW, T0, T0 + timedelta(seconds=1), (RiskLevel.ORANGE, DAY)),
        (S.RECTIFYING, RiskLevel.ORANGE, T0, T0 + timedelta(hours=1), (RiskLevel.RED, 4 * H)),
        (S.RECTIFYING, RiskLevel.RED, T0, T0 + timedelta(hours=1), (RiskLevel.RED, 4 * H)),
        (S.REPORTED, RiskLevel.BLUE, T0, T0 + timedelta(hours=1), (RiskLevel.YELLOW, DAY)),
        (S.DISCOVERED, RiskLevel.BLUE, T0, T0 + timedelta(hours=1), (RiskLevel.YELLOW, H)),
        (S.RECHECKED, RiskLevel.BLUE, T0, T0 + timedelta(days=30), None),
        (S.CLOSED, RiskLevel.BLUE, T0, T0 + timedelta(days=30), None),
        (S.REPORTED, RiskLevel.BLUE, None, T0 + timedelta(days=30), None),
    ],
    ids=[
        "at-deadline",
        "before",
        "just-after",
        "orange-to-red",
        "red-stays-red",
        "verify-window",
        "report-window",
        "rechecked-never",
        "closed-never",
        "no-deadline",
    ],
)
def test_escalation(
    status: TicketStatus,
    level: RiskLevel,
    deadline: datetime | None,
    now: datetime,
    expected: tuple[RiskLevel, float] | None,
) -> None:
    decision = escalation_for(POLICY, status=status, level=level, deadline_at=deadline, now=now)
    if expected is None:
        assert decision is None
        return
    assert decision is not None
    new_level, window_s = expected
    assert decision.level_from is level
    assert decision.level_to is new_level
    assert decision.deadline_at == now + timedelta(seconds=window_s)
    assert "overdue" in decision.note


@pytest.mark.parametrize(
    ("area", "kind", "level", "serial", "expected"),
    [
        ("block_a", HazardKind.FIRE_LANE_BLOCKED, RiskLevel.YELLOW, 7, "block_a-FIRE-Y-0007"),
        ("b2", HazardKind.EBIKE_ENTRY, RiskLevel.ORANGE, 1, "b2-EBIKE-O-0001"),
        ("site", HazardKind.FALLING_OBJECT, RiskLevel.RED, 12345, "site-FALL-R-12345"),
        ("x", "fire_lane_blocked", "blue", 10, "x-FIRE-B-0010"),
    ],
    ids=["fire", "ebike", "fall-wide-serial", "plain-strings"],
)
def test_format_code(
    area: str, kind: HazardKind | str, level: RiskLevel | str, serial: int, expected: str
) -> None:
    assert format_code(area, kind, level, serial) == expected


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("", "ebike_entry", "red", 1), "area must not be empty"),
        (("a", "ebike_entry", "red", 0), "serial must be >= 1"),
        (("a", "flood", "red", 1), "flood"),
        (("a", "ebike_entry", "purple", 1), "purple"),
    ],
    ids=["no-area", "serial-0", "bad-kind", "bad-level"],
)
def test_format_code_refuses(args: tuple[str, str, str, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        format_code(*args)


CLEAR_S = POLICY.levels.recheck_clear_s  # 300 by default


@pytest.mark.parametrize(
    ("status", "clear", "clear_for_s", "hazard_started_at", "due"),
    [
        (S.RECTIFYING, True, CLEAR_S, T0 - timedelta(hours=1), True),
        (S.RECTIFYING, True, CLEAR_S - 1, T0 - timedelta(hours=1), False),
        (S.RECTIFYING, False, 10 * CLEAR_S, T0 - timedelta(hours=1), False),
        (S.VERIFIED, True, 10 * CLEAR_S, T0 - timedelta(hours=1), False),
        (S.RECHECKED, True, 10 * CLEAR_S, T0 - timedelta(hours=1), False),
        # clear since before the hazard started: an old status read late says nothing
        (S.RECTIFYING, True, 2 * H, T0 - timedelta(hours=1), False),
        (S.RECTIFYING, True, H, T0 - timedelta(hours=1), True),
    ],
    ids=[
        "clear-long-enough",
        "one-second-short",
        "occupied",
        "not-rectifying",
        "already-rechecked",
        "clear-since-before-the-hazard",
        "clear-since-exactly-the-hazard",
    ],
)
def test_recheck_due(
    status: TicketStatus, clear: bool, clear_for_s: float, hazard_started_at: datetime, due: bool
) -> None:
    got = recheck_due(
        POLICY,
        status=status,
        zone_clear=clear,
        clear_for_s=clear_for_s,
        at=T0,
        hazard_started_at=hazard_started_at,
    )
    assert got is due


@pytest.mark.parametrize(
    ("actor", "masked"),
    [("system", "system"), ("office", "o***"), ("张三", "张***"), (None, None)],
    ids=["system", "name", "chinese", "none"],
)
def test_mask_actor(actor: str | None, masked: str | None) -> None:
    assert mask_actor(actor) == masked


def test_allowed_targets_are_in_workflow_order() -> None:
    assert allowed_targets("reopened") == ["verified", "rectifying", "rejected"]
    assert allowed_targets(S.RECHECKED) == ["closed", "reopened"]


def test_policy_from_config_uses_areas_and_levels() -> None:
    config = parse_config(
        """\
site: {id: block_a, name: "Block A"}
cameras:
  facade:
    area: tower_2
    zones: {f: {polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.5, 0.9]}
    hazards: [{kind: falling_object, zone: f}]
  yard:
    zones: {f: {polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.5, 0.9]}
    hazards: [{kind: falling_object, zone: f}]
api:
  levels:
    default_level: {falling_object: orange}
    rectify_within_s: {orange: 7200}
    recheck_clear_s: 30
""",
        "site.yaml",
    )
    policy = TicketPolicy.from_config(config)
    assert policy.area_of("facade") == "tower_2"
    assert policy.area_of("yard") == "block_a"
    assert policy.area_of("unknown") == "block_a"
    assert policy.starting_level(HazardKind.FALLING_OBJECT) is RiskLevel.ORANGE
    assert policy.starting_level(HazardKind.EBIKE_ENTRY) is RiskLevel.ORANGE
    assert policy.window_s(Step.RECTIFY, RiskLevel.ORANGE) == 7200
    assert policy.window_s(Step.RECTIFY, RiskLevel.RED) == 4 * H
    assert policy.levels.recheck_clear_s == 30


def test_policy_refuses_an_empty_default_area() -> None:
    with pytest.raises(ValueError, match="default_area"):
        TicketPolicy(levels=LevelsConfig(), default_area="")


# --- who may move a ticket (separation of duties) ----------------------------------------------

# Written out from ARCHITECTURE.md §12, independently of the table in api.workflow: the field
# reports, verifies and rectifies; the office cancels (注销), reopens, rechecks and closes.
R = TokenRole
FIELD = {R.ADMIN, R.REVIEWER, R.GRID_WORKER}
OFFICE = {R.ADMIN, R.REVIEWER}
ROLES_BY_TARGET = {
    S.REPORTED: FIELD,
    S.VERIFIED: FIELD,
    S.RECTIFYING: FIELD,
    S.REJECTED: OFFICE,
    S.REOPENED: OFFICE,
    S.RECHECKED: OFFICE,
    S.CLOSED: OFFICE,
}


def _expected(current: TicketStatus, target: TicketStatus, role: TokenRole) -> str:
    if (current, target) not in ALLOWED:
        return "conflict"
    return "ok" if role in ROLES_BY_TARGET[target] else "forbidden"


def _allowed_for(current: TicketStatus, role: TokenRole) -> list[str]:
    return [b.value for b in TRANSITIONS[current] if role in ROLES_BY_TARGET[b]]


@pytest.mark.parametrize("role", list(TokenRole), ids=str)
@pytest.mark.parametrize("target", list(TicketStatus), ids=str)
@pytest.mark.parametrize("current", list(TicketStatus), ids=str)
def test_role_matrix(current: TicketStatus, target: TicketStatus, role: TokenRole) -> None:
    expected = _expected(current, target, role)
    if expected == "ok":
        assert check_transition(current, target.value, role=role, actor="someone") is target
        assert target.value in allowed_targets(current, role)
        return
    if expected == "conflict":
        with pytest.raises(InvalidTransition) as conflict:
            check_transition(current, target.value, role=role, actor="someone")
        assert not isinstance(conflict.value, TransitionForbidden)
        assert conflict.value.allowed == _allowed_for(current, role)
        return
    with pytest.raises(TransitionForbidden) as forbidden:
        check_transition(current, target.value, role=role, actor="someone")
    message = str(forbidden.value)
    assert f"the role {role.value} may not" in message
    allowed_roles = sorted(r.value for r in ROLES_BY_TARGET[target])
    assert message.endswith(f"allowed roles: {', '.join(allowed_roles)}")
    assert forbidden.value.allowed_roles == allowed_roles
    assert forbidden.value.role == role.value
    assert target.value not in allowed_targets(current, role)


def test_public_may_do_nothing_and_nobody_else_is_shut_out() -> None:
    for status in TicketStatus:
        assert allowed_targets(status, TokenRole.PUBLIC) == []
        assert allowed_targets(status, TokenRole.ADMIN) == allowed_targets(status)
    assert all(TokenRole.PUBLIC not in roles for t in TRANSITIONS.values() for roles in t.values())


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], set()),
        ([("reported", "ann"), ("verified", "ann")], set()),
        ([("rectifying", "bob")], {"bob"}),
        ([("rectifying", "bob"), ("rechecked", "system"), ("closed", "cat")], {"bob"}),
        ([("rectifying", "bob"), ("reopened", "cat"), ("rectifying", "dan")], {"dan"}),
        ([("rectifying", "bob"), ("rechecked", "cat"), ("reopened", "system")], set()),
        ([("rectifying", "bob"), ("rectifying", "eve")], {"bob", "eve"}),
        ([(None, "system"), ("rectifying", "bob"), ("rectifying", "bob")], {"bob"}),
    ],
    ids=[
        "none",
        "no-rectification",
        "one",
        "kept-after-recheck-and-close",
        "new-round-after-reopen",
        "reopened-by-the-system",
        "two",
        "entries-without-a-move",
    ],
)
def test_rectifiers(history: list[tuple[str | None, str]], expected: set[str]) -> None:
    assert rectifiers(history) == expected


@pytest.mark.parametrize(
    ("current", "to", "role", "actor", "outcome"),
    [
        (S.RECTIFYING, "rechecked", R.REVIEWER, "bob", "barred"),
        (S.RECTIFYING, "rechecked", R.ADMIN, "bob", "barred"),
        (S.RECTIFYING, "rechecked", None, "bob", "barred"),
        (S.RECHECKED, "closed", R.REVIEWER, "bob", "barred"),
        (S.RECHECKED, "reopened", R.REVIEWER, "bob", "ok"),
        (S.RECTIFYING, "rechecked", R.REVIEWER, "cat", "ok"),
        (S.RECHECKED, "closed", R.ADMIN, "cat", "ok"),
        (S.RECTIFYING, "rechecked", R.GRID_WORKER, "cat", "role"),
    ],
    ids=[
        "rectifier-rechecks",
        "rectifier-admin-rechecks",
        "rectifier-trusted-caller",
        "rectifier-closes",
        "rectifier-reopens",
        "other-rechecks",
        "other-closes",
        "grid-worker-rechecks",
    ],
)
def test_whoever_rectifies_may_not_recheck_or_close(
    current: TicketStatus, to: str, role: TokenRole | None, actor: str, outcome: str
) -> None:
    rectified_by = frozenset({"bob"})
    call = {"role": role, "actor": actor, "rectified_by": rectified_by}
    if outcome == "ok":
        assert check_transition(current, to, **call).value == to  # type: ignore[arg-type]
        assert to in allowed_targets(current, **call)  # type: ignore[arg-type]
        return
    with pytest.raises(TransitionForbidden) as info:
        check_transition(current, to, **call)  # type: ignore[arg-type]
    assert to not in allowed_targets(current, **call)  # type: ignore[arg-type]
    if outcome == "barred":
        assert "'bob' rectified this ticket, so someone else must" in str(info.value)
        assert "separation of duties" in str(info.value)
    else:
        assert "the role grid_worker may not recheck it" in str(info.value)


def test_transition_forbidden_is_a_403_kind_of_error() -> None:
    with pytest.raises(Forbidden):
        check_transition(S.REJECTED, "reopened", role=R.GRID_WORKER, actor="g")
