"""The ticket service's settings (the config file's ``api`` section), one module per concern.

- :mod:`api.settings.roles`: roles and bearer tokens (``api.tokens``);
- :mod:`api.settings.levels`: risk levels, deadlines, escalation, recheck (``api.levels``);
- :mod:`api.settings.dispatch`: responsible unit and person by camera or zone (``api.dispatch``);
- :mod:`api.settings.notify`: notification channels and retries (``api.notifications``);
- :mod:`api.settings.reports`: scheduled weekly and monthly reports (``api.reports``);
- :mod:`api.settings.hotspots`: when repeated hazards raise a hotspot ticket (``api.hotspots``).

:class:`ApiConfig` is the section itself and :func:`verify_api` its cross-field checks. The root
config loader (:mod:`pipelines.config`) holds ``ApiConfig`` as a field and runs these checks, so
this package is settings only: pydantic models and checks, importing nothing of the service
(FastAPI, SQLAlchemy, the store) and nothing else of ``api`` (``tests/test_layers.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from api.settings.dispatch import DispatchConfig, verify_dispatch
from api.settings.hotspots import HotspotSettings
from api.settings.levels import LevelsConfig, verify_levels
from api.settings.notify import NotificationSettings
from api.settings.reports import ReportSettings
from api.settings.roles import TokenConfig, verify_tokens
from cameras.schema import ConfigModel
from cameras.schema_checks import CameraParts, ConfigIssue

__all__ = ["ApiConfig", "verify_api"]


class ApiConfig(ConfigModel):
    """Settings of the ticket service's API."""

    tokens: tuple[TokenConfig, ...] = Field(
        default=(), max_length=1000, description="Bearer tokens and their roles."
    )
    levels: LevelsConfig = Field(
        default_factory=LevelsConfig,
        description="Ticket risk levels, deadlines, escalation and automatic recheck.",
    )
    dispatch: DispatchConfig = Field(
        default_factory=DispatchConfig,
        description="Responsible unit and person (责任单位/责任人) of new tickets, by camera or "
        "'camera/zone'.",
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="Channels told of ticket changes (api.channels), with retries.",
    )
    reports: ReportSettings = Field(
        default_factory=ReportSettings,
        description="Weekly and monthly reports written by the ticket service (api.reports).",
    )
    hotspots: HotspotSettings = Field(
        default_factory=HotspotSettings,
        description="When repeated hazards of one kind at one place raise an area-level alert "
        "with its own ticket (隐患热点).",
    )


def verify_api(
    api: ApiConfig | None, cameras: Mapping[str, CameraParts], *, cameras_complete: bool = True
) -> list[ConfigIssue]:
    """The ``api`` section's cross-field checks: tokens, then levels, then dispatch.

    ``cameras`` are the file's cameras that validated; ``cameras_complete`` is false when the
    ``cameras`` section itself is invalid, and names of cameras are then only checked for their
    form. Token names (slugs, unique) are checked with the file's other ids, by
    :func:`api.settings.roles.verify_token_names`.
    """
    if api is None:
        return []
    return (
        verify_tokens(api.tokens, cameras, cameras_complete=cameras_complete)
        + verify_levels(api.levels)
        + verify_dispatch(api.dispatch, cameras, cameras_complete=cameras_complete)
    )
