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

import json
from collections.abc import Mapping, Sequence
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
from api.pages.common import KIND_LABELS, layout
from api.pages.i18n import bilingual_label, page_strings
from api.pages.i18n import label as i18n_label
from api.routes.stats import dashboard_data

DAY_CHOICES = (7, 14, 30, 90)
DEFAULT_DAYS = 14
REFRESH_S = 30
_MUTED = ' class="muted"'

# The page's words (api.pages.i18n): the browser shows one language, the switch the other.
_ZH = {
    "page.title": "看板",
    "dash.days": "天数",
    "dash.tz": "时区",
    "dash.show": "显示",
    "dash.window": "近 {days} 天",
    "dash.tickets": "工单",
    "dash.overdue": "超期",
    "dash.rect_rate": "整改率",
    "dash.repeat_rate": "重复率",
    "dash.by_kind": "按类型",
    "dash.by_status": "按状态",
    "dash.by_level": "按等级",
    "dash.per_day": "每天新建工单",
    "dash.hours": "按发生时刻",
    "dash.hours_note": "隐患开始的小时 ({tz})",
    "dash.overdue_list": "超期工单 ({n})",
    "dash.hotspots": "隐患热点 ({n})",
    "dash.tile_hotspots": "隐患热点",
    "dash.none_hotspots": "没有未关闭的隐患热点",
    "dash.hotspot_facts": "{hazards} 次重复 · {members} 张工单",
    "dash.hotspot_rule": "同一点位同类隐患反复发生即生成热点工单（黄色）；"
    "同一片区多处为系统性风险（红色）",
    "dash.none_overdue": "没有超期工单",
    "dash.overdue_by": "超期 {text}",
    "dash.more_overdue": "另有 {n} 张",
    "dash.cameras": "摄像头",
    "dash.heat_note": "热力图：近 {days} 天工单的位置",
    "dash.no_picture": "暂无实时画面",
    "dash.state": "状态",
    "dash.fps": "帧率 输入 / 输出",
    "dash.dropped": "丢帧",
    "dash.reconnects": "重连",
    "dash.last_error": "最近错误",
    "dash.points": "{n} 个位置",
    "dash.by_zone": "其中 {n} 个按区域中心",
    "dash.unplaced": "{n} 张无法定位",
    "dash.truncated": "工单太多，只统计了一部分",
    "dash.public_note": "居民只看到已销号工单的统计。",
    "dash.refresh": "每 {s} 秒刷新",
    "dash.bad_query": "参数错误：{msg}",
    "dash.redis_down": "Redis {state}：摄像头状态未知",
    "dash.st.streaming": "正常",
    "dash.st.connecting": "连接中",
    "dash.st.backoff": "等待重连",
    "dash.st.stopped": "已停止",
    "dash.st.stale": "无状态",
    "dash.st.disabled": "已停用",
}
_EN = {
    "page.title": "Dashboard",
    "dash.days": "Days",
    "dash.tz": "Time zone",
    "dash.show": "Show",
    "dash.window": "Last {days} days",
    "dash.tickets": "Tickets",
    "dash.overdue": "Overdue",
    "dash.rect_rate": "Rectification rate",
    "dash.repeat_rate": "Repeat rate",
    "dash.by_kind": "By kind",
    "dash.by_status": "By status",
    "dash.by_level": "By level",
    "dash.per_day": "New tickets per day",
    "dash.hours": "By time of day",
    "dash.hours_note": "Hour the hazard started ({tz})",
    "dash.overdue_list": "Overdue tickets ({n})",
    "dash.hotspots": "Hotspots ({n})",
    "dash.tile_hotspots": "Hotspots",
    "dash.none_hotspots": "No open hotspots",
    "dash.hotspot_facts": "{hazards} repeats · {members} ticket(s)",
    "dash.hotspot_rule": "Repeated hazards of one kind at one place raise a hotspot ticket "
    "(yellow); at several places of one area, a systemic risk (red)",
    "dash.none_overdue": "No overdue tickets",
    "dash.overdue_by": "overdue by {text}",
    "dash.more_overdue": "and {n} more",
    "dash.cameras": "Cameras",
    "dash.heat_note": "Heat map: where the tickets of the last {days} days were",
    "dash.no_picture": "No live picture yet",
    "dash.state": "State",
    "dash.fps": "fps in / out",
    "dash.dropped": "Dropped frames",
    "dash.reconnects": "Reconnects",
    "dash.last_error": "Last error",
    "dash.points": "Places: {n}",
    "dash.by_zone": "{n} of them at their zone's centre",
    "dash.unplaced": "{n} not placed",
    "dash.truncated": "Too many tickets: only part of them is counted",
    "dash.public_note": "Residents see statistics of closed tickets only.",
    "dash.refresh": "Refreshes every {s} s",
    "dash.bad_query": "Bad parameter: {msg}",
    "dash.redis_down": "Redis {state}: camera states unknown",
    "dash.st.streaming": "Streaming",
    "dash.st.connecting": "Connecting",
    "dash.st.backoff": "Backing off",
    "dash.st.stopped": "Stopped",
    "dash.st.stale": "No status",
    "dash.st.disabled": "Disabled",
}
STRINGS = page_strings("dashboard", zh=_ZH, en=_EN)
STYLE = """
.dash{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,360px),1fr));gap:1rem;
margin-bottom:1rem}.dash>.card{margin:0;min-width:0}.card h3{margin:.2rem 0 .5rem}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .9rem;font-size:.85rem;
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
// Words with values ({n}, {days}) and labels of stored values, in the reader's language.
function localize(root) {
  for (const node of root.querySelectorAll('[data-i18n-vars]')) {
    node.textContent = HW.t(node.dataset.i18n, JSON.parse(node.dataset.i18nVars));
  }
  for (const node of root.querySelectorAll('[data-label]')) {
    const [group, key] = node.dataset.label.split(':');
    node.textContent = HW.label(group, key);
  }
}
localize(document);
async function refresh() {
  const msg = document.getElementById('msg');
  try {
    const r = await fetch(location.href, {credentials: 'same-origin'});
    if (r.status === 401 || r.redirected) { location.reload(); return; }
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const doc = new DOMParser().parseFromString(await r.text(), 'text/html');
    const fresh = doc.getElementById('panels');
    const old = document.getElementById('panels');
    if (fresh && old) {
      const node = document.importNode(fresh, true);
      HW.translate(node);
      localize(node);
      old.replaceWith(node);
    }
    msg.textContent = '';
  } catch (err) { msg.textContent = HW.t('common.error', {message: err.message}); }
}
setInterval(refresh, PAGE.refresh_s * 1000);
"""


