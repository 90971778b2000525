"""A report's numbers, from tickets: pure functions (no database, no clock, no markup).

What is counted, and why (the office's own measures, ../shared/DOMAIN.md "Reporting"):

- **Which tickets**: those *created* in the period (when the ticket service first heard of the
  hazard), in the area if one is asked for, the same rule the dashboard counts days by. Their
  status, level and deadline are those at ``as_of`` (when the report is made): a weekly report
  says what became of last week's hazards so far.
- **Counts** by kind, level (the level now, after any escalation), status and camera.
- **Rectification rate (整改率)** = closed / (all − rejected): a cancelled false report (注销)
  needed no rectification; everything else did, and only ``closed`` (passed recheck, 销号) counts
  as done. The same rule as ``GET /stats`` (:meth:`api.store.TicketStore.stats`).
- **Repeat rate (重复率)** = tickets with more than one hazard / (all − rejected): a hazard that
  came back while its ticket was open was attached to it (ARCHITECTURE.md §6).
- **Overdue (超期)**: tickets of the period still open at ``as_of`` and past their step's
  deadline, most overdue first; ``escalated`` counts those escalated at least once (超时升级).
- **Hotspots (隐患热点)**: repeated hazards of one kind at one place. The hazards of the period's
  tickets (rejected ones left out) are grouped by camera, zone and kind; a group with at least
  ``hotspot_min_hazards`` hazards is a *yellow* hotspot (the same hazard clustering in one place);
  when one kind is a hotspot at ``systemic_places`` or more places of the same area (both from
  ``api.hotspots``, the rule of hotspot tickets, by default), each of them is *red* (a
  systemic risk of the area, not one bad spot). Hazards are counted per ticket (``hazard_ids``),
  so a repeat attached to an open ticket counts as much as one that made its own ticket.
  A place whose repeats raised a hotspot ticket (:mod:`api.hotspots`) carries that ticket's code
  (``ticket``): the newest one of the place created before the period's end. Hotspot tickets
  themselves are not hazards: every other count is of hazard tickets only.
- **Trend**: tickets per local day of creation, by kind and by level.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from api.dashboard_stats import KINDS, LEVELS, STATUSES, Window, daily_counts, heat_points
from api.hotspots import CATEGORY_HAZARD, CATEGORY_HOTSPOT
from api.reports.periods import Period
from api.settings.hotspots import DEFAULT_MIN_HAZARDS, DEFAULT_SYSTEMIC_PLACES
from api.store import TicketView
from api.workflow import TicketStatus, level_rank

MAX_OVERDUE_LISTED = 200


def select_tickets(
    tickets: Iterable[TicketView], period: Period, area: str | None
) -> list[TicketView]:
    """The hazard tickets a report of ``period`` (and ``area``) covers, oldest first."""
    chosen = [
        t
        for t in tickets
        if t.category == CATEGORY_HAZARD
        and period.contains(t.created_at)
        and (area is None or t.area == area)
    ]
    chosen.sort(key=lambda t: (t.created_at, t.id))
    return chosen


def select_hotspot_tickets(
    tickets: Iterable[TicketView], period: Period, area: str | None
) -> list[TicketView]:
    """The hotspot tickets (api.hotspots) made before the period's end, in the area."""
    return [
        t
        for t in tickets
        if t.category == CATEGORY_HOTSPOT
        and t.created_at < period.end
        and (area is None or t.area == area)
    ]


def _counts(keys: Sequence[str], values: Iterable[str]) -> dict[str, int]:
    """Every known key (zeros included), then any other key met, in the order met."""
    out = dict.fromkeys(keys, 0)
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def overdue_items(tickets: Sequence[TicketView], as_of: datetime) -> list[dict[str, Any]]:
    """Open tickets past their deadline at ``as_of``, most overdue first."""
    late = [t for t in tickets if t.is_open and t.deadline_at is not None and t.deadline_at < as_of]
    late.sort(key=lambda t: (t.deadline_at, t.id))
    return [
        {
            "id": t.id,
            "code": t.code,
            "kind": t.kind,
            "level": t.level,
            "status": t.status,
            "camera_id": t.camera_id,
            "zone": t.zone,
            "created_at": t.created_at.isoformat(),
            "deadline_at": t.deadline_at.isoformat() if t.deadline_at else None,
            "overdue_h": round((as_of - t.deadline_at).total_seconds() / 3600, 1)
            if t.deadline_at
            else 0.0,
            "escalations": t.escalations,
        }
        for t in late
    ]


