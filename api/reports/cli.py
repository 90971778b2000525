"""``hazardwatch report``: the weekly or monthly report of a period, as HTML or PDF.

    hazardwatch report --period week --out week.html                  # last complete week
    hazardwatch report --period month --at 2026-11-15 --lang en --out nov.pdf
    hazardwatch report --period week --area A区 --config site.yaml --out a.pdf

The ticket database is found as ``serve`` finds it (``--data-dir``, ``--database-url`` or
``HAZARDWATCH_DATABASE_URL``) and is only read; a missing SQLite file is an error, never created.
``--config`` (optional) adds the cameras' zones to the heat maps and takes the time zone and the
hotspot threshold from ``api.reports``. Exit codes: 0 written, 2 bad input, 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from api.errors import ApiError
from api.reports.build import (
    CameraZones,
    ReportRequest,
    make_report,
    output_format,
    report_bytes,
    write_atomically,
)
from api.reports.periods import last_complete, period_containing
from api.settings.hotspots import HotspotSettings
from api.settings.reports import ReportLanguage, ReportPeriod, ReportSettings

if TYPE_CHECKING:
    from api.store import TicketStore

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class _BadInput(Exception):
    """Something the user must fix (exit code 2)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the ``hazardwatch`` parser."""
    parser = subparsers.add_parser(
        "report",
        help="weekly or monthly report (HTML or PDF) of hazards, rates, overdue items, hotspots",
        description="The office's weekly or monthly report (周报/月报): counts by kind, level and "
        "camera, rectification and repeat rates, overdue items, hotspots, trend charts and heat "
        "maps, in Chinese or English.",
    )
    parser.add_argument(
        "--period", required=True, choices=[p.value for p in ReportPeriod], help="week or month"
    )
    parser.add_argument(
        "--at",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="a day inside the period to report (default: the last complete week or month)",
    )
    parser.add_argument("--area", default=None, help="only this area's tickets (default: all)")
    parser.add_argument(
        "--lang", default="zh-CN", choices=[lang.value for lang in ReportLanguage],
        help="language of the report (zh-CN)",
    )  # fmt: skip
    parser.add_argument(
        "--out", required=True, type=Path, help="the file to write: FILE.html or FILE.pdf"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="database and live pictures (./data)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HAZARDWATCH_DATABASE_URL"),
        help="the ticket database as an SQLAlchemy URL (env HAZARDWATCH_DATABASE_URL; default: "
        "tickets.sqlite3 in the data dir)",
    )
    parser.add_argument(
        "--config", type=Path, default=None,
        help="hazardwatch YAML config: zones on the heat maps, api.reports time zone and hotspot "
        "threshold",
    )  # fmt: skip
    parser.add_argument(
        "--tz", default=None,
        help="IANA time zone of weeks, months and days (default: the config's "
        "api.reports.time_zone, else Asia/Shanghai)",
    )  # fmt: skip
    parser.set_defaults(func=cmd_report)


def _settings_and_zones(
    args: argparse.Namespace,
) -> tuple[ReportSettings, HotspotSettings, CameraZones]:
    if args.config is None:
        return ReportSettings(), HotspotSettings(), {}
    from api.zone_overrides import read_zones
    from pipelines.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except (ConfigError, OSError) as exc:
        raise _BadInput(f"--config {args.config}: {exc}") from None
    settings = config.api.reports if config.api is not None else ReportSettings()
    hotspots = config.api.hotspots if config.api is not None else HotspotSettings()
    zones = {cid: read_zones(config, args.data_dir, cid).zones for cid in config.cameras}
    return settings, hotspots, zones


def _time_zone(name: str) -> ZoneInfo:
    from api.dashboard_stats import parse_time_zone

    try:
        return parse_time_zone(name)
    except ApiError as exc:
        raise _BadInput(f"--tz: {exc}") from None


def _open_store(args: argparse.Namespace) -> TicketStore:
    """The ticket database of ``--database-url`` or ``--data-dir`` (never created here)."""
    from api.store import TicketStore

    url = args.database_url
    if not url:
        path = (args.data_dir / "tickets.sqlite3").resolve()
        if not path.is_file():
            raise _BadInput(
                f"no ticket database at {path}: give --data-dir of a hazardwatch install "
                "(or --database-url)"
            )
        url = f"sqlite:///{path}"
    try:
        return TicketStore(url)
    except ApiError as exc:
        # The URL may carry a password: name the option, not the URL.
        raise _BadInput(f"cannot open the ticket database (--database-url): {exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    try:
        return _report(args)
    except (_BadInput, ApiError) as exc:
        print(f"hazardwatch report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _report(args: argparse.Namespace) -> int:
    fmt = output_format(args.out)
    settings, hotspots, zones = _settings_and_zones(args)
    tz = _time_zone(args.tz or settings.time_zone)
    now = datetime.now(UTC)
    if args.at is None:
        period = last_complete(args.period, now, tz)
    else:
        period = period_containing(args.period, args.at, tz)
    if period.start > now:
        raise _BadInput(f"--at {args.at}: the {args.period} has not begun yet")
    request = ReportRequest.with_settings(period, args.lang, args.area, settings, hotspots)
    store = _open_store(args)
    try:
        html, figures = make_report(store, request, as_of=now, data_dir=args.data_dir, zones=zones)
    finally:
        store.close()
    write_atomically(args.out, report_bytes(html, fmt))
    print(
        f"{args.out}: {period.name} ({period.first_day} to {period.last_day}, {tz.key}), "
        f"{figures['total']} tickets, area {args.area or 'all'}, {args.lang}"
    )
    return EXIT_OK
