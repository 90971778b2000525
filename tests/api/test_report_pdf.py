"""The PDF report: made by WeasyPrint, rendered to PNG by pdftoppm, pages not blank, Chinese text
really in it (pdftotext reads 整改率 back, so the CJK font was found and embedded).

Without WeasyPrint or poppler-utils the tests skip naming what is missing; under CI they fail.
The rendered pages are kept in the test's tmp folder (``page-*.png``) for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from api.reports.build import ReportRequest, make_report, report_bytes
from api.reports.periods import period_containing
from api.settings.reports import ReportFormat
from hazardwatch.cli import main
from tests.api.report_seed import AS_OF, TZ, seed
from tests.support.assets import in_ci

pytestmark = pytest.mark.timeout(240)


def _require_pdf_tools() -> None:
    missing = []
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:
        missing.append(f"WeasyPrint ({exc}; make venv, make deps)")
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian package poppler-utils; make deps)")
    if missing:
        reason = "the PDF report tests need " + ", ".join(missing)
        if in_ci():
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)


def _pages(pdf: Path, out: Path) -> list[Path]:
    done = subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(pdf), str(out / "page")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return sorted(out.glob("page-*.png"))


def _ink(png: Path) -> float:
    """Share of the page's pixels that are not white."""
    image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert image is not None, png
    return float(np.mean(image < 235))


def _text(pdf: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh-CN", ("社区安全隐患周报", "整改率", "超期事项", "隐患热点", "消防通道堵塞")),
        ("en", ("weekly report", "Rectification rate", "Overdue items", "Hotspots")),
    ],
    ids=["zh-CN", "en"],
)
def test_pdf_pages_render_with_their_text(
    tmp_path: Path, lang: str, words: tuple[str, ...]
) -> None:
    _require_pdf_tools()
    store, _ids = seed(tmp_path / "data")
    live = tmp_path / "data" / "live"
    live.mkdir()
    picture = np.full((720, 1280, 3), 110, np.uint8)
    cv2.rectangle(picture, (80, 360), (420, 700), (60, 140, 60), -1)
    assert cv2.imwrite(str(live / "lane.jpg"), picture)
    period = period_containing("week", date(2026, 11, 18), TZ)
    try:
        html, _ = make_report(
            store, ReportRequest(period, lang), as_of=AS_OF, data_dir=tmp_path / "data"
        )
    finally:
        store.close()
    pdf = tmp_path / f"week.{lang}.pdf"
    pdf.write_bytes(report_bytes(html, ReportFormat.PDF))
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = _pages(pdf, tmp_path)
    assert pages, "pdftoppm rendered no page"
    inks = [_ink(p) for p in pages]
    assert all(ink > 0.01 for ink in inks), inks  # no blank page
    assert max(inks) > 0.05, inks  # charts, tables and the heat map's picture
    text = _text(pdf)
    for word in words:
        assert word in text, (word, text[:400])


def test_cli_writes_a_pdf(tmp_path: Path) -> None:
    _require_pdf_tools()
    store, _ids = seed(tmp_path / "data")
    store.close()
    out = tmp_path / "month.pdf"
    argv = ["report", "--period", "month", "--at", "2026-11-10", "--data-dir"]
    assert main([*argv, str(tmp_path / "data"), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert "社区安全隐患月报" in _text(out)
