"""Per-camera configuration schema (ARCHITECTURE.md §4), pydantic v2.

Every config model of the project derives from :class:`ConfigModel`: unknown keys are rejected,
instances are frozen, and non-finite floats (``.nan``, ``.inf`` in YAML) are refused. Each field has
a description and bounds. Only the shape of single fields is checked here; checks that relate
several fields (a hazard's zone exists, a polygon does not cross itself, floor lines are ordered)
are the ``verify_*`` functions of :mod:`cameras.schema_checks`, which name the camera and zone.

Derived data (pixel polygons, masks) is never stored here: it belongs to the runtime objects built
from this config.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cameras.hwdecode import HwAccelKind
from cameras.redact import redact_url
from vision.types import HazardKind
from vision.zones import Anchor

SOURCE_URL_SCHEMES = ("rtsp", "rtsps", "http", "https")
ACTION_URL_SCHEMES = ("http", "https")


class ConfigModel(BaseModel):
    """Base of every configuration model: unknown keys rejected, frozen, finite floats only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RtspTransport(StrEnum):
    """Lower transport of RTSP. TCP survives lossy links; UDP without a timeout can block."""

    TCP = "tcp"
    UDP = "udp"


# A point in normalized frame coordinates: x to the right, y down, (0, 0) top-left. The 0..1
# range is checked by verify_zones so that the error names the point's index.
PointNorm = tuple[float, float]


class DetectSettings(ConfigModel):
    """Object analysis: how often and at what size frames go to the detector."""

    fps: float = Field(
        default=5.0,
        ge=0.1,
        le=60.0,
        description="Frames per second of stream time sent to the detector; above the stream's "
        "own rate means every frame.",
    )
    width: int = Field(
        default=640,
        ge=64,
        le=3840,
        description="Width in pixels the frame is scaled to for detection (height keeps the "
        "aspect ratio).",
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Name of the detector (a key of 'detectors') this camera uses; without it, "
        "the default detector ('detector', or 'detectors.default').",
    )
    priority: Literal["low", "normal", "high"] = Field(
        default="normal",
        description="When the box cannot keep up, the detect rate of low-priority cameras is "
        "lowered first, then normal, then high (halved per overload level, down to 1 fps); "
        "motion analysis is never thinned.",
    )


class MotionSettings(ConfigModel):
    """Motion analysis (falling objects): full rate, low resolution."""

    fps: float = Field(
        default=25.0,
        ge=0.1,
        le=120.0,
        description="Frames per second of stream time analysed for motion; above the stream's "
        "own rate means every frame.",
    )
    width: int = Field(
        default=480,
        ge=64,
        le=1920,
        description="Width in pixels the frame is scaled to for motion analysis.",
    )


class PolygonZone(ConfigModel):
    """An area of the frame: a fire lane, a lift car, a facade."""

    polygon: tuple[PointNorm, ...] = Field(
        max_length=256,
        description="Vertices [x, y] in normalized 0..1 frame coordinates, in order around the "
        "area (at least 3, not self-intersecting).",
    )
    width_m: float | None = Field(
        default=None,
        gt=0.0,
        le=1000.0,
        description="Real width of the area across its short side, in metres (fire lanes: "
        "enables clear_width_m).",
    )
    anchor: Anchor = Field(
        default=Anchor.BOTTOM_CENTER,
        description="Where an object's footprint lies in its box (bottom_center: the bottom "
        "band, center: the middle band, top_center: the top band); the hazard's membership "
        "settings say how much of it must be inside.",
    )


class LineZone(ConfigModel):
    """A line that is crossed (a stairwell door): only crossings towards ``inward`` count."""

    line: tuple[PointNorm, ...] = Field(
        max_length=2,
        description="Two distinct end points [[x1, y1], [x2, y2]] in normalized 0..1 frame "
        "coordinates.",
    )
    inward: PointNorm = Field(
        description="Vector [dx, dy] in normalized coordinates pointing to the inner side of the "
        "line; only the side it points to matters.",
    )
    anchor: Anchor = Field(
        default=Anchor.BOTTOM_CENTER,
        description="Point of an object's box whose crossing of the line is counted.",
    )


