"""Turn the validated config into runtime objects: detector spec, zones, rules, source settings.

The config never holds derived data; everything computed from it (pixel geometry, rule state)
lives in the objects built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cameras.hwdecode import HwDecodeRequest
from cameras.schema import (
    CameraConfig,
    FallingObjectHazard,
    FireLaneBlockedHazard,
    MembershipSettings,
)
from cameras.schema import LineZone as LineZoneConfig
from cameras.schema import PolygonZone as PolygonZoneConfig
from cameras.source import SourceSettings
from models.errors import RegistryError
from models.labels import LabelSource
from models.registry import ModelRegistry, models_dir
from models.spec import DetectorSpec, GpuSettings
from pipelines.config import DEFAULT_DETECTOR, DetectorConfig, HazardwatchConfig
from vision.rules.ebike_entry import EbikeEntryRule
from vision.rules.falling_object import FallingObjectRule
from vision.rules.fire_lane import FireLaneRule
from vision.types import HazardKind
from vision.zones import LineZone, Membership, PolygonZone

ObjectRule = FireLaneRule | EbikeEntryRule


class BuildError(Exception):
    """A config that validated but cannot be turned into a running camera (e.g. missing model)."""


def resolve_path(value: str, base_dir: Path | None) -> Path:
    """A path from the config: absolute, or relative to the working directory, or else to the
    config file's directory (so a suite's configs can point next to themselves)."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists() or base_dir is None:
        return path
    beside = base_dir / path
    return beside if beside.exists() else path


def is_registry_name(value: str) -> bool:
    """Whether a detector's ``model`` may name a registered model rather than a file: no
    folder, no ``.onnx`` suffix (``lift-ebike``, as ``models list`` shows it)."""
    return "/" not in value and "\\" not in value and not value.lower().endswith(".onnx")


def resolve_model(
    config: DetectorConfig, base_dir: Path | None, name: str = DEFAULT_DETECTOR
) -> tuple[Path, tuple[str, ...] | None]:
    """The model file of detector ``name``, and the class names its registry manifest gives.

    ``model`` is a file path (absolute, from the working directory, or beside the config file),
    or the name of a model in the registry (``$HAZARDWATCH_MODELS_DIR``, else ./models/store).
    For a registered model whose class names were given at import (a labels file, not its
    metadata), those names come with it unless the block gives its own.

    Raises:
        BuildError: neither a file nor a registered model (naming the key that gives it).
    """
    where = "detector" if name == DEFAULT_DETECTOR else f"detectors.{name}"
    model = resolve_path(config.model, base_dir)
    if model.is_file():
        return model, None
    if not is_registry_name(config.model):
        raise BuildError(f"{where}.model: model file not found: {model}")
    registry = ModelRegistry(models_dir())
    try:
        manifest = registry.get(config.model)
    except RegistryError as exc:
        raise BuildError(f"{where}.model: no model file {model}, and {exc}") from None
    path = registry.path_of(manifest)
    if not path.is_file():
        raise BuildError(f"{where}.model: registered model {config.model!r} has no file {path}")
    given = config.labels is not None or config.labels_file is not None
    imported = manifest.label_source in (LabelSource.LABELS, LabelSource.LABELS_FILE)
    return path, manifest.labels if imported and not given else None


def detector_spec(
    config: DetectorConfig, base_dir: Path | None, name: str = DEFAULT_DETECTOR
) -> DetectorSpec:
    """The model spec of detector ``name`` (``detector`` is named ``default``).

    Raises:
        BuildError: the model is neither a file nor a registered model (naming the key).
    """
    model, registered_labels = resolve_model(config, base_dir, name)
    labels_file = resolve_path(config.labels_file, base_dir) if config.labels_file else None
    return DetectorSpec(
        model=model,
        input_size=config.input_size,
        providers=config.providers,
        classes={label: role.value for label, role in config.classes.items()},
        labels=tuple(config.labels) if config.labels else registered_labels,
        labels_file=labels_file,
        family=config.family,
        score_threshold=config.score_threshold,
        iou_threshold=config.iou_threshold,
        batch_max_size=config.batch_max_size,
        batch_max_wait_ms=config.batch_max_wait_ms,
        intra_op_threads=config.intra_op_threads,
        gpu=GpuSettings(
            device_id=config.gpu.device_id,
            tensorrt_fp16=config.gpu.tensorrt_fp16,
            engine_cache_dir=(
                resolve_path(config.gpu.engine_cache_dir, base_dir)
                if config.gpu.engine_cache_dir
                else None
            ),
        ),
    )


@dataclass(frozen=True, slots=True)
class CameraRules:
    """The rules of one camera, split by the analysis that drives them."""

    object_rules: tuple[ObjectRule, ...]
    falling_rules: tuple[FallingObjectRule, ...]

    @property
    def needs_detector(self) -> bool:
        return bool(self.object_rules)


