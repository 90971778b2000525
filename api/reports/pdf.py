"""The PDF of a report: the HTML document laid out by WeasyPrint (no hand-made PDF).

WeasyPrint needs Pango, HarfBuzz and fontconfig from the system (Debian: ``libpango-1.0-0``,
``libpangoft2-1.0-0``, ``libharfbuzz-subset0``, in the Makefile's DEB_PACKAGES) and a CJK font
for the Chinese text (``fonts-noto-cjk``). It is imported only when a PDF is asked for, so the
HTML report and the ticket service work without it.
"""

from __future__ import annotations

import logging

from api.errors import ApiError

logger = logging.getLogger(__name__)


class ReportError(ApiError):
    """A report cannot be made: bad input (period, language, output name) or a missing part."""


def html_to_pdf(html: str) -> bytes:
    """The PDF bytes of ``html`` (a self-contained document: no file or URL is fetched).

    Raises:
        ReportError: WeasyPrint (or the system libraries it loads) is not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:
        raise ReportError(
            f"a PDF report needs WeasyPrint and Pango ({exc}); install the Python package "
            "'weasyprint' and the Debian packages libpango-1.0-0 libpangoft2-1.0-0 "
            "libharfbuzz-subset0 fonts-noto-cjk (make deps), or write HTML instead"
        ) from None
    # Quiet WeasyPrint's own chatter about CSS it ignores (each is a warning per rule).
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=html, base_url=None)
    pdf = document.write_pdf()
    if not isinstance(pdf, bytes):
        raise ReportError("WeasyPrint returned no PDF bytes")
    return pdf