def _w(key: str, tag: str = "span", attrs: str = "", **values: object) -> str:
    """The word ``dash.{key}`` as an element the scripts put in the reader's language
    (``data-i18n``; with values also ``data-i18n-vars``, read by this page's script). The
    Chinese text is in it already, for a reader without scripts."""
    full = f"dash.{key}"
    text = STRINGS["zh-CN"][full].format(**values)
    extra = f' data-i18n-vars="{esc(json.dumps(values, ensure_ascii=False))}"' if values else ""
    return f'<{tag}{attrs} data-i18n="{full}"{extra}>{esc(text)}</{tag}>'


def _both(key: str, **values: object) -> str:
    """Chinese and English at once, for SVG titles (no script translates those)."""
    zh, en = (STRINGS[lang][f"dash.{key}"].format(**values) for lang in ("zh-CN", "en"))
    return f"{zh} · {en}"


def _label(group: str, key: str) -> str:
    """A stored value's label (kind, status, level) in the reader's language (``data-label``)."""
    text = i18n_label("zh-CN", group, key)
    return f'<span data-label="{esc(group)}:{esc(key)}">{esc(text)}</span>'


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
    items = "".join(
        f'<li data-key="{esc(key)}" data-total="{count}"><span class="sw" '
        f'style="background:{charts.color_of(key)}"></span>{_label(group, key)} <b>{count}</b></li>'
        for key, count in totals.items()
    )
    return f'<ul class="legend" id="legend_{esc(group)}">{items}</ul>'


