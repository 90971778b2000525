"""A report as one self-contained HTML document (inline CSS, inline SVG, pictures as data URIs).

The same document is the HTML report and the source of the PDF (:mod:`api.reports.pdf`), so the
two never disagree. Every number shown carries ``data-*`` attributes (``data-metric`` and
``data-value`` on the summary, ``data-group``/``data-key``/``data-count`` on table rows), and the
whole figure set is embedded as JSON in ``<script type="application/json" id="report-data">``:
a test, or another program, reads the report back without scraping text.

Charts are :mod:`api.pages.charts` (the dashboard's own): daily stacked bars and heat maps laid
over each camera's last live picture (``DATA_DIR/live/{camera}.jpg``), when there is one.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from api.pages import charts
from api.pages.charts import esc
from api.reports.words import value_label, word

logger = logging.getLogger(__name__)

PICTURE_MAX_WIDTH_PX = 800  # a report's picture needs no more; keeps the file small
PICTURE_JPEG_QUALITY = 80

CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 9pt; color: #607080; } }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei",
  "Noto Sans", sans-serif; color: #1d2430; font-size: 10.5pt; margin: 0 auto; max-width: 60rem;
  padding: 0 .5rem; line-height: 1.45; }
h1 { font-size: 18pt; margin: .4rem 0 .2rem; }
h2 { font-size: 13pt; margin: 1.1rem 0 .4rem; border-bottom: 2px solid #1e88e5;
  padding-bottom: .15rem; break-after: avoid; }
h3 { font-size: 11pt; margin: .6rem 0 .3rem; }
.meta { color: #4a5868; margin: 0; }
.tiles { display: flex; flex-wrap: wrap; gap: .4rem; }
.tile { border: 1px solid #cfd8dc; border-radius: 4px; padding: .35rem .6rem; min-width: 9.5rem;
  flex: 1 1 9.5rem; }
.tile b { display: block; font-size: 15pt; }
.tile small { display: block; color: #607080; }
.tile.bad b { color: #c62828; }
.note { color: #607080; font-size: 9pt; }
.grid2 { display: flex; flex-wrap: wrap; gap: .8rem; }
.grid2 > div { flex: 1 1 18rem; min-width: 0; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; break-inside: auto; }
th, td { border-bottom: 1px solid #e0e6ea; padding: .18rem .35rem; text-align: left; }
th { background: #eef3f7; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
.swatch { display: inline-block; width: .7em; height: .7em; border-radius: 2px;
  margin-right: .3em; vertical-align: baseline; }
svg.chart { width: 100%; height: auto; display: block; }
.heatmaps { display: flex; flex-wrap: wrap; gap: .6rem; }
figure { margin: 0; flex: 0 1 48%; min-width: 16rem; break-inside: avoid; }
figcaption { font-size: 9pt; color: #4a5868; margin-top: .15rem; }
.pic { position: relative; background: #263238; overflow: hidden; }
.pic img { display: block; width: 100%; height: auto; }
.pic.empty { height: 0; padding-top: 56.25%; }
.pic svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%; }
.nopic { position: absolute; left: 0; top: 45%; width: 100%; text-align: center;
  color: #cfd8dc; font-size: 9pt; }
.lv { font-weight: bold; }
footer { margin-top: 1.2rem; color: #607080; font-size: 8.5pt; }
"""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _data_value(value: Any) -> str:
    return "" if value is None else esc(value if not isinstance(value, float) else f"{value:.6f}")


def _tile(metric: str, value: Any, shown: str, text: str, note: str = "", bad: bool = False) -> str:
    cls = "tile bad" if bad else "tile"
    small = f"<small>{esc(note)}</small>" if note else ""
    return (
        f'<div class="{cls}" data-metric="{metric}" data-value="{_data_value(value)}">'
        f"<b>{esc(shown)}</b>{esc(text)}{small}</div>"
    )


