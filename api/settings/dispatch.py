"""Dispatch settings (``api.dispatch``): who is responsible for a hazard at each camera and zone.

A community safety office sends each work order to a responsible unit (责任单位, e.g. the property
management office) and a responsible person (责任人) of that unit. ``api.dispatch.cameras`` maps
a camera id, or ``camera/zone`` for one zone of it, to that pair; ``camera/zone`` wins over
``camera``, which wins over ``default``. The ticket service assigns each new ticket by it
(:mod:`api.dispatch`); the office may edit the mapping through ``PUT /dispatch`` and reassign a
ticket by hand.

The root config (:mod:`pipelines.config`) holds these settings as a field of ``api``; nothing
else in ``pipelines`` uses them.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from cameras.schema import ConfigModel
from cameras.schema_checks import CameraParts, ConfigIssue, did_you_mean, format_path, slug_problem

__all__ = [
    "Assignee",
    "Contact",
    "DispatchConfig",
    "assignee_for",
    "rule_key",
    "verify_dispatch",
]

# Longest "camera/zone" key: two slugs of at most 63 characters and the slash.
_MAX_KEY = 127


class Contact(ConfigModel):
    """A unit or a person: a name to show and a way to reach them."""

    name: str = Field(
        min_length=1,
        max_length=100,
        description="Name shown on the ticket, e.g. '物业服务中心' or 'Wang Wei'.",
    )
    contact: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Phone number, e-mail address or chat id (not shown to the public).",
    )


class Assignee(ConfigModel):
    """The responsible unit (责任单位) and, optionally, the responsible person (责任人)."""

    unit: Contact = Field(description="The responsible unit (责任单位).")
    person: Contact | None = Field(
        default=None, description="The responsible person (责任人) of that unit, if one is named."
    )


class DispatchConfig(ConfigModel):
    """Who a new ticket is assigned to, by camera or by zone of a camera."""

    cameras: dict[str, Assignee] = Field(
        default_factory=dict,
        max_length=4096,
        description="Camera id, or 'camera/zone' for one zone (which wins over its camera), "
        "to its responsible unit and person.",
    )
    default: Assignee | None = Field(
        default=None,
        description="Responsible unit and person of a camera or zone the mapping does not name "
        "(none: such tickets are left unassigned until someone assigns them).",
    )


def rule_key(camera_id: str, zone: str | None = None) -> str:
    """The ``cameras`` key of a camera, or of one of its zones."""
    return camera_id if zone is None else f"{camera_id}/{zone}"


def assignee_for(
    dispatch: DispatchConfig, camera_id: str, zone: str
) -> tuple[Assignee, str] | None:
    """Who is responsible for a hazard at ``camera_id``/``zone``, and the key that said so
    (``camera/zone``, ``camera`` or ``default``); None when nothing does."""
    for key in (rule_key(camera_id, zone), rule_key(camera_id)):
        found = dispatch.cameras.get(key)
        if found is not None:
            return found, key
    return None if dispatch.default is None else (dispatch.default, "default")


def verify_dispatch(
    dispatch: DispatchConfig | None,
    cameras: Mapping[str, CameraParts],
    *,
    cameras_complete: bool = True,
) -> list[ConfigIssue]:
    """Each key of ``api.dispatch.cameras`` names a configured camera, or a zone of one.

    ``cameras_complete`` is false when the file's ``cameras`` section itself is invalid: which
    cameras exist is then unknown and the keys are only checked for their form.
    """
    issues: list[ConfigIssue] = []
    if dispatch is None:
        return issues
    for key in dispatch.cameras:
        path = format_path(["api", "dispatch", "cameras", key])
        camera_id, slash, zone = key.partition("/")
        problem = _key_problem(key, camera_id, zone if slash else None)
        if problem:
            issues.append(ConfigIssue(path, problem))
            continue
        if not cameras_complete:
            continue
        camera = cameras.get(camera_id)
        if camera is None:
            issues.append(
                ConfigIssue(
                    path,
                    f"camera '{camera_id}' is not configured" + did_you_mean(camera_id, cameras),
                )
            )
        elif slash and zone not in camera.zones:
            known = ", ".join(camera.zones) or "none"
            issues.append(
                ConfigIssue(
                    path,
                    f"camera '{camera_id}' has no zone '{zone}' (its zones: {known})"
                    + did_you_mean(zone, camera.zones),
                )
            )
    return issues


def _key_problem(key: str, camera_id: str, zone: str | None) -> str | None:
    if len(key) > _MAX_KEY:
        return f"a dispatch key is 'camera' or 'camera/zone', at most {_MAX_KEY} characters"
    if zone is not None and "/" in zone:
        return f"'{key}': a dispatch key is 'camera' or 'camera/zone' (one slash at most)"
    problem = slug_problem("camera id of a dispatch key", camera_id)
    if problem is None and zone is not None:
        problem = slug_problem("zone id of a dispatch key", zone)
    return problem
