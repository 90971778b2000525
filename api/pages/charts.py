"""Charts drawn by the server as SVG: stacked bars per day, a 24-hour histogram, a heat map.

No JavaScript library and no build step: each function returns one ``<svg>`` element as text,
inserted into the page by the server. Every text that reaches the markup (labels, keys, ticket
codes) goes through :func:`html.escape`, and numbers are formatted here, so data cannot add
markup. Each drawn datum carries ``data-*`` attributes (its key, day or hour, count, ticket) so
a test, or a screen reader's title, can read the numbers back from the drawing.

Charts scale with their container (``viewBox`` with ``width="100%"``), so they fit a phone.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

# Colours: hazard kinds, ticket statuses and levels (levels match the page's .lv-* badges).
COLORS: dict[str, str] = {
    "fire_lane_blocked": "#c62828",
    "ebike_entry": "#e8700a",
    "falling_object": "#6a1b9a",
    "discovered": "#546e7a",
    "reported": "#1e88e5",
    "verified": "#3949ab",
    "rectifying": "#f9a825",
    "rechecked": "#00897b",
    "closed": "#2e7d32",
    "rejected": "#9e9e9e",
    "reopened": "#d81b60",
    "blue": "#2a6fdb",
    "yellow": "#d4a20b",
    "orange": "#e8700a",
    "red": "#c62828",
}
_FALLBACK = "#78909c"
_AXIS = "#8a99a8"
_TEXT = "#1d2430"


def esc(text: object) -> str:
    """``text`` safe inside SVG/HTML text and double-quoted attributes."""
    return html.escape(str(text), quote=True)


def color_of(key: str) -> str:
    return COLORS.get(key, _FALLBACK)


def _num(value: float) -> str:
    """A coordinate with at most 2 decimals and no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _svg_open(chart_id: str, title: str, width: int, height: int, extra: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{esc(chart_id)}" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(title)}"'
        f"{extra}><title>{esc(title)}</title>"
    )


def _y_axis(top: float, bottom: float, left: float, right: float, peak: int) -> list[str]:
    """Base line, top grid line and the peak count as the only tick (enough at a glance)."""
    return [
        f'<line x1="{_num(left)}" y1="{_num(bottom)}" x2="{_num(right)}" y2="{_num(bottom)}" '
        f'stroke="{_AXIS}"/>',
        f'<line x1="{_num(left)}" y1="{_num(top)}" x2="{_num(right)}" y2="{_num(top)}" '
        f'stroke="{_AXIS}" stroke-dasharray="3 3"/>',
        f'<text x="{_num(left - 4)}" y="{_num(top + 4)}" text-anchor="end" font-size="11" '
        f'fill="{_TEXT}">{peak}</text>',
        f'<text x="{_num(left - 4)}" y="{_num(bottom)}" text-anchor="end" font-size="11" '
        f'fill="{_TEXT}">0</text>',
    ]


