"""The ticket workflow: statuses, transitions, levels, step deadlines, escalation and codes.

Everything here is a pure function of its arguments (no database, no clock): the store passes
``now`` in. The rules follow the users' own closed loop (ARCHITECTURE.md §12, 闭环管理): discover →
report → verify → rectify → recheck → close, plus ``rejected`` (a false report, 注销) and
``reopened``. The allowed transitions (:data:`TRANSITIONS`) and why:

- ``discovered → reported | rejected``: a camera alert becomes a work order (上报), or the review
  queue dismisses it as a false alarm straight away (注销).
- ``reported → verified | rejected``: the responsible unit confirms on site within 24 h (核实);
  a false report is cancelled.
- ``verified → rectifying``: once confirmed, a hazard is real: it can only be fixed, not rejected.
- ``rectifying → rechecked``: a safety officer (or the automatic recheck, a clear zone for
  ``recheck_clear_s``) confirms the fix (复查). There is no way back to ``verified``: work that
  stalls stays ``rectifying`` and is escalated when overdue, which is what the documents ask
  for (超时预警, 自动升级督办).
- ``rechecked → closed | reopened``: only a rechecked ticket is closed (销号), so ``closed``
  always means "passed recheck"; a recheck that finds it unfixed reopens it.
- ``closed → reopened`` and ``rejected → reopened``: a later audit finds the fix did not hold or
  the rejection was wrong.
- ``reopened → verified | rectifying | rejected``: a reopened ticket is verified again on site,
  goes straight back to rectification when the fault is already known, or is cancelled.

Who may make each move (the roles are in the table itself, :data:`TRANSITIONS`), following the
separation of duties of ARCHITECTURE.md §12:

- report, verify, rectify (``→ reported | verified | rectifying``): the field, that is a
  ``grid_worker`` (only on its own cameras: the API never shows it other tickets), a ``reviewer``
  or an ``admin``. The responsible unit confirms on site and does the work.
- cancel (``→ rejected``, 注销) and reopen (``→ reopened``): the office only, ``reviewer`` or
  ``admin``: a grid worker cannot make its own tickets disappear.
- recheck and close (``→ rechecked | closed``): the office only, ``reviewer`` or ``admin`` (a
  safety officer rechecks before an order is closed), or the automatic recheck (the ``system``
  actor, which the store applies itself, outside this table).
- ``public``: nothing.

And whoever rectified a ticket may not recheck or close it (:func:`rectifiers`): the actor who
moved it to ``rectifying`` in its current round (since it was last reopened) is barred from
``rechecked`` and ``closed``, whatever its role. Someone else, or the automatic recheck, must
confirm the fix. A reopened ticket starts a new round, so a different person may rectify it and
the first one may then recheck.

Each open status belongs to a step with its own deadline: ``discovered`` to the report step
(``report_within_s``), ``reported`` and ``reopened`` to verification (``verify_within_s``),
``verified`` and ``rectifying`` to rectification (the level's response time, counted from
verification). ``rechecked``, ``closed`` and ``rejected`` have no deadline.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from api.errors import InvalidTransition, TransitionForbidden, UnknownStatus
from api.settings.hotspots import HotspotSettings
from api.settings.levels import LevelsConfig, RiskLevel
from api.settings.roles import SYSTEM_ACTOR, TokenRole
from pipelines.config import HazardwatchConfig, camera_area
from vision.types import HazardKind

__all__ = [
    "FIELD_ROLES",
    "KIND_CODES",
    "LEVEL_LETTERS",
    "OFFICE_ROLES",
    "RECTIFIER_BARRED",
    "TRANSITIONS",
    "Escalation",
    "Step",
    "TicketPolicy",
    "TicketStatus",
    "allowed_targets",
    "check_transition",
    "escalation_for",
    "format_code",
    "format_hotspot_code",
    "is_open",
    "level_for_duration",
    "mask_actor",
    "max_level",
    "next_level",
    "recheck_due",
    "rectifiers",
    "roles_for",
    "step_deadline",
    "step_of",
]


class TicketStatus(StrEnum):
    """Where a ticket is in the closed loop (ARCHITECTURE.md §6)."""

    DISCOVERED = "discovered"
    REPORTED = "reported"
    VERIFIED = "verified"
    RECTIFYING = "rectifying"
    RECHECKED = "rechecked"
    CLOSED = "closed"
    REJECTED = "rejected"
    REOPENED = "reopened"


class Step(StrEnum):
    """The step of the loop a deadline is for."""

    REPORT = "report"
    VERIFY = "verify"
    RECTIFY = "rectify"


_S = TicketStatus
_R = TokenRole
# The field (report, verify, rectify) and the office (cancel, reopen, recheck, close).
FIELD_ROLES: frozenset[TokenRole] = frozenset({_R.ADMIN, _R.REVIEWER, _R.GRID_WORKER})
OFFICE_ROLES: frozenset[TokenRole] = frozenset({_R.ADMIN, _R.REVIEWER})


def _targets(
    *pairs: tuple[TicketStatus, frozenset[TokenRole]],
) -> Mapping[TicketStatus, frozenset[TokenRole]]:
    return MappingProxyType(dict(pairs))


# status -> {target: roles that may move a ticket there}, targets in workflow order.
TRANSITIONS: Mapping[TicketStatus, Mapping[TicketStatus, frozenset[TokenRole]]] = MappingProxyType(
    {
        _S.DISCOVERED: _targets((_S.REPORTED, FIELD_ROLES), (_S.REJECTED, OFFICE_ROLES)),
        _S.REPORTED: _targets((_S.VERIFIED, FIELD_ROLES), (_S.REJECTED, OFFICE_ROLES)),
        _S.VERIFIED: _targets((_S.RECTIFYING, FIELD_ROLES)),
        _S.RECTIFYING: _targets((_S.RECHECKED, OFFICE_ROLES)),
        _S.RECHECKED: _targets((_S.CLOSED, OFFICE_ROLES), (_S.REOPENED, OFFICE_ROLES)),
        _S.CLOSED: _targets((_S.REOPENED, OFFICE_ROLES)),
        _S.REJECTED: _targets((_S.REOPENED, OFFICE_ROLES)),
        _S.REOPENED: _targets(
            (_S.VERIFIED, FIELD_ROLES),
            (_S.RECTIFYING, FIELD_ROLES),
            (_S.REJECTED, OFFICE_ROLES),
        ),
    }
)
# Moves the actor who rectified a ticket may not make on it (separation of duties).
RECTIFIER_BARRED: frozenset[TicketStatus] = frozenset({_S.RECHECKED, _S.CLOSED})
# What moving to each status means, for messages.
_ACTS: Mapping[TicketStatus, str] = MappingProxyType(
    {
        _S.REPORTED: "report it (上报)",
        _S.VERIFIED: "verify it (核实)",
        _S.RECTIFYING: "start its rectification (整改)",
        _S.RECHECKED: "recheck it (复查)",
        _S.CLOSED: "close it (销号)",
        _S.REJECTED: "cancel it (注销)",
        _S.REOPENED: "reopen it",
        _S.DISCOVERED: "mark it discovered",
    }
)

_STEPS: Mapping[TicketStatus, Step] = MappingProxyType(
    {
        _S.DISCOVERED: Step.REPORT,
        _S.REPORTED: Step.VERIFY,
        _S.REOPENED: Step.VERIFY,
        _S.VERIFIED: Step.RECTIFY,
        _S.RECTIFYING: Step.RECTIFY,
    }
)

KIND_CODES: Mapping[HazardKind, str] = MappingProxyType(
    {
        HazardKind.FIRE_LANE_BLOCKED: "FIRE",
        HazardKind.EBIKE_ENTRY: "EBIKE",
        HazardKind.FALLING_OBJECT: "FALL",
    }
)
LEVEL_LETTERS: Mapping[RiskLevel, str] = MappingProxyType(
    {RiskLevel.BLUE: "B", RiskLevel.YELLOW: "Y", RiskLevel.ORANGE: "O", RiskLevel.RED: "R"}
)
_LEVEL_ORDER: tuple[RiskLevel, ...] = tuple(RiskLevel)  # blue < yellow < orange < red
SERIAL_DIGITS = 4


def _freeze(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TicketPolicy:
    """Levels, response times and areas the store applies (from ``api.levels`` and cameras).

    Attributes:
        levels: the ``api.levels`` config section (its defaults when not configured).
        areas: camera id -> area slug for ticket codes.
        default_area: area of a camera not in ``areas`` (the site id).
    """

    levels: LevelsConfig = field(default_factory=LevelsConfig)
    areas: Mapping[str, str] = field(default_factory=lambda: _freeze(None))
    default_area: str = "site"
    hotspots: HotspotSettings = field(default_factory=HotspotSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "areas", _freeze(self.areas))
        if not self.default_area:
            raise ValueError("TicketPolicy.default_area must not be empty")

    @classmethod
    def from_config(cls, config: HazardwatchConfig) -> TicketPolicy:
        """The policy of a validated config: its ``api.levels`` and each camera's area."""
        levels = config.api.levels if config.api is not None else LevelsConfig()
        hotspots = config.api.hotspots if config.api is not None else HotspotSettings()
        areas = {camera_id: camera_area(config, camera_id) for camera_id in config.cameras}
        return cls(levels=levels, areas=areas, default_area=config.site.id, hotspots=hotspots)

    def area_of(self, camera_id: str) -> str:
        """The area slug of ``camera_id`` (the default area for an unknown camera)."""
        return self.areas.get(camera_id, self.default_area)

    def starting_level(self, kind: HazardKind) -> RiskLevel:
        """The level a new ticket of ``kind`` starts at."""
        return self.levels.default_level.level_of(kind)

    def window_s(self, step: Step, level: RiskLevel) -> float:
        """Seconds allowed for ``step`` at ``level``."""
        if step is Step.REPORT:
            return self.levels.report_within_s
        if step is Step.VERIFY:
            return self.levels.verify_within_s
        return self.levels.rectify_within_s.window_s(level)


