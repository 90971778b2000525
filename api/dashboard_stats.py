"""What the dashboard shows, from tickets: counts per day, hour of day, heat points, overdue.

Pure functions over :class:`api.store.TicketView` (no database, no clock): the route
(:mod:`api.routes.stats`) fetches the tickets the caller may see and passes them in, and the unit
tests count the same tickets their own way.

Days and hours are local to the time zone the caller asks for (a grid worker reads "this
morning" in the site's time, not in UTC). A ticket counts on the day it was *created* (when the
ticket service first heard of it) and in the hour its hazard *started* (when it happened).

Where a hazard was in the picture, in this order: the origin of a falling object's
``details.trajectory_norm`` (its highest point, where it was thrown from: the box of a fall spans
its whole path); the centre of the event's box (the store keeps it as ``details.box_norm``);
else, for tickets of earlier releases without one, the centre of the ticket's zone (its
polygon's vertex mean, or its line's midpoint). Each point says which (``source``), so the page
can tell an exact spot from a zone-level one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from api.errors import InvalidQuery
from api.settings.levels import RiskLevel
from api.store import TicketView
from api.workflow import TicketStatus
from vision.types import HazardKind

MAX_DAYS = 366
MAX_TZ_CHARS = 64
MAX_POINTS_PER_CAMERA = 2000  # heat points kept per camera (the newest)
MAX_OVERDUE_SHOWN = 100

KINDS = tuple(kind.value for kind in HazardKind)
STATUSES = tuple(status.value for status in TicketStatus)
LEVELS = tuple(level.value for level in RiskLevel)
GROUPS: dict[str, tuple[str, ...]] = {"kind": KINDS, "status": STATUSES, "level": LEVELS}


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA names this system knows (its tz database), e.g. ``Asia/Shanghai``, ``UTC``."""
    return frozenset(available_timezones())


