"""``/ui/dashboard``: counts per day by kind, status and level; hour of day; overdue tickets; each
camera's live picture with its heat map and its health.

Drawn by the server (:mod:`api.pages.charts`, SVG) from the record of ``GET /stats/dashboard``
(:func:`api.routes.stats.dashboard_data`), so the page needs no chart library and works before
any script runs. Every text from the store or the config is escaped here; the script only
refreshes: every 30 s it fetches the same address and swaps in the new ``#panels`` (parsed with
``DOMParser``, which runs no script, from markup this module made). On a first visit without
``?tz=`` the script reloads the page once with the browser's time zone, so days and hours are the
reader's.

Layout: one column of cards on a phone (no card is wider than the screen: no tables, pictures
and charts scale), a grid of cards on a desktop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from api.auth import Principal
from api.context import AppContext
from api.dashboard_stats import GROUPS, MAX_DAYS
from api.errors import InvalidQuery
from api.pages import charts
from api.pages.charts import esc
from api.pages.common import KIND_LABELS, LEVEL_LABELS, STATUS_LABELS, layout
from api.routes.stats import dashboard_data

DAY_CHOICES = (7, 14, 30, 90)
DEFAULT_DAYS = 14
REFRESH_S = 30

# Page texts: Chinese first, English beside it, as the other pages (ARCHITECTURE.md §12 terms).
TEXT: dict[str, str] = {
    "title": "看板 Dashboard",
    "days": "天数 Days",
    "tz": "时区 Time zone",
    "show": "显示 Show",
    "window": "近 {days} 天 Last {days} days",
    "tickets": "工单 Tickets",
    "overdue": "超期 Overdue",
    "rect_rate": "整改率 Rectification",
    "repeat_rate": "重复率 Repeat",
    "by_kind": "按类型 By kind",
    "by_status": "按状态 By status",
    "by_level": "按等级 By level",
    "per_day": "每天新建工单 New tickets per day",
    "hours": "按发生时刻 By time of day",
    "hours_note": "隐患开始的小时 Hour the hazard started ({tz})",
    "overdue_list": "超期工单 Overdue tickets",
    "none_overdue": "没有超期工单 No overdue tickets",
    "overdue_by": "超期 overdue by {text}",
    "more_overdue": "另有 {n} 张 and {n} more",
    "cameras": "摄像头 Cameras",
    "heat_note": "热力图: 近 {days} 天工单位置 Heat map: where the tickets of the last {days} "
    "days were",
    "no_picture": "暂无实时画面 No live picture yet",
    "state": "状态 State",
    "fps": "帧率 fps in / out",
    "dropped": "丢帧 Dropped",
    "reconnects": "重连 Reconnects",
    "last_error": "最近错误 Last error",
    "points": "{n} 个位置 {n} places",
    "by_zone": "其中 {n} 个按区域中心 {n} at their zone's centre",
    "unplaced": "{n} 张无法定位 {n} not placed",
    "truncated": "工单太多, 只统计了一部分 Too many tickets: only part is counted",
    "public_note": "居民只看到已销号的工单统计 Residents see statistics of closed tickets only.",
    "refresh": "每 {s} 秒刷新 Refreshes every {s} s",
    "bad_query": "参数错误 Bad parameter: {msg}",
    "redis_down": "Redis {state}: 摄像头状态未知 camera states unknown",
}
STATE_LABELS = {
    "streaming": "正常 Streaming",
    "connecting": "连接中 Connecting",
    "backoff": "重连等待 Backing off",
    "stopped": "停止 Stopped",
    "stale": "无状态 No status",
    "disabled": "停用 Disabled",
}
GROUP_LABELS: dict[str, Mapping[str, str]] = {
    "kind": KIND_LABELS,
    "status": STATUS_LABELS,
    "level": LEVEL_LABELS,
}

STYLE = """
.dash{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,360px),1fr));gap:1rem;
margin-bottom:1rem}.dash>.card{margin:0;min-width:0}.card h3{margin:.2rem 0 .5rem}
.wide{grid-column:1/-1}.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:.85rem;
margin:.4rem 0 0;padding:0;list-style:none}.sw{display:inline-block;width:.8rem;height:.8rem;
border-radius:2px;margin-right:.3rem;vertical-align:-1px}.tiles{display:flex;flex-wrap:wrap;
gap:.5rem 1.5rem}.tile b{display:block;font-size:1.6rem}.pic{position:relative;
background:#263238;border-radius:4px;overflow:hidden;min-height:3rem}.pic img{display:block;
width:100%;height:auto}.pic.empty{aspect-ratio:16/9}.pic svg{position:absolute;inset:0;
width:100%;height:100%}.nopic{position:absolute;inset:0;display:flex;align-items:center;
justify-content:center;color:#cfd8dc;font-size:.9rem}.kv{display:grid;
grid-template-columns:auto minmax(0,1fr);gap:.15rem .7rem;font-size:.9rem;margin:.5rem 0 0}
.kv dt{color:#6b7785}.kv dd{margin:0;overflow-wrap:anywhere}.cams{display:grid;
grid-template-columns:repeat(auto-fill,minmax(min(100%,340px),1fr));gap:1rem}
.cam h4{margin:.1rem 0 .4rem;overflow-wrap:anywhere}.st{font-weight:600}
.st-streaming{color:#1b7f3a}.st-stale,.st-stopped,.st-backoff{color:#b00020}
.st-connecting{color:#a15c00}.overdue{list-style:none;margin:0;padding:0}
.overdue li{padding:.35rem 0;border-bottom:1px solid #e3e8ee;overflow-wrap:anywhere}
form.controls{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:center}
form.controls input{width:11rem;max-width:100%}svg.chart{display:block;height:auto}
"""

_SCRIPT = """
const url = new URL(location.href);
if (!url.searchParams.has('tz')) {
  let tz = null;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { tz = null; }
  if (tz && tz !== PAGE.tz) { url.searchParams.set('tz', tz); location.replace(url.href); }
}
async function refresh() {
  const msg = document.getElementById('msg');
  try {
    const r = await fetch(location.href, {credentials: 'same-origin'});
    if (r.status === 401 || r.redirected) { location.reload(); return; }
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.getElementById('panels');
    const old = document.getElementById('panels');
    if (fresh && old) old.replaceWith(document.importNode(fresh, true));
    msg.textContent = '';
  } catch (err) { msg.textContent = err.message; }
}
setInterval(refresh, PAGE.refresh_s * 1000);
"""


def _t(key: str, **values: object) -> str:
    text = TEXT[key]
    return text.format(**values) if values else text


def parse_query(query: Mapping[str, str]) -> tuple[int, str, str | None]:
    """``(days, tz, error)`` from the page's address; a bad value falls back to its default
    and ``error`` says what was wrong (the page still shows, with the message)."""
    error = None
    days = DEFAULT_DAYS
    raw_days = query.get("days")
    if raw_days is not None:
        try:
            days = int(raw_days)
            if not 1 <= days <= MAX_DAYS:
                raise ValueError
        except ValueError:
            days = DEFAULT_DAYS
            error = f"days must be a whole number from 1 to {MAX_DAYS}, got {raw_days[:40]!r}"
    tz = query.get("tz") or "UTC"
    return days, tz, error


def _legend(group: str, totals: Mapping[str, int]) -> str:
    labels = GROUP_LABELS[group]
    items = "".join(
        f'<li data-key="{esc(key)}" data-total="{count}"><span class="sw" '
        f'style="background:{charts.color_of(key)}"></span>{esc(labels.get(key, key))} '
        f"<b>{count}</b></li>"
        for key, count in totals.items()
    )
    return f'<ul class="legend" id="legend_{esc(group)}">{items}</ul>'


def _day_charts(data: Mapping[str, Any]) -> str:
    days = data["days"]
    short = [day[5:] for day in days]  # MM-DD
    out = []
    for group in GROUPS:
        title = f"{_t('per_day')} · {_t('by_' + group)}"
        svg = charts.stacked_bars(
            chart_id=f"chart_{group}",
            title=title,
            columns=days,
            series=data["series"][group],
            labels=GROUP_LABELS[group],
            column_labels=short,
        )
        out.append(
            f'<div class="card"><h3>{esc(_t("by_" + group))}</h3>{svg}'
            f"{_legend(group, data['totals'][group])}</div>"
        )
    return "".join(out)


def _duration(seconds: int) -> str:
    minutes = max(seconds, 0) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _local(iso: str | None, tz: ZoneInfo) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _overdue(data: Mapping[str, Any], tz: ZoneInfo) -> str:
    overdue = data["overdue"]
    items = []
    for item in overdue["items"]:
        level = str(item["level"])
        items.append(
            f'<li data-ticket="{esc(item["id"])}"><b>{esc(item["code"])}</b> '
            f'<span class="lv lv-{esc(level)}">{esc(LEVEL_LABELS.get(level, level))}</span> '
            f"{esc(KIND_LABELS.get(item['kind'], item['kind']))} · "
            f"{esc(STATUS_LABELS.get(item['status'], item['status']))}<br>"
            f'<span class="muted">{esc(item["camera_id"])}/{esc(item["zone"])} · '
            f"{esc(_local(item['deadline_at'], tz))} · "
            f"{esc(_t('overdue_by', text=_duration(int(item['overdue_s']))))}</span></li>"
        )
    if not items:
        body = f'<p class="muted">{esc(_t("none_overdue"))}</p>'
    else:
        body = f'<ul class="overdue" id="overdue_list">{"".join(items)}</ul>'
        hidden = overdue["total"] - len(items)
        if hidden > 0:
            body += f'<p class="muted">{esc(_t("more_overdue", n=hidden))}</p>'
    return (
        f'<div class="card" id="overdue_card" data-total="{int(overdue["total"])}">'
        f"<h3>{esc(_t('overdue_list'))} ({int(overdue['total'])})</h3>{body}</div>"
    )


def _camera_card(camera: Mapping[str, Any], heat: Mapping[str, Any], days: int) -> str:
    cid = str(camera["id"])
    points = heat.get("points", [])
    svg = charts.heat_map(
        chart_id=f"heat_{cid}",
        title=f"{_t('heat_note', days=days)} · {cid}",
        points=points,
        zones=heat.get("zones") or {},
        labels=KIND_LABELS,
    )
    if camera["has_snapshot"]:
        picture = (
            f'<div class="pic"><img src="/cameras/{esc(cid)}/snapshot.jpg" '
            f'alt="{esc(cid)}">{svg}</div>'
        )
    else:
        picture = (
            f'<div class="pic empty"><span class="nopic">{esc(_t("no_picture"))}</span>{svg}</div>'
        )
    notes = [_t("points", n=len(points))]
    by_zone = sum(1 for p in points if p.get("source") == "zone")
    if by_zone:
        notes.append(_t("by_zone", n=by_zone))
    if heat.get("unplaced"):
        notes.append(_t("unplaced", n=heat["unplaced"]))
    state = str(camera["state"])
    fps = f"{_number(camera.get('fps_in'))} / {_number(camera.get('fps_out'))}"
    rows = [
        (_t("state"), f'<span class="st st-{esc(state)}">{esc(STATE_LABELS.get(state, state))}'
         "</span>"),
        (_t("fps"), esc(fps)),
        (_t("dropped"), esc(_number(camera.get("dropped")))),
        (_t("reconnects"), esc(_number(camera.get("reconnects")))),
    ]  # fmt: skip
    if camera.get("last_error"):
        rows.append((_t("last_error"), esc(camera["last_error"])))
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    name = camera.get("name") or ""
    heading = esc(cid) + (f' <span class="muted">{esc(name)}</span>' if name else "")
    return (
        f'<div class="card cam" id="cam_{esc(cid)}" data-camera="{esc(cid)}" '
        f'data-state="{esc(state)}"><h4>{heading}</h4>{picture}'
        f'<p class="muted">{esc(" · ".join(notes))}</p><dl class="kv">{facts}</dl></div>'
    )


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _cameras(data: Mapping[str, Any], days: int) -> str:
    cards = "".join(
        _camera_card(camera, data["heat"].get(camera["id"], {}), days) for camera in data["cameras"]
    )
    redis = data.get("redis") or {}
    warning = ""
    if redis and redis.get("state") != "up":
        warning = f'<p class="err">{esc(_t("redis_down", state=redis.get("state")))}</p>'
    return (
        f'<h3>{esc(_t("cameras"))}</h3><p class="muted">{esc(_t("heat_note", days=days))}</p>'
        f'{warning}<div class="cams">{cards}</div>'
    )


def _tiles(data: Mapping[str, Any], overall: Mapping[str, Any]) -> str:
    def pct(value: Any) -> str:
        return "—" if value is None else f"{100 * value:.1f} %"

    tiles = [
        (_t("tickets"), str(data["count"]), "tile_count"),
        (_t("overdue"), str(data["overdue"]["total"]), "tile_overdue"),
        (_t("rect_rate"), pct(overall.get("rectification_rate")), "tile_rect"),
        (_t("repeat_rate"), pct(overall.get("repeat_rate")), "tile_repeat"),
    ]
    return "".join(
        f'<div class="tile" id="{tid}"><b>{esc(value)}</b><span class="muted">{esc(label)}'
        "</span></div>"
        for label, value, tid in tiles
    )


def render_panels(
    data: Mapping[str, Any], overall: Mapping[str, Any], *, days: int, tz: ZoneInfo
) -> str:
    """The part of the page the script refreshes (``#panels``), from the dashboard record."""
    hours = charts.hour_histogram(
        chart_id="chart_hours", title=_t("hours_note", tz=data["tz"]), counts=data["hours"]
    )
    parts = [
        f'<div id="panels" data-count="{int(data["count"])}">',
        f'<div class="card"><h3>{esc(_t("window", days=days))}</h3>'
        f'<div class="tiles">{_tiles(data, overall)}</div>',
    ]
    if data.get("truncated"):
        parts.append(f'<p class="err">{esc(_t("truncated"))}</p>')
    if data.get("public"):
        parts.append(f'<p class="muted">{esc(_t("public_note"))}</p>')
    parts.append("</div>")
    parts.append(f'<div class="dash">{_day_charts(data)}')
    parts.append(
        f'<div class="card"><h3>{esc(_t("hours"))}</h3>{hours}'
        f'<p class="muted">{esc(_t("hours_note", tz=data["tz"]))}</p></div>'
    )
    if not data.get("public"):
        parts.append(_overdue(data, tz))
    parts.append("</div>")
    if data["cameras"]:
        parts.append(_cameras(data, days))
    parts.append(f'<p class="muted">{esc(_t("refresh", s=REFRESH_S))}</p></div>')
    return "".join(parts)


def _controls(days: int, tz: str) -> str:
    choices = sorted({*DAY_CHOICES, days})
    options = "".join(
        f'<option value="{d}"{" selected" if d == days else ""}>{d}</option>' for d in choices
    )
    return (
        '<form class="controls card" method="get" action="/ui/dashboard">'
        f'<label>{esc(_t("days"))} <select name="days">{options}</select></label>'
        f'<label>{esc(_t("tz"))} <input name="tz" value="{esc(tz)}" maxlength="64"></label>'
        f'<button type="submit">{esc(_t("show"))}</button></form>'
    )


def render_dashboard(
    principal: Principal, nonce: str, *, context: AppContext, query: QueryParams | Mapping[str, str]
) -> str:
    """The dashboard for ``principal`` as the address asks (``?days=``, ``?tz=``)."""
    days, tz_name, error = parse_query(query)
    try:
        data = dashboard_data(context, principal, days=days, tz_name=tz_name)
    except InvalidQuery as exc:
        error = str(exc)
        tz_name = "UTC"
        data = dashboard_data(context, principal, days=days, tz_name=tz_name)
    overall = context.store.stats(cameras=principal.cameras, public=principal.is_public)
    message = esc(_t("bad_query", msg=error)) if error else ""
    body = (
        f"<style>{STYLE}</style>{_controls(days, tz_name)}"
        f'<p id="msg" class="err">{message}</p>'
        + render_panels(data, overall, days=days, tz=ZoneInfo(tz_name))
    )
    return layout(
        title=_t("title"),
        active="dashboard",
        principal=principal,
        body=body,
        script=_SCRIPT,
        nonce=nonce,
        page_data={"tz": tz_name, "refresh_s": REFRESH_S, "public": principal.is_public},
    )
