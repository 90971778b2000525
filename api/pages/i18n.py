"""The pages' two languages, 简体中文 (zh-CN) and English (en), with the users' own terms.

A page declares its words once, in both languages, with :func:`page_strings`; the frame
(:func:`api.pages.common.layout`) sends both dictionaries, and the browser shows the one its user
chose (see :mod:`api.pages.common` for how a page uses them). The terms are those of the property
offices' own documents (../shared/DOMAIN.md, ARCHITECTURE.md §12): 发现 → 上报 → 核实 → 整改 →
复查 → 销号, 注销 for a false report, 蓝/黄/橙/红 levels, 网格员 grid worker.

Why both in the page rather than choosing on the server: the choice follows the browser
(``navigator.languages``, the same list it sends as ``Accept-Language``) until the user switches,
and the switch is remembered in the browser (``localStorage`` and a ``hw_lang`` cookie), so one
cached-nowhere page serves both and a switch needs no server round trip of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LANGUAGES: tuple[str, ...] = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}
LANG_STORAGE_KEY = "hw-lang"  # localStorage key
LANG_COOKIE = "hw_lang"

Strings = dict[str, dict[str, str]]  # language -> key -> text
_KEY = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class StringsError(ValueError):
    """A page's dictionary is incomplete or malformed (raised at import, so no page ships so)."""


def page_strings(page: str, *, zh: Mapping[str, str], en: Mapping[str, str]) -> Strings:
    """One page's words in both languages, checked: the same keys, the same ``{placeholders}``.

    Args:
        page: the page's name, for the error message.
        zh: key -> Chinese text (the users' terms).
        en: key -> English text.

    Raises:
        StringsError: a key is in one language only, is not ``[a-z][a-z0-9_.]*``, a text is
            empty, or the two texts of a key name different ``{placeholders}``.
    """
    only_zh = sorted(set(zh) - set(en))
    only_en = sorted(set(en) - set(zh))
    if only_zh or only_en:
        raise StringsError(
            f"page {page!r}: keys missing in English: {only_zh or 'none'}; "
            f"missing in Chinese: {only_en or 'none'}"
        )
    for key in zh:
        if not _KEY.fullmatch(key):
            raise StringsError(f"page {page!r}: key {key!r} is not [a-z][a-z0-9_.]* (<= 64)")
        if not zh[key].strip() or not en[key].strip():
            raise StringsError(f"page {page!r}: key {key!r} has an empty text")
        names_zh = set(_PLACEHOLDER.findall(zh[key]))
        names_en = set(_PLACEHOLDER.findall(en[key]))
        if names_zh != names_en:
            raise StringsError(
                f"page {page!r}: key {key!r} has placeholders {sorted(names_zh)} in Chinese "
                f"but {sorted(names_en)} in English"
            )
    return {"zh-CN": dict(zh), "en": dict(en)}


def merge_strings(*parts: Strings) -> Strings:
    """Several dictionaries in one; a key defined twice with different texts is an error.

    Raises:
        StringsError: naming the key and the two texts.
    """
    merged: Strings = {lang: {} for lang in LANGUAGES}
    for part in parts:
        for lang in LANGUAGES:
            for key, text in part.get(lang, {}).items():
                old = merged[lang].get(key)
                if old is not None and old != text:
                    raise StringsError(
                        f"key {key!r} ({lang}) is defined twice: {old!r} and {text!r}"
                    )
                merged[lang][key] = text
    return merged


# ----- the labels of stored values (statuses, levels, kinds, roles) ----------------------------

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "zh-CN": {
        "status": {
            "discovered": "发现",
            "reported": "上报",
            "verified": "核实",
            "rectifying": "整改",
            "rechecked": "复查",
            "closed": "销号",
            "rejected": "注销",
            "reopened": "重新打开",
        },
        "level": {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
        "kind": {
            "fire_lane_blocked": "消防通道堵塞",
            "ebike_entry": "电动车进电梯",
            "falling_object": "高空抛物",
        },
        "role": {
            "admin": "管理员",
            "reviewer": "审核员",
            "grid_worker": "网格员",
            "public": "居民",
        },
    },
    "en": {
        "status": {
            "discovered": "Discovered",
            "reported": "Reported",
            "verified": "Verified",
            "rectifying": "Rectifying",
            "rechecked": "Rechecked",
            "closed": "Closed",
            "rejected": "Rejected",
            "reopened": "Reopened",
        },
        "level": {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"},
        "kind": {
            "fire_lane_blocked": "Fire lane blocked",
            "ebike_entry": "E-bike in lift",
            "falling_object": "Falling object",
        },
        "role": {
            "admin": "Admin",
            "reviewer": "Reviewer",
            "grid_worker": "Grid worker",
            "public": "Resident",
        },
    },
}


def label(lang: str, group: str, key: str) -> str:
    """The label of a stored value (``label("en", "status", "closed")`` -> ``"Closed"``)."""
    return LABELS.get(lang, LABELS[DEFAULT_LANGUAGE]).get(group, {}).get(key, key)


def bilingual_label(group: str, key: str) -> str:
    """Chinese first, English beside it, for text that must read in both at once."""
    zh, en = label("zh-CN", group, key), label("en", group, key)
    return zh if zh == en else f"{zh} {en}"


# ----- the frame's own words (header, navigation, generic words every page may use) -----------

COMMON = page_strings(
    "common",
    zh={
        "app.name": "社区安全隐患",
        "nav.review": "审核",
        "nav.dashboard": "看板",
        "nav.zones": "区域",
        "nav.dispatch": "派单",
        "nav.logout": "退出",
        "lang.switch": "English",
        "lang.switch_title": "切换到英文",
        "common.none": "—",
        "common.error": "出错了：{message}",
        "common.loading": "加载中…",
    },
    en={
        "app.name": "Community safety",
        "nav.review": "Review",
        "nav.dashboard": "Dashboard",
        "nav.zones": "Zones",
        "nav.dispatch": "Dispatch",
        "nav.logout": "Log out",
        "lang.switch": "中文",
        "lang.switch_title": "Switch to Chinese",
        "common.none": "—",
        "common.error": "Something went wrong: {message}",
        "common.loading": "Loading…",
    },
)
