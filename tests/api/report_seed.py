"""A ticket database for the report tests: real hazard events through the store, real moves.

Two weeks of November 2026 (Asia/Shanghai): week 47 (Nov 16-22) and week 48 (Nov 23-29),
three cameras in two areas (``lane`` and ``yard`` in area A, ``lift`` in area B), all three
kinds, repeats attached to open tickets, tickets closed, rejected and left open (overdue at
:data:`AS_OF`), and one escalation round. :data:`SPECS` is what the tests count from, on their
own, to check the report's numbers; the expected hotspots are written out by hand below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from api.store import TicketStore
from api.workflow import TicketPolicy
from tests.api.hazard_events import event

TZ = ZoneInfo("Asia/Shanghai")
AREAS = {"lane": "A", "yard": "A", "lift": "B"}
ESCALATE_AT = datetime(2026, 11, 30, 12, 0, tzinfo=TZ)
AS_OF = datetime(2026, 12, 31, 12, 0, tzinfo=TZ)  # every ticket left open is overdue by then

# status -> the moves that get a new ticket there (actor w1 does the field's part, r1 the office's)
PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "discovered": (),
    "reported": (("reported", "w1"),),
    "verified": (("reported", "w1"), ("verified", "w1")),
    "rectifying": (("reported", "w1"), ("verified", "w1"), ("rectifying", "w1")),
    "closed": (
        ("reported", "w1"),
        ("verified", "w1"),
        ("rectifying", "w1"),
        ("rechecked", "r1"),
        ("closed", "r1"),
    ),
    "rejected": (("rejected", "r1"),),
}
OPEN = frozenset({"discovered", "reported", "verified", "rectifying"})


@dataclass(frozen=True)
class Spec:
    """One ticket: where, what, when (local), how many hazards, and its final status."""

    name: str
    camera: str
    zone: str
    kind: str
    created_local: datetime
    hazards: int
    status: str
    box_norm: tuple[float, float, float, float]

    @property
    def area(self) -> str:
        return AREAS[self.camera]


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


FIRE, EBIKE, FALL = "fire_lane_blocked", "ebike_entry", "falling_object"
SPECS: tuple[Spec, ...] = (
    # week 47 (Mon Nov 16 .. Sun Nov 22)
    Spec("A1", "lane", "lane", FIRE, _at(16, 10), 3, "closed", (0.1, 0.5, 0.3, 0.9)),
    Spec("A2", "lane", "exit", FIRE, _at(17, 9), 1, "rejected", (0.6, 0.1, 0.8, 0.3)),
    Spec("A3", "lift", "car", EBIKE, _at(17, 14), 2, "closed", (0.4, 0.4, 0.6, 0.8)),
    Spec("A4", "lift", "car", EBIKE, _at(19, 8), 1, "discovered", (0.45, 0.4, 0.65, 0.8)),
    Spec("A5", "yard", "roof", FALL, _at(20, 16), 1, "verified", (0.5, 0.05, 0.55, 0.1)),
    Spec("A6", "yard", "lawn", FIRE, _at(21, 11), 3, "closed", (0.2, 0.6, 0.4, 0.8)),
    # Sunday 23:30 local is still week 47 (15:30 UTC)
    Spec("A7", "lane", "lane", FIRE, _at(22, 23, 30), 1, "closed", (0.15, 0.55, 0.35, 0.95)),
    # week 48 (Mon Nov 23 .. Sun Nov 29); 07:00 local Monday is Sunday 23:00 UTC
    Spec("B1", "lane", "lane", FIRE, _at(23, 7), 1, "closed", (0.1, 0.5, 0.3, 0.9)),
    Spec("B2", "lift", "hall", EBIKE, _at(25, 18), 3, "rectifying", (0.7, 0.6, 0.9, 0.9)),
    Spec("B3", "yard", "balcony", FALL, _at(26, 20), 1, "rejected", (0.3, 0.1, 0.35, 0.2)),
    Spec("B4", "lane", "exit", FIRE, _at(27, 12), 2, "reported", (0.6, 0.1, 0.8, 0.3)),
)

# Written out by hand from SPECS (rejected tickets left out; at least 3 hazards of one kind at
# one camera and zone; red when the same kind is a hotspot at 2+ places of one area):
# (camera, zone, kind) -> (hazards, level)
HOTSPOTS = {
    "week-2026-W47": {
        ("lane", "lane", FIRE): (4, "red"),  # A1 (3) + A7 (1); yard/lawn is the 2nd place in A
        ("yard", "lawn", FIRE): (3, "red"),  # A6
        ("lift", "car", EBIKE): (3, "yellow"),  # A3 (2) + A4 (1)
    },
    "week-2026-W48": {
        ("lift", "hall", EBIKE): (3, "yellow"),  # B2
    },
    "month-2026-11": {
        ("lane", "lane", FIRE): (5, "red"),
        ("yard", "lawn", FIRE): (3, "red"),
        ("lift", "car", EBIKE): (3, "red"),  # lift/hall is the 2nd ebike place of area B
        ("lift", "hall", EBIKE): (3, "red"),
    },
}


def policy() -> TicketPolicy:
    return TicketPolicy(areas=AREAS, default_area="A")


def seed(data_dir: Path) -> tuple[TicketStore, dict[str, str]]:
    """The seeded store (SQLite in ``data_dir``) and ``spec name -> ticket id``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    store = TicketStore(f"sqlite:///{data_dir / 'tickets.sqlite3'}", policy=policy())
    ids: dict[str, str] = {}
    for spec in SPECS:
        when = spec.created_local
        first = None
        for n in range(spec.hazards):
            at = when + timedelta(minutes=10 * n)
            view = store.apply_event(
                event(
                    "start",
                    kind=spec.kind,
                    camera_id=spec.camera,
                    zone=spec.zone,
                    started_at=at,
                    details={"box_norm": list(spec.box_norm)},
                ),
                received_at=at,
            )
            assert view is not None
            first = first or view.id
            assert view.id == first, f"{spec.name}: hazard {n} made a new ticket"
        assert first is not None
        ids[spec.name] = first
        for step, (to, actor) in enumerate(PATHS[spec.status], start=1):
            store.transition(first, to, actor=actor, now=when + timedelta(minutes=30 + step))
    store.escalate_overdue(ESCALATE_AT)
    return store, ids


def specs_in(first_local: datetime, end_local: datetime, area: str | None = None) -> list[Spec]:
    return [
        s
        for s in SPECS
        if first_local <= s.created_local < end_local and (area is None or s.area == area)
    ]
