"""Ticket risk levels, step deadlines, escalation and automatic recheck (``api.levels``).

The users' own rules behind the defaults are ARCHITECTURE.md §12 (分级响应); the ticket workflow
that applies them is :mod:`api.workflow`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from cameras.schema import ConfigModel
from cameras.schema_checks import ConfigIssue, format_path
from vision.types import HazardKind

__all__ = [
    "DurationRaises",
    "KindLevels",
    "LevelRaise",
    "LevelResponseTimes",
    "LevelsConfig",
    "RiskLevel",
    "verify_levels",
]


class RiskLevel(StrEnum):
    """Risk level of a ticket (ARCHITECTURE.md §12, 分级响应), lowest first.

    blue < yellow < orange < red.
    """

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


_DAY_S = 86400.0
_MAX_WINDOW_S = 366 * _DAY_S


class KindLevels(ConfigModel):
    """The risk level a new ticket of each hazard kind starts at (field names are the kinds)."""

    fire_lane_blocked: RiskLevel = Field(
        default=RiskLevel.YELLOW,
        description="Level of a new fire-lane blockage ticket (raised later by its duration).",
    )
    ebike_entry: RiskLevel = Field(
        default=RiskLevel.ORANGE, description="Level of a new e-bike entry ticket."
    )
    falling_object: RiskLevel = Field(
        default=RiskLevel.RED, description="Level of a new falling-object ticket."
    )

    def level_of(self, kind: HazardKind) -> RiskLevel:
        """The starting level of ``kind``."""
        level: RiskLevel = getattr(self, kind.value)
        return level


class LevelResponseTimes(ConfigModel):
    """Time allowed for rectification at each level, in seconds from verification."""

    blue: float = Field(
        default=3 * _DAY_S,
        ge=60.0,
        le=_MAX_WINDOW_S,
        description="Blue (general hazard): the responsible unit fixes it within 3 days.",
    )
    yellow: float = Field(
        default=7 * _DAY_S,
        ge=60.0,
        le=_MAX_WINDOW_S,
        description="Yellow (moderate hazard): done within 7 days under community supervision.",
    )
    orange: float = Field(
        default=_DAY_S,
        ge=60.0,
        le=_MAX_WINDOW_S,
        description="Orange (high risk, urgent): default 24 h.",
    )
    red: float = Field(
        default=4 * 3600.0,
        ge=60.0,
        le=_MAX_WINDOW_S,
        description="Red (major risk, urgent): default 4 h.",
    )

    def window_s(self, level: RiskLevel) -> float:
        """Seconds allowed for rectification at ``level``."""
        seconds: float = getattr(self, level.value)
        return seconds


class LevelRaise(ConfigModel):
    """A level a ticket reaches once its hazard has lasted ``after_s`` seconds."""

    after_s: float = Field(
        gt=0.0, le=30 * _DAY_S, description="Hazard duration in seconds (up to 30 days)."
    )
    level: RiskLevel = Field(description="Level reached: blue, yellow, orange or red.")


class DurationRaises(ConfigModel):
    """Per hazard kind, the levels a ticket is raised to while its hazard lasts (never lowered).

    Each list is ordered by ``after_s``, each entry raising the level further.
    """

    fire_lane_blocked: tuple[LevelRaise, ...] = Field(
        default=(
            LevelRaise(after_s=1800.0, level=RiskLevel.ORANGE),
            LevelRaise(after_s=7200.0, level=RiskLevel.RED),
        ),
        max_length=3,
        description="Fire lane blocked longer than 30 min: orange; longer than 2 h: red.",
    )
    ebike_entry: tuple[LevelRaise, ...] = Field(
        default=(), max_length=3, description="Raises of e-bike entry tickets (none by default)."
    )
    falling_object: tuple[LevelRaise, ...] = Field(
        default=(),
        max_length=3,
        description="Raises of falling-object tickets (none by default: they start red).",
    )

    def raises_of(self, kind: HazardKind) -> tuple[LevelRaise, ...]:
        """The raises configured for ``kind``, ordered by ``after_s``."""
        raises: tuple[LevelRaise, ...] = getattr(self, kind.value)
        return raises


class LevelsConfig(ConfigModel):
    """Risk levels, step deadlines, escalation and automatic recheck of tickets.

    ARCHITECTURE.md §12 has the users' own rules behind the defaults.
    """

    default_level: KindLevels = Field(
        default_factory=KindLevels,
        description="Starting level per hazard kind (falling_object red, ebike_entry orange, "
        "fire_lane_blocked yellow).",
    )
    raise_after: DurationRaises = Field(
        default_factory=DurationRaises,
        description="Levels reached per hazard kind as the hazard lasts.",
    )
    rectify_within_s: LevelResponseTimes = Field(
        default_factory=LevelResponseTimes,
        description="Rectification deadline per level, in seconds from verification.",
    )
    report_within_s: float = Field(
        default=3600.0,
        ge=60.0,
        le=30 * _DAY_S,
        description="Seconds a camera-discovered ticket may wait for review before it is "
        "overdue (the report step).",
    )
    verify_within_s: float = Field(
        default=_DAY_S,
        ge=60.0,
        le=30 * _DAY_S,
        description="Seconds allowed for on-site verification after the report (24 h).",
    )
    escalation_interval_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="How often the ticket service looks for overdue tickets, in seconds.",
    )
    recheck_clear_s: float = Field(
        default=300.0,
        ge=1.0,
        le=7 * _DAY_S,
        description="Seconds a rectifying ticket's zone must stay clear for the automatic recheck.",
    )


def verify_levels(levels: LevelsConfig) -> list[ConfigIssue]:
    """Each kind's duration raises go up in time and in level, above the kind's starting level.

    A raise to a level the ticket already has would never do anything, so it is refused rather
    than silently ignored. Paths are written from the file's root (``api.levels...``).
    """
    issues: list[ConfigIssue] = []
    order = list(RiskLevel)
    for kind in HazardKind:
        start = levels.default_level.level_of(kind)
        previous: LevelRaise | None = None
        for index, step in enumerate(levels.raise_after.raises_of(kind)):
            base: list[str | int] = ["api", "levels", "raise_after", kind.value, index]
            if previous is not None and step.after_s <= previous.after_s:
                issues.append(
                    ConfigIssue(
                        format_path([*base, "after_s"]),
                        f"{kind} raises must be in increasing after_s: {step.after_s:g} s "
                        f"follows {previous.after_s:g} s",
                    )
                )
            floor = start if previous is None else max(start, previous.level, key=order.index)
            if order.index(step.level) <= order.index(floor):
                issues.append(
                    ConfigIssue(
                        format_path([*base, "level"]),
                        f"{kind} raise to '{step.level}' would never raise anything: the ticket "
                        f"is already '{floor}' by then (levels: blue < yellow < orange < red)",
                    )
                )
            previous = step
    return issues
