"""One detector per distinct model, shared by every camera that uses it.

Cameras name a detector with ``detect.model`` (ARCHITECTURE.md §4). Two cameras on the same
detector, or on two detector names whose blocks resolve to the same model file with the same
settings, get the same :class:`models.detector.Detector`: one onnxruntime session (and, live, one
:class:`models.batching.BatchingDetector` batching their frames), not one per camera. A session
costs memory and warm-up, and on a CPU box cameras batched on one session are cheaper than
sessions side by side.

The key is the resolved model file and every setting that changes what the session computes
(input size, providers, labels, family, thresholds, batching, threads). ``classes`` is not part
of it: the class -> role mapping is applied per camera by its analysis, so two detector names that
differ only in their mapping share the session; each mapping is still checked against the
model's labels when it is handed out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from models.detector import Detector, OnnxDetector
from models.labels import map_classes
from models.spec import DetectorSpec
from pipelines.builders import camera_needs_detector, detector_spec
from pipelines.config import DetectorConfig, HazardwatchConfig

logger = logging.getLogger(__name__)

SessionKey = tuple[object, ...]
DetectorBuilder = Callable[[DetectorSpec], Detector]


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def session_key(spec: DetectorSpec) -> SessionKey:
    """What makes two specs need different sessions (everything but ``classes``).

    The model file's modification time and size are part of it: a file replaced in place (a
    model re-imported into the registry under its name) gets a new session on the next reload.
    """
    return (
        str(spec.model.resolve()),
        _file_stamp(spec.model),
        spec.input_hw,
        tuple(spec.providers),
        spec.labels,
        str(spec.labels_file.resolve()) if spec.labels_file is not None else None,
        spec.family,
        spec.score_threshold,
        spec.iou_threshold,
        spec.batch_max_size,
        spec.batch_max_wait_ms,
        spec.intra_op_threads,
    )


class DetectorPool:
    """Builds each distinct detector once and hands it to every camera that uses it.

    Args:
        build: makes a detector from a spec: :class:`OnnxDetector` (replay, eval, checks) or
            ``BatchingDetector.from_spec`` (live cameras).
        log_level: of the line logged for each detector built (DEBUG for throwaway checks).

    Thread-safe: the config watcher and start-up may ask at the same time.
    """

    def __init__(
        self, build: DetectorBuilder = OnnxDetector, log_level: int = logging.INFO
    ) -> None:
        self._build = build
        self._log_level = log_level
        self._detectors: dict[SessionKey, Detector] = {}
        self._lock = threading.Lock()

    @property
    def sessions_built(self) -> int:
        """How many detectors (sessions) this pool has built."""
        with self._lock:
            return len(self._detectors)

    def get(self, block: DetectorConfig, base_dir: Path | None, name: str = "default") -> Detector:
        """The shared detector of ``block`` (built on first use), its mapping checked.

        Raises:
            pipelines.builders.BuildError: the model file does not exist.
            models.errors.ModelError: the model cannot be loaded, or ``block.classes`` names a
                label the model does not have.
        """
        spec = detector_spec(block, base_dir, name=name)
        key = session_key(spec)
        with self._lock:
            detector = self._detectors.get(key)
            if detector is None:
                detector = self._build(spec)
                self._detectors[key] = detector
                logger.log(self._log_level, "detector %s: session for %s built", name, spec.model)
        # Built for another name with another mapping: this one's labels must exist too.
        map_classes(dict(spec.classes), detector.labels, model_name=f"detector '{name}'")
        return detector

    def for_camera(
        self, config: HazardwatchConfig, camera_id: str, base_dir: Path | None
    ) -> Detector | None:
        """The detector camera ``camera_id`` uses, or None when its hazards need none.

        Raises:
            KeyError: the camera is not configured.
            pipelines.builders.BuildError, models.errors.ModelError: see :meth:`get`.
        """
        camera = config.cameras[camera_id]
        if not camera_needs_detector(camera):
            return None
        block = config.detector_of(camera_id)
        if block is None:  # validation refuses this; a hand-built config might not
            return None
        return self.get(block, base_dir, config.detector_name(camera_id))

    def close(self) -> None:
        """Close every detector that can be closed (a BatchingDetector's worker thread)."""
        with self._lock:
            detectors = list(self._detectors.values())
            self._detectors.clear()
        for detector in detectors:
            close = getattr(detector, "close", None)
            if callable(close):
                close()
