"""``/cameras``: the cameras a caller may see, their zones, and their live snapshot.

Camera sources are never shown (they carry passwords): a camera is its id, name, area, enabled
flag and hazard kinds. A camera a grid_worker may not see answers 404, like an unknown one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import redis
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Forbidden, Principal, require_role
from api.context import AppContext, Caller, Ctx
from api.live_view import live_view
from api.media import MediaNotFound, file_response, resolve_inside
from api.schemas import (
    CAMERA_ID_PATTERN,
    ErrorResponse,
    ZonesResponse,
    ZonesUpdate,
    common_responses,
    media_responses,
)
from api.settings.roles import TokenRole
from api.zone_overrides import (
    ZoneEditError,
    override_parts,
    read_zones,
    validate_edit,
    write_zones,
)
from pipelines.config import camera_area

logger = logging.getLogger(__name__)

router = APIRouter(
    tags=["cameras"],
    responses={
        **common_responses(),
        403: {"model": ErrorResponse, "description": "The role may not do this."},
        404: {"model": ErrorResponse, "description": "No such camera (or not visible)."},
    },
)

CameraId = Annotated[
    str, Path(pattern=CAMERA_ID_PATTERN, max_length=63, description="Camera id (slug).")
]
# ``?t=`` on the live snapshot: a cache-buster some clients add (an ``<img>`` whose address must
# change to load again). The answer is ``no-store`` anyway; the value is accepted and ignored, so
# such a client gets the picture rather than the unknown-query 422 it used to get.
CacheBuster = Annotated[
    str | None,
    Query(
        max_length=40,
        description="Ignored: a cache-buster (the snapshot is always sent with "
        "Cache-Control: no-store).",
    ),
]
LIVE_DIR = "live"


def visible_camera(context: AppContext, caller: Principal, camera_id: str) -> str:
    """The camera id if it is configured and ``caller`` may see it; else 404 (or 403 public)."""
    if caller.is_public:
        raise Forbidden("public tokens cannot see cameras")
    if camera_id not in context.config.cameras or not caller.sees_camera(camera_id):
        raise HTTPException(status_code=404, detail=f"no camera '{camera_id}'")
    return camera_id


def camera_summary(context: AppContext, camera_id: str) -> dict[str, Any]:
    """What the API shows of a camera: never its source URLs."""
    camera = context.config.cameras[camera_id]
    return {
        "id": camera_id,
        "name": camera.name,
        "area": camera_area(context.config, camera_id),
        "enabled": camera.enabled,
        "hazards": sorted({hazard.kind.value for hazard in camera.hazards}),
    }


@router.get("/cameras", summary="Cameras this token may see (no sources)")
def list_cameras(context: Ctx, caller: Caller) -> dict[str, Any]:
    if caller.is_public:
        raise Forbidden("public tokens cannot see cameras")
    ids = [cid for cid in sorted(context.config.cameras) if caller.sees_camera(cid)]
    return {"items": [camera_summary(context, cid) for cid in ids]}


@router.get("/cameras/{camera_id}/zones", response_model=ZonesResponse, summary="A camera's zones")
def get_zones(context: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    visible_camera(context, caller, camera_id)
    return read_zones(context.config, context.data_dir, camera_id).to_dict()


@router.put(
    "/cameras/{camera_id}/zones",
    response_model=ZonesResponse,
    summary="Replace a camera's zones, and its floors or hazards if given (admin); validated "
    "like the config file",
)
def put_zones(context: Ctx, caller: Caller, camera_id: CameraId, body: ZonesUpdate) -> Any:
    visible_camera(context, caller, camera_id)
    require_role(caller, (TokenRole.ADMIN,), "editing zones")
    given: dict[str, Any] = {
        part: getattr(body, part) for part in ("floors", "hazards") if part in body.model_fields_set
    }
    # floors or hazards edited before stay as they are unless this edit gives them
    parts: dict[str, Any] = {**override_parts(context.data_dir, camera_id), **given}
    try:
        edit = validate_edit(context.config, camera_id, body.zones, parts)
    except ZoneEditError as exc:
        errors = [{"loc": issue.path, "msg": issue.message} for issue in exc.issues]
        first = exc.issues[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return JSONResponse(
            {"detail": f"{first.path}: {first.message}{more}", "errors": errors},
            status_code=422,
        )
    zones = edit.pop("zones")
    write_zones(context.data_dir, camera_id, zones, by=caller.name, parts=edit)
    return read_zones(context.config, context.data_dir, camera_id).to_dict()


@router.get(
    "/cameras/{camera_id}/snapshot.jpg",
    summary="The camera's live snapshot (refreshed by the pipeline every few seconds)",
    response_class=Response,
    responses=media_responses("image/jpeg"),
)
@router.head(
    "/cameras/{camera_id}/snapshot.jpg",
    summary="The camera's live snapshot (refreshed by the pipeline every few seconds)",
    response_class=Response,
    responses=media_responses("image/jpeg"),
    operation_id="get_live_snapshot_head",
)
def get_live_snapshot(
    request: Request, context: Ctx, caller: Caller, camera_id: CameraId, t: CacheBuster = None
) -> Response:
    del t  # accepted for clients that bust caches themselves; see CacheBuster
    visible_camera(context, caller, camera_id)
    try:
        # Held to the live folder (not merely the data dir, which holds the ticket database).
        path = resolve_inside(
            context.data_dir / LIVE_DIR, f"{camera_id}.jpg", root_name="the live pictures folder"
        )
        return file_response(request, path, "image/jpeg", cache_control="no-store")
    except MediaNotFound:
        raise HTTPException(
            status_code=404, detail=f"no live snapshot of camera '{camera_id}' yet"
        ) from None


@router.get(
    "/cameras/{camera_id}/live",
    summary="What the camera's pipeline runs and sees now: state, zones, detections, motion, "
    "and when its live picture was last written",
)
def get_live_view(context: Ctx, caller: Caller, camera_id: CameraId) -> dict[str, Any]:
    """For the zone editor, polled every few seconds (see :mod:`api.live_view`).

    ``picture_at`` (the live snapshot's modification time, None: none yet) lets the page fetch
    the picture only when there is a new one, and say how old the one it shows is. Redis down is
    a state, not an error: the camera is then ``stale`` with the reason.
    """
    visible_camera(context, caller, camera_id)
    now = datetime.now(UTC)
    try:
        raw = context.status.read_raw(camera_id)
        view = live_view(camera_id, raw, now)
    except redis.RedisError as exc:
        logger.warning("camera %s: live view: Redis unreachable: %s", camera_id, type(exc).__name__)
        view = live_view(camera_id, None, now)
        view["reason"] = "redis unreachable"
    view["picture_at"] = _picture_time(context, camera_id)
    return view


def _picture_time(context: AppContext, camera_id: str) -> str | None:
    """When the camera's live snapshot was written (ISO, UTC), or None when there is none."""
    try:
        path = resolve_inside(
            context.data_dir / LIVE_DIR, f"{camera_id}.jpg", root_name="the live pictures folder"
        )
        written = path.stat().st_mtime
    except (MediaNotFound, OSError):
        return None
    return datetime.fromtimestamp(written, UTC).isoformat().replace("+00:00", "Z")