# --- statuses and transitions ----------------------------------------------------------------


def roles_for(current: TicketStatus | str, target: TicketStatus | str) -> frozenset[TokenRole]:
    """The roles that may move a ticket from ``current`` to ``target`` (empty: nobody may)."""
    return TRANSITIONS[TicketStatus(current)].get(TicketStatus(target), frozenset())


def rectifiers(history: Iterable[tuple[str | None, str]]) -> frozenset[str]:
    """Who rectified the ticket in its current round: the actors of its moves to
    ``rectifying`` since it was last reopened.

    Args:
        history: ``(to_status, actor)`` of each history entry, oldest first (entries that are
            not moves have ``to_status`` equal to the status they stayed in, or None).
    """
    actors: set[str] = set()
    for to_status, actor in history:
        if to_status == TicketStatus.REOPENED:
            actors.clear()
        elif to_status == TicketStatus.RECTIFYING:
            actors.add(actor)
    return frozenset(actors)


def _barred(target: TicketStatus, actor: str | None, rectified_by: Collection[str]) -> bool:
    return target in RECTIFIER_BARRED and actor is not None and actor in rectified_by


def allowed_targets(
    status: TicketStatus | str,
    role: TokenRole | str | None = None,
    *,
    actor: str | None = None,
    rectified_by: Collection[str] = (),
) -> list[str]:
    """The statuses a ticket in ``status`` may move to, in workflow order.

    With ``role``, only those that role may make; with ``actor``, not the recheck or close of a
    ticket that actor rectified (``rectified_by``, from :func:`rectifiers`). Without either:
    everything the workflow allows.
    """
    who = None if role is None else TokenRole(role)
    return [
        target.value
        for target, roles in TRANSITIONS[TicketStatus(status)].items()
        if (who is None or who in roles) and not _barred(target, actor, rectified_by)
    ]


