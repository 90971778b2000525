"""``GET /stats/dashboard``: what the dashboard draws, as JSON, scoped to the caller.

The same record feeds the server-drawn page (:mod:`api.pages.dashboard`). Scope:

- a grid worker sees the tickets, heat points and health of their own cameras only;
- the public (residents) see counts of closed tickets only, and nothing about cameras (no
  health, no heat map over a camera's picture, no overdue list: they may not see cameras at all,
  as ``/cameras`` answers them 403);
- a camera's last error text (it may name hosts) is shown to staff only, as in ``/health``.

The window's tickets are read a page at a time, at most :data:`MAX_SCANNED` of them; beyond that
the record says ``truncated`` (the overall counts of ``/stats`` stay exact).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.context import AppContext, Caller, Ctx
from api.dashboard_stats import (
    MAX_DAYS,
    MAX_TZ_CHARS,
    Window,
    daily_counts,
    heat_points,
    overdue_tickets,
    parse_time_zone,
    time_zone_names,
    zone_centre,
)
from api.hotspots import CATEGORY_HAZARD, CATEGORY_HOTSPOT
from api.schemas import common_responses
from api.status import RedisState, merge_disabled
from api.store import TicketView
from api.workflow import TicketStatus, is_open, level_rank
from api.zone_overrides import read_zones

router = APIRouter(tags=["system"], responses=common_responses())

MAX_SCANNED = 20_000
_PAGE = 1000
LIVE_DIR = "live"  # as api.routes.cameras serves it
# Fields of a camera status record shown on the dashboard (numbers; the error text to staff).
_HEALTH_FIELDS = ("fps_in", "fps_out", "dropped", "reconnects", "decode_errors", "age_s")


def _all_pages(
    context: AppContext, caller: Principal, **filters: Any
) -> tuple[list[TicketView], bool]:
    """Every ticket matching ``filters`` the caller may see (at most MAX_SCANNED), deduplicated
    (a ticket made while paging shifts the pages), and whether some were left out."""
    seen: dict[str, TicketView] = {}
    offset = 0
    while True:
        page, total = context.store.list_tickets(
            cameras=caller.cameras, public=caller.is_public, limit=_PAGE, offset=offset, **filters
        )
        for ticket in page:
            seen.setdefault(ticket.id, ticket)
        offset += len(page)
        if not page or offset >= total:
            return list(seen.values()), False
        if offset >= MAX_SCANNED:
            return list(seen.values()), True


def _visible_cameras(context: AppContext, caller: Principal) -> list[str]:
    if caller.is_public:
        return []
    return [cid for cid in sorted(context.config.cameras) if caller.sees_camera(cid)]


def _zones_of(context: AppContext, camera_id: str) -> dict[str, Any]:
    return read_zones(context.config, context.data_dir, camera_id).zones


def _camera_health(
    context: AppContext, caller: Principal, camera_ids: list[str]
) -> tuple[list[dict[str, Any]], RedisState]:
    enabled = [cid for cid in camera_ids if context.config.cameras[cid].enabled]
    disabled = [cid for cid in camera_ids if cid not in enabled]
    records, redis_state = context.status.read(enabled)
    records = merge_disabled(records, disabled)
    out = []
    for camera_id in camera_ids:
        record = records.get(camera_id, {"state": "stale"})
        shown: dict[str, Any] = {
            "id": camera_id,
            "name": context.config.cameras[camera_id].name,
            "state": record.get("state", "stale"),
            "has_snapshot": (context.data_dir / LIVE_DIR / f"{camera_id}.jpg").is_file(),
        }
        for key in _HEALTH_FIELDS:
            shown[key] = record.get(key)
        shown["last_error"] = record.get("last_error") if caller.is_staff else None
        out.append(shown)
    return out, redis_state


def dashboard_data(
    context: AppContext,
    caller: Principal,
    *,
    days: int,
    tz_name: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The dashboard's record for ``caller`` (see the module docstring).

    Raises:
        InvalidQuery: ``days`` out of 1..366 or ``tz_name`` not an IANA time zone.
    """
    tz = parse_time_zone(tz_name)
    window = Window(now or datetime.now(UTC), days, tz)
    tickets, truncated = _all_pages(context, caller, since=window.since, category=CATEGORY_HAZARD)
    cameras = _visible_cameras(context, caller)
    zones = {cid: _zones_of(context, cid) for cid in cameras}
    centres = {
        cid: {
            name: centre
            for name, zone in camera_zones.items()
            if isinstance(zone, dict) and (centre := zone_centre(zone)) is not None
        }
        for cid, camera_zones in zones.items()
    }
    heat = heat_points(tickets, window, centres)
    for cid, record in heat.items():
        record["zones"] = {
            name: zone.get("polygon") or zone.get("line")
            for name, zone in zones[cid].items()
            if isinstance(zone, dict)
        }
    open_tickets: list[TicketView] = []
    if not caller.is_public:  # the public see closed tickets only: none is open
        for status in TicketStatus:
            if is_open(status):
                found, more = _all_pages(context, caller, status=status.value)
                open_tickets += found
                truncated = truncated or more
    health, redis_state = _camera_health(context, caller, cameras)
    spots = [t for t in open_tickets if t.category == CATEGORY_HOTSPOT]
    return {
        "generated_at": window.now.isoformat(),
        "tz": tz_name,
        "since": window.since.isoformat(),
        **daily_counts(tickets, window),
        "overdue": overdue_tickets(open_tickets, window.now),
        "hotspots": [_hotspot_json(t, centres) for t in sorted(spots, key=_hotspot_order)],
        "heat": heat,
        "cameras": health,
        "redis": {"state": redis_state.state} if cameras else None,
        "public": caller.is_public,
        "truncated": truncated,
    }


def _hotspot_order(ticket: TicketView) -> tuple[int, str, str]:
    return (-level_rank(ticket.level), ticket.created_at.isoformat(), ticket.id)


def _hotspot_json(
    ticket: TicketView, centres: dict[str, dict[str, tuple[float, float]]]
) -> dict[str, Any]:
    """An open hotspot (api.hotspots) as the dashboard lists it and marks it on its camera's
    picture (the centre of its zone, when the zone is known)."""
    centre = centres.get(ticket.camera_id, {}).get(ticket.zone)
    return {
        "id": ticket.id,
        "code": ticket.code,
        "kind": ticket.kind,
        "level": ticket.level,
        "status": ticket.status,
        "camera_id": ticket.camera_id,
        "zone": ticket.zone,
        "area": ticket.area,
        "created_at": ticket.created_at.isoformat(),
        "hazards": ticket.details.get("hazards"),
        "members": len(ticket.members),
        "centre": None if centre is None else list(centre),
    }


@router.get(
    "/stats/dashboard",
    summary="The dashboard's data: counts per day and hour, heat points, overdue, camera health",
)
def get_dashboard_stats(
    context: Ctx,
    caller: Caller,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description="How many local days, ending today.")
    ] = 14,
    tz: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_TZ_CHARS,
            description="IANA time zone of the days and hours (Asia/Shanghai).",
            json_schema_extra={"enum": sorted(time_zone_names())},
        ),
    ] = "UTC",
) -> dict[str, Any]:
    return dashboard_data(context, caller, days=days, tz_name=tz)
