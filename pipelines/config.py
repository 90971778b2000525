"""The root configuration (ARCHITECTURE.md §4): schema, loader and cross-field checks.

``load_config(path)`` and ``parse_config(text, source_name)`` return a frozen
:class:`HazardwatchConfig` or raise :class:`ConfigError` listing *every* problem of the file, each
with a dotted path (``cameras.lobby.zones.lift.polygon[2]``). The order of work is:

1. YAML with :class:`pipelines.config_yaml.UniqueKeyLoader` (a repeated key is an error);
2. ``defaults`` merged into each camera (a camera's own values win), then pydantic validation;
   pydantic's error locations are turned into dotted paths and its unclear messages rewritten;
3. the ``verify_*`` checks that relate several fields. They look at the file through
   :class:`ConfigParts`, so when step 2 fails they still run on every section, camera, zone and
   hazard that validated on its own: an unknown key in one place never hides a bad polygon or a
   hazard on a missing zone elsewhere, and one run shows every problem.

Camera URLs hold passwords, so no message ever echoes the input of a source field, and every
message passes through :func:`cameras.redact.redact_text` before it leaves this module.

Each part owns its settings: a camera's are :mod:`cameras.schema`, the ``api`` section's (tokens
and roles, ticket levels, dispatch, notifications, reports) are :mod:`api.settings`, with their
own ``verify_*`` checks; this module holds the root model (site, detectors, defaults, cameras,
retention), the loader and the order in which every check runs.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Field, Tag, TypeAdapter, ValidationError, model_validator
from pydantic_core import ErrorDetails

from api.settings import ApiConfig, verify_api
from api.settings.roles import verify_token_names
from cameras.redact import redact_text
from cameras.schema import (
    DETECTOR_HAZARDS,
    CameraConfig,
    ConfigModel,
    DetectSettings,
    IngestSettings,
    MotionSettings,
)
from cameras.schema_checks import (
    CameraParts,
    ConfigIssue,
    did_you_mean,
    format_path,
    slug_problem,
    validate_part,
    verify_camera_ids,
    verify_floors,
    verify_hazard_zones,
    verify_zones,
)
from models.spec import ModelFamily, ProviderChoice
from pipelines.config_yaml import DuplicateKeyError, load_yaml
from pipelines.evidence_keys import EvidenceSettings
from pipelines.retention import RetentionSettings
from vision.types import HazardKind

__all__ = [
    "DEFAULT_DETECTOR",
    "ClassRole",
    "ConfigError",
    "ConfigIssue",
    "ConfigParts",
    "DefaultsConfig",
    "DetectorConfig",
    "HazardwatchConfig",
    "ModelFamily",
    "ProviderChoice",
    "RetentionSettings",
    "SiteConfig",
    "camera_area",
    "check_config",
    "load_config",
    "parse_config",
    "validate_config",
    "verify_detector",
    "verify_ids",
]


class ClassRole(StrEnum):
    """What a model class means to the hazard rules."""

    VEHICLE = "vehicle"
    EBIKE = "ebike"
    BICYCLE = "bicycle"
    PERSON = "person"
    CLUTTER = "clutter"


class SiteConfig(ConfigModel):
    """The estate this box watches."""

    id: str = Field(min_length=1, max_length=63, description="Site id (slug), used in codes.")
    name: str = Field(min_length=1, max_length=100, description="Display name of the site.")


# The name of the detector given by the ``detector`` block, used by cameras without detect.model.
DEFAULT_DETECTOR = "default"


class DetectorGpuConfig(ConfigModel):
    """What only matters when the detector runs on a GPU (CUDA or TensorRT providers)."""

    device_id: int = Field(default=0, ge=0, le=63, description="GPU index for CUDA and TensorRT.")
    tensorrt_fp16: bool = Field(
        default=False,
        description="Let TensorRT use FP16 kernels (about twice the throughput). Off by default: "
        "the accuracy gate measures FP32; turn it on after `models import --eval` on your data.",
    )
    engine_cache_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Folder of the TensorRT engine and timing caches (only the first start "
        "builds engines); default $HAZARDWATCH_ENGINE_CACHE_DIR, else "
        "~/.cache/hazardwatch/tensorrt.",
    )


class DetectorConfig(ConfigModel):
    """One object detector: ``detector`` (the default) or an entry of ``detectors``."""

    model: str = Field(
        min_length=1,
        max_length=4096,
        description="Path of the ONNX model file (relative to the working directory, else to the "
        "config file), or the name of a registered model (hazardwatch models list); checked by "
        "check-config and when the detector starts.",
    )
    input_size: int = Field(
        default=640,
        ge=32,
        le=2048,
        description="Square input size in pixels when the model's input shape is not fixed.",
    )
    providers: tuple[ProviderChoice, ...] = Field(
        default=(ProviderChoice.AUTO,),
        min_length=1,
        max_length=5,
        description="Execution providers in order of preference (auto, tensorrt, cuda, "
        "openvino, cpu).",
    )
    classes: dict[str, ClassRole] = Field(
        min_length=1,
        max_length=1000,
        description="Model label -> role used by the rules (vehicle, ebike, bicycle, person, "
        "clutter); other labels are ignored.",
    )
    labels: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] | None = Field(
        default=None,
        min_length=1,
        max_length=10000,
        description="Class names in model index order, when the model has no 'names' metadata.",
    )
    labels_file: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="File with one class name per line, when the model has no 'names' metadata.",
    )
    family: ModelFamily = Field(
        default=ModelFamily.AUTO,
        description="Output layout: auto, yolov8 (Ultralytics), yolox or fastestdet.",
    )
    score_threshold: float = Field(
        default=0.3, ge=0.01, le=1.0, description="Detections scoring below this are dropped."
    )
    min_scores: dict[str, Annotated[float, Field(ge=0.01, le=1.0)]] = Field(
        default_factory=dict,
        max_length=1000,
        description="Model label -> a higher threshold for that label only (e.g. a fine-tuned "
        "lift model's {ebike: 0.89}, picked on its validation split, while people are kept at "
        "score_threshold). Each label must be one of 'classes'.",
    )
    iou_threshold: float = Field(
        default=0.45, gt=0.0, le=1.0, description="IoU above which non-maximum suppression merges."
    )
    batch_max_size: int = Field(
        default=4, ge=1, le=64, description="Most frames (from all cameras) in one session run."
    )
    batch_max_wait_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=1000.0,
        description="Longest a frame waits for others to fill a batch, in milliseconds.",
    )
    intra_op_threads: int = Field(
        default=1,
        ge=0,
        le=64,
        description="onnxruntime intra-op threads per session (0: onnxruntime's default); one "
        "thread gives the best throughput on CPU.",
    )
    gpu: DetectorGpuConfig = Field(
        default_factory=DetectorGpuConfig,
        description="GPU index, TensorRT FP16 and engine cache (ignored on CPU).",
    )

    @model_validator(mode="after")
    def _one_label_source(self) -> DetectorConfig:
        if self.labels is not None and self.labels_file is not None:
            raise ValueError("give class names inline in 'labels' or in 'labels_file', not both")
        return self

    @model_validator(mode="after")
    def _min_scores_apply(self) -> DetectorConfig:
        unknown = sorted(set(self.min_scores) - set(self.classes))
        if unknown:
            raise ValueError(
                f"min_scores: labels {unknown} are not in 'classes' ({sorted(self.classes)})"
            )
        low = sorted(k for k, v in self.min_scores.items() if v < self.score_threshold)
        if low:
            raise ValueError(
                f"min_scores: {low} below score_threshold ({self.score_threshold}) would never "
                "apply: the detector already drops those detections"
            )
        return self


class DefaultsConfig(IngestSettings):
    """Values merged into every camera before validation; a camera's own values win."""

    detect: DetectSettings = Field(
        default_factory=DetectSettings, description="Default object analysis settings."
    )
    motion: MotionSettings = Field(
        default_factory=MotionSettings, description="Default motion analysis settings."
    )


