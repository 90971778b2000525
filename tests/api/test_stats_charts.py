"""Server-drawn SVG charts (api.pages.charts): well-formed, escaped, the numbers readable back."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from api.pages.charts import heat_map, hour_histogram, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(1)</script>\"&'"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stacked_bars_segments_hold_every_count(seed: int) -> None:
    rng = random.Random(seed)
    columns = [f"2026-12-{d:02d}" for d in range(1, 15)]
    series = {key: [rng.randrange(0, 6) for _ in columns] for key in ("a", "b", "c")}
    root = parse(stacked_bars(chart_id="c", title="t", columns=columns, series=series, labels={}))
    drawn = {
        (rect.get("data-key"), rect.get("data-col")): int(rect.get("data-count") or 0)
        for rect in root.iter(f"{SVG}rect")
    }
    expected = {
        (key, col): n
        for key, counts in series.items()
        for col, n in zip(columns, counts, strict=True)
        if n
    }
    assert drawn == expected
    assert root.get("data-total") == str(sum(sum(v) for v in series.values()))
    # Bar heights are proportional to the column totals.
    heights: dict[str, float] = {}
    for rect in root.iter(f"{SVG}rect"):
        col = rect.get("data-col") or ""
        heights[col] = heights.get(col, 0.0) + float(rect.get("height") or 0)
    totals = {col: sum(series[k][i] for k in series) for i, col in enumerate(columns)}
    tallest = max(totals, key=lambda c: totals[c])
    per_unit = heights[tallest] / totals[tallest]
    for col, total in totals.items():
        assert heights.get(col, 0.0) == pytest.approx(per_unit * total, abs=0.05), col


def test_stacked_bars_refuses_a_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="'a' has 2 counts for 3 columns"):
        stacked_bars(
            chart_id="c", title="t", columns=["1", "2", "3"], series={"a": [1, 2]}, labels={}
        )


def test_text_is_escaped() -> None:
    svg = stacked_bars(
        chart_id=HOSTILE,
        title=HOSTILE,
        columns=[HOSTILE],
        series={HOSTILE: [2]},
        labels={HOSTILE: HOSTILE},
    )
    heat = heat_map(
        chart_id="h",
        title=HOSTILE,
        points=[{"x": 0.5, "y": 0.5, "ticket": HOSTILE, "kind": HOSTILE, "code": HOSTILE}],
        zones={HOSTILE: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]},
    )
    for text in (svg, heat):
        assert "<script>" not in text
        root = parse(text)  # attributes with quotes stayed inside their attribute
        assert root.tag == f"{SVG}svg"
    rect = next(parse(svg).iter(f"{SVG}rect"))
    assert rect.get("data-key") == HOSTILE  # escaped in the markup, intact as data


def test_hour_histogram_has_24_hours() -> None:
    counts = [h % 5 for h in range(24)]
    root = parse(hour_histogram(chart_id="h", title="t", counts=counts))
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "hour"]
    assert [int(r.get("data-hour") or -1) for r in bars] == list(range(24))
    assert [int(r.get("data-count") or -1) for r in bars] == counts
    with pytest.raises(ValueError, match="24 counts, got 23"):
        hour_histogram(chart_id="h", title="t", counts=[0] * 23)


def test_heat_map_cells_count_the_points() -> None:
    rng = random.Random(7)
    points = [{"x": rng.random(), "y": rng.random(), "ticket": str(i)} for i in range(200)]
    points.append({"x": 1.0, "y": 1.0, "ticket": "corner"})  # the far edge is in the last cell
    root = parse(heat_map(chart_id="h", title="t", points=points, cols=4, rows=3))
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "cell"]
    expected: dict[tuple[int, int], int] = {}
    for p in points:
        key = (min(int(p["x"] * 4), 3), min(int(p["y"] * 3), 2))
        expected[key] = expected.get(key, 0) + 1
    got = {
        (round(float(c.get("x") or 0) / 250), round(float(c.get("y") or 0) / (1000 / 3))): int(
            c.get("data-count") or 0
        )
        for c in cells
    }
    assert got == expected
    circles = list(root.iter(f"{SVG}circle"))
    assert len(circles) == len(points) == int(root.get("data-points") or 0)
    corner = next(c for c in circles if c.get("data-ticket") == "corner")
    assert (corner.get("cx"), corner.get("cy")) == ("1000", "1000")