def _summary(lang: str, fig: Mapping[str, Any]) -> str:
    rect, repeat = fig["rectification_rate"], fig["repeat_rate"]
    tiles = [
        _tile("total", fig["total"], str(fig["total"]), word(lang, "total")),
        _tile("needing_rectification", fig["needing_rectification"],
              str(fig["needing_rectification"]), word(lang, "needing")),
        _tile("closed", fig["closed"], str(fig["closed"]), word(lang, "closed")),
        _tile("rejected", fig["rejected"], str(fig["rejected"]), word(lang, "rejected")),
        _tile("rectification_rate", rect, _pct(rect), word(lang, "rect_rate"),
              word(lang, "target.rect"), bad=rect is not None and rect < 0.95),
        _tile("repeat_rate", repeat, _pct(repeat), word(lang, "repeat_rate"),
              word(lang, "target.repeat"), bad=repeat is not None and repeat > 0.05),
        _tile("repeat_tickets", fig["repeat_tickets"], str(fig["repeat_tickets"]),
              word(lang, "repeat_tickets")),
        _tile("overdue_total", fig["overdue_total"], str(fig["overdue_total"]),
              word(lang, "overdue_total"), bad=fig["overdue_total"] > 0),
        _tile("escalated", fig["escalated"], str(fig["escalated"]), word(lang, "escalated")),
    ]  # fmt: skip
    return (
        f'<section id="summary"><h2>{esc(word(lang, "summary"))}</h2>'
        f'<div class="tiles">{"".join(tiles)}</div>'
        f'<p class="note">{esc(word(lang, "rates_note"))}</p></section>'
    )


def _count_table(
    lang: str, group: str, counts: Mapping[str, int], label_of: Callable[[str], str]
) -> str:
    total = sum(counts.values())
    rows = []
    for key, count in counts.items():
        share = _pct(count / total) if total else "—"
        swatch = f'<span class="swatch" style="background:{charts.color_of(key)}"></span>'
        rows.append(
            f'<tr data-group="{group}" data-key="{esc(key)}" data-count="{count}">'
            f"<td>{swatch}{esc(label_of(key))}</td><td class=n>{count}</td>"
            f"<td class=n>{share}</td></tr>"
        )
    head = (
        f"<tr><th>{esc(word(lang, f'col.{group}'))}</th>"
        f"<th class=n>{esc(word(lang, 'col.count'))}</th>"
        f"<th class=n>{esc(word(lang, 'col.share'))}</th></tr>"
    )
    return (
        f"<div><h3>{esc(word(lang, f'by_{group}'))}</h3>"
        f'<table class="counts" data-group="{group}" data-total="{total}">{head}'
        f"{''.join(rows)}</table></div>"
    )


def _counts(lang: str, fig: Mapping[str, Any]) -> str:
    tables = [
        _count_table(lang, "kind", fig["by_kind"], lambda k: value_label(lang, "kind", k)),
        _count_table(lang, "level", fig["by_level"], lambda k: value_label(lang, "level", k)),
        _count_table(lang, "status", fig["by_status"], lambda k: value_label(lang, "status", k)),
        _count_table(lang, "camera", fig["by_camera"], lambda k: k),
    ]
    return f'<section id="counts"><div class="grid2">{"".join(tables)}</div></section>'


def _trend(lang: str, fig: Mapping[str, Any]) -> str:
    days = fig["daily"]["days"]
    short = [day[5:] for day in days]  # MM-DD
    out = []
    for group, key in (("kind", "trend.kind"), ("level", "trend.level")):
        series = fig["daily"][f"by_{group}"]
        legend = " ".join(
            f'<span class="swatch" style="background:{charts.color_of(k)}"></span>'
            f"{esc(value_label(lang, group, k))}"
            for k in series
        )
        svg = charts.stacked_bars(
            chart_id=f"trend_{group}",
            title=word(lang, key),
            columns=days,
            series=series,
            labels={k: value_label(lang, group, k) for k in series},
            column_labels=short,
            width=520,
            height=170,
        )
        out.append(f'<div><h3>{esc(word(lang, key))}</h3>{svg}<p class="note">{legend}</p></div>')
    return (
        f'<section id="trend"><h2>{esc(word(lang, "trend"))}</h2>'
        f'<div class="grid2">{"".join(out)}</div></section>'
    )