_MERGED_SECTIONS = ("detect", "motion", "decode")  # merged key by key, the others whole


def merge_camera_defaults(defaults: Mapping[str, Any], camera: Any) -> Any:
    """The raw camera mapping with raw ``defaults`` filled in underneath; inputs are not changed.

    ``detect`` and ``motion`` are merged key by key (a camera may set only ``detect.fps``).
    Anything that is not a mapping is returned as is, for the schema to report.
    """
    if not isinstance(camera, dict):
        return camera
    merged = dict(defaults)
    for key, value in camera.items():
        base = merged.get(key)
        if key in _MERGED_SECTIONS and isinstance(base, dict) and isinstance(value, dict):
            merged[key] = {**base, **value}
        else:
            merged[key] = value
    return merged


def apply_defaults(data: Any) -> Any:
    """The raw root mapping with ``defaults`` merged into each camera.

    Nothing is merged while ``defaults`` itself is invalid: its errors are reported once, at
    ``defaults.*``, instead of again under every camera.
    """
    if not isinstance(data, dict):
        return data
    defaults, cameras = data.get("defaults"), data.get("cameras")
    if not isinstance(defaults, dict) or not isinstance(cameras, dict):
        return data
    try:
        DefaultsConfig.model_validate(defaults)
    except ValidationError:
        return data  # reported when the root validates its own `defaults` field
    merged = {cid: merge_camera_defaults(defaults, cam) for cid, cam in cameras.items()}
    return {**data, "cameras": merged}