def _zone_tag(value: Any) -> str | None:
    if isinstance(value, PolygonZone):
        return "polygon_zone"
    if isinstance(value, LineZone):
        return "line_zone"
    if isinstance(value, dict):
        return "polygon_zone" if "polygon" in value else "line_zone"
    return None


def _check_zone_shape(value: Any) -> Any:
    """A zone is a polygon or a line: say which key is missing or doubled before the union runs."""
    if isinstance(value, PolygonZone | LineZone):
        return value
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "zone_type",
            "a zone must be a mapping with either 'polygon' or 'line', got {got}",
            {"got": type(value).__name__},
        )
    has_polygon, has_line = "polygon" in value, "line" in value
    if has_polygon and has_line:
        raise PydanticCustomError(
            "zone_shape",
            "a zone has either 'polygon' or 'line' (with 'inward'), not both",
        )
    if not has_polygon and not has_line:
        raise PydanticCustomError(
            "zone_shape",
            "a zone needs 'polygon' (an area) or 'line' with 'inward' (a crossing line)",
        )
    return value


Zone = Annotated[
    Annotated[PolygonZone, Tag("polygon_zone")] | Annotated[LineZone, Tag("line_zone")],
    Discriminator(_zone_tag),
    BeforeValidator(_check_zone_shape),
]


class FloorsConfig(ConfigModel):
    """Floor boundaries of a facade camera, used to report the floor an object fell from."""

    count: int = Field(ge=1, le=200, description="Number of floors of the building.")
    lowest_visible_floor: int = Field(
        ge=1,
        le=200,
        description="Number (from the ground, which is 1) of the floor whose base is the last "
        "line.",
    )
    lines: tuple[float, ...] = Field(
        max_length=201,
        description="Normalized y of the floor boundaries from top to bottom (strictly "
        "increasing); N lines bound N-1 floors.",
    )


class MembershipSettings(ConfigModel):
    """How an object's footprint decides membership of a polygon zone (ARCHITECTURE.md §4)."""

    footprint_height: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description="Height of the footprint (the ground-contact band of a box, at the zone's "
        "anchor) as a fraction of the box height.",
    )
    enter_overlap: float = Field(
        default=0.3,
        gt=0.0,
        le=1.0,
        description="An object enters the zone when at least this fraction of its footprint "
        "is inside the polygon.",
    )
    exit_overlap: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="A member leaves only when less than this fraction of its footprint is "
        "inside (hysteresis; at most enter_overlap).",
    )
    enter_zone_overlap: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="An object also enters when its footprint covers this fraction of the "
        "zone's area (zones smaller than the objects).",
    )

    @model_validator(mode="after")
    def _check_hysteresis(self) -> MembershipSettings:
        if self.exit_overlap > self.enter_overlap:
            raise ValueError(
                f"exit_overlap ({self.exit_overlap}) must not exceed enter_overlap "
                f"({self.enter_overlap})"
            )
        return self


class FireLaneBlockedHazard(ConfigModel):
    """A fire lane or evacuation passage occupied longer than a dwell time."""

    kind: Literal[HazardKind.FIRE_LANE_BLOCKED] = Field(description="Hazard kind.")
    zone: str = Field(min_length=1, max_length=63, description="Id of a polygon zone (the lane).")
    dwell_s: float = Field(
        default=60.0,
        ge=1.0,
        le=3600.0,
        description="Seconds of stream time a blocker must rest in the lane before the hazard "
        "starts.",
    )
    min_occupancy: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Fraction of the lane's area covered by blockers below which a resting object "
        "is ignored.",
    )
    clear_s: float = Field(
        default=10.0,
        ge=0.0,
        le=600.0,
        description="Seconds the lane must stay clear before the hazard ends.",
    )
    membership: MembershipSettings = Field(
        default_factory=MembershipSettings,
        description="How much of a vehicle's footprint must be in the lane (enter, exit).",
    )