def _local(iso: str | None, tz: Any) -> str:
    if iso is None:
        return "—"
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _overdue(lang: str, fig: Mapping[str, Any], tz: Any) -> str:
    items = fig["overdue"]
    title = f"<h2>{esc(word(lang, 'overdue'))}</h2>"
    if not items:
        body = f"<p>{esc(word(lang, 'overdue.none'))}</p>"
    else:
        cols = ("code", "kind", "level", "status", "camera", "created", "deadline", "overdue_h")
        head = "".join(
            f"<th{' class=n' if c == 'overdue_h' else ''}>{esc(word(lang, f'col.{c}'))}</th>"
            for c in cols
        )
        rows = [
            f'<tr class="overdue" data-ticket="{esc(i["id"])}" data-code="{esc(i["code"])}">'
            f"<td>{esc(i['code'])}</td><td>{esc(value_label(lang, 'kind', i['kind']))}</td>"
            f'<td class="lv" style="color:{charts.color_of(i["level"])}">'
            f"{esc(value_label(lang, 'level', i['level']))}</td>"
            f"<td>{esc(value_label(lang, 'status', i['status']))}</td>"
            f"<td>{esc(i['camera_id'])} / {esc(i['zone'])}</td>"
            f"<td>{_local(i['created_at'], tz)}</td><td>{_local(i['deadline_at'], tz)}</td>"
            f"<td class=n>{i['overdue_h']:.1f}</td></tr>"
            for i in items
        ]
        body = f"<table>{head}{''.join(rows)}</table>"
        left = fig["overdue_total"] - len(items)
        if left > 0:
            body += f'<p class="note">{esc(word(lang, "overdue.more", n=left))}</p>'
    return f'<section id="overdue" data-total="{fig["overdue_total"]}">{title}{body}</section>'


def _hotspots(lang: str, fig: Mapping[str, Any]) -> str:
    spots = fig["hotspots"]
    text = word(
        lang, "hotspots.rule", n=fig["hotspot_min_hazards"], places=fig["hotspot_systemic_places"]
    )
    rule = f'<p class="note">{esc(text)}</p>'
    if not spots:
        body = f"<p>{esc(word(lang, 'hotspots.none'))}</p>"
    else:
        cols = ("level", "kind", "camera", "zone", "hazards", "tickets")
        head = "".join(
            f"<th{' class=n' if c == 'hazards' else ''}>{esc(word(lang, f'col.{c}'))}</th>"
            for c in cols
        )
        rows = [
            f'<tr class="hotspot" data-camera="{esc(s["camera_id"])}" data-zone="{esc(s["zone"])}"'
            f' data-kind="{esc(s["kind"])}" data-level="{esc(s["level"])}"'
            f' data-hazards="{s["hazards"]}" data-ticket="{esc(s.get("ticket") or "")}">'
            f'<td class="lv" style="color:{charts.color_of(s["level"])}">'
            f"{esc(value_label(lang, 'level', s['level']))}</td>"
            f"<td>{esc(value_label(lang, 'kind', s['kind']))}</td><td>{esc(s['camera_id'])}</td>"
            f"<td>{esc(s['zone'])}</td><td class=n>{s['hazards']}</td>"
            f"<td>{esc(', '.join(s['tickets']))}"
            + (f" <b>→ {esc(s['ticket'])}</b>" if s.get("ticket") else "")
            + "</td></tr>"
            for s in spots
        ]
        body = f"<table>{head}{''.join(rows)}</table>"
    return (
        f'<section id="hotspots" data-total="{len(spots)}">'
        f"<h2>{esc(word(lang, 'hotspots'))}</h2>{rule}{body}</section>"
    )


