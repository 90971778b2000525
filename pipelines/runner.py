"""Live per-camera pipelines: source → analysis → evidence → publish, one set of threads each.

Each camera has its own source thread (decode, packets to its clip recorder), an analysis thread
fed through a drop-oldest frame queue (frames are perishable; every drop is counted), and a
publishing thread that keeps the camera's events in order: a hazard's ``start`` is published only
once its evidence is on disk, and its later ``update``/``end`` events wait behind it. A camera that
fails never stops another. Status, live snapshots and zone states go to Redis for the API.

The analysis (its rules, tracker and open hazards) belongs to the analysis thread alone: the
status thread sees it through the :class:`AnalysisView` that thread publishes after each frame,
a zone edit or a new detector (the config's ``detect.model`` changed, see
:mod:`pipelines.config_reload`) is handed to it to swap in between two frames, and ``stop()``
closes the analysis only once that thread has ended. Closing it from another thread while
``process()`` runs would end a hazard twice, or publish an event after its hazard's end, or lose
what ``process()`` returned after the publishing thread was told to finish.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cameras.clips import ClipRecorder
from cameras.queues import FrameQueue
from cameras.ring import PacketRing
from cameras.schema import CameraConfig, LineZone, PolygonZone
from cameras.source import VideoSource
from models.detector import Detector
from pipelines.actions import ActionHook
from pipelines.analysis import CameraAnalysis, build_camera_analysis
from pipelines.builders import camera_needs_detector, source_settings
from pipelines.config import HazardwatchConfig
from pipelines.evidence import EvidenceWriter, write_zone_snapshot
from pipelines.evidence_layout import LIVE_DIRNAME, EvidenceError, live_after_name
from pipelines.overload import OverloadGovernor, Priority, percentile
from pipelines.publish import EventPublisher
from pipelines.snapshots import LabeledBox
from vision.falling import Blobs
from vision.rules.falling_object import FallingObjectRule
from vision.types import Frame, HazardEvent, HazardPhase

logger = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
LIVE_SNAPSHOT_INTERVAL_S = 5.0
ZONE_RELOAD_INTERVAL_S = 5.0
EVIDENCE_TIMEOUT_S = 180.0
AFTER_REFRESH_S = 10.0  # the live "after" picture of a clear zone is rewritten this often
THREAD_JOIN_S = 10.0
STATUS_WINDOW_S = 10.0  # lag percentiles and the effective detect rate are over this window


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    data_dir: Path
    realtime_files: bool = True  # play file sources like a camera (demo, tests)
    loop_files: bool = False
    frame_queue_size: int = 4
    # How long stop() waits for the analysis thread to finish the frame it is on (a detector
    # call); past that the camera's open hazards are left without their end (see stop()).
    analysis_stop_timeout_s: float = THREAD_JOIN_S
    # Which worker process of ``hazardwatch run`` runs the camera (None: the single process).
    worker_index: int | None = None


@dataclass(frozen=True, slots=True)
class ZoneState:
    """Whether a hazard is open in one zone, for the zone status the API shows."""

    zone_id: str
    kind: str  # HazardKind value
    active: bool  # a hazard is open in the zone


@dataclass(frozen=True, slots=True)
class AnalysisView:
    """What the status thread may know of the analysis, as of one analysed frame: published
    by the analysis thread (one atomic attribute swap), never changed afterwards."""

    frame: Frame
    boxes: tuple[LabeledBox, ...]  # detections of ``frame``, for the privacy blur
    zones: tuple[ZoneState, ...]
    last_pts_s: float
    stage_ms: dict[str, float]
    detector_runs: int
    detector_skips: int
    detect_fps: float  # the rate in force now (the overload policy may have lowered it)
    zone_ids: tuple[str, ...] = ()  # the zones of the analysis in force (edits show here)
    # each falling-object rule with its last picture's moving blobs (rule.blob_boxes_norm)
    motion: tuple[tuple[FallingObjectRule, Blobs], ...] = ()


_ActionSpec = tuple[tuple[str, ...] | None, str | None, float]  # command, url, timeout


class _Recorder(Protocol):
    """What the runner needs of :class:`pipelines.metrics.PipelineMetrics` (imported only in
    processes where multiprocess metrics are on)."""

    def record_camera(
        self, camera_id: str, status: Mapping[str, Any], *, lags_s: Sequence[float] = ()
    ) -> None: ...


def _file_playback(url: str, options: RunnerOptions) -> dict[str, bool | None]:
    """How a source plays a file (no ``://``): like a camera (paced), looped with the demo's and
    the bench's HAZARDWATCH_LOOP_FILES (then as a live stream: time runs on across loops)."""
    is_file = "://" not in url
    return {
        "realtime": is_file and options.realtime_files,
        "loop_file": is_file and options.loop_files,
        "live": True if is_file and options.loop_files else None,
    }


def _boxes_norm(view: AnalysisView) -> list[dict[str, Any]]:
    """The view's detections as fractions of its frame, for the status record."""
    height, width = view.frame.image.shape[:2]
    return [
        {
            "label": label,
            "xyxy_norm": [
                round(float(box[0]) / width, 4),
                round(float(box[1]) / height, 4),
                round(float(box[2]) / width, 4),
                round(float(box[3]) / height, 4),
            ],
        }
        for box, label in view.boxes
    ]


def zones_overlay(camera: CameraConfig) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for zone_id, zone in camera.zones.items():
        if isinstance(zone, PolygonZone):
            out[zone_id] = ("polygon", [tuple(p) for p in zone.polygon])
        elif isinstance(zone, LineZone):
            out[zone_id] = ("line", [tuple(p) for p in zone.line], tuple(zone.inward))
    return out


class CameraRunner:
    """Everything live for one camera."""

    def __init__(
        self,
        camera_id: str,
        camera: CameraConfig,
        config: HazardwatchConfig,
        detector: Detector | None,
        publisher: EventPublisher,
        options: RunnerOptions,
        governor: OverloadGovernor | None = None,
        metrics: _Recorder | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.governor = governor
        self.metrics = metrics
        self.priority = Priority(camera.detect.priority)
        self.camera = camera
        self.config = config
        self.detector = detector
        self.publisher = publisher
        self.options = options
        self._stop = threading.Event()
        self._queue = FrameQueue(max_size=options.frame_queue_size)
        ring = PacketRing(max_duration_s=camera.preroll_s + 10.0)
        self.recorder = ClipRecorder(ring, camera_id)
        self.analysis = self._build_analysis(camera)
        url = camera.source or ""
        self.source = VideoSource(
            source_settings(
                camera_id, camera, self.analysis.rules, url, **_file_playback(url, options)
            ),
            on_packet=None if camera.evidence_source else self.recorder.feed,
        )
        self.source.set_reconnect_hook(ring.mark_discontinuity)
        self.evidence_source: VideoSource | None = None
        if camera.evidence_source:
            # A file main stream is played like the analysed one, or its clips would be cut
            # from packets read far ahead of the analysed pictures.
            self.evidence_source = VideoSource(
                source_settings(
                    camera_id,
                    camera,
                    self.analysis.rules,
                    camera.evidence_source,
                    decode=False,
                    **_file_playback(camera.evidence_source, options),
                ),
                on_packet=self.recorder.feed,
            )
            self.evidence_source.set_reconnect_hook(ring.mark_discontinuity)
        self.evidence = EvidenceWriter(
            options.data_dir,
            camera_id,
            camera.name or camera_id,
            self.recorder,
            pre_s=camera.preroll_s,
            post_s=camera.postroll_s,
            zones=zones_overlay(camera),
        )
        self._publish_queue: queue.Queue[tuple[Future[HazardEvent] | None, HazardEvent] | None]
        self._publish_queue = queue.Queue()
        self._hook_specs = self._action_specs(camera)
        self._hooks = {zone: self._make_hook(zone, spec) for zone, spec in self._hook_specs.items()}
        self._threads: list[threading.Thread] = []
        self._analysis_thread: threading.Thread | None = None
        # Events go to the publishing thread until stop() sends it the end marker; the lock
        # orders a late analysis thread's events against that (see stop()).
        self._route_lock = threading.Lock()
        self._routing_open = True
        # A zone edit's new analysis (with its camera config), waiting for the analysis thread.
        self._pending_lock = threading.Lock()
        self._pending: tuple[CameraAnalysis, CameraConfig] | None = None
        self.events_total = 0
        self._view: AnalysisView | None = None
        self._zone_ids = tuple(sorted(camera.zones))  # the analysis thread's, swapped with it
        self._clear_since: dict[tuple[str, str], float | None] = {}
        self._after_written: dict[tuple[str, str], tuple[float, str]] = {}
        self._zones_mtime: float | None = None
        self._reload_lock = threading.Lock()  # reload_zones() may be called from outside too
        # Analysed frames' lags (analysis thread → status thread), and the status thread's
        # own windows over them and over the detector's runs.
        self._lags_in: queue.SimpleQueue[tuple[float, float]] = queue.SimpleQueue()
        self._lag_window: deque[tuple[float, float]] = deque()
        self._runs_window: deque[tuple[float, int]] = deque()
        self._dropped_seen = 0

    # ----- construction -------------------------------------------------------------------------

    def _build_analysis(self, camera: CameraConfig) -> CameraAnalysis:
        return build_camera_analysis(self.camera_id, camera, self.config, self.detector)

    @staticmethod
    def _action_specs(camera: CameraConfig) -> dict[str, _ActionSpec]:
        specs: dict[str, _ActionSpec] = {}
        for hazard in camera.hazards:
            action = getattr(hazard, "action", None)
            if action is not None:
                command = tuple(action.command) if action.command else None
                specs[hazard.zone] = (command, action.url, action.timeout_s)
        return specs

    def _make_hook(self, zone: str, spec: _ActionSpec) -> ActionHook:
        command, url, timeout_s = spec
        return ActionHook(
            command=list(command) if command else None,
            url=url,
            timeout_s=timeout_s,
            name=f"{self.camera_id}/{zone}",
        )

    def _refresh_hooks(self, camera: CameraConfig) -> None:
        """Between two frames, after a zone or hazard edit: a zone whose action is unchanged
        keeps its hook; a removed or changed one's hook ends (after its queued actions, on a
        thread of its own so that analysis does not wait for a slow command)."""
        specs = self._action_specs(camera)
        old, old_specs = self._hooks, self._hook_specs
        self._hooks = {
            zone: old[zone] if old_specs.get(zone) == spec else self._make_hook(zone, spec)
            for zone, spec in specs.items()
        }
        self._hook_specs = specs
        for zone, hook in old.items():
            if self._hooks.get(zone) is not hook:
                threading.Thread(
                    target=hook.close, args=(THREAD_JOIN_S,), name=f"hook-close-{zone}", daemon=True
                ).start()

    # ----- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.source.start(self._queue.put)
        if self.evidence_source is not None:
            self.evidence_source.start(lambda frame: None)
        for target, name in (
            (self._analyse_loop, "analysis"),
            (self._publish_loop, "publish"),
            (self._status_loop, "status"),
        ):
            thread = threading.Thread(target=target, name=f"{name}-{self.camera_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
            if name == "analysis":
                self._analysis_thread = thread

    def stop(self) -> None:
        """Stop the camera: open hazards end, pending evidence is finished or resolved
        without its clip, every event is handed to the publisher, every thread ends.

        The analysis thread finishes its frame first; only then are the open hazards ended
        here, so that each gets one ``end``, after its other events. If it does not finish in
        ``analysis_stop_timeout_s`` (a hung detector), its hazards are left open rather than
        closed under it: the event contract allows a hazard without its ``end`` (at most
        one), which a crash leaves too; a second ``end``, or an ``update`` after the ``end``,
        would break it, and the rules' state with it. What that thread produces once the
        publishing thread has been told to finish is logged as not published.
        """
        self._stop.set()
        self.source.stop()
        if self.evidence_source is not None:
            self.evidence_source.stop()
        self._queue.close()
        self.recorder.end_of_stream()  # pending clips are cut with what they have
        if self._join_analysis_thread():
            for event in self._close_analysis():
                self._route(event, None, ())
        with self._route_lock:
            self._routing_open = False
        self._publish_queue.put(None)
        for thread in self._threads:
            if thread is not self._analysis_thread:
                thread.join(
                    EVIDENCE_TIMEOUT_S if thread.name.startswith("publish") else THREAD_JOIN_S
                )
        self.recorder.close()  # writes the clips still pending, so the writer can finish them
        # Public clips still being encoded are finished; anything left is resolved without its
        # clip (its temporary files removed) and the writer's threads end.
        self.evidence.close()
        for hook in self._hooks.values():
            hook.close()

    def _join_analysis_thread(self) -> bool:
        """Wait for the analysis thread to end; False (logged) when it is still running."""
        thread = self._analysis_thread
        if thread is None:
            return True
        timeout_s = self.options.analysis_stop_timeout_s
        logger.info(
            "camera %s: stopping; waiting up to %.1f s for the analysis thread",
            self.camera_id,
            timeout_s,
        )
        thread.join(timeout_s)
        if not thread.is_alive():
            return True
        logger.error(
            "camera %s: the analysis thread did not end within %.1f s of stop (stuck in the "
            "detector or a rule); its open hazards are left without their end event, and "
            "events it still produces are logged, not published",
            self.camera_id,
            timeout_s,
        )
        return False

    # ----- loops --------------------------------------------------------------------------------

    def _analyse_loop(self) -> None:
        """The analysis thread: the only one that touches ``self.analysis`` while it runs."""
        while not self._stop.is_set():
            frame = self._queue.get(timeout_s=0.5)
            self._swap_in_pending_analysis()
            if frame is not None:
                self._analyse(frame)

    def _analyse(self, frame: Frame) -> None:
        analysis = self.analysis
        try:
            events = analysis.process(frame)
        except Exception:
            logger.exception("camera %s: analysis failed on frame %d", self.camera_id, frame.seq)
            return
        self._pace(analysis, frame)
        boxes = self._detected_boxes(analysis)
        self._view = self._make_view(analysis, frame, boxes, self._zone_ids)
        if analysis.last_tracks is not None:
            try:
                self.evidence.observe(frame, boxes)
            except Exception:  # the privacy timeline misses a frame; the events still go
                logger.exception(
                    "camera %s: privacy regions of frame %d not recorded",
                    self.camera_id,
                    frame.seq,
                )
        for event in events:
            self._route(event, frame, boxes)

    def _pace(self, analysis: CameraAnalysis, frame: Frame) -> None:
        """How late this frame was analysed; the overload policy's detect rate (see
        :mod:`pipelines.overload`)."""
        lag_s = max(0.0, time.time() - frame.captured_at.timestamp())
        self._lags_in.put((time.monotonic(), lag_s))
        if self.governor is None:
            return
        dropped = self._queue.dropped
        self.governor.report(lag_s, dropped=dropped > self._dropped_seen)
        self._dropped_seen = dropped
        if analysis.detector is not None:
            analysis.set_detect_fps(self.governor.detect_fps(self.camera.detect.fps, self.priority))

    def _swap_in_pending_analysis(self) -> None:
        """Between two frames: end the old analysis's hazards and continue with the new one."""
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        analysis, camera = pending
        events = self._close_analysis()
        self.analysis = analysis
        self._zone_ids = tuple(sorted(camera.zones))
        for event in events:  # the old hazards end through the old hooks
            self._route(event, None, ())
        self._refresh_hooks(camera)
        try:
            self.evidence.zones = zones_overlay(camera)
        except ValueError as exc:  # snapshots keep the old zone outlines
            logger.error(
                "camera %s: zone outlines for evidence not updated: %s", self.camera_id, exc
            )
        logger.info("camera %s: new analysis applied", self.camera_id)

    def _close_analysis(self) -> list[HazardEvent]:
        """End the open hazards (by the thread that owns the analysis, or once none does)."""
        try:
            return self.analysis.close()
        except Exception:
            logger.exception("camera %s: ending the open hazards failed", self.camera_id)
            return []

    def _route(self, event: HazardEvent, frame: Frame | None, boxes: Sequence[LabeledBox]) -> None:
        """Keep a camera's events in order; a start waits for its evidence."""
        with self._route_lock:
            if not self._routing_open:
                logger.error(
                    "camera %s: %s event %s of hazard %s came after the camera stopped; "
                    "not published: %s",
                    self.camera_id,
                    event.phase.value,
                    event.event_id,
                    event.hazard_id,
                    event.to_dict(),
                )
                return
            self.events_total += 1
            hook = self._hooks.get(event.zone)
            if hook is not None and event.phase is not HazardPhase.UPDATE:
                hook.fire(event)
            future: Future[HazardEvent] | None = None
            if event.phase is HazardPhase.START and frame is not None:
                try:
                    future = self.evidence.capture(event, frame, boxes)
                except (ValueError, RuntimeError) as exc:  # published without its evidence
                    logger.error(
                        "camera %s: no evidence for hazard %s: %s",
                        self.camera_id,
                        event.hazard_id,
                        exc,
                    )
            self._publish_queue.put((future, event))

    @staticmethod
    def _detected_boxes(analysis: CameraAnalysis) -> tuple[LabeledBox, ...]:
        tracks = analysis.last_tracks
        if tracks is None:
            return ()
        labels = analysis.labels
        return tuple(
            (tuple(float(v) for v in box), labels[int(c)] if int(c) < len(labels) else "")
            for box, c in zip(tracks.detections.xyxy, tracks.detections.class_id, strict=True)
        )

    @staticmethod
    def _make_view(
        analysis: CameraAnalysis,
        frame: Frame,
        boxes: tuple[LabeledBox, ...],
        zone_ids: tuple[str, ...],
    ) -> AnalysisView:
        rules = (*analysis.rules.object_rules, *analysis.rules.falling_rules)
        return AnalysisView(
            zone_ids=zone_ids,
            motion=tuple((r, r.last_blobs) for r in analysis.rules.falling_rules),
            frame=frame,
            boxes=boxes,
            zones=tuple(ZoneState(r.zone_id, r.kind.value, r.active) for r in rules),
            last_pts_s=analysis.last_pts_s,
            stage_ms=dict(analysis.clock.total_ms),
            detector_runs=analysis.detector_runs,
            detector_skips=analysis.detector_skips,
            detect_fps=analysis.detect_fps,
        )

    def _publish_loop(self) -> None:
        while True:
            item = self._publish_queue.get()
            if item is None:
                return
            future, event = item
            if future is not None:
                try:
                    event = future.result(timeout=EVIDENCE_TIMEOUT_S)
                except Exception as exc:  # the event is published anyway: never lost
                    logger.error(
                        "camera %s: evidence for hazard %s failed: %s",
                        self.camera_id,
                        event.hazard_id,
                        exc,
                    )
            try:
                self.publisher.publish(event)
            except Exception:
                logger.exception(
                    "camera %s: publishing event %s failed", self.camera_id, event.event_id
                )

    def _status_loop(self) -> None:
        last_snapshot = 0.0
        last_reload = 0.0
        while not self._stop.wait(STATUS_INTERVAL_S):
            now = time.monotonic()
            try:
                if self.source.status().state.value == "stopped":
                    self.recorder.end_of_stream()  # a file ended: no more post-roll will come
                view = self._view
                self._publish_camera_status(view)
                if view is not None:
                    self._publish_zone_states(view)
                if now - last_snapshot >= LIVE_SNAPSHOT_INTERVAL_S and view is not None:
                    last_snapshot = now
                    live = self.options.data_dir / LIVE_DIRNAME / f"{self.camera_id}.jpg"
                    write_zone_snapshot(view.frame, live, privacy_boxes=view.boxes)
                if now - last_reload >= ZONE_RELOAD_INTERVAL_S:
                    last_reload = now
                    self.reload_zones()
            except Exception:
                logger.exception("camera %s: status update failed", self.camera_id)

    # ----- status, zones --------------------------------------------------------------------------

    def _windows(self, view: AnalysisView | None) -> tuple[list[float], dict[str, Any]]:
        """The lags that arrived since the last call, and the last ``STATUS_WINDOW_S``'s lag
        percentiles and effective detect rate."""
        now = time.monotonic()
        fresh: list[float] = []
        while True:
            try:
                item = self._lags_in.get_nowait()
            except queue.Empty:
                break
            self._lag_window.append(item)
            fresh.append(item[1])
        while self._lag_window and now - self._lag_window[0][0] > STATUS_WINDOW_S:
            self._lag_window.popleft()
        lags = [lag for _t, lag in self._lag_window]
        runs = view.detector_runs if view is not None else 0
        self._runs_window.append((now, runs))
        while len(self._runs_window) > 2 and now - self._runs_window[1][0] >= STATUS_WINDOW_S:
            self._runs_window.popleft()
        t0, runs0 = self._runs_window[0]
        effective = (runs - runs0) / (now - t0) if now - t0 >= 1.0 else None
        configured = self.camera.detect.fps
        in_force = view.detect_fps if view is not None else configured
        return fresh, {
            "lag_ms_p50": round(percentile(lags, 50) * 1000, 1) if lags else None,
            "lag_ms_p95": round(percentile(lags, 95) * 1000, 1) if lags else None,
            "detect_fps_target": configured if self.analysis.detector is not None else 0.0,
            "detect_fps_in_force": in_force if self.analysis.detector is not None else 0.0,
            "detect_fps_effective": round(effective, 2) if effective is not None else None,
            # A camera without a detector (motion analysis only) is never thinned.
            "overloaded": self.analysis.detector is not None and in_force < configured,
            "overload_level": self.governor.level if self.governor is not None else 0,
        }

    def _publish_camera_status(self, view: AnalysisView | None) -> None:
        status = self.source.status()
        last_pts_s = view.last_pts_s if view is not None else 0.0
        runs = max(view.detector_runs, 1) if view is not None else 1
        inference_ms_total = view.stage_ms.get("inference", 0.0) if view is not None else 0.0
        fresh_lags, windows = self._windows(view)
        record = {
            "state": status.state.value,
            "fps_in": status.fps_in,
            "fps_out": round(status.frames_out / max(last_pts_s, 1e-6), 2) if last_pts_s else 0.0,
            "frames_in": status.frames_in,
            "frames_out": status.frames_out,
            "dropped": status.frames_dropped + self._queue.dropped,
            "reconnects": status.reconnects,
            "decode_errors": status.decode_errors,
            "last_error": status.last_error,
            "inference_ms_avg": round(inference_ms_total / runs, 2),
            "events": self.events_total,
            **self._evidence_and_publisher_status(),
            **windows,
            "stage_ms": {k: round(v, 1) for k, v in sorted(view.stage_ms.items())}
            if view is not None
            else {},
            "detector_runs": view.detector_runs if view is not None else 0,
            "detector_skips": view.detector_skips if view is not None else 0,
            # for the zone editor (api.live_view): the zones in force, the last frame's boxes
            "zones": list(view.zone_ids) if view is not None else sorted(self.camera.zones),
            "detections": _boxes_norm(view) if view is not None else [],
            "motion": [
                {"xyxy_norm": box}
                for rule, blobs in (view.motion if view is not None else ())
                for box in rule.blob_boxes_norm(blobs)
            ],
            "decode": status.hwaccel or "cpu",
            "worker": self.options.worker_index,
            "pid": os.getpid(),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        self.publisher.set_camera_status(self.camera_id, record)
        if self.metrics is not None:
            self.metrics.record_camera(self.camera_id, record, lags_s=fresh_lags)

    def _evidence_and_publisher_status(self) -> dict[str, int | bool]:
        """The evidence writer's counters, and the publisher's of this process (shared by its
        cameras: an event waiting in the spool is not lost, but not yet a ticket either)."""
        evidence = self.evidence.stats()
        publisher = self.publisher.stats()
        return {
            "disk_full": evidence.disk_full,
            "evidence_captures": evidence.captures,
            "evidence_pending": evidence.pending,
            "evidence_errors": evidence.errors,
            "clips_skipped_disk_full": evidence.clips_skipped_disk_full,
            "spool_pending": publisher.spooled,
            "publish_errors": publisher.send_errors + publisher.spool_errors,
        }

    def _publish_zone_states(self, view: AnalysisView) -> None:
        frame = view.frame
        for zone in view.zones:
            key = (zone.zone_id, zone.kind)
            if zone.active:
                self._clear_since[key] = None
                state, clear_for = "occupied", 0.0
            else:
                since = self._clear_since.get(key)
                if since is None:
                    since = self._clear_since[key] = frame.pts_s
                state, clear_for = "clear", frame.pts_s - since
            snapshot = digest = None
            if state == "clear":
                snapshot, digest = self._live_after_picture(view, zone.zone_id, zone.kind)
            self.publisher.publish_status(
                "hazardwatch:zone_status",
                {
                    "status": json.dumps(
                        {
                            "camera_id": self.camera_id,
                            "zone": zone.zone_id,
                            "kind": zone.kind,
                            "state": state,
                            "clear_for_s": round(clear_for, 2),
                            "at": frame.captured_at.isoformat(),
                            "snapshot": snapshot,
                            "snapshot_sha256": digest,
                        }
                    )
                },
            )

    def _live_after_picture(
        self, view: AnalysisView, zone_id: str, kind: str
    ) -> tuple[str | None, str | None]:
        """The zone's latest clear picture, refreshed at most every 10 s: ``(path relative to
        the data dir, sha256)``, or ``(None, None)`` when it cannot be written.

        This file keeps changing: the ticket service copies it into the hazard's evidence
        folder at the moment of a recheck, and the ticket records that copy.
        """
        key = (zone_id, kind)
        name = live_after_name(self.camera_id, zone_id, kind)
        written = self._after_written.get(key)
        if written is not None and time.monotonic() - written[0] < AFTER_REFRESH_S:
            return f"{LIVE_DIRNAME}/{name}", written[1]
        try:
            digest = write_zone_snapshot(
                view.frame, self.options.data_dir / LIVE_DIRNAME / name, privacy_boxes=view.boxes
            )
        except EvidenceError as exc:
            self._after_written.pop(key, None)
            logger.error("camera %s: after picture of zone %s: %s", self.camera_id, zone_id, exc)
            return None, None
        self._after_written[key] = (time.monotonic(), digest)
        return f"{LIVE_DIRNAME}/{name}", digest

    def use_detector(self, config: HazardwatchConfig, detector: Detector | None) -> None:
        """Switch to the detector ``config`` gives this camera (its ``detect.model`` or the
        default), keeping the running camera's zones (edited ones included) and hazards.

        The new analysis (the detector's labels and the class roles of its block) is built here
        and swapped in by the analysis thread between two frames, which first ends the open
        hazards of the old one: the new model starts its tracks afresh, and a hazard still
        there is raised again by it (and attaches to the same open ticket).

        Raises:
            KeyError: this camera is not in ``config``.
            ValueError: the camera's object rules need a detector and ``detector`` is None.
        """
        model = config.cameras[self.camera_id].detect.model
        with self._reload_lock:
            camera = self.camera.model_copy(
                update={"detect": self.camera.detect.model_copy(update={"model": model})}
            )
            analysis = build_camera_analysis(self.camera_id, camera, config, detector)
            self.config, self.detector, self.camera = config, detector, camera
            with self._pending_lock:
                self._pending = (analysis, camera)
        logger.info(
            "camera %s: now detecting with detector '%s'",
            self.camera_id,
            config.detector_name(self.camera_id),
        )

    def reload_zones(self) -> bool:
        """Apply ``zones/{camera}.json`` of the data dir when it changed since the last call
        (the status thread calls this every few seconds). The new analysis is built here and
        handed to the analysis thread, which ends the old one's hazards and swaps it in
        between two frames. Returns whether new zones were handed over.
        """
        with self._reload_lock:
            return self._reload_zones()

    def _reload_zones(self) -> bool:
        path = self.options.data_dir / "zones" / f"{self.camera_id}.json"
        if not path.is_file():
            return False
        mtime = path.stat().st_mtime
        if mtime == self._zones_mtime:
            return False
        self._zones_mtime = mtime
        try:
            record = json.loads(path.read_text())
            # the zones, and the floors and hazards when the edit gave them (api.zone_overrides)
            parts = {key: record[key] for key in ("zones", "floors", "hazards") if key in record}
            if "zones" not in parts:
                raise ValueError("no 'zones' in the file")
            camera = CameraConfig.model_validate({**self.camera.model_dump(mode="json"), **parts})
            analysis = self._build_analysis(camera)
        except Exception as exc:
            logger.error("camera %s: zones in %s not applied: %s", self.camera_id, path, exc)
            return False
        self.camera = camera  # the status thread's: the base of the next reload
        with self._pending_lock:  # a newer edit replaces one not yet applied (it never ran)
            self._pending = (analysis, camera)
        logger.info("camera %s: zones reloaded from %s", self.camera_id, path)
        return True


def run_cameras(
    config: HazardwatchConfig,
    detector_for: Callable[[str], Detector | None],
    publisher: EventPublisher,
    options: RunnerOptions,
    metrics: _Recorder | None = None,
) -> list[CameraRunner]:
    """Start a runner for every enabled camera with a source; returns them (call ``stop``).

    ``detector_for(camera_id)`` gives the camera's detector (None when it needs none); cameras
    on the same model get the same one (:class:`pipelines.detector_pool.DetectorPool`).
    """
    runners = []
    governor = OverloadGovernor()  # one per process: its cameras share its cores
    for camera_id, camera in config.cameras.items():
        if not camera.enabled or not camera.source:
            logger.info("camera %s: not started (disabled or no source)", camera_id)
            continue
        detector = detector_for(camera_id) if camera_needs_detector(camera) else None
        runner = CameraRunner(
            camera_id, camera, config, detector, publisher, options, governor, metrics
        )
        runner.start()
        runners.append(runner)
    return runners
