"""What a notification says to people: its events, title, markdown, plain text and HTML.

The notification itself is the JSON of :func:`api.notifications.notification`. Group bots and
e-mail are read by the office's staff on a phone, so the text is Chinese in the users' own terms
(``../shared/DOMAIN.md``, the labels of :mod:`api.pages.i18n`): code, hazard kind, level,
camera and zone, the step's deadline in local time, and a link to the ticket's review page.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from api.notifications import URGENT_LEVELS
from api.pages.i18n import label

__all__ = ["Rendered", "events_of", "render", "ticket_link"]

_ZH = "zh-CN"

# What each outbox type is, in the channels' terms (api.settings.notify.NotifyEvent).
_TITLES = {
    "created": "新工单",
    "urgent_ticket": "新工单（紧急）",
    "escalated": "超时预警·自动升级",
    "level_raised": "等级提升",
    "rechecked": "复查通过",
    "reopened": "隐患复发·重新打开",
    "hotspot": "隐患热点·区域预警",
}
# Markdown colours of the WeCom bot ("warning" is orange, "comment" grey, "info" green).
_LEVEL_COLOURS = {"red": "warning", "orange": "warning", "yellow": "comment", "blue": "info"}


def events_of(note: Mapping[str, Any]) -> frozenset[str]:
    """The channel events (``created``, ``overdue``, ``escalated``, ``rechecked``,
    ``reopened``, ``hotspot``) a notification counts as; empty for a type no channel subscribes
    to.

    An ``escalated`` notification is always ``overdue`` (the store escalates a ticket when its
    step's deadline has passed) and also ``escalated`` when its level went up (a red ticket stays
    red and is only overdue again).
    """
    kind = note.get("type")
    if kind in ("created", "urgent_ticket"):
        return frozenset({"created"})
    if kind == "escalated":
        raised = note.get("level_from") is None or note.get("level_from") != note.get("level_to")
        return frozenset({"overdue", "escalated"} if raised else {"overdue"})
    if kind == "level_raised":
        return frozenset({"escalated"})
    if kind in ("rechecked", "reopened", "hotspot"):
        return frozenset({str(kind)})
    return frozenset()


def is_urgent(note: Mapping[str, Any]) -> bool:
    return note.get("level") in URGENT_LEVELS


def ticket_link(base_url: str | None, ticket_id: str) -> str | None:
    """The ticket's review page, or None without a ``public_base_url``."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/ui/review?ticket={quote(ticket_id, safe='')}"


@dataclass(frozen=True)
class Rendered:
    """One notification as text: a short title, markdown for the bots, plain text and HTML."""

    title: str
    markdown: str
    plain: str
    html: str
    link: str | None


def _local(value: Any, zone: ZoneInfo) -> str:
    if not isinstance(value, str) or not value:
        return "无"
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _rows(note: Mapping[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    rows = [
        ("工单编号", str(note.get("code", ""))),
        ("隐患类型", label(_ZH, "kind", str(note.get("kind", "")))),
        ("风险等级", label(_ZH, "level", str(note.get("level", "")))),
        ("当前状态", label(_ZH, "status", str(note.get("status", "")))),
        ("摄像头/区域", f"{note.get('camera_id', '')} / {note.get('zone', '')}"),
        ("处置期限", _local(note.get("deadline_at"), zone)),
    ]
    for key, name in (("responsible_unit", "责任单位"), ("responsible_person", "责任人")):
        if note.get(key):
            rows.append((name, str(note[key])))
    if note.get("escalations"):
        rows.append(("升级次数", str(note["escalations"])))
    if note.get("note"):
        rows.append(("说明", str(note["note"])[:500]))
    rows.append(("时间", _local(note.get("at"), zone)))
    return rows


def render(note: Mapping[str, Any], *, base_url: str | None, timezone: str) -> Rendered:
    """The texts of ``note``; user-supplied values are escaped in the HTML."""
    zone = ZoneInfo(timezone)
    kind_label = label(_ZH, "kind", str(note.get("kind", "")))
    level = str(note.get("level", ""))
    level_label = label(_ZH, "level", level)
    headline = _TITLES.get(str(note.get("type")), str(note.get("type")))
    title = f"【隐患工单】{headline}：{level_label} {kind_label} {note.get('code', '')}"
    link = ticket_link(base_url, str(note.get("ticket_id", "")))
    rows = _rows(note, zone)
    colour = _LEVEL_COLOURS.get(level, "comment")
    md = [f"### 【隐患工单】{headline}", ""]
    for name, value in rows:
        shown = f'<font color="{colour}">{value}</font>' if name == "风险等级" else value
        md.append(f"> {name}：{shown}")
    if link:
        md += ["", f"[查看工单 →]({link})"]
    plain = [title, ""] + [f"{name}：{value}" for name, value in rows]
    if link:
        plain += ["", f"查看工单：{link}"]
    cells = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    anchor = f"<p><a href='{html.escape(link)}'>查看工单</a></p>" if link else ""
    body = (
        "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><body>"
        f"<h3>{html.escape(title)}</h3><table>{cells}</table>{anchor}"
        "<p style='color:#888'>hazardwatch 社区安全隐患排查</p></body></html>"
    )
    return Rendered(title, "\n".join(md), "\n".join(plain) + "\n", body, link)
