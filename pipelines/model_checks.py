"""The class mapping of each camera checked against the model it uses (reads the model files).

:func:`pipelines.config.verify_detector` checks what the config file alone can tell (names,
``detect.model``, roles mapped). Whether the mapped labels exist needs the model's class names:
from ``labels``/``labels_file`` when given, else from the ONNX metadata ``names``
(onnxruntime's ``custom_metadata_map``; models exported by ``models train`` and by Ultralytics
carry it), else the 80 COCO names for an 80-class model. :func:`verify_models` loads each
detector for that (``check-config``, start-up, and a config reload before anything is swapped),
and names the camera, the model and the missing class.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path

from cameras.schema import DETECTOR_HAZARDS
from cameras.schema_checks import ConfigIssue, format_path
from models.detector import Detector, OnnxDetector
from models.errors import ModelError
from models.labels import suggest_label
from models.spec import DetectorSpec, ProviderChoice
from pipelines.builders import BuildError, camera_needs_detector
from pipelines.config import DEFAULT_DETECTOR, ClassRole, DetectorConfig, HazardwatchConfig
from pipelines.detector_pool import DetectorPool
from vision.types import HazardKind

# Roles a hazard kind's rule looks at: a label mapped to one of them must exist in the model of
# every camera watching that kind (fire lane blockers; e-bikes, bicycles and their riders).
USED_ROLES: Mapping[HazardKind, frozenset[ClassRole]] = {
    HazardKind.FIRE_LANE_BLOCKED: frozenset(
        {ClassRole.VEHICLE, ClassRole.BICYCLE, ClassRole.EBIKE, ClassRole.CLUTTER}
    ),
    HazardKind.EBIKE_ENTRY: frozenset({ClassRole.EBIKE, ClassRole.BICYCLE, ClassRole.PERSON}),
}
_SHOWN_LABELS = 24
_RELATIVE_HINT = (
    " (a relative path is looked up from the working directory, then beside the config file)"
)

LabelsOf = Callable[[str, DetectorConfig], tuple[str, ...]]


def detector_path(name: str) -> list[str | int]:
    """Where detector ``name`` is written: ``detector`` for the default, else ``detectors.NAME``."""
    return ["detector"] if name == DEFAULT_DETECTOR else ["detectors", name]


def _for_labels(spec: DetectorSpec) -> Detector:
    """A detector loaded only to read its class names: CPU, no warm-up, no mapping check (the
    mapping is judged per camera here, with better messages)."""
    return OnnxDetector(
        dataclasses.replace(
            spec, providers=(ProviderChoice.CPU,), classes={}, warmup_runs=0, batch_max_size=1
        )
    )


def labels_from(
    pool: DetectorPool, base_dir: Path | None, shared: Collection[str] | None = None
) -> LabelsOf:
    """Class names of a detector block through ``pool``, whose sessions the cameras then use.

    Args:
        pool: the sessions the cameras will run on.
        base_dir: the config file's folder (relative model paths).
        shared: the detector names cameras will run on (None: all). Any other is read with a
            throwaway CPU session, so that a detector no camera uses holds no live session.
    """
    checking = DetectorPool(build=_for_labels, log_level=logging.DEBUG)

    def labels_of(name: str, block: DetectorConfig) -> tuple[str, ...]:
        source = pool if shared is None or name in shared else checking
        return source.get(block.model_copy(update={"classes": {}}), base_dir, name).labels

    return labels_of


def detectors_in_use(config: HazardwatchConfig, camera_ids: Iterable[str]) -> set[str]:
    """The detector names the given cameras run on (those whose hazards need detection)."""
    return {
        config.detector_name(camera_id)
        for camera_id in camera_ids
        if camera_id in config.cameras and camera_needs_detector(config.cameras[camera_id])
    }


def checking_labels(base_dir: Path | None) -> LabelsOf:
    """Class names read by a throwaway CPU session per model (``check-config``)."""
    return labels_from(DetectorPool(build=_for_labels, log_level=logging.DEBUG), base_dir)


def _shown(labels: tuple[str, ...]) -> str:
    if len(labels) <= _SHOWN_LABELS:
        return ", ".join(labels)
    return ", ".join(labels[:_SHOWN_LABELS]) + f", ... ({len(labels)} in all)"


def _missing(label: str, labels: tuple[str, ...]) -> str:
    hint = suggest_label(label, labels)
    return (f"; did you mean '{hint}'?" if hint else "") + f" (its classes: {_shown(labels)})"


def verify_models(config: HazardwatchConfig, labels_of: LabelsOf) -> list[ConfigIssue]:
    """Load every configured detector's class names; check each camera's mapping against its own.

    A camera watching fire_lane_blocked or ebike_entry needs every label its detector maps to a
    role that hazard uses (:data:`USED_ROLES`) to be a class of that detector's model; the error
    is at ``cameras.ID.detect.model`` and names the camera, the detector, its model file and the
    missing class. A mapped label that no camera needs but the model lacks is reported at the
    detector's ``classes`` (the detector would refuse to start with it). A model that cannot be
    loaded is reported at its ``model`` key.
    """
    issues: list[ConfigIssue] = []
    blocks = config.detector_configs()
    labels: dict[str, tuple[str, ...]] = {}
    for name, block in blocks.items():
        path = format_path([*detector_path(name), "model"])
        try:
            labels[name] = labels_of(name, block)
        except BuildError as exc:
            message = str(exc).split(": ", 1)[-1]
            relative = not Path(block.model).is_absolute() and "file not found" in message
            issues.append(ConfigIssue(path, message + (_RELATIVE_HINT if relative else "")))
        except ModelError as exc:
            issues.append(
                ConfigIssue(
                    path, f"model of detector '{name}' ({block.model}) cannot be used: {exc}"
                )
            )
    reported: set[tuple[str, str]] = set()
    for camera_id, camera in config.cameras.items():
        kinds = sorted({h.kind for h in camera.hazards if h.kind in DETECTOR_HAZARDS})
        name = config.detector_name(camera_id)
        camera_block = blocks.get(name)
        if not kinds or camera_block is None or name not in labels:
            continue
        used = frozenset().union(*(USED_ROLES[kind] for kind in kinds))
        where = format_path([*detector_path(name), "classes"])
        for label, role in camera_block.classes.items():
            if role not in used or label in labels[name]:
                continue
            reported.add((name, label))
            issues.append(
                ConfigIssue(
                    format_path(["cameras", camera_id, "detect", "model"]),
                    f"camera '{camera_id}' ({', '.join(kinds)}) needs class '{label}' (role "
                    f"{role}, mapped in {where}), which the model of detector '{name}' "
                    f"({Path(camera_block.model).name}) does not have"
                    + _missing(label, labels[name]),
                )
            )
    for name, block in blocks.items():
        for label in block.classes:
            if name in labels and label not in labels[name] and (name, label) not in reported:
                issues.append(
                    ConfigIssue(
                        format_path([*detector_path(name), "classes", label]),
                        f"label '{label}' is not a class of the model of detector '{name}' "
                        f"({Path(block.model).name})" + _missing(label, labels[name]),
                    )
                )
    return issues
