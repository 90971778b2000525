"""API roles and bearer tokens (the config's ``api.tokens``), and their checks.

Roles are ARCHITECTURE.md §6. A token is configured by its SHA-256 only; ``HAZARDWATCH_ADMIN_TOKEN``
adds one admin token from the environment (:mod:`api.auth`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from cameras.schema import ConfigModel
from cameras.schema_checks import ConfigIssue, did_you_mean, format_path, slug_problem

__all__ = [
    "ENV_ADMIN_NAME",
    "RESERVED_TOKEN_NAMES",
    "SYSTEM_ACTOR",
    "TokenConfig",
    "TokenRole",
    "verify_token_names",
    "verify_tokens",
]


class TokenRole(StrEnum):
    """API roles (ARCHITECTURE.md §6)."""

    ADMIN = "admin"
    REVIEWER = "reviewer"
    GRID_WORKER = "grid_worker"
    PUBLIC = "public"


# Actor names the API gives itself: the automatic recheck and escalation act as SYSTEM_ACTOR, the
# token of HAZARDWATCH_ADMIN_TOKEN as ENV_ADMIN_NAME. A configured token with either name would be
# mistaken for them in ticket histories, so neither may be configured.
SYSTEM_ACTOR = "system"
ENV_ADMIN_NAME = "env-admin"
RESERVED_TOKEN_NAMES = (SYSTEM_ACTOR, ENV_ADMIN_NAME)


class TokenConfig(ConfigModel):
    """One API bearer token, stored as its SHA-256 only."""

    name: str = Field(min_length=1, max_length=63, description="Who holds the token (slug).")
    role: TokenRole = Field(description="admin, reviewer, grid_worker or public.")
    cameras: tuple[Annotated[str, Field(min_length=1, max_length=63)], ...] = Field(
        default=(),
        max_length=1000,
        description="Camera ids a grid_worker may see (grid_worker only).",
    )
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the token, 64 lowercase hex digits (printf %s TOKEN | sha256sum).",
    )


def verify_token_names(tokens: Sequence[TokenConfig]) -> list[ConfigIssue]:
    """Token names are slugs and unique (``api.tokens[i].name``)."""
    issues: list[ConfigIssue] = []
    first: dict[str, int] = {}
    for index, token in enumerate(tokens):
        path = format_path(["api", "tokens", index, "name"])
        problem = slug_problem("token name", token.name)
        if problem:
            issues.append(ConfigIssue(path, problem))
        if token.name in first:
            issues.append(
                ConfigIssue(
                    path,
                    f"token name '{token.name}' is already used by api.tokens[{first[token.name]}]",
                )
            )
        first.setdefault(token.name, index)
    return issues


def verify_tokens(
    tokens: Sequence[TokenConfig], cameras: Collection[str], *, cameras_complete: bool = True
) -> list[ConfigIssue]:
    """Token names are not reserved, hashes differ; grid_worker tokens list existing cameras,
    other roles list none.

    ``cameras`` are the configured camera ids; ``cameras_complete`` is false when the file's
    ``cameras`` section itself is invalid, and the cameras a token names are then not judged.
    """
    issues: list[ConfigIssue] = []
    first_hash: dict[str, int] = {}
    for index, token in enumerate(tokens):
        base: list[str | int] = ["api", "tokens", index]
        if token.name in RESERVED_TOKEN_NAMES:
            issues.append(
                ConfigIssue(
                    format_path([*base, "name"]),
                    f"token name '{token.name}' is reserved (the service acts as "
                    f"'{SYSTEM_ACTOR}', the HAZARDWATCH_ADMIN_TOKEN as '{ENV_ADMIN_NAME}'): "
                    "choose another name",
                )
            )
        if token.token_sha256 in first_hash:
            issues.append(
                ConfigIssue(
                    format_path([*base, "token_sha256"]),
                    f"token '{token.name}' has the same hash as api.tokens"
                    f"[{first_hash[token.token_sha256]}]: every token must be different",
                )
            )
        first_hash.setdefault(token.token_sha256, index)
        issues += _verify_token_cameras(token, base, cameras, cameras_complete)
    return issues


def _verify_token_cameras(
    token: TokenConfig, base: list[str | int], cameras: Collection[str], cameras_complete: bool
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if token.role is TokenRole.GRID_WORKER and not token.cameras:
        issues.append(
            ConfigIssue(
                format_path([*base, "cameras"]),
                f"grid_worker token '{token.name}' needs the ids of the cameras it may see",
            )
        )
    elif token.role is not TokenRole.GRID_WORKER and token.cameras:
        issues.append(
            ConfigIssue(
                format_path([*base, "cameras"]),
                f"token '{token.name}': only grid_worker tokens are limited to cameras; role "
                f"'{token.role}' sees every camera, so remove 'cameras'",
            )
        )
    for cam_index, camera_id in enumerate(token.cameras):
        if cameras_complete and camera_id not in cameras:
            issues.append(
                ConfigIssue(
                    format_path([*base, "cameras", cam_index]),
                    f"token '{token.name}' names camera '{camera_id}', which is not "
                    "configured" + did_you_mean(camera_id, cameras),
                )
            )
    return issues