def camera_needs_detector(camera: CameraConfig) -> bool:
    """Fire-lane and e-bike rules need the detector; falling objects are motion analysis only."""
    return any(h.kind is not HazardKind.FALLING_OBJECT for h in camera.hazards)


def membership_of(settings: MembershipSettings) -> Membership:
    """The zone-membership settings of a hazard, as the vision layer takes them."""
    return Membership(
        footprint_height=settings.footprint_height,
        enter_overlap=settings.enter_overlap,
        exit_overlap=settings.exit_overlap,
        enter_zone_overlap=settings.enter_zone_overlap,
    )


def build_rules(camera_id: str, camera: CameraConfig) -> CameraRules:
    object_rules: list[ObjectRule] = []
    falling_rules: list[FallingObjectRule] = []
    for hazard in camera.hazards:
        zone_cfg = camera.zones[hazard.zone]
        if isinstance(hazard, FireLaneBlockedHazard):
            if not isinstance(zone_cfg, PolygonZoneConfig):
                raise BuildError(
                    f"cameras.{camera_id}.zones.{hazard.zone}: a lane must be a polygon"
                )
            object_rules.append(
                FireLaneRule(
                    camera_id=camera_id,
                    zone_id=hazard.zone,
                    polygon_norm=[tuple(p) for p in zone_cfg.polygon],
                    dwell_s=hazard.dwell_s,
                    min_occupancy=hazard.min_occupancy,
                    clear_s=hazard.clear_s,
                    width_m=zone_cfg.width_m,
                    anchor=zone_cfg.anchor,
                    membership=membership_of(hazard.membership),
                )
            )
        elif isinstance(hazard, FallingObjectHazard):
            if not isinstance(zone_cfg, PolygonZoneConfig) or camera.floors is None:
                raise BuildError(
                    f"cameras.{camera_id}: falling_object needs a polygon zone and floors"
                )
            falling_rules.append(
                FallingObjectRule(
                    camera_id=camera_id,
                    zone_id=hazard.zone,
                    polygon_norm=[tuple(p) for p in zone_cfg.polygon],
                    floor_lines_norm=list(camera.floors.lines),
                    lowest_visible_floor=camera.floors.lowest_visible_floor,
                    floor_count=camera.floors.count,
                    min_drop_floors=hazard.min_drop_floors,
                )
            )
        elif hazard.kind == HazardKind.EBIKE_ENTRY:
            zone: PolygonZone | LineZone
            if isinstance(zone_cfg, LineZoneConfig):
                zone = LineZone(
                    hazard.zone,
                    [tuple(p) for p in zone_cfg.line],
                    tuple(zone_cfg.inward),
                    anchor=zone_cfg.anchor,
                )
            else:
                zone = PolygonZone(
                    hazard.zone,
                    [tuple(p) for p in zone_cfg.polygon],
                    anchor=zone_cfg.anchor,
                    membership=membership_of(hazard.membership),
                )
            object_rules.append(
                EbikeEntryRule(
                    camera_id=camera_id,
                    zone_id=hazard.zone,
                    zone=zone,
                    min_duration_s=hazard.min_duration_s,
                    allow_bicycles=hazard.allow_bicycles,
                    min_detections=hazard.min_detections,
                )
            )
    return CameraRules(tuple(object_rules), tuple(falling_rules))


def analysis_rates(camera: CameraConfig, rules: CameraRules) -> tuple[float | None, int]:
    """The fps and width the source must deliver for this camera's analyses."""
    fps: list[float] = []
    widths: list[int] = []
    if rules.object_rules:
        fps.append(camera.detect.fps)
        widths.append(camera.detect.width)
    if rules.falling_rules:
        fps.append(camera.motion.fps)
        widths.append(camera.motion.width)
    if not fps:
        return camera.detect.fps, camera.detect.width
    return max(fps), max(widths)


def source_settings(
    camera_id: str, camera: CameraConfig, rules: CameraRules, url: str, **overrides: object
) -> SourceSettings:
    fps, width = analysis_rates(camera, rules)
    base: Mapping[str, object] = {
        "camera_id": camera_id,
        "url": url,
        "width_px": width,
        "fps": fps,
        "rtsp_transport": camera.rtsp_transport.value,
        "connect_timeout_s": camera.connect_timeout_s,
        "read_timeout_s": camera.read_timeout_s,
        "decode_threads": camera.decode_threads,
        "hwaccel": HwDecodeRequest(camera.decode.hwaccel, camera.decode.device),
        # Motion analysis (falling objects) looks at pixel changes of small objects: H.264's
        # block edges become motion there (one fall of the suite was lost without deblocking).
        "deblock": "always" if rules.falling_rules else camera.decode.deblock,
    }
    return SourceSettings(**{**base, **overrides})  # type: ignore[arg-type]


def camera_or_error(config: HazardwatchConfig, camera_id: str) -> CameraConfig:
    try:
        return config.cameras[camera_id]
    except KeyError:
        known = ", ".join(sorted(config.cameras)) or "none"
        raise BuildError(f"camera '{camera_id}' is not in the config (cameras: {known})") from None