class HazardwatchConfig(ConfigModel):
    """The whole configuration file."""

    site: SiteConfig = Field(description="The site: id (slug) and name.")
    detector: DetectorConfig | None = Field(
        default=None,
        description="The default object detector (named 'default'): used by cameras without "
        "detect.model; needed by fire_lane_blocked and ebike_entry cameras.",
    )
    detectors: dict[str, DetectorConfig] = Field(
        default_factory=dict,
        max_length=32,
        description="More detectors by name (slug), each like 'detector'; a camera picks one "
        "with detect.model. 'default' here is the default detector (instead of 'detector').",
    )
    defaults: DefaultsConfig | None = Field(
        default=None,
        description="detect, motion and ingest settings merged into every camera (its own win).",
    )
    cameras: dict[str, CameraConfig] = Field(
        min_length=1, max_length=256, description="Cameras by id (slug); at least one."
    )
    api: ApiConfig | None = Field(
        default=None, description="API tokens, ticket levels, deadlines and recheck."
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="When the ticket service deletes evidence files: by age and disk budget, "
        "closed and rejected tickets' first; never an open ticket's; tickets are kept.",
    )
    evidence: EvidenceSettings = Field(
        default_factory=EvidenceSettings,
        description="Where the keys of evidence encrypted at rest come from: a keys file "
        "(owner-only) and/or an environment variable; none: evidence is written plain.",
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        return apply_defaults(data)

    def detector_configs(self) -> dict[str, DetectorConfig]:
        """Every detector by name: ``detector`` as ``default``, then ``detectors``."""
        named = {DEFAULT_DETECTOR: self.detector} if self.detector is not None else {}
        return {**named, **self.detectors}

    def detector_name(self, camera_id: str) -> str:
        """The name of the detector camera ``camera_id`` uses (its detect.model, or default).

        Raises:
            KeyError: if ``camera_id`` is not configured.
        """
        return self.cameras[camera_id].detect.model or DEFAULT_DETECTOR

    def detector_of(self, camera_id: str) -> DetectorConfig | None:
        """The detector block camera ``camera_id`` uses, or None when there is none.

        Raises:
            KeyError: if ``camera_id`` is not configured.
        """
        return self.detector_configs().get(self.detector_name(camera_id))


# --- the parts the cross-field checks look at ------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigParts:
    """The sections of a file that passed the schema, for the ``verify_*`` checks.

    Built from a valid :class:`HazardwatchConfig` (:meth:`of`: everything present) or from the
    raw mapping of a file that failed (:meth:`from_raw`: each section validated on its own, each
    camera part by part), so that the cross checks run on whatever did validate. A section that
    was given but is invalid is ``None`` with its ``*_given`` flag set: the checks then skip what
    depends on it instead of calling it missing. ``cameras_complete`` is false when the
    ``cameras`` section itself failed (missing, empty, not a mapping): which cameras exist is
    then unknown, and tokens naming cameras are not judged. ``detectors`` holds every name
    given under ``detectors``, with its validated block or ``None``.
    """

    site: SiteConfig | None
    detector: DetectorConfig | None
    detector_given: bool
    cameras: dict[str, CameraParts] = field(default_factory=dict)
    api: ApiConfig | None = None
    cameras_complete: bool = True
    detectors: dict[str, DetectorConfig | None] = field(default_factory=dict)
    detectors_complete: bool = True

    @classmethod
    def of(cls, config: HazardwatchConfig) -> ConfigParts:
        return cls(
            site=config.site,
            detector=config.detector,
            detector_given=config.detector is not None,
            cameras={cid: CameraParts.of(camera) for cid, camera in config.cameras.items()},
            api=config.api,
            detectors=dict(config.detectors),
        )

    @classmethod
    def from_raw(cls, data: Mapping[str, Any], errors: Sequence[ErrorDetails] = ()) -> ConfigParts:
        """The parts of a raw mapping; ``errors`` are the schema's errors of the whole file."""
        detector_raw = data.get("detector")
        detectors_raw = data.get("detectors")
        detectors: dict[str, DetectorConfig | None] = {}
        if isinstance(detectors_raw, Mapping):
            for name, block in detectors_raw.items():
                if isinstance(name, str):
                    detectors[name] = _validate_section(DetectorConfig, block)
        api_raw = data.get("api")
        cameras_raw = apply_defaults(dict(data)).get("cameras")
        cameras: dict[str, CameraParts] = {}
        if isinstance(cameras_raw, Mapping):
            for camera_id, camera in cameras_raw.items():
                if isinstance(camera_id, str):
                    cameras[camera_id] = CameraParts.from_raw(camera)
        return cls(
            site=_validate_section(SiteConfig, data.get("site")),
            detector=_validate_section(DetectorConfig, detector_raw),
            detector_given=detector_raw is not None,
            cameras=cameras,
            api=_validate_section(ApiConfig, api_raw),
            cameras_complete=not any(tuple(e["loc"]) == ("cameras",) for e in errors),
            detectors=detectors,
            detectors_complete=detectors_raw is None or isinstance(detectors_raw, Mapping),
        )


def _validate_section(model: type[_M], raw: Any) -> _M | None:
    if raw is None:
        return None
    result: _M | None = validate_part(TypeAdapter(model), raw)
    return result


def _as_parts(config: HazardwatchConfig | ConfigParts) -> ConfigParts:
    return config if isinstance(config, ConfigParts) else ConfigParts.of(config)


# --- cross-field checks of the whole file ----------------------------------------------------


def verify_ids(config: HazardwatchConfig | ConfigParts) -> list[ConfigIssue]:
    """Site, camera, zone ids and token names are slugs; token names are unique.

    Camera ids and the zone ids of one camera are mapping keys, unique because the YAML loader
    refuses a repeated key.
    """
    parts = _as_parts(config)
    issues: list[ConfigIssue] = []
    problem = None if parts.site is None else slug_problem("site id", parts.site.id)
    if problem:
        issues.append(ConfigIssue("site.id", problem))
    for camera_id, camera in parts.cameras.items():
        issues += verify_camera_ids(camera_id, camera)
        if camera.area is not None:
            problem = slug_problem(f"area of camera '{camera_id}'", camera.area)
            if problem:
                issues.append(ConfigIssue(format_path(["cameras", camera_id, "area"]), problem))
    if parts.api is not None:
        issues += verify_token_names(parts.api.tokens)
    return issues


# Roles of which at least one must be mapped for a hazard kind's rule to see anything.
_NEEDED_ROLES: dict[HazardKind, frozenset[ClassRole]] = {
    HazardKind.FIRE_LANE_BLOCKED: frozenset({ClassRole.VEHICLE, ClassRole.CLUTTER}),
    HazardKind.EBIKE_ENTRY: frozenset({ClassRole.EBIKE}),
}


def _detector_path(name: str) -> list[str | int]:
    """Where detector ``name`` is written: ``detector`` for the default, else ``detectors.NAME``."""
    return ["detector"] if name == DEFAULT_DETECTOR else ["detectors", name]


def _verify_labels(detector: DetectorConfig, base: list[str | int]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if detector.labels is None:
        return issues
    seen: set[str] = set()
    for index, label in enumerate(detector.labels):
        if label in seen:
            issues.append(
                ConfigIssue(
                    format_path([*base, "labels", index]), f"label '{label}' is listed twice"
                )
            )
        seen.add(label)
    where = format_path([*base, "labels"])
    for label in detector.classes:
        if label not in seen:
            issues.append(
                ConfigIssue(
                    format_path([*base, "classes", label]),
                    f"label '{label}' is not one of {where}" + did_you_mean(label, seen),
                )
            )
    return issues


def _declared_detectors(parts: ConfigParts) -> tuple[dict[str, DetectorConfig | None], list[str]]:
    """Every detector name given (the ``detector`` block as ``default``) with its validated
    block or None, and the paths where each is written (for messages)."""
    declared: dict[str, DetectorConfig | None] = {}
    if parts.detector_given:
        declared[DEFAULT_DETECTOR] = parts.detector
    for name, block in parts.detectors.items():
        declared.setdefault(name, block)
    return declared, sorted(declared)


def verify_detector(config: HazardwatchConfig | ConfigParts) -> list[ConfigIssue]:
    """Detector names, each camera's ``detect.model``, and the classes each camera's hazards need.

    ``detector`` is the detector named ``default``; ``detectors`` names more, so giving both
    ``detector`` and ``detectors.default`` is an error. A camera's ``detect.model`` must name a
    configured detector (with a did-you-mean); a camera without it uses the default. Cameras
    whose hazards need detections must have a detector, whose ``classes`` map a class to a role
    the hazard uses: fire_lane_blocked vehicle or clutter, ebike_entry ebike. With inline
    ``labels``, every key of ``classes`` must be one of them (a typo would otherwise never match
    anything). Whether the labels exist in the model file itself is checked by
    :func:`pipelines.model_checks.verify_models` (``check-config`` and start-up), which reads the
    models. A detector block that is given but invalid is not judged further.
    """
    parts = _as_parts(config)
    issues: list[ConfigIssue] = []
    if parts.detector_given and DEFAULT_DETECTOR in parts.detectors:
        issues.append(
            ConfigIssue(
                format_path(["detectors", DEFAULT_DETECTOR]),
                "the default detector is given twice, as 'detector' and as "
                "'detectors.default': keep one of them (the 'detector' block is the detector "
                "named 'default')",
            )
        )
    for name in parts.detectors:
        problem = slug_problem("detector name", name)
        if problem:
            issues.append(ConfigIssue(format_path(["detectors", name]), problem))
    declared, names = _declared_detectors(parts)
    known = ", ".join(names) if names else "none"
    # detector name -> hazard kind -> cameras using it for that kind
    users: dict[str, dict[HazardKind, list[str]]] = {}
    for camera_id, camera in parts.cameras.items():
        name = camera.detect_model or DEFAULT_DETECTOR
        needs = [
            (index, hazard)
            for index, hazard in enumerate(camera.hazards)
            if hazard is not None and hazard.kind in DETECTOR_HAZARDS
        ]
        if camera.detect_model is not None and name not in declared:
            if parts.detectors_complete:
                issues.append(
                    ConfigIssue(
                        format_path(["cameras", camera_id, "detect", "model"]),
                        f"camera '{camera_id}': detect.model '{name}' is not a configured "
                        f"detector" + did_you_mean(name, names) + f" (detectors: {known}; "
                        "'default' is the 'detector' block)",
                    )
                )
            continue
        for index, hazard in needs:
            users.setdefault(name, {}).setdefault(hazard.kind, []).append(camera_id)
            if name not in declared:
                issues.append(
                    ConfigIssue(
                        format_path(["cameras", camera_id, "hazards", index]),
                        f"camera '{camera_id}': {hazard.kind} needs object detection, but the "
                        "config has no 'detector' section (nor 'detectors.default', nor a "
                        "detect.model naming one of 'detectors')",
                    )
                )
    for name, detector in declared.items():
        if detector is None:
            continue  # its schema errors say what is wrong with it
        base = _detector_path(name)
        issues += _verify_labels(detector, base)
        roles = set(detector.classes.values())
        for kind, camera_ids in users.get(name, {}).items():
            if not roles & _NEEDED_ROLES[kind]:
                wanted = " or ".join(sorted(_NEEDED_ROLES[kind]))
                issues.append(
                    ConfigIssue(
                        format_path([*base, "classes"]),
                        f"{kind} (camera {', '.join(sorted(set(camera_ids)))}) needs a class "
                        f"mapped to role {wanted}, but none is",
                    )
                )
    return issues


def camera_area(config: HazardwatchConfig, camera_id: str) -> str:
    """The area slug of a camera for ticket codes: its ``area``, else the site id.

    Raises:
        KeyError: if ``camera_id`` is not configured.
    """
    if camera_id not in config.cameras:
        raise KeyError(f"camera '{camera_id}' is not configured")
    return config.cameras[camera_id].area or config.site.id


def check_config(config: HazardwatchConfig | ConfigParts) -> list[ConfigIssue]:
    """Every cross-field check: ids, then each camera, then the detector and the api.

    Given the :class:`ConfigParts` of a file that failed the schema, the checks run on every
    part that validated.
    """
    parts = _as_parts(config)
    issues = verify_ids(parts)
    for camera_id, camera in parts.cameras.items():
        issues += verify_zones(camera_id, camera)
        issues += verify_hazard_zones(camera_id, camera)
        issues += verify_floors(camera_id, camera)
    issues += verify_detector(parts)
    return issues + verify_api(parts.api, parts.cameras, cameras_complete=parts.cameras_complete)


# --- errors --------------------------------------------------------------------------------------


class ConfigError(Exception):
    """A config file that cannot be used; ``errors`` lists every problem found.

    ``str()`` gives one line per problem, ``<file>: <path>: <message>`` (``<file>: <message>``
    for a problem of the whole file). Paths and messages are redacted of credentials.
    """

    def __init__(self, source_name: str, errors: Sequence[ConfigIssue]) -> None:
        if not errors:
            raise ValueError("ConfigError needs at least one ConfigIssue")
        self.source_name = source_name
        self.errors: list[ConfigIssue] = [
            ConfigIssue(redact_text(issue.path), redact_text(issue.message)) for issue in errors
        ]
        super().__init__(self._render())

    def _render(self) -> str:
        return "\n".join(
            f"{self.source_name}: {issue.path}: {issue.message}"
            if issue.path
            else f"{self.source_name}: {issue.message}"
            for issue in self.errors
        )

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, list[ConfigIssue]]]:
        # rebuilt from its parts, not from str(): a worker process's error reaches its parent
        return (type(self), (self.source_name, self.errors))


