"""Hot reload of each camera's detector when the config file changes.

``run``/``up`` watch the config file: its modification time and size are polled every
``poll_interval_s``, and SIGHUP asks for a reload at once (:meth:`ConfigReloader.request`). A
changed file is read and validated whole (schema, cross checks, then every detector's model is
loaded and each camera's class mapping checked against its model, as ``check-config`` does). A
file that fails is rejected: every problem is logged with its dotted path, and the cameras keep
running on the config they have. A file that passes switches each running camera whose detector
changed (its ``detect.model``, the block it names, or the model file itself, replaced in place
as ``models import --force`` does) to the new one, from the shared pool of sessions, between two
of its frames (:meth:`pipelines.runner.CameraRunner.use_detector`).

Only the detectors are reloaded. Other changes (sources, zones, hazards, rates, cameras added or
removed) need a restart, and a warning says which cameras have them; zones edited through the
API are reloaded on their own (``zones/{camera}.json``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from models.detector import Detector
from models.errors import ModelError
from pipelines.builders import BuildError, camera_needs_detector
from pipelines.config import ConfigError, DetectorConfig, HazardwatchConfig, load_config
from pipelines.detector_pool import DetectorPool
from pipelines.model_checks import detectors_in_use, labels_from, verify_models
from pipelines.runner import CameraRunner
from pipelines.signals import SignalInbox

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0
SIGNAL_CHECK_S = 0.5  # how often the watcher looks for SIGHUPs


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload did.

    Attributes:
        applied: whether the new config was accepted (False: rejected, or unchanged file).
        switched: camera ids now on another detector.
        errors: why the file was rejected (one line per problem, with its dotted path).
        restart_needed: cameras with changes a reload does not apply.
    """

    applied: bool
    switched: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = field(default=())


def _camera_without_model(config: HazardwatchConfig, camera_id: str) -> dict[str, object]:
    data = config.cameras[camera_id].model_dump(mode="json")
    data["detect"].pop("model", None)
    return data


def _detector_of(config: HazardwatchConfig, camera_id: str) -> tuple[str, DetectorConfig | None]:
    return config.detector_name(camera_id), config.detector_of(camera_id)


class ConfigReloader:
    """Watches ``path`` and switches running cameras to the detectors a new version names.

    Args:
        path: the config file ``run``/``up`` started with.
        config: the config the cameras run with now.
        runners: the running cameras by id.
        pool: the shared detectors (new ones are built into it, unchanged ones reused).
        poll_interval_s: how often the file's modification time is looked at.
    """

    def __init__(
        self,
        path: Path,
        config: HazardwatchConfig,
        runners: Mapping[str, CameraRunner],
        pool: DetectorPool,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.runners = dict(runners)
        self.pool = pool
        self.poll_interval_s = poll_interval_s
        self._signals: SignalInbox | None = None
        self._stamp = self._file_stamp()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ----- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="config-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def request(self) -> None:
        """Reload now, even if the file looks unchanged (from a thread, never from a signal
        handler: see :mod:`pipelines.signals`)."""
        self._wake.set()

    def watch_signals(self, inbox: SignalInbox) -> None:
        """Take SIGHUPs from ``inbox`` (when the main thread is busy elsewhere, e.g. serving
        HTTP): looked at every ``SIGNAL_CHECK_S``."""
        self._signals = inbox

    def _loop(self) -> None:
        # Wakes twice a second: for SIGHUPs noted by the signal inbox (a handler must not
        # set an Event, see pipelines.signals) and for the file poll when it is due.
        next_poll = time.monotonic() + self.poll_interval_s
        while not self._stop.is_set():
            forced = self._wake.wait(min(self.poll_interval_s, SIGNAL_CHECK_S))
            self._wake.clear()
            if self._stop.is_set():
                return
            signals = self._signals
            if signals is not None and signals.take_hups():
                forced = True
            if not forced and time.monotonic() < next_poll:
                continue
            next_poll = time.monotonic() + self.poll_interval_s
            try:
                self.reload(force=forced)
            except Exception:  # the watcher must outlive a bug in one reload
                logger.exception("config reload of %s failed", self.path)

    # ----- the reload ---------------------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self, force: bool = False) -> ReloadResult:
        """Read the file if it changed (or ``force``); validate; switch cameras' detectors."""
        with self._lock:
            stamp = self._file_stamp()
            if not force and stamp == self._stamp:
                return ReloadResult(applied=False)
            self._stamp = stamp
            try:
                new = self._validated()
            except ConfigError as exc:
                lines = tuple(str(exc).splitlines())
                logger.error(
                    "config reload: %s rejected, the cameras keep their detectors:\n%s",
                    self.path,
                    "\n".join(lines),
                )
                return ReloadResult(applied=False, errors=lines)
            return self._apply(new)

    def _validated(self) -> HazardwatchConfig:
        """The new config, its models loaded and each camera's classes checked.

        Raises:
            ConfigError: every problem of the file, or of its models.
        """
        config = load_config(self.path)
        shared = detectors_in_use(config, self.runners)
        issues = verify_models(config, labels_from(self.pool, self.path.parent, shared))
        if issues:
            raise ConfigError(str(self.path), issues)
        return config

    def _apply(self, new: HazardwatchConfig) -> ReloadResult:
        old = self.config
        restart = sorted(
            {cid for cid in old.cameras if cid not in new.cameras}
            | {cid for cid in new.cameras if cid not in old.cameras}
            | {
                cid
                for cid in old.cameras
                if cid in new.cameras
                and _camera_without_model(old, cid) != _camera_without_model(new, cid)
            }
        )
        if restart:
            logger.warning(
                "config reload: cameras %s have changes other than their detector; those "
                "apply at the next restart",
                ", ".join(restart),
            )
        # Every new detector is built before any camera switches: all or nothing.
        switches: dict[str, Detector | None] = {}
        try:
            for camera_id, runner in self.runners.items():
                if camera_id not in new.cameras:
                    continue
                needs = camera_needs_detector(new.cameras[camera_id])
                detector = self.pool.for_camera(new, camera_id, self.path.parent) if needs else None
                # Another block (even one only mapping classes differently) or another model
                # file (a registry model replaced in place gets a new session) switches.
                if (
                    _detector_of(old, camera_id) != _detector_of(new, camera_id)
                    or detector is not runner.detector
                ):
                    switches[camera_id] = detector
        except (BuildError, ModelError) as exc:
            logger.error(
                "config reload: %s rejected, the cameras keep their detectors: %s", self.path, exc
            )
            return ReloadResult(applied=False, errors=(str(exc),), restart_needed=tuple(restart))
        for camera_id, detector in switches.items():
            self.runners[camera_id].use_detector(new, detector)
        self.config = new
        if switches:
            logger.info(
                "config reload: %s applied; %s",
                self.path,
                ", ".join(f"{cid} -> {new.detector_name(cid)}" for cid in switches),
            )
        return ReloadResult(applied=True, switched=tuple(switches), restart_needed=tuple(restart))
