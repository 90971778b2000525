"""The weekly/monthly report from a seeded database: its numbers against counts made here.

The database is :mod:`tests.api.report_seed` (real events through the store, real moves, one
escalation round); the expected numbers are counted from its table of tickets, by this file's
own code, and compared with what the HTML document says (its ``data-*`` attributes and its
embedded JSON), in both languages, for two weeks, the month, and one area.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.reports.build import ReportRequest, make_report, output_format
from api.reports.pdf import ReportError
from api.reports.periods import Period, last_complete, period_containing
from api.settings.hotspots import HotspotSettings
from api.settings.reports import ReportFormat, ReportPeriod, ReportSettings
from api.store import TicketStore
from hazardwatch.cli import main
from tests.api.report_html import read_report
from tests.api.report_seed import AS_OF, HOTSPOTS, OPEN, SPECS, TZ, Spec, seed, specs_in

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[TicketStore, dict[str, str], Path]:
    data_dir = tmp_path_factory.mktemp("report_data")
    store, ids = seed(data_dir)
    # A live picture for one camera: its heat map is drawn over it.
    (data_dir / "live").mkdir()
    picture = np.full((720, 1280, 3), 90, np.uint8)
    cv2.rectangle(picture, (100, 300), (500, 700), (40, 160, 40), -1)
    assert cv2.imwrite(str(data_dir / "live" / "lane.jpg"), picture)
    yield store, ids, data_dir
    store.close()


def _expected(specs: list[Spec], store: TicketStore, ids: dict[str, str]) -> dict[str, object]:
    kept = [s for s in specs if s.status != "rejected"]
    closed = sum(1 for s in specs if s.status == "closed")
    repeats = sum(1 for s in kept if s.hazards > 1)
    views = {s.name: store.get_ticket(ids[s.name]) for s in specs}
    levels = Counter(v.level for v in views.values() if v is not None)
    return {
        "total": len(specs),
        "kind": Counter(s.kind for s in specs),
        "camera": Counter(s.camera for s in specs),
        "status": Counter(s.status for s in specs),
        "level": levels,
        "rejected": len(specs) - len(kept),
        "closed": closed,
        "needing": len(kept),
        "rect_rate": closed / len(kept) if kept else None,
        "repeat_tickets": repeats,
        "repeat_rate": repeats / len(kept) if kept else None,
        "overdue": {ids[s.name] for s in specs if s.status in OPEN},
        "escalated": sum(1 for v in views.values() if v is not None and v.escalations > 0),
        "days": Counter(s.created_local.date().isoformat() for s in specs),
    }


CASES = [
    pytest.param("week", date(2026, 11, 18), None, "zh-CN", id="week47-zh"),
    pytest.param("week", date(2026, 11, 22), None, "en", id="week47-en-sunday"),
    pytest.param("week", date(2026, 11, 23), None, "zh-CN", id="week48-zh-monday"),
    pytest.param("week", date(2026, 11, 29), None, "en", id="week48-en"),
    pytest.param("month", date(2026, 11, 5), None, "zh-CN", id="month-zh"),
    pytest.param("week", date(2026, 11, 18), "A", "en", id="week47-area-A"),
    pytest.param("month", date(2026, 11, 30), "B", "zh-CN", id="month-area-B"),
]


@pytest.mark.parametrize(("kind", "day", "area", "lang"), CASES)
def test_counts_match_the_seed(
    seeded: tuple[TicketStore, dict[str, str], Path],
    kind: str,
    day: date,
    area: str | None,
    lang: str,
) -> None:
    store, ids, data_dir = seeded
    period = period_containing(kind, day, TZ)
    specs = specs_in(period.start, period.end, area)
    assert specs, "the case must cover some seeded tickets"
    want = _expected(specs, store, ids)
    html, _ = make_report(store, ReportRequest(period, lang, area), as_of=AS_OF, data_dir=data_dir)
    got = read_report(html)
    data = got.data

    assert got.lang == lang
    assert data["period"]["name"] == period.name
    assert int(got.metrics["total"]) == data["total"] == want["total"]
    for group in ("kind", "camera", "status", "level"):
        shown = {k: n for k, n in got.rows[group].items() if n}
        assert shown == dict(want[group]), group  # type: ignore[call-overload]
        assert {k: n for k, n in data[f"by_{group}"].items() if n} == shown
    assert int(got.metrics["rejected"]) == want["rejected"]
    assert int(got.metrics["closed"]) == want["closed"]
    assert int(got.metrics["needing_rectification"]) == want["needing"]
    assert int(got.metrics["repeat_tickets"]) == want["repeat_tickets"]
    assert float(got.metrics["rectification_rate"]) == pytest.approx(want["rect_rate"])
    assert float(got.metrics["repeat_rate"]) == pytest.approx(want["repeat_rate"])
    assert int(got.metrics["escalated"]) == want["escalated"]
    assert {row["data-ticket"] for row in got.overdue} == want["overdue"]
    assert int(got.metrics["overdue_total"]) == len(want["overdue"])  # type: ignore[arg-type]

    expected_spots = {
        key: value
        for key, value in HOTSPOTS[period.name].items()
        if area is None or any(s.camera == key[0] for s in specs)
    }
    shown_spots = {
        (r["data-camera"], r["data-zone"], r["data-kind"]): (
            int(r["data-hazards"]),
            r["data-level"],
        )
        for r in got.hotspots
    }
    assert shown_spots == expected_spots

    per_day = Counter()
    for index, day_label in enumerate(data["daily"]["days"]):
        per_day[day_label] = sum(counts[index] for counts in data["daily"]["by_kind"].values())
    assert {d: n for d, n in per_day.items() if n} == dict(want["days"])  # type: ignore[call-overload]
    assert len(data["daily"]["days"]) == period.days

    words = ("整改率", "超期事项", "隐患热点", "重复率") if lang == "zh-CN" else (
        "Rectification rate", "Overdue items", "Hotspots", "Repeat rate")  # fmt: skip
    for text in words:
        assert text in got.text, text
    assert "trend_kind" in got.svg_ids and "trend_level" in got.svg_ids


def test_the_report_uses_the_hotspot_rule_of_the_hotspot_tickets(
    seeded: tuple[TicketStore, dict[str, str], Path],
) -> None:
    """The report's hotspots follow ``api.hotspots`` (min_hazards, systemic_places), the rule
    that raises hotspot tickets, unless ``api.reports.hotspot_min_hazards`` sets its own."""
    store, _, data_dir = seeded
    period = period_containing("week", date(2026, 11, 18), TZ)
    strict = HotspotSettings(min_hazards=4, systemic_places=3)
    request = ReportRequest.with_settings(period, "en", None, ReportSettings(), strict)
    assert (request.hotspot_min_hazards, request.systemic_places) == (4, 3)
    got = read_report(make_report(store, request, as_of=AS_OF, data_dir=data_dir)[0])
    shown = {(r["data-camera"], r["data-zone"]): r["data-level"] for r in got.hotspots}
    assert shown == {("lane", "lane"): "yellow"}  # 4 hazards; one place is not systemic at 3
    assert "4 times or more" in got.text and "at 3 or more places" in got.text

    own = ReportRequest.with_settings(
        period, "zh-CN", None, ReportSettings(hotspot_min_hazards=3), strict
    )
    got = read_report(make_report(store, own, as_of=AS_OF, data_dir=data_dir)[0])
    shown = {(r["data-camera"], r["data-zone"]): r["data-level"] for r in got.hotspots}
    assert shown == {
        ("lane", "lane"): "yellow",
        ("yard", "lawn"): "yellow",
        ("lift", "car"): "yellow",
    }
    assert "3 处及以上热点" in got.text


def test_heat_map_over_the_live_picture(seeded: tuple[TicketStore, dict[str, str], Path]) -> None:
    store, _ids, data_dir = seeded
    period = period_containing("week", date(2026, 11, 18), TZ)
    html, _ = make_report(store, ReportRequest(period, "en"), as_of=AS_OF, data_dir=data_dir)
    got = read_report(html)
    week = specs_in(period.start, period.end)
    per_camera = Counter(s.camera for s in week)
    assert set(got.figures) == set(per_camera)
    for camera, n in per_camera.items():
        assert int(got.figures[camera]["data-points"]) == n  # every seeded event had a box
        assert f"heat_{camera}" in got.svg_ids
    assert got.figures["lane"]["data-picture"] == "yes"
    assert got.figures["lift"]["data-picture"] == "no"
    assert len(got.images) == 1 and got.images[0].startswith("data:image/jpeg;base64,")
    assert 'src="http' not in html and "url(" not in html  # self-contained


def test_a_report_of_no_tickets(seeded: tuple[TicketStore, dict[str, str], Path]) -> None:
    store, _ids, _data_dir = seeded
    period = period_containing("week", date(2026, 10, 7), TZ)
    html, figures = make_report(store, ReportRequest(period, "zh-CN"), as_of=AS_OF)
    got = read_report(html)
    assert figures["total"] == 0 and got.metrics["rectification_rate"] == ""
    assert "本期无隐患工单" in got.text


@pytest.mark.parametrize(
    ("kind", "now_local", "first", "last"),
    [
        ("week", datetime(2026, 12, 7, 0, 0, tzinfo=TZ), date(2026, 11, 30), date(2026, 12, 6)),
        ("week", datetime(2026, 12, 6, 23, 59, tzinfo=TZ), date(2026, 11, 23), date(2026, 11, 29)),
        ("month", datetime(2026, 12, 1, 0, 0, tzinfo=TZ), date(2026, 11, 1), date(2026, 11, 30)),
        ("month", datetime(2026, 3, 10, tzinfo=TZ), date(2026, 2, 1), date(2026, 2, 28)),
        ("month", datetime(2026, 1, 3, tzinfo=TZ), date(2025, 12, 1), date(2025, 12, 31)),
    ],
    ids=["week-just-ended", "week-not-yet-ended", "month-just-ended", "february", "year-end"],
)
def test_last_complete_period(kind: str, now_local: datetime, first: date, last: date) -> None:
    period = last_complete(kind, now_local, TZ)
    assert (period.first_day, period.last_day) == (first, last)
    assert period.end <= now_local


def test_period_boundaries_are_local() -> None:
    week = period_containing(ReportPeriod.WEEK, date(2026, 11, 23), TZ)
    assert week.name == "week-2026-W48"
    assert week.start.isoformat() == "2026-11-23T00:00:00+08:00"
    assert week.contains(datetime(2026, 11, 22, 16, 0, tzinfo=TZ) + timedelta(hours=8))
    assert not week.contains(datetime(2026, 11, 22, 23, 59, tzinfo=TZ))
    assert isinstance(week, Period) and week.days == 7


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("r.html", ReportFormat.HTML), ("R.PDF", ReportFormat.PDF), ("r.txt", None)],
    ids=["html", "pdf-upper", "bad"],
)
def test_output_format(name: str, fmt: ReportFormat | None) -> None:
    if fmt is None:
        with pytest.raises(ReportError, match=r"\.html or \.pdf"):
            output_format(Path(name))
    else:
        assert output_format(Path(name)) is fmt


def test_cli_writes_the_html(
    seeded: tuple[TicketStore, dict[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store, _ids, data_dir = seeded
    out = tmp_path / "w47.html"
    argv = ["report", "--period", "week", "--at", "2026-11-18", "--lang", "en"]
    code = main([*argv, "--data-dir", str(data_dir), "--tz", "Asia/Shanghai", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    got = read_report(out.read_text(encoding="utf-8"))
    assert got.data["period"]["name"] == "week-2026-W47"
    assert got.data["total"] == len(specs_in(*_bounds("2026-11-16", "2026-11-23")))
    assert "week-2026-W47" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.txt"], ".html or .pdf"),
        (["--out", "x.html", "--tz", "Mars/Olympus"], "--tz"),
        (["--out", "x.html", "--at", "2999-01-01"], "has not begun"),
        (["--out", "x.html", "--data-dir", "/nonexistent/hw"], "no ticket database"),
    ],
    ids=["bad-suffix", "bad-tz", "future", "no-database"],
)
def test_cli_bad_input(
    seeded: tuple[TicketStore, dict[str, str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    _store, _ids, data_dir = seeded
    argv = ["report", "--period", "week", "--data-dir", str(data_dir)]
    extra = [str(tmp_path / e) if e.startswith("x.") else e for e in extra]
    assert main([*argv, *extra]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))


def _bounds(first: str, end: str) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(first).replace(tzinfo=TZ),
        datetime.fromisoformat(end).replace(tzinfo=TZ),
    )


def test_every_seeded_ticket_is_in_one_week() -> None:
    weeks = Counter(period_containing("week", s.created_local.date(), TZ).name for s in SPECS)
    assert weeks == {"week-2026-W47": 7, "week-2026-W48": 4}