def _day_charts(data: Mapping[str, Any]) -> str:
    days = data["days"]
    short = [day[5:] for day in days]  # MM-DD
    out = []
    for group in GROUPS:
        svg = charts.stacked_bars(
            chart_id=f"chart_{group}",
            title=f"{_both('per_day')} · {_both('by_' + group)}",
            columns=days,
            series=data["series"][group],
            labels={key: bilingual_label(group, key) for key in data["series"][group]},
            column_labels=short,
        )
        out.append(
            f'<div class="card">{_w("by_" + group, "h3")}{svg}'
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
        late = _duration(int(item["overdue_s"]))
        items.append(
            f'<li data-ticket="{esc(item["id"])}"><b>{esc(item["code"])}</b> '
            f'<span class="lv lv-{esc(level)}">{_label("level", level)}</span> '
            f"{_label('kind', item['kind'])} · {_label('status', item['status'])}<br>"
            f'<span class="muted">{esc(item["camera_id"])}/{esc(item["zone"])} · '
            f"{esc(_local(item['deadline_at'], tz))} · {_w('overdue_by', text=late)}</span></li>"
        )
    total = int(overdue["total"])
    if not items:
        body = _w("none_overdue", "p", _MUTED)
    else:
        body = f'<ul class="overdue" id="overdue_list">{"".join(items)}</ul>'
        if total > len(items):
            body += _w("more_overdue", "p", _MUTED, n=total - len(items))
    return (
        f'<div class="card" id="overdue_card" data-total="{total}">'
        f"{_w('overdue_list', 'h3', n=total)}{body}</div>"
    )


def _hotspots(data: Mapping[str, Any], tz: ZoneInfo) -> str:
    spots = data.get("hotspots") or []
    items = []
    for spot in spots:
        level = str(spot["level"])
        facts = _w("hotspot_facts", hazards=spot.get("hazards") or 0, members=spot["members"])
        items.append(
            f'<li data-ticket="{esc(spot["id"])}" data-level="{esc(level)}">'
            f'<a href="/ui/review?ticket={esc(spot["id"])}"><b>{esc(spot["code"])}</b></a> '
            f'<span class="lv lv-{esc(level)}">{_label("level", level)}</span> '
            f"{_label('kind', spot['kind'])} · {_label('status', spot['status'])}<br>"
            f'<span class="muted">{esc(spot["camera_id"])}/{esc(spot["zone"])} · {facts} · '
            f"{esc(_local(spot['created_at'], tz))}</span></li>"
        )
    body = (
        f'<ul class="overdue" id="hotspot_list">{"".join(items)}</ul>'
        if items
        else _w("none_hotspots", "p", _MUTED)
    )
    return (
        f'<div class="card" id="hotspot_card" data-total="{len(spots)}">'
        f"{_w('hotspots', 'h3', n=len(spots))}{body}{_w('hotspot_rule', 'p', _MUTED)}</div>"
    )


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _camera_card(
    camera: Mapping[str, Any],
    heat: Mapping[str, Any],
    days: int,
    version: int,
    hotspots: Sequence[Mapping[str, Any]] = (),
) -> str:
    cid = str(camera["id"])
    points = heat.get("points", [])
    svg = charts.heat_map(
        chart_id=f"heat_{cid}",
        title=f"{_both('heat_note', days=days)} · {cid}",
        points=points,
        zones=heat.get("zones") or {},
        labels={key: bilingual_label("kind", key) for key in KIND_LABELS},
        hotspots=hotspots,
    )
    if camera["has_snapshot"]:
        # ?t= differs at each refresh, so the swapped-in picture is fetched anew, not reused
        src = f"/cameras/{esc(cid)}/snapshot.jpg?t={version}"
        image = f'<img src="{src}" alt="{esc(cid)}">'
        picture = f'<div class="pic">{image}{svg}</div>'
    else:
        empty = _w("no_picture", "span", ' class="nopic"')
        picture = f'<div class="pic empty">{empty}{svg}</div>'
    notes = [_w("points", n=len(points))]
    by_zone = sum(1 for p in points if p.get("source") == "zone")
    if by_zone:
        notes.append(_w("by_zone", n=by_zone))
    if heat.get("unplaced"):
        notes.append(_w("unplaced", n=int(heat["unplaced"])))
    state = str(camera["state"])
    state_key = f"st.{state}" if f"dash.st.{state}" in STRINGS["en"] else None
    state_text = _w(state_key) if state_key else esc(state)
    fps = f"{_number(camera.get('fps_in'))} / {_number(camera.get('fps_out'))}"
    rows = [
        (_w("state"), f'<span class="st st-{esc(state)}">{state_text}</span>'),
        (_w("fps"), esc(fps)),
        (_w("dropped"), esc(_number(camera.get("dropped")))),
        (_w("reconnects"), esc(_number(camera.get("reconnects")))),
    ]
    if camera.get("last_error"):
        rows.append((_w("last_error"), esc(camera["last_error"])))
    facts = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    name = camera.get("name") or ""
    heading = esc(cid) + (f' <span class="muted">{esc(name)}</span>' if name else "")
    return (
        f'<div class="card cam" id="cam_{esc(cid)}" data-camera="{esc(cid)}" '
        f'data-state="{esc(state)}"><h4>{heading}</h4>{picture}'
        f'<p class="muted">{" · ".join(notes)}</p><dl class="kv">{facts}</dl></div>'
    )


def _cameras(data: Mapping[str, Any], days: int) -> str:
    version = int(datetime.fromisoformat(data["generated_at"]).timestamp())
    spots = data.get("hotspots") or []
    cards = "".join(
        _camera_card(
            camera,
            data["heat"].get(camera["id"], {}),
            days,
            version,
            [s for s in spots if s["camera_id"] == camera["id"]],
        )
        for camera in data["cameras"]
    )
    redis = data.get("redis") or {}
    warning = ""
    if redis and redis.get("state") != "up":
        warning = _w("redis_down", "p", ' class="err"', state=str(redis.get("state")))
    return (
        f"{_w('cameras', 'h3')}{_w('heat_note', 'p', _MUTED, days=days)}"
        f'{warning}<div class="cams">{cards}</div>'
    )


def _tiles(data: Mapping[str, Any], overall: Mapping[str, Any]) -> str:
    def pct(value: Any) -> str:
        return "—" if value is None else f"{100 * value:.1f} %"

    tiles = [
        ("tickets", str(data["count"]), "tile_count"),
        ("rect_rate", pct(overall.get("rectification_rate")), "tile_rect"),
        ("repeat_rate", pct(overall.get("repeat_rate")), "tile_repeat"),
    ]
    if not data.get("public"):  # residents see closed tickets only: none can be overdue
        tiles.insert(1, ("overdue", str(data["overdue"]["total"]), "tile_overdue"))
        tiles.insert(2, ("tile_hotspots", str(len(data.get("hotspots") or [])), "tile_hotspots"))
    return "".join(
        f'<div class="tile" id="{tid}"><b>{esc(value)}</b>{_w(key, "span", _MUTED)}</div>'
        for key, value, tid in tiles
    )


def render_panels(
    data: Mapping[str, Any], overall: Mapping[str, Any], *, days: int, tz: ZoneInfo
) -> str:
    """The part of the page the script refreshes (``#panels``), from the dashboard record."""
    hours = charts.hour_histogram(
        chart_id="chart_hours", title=_both("hours_note", tz=data["tz"]), counts=data["hours"]
    )
    parts = [
        f'<div id="panels" data-count="{int(data["count"])}">',
        f'<div class="card">{_w("window", "h3", days=days)}'
        f'<div class="tiles">{_tiles(data, overall)}</div>',
    ]
    if data.get("truncated"):
        parts.append(_w("truncated", "p", ' class="err"'))
    if data.get("public"):
        parts.append(_w("public_note", "p", _MUTED))
    parts.append("</div>")
    parts.append(f'<div class="dash">{_day_charts(data)}')
    parts.append(
        f'<div class="card">{_w("hours", "h3")}{hours}'
        f"{_w('hours_note', 'p', _MUTED, tz=str(data['tz']))}</div>"
    )
    if not data.get("public"):
        parts.append(_overdue(data, tz))
        parts.append(_hotspots(data, tz))
    parts.append("</div>")
    if data["cameras"]:
        parts.append(_cameras(data, days))
    parts.append(f"{_w('refresh', 'p', _MUTED, s=REFRESH_S)}</div>")
    return "".join(parts)


def _controls(days: int, tz: str) -> str:
    choices = sorted({*DAY_CHOICES, days})
    options = "".join(
        f'<option value="{d}"{" selected" if d == days else ""}>{d}</option>' for d in choices
    )
    return (
        '<form class="controls card" method="get" action="/ui/dashboard">'
        f'<label>{_w("days")} <select name="days">{options}</select></label>'
        f'<label>{_w("tz")} <input name="tz" value="{esc(tz)}" maxlength="64"></label>'
        f'<button type="submit">{_w("show")}</button></form>'
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
    message = _w("bad_query", "span", msg=error) if error else ""
    body = (
        f"<style>{STYLE}</style>{_controls(days, tz_name)}"
        f'<p id="msg" class="err">{message}</p>'
        + render_panels(data, overall, days=days, tz=ZoneInfo(tz_name))
    )
    return layout(
        title=STRINGS["zh-CN"]["page.title"],
        active="dashboard",
        principal=principal,
        body=body,
        script=_SCRIPT,
        nonce=nonce,
        page_data={"tz": tz_name, "refresh_s": REFRESH_S, "public": principal.is_public},
        strings=STRINGS,
    )
