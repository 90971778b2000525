"""Hotspots (隐患热点): repeated hazards of one kind at one place become an area-level alert with
a ticket of its own that links the hazard tickets it counts (../shared/DOMAIN.md: "blue = a
single hazard point, yellow = the same kind of hazard clustering in one area, red = a systemic
risk. Clusters of repeated hazards should raise an area-level alert").

The rule (settings: :class:`api.settings.hotspots.HotspotSettings`, ``api.hotspots``):

- A *place* is one camera's zone. Each time a new hazard of one kind arrives there, the store
  counts that place's hazards of that kind that started within ``window_days`` before it,
  leaving out those of rejected tickets (false alarms) and those before the place's last
  hotspot ended (a closed or rejected hotspot starts the count again: the office fixed or
  dismissed what it was about). A repeat attached to an open ticket counts as one hazard, as in
  the reports (:mod:`api.reports.figures`).
- ``min_hazards`` of them, and no open hotspot at the place: a hotspot ticket (category
  ``hotspot``, level yellow, its code ``AREA-KIND-LEVEL-H0001`` in a series of its own) is
  made, linked to the tickets of those hazards, assigned like a hazard ticket of the place
  (:mod:`api.dispatch`) and announced (notification type ``hotspot``).
- An open hotspot at the place links each later ticket of the place.
- When one kind has open hotspots at ``systemic_places`` places of one area, each of them is
  raised to red (``level_raised``, announced): a systemic risk of the area.

A hotspot ticket follows the same closed loop and deadlines as any ticket, except the automatic
recheck: a clear zone for some minutes proves nothing about a systemic cause, so a person
rechecks it. It has no clip of its own; its members have theirs.

This module holds the pure parts (keys, texts, level); :class:`api.store.TicketStore` applies
them in the transaction of the hazard that triggers them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from api.settings.hotspots import HotspotSettings
from api.settings.levels import RiskLevel

__all__ = [
    "CATEGORIES",
    "CATEGORY_HAZARD",
    "CATEGORY_HOTSPOT",
    "HOTSPOT_NOTIFICATION",
    "count_since",
    "created_note",
    "hotspot_key",
    "hotspot_serial_kind",
    "level_for_places",
    "systemic_note",
]

CATEGORY_HAZARD = "hazard"
CATEGORY_HOTSPOT = "hotspot"
CATEGORIES = (CATEGORY_HAZARD, CATEGORY_HOTSPOT)
HOTSPOT_NOTIFICATION = "hotspot"


def hotspot_key(camera_id: str, zone: str, kind: str) -> str:
    """The open key of a place's open hotspot (unique among open tickets, like a hazard's)."""
    return f"hotspot:{camera_id}/{zone}/{kind}"


def hotspot_serial_kind(kind: str) -> str:
    """The serial counter of a kind's hotspots (a series apart from its hazard tickets)."""
    return f"hotspot:{kind}"


def count_since(
    settings: HotspotSettings, newest_started_at: datetime, last_hotspot_ended_at: datetime | None
) -> datetime:
    """Hazards of the place that started at or after this count towards a hotspot."""
    since = newest_started_at - timedelta(days=settings.window_days)
    if last_hotspot_ended_at is not None and last_hotspot_ended_at > since:
        return last_hotspot_ended_at
    return since


def level_for_places(settings: HotspotSettings, places: int) -> RiskLevel:
    """Yellow for a cluster at one place; red once the kind is a hotspot at enough places."""
    return RiskLevel.RED if places >= settings.systemic_places else RiskLevel.YELLOW


def created_note(
    kind: str, camera_id: str, zone: str, hazards: int, settings: HotspotSettings,
    member_codes: Sequence[str],
) -> str:  # fmt: skip
    codes = ", ".join(member_codes[:20]) + (" …" if len(member_codes) > 20 else "")
    return (
        f"hotspot: {hazards} {kind} hazards at {camera_id}/{zone} within "
        f"{settings.window_days:g} days (at least {settings.min_hazards} make one); tickets {codes}"
    )


def systemic_note(
    kind: str, area: str, places: Collection[tuple[str, str]], old: str | None
) -> str:
    """Why a hotspot is red; ``old`` is the level it had (None for a new hotspot)."""
    where = ", ".join(f"{camera}/{zone}" for camera, zone in sorted(places))
    note = f"systemic risk: {kind} is a hotspot at {len(places)} places of area {area} ({where})"
    return note if old is None else f"{note}: level {old} → red"
