"""Settings of the office's weekly and monthly reports (the config's ``api.reports``).

The reports themselves are made by :mod:`api.reports`; the root config (:mod:`pipelines.config`)
holds these settings as a field of ``api``.

Scheduled reports are off unless ``periods`` names at least one period: a report is a file the
office reads, so writing one into every data dir (tests, demos) unasked would only leave clutter.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import available_timezones

from pydantic import Field, field_validator

from cameras.schema import ConfigModel

__all__ = ["ReportFormat", "ReportLanguage", "ReportPeriod", "ReportSettings"]


class ReportPeriod(StrEnum):
    """A report's period: an ISO week (Monday to Sunday) or a calendar month, local time."""

    WEEK = "week"
    MONTH = "month"


class ReportLanguage(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class ReportFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"


class ReportSettings(ConfigModel):
    """What the ticket service writes on its own after each week or month ends."""

    periods: tuple[ReportPeriod, ...] = Field(
        default=(),
        max_length=2,
        description="Periods reported on a schedule: 'week' and/or 'month' (none: no scheduled "
        "report). The report of a period is written once, after the period has ended.",
    )
    languages: tuple[ReportLanguage, ...] = Field(
        default=(ReportLanguage.ZH_CN,),
        min_length=1,
        max_length=2,
        description="Languages of the scheduled reports: 'zh-CN' and/or 'en' (one file each).",
    )
    formats: tuple[ReportFormat, ...] = Field(
        default=(ReportFormat.HTML, ReportFormat.PDF),
        min_length=1,
        max_length=2,
        description="File formats of the scheduled reports: 'html' (self-contained) and/or "
        "'pdf' (needs WeasyPrint).",
    )
    folder: str = Field(
        default="reports",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="Folder inside the data dir the scheduled reports are written to (one name, "
        "no slashes).",
    )
    time_zone: str = Field(
        default="Asia/Shanghai",
        min_length=1,
        max_length=64,
        description="IANA time zone in which weeks and months begin and end, and days are "
        "counted (e.g. Asia/Shanghai).",
    )
    hotspot_min_hazards: int | None = Field(
        default=None,
        ge=2,
        le=1000,
        description="Hazards of one kind at one camera and zone within the period that make a "
        "hotspot (重复隐患点) in the reports; unset: api.hotspots.min_hazards, the rule that "
        "raises hotspot tickets.",
    )
    check_interval_s: float = Field(
        default=600.0,
        ge=1.0,
        le=86400.0,
        description="Seconds between the ticket service's checks for a period to report.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai")
        return value

    @field_validator("periods", "languages", "formats")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a value is listed twice: {list(value)}")
        return value