def parse_status(
    value: str,
    *,
    current: TicketStatus,
    role: TokenRole | str | None = None,
    actor: str | None = None,
    rectified_by: Collection[str] = (),
) -> TicketStatus:
    """``value`` as a status, or :class:`UnknownStatus` listing what the caller may move
    ``current`` to."""
    try:
        return TicketStatus(value)
    except ValueError:
        allowed = allowed_targets(current, role, actor=actor, rectified_by=rectified_by)
        raise UnknownStatus(current.value, str(value), allowed) from None


def _names(roles: Iterable[TokenRole]) -> str:
    return ", ".join(sorted(role.value for role in roles)) or "nobody"


def check_transition(
    current: TicketStatus | str,
    to: str,
    *,
    role: TokenRole | str | None = None,
    actor: str | None = None,
    rectified_by: Collection[str] = (),
) -> TicketStatus:
    """The target status when ``current → to`` is allowed, for this caller.

    Args:
        current: the ticket's status.
        to: the status asked for.
        role: the caller's role; None for a trusted internal caller (no role check).
        actor: the caller's name, checked against ``rectified_by`` (separation of duties).
        rectified_by: who rectified the ticket in its current round (:func:`rectifiers`).

    Raises:
        UnknownStatus: ``to`` is not a status.
        InvalidTransition: the workflow does not allow it; ``allowed`` lists what the caller
            may do instead.
        TransitionForbidden: the workflow allows it, but not for this role, or not for the
            actor who rectified the ticket.
    """
    current = TicketStatus(current)
    who = None if role is None else TokenRole(role)
    target = parse_status(to, current=current, role=who, actor=actor, rectified_by=rectified_by)
    if target not in TRANSITIONS[current]:
        allowed = allowed_targets(current, who, actor=actor, rectified_by=rectified_by)
        raise InvalidTransition(current.value, target.value, allowed)
    roles = TRANSITIONS[current][target]
    allowed_roles = sorted(r.value for r in roles)
    if who is not None and who not in roles:
        raise TransitionForbidden(
            current.value,
            target.value,
            f"the role {who.value} may not {_ACTS[target]} from '{current.value}'; "
            f"allowed roles: {_names(roles)}",
            role=who.value,
            allowed_roles=allowed_roles,
        )
    if _barred(target, actor, rectified_by):
        raise TransitionForbidden(
            current.value,
            target.value,
            f"'{actor}' rectified this ticket, so someone else must {_ACTS[target]}: whoever "
            "rectifies may not also recheck or close (separation of duties)",
            role=None if who is None else who.value,
            allowed_roles=allowed_roles,
        )
    return target


