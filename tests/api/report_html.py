"""Reading a report's HTML back: the embedded JSON and the numbers' ``data-*`` attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any


@dataclass
class ReadReport:
    """What a report document says, as the tests read it."""

    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, str] = field(default_factory=dict)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> key -> count
    overdue: list[dict[str, str]] = field(default_factory=list)
    hotspots: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, dict[str, str]] = field(default_factory=dict)  # camera -> attrs
    images: list[str] = field(default_factory=list)  # <img src> values
    svg_ids: list[str] = field(default_factory=list)
    text: str = ""
    lang: str = ""


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = ReadReport()
        self._in_json = False
        self._json: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.out.lang = a.get("lang", "")
        if tag == "script" and a.get("id") == "report-data":
            self._in_json = True
        if "data-metric" in a:
            self.out.metrics[a["data-metric"]] = a.get("data-value", "")
        if tag == "tr" and "data-group" in a:
            self.out.rows.setdefault(a["data-group"], {})[a["data-key"]] = int(a["data-count"])
        if tag == "tr" and "overdue" in a.get("class", "").split():
            self.out.overdue.append(a)
        if tag == "tr" and "hotspot" in a.get("class", "").split():
            self.out.hotspots.append(a)
        if tag == "figure" and "data-camera" in a:
            self.out.figures[a["data-camera"]] = a
        if tag == "img":
            self.out.images.append(a.get("src", ""))
        if tag == "svg" and "id" in a:
            self.out.svg_ids.append(a["id"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = False

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self._json.append(data)
        else:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self.out.data = json.loads("".join(self._json))
        self.out.text = " ".join(self._text)


def read_report(html: str) -> ReadReport:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.out
