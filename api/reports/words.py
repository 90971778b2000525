"""The report's words in 简体中文 and English, in the offices' own terms (../shared/DOMAIN.md).

Checked like the pages' words (:func:`api.pages.i18n.page_strings`: the same keys and the same
``{placeholders}`` in both languages). Labels of kinds, levels and statuses come from
:data:`api.pages.i18n.LABELS`, so a report and the web pages name things alike.
"""

from __future__ import annotations

from api.pages.i18n import label, page_strings

STRINGS = page_strings(
    "report",
    zh={
        "title.week": "社区安全隐患周报",
        "title.month": "社区安全隐患月报",
        "period": "统计周期",
        "area": "区域",
        "area.all": "全部区域",
        "as_of": "数据截至",
        "tz": "时区",
        "summary": "总体情况",
        "total": "发现隐患（工单）",
        "closed": "已整改销号",
        "needing": "需整改",
        "rejected": "注销（误报）",
        "rect_rate": "整改率",
        "repeat_rate": "重复率",
        "repeat_tickets": "重复发生的工单",
        "overdue_total": "超期未整改",
        "escalated": "超时升级督办",
        "target.rect": "目标 ≥ 95%",
        "target.repeat": "目标 ≤ 5%",
        "rates_note": "整改率 = 已销号 / (全部 − 注销)；"
        "重复率 = 含多次隐患的工单 / (全部 − 注销)。",
        "by_kind": "按隐患类型",
        "by_level": "按风险等级",
        "by_status": "按处置环节",
        "by_camera": "按摄像头",
        "col.kind": "类型",
        "col.level": "等级",
        "col.status": "环节",
        "col.camera": "摄像头",
        "col.zone": "区域/点位",
        "col.count": "数量",
        "col.share": "占比",
        "col.code": "编号",
        "col.created": "发现时间",
        "col.deadline": "期限",
        "col.overdue_h": "超期（小时）",
        "col.hazards": "隐患次数",
        "col.tickets": "工单",
        "trend": "趋势",
        "trend.kind": "每日新增隐患（按类型）",
        "trend.level": "每日新增隐患（按等级）",
        "overdue": "超期事项",
        "overdue.none": "本期无超期事项。",
        "overdue.more": "另有 {n} 项未列出。",
        "hotspots": "隐患热点",
        "hotspots.rule": "同一摄像头、同一点位、同一类型在本期发生 {n} 次及以上为热点（黄色）；"
        "同一区域内同一类型有 {places} 处及以上热点为系统性风险（红色）。",
        "hotspots.none": "本期无隐患热点。",
        "heat": "隐患位置热力图",
        "heat.camera": "摄像头 {camera}：{n} 处",
        "heat.no_picture": "无实时画面",
        "heat.unplaced": "{n} 个工单无位置信息",
        "empty": "本期无隐患工单。",
        "footer": "由 hazardwatch 生成 · 生成时间 {at}",
    },
    en={
        "title.week": "Community safety hazards: weekly report",
        "title.month": "Community safety hazards: monthly report",
        "period": "Period",
        "area": "Area",
        "area.all": "All areas",
        "as_of": "Data as of",
        "tz": "Time zone",
        "summary": "Summary",
        "total": "Hazards found (tickets)",
        "closed": "Rectified and closed",
        "needing": "Needing rectification",
        "rejected": "Rejected (false reports)",
        "rect_rate": "Rectification rate",
        "repeat_rate": "Repeat rate",
        "repeat_tickets": "Tickets with repeats",
        "overdue_total": "Overdue",
        "escalated": "Escalated for being overdue",
        "target.rect": "target ≥ 95%",
        "target.repeat": "target ≤ 5%",
        "rates_note": "Rectification rate = closed / (all − rejected); repeat rate = tickets "
        "with more than one hazard / (all − rejected).",
        "by_kind": "By hazard kind",
        "by_level": "By risk level",
        "by_status": "By step of the loop",
        "by_camera": "By camera",
        "col.kind": "Kind",
        "col.level": "Level",
        "col.status": "Step",
        "col.camera": "Camera",
        "col.zone": "Zone",
        "col.count": "Count",
        "col.share": "Share",
        "col.code": "Code",
        "col.created": "Found",
        "col.deadline": "Deadline",
        "col.overdue_h": "Overdue (h)",
        "col.hazards": "Hazards",
        "col.tickets": "Tickets",
        "trend": "Trend",
        "trend.kind": "New hazards per day (by kind)",
        "trend.level": "New hazards per day (by level)",
        "overdue": "Overdue items",
        "overdue.none": "Nothing overdue in this period.",
        "overdue.more": "{n} more not listed.",
        "hotspots": "Hotspots",
        "hotspots.rule": "One kind at one camera and zone {n} times or more in the period is a "
        "hotspot (yellow); one kind a hotspot at {places} or more places of one area is a systemic "
        "risk (red).",
        "hotspots.none": "No hotspots in this period.",
        "heat": "Heat maps of hazard locations",
        "heat.camera": "Camera {camera}: {n} places",
        "heat.no_picture": "No live picture",
        "heat.unplaced": "{n} tickets without a location",
        "empty": "No hazard tickets in this period.",
        "footer": "Made by hazardwatch · generated {at}",
    },
)


def word(lang: str, key: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with its ``{placeholders}`` filled.

    Raises:
        KeyError: an unknown language or key (a bug in the report's code, not in its data).
    """
    text = STRINGS[lang][key]
    return text.format(**values) if values else text


def value_label(lang: str, group: str, key: str) -> str:
    """A stored value's label (kind, level, status) in ``lang``."""
    return label(lang, group, key)