def hotspots(
    tickets: Sequence[TicketView],
    min_hazards: int,
    hotspot_tickets: Sequence[TicketView] = (),
    systemic_places: int = DEFAULT_SYSTEMIC_PLACES,
) -> list[dict[str, Any]]:
    """Places (camera, zone) where one kind repeated at least ``min_hazards`` times (see the
    module docstring for yellow and red), most hazards first; ``hotspot_tickets`` name each
    place's hotspot ticket."""
    raised: dict[tuple[str, str, str], TicketView] = {}
    for hot in sorted(hotspot_tickets, key=lambda t: (t.created_at, t.id)):
        raised[(hot.camera_id, hot.zone, hot.kind)] = hot
    groups: dict[tuple[str, str, str], list[TicketView]] = defaultdict(list)
    for ticket in tickets:
        if ticket.status != TicketStatus.REJECTED.value:
            groups[(ticket.camera_id, ticket.zone, ticket.kind)].append(ticket)
    found: list[dict[str, Any]] = []
    for (camera_id, zone, kind), members in groups.items():
        hazards = sum(max(len(t.hazard_ids), 1) for t in members)
        if hazards >= min_hazards:
            found.append(
                {
                    "camera_id": camera_id,
                    "zone": zone,
                    "kind": kind,
                    "area": members[0].area,
                    "hazards": hazards,
                    "tickets": [t.code for t in members],
                    "level": "yellow",
                    "ticket": (
                        raised[(camera_id, zone, kind)].code
                        if (camera_id, zone, kind) in raised
                        else None
                    ),
                }
            )
    places = Counter((spot["area"], spot["kind"]) for spot in found)
    for spot in found:
        if places[(spot["area"], spot["kind"])] >= systemic_places:
            spot["level"] = "red"
    found.sort(key=lambda s: (-level_rank(s["level"]), -s["hazards"], s["camera_id"], s["zone"]))
    return found


def compute_figures(
    tickets: Sequence[TicketView],
    period: Period,
    *,
    area: str | None,
    as_of: datetime,
    hotspot_min_hazards: int = DEFAULT_MIN_HAZARDS,
    systemic_places: int = DEFAULT_SYSTEMIC_PLACES,
    zone_centres: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
    hotspot_tickets: Sequence[TicketView] = (),
) -> dict[str, Any]:
    """Every number of the report (JSON-ready): ``tickets`` are those of
    :func:`select_tickets`; ``zone_centres`` (camera -> zone -> centre) places tickets without
    a box in the heat maps; ``hotspot_tickets`` are hotspot tickets made before the period's
    end (:func:`select_hotspot_tickets`).

    Raises:
        ValueError: ``as_of`` is naive.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
    total = len(tickets)
    by_status = _counts(STATUSES, (t.status for t in tickets))
    rejected = by_status.get(TicketStatus.REJECTED.value, 0)
    needing = total - rejected
    closed = by_status.get(TicketStatus.CLOSED.value, 0)
    repeats = sum(
        1 for t in tickets if len(t.hazard_ids) > 1 and t.status != TicketStatus.REJECTED.value
    )
    overdue = overdue_items(tickets, as_of)
    window = Window(period.end - timedelta(microseconds=1), period.days, period.tz)
    daily = daily_counts(tickets, window)
    cameras = sorted(Counter(t.camera_id for t in tickets).items(), key=lambda kv: (-kv[1], kv[0]))
    centres = dict(zone_centres or {})
    for camera_id, _ in cameras:
        centres.setdefault(camera_id, {})
    return {
        "period": {
            "kind": period.kind.value,
            "name": period.name,
            "first_day": period.first_day.isoformat(),
            "last_day": period.last_day.isoformat(),
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "time_zone": period.tz.key,
        },
        "area": area,
        "as_of": as_of.isoformat(),
        "total": total,
        "by_kind": _counts(KINDS, (t.kind for t in tickets)),
        "by_level": _counts(LEVELS, (t.level for t in tickets)),
        "by_status": by_status,
        "by_camera": dict(cameras),
        "rejected": rejected,
        "needing_rectification": needing,
        "closed": closed,
        "rectification_rate": _rate(closed, needing),
        "repeat_tickets": repeats,
        "repeat_rate": _rate(repeats, needing),
        "overdue_total": len(overdue),
        "overdue": overdue[:MAX_OVERDUE_LISTED],
        "escalated": sum(1 for t in tickets if t.escalations > 0),
        "hotspots": hotspots(tickets, hotspot_min_hazards, hotspot_tickets, systemic_places),
        "hotspot_min_hazards": hotspot_min_hazards,
        "hotspot_systemic_places": systemic_places,
        "daily": {
            "days": daily["days"],
            "by_kind": daily["series"]["kind"],
            "by_level": daily["series"]["level"],
        },
        "heat": heat_points(tickets, window, centres),
    }