# --- pydantic errors -> dotted paths and plain messages --------------------------------------

# Fields whose values may hold credentials: never echo their input in a message.
_SENSITIVE_FIELDS = frozenset({"source", "evidence_source", "url", "command", "token_sha256"})
# Error types whose message reads better followed by the offending value.
_ECHO_TYPES = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "enum",
        "literal_error",
        "int_parsing",
        "int_from_float",
        "int_type",
        "float_parsing",
        "float_type",
        "bool_parsing",
        "bool_type",
    }
)
_MAPPING_TYPES = frozenset({"model_type", "model_attributes_type", "dict_type"})
_LIST_TYPES = frozenset({"list_type", "tuple_type"})
_YAML_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    str: "text",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "nothing (null)",
}


def _yaml_type(value: Any) -> str:
    return _YAML_TYPE_NAMES.get(type(value), type(value).__name__)


def _echo(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        shown = repr(value)
        return shown if len(shown) <= 60 else shown[:57] + "..."
    return _yaml_type(value)


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` around a type."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp


def _union_tags(tp: Any) -> dict[str, Any]:
    """Tag -> member of a tagged union (``Tag`` annotations or a ``kind`` literal)."""
    tags: dict[str, Any] = {}
    for member in get_args(tp):
        if get_origin(member) is Annotated:
            base, *meta = get_args(member)
            tags.update({m.tag: base for m in meta if isinstance(m, Tag)})
        elif isinstance(member, type) and issubclass(member, BaseModel):
            kind = member.model_fields.get("kind")
            if kind is not None:
                tags.update({str(value): member for value in get_args(kind.annotation)})
    return tags


class _Where:
    """What a pydantic ``loc`` points at: its dotted parts, the model and field at its end."""

    def __init__(self, loc: Sequence[str | int]) -> None:
        self.parts: list[str | int] = []
        self.model: type[BaseModel] | None = None
        self.field: str | None = None
        self.is_key = False
        tp: Any = HazardwatchConfig
        for item in loc:
            if item == "[key]":  # the error is about a mapping key, not its value
                self.is_key = True
                continue
            tp = _unwrap(tp)
            origin = get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                self.model, self.field = tp, str(item)
                self.parts.append(str(item))
                info = tp.model_fields.get(str(item))
                tp = info.annotation if info is not None else None
            elif origin in (Union, types.UnionType) and str(item) in _union_tags(tp):
                tp = _union_tags(tp)[str(item)]  # pydantic's tag: not part of the path
            elif origin in (list, tuple) and isinstance(item, int):
                self.parts.append(item)
                args = [a for a in get_args(tp) if a is not Ellipsis]
                tp = args[min(item, len(args) - 1)] if args else None
            elif origin is dict:
                self.parts.append(str(item))
                tp = get_args(tp)[1]
            else:
                self.parts.append(item)
                tp = None

    @property
    def path(self) -> str:
        return format_path(self.parts)

    @property
    def sensitive(self) -> bool:
        return any(part in _SENSITIVE_FIELDS for part in self.parts)

    def description(self) -> str | None:
        if self.model is None or self.field is None:
            return None
        info = self.model.model_fields.get(self.field)
        return None if info is None or info.description is None else info.description


def _message(error: ErrorDetails, where: _Where) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        description = where.description()
        extra = f" ({description.rstrip('.')})" if description else ""
        return f"required key '{where.field}' is missing{extra}"
    if kind == "extra_forbidden":
        allowed = list(where.model.model_fields) if where.model else []
        return (
            f"unknown key '{where.field}'"
            + did_you_mean(str(where.field), allowed)
            + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        kinds = ", ".join(k.value for k in HazardKind)
        if kind == "union_tag_not_found":
            return f"a hazard needs 'kind', one of: {kinds}"
        return f"unknown hazard kind '{ctx.get('tag')}' (expected one of: {kinds})"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind in _MAPPING_TYPES:
        return f"expected a mapping, got {_yaml_type(value)}"
    if kind in _LIST_TYPES:
        return f"expected a list, got {_yaml_type(value)}"
    if kind == "invalid_key" or (where.is_key and kind == "string_type"):
        return f"keys must be text, but YAML read this one as {_yaml_type(value)}: quote it"
    if kind == "string_type":  # the type only: the value may be a secret
        return f"expected text, got {_yaml_type(value)}"
    if kind == "string_pattern_mismatch" and where.field == "token_sha256":
        return "must be the SHA-256 of the token as 64 lowercase hex digits"
    if kind == "finite_number":
        return "must be a finite number (not .nan or .inf)"
    if kind in _ECHO_TYPES and not where.sensitive:
        return f"{msg}, got {_echo(value)}"
    return msg


def issues_from_validation_error(exc: ValidationError) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per pydantic error of a :class:`HazardwatchConfig` validation."""
    issues = []
    for error in exc.errors(include_url=False):
        where = _Where(error["loc"])
        issues.append(ConfigIssue(where.path, _message(error, where)))
    return issues


# --- loading -------------------------------------------------------------------------------------


def _yaml_issue(exc: yaml.YAMLError) -> ConfigIssue:
    """A YAML error without PyYAML's echo of the source line (which may hold a password)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        where = ""
        if exc.problem_mark is not None:
            where = f" at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}"
        problem = exc.problem or "invalid YAML"
        context = ""
        if exc.context:  # PyYAML's order: "while parsing X at line N", then the problem
            context = exc.context
            if exc.context_mark is not None:
                context += f" at line {exc.context_mark.line + 1}"
            context += ", "
        return ConfigIssue("", f"YAML syntax error{where}: {context}{problem}")
    return ConfigIssue("", f"YAML error: {exc}")


def _load_mapping(text: str, source_name: str) -> dict[str, Any]:
    try:
        data = load_yaml(text)
    except DuplicateKeyError as exc:
        issues = [
            ConfigIssue(
                format_path(dup.path),
                f"duplicate key '{dup.path[-1]}' at line {dup.line}, column {dup.column} "
                f"(first given at line {dup.first_line}); the second would silently replace the "
                "first",
            )
            for dup in exc.duplicates
        ]
        raise ConfigError(source_name, issues) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source_name, [_yaml_issue(exc)]) from None
    if data is None:
        raise ConfigError(
            source_name, [ConfigIssue("", "the file is empty; expected 'site' and 'cameras'")]
        )
    if not isinstance(data, dict):
        raise ConfigError(
            source_name,
            [
                ConfigIssue(
                    "",
                    f"the top level must be a mapping (site, detector, cameras, ...), got "
                    f"{_yaml_type(data)}",
                )
            ],
        )
    return data


def validate_config(data: Mapping[str, Any], source_name: str = "<config>") -> HazardwatchConfig:
    """Validate an already parsed config mapping: schema, then every ``verify_*`` check.

    Raises:
        ConfigError: listing every problem found.
    """
    try:
        config = HazardwatchConfig.model_validate(data)
    except ValidationError as exc:
        # The cross checks still run on every part that validated: one run lists everything.
        parts = ConfigParts.from_raw(data, exc.errors(include_url=False))
        issues = issues_from_validation_error(exc) + check_config(parts)
        # `from None`: pydantic's own text echoes input values, credentials included.
        raise ConfigError(source_name, issues) from None
    issues = check_config(config)
    if issues:
        raise ConfigError(source_name, issues)
    return config


def parse_config(text: str, source_name: str = "<string>") -> HazardwatchConfig:
    """Parse and validate config YAML text; ``source_name`` prefixes every error line.

    Raises:
        ConfigError: listing every problem found.
    """
    return validate_config(_load_mapping(text, source_name), source_name)


def load_config(path: str | Path) -> HazardwatchConfig:
    """Read, parse and validate a config file.

    Raises:
        ConfigError: the file is missing, unreadable, not UTF-8, not YAML, or invalid; every
            problem is listed.
    """
    name = str(path)

    def fail(message: str) -> ConfigError:
        return ConfigError(name, [ConfigIssue("", message)])

    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail("file not found") from None
    except IsADirectoryError:
        raise fail("is a directory, not a config file") from None
    except PermissionError:
        raise fail("cannot read the file: permission denied") from None
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    return parse_config(text, name)