def stacked_bars(
    *,
    chart_id: str,
    title: str,
    columns: Sequence[str],
    series: Mapping[str, Sequence[int]],
    labels: Mapping[str, str],
    column_labels: Sequence[str] | None = None,
    width: int = 360,
    height: int = 170,
) -> str:
    """One bar per column (a day), stacked by series key (a kind, status or level).

    Args:
        chart_id: the ``id`` of the ``<svg>``.
        title: the chart's accessible title.
        columns: the column keys (ISO days), in order; written as ``data-col``.
        series: key -> one count per column (same length as ``columns``).
        labels: key -> text shown in each segment's tooltip.
        column_labels: short x-axis texts (default the columns themselves).

    Returns:
        The ``<svg>`` text; each non-empty segment is a ``<rect class="seg">`` with
        ``data-key``, ``data-col`` and ``data-count``; the root carries ``data-total``.

    Raises:
        ValueError: a series' length differs from the number of columns.
    """
    n = len(columns)
    for key, counts in series.items():
        if len(counts) != n:
            raise ValueError(f"series {key!r} has {len(counts)} counts for {n} columns")
    shown = list(column_labels) if column_labels is not None else list(columns)
    column_totals = [sum(counts[i] for counts in series.values()) for i in range(n)]
    total = sum(column_totals)
    peak = max(column_totals, default=0) or 1
    left, right, top, bottom = 30.0, width - 6.0, 8.0, height - 22.0
    slot = (right - left) / max(n, 1)
    bar = max(slot * 0.75, 1.0)
    parts = [_svg_open(chart_id, title, width, height, f' data-total="{total}"')]
    parts += _y_axis(top, bottom, left, right, peak)
    for i, column in enumerate(columns):
        x = left + i * slot + (slot - bar) / 2
        y = bottom
        for key, counts in series.items():
            count = counts[i]
            if count <= 0:
                continue
            h = (bottom - top) * count / peak
            y -= h
            tip = f"{column} · {labels.get(key, key)}: {count}"
            parts.append(
                f'<rect class="seg" data-key="{esc(key)}" data-col="{esc(column)}" '
                f'data-count="{count}" x="{_num(x)}" y="{_num(y)}" width="{_num(bar)}" '
                f'height="{_num(h)}" fill="{color_of(key)}"><title>{esc(tip)}</title></rect>'
            )
    step = max(1, -(-n // 7))  # at most about 7 x labels
    for i in range(0, n, step):
        x = left + i * slot + slot / 2
        parts.append(
            f'<text x="{_num(x)}" y="{_num(height - 6)}" text-anchor="middle" font-size="11" '
            f'fill="{_TEXT}">{esc(shown[i])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hour_histogram(
    *, chart_id: str, title: str, counts: Sequence[int], width: int = 360, height: int = 150
) -> str:
    """24 bars, one per local hour (0..23).

    Returns:
        The ``<svg>`` text; each hour is a ``<rect class="hour">`` with ``data-hour`` and
        ``data-count`` (hours with no ticket too, height 0); the root carries ``data-total``.

    Raises:
        ValueError: not exactly 24 counts.
    """
    if len(counts) != 24:
        raise ValueError(f"an hour histogram needs 24 counts, got {len(counts)}")
    total = sum(counts)
    peak = max(counts) or 1
    left, right, top, bottom = 30.0, width - 6.0, 8.0, height - 22.0
    slot = (right - left) / 24
    parts = [_svg_open(chart_id, title, width, height, f' data-total="{total}"')]
    parts += _y_axis(top, bottom, left, right, peak)
    for hour, count in enumerate(counts):
        h = (bottom - top) * count / peak
        x = left + hour * slot + slot * 0.1
        parts.append(
            f'<rect class="hour" data-hour="{hour}" data-count="{count}" x="{_num(x)}" '
            f'y="{_num(bottom - h)}" width="{_num(slot * 0.8)}" height="{_num(h)}" '
            f'fill="#457b9d"><title>{hour:02d}:00–{hour:02d}:59: {count}</title></rect>'
        )
    for hour in range(0, 24, 3):
        x = left + hour * slot + slot / 2
        parts.append(
            f'<text x="{_num(x)}" y="{_num(height - 6)}" text-anchor="middle" font-size="11" '
            f'fill="{_TEXT}">{hour:02d}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cell_counts(
    points: Sequence[Mapping[str, Any]], cols: int, rows: int
) -> dict[tuple[int, int], int]:
    cells: dict[tuple[int, int], int] = {}
    for point in points:
        col = min(int(float(point["x"]) * cols), cols - 1)
        row = min(int(float(point["y"]) * rows), rows - 1)
        cells[(col, row)] = cells.get((col, row), 0) + 1
    return cells


def heat_map(
    *,
    chart_id: str,
    title: str,
    points: Sequence[Mapping[str, Any]],
    zones: Mapping[str, Sequence[Sequence[float]]] | None = None,
    labels: Mapping[str, str] | None = None,
    cols: int = 16,
    rows: int = 9,
    hotspots: Sequence[Mapping[str, Any]] = (),
) -> str:
    """A heat map in normalised picture coordinates, to lay over the camera's picture.

    The ``<svg>`` stretches over its box (``preserveAspectRatio="none"``, viewBox 1000 × 1000),
    so the page sizes it to the picture. Points are counted into ``cols`` × ``rows`` cells (a
    ``<rect class="cell">`` with ``data-count`` and an opacity growing with it); each point is
    also a small ``<circle class="pt">`` with ``data-ticket``, ``data-kind`` and ``data-source``;
    zones are outlined with their names.

    Args:
        points: ``{"x", "y"}`` in 0..1 (plus ``ticket``, ``code``, ``kind``, ``source``).
        zones: zone name -> its polygon (or line) in normalised points.
        labels: kind -> text for the points' tooltips.
        hotspots: open hotspot tickets (api.hotspots) at their zone's ``centre`` (``x``, ``y``
            in 0..1), drawn as a ring of their level's colour (``<circle class="hotspot">``
            with ``data-ticket`` and ``data-level``).
    """
    size = 1000
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{esc(chart_id)}" class="heat" '
        f'viewBox="0 0 {size} {size}" preserveAspectRatio="none" role="img" '
        f'aria-label="{esc(title)}" data-points="{len(points)}"><title>{esc(title)}</title>'
    ]
    for name, vertices in (zones or {}).items():
        coords = " ".join(f"{_num(x * size)},{_num(y * size)}" for x, y, *_ in vertices)
        tag = "polygon" if len(vertices) > 2 else "polyline"
        parts.append(
            f'<{tag} class="zone" data-zone="{esc(name)}" points="{coords}" fill="none" '
            f'stroke="#ffffff" stroke-width="3" stroke-dasharray="12 8" '
            f'vector-effect="non-scaling-stroke"><title>{esc(name)}</title></{tag}>'
        )
    cells = _cell_counts(points, cols, rows)
    peak = max(cells.values(), default=1)
    cw, ch = size / cols, size / rows
    for (col, row), count in sorted(cells.items()):
        opacity = 0.25 + 0.55 * count / peak
        parts.append(
            f'<rect class="cell" data-count="{count}" x="{_num(col * cw)}" y="{_num(row * ch)}" '
            f'width="{_num(cw)}" height="{_num(ch)}" fill="#ff3d00" '
            f'fill-opacity="{opacity:.2f}"><title>{count}</title></rect>'
        )
    names = labels or {}
    for point in points:
        kind = str(point.get("kind", ""))
        tip = f"{point.get('code', '')} · {names.get(kind, kind)} ({point.get('source', '')})"
        parts.append(
            f'<circle class="pt" data-ticket="{esc(point.get("ticket", ""))}" '
            f'data-kind="{esc(kind)}" data-source="{esc(point.get("source", ""))}" '
            f'cx="{_num(float(point["x"]) * size)}" cy="{_num(float(point["y"]) * size)}" r="12" '
            f'fill="{color_of(kind)}" stroke="#ffffff" stroke-width="1.5" '
            f'vector-effect="non-scaling-stroke"><title>{esc(tip)}</title></circle>'
        )
    for spot in hotspots:
        centre = spot.get("centre")
        if not centre:
            continue
        level = str(spot.get("level", ""))
        parts.append(
            f'<circle class="hotspot" data-ticket="{esc(spot.get("id", ""))}" '
            f'data-level="{esc(level)}" cx="{_num(float(centre[0]) * size)}" '
            f'cy="{_num(float(centre[1]) * size)}" r="70" fill="none" stroke="{color_of(level)}" '
            f'stroke-width="5" vector-effect="non-scaling-stroke">'
            f"<title>{esc(spot.get('code', ''))}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