def is_open(status: TicketStatus | str) -> bool:
    """A ticket is open until it is closed or rejected."""
    return TicketStatus(status) not in (TicketStatus.CLOSED, TicketStatus.REJECTED)


def step_of(status: TicketStatus | str) -> Step | None:
    """The step whose deadline applies in ``status`` (None: no deadline)."""
    return _STEPS.get(TicketStatus(status))


def step_deadline(
    policy: TicketPolicy,
    *,
    to_status: TicketStatus,
    level: RiskLevel,
    now: datetime,
    from_status: TicketStatus | None = None,
    current_deadline: datetime | None = None,
) -> datetime | None:
    """The deadline after entering ``to_status`` at ``now``.

    A new step starts a new deadline; moving within a step (``verified → rectifying``) keeps
    the one it had, so starting work does not buy more time.
    """
    step = step_of(to_status)
    if step is None:
        return None
    if from_status is not None and step_of(from_status) is step and current_deadline is not None:
        return current_deadline
    return now + timedelta(seconds=policy.window_s(step, level))


# --- levels ----------------------------------------------------------------------------------


def level_rank(level: RiskLevel | str) -> int:
    """0 for blue up to 3 for red."""
    return _LEVEL_ORDER.index(RiskLevel(level))


def max_level(a: RiskLevel | str, b: RiskLevel | str) -> RiskLevel:
    """The higher of two levels."""
    return RiskLevel(a) if level_rank(a) >= level_rank(b) else RiskLevel(b)


def next_level(level: RiskLevel | str) -> RiskLevel:
    """One level up; red stays red."""
    return _LEVEL_ORDER[min(level_rank(level) + 1, len(_LEVEL_ORDER) - 1)]