class EbikeAction(ConfigModel):
    """What to do when an e-bike enters (a door-hold relay, a PA announcement)."""

    command: tuple[Annotated[str, Field(min_length=1)], ...] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Program and arguments to run (no shell), e.g. [/usr/local/bin/relay, on].",
    )
    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="http(s) URL to POST the hazard event to.",
    )
    timeout_s: float = Field(
        default=5.0,
        ge=0.1,
        le=60.0,
        description="Seconds after which the command or request is abandoned.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, ACTION_URL_SCHEMES, allow_path=False)
        return value

    @model_validator(mode="after")
    def _check_something_to_do(self) -> EbikeAction:
        if self.command is None and self.url is None:
            raise ValueError("an action needs 'command' or 'url' (or both)")
        return self


class EbikeEntryHazard(ConfigModel):
    """An e-bike inside a lift car (polygon) or crossing a stairwell door line inward (line)."""

    kind: Literal[HazardKind.EBIKE_ENTRY] = Field(description="Hazard kind.")
    zone: str = Field(
        min_length=1,
        max_length=63,
        description="Id of a polygon zone (lift car) or a line zone (door line).",
    )
    min_duration_s: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Seconds of stream time the e-bike must be seen before the hazard starts.",
    )
    min_detections: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Detector frames with the e-bike needed to confirm it (default 3 for a "
        "polygon zone, 1 for a door line): a track that lives on after one or two false "
        "detections does not raise the hazard.",
    )
    allow_bicycles: bool = Field(
        default=True,
        description="When false, ordinary bicycles raise the hazard too.",
    )
    membership: MembershipSettings = Field(
        default_factory=MembershipSettings,
        description="How much of an e-bike's footprint must be in a polygon zone (enter, "
        "exit); line zones use the anchor's crossing instead.",
    )
    action: EbikeAction | None = Field(
        default=None, description="Optional output when the hazard starts."
    )


class FallingObjectHazard(ConfigModel):
    """An object falling or thrown from a window or balcony of a facade."""

    kind: Literal[HazardKind.FALLING_OBJECT] = Field(description="Hazard kind.")
    zone: str = Field(min_length=1, max_length=63, description="Id of a polygon zone (the facade).")
    min_drop_floors: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Floors the object must be seen to drop, measured along its trajectory.",
    )


Hazard = Annotated[
    FireLaneBlockedHazard | EbikeEntryHazard | FallingObjectHazard,
    Field(discriminator="kind"),
]

# Hazards whose rules work on detector output (the others use motion analysis only).
DETECTOR_HAZARDS = frozenset({HazardKind.FIRE_LANE_BLOCKED, HazardKind.EBIKE_ENTRY})


def check_url(value: str, schemes: tuple[str, ...], *, allow_path: bool) -> None:
    """Check a URL (or, when ``allow_path``, a file path); messages never show credentials.

    Raises:
        ValueError: with a message naming the problem and the redacted value.
    """
    if "://" not in value:
        if allow_path and "\x00" not in value and value.strip():
            return
        wanted = ", ".join(f"{s}://" for s in schemes)
        what = f"a URL ({wanted}) or a file path" if allow_path else f"a URL ({wanted})"
        raise ValueError(f"expected {what}, got '{redact_url(value)}'")
    scheme = value.split("://", 1)[0].lower()
    if scheme not in schemes:
        wanted = ", ".join(schemes)
        raise ValueError(
            f"unsupported URL scheme '{scheme}' in '{redact_url(value)}' (expected {wanted})"
        )
    try:
        host = urlsplit(value).hostname
    except ValueError as exc:  # an unbalanced IPv6 bracket, for example
        raise ValueError(f"malformed URL '{redact_url(value)}': {exc}") from None
    if not host:
        raise ValueError(f"URL '{redact_url(value)}' has no host")


