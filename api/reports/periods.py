"""The period a report covers: an ISO week or a calendar month in the site's time zone.

A week runs from Monday 00:00 to the next Monday 00:00 local time, a month from the 1st 00:00 to
the next 1st; ``end`` is exclusive. Local, not UTC: an office in Shanghai reads "last week" as its
own Monday to Sunday, and a ticket made at 07:00 on a Monday (23:00 Sunday UTC) belongs to the
new week.

Periods have stable names (``week-2026-W48``, ``month-2026-11``) that the scheduled run uses as
file names, and so to know which periods it has written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.settings.reports import ReportPeriod


@dataclass(frozen=True, slots=True)
class Period:
    """One reported period: ``[start, end)`` in ``tz``, its first and last local day."""

    kind: ReportPeriod
    first_day: date
    last_day: date
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), tzinfo=self.tz)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def name(self) -> str:
        """``week-2026-W48`` or ``month-2026-11``: stable, sortable, safe as a file name."""
        if self.kind is ReportPeriod.WEEK:
            year, week, _ = self.first_day.isocalendar()
            return f"week-{year}-W{week:02d}"
        return f"month-{self.first_day:%Y-%m}"

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end


def period_containing(kind: ReportPeriod | str, day: date, tz: ZoneInfo) -> Period:
    """The week (Monday..Sunday) or month that holds local day ``day``.

    Raises:
        ValueError: ``kind`` is neither ``week`` nor ``month``.
    """
    period = ReportPeriod(kind)
    if period is ReportPeriod.WEEK:
        first = day - timedelta(days=day.weekday())
        return Period(period, first, first + timedelta(days=6), tz)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(period, first, following - timedelta(days=1), tz)


def last_complete(kind: ReportPeriod | str, now: datetime, tz: ZoneInfo) -> Period:
    """The latest week or month that ended at or before ``now`` (aware).

    Raises:
        ValueError: ``now`` is naive, or ``kind`` unknown.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    current = period_containing(kind, now.astimezone(tz).date(), tz)
    return period_containing(kind, current.first_day - timedelta(days=1), tz)