def level_for_duration(
    policy: TicketPolicy, kind: HazardKind, duration_s: float
) -> RiskLevel | None:
    """The highest level a hazard of ``kind`` lasting ``duration_s`` has reached, or None."""
    reached: RiskLevel | None = None
    for raise_ in policy.levels.raise_after.raises_of(kind):
        if duration_s >= raise_.after_s:
            reached = raise_.level if reached is None else max_level(reached, raise_.level)
    return reached


@dataclass(frozen=True)
class Escalation:
    """What escalating an overdue ticket changes.

    Attributes:
        level_from: the level before.
        level_to: one level up (red stays red, the escalation count still grows).
        deadline_at: the new deadline of the same step at the new level.
        note: a sentence for the history.
    """

    level_from: RiskLevel
    level_to: RiskLevel
    deadline_at: datetime
    note: str


def escalation_for(
    policy: TicketPolicy,
    *,
    status: TicketStatus | str,
    level: RiskLevel | str,
    deadline_at: datetime | None,
    now: datetime,
) -> Escalation | None:
    """The escalation due for a ticket at ``now``, or None when its step is not overdue."""
    step = step_of(status)
    if step is None or deadline_at is None or now <= deadline_at:
        return None
    level = RiskLevel(level)
    new_level = next_level(level)
    new_deadline = now + timedelta(seconds=policy.window_s(step, new_level))
    late = _format_duration((now - deadline_at).total_seconds())
    if new_level is level:
        change = f"level stays {level} (highest)"
    else:
        change = f"level {level} → {new_level}"
    note = (
        f"{step} step overdue by {late} (deadline {_iso(deadline_at)}): {change}; "
        f"new deadline {_iso(new_deadline)}"
    )
    return Escalation(level, new_level, new_deadline, note)


def _format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- codes, recheck, masking -------------------------------------------------------------------


def format_code(area: str, kind: HazardKind | str, level: RiskLevel | str, serial: int) -> str:
    """``AREA-KIND-LEVEL-SERIAL``, e.g. ``block_a-FIRE-Y-0007`` (serial zero-padded to 4).

    Raises:
        ValueError: for an empty area or a serial below 1.
    """
    if not area:
        raise ValueError("format_code: area must not be empty")
    if serial < 1:
        raise ValueError(f"format_code: serial must be >= 1, got {serial}")
    kind_code = KIND_CODES[HazardKind(kind)]
    letter = LEVEL_LETTERS[RiskLevel(level)]
    return f"{area}-{kind_code}-{letter}-{serial:0{SERIAL_DIGITS}d}"


def format_hotspot_code(
    area: str, kind: HazardKind | str, level: RiskLevel | str, serial: int
) -> str:
    """A hotspot ticket's code: a hazard code whose serial starts with ``H`` (its own series),
    e.g. ``block_a-FIRE-Y-H0002``."""
    code = format_code(area, kind, level, serial)
    head, _, number = code.rpartition("-")
    return f"{head}-H{number}"


def recheck_due(
    policy: TicketPolicy,
    *,
    status: TicketStatus | str,
    zone_clear: bool,
    clear_for_s: float,
    at: datetime,
    hazard_started_at: datetime,
) -> bool:
    """Whether a zone status moves a ticket to ``rechecked``.

    The ticket must be ``rectifying``, the zone clear for at least ``recheck_clear_s``, and the
    clear period must have begun after the ticket's latest hazard started: a status observed
    before the hazard (read late from a backlog) says nothing about the fix.
    """
    if TicketStatus(status) is not TicketStatus.RECTIFYING or not zone_clear:
        return False
    if clear_for_s < policy.levels.recheck_clear_s:
        return False
    clear_since = at - timedelta(seconds=clear_for_s)
    return clear_since >= hazard_started_at


def mask_actor(actor: str | None) -> str | None:
    """An actor name as the public may see it (脱敏): ``system`` as is, people as ``o***``."""
    if actor is None or actor == SYSTEM_ACTOR:
        return actor
    return (actor[:1] or "*") + "***"