def live_picture_uri(data_dir: Path | None, camera_id: str) -> str | None:
    """The camera's last live picture, scaled down, as a ``data:image/jpeg`` URI; None when
    there is none (no data dir, never written) or it cannot be decoded (logged)."""
    if data_dir is None:
        return None
    path = data_dir / "live" / f"{camera_id}.jpg"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("camera %s: live picture %s unreadable: %s", camera_id, path, exc)
        return None
    image = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        logger.warning("camera %s: live picture %s is not a readable JPEG", camera_id, path)
        return None
    height, width = image.shape[:2]
    if width > PICTURE_MAX_WIDTH_PX:
        size = (PICTURE_MAX_WIDTH_PX, max(1, round(height * PICTURE_MAX_WIDTH_PX / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, PICTURE_JPEG_QUALITY])
    if not ok:
        logger.warning("camera %s: live picture %s could not be re-encoded", camera_id, path)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _heat(
    lang: str,
    fig: Mapping[str, Any],
    data_dir: Path | None,
    zones: Mapping[str, Mapping[str, Any]],
) -> str:
    figures = []
    for camera_id in fig["by_camera"]:
        heat = fig["heat"].get(camera_id, {"points": [], "unplaced": 0})
        points = heat["points"]
        svg = charts.heat_map(
            chart_id=f"heat_{camera_id}",
            title=word(lang, "heat.camera", camera=camera_id, n=len(points)),
            points=points,
            zones=zones.get(camera_id) or {},
            labels={key: value_label(lang, "kind", key) for key in fig["by_kind"]},
        )
        uri = live_picture_uri(data_dir, camera_id)
        if uri is not None:
            picture = f'<div class="pic"><img src="{uri}" alt="{esc(camera_id)}">{svg}</div>'
        else:
            nopic = f'<span class="nopic">{esc(word(lang, "heat.no_picture"))}</span>'
            picture = f'<div class="pic empty">{nopic}{svg}</div>'
        caption = word(lang, "heat.camera", camera=camera_id, n=len(points))
        if heat.get("unplaced"):
            caption += " · " + word(lang, "heat.unplaced", n=heat["unplaced"])
        figures.append(
            f'<figure data-camera="{esc(camera_id)}" data-points="{len(points)}" '
            f'data-picture="{"yes" if uri else "no"}">{picture}'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    return (
        f'<section id="heat"><h2>{esc(word(lang, "heat"))}</h2>'
        f'<div class="heatmaps">{"".join(figures)}</div></section>'
    )


def _json_block(fig: Mapping[str, Any]) -> str:
    text = json.dumps(fig, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    return f'<script type="application/json" id="report-data">{text}</script>'


def render_html(
    fig: Mapping[str, Any],
    *,
    lang: str,
    tz: Any,
    generated_at: datetime,
    data_dir: Path | None = None,
    zones: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The report document for the figures of :func:`api.reports.figures.compute_figures`.

    Args:
        lang: ``zh-CN`` or ``en``.
        tz: the period's time zone (times are shown in it).
        generated_at: shown in the footer.
        data_dir: where ``live/{camera}.jpg`` pictures are read (None: heat maps on grey).
        zones: camera -> zone name -> polygon or line (normalised), outlined on the heat maps.

    Raises:
        KeyError: ``lang`` is not a report language.
    """
    period = fig["period"]
    title = word(lang, f"title.{period['kind']}")
    area = fig["area"] or word(lang, "area.all")
    meta = (
        f'<p class="meta" data-period="{esc(period["name"])}">{esc(word(lang, "period"))}: '
        f"{esc(period['first_day'])} – {esc(period['last_day'])} · {esc(word(lang, 'area'))}: "
        f"{esc(area)} · {esc(word(lang, 'tz'))}: {esc(period['time_zone'])}</p>"
        f'<p class="meta">{esc(word(lang, "as_of"))}: {_local(fig["as_of"], tz)}</p>'
    )
    if fig["total"] == 0:
        body = _summary(lang, fig) + f"<p>{esc(word(lang, 'empty'))}</p>"
    else:
        body = (
            _summary(lang, fig)
            + _counts(lang, fig)
            + _trend(lang, fig)
            + _overdue(lang, fig, tz)
            + _hotspots(lang, fig)
            + _heat(lang, fig, data_dir, zones or {})
        )
    footer = word(lang, "footer", at=generated_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    return (
        f'<!DOCTYPE html><html lang="{esc(lang)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} {esc(period['name'])}</title><style>{CSS}</style></head>"
        f"<body><header><h1>{esc(title)}</h1>{meta}</header>{body}"
        f"<footer>{esc(footer)}</footer>{_json_block(fig)}</body></html>"
    )