class DecodeSettings(ConfigModel):
    """Decoding of the analysed stream: on the CPU, or on a GPU's video decoder (issue 10).

    ``auto`` is the default because it costs nothing where there is no GPU (one probe per
    process, one log line) and, on a GPU box, frees the ~80 CPU-ms per camera-second that
    software decoding of 1080p H.264 costs (ARCHITECTURE.md §8), which is most of a camera's CPU.
    """

    hwaccel: HwAccelKind = Field(
        default=HwAccelKind.AUTO,
        description="Hardware decoder: auto (the first usable of cuda, vaapi, qsv, "
        "videotoolbox, d3d11va, else software, logged once), none (software), or one device "
        "type, which must be usable on the box (check-config and start-up fail otherwise, "
        "naming what is available).",
    )
    device: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Device to decode on: a GPU index for cuda ('1'), a render node for vaapi "
        "('/dev/dri/renderD129'); default: the first device.",
    )
    deblock: Literal["auto", "always"] = Field(
        default="auto",
        description="auto: software decoding skips H.264's deblocking filter (~20 % of the "
        "decode) when the analysed frames are at most half the stream's width, where its block "
        "edges are averaged away, and the camera has no falling-object (motion) analysis; "
        "always: never skip it. Evidence clips are stream copies either way.",
    )


class IngestSettings(ConfigModel):
    """How a camera's stream is opened and buffered; also the shape of ``defaults``."""

    rtsp_transport: RtspTransport = Field(
        default=RtspTransport.TCP, description="RTSP lower transport (tcp or udp)."
    )
    connect_timeout_s: float = Field(
        default=5.0,
        ge=0.5,
        le=120.0,
        description="Seconds to wait for a connection before retrying with backoff.",
    )
    read_timeout_s: float = Field(
        default=5.0,
        ge=0.5,
        le=600.0,
        description="Seconds without a packet after which the stream is treated as stalled.",
    )
    decode_threads: int = Field(
        default=1,
        ge=0,
        le=16,
        description="FFmpeg frame threads per camera. 1 (default) is the cheapest in CPU per "
        "camera, which is what sets how many cameras a box carries; 2 decodes one stream ~1.7x "
        "faster (replay uses 2) at ~10 % more CPU.",
    )
    preroll_s: float = Field(
        default=10.0,
        ge=0.0,
        le=120.0,
        description="Seconds of video kept before a hazard starts, for the evidence clip.",
    )
    postroll_s: float = Field(
        default=10.0,
        ge=0.0,
        le=120.0,
        description="Seconds of video recorded after a hazard starts, for the evidence clip.",
    )
    decode: DecodeSettings = Field(
        default_factory=DecodeSettings,
        description="Video decoding: hwaccel (auto, none, cuda, vaapi, ...) and device.",
    )
    enabled: bool = Field(default=True, description="A disabled camera is validated but not run.")


class CameraConfig(IngestSettings):
    """One camera: where its video comes from, its zones, floors and hazards."""

    source: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="rtsp://, rtsps://, http(s):// URL or a file path; optional because "
        "`replay` takes the video on the command line.",
    )
    evidence_source: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Second URL of the same camera (usually the main stream) from which clips are "
        "stream-copied; defaults to source.",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="Display name."
    )
    area: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="Area (slug) the camera watches, the AREA of ticket codes "
        "AREA-KIND-LEVEL-SERIAL; defaults to the site id.",
    )
    detect: DetectSettings = Field(
        default_factory=DetectSettings, description="Object analysis settings."
    )
    motion: MotionSettings = Field(
        default_factory=MotionSettings, description="Motion analysis settings."
    )
    zones: dict[str, Zone] = Field(
        default_factory=dict,
        max_length=64,
        description="Zones by id (slug): polygons or lines in normalized coordinates.",
    )
    floors: FloorsConfig | None = Field(
        default=None, description="Floor boundaries (needed by falling_object)."
    )
    hazards: tuple[Hazard, ...] = Field(
        default=(), max_length=64, description="Hazards watched on this camera."
    )

    @field_validator("source", "evidence_source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, SOURCE_URL_SCHEMES, allow_path=True)
        return value