def parse_time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Asia/Shanghai``, ``UTC``).

    Only names of :func:`time_zone_names`: ``ZoneInfo`` alone would also open other files of
    the tz database folder (``posixrules``, ``right/...``) that are no zone a person picks.

    Raises:
        InvalidQuery: not a known IANA name (the message names what was given).
    """
    shown = name[:MAX_TZ_CHARS]
    if name not in time_zone_names():
        raise InvalidQuery(
            f"tz: unknown time zone {shown!r}; use an IANA name such as Asia/Shanghai or UTC"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidQuery(f"tz: time zone {shown!r} cannot be loaded on this server") from None


@dataclass(frozen=True, slots=True)
class Window:
    """The days shown: ``days`` local days ending with the day of ``now`` in ``tz``."""

    now: datetime
    days: int
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError(f"Window.now must be timezone-aware, got {self.now.isoformat()}")
        if isinstance(self.days, bool) or not 1 <= self.days <= MAX_DAYS:
            raise InvalidQuery(f"days must be 1 to {MAX_DAYS}, got {self.days}")

    @property
    def first_day(self) -> date:
        return self.now.astimezone(self.tz).date() - timedelta(days=self.days - 1)

    @property
    def since(self) -> datetime:
        """The first instant of the first day (aware, in ``tz``)."""
        first = self.first_day
        return datetime(first.year, first.month, first.day, tzinfo=self.tz)

    def day_labels(self) -> list[str]:
        first = self.first_day
        return [(first + timedelta(days=i)).isoformat() for i in range(self.days)]

    def day_index(self, when: datetime) -> int | None:
        """Index of the local day of ``when`` in the window, or None outside it."""
        index = (when.astimezone(self.tz).date() - self.first_day).days
        return index if 0 <= index < self.days else None


def _valid_norm(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def zone_centre(zone: Mapping[str, Any]) -> tuple[float, float] | None:
    """Centre of a zone as the config holds it (``polygon`` or ``line``), normalised; None if
    the zone has neither (or malformed points)."""
    points = zone.get("polygon") or zone.get("line")
    if not isinstance(points, Sequence) or not points:
        return None
    xs: list[float] = []
    ys: list[float] = []
    for point in points:
        if not isinstance(point, Sequence) or len(point) < 2:
            return None
        x, y = _valid_norm(point[0]), _valid_norm(point[1])
        if x is None or y is None:
            return None
        xs.append(x)
        ys.append(y)
    return sum(xs) / len(xs), sum(ys) / len(ys)


def ticket_location(
    ticket: TicketView, zone_centres: Mapping[str, tuple[float, float]]
) -> tuple[float, float, str] | None:
    """``(x, y, source)`` of a ticket in its camera's picture (see the module docstring), or
    None when nothing places it (no box, no trajectory, an unknown zone)."""
    trajectory = ticket.details.get("trajectory_norm")
    if isinstance(trajectory, Sequence) and trajectory:
        points = []
        for point in trajectory:
            if isinstance(point, Sequence) and len(point) >= 2:
                x, y = _valid_norm(point[0]), _valid_norm(point[1])
                if x is not None and y is not None:
                    points.append((x, y))
        if points:
            x, y = min(points, key=lambda p: p[1])  # the highest point: where it came from
            return x, y, "trajectory"
    box = ticket.details.get("box_norm")
    if isinstance(box, Sequence) and len(box) == 4:
        values = [_valid_norm(v) for v in box]
        if all(v is not None for v in values):
            x1, y1, x2, y2 = (float(v) for v in values if v is not None)
            return (x1 + x2) / 2, (y1 + y2) / 2, "box"
    centre = zone_centres.get(ticket.zone)
    if centre is not None:
        return centre[0], centre[1], "zone"
    return None


def _zeros(groups: Mapping[str, tuple[str, ...]], days: int) -> dict[str, dict[str, list[int]]]:
    return {name: {key: [0] * days for key in keys} for name, keys in groups.items()}


def daily_counts(tickets: Iterable[TicketView], window: Window) -> dict[str, Any]:
    """Tickets per local day of creation by kind, status and level, and per local hour of the
    hazard's start.

    Returns:
        ``{"days": [ISO dates], "series": {"kind"|"status"|"level": {key: [count per day]}},
        "totals": {group: {key: count}}, "hours": [24 counts], "count": n}``; tickets outside
        the window are left out; every known key is present, zeros included (an unknown key a
        newer store wrote is added as it comes).
    """
    series = _zeros(GROUPS, window.days)
    hours = [0] * 24
    count = 0
    for ticket in tickets:
        index = window.day_index(ticket.created_at)
        if index is None:
            continue
        count += 1
        for name, key in (
            ("kind", ticket.kind),
            ("status", ticket.status),
            ("level", ticket.level),
        ):
            series[name].setdefault(key, [0] * window.days)[index] += 1
        hours[ticket.started_at.astimezone(window.tz).hour] += 1
    totals = {name: {key: sum(v) for key, v in by_key.items()} for name, by_key in series.items()}
    return {
        "days": window.day_labels(),
        "series": series,
        "totals": totals,
        "hours": hours,
        "count": count,
    }


def heat_points(
    tickets: Iterable[TicketView],
    window: Window,
    zone_centres: Mapping[str, Mapping[str, tuple[float, float]]],
) -> dict[str, dict[str, Any]]:
    """Per camera of ``zone_centres`` (the cameras shown): where its tickets of the window were.

    Returns:
        ``{camera_id: {"points": [{"ticket", "code", "kind", "level", "x", "y", "source"}],
        "unplaced": n, "dropped": n}}``; the newest :data:`MAX_POINTS_PER_CAMERA` points
        are kept (``dropped`` counts the rest); ``unplaced`` counts tickets nothing placed.
    """
    out: dict[str, dict[str, Any]] = {
        camera_id: {"points": [], "unplaced": 0, "dropped": 0} for camera_id in zone_centres
    }
    newest_first = sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)
    for ticket in newest_first:
        camera = out.get(ticket.camera_id)
        if camera is None or window.day_index(ticket.created_at) is None:
            continue
        where = ticket_location(ticket, zone_centres[ticket.camera_id])
        if where is None:
            camera["unplaced"] += 1
            continue
        if len(camera["points"]) >= MAX_POINTS_PER_CAMERA:
            camera["dropped"] += 1
            continue
        x, y, source = where
        camera["points"].append(
            {
                "ticket": ticket.id,
                "code": ticket.code,
                "kind": ticket.kind,
                "level": ticket.level,
                "x": round(x, 4),
                "y": round(y, 4),
                "source": source,
            }
        )
    return out


def overdue_tickets(tickets: Iterable[TicketView], now: datetime) -> dict[str, Any]:
    """Open tickets past their step's deadline at ``now``, most overdue first.

    Returns:
        ``{"total": n, "items": [{"id", "code", "kind", "level", "status", "camera_id",
        "zone", "deadline_at", "overdue_s"}]}`` (at most :data:`MAX_OVERDUE_SHOWN` items).
    """
    late = [t for t in tickets if t.is_open and t.deadline_at is not None and t.deadline_at < now]
    late.sort(key=lambda t: (t.deadline_at, t.id))
    items = [
        {
            "id": t.id,
            "code": t.code,
            "kind": t.kind,
            "level": t.level,
            "status": t.status,
            "camera_id": t.camera_id,
            "zone": t.zone,
            "deadline_at": t.deadline_at.isoformat() if t.deadline_at else None,
            "overdue_s": round((now - t.deadline_at).total_seconds()) if t.deadline_at else 0,
        }
        for t in late[:MAX_OVERDUE_SHOWN]
    ]
    return {"total": len(late), "items": items}
