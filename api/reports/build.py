"""Making a report: tickets from the store, figures, the document, the file.

Shared by ``hazardwatch report`` (:mod:`api.reports.cli`) and the scheduled run
(:mod:`api.reports.schedule`). Tickets are read through the store's own read method
(:meth:`api.store.TicketStore.list_tickets`, page by page since the period's start), never by
SQL of our own, so a report sees tickets exactly as the API does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.dashboard_stats import zone_centre
from api.reports.figures import compute_figures, select_hotspot_tickets, select_tickets
from api.reports.pdf import ReportError, html_to_pdf
from api.reports.periods import Period
from api.reports.render import render_html
from api.reports.words import STRINGS
from api.settings.hotspots import DEFAULT_MIN_HAZARDS, DEFAULT_SYSTEMIC_PLACES, HotspotSettings
from api.settings.reports import ReportFormat, ReportSettings

if TYPE_CHECKING:
    from api.store import TicketStore, TicketView

_PAGE = 1000  # tickets per store call (the store's own maximum)
REPORT_FILE_MODE = 0o644  # a report is for people to read (mkstemp's own mode is 0600)

# Zones as the config holds them: camera -> zone name -> {"polygon": [...]} or {"line": [...]}.
CameraZones = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What to report: a period, an area (None: all), a language, and the hotspot rule (the
    hazards of one kind at one place that make a hotspot, the places that make it systemic)."""

    period: Period
    lang: str
    area: str | None = None
    hotspot_min_hazards: int = DEFAULT_MIN_HAZARDS
    systemic_places: int = DEFAULT_SYSTEMIC_PLACES

    @classmethod
    def with_settings(
        cls,
        period: Period,
        lang: str,
        area: str | None,
        reports: ReportSettings,
        hotspots: HotspotSettings,
    ) -> ReportRequest:
        """A request with the config's hotspot rule: ``api.hotspots`` (the rule that raises
        hotspot tickets), unless ``api.reports.hotspot_min_hazards`` sets the reports' own."""
        minimum = reports.hotspot_min_hazards
        return cls(
            period,
            lang,
            area,
            minimum if minimum is not None else hotspots.min_hazards,
            hotspots.systemic_places,
        )

    def __post_init__(self) -> None:
        if self.lang not in STRINGS:
            raise ReportError(f"language {self.lang!r} is not one of {sorted(STRINGS)}")


def fetch_tickets(store: TicketStore, period: Period) -> list[TicketView]:
    """Every ticket created since the period's start (newest first, page by page; a ticket
    created while paging may shift a page, so tickets are kept once by id)."""
    seen: dict[str, TicketView] = {}
    offset = 0
    while True:
        page, total = store.list_tickets(since=period.start, limit=_PAGE, offset=offset)
        for ticket in page:
            seen.setdefault(ticket.id, ticket)
        offset += len(page)
        if not page or offset >= total:
            return list(seen.values())


def output_format(path: Path) -> ReportFormat:
    """HTML or PDF, from the file name's suffix.

    Raises:
        ReportError: the suffix is neither ``.html`` nor ``.pdf``.
    """
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return ReportFormat.HTML
    if suffix == ".pdf":
        return ReportFormat.PDF
    raise ReportError(f"--out {path}: the file name must end in .html or .pdf")


def make_report(
    store: TicketStore,
    request: ReportRequest,
    *,
    as_of: datetime,
    data_dir: Path | None = None,
    zones: CameraZones | None = None,
) -> tuple[str, dict[str, Any]]:
    """The report's HTML document and its figures (as embedded in the document)."""
    camera_zones = zones or {}
    centres = {
        camera_id: {
            name: centre
            for name, zone in by_name.items()
            if isinstance(zone, Mapping) and (centre := zone_centre(zone)) is not None
        }
        for camera_id, by_name in camera_zones.items()
    }
    fetched = fetch_tickets(store, request.period)
    tickets = select_tickets(fetched, request.period, request.area)
    figures = compute_figures(
        tickets,
        request.period,
        area=request.area,
        as_of=as_of,
        hotspot_min_hazards=request.hotspot_min_hazards,
        systemic_places=request.systemic_places,
        zone_centres=centres,
        hotspot_tickets=select_hotspot_tickets(fetched, request.period, request.area),
    )
    outlines = {
        camera_id: {
            name: zone.get("polygon") or zone.get("line")
            for name, zone in by_name.items()
            if isinstance(zone, Mapping) and (zone.get("polygon") or zone.get("line"))
        }
        for camera_id, by_name in camera_zones.items()
    }
    html = render_html(
        figures,
        lang=request.lang,
        tz=request.period.tz,
        generated_at=as_of,
        data_dir=data_dir,
        zones=outlines,
    )
    return html, figures


def report_bytes(html: str, fmt: ReportFormat) -> bytes:
    """The file's bytes in ``fmt`` (a PDF needs WeasyPrint: :func:`api.reports.pdf.html_to_pdf`)."""
    return html.encode("utf-8") if fmt is ReportFormat.HTML else html_to_pdf(html)


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` under a temporary name, fsync, rename: a reader (or the
    scheduled run after a crash) never sees half a report under the final name.

    Raises:
        ReportError: the folder cannot be made or the file written (the message names it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), REPORT_FILE_MODE)
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ReportError(f"cannot write the report {path}: {exc.strerror or exc}") from None
