"""Settings of hotspots (隐患热点), the config's ``api.hotspots``: when repeated hazards of one
kind at one place become an area-level alert with a ticket of its own (:mod:`api.hotspots`).

A *place* is one camera's zone; the hazards counted are those of one kind whose start lies
within ``window_days`` before the newest one (a hazard of a rejected ticket, a false alarm, is
not counted). ``min_hazards`` of them make a *yellow* hotspot (the same hazard clustering in one
place); when one kind is an open hotspot at ``systemic_places`` or more places of the same area,
each of them is *red* (a systemic risk of the area: ``../shared/DOMAIN.md``).
"""

from __future__ import annotations

from pydantic import Field

from cameras.schema import ConfigModel


class HotspotSettings(ConfigModel):
    """When repeated hazards raise a hotspot ticket."""

    enabled: bool = Field(
        default=True, description="Raise hotspot tickets (false: only the reports list hotspots)."
    )
    min_hazards: int = Field(
        default=3,
        ge=2,
        le=1000,
        description="Hazards of one kind at one camera zone, within window_days, that make a "
        "hotspot (yellow).",
    )
    window_days: float = Field(
        default=30.0,
        gt=0,
        le=366,
        description="How far back (days before the newest hazard) hazards of the place count.",
    )
    systemic_places: int = Field(
        default=2,
        ge=2,
        le=100,
        description="Open hotspots of one kind at this many places of one area make each of them "
        "red (a systemic risk of the area).",
    )


# The rule's defaults, for code that applies it without a config (the reports' figures).
DEFAULT_MIN_HAZARDS: int = HotspotSettings.model_fields["min_hazards"].default
DEFAULT_SYSTEMIC_PLACES: int = HotspotSettings.model_fields["systemic_places"].default
