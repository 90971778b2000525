"""Evidence for a hazard: annotated snapshot, stream-copied clip, privacy-blurred copies.

One :class:`EvidenceWriter` per camera. On a hazard start, :meth:`EvidenceWriter.capture` has
the annotated snapshot and its blurred copy written at once by a snapshot thread (the caller only
queues them: a slow disk's fsync never stalls analysis), asks the camera's
:class:`~cameras.clips.ClipRecorder` for the clip (pre-roll from the packet ring, post-roll
gathered live), and once that clip is on disk writes its privacy track (where heads and plates
were during it; the ticket service makes the public clip from the two when it is first asked
for: :mod:`pipelines.public_clip`) on a second worker thread. The returned future resolves
with a copy of the event whose ``evidence`` names every file (relative to the data dir) with its
SHA-256; only then may the event be published (ARCHITECTURE.md §9: written before acknowledged).

Wiring (the camera pipeline): ``writer.capture(event, frame, boxes).add_done_callback(lambda f:
publisher.publish(f.result()))``, and ``writer.observe(frame, boxes)`` on every analysed frame
so that the privacy track knows where people and vehicles were.

The future always resolves, never with an exception: a full disk, an unwritable folder or a
failed encode is reported in ``evidence["error"]`` (what failed and where) and counted, and the
event goes on without the missing files. Below ``min_free_bytes`` of free space, clips are
skipped (snapshots and events are not) and :attr:`EvidenceWriter.disk_full` says so.

Layout (contract, :mod:`pipelines.evidence_layout`):
``DATA_DIR/evidence/{camera_id}/{YYYY-MM-DD}/{hazard_id}/`` holding ``clip.mp4``,
``snapshot.jpg``, ``snapshot_public.jpg``, ``privacy.json`` (and, made by the ticket service,
``clip_public.mp4`` when first asked for and an ``after-*.jpg`` copy per automatic recheck).
The date is the hazard's start date in UTC. Every
file is written under a temporary name in the same folder, fsynced and renamed, so a reader never
sees half a file. With evidence keys configured, each file is encrypted at rest
(:mod:`pipelines.evidence_crypto`); the SHA-256 recorded is always the plaintext's.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from cameras.clips import ClipRecorder, sha256_file
from cameras.errors import ClipError
from pipelines.evidence_crypto import current_keys, evidence_sealer, write_evidence_bytes
from pipelines.evidence_layout import (
    EVIDENCE_DIRNAME,
    EvidenceError,
    check_id,
    evidence_dir,
    write_bytes_atomic,
)
from pipelines.evidence_layout import os_reason as _reason
from pipelines.public_clip import PrivacyTrack, write_privacy_track
from pipelines.retention import delete_hazard_folder, evidence_tree_bytes, list_hazard_folders
from pipelines.snapshots import (
    PERSON_LABELS,
    PLATE_LABELS,
    LabeledBox,
    PrivacyTimeline,
    RegionNorm,
    ZoneShape,
    annotate_snapshot,
    blur_regions,
    encode_jpeg,
    privacy_regions_norm,
    zone_shapes,
)
from vision.types import EvidenceClip, Frame, HazardEvent, HazardPhase

logger = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_MIN_FREE_BYTES = 500 * MB
CLIP_NAME = "clip.mp4"
SNAPSHOT_NAME = "snapshot.jpg"
CLIP_PUBLIC_NAME = "clip_public.mp4"  # made by the ticket service on demand (public_clip.py)
SNAPSHOT_PUBLIC_NAME = "snapshot_public.jpg"
PRIVACY_NAME = "privacy.json"
SNAPSHOT_TIMEOUT_S = 60.0  # a disk that takes longer to write two JPEGs has failed
EVIDENCE_FILES = {
    "clip": CLIP_NAME,
    "snapshot": SNAPSHOT_NAME,
    "snapshot_public": SNAPSHOT_PUBLIC_NAME,
    "privacy": PRIVACY_NAME,
}


def write_zone_snapshot(
    frame: Frame,
    path: Path,
    *,
    privacy_boxes: Sequence[LabeledBox] = (),
    quality: int = 85,
    person_labels: frozenset[str] = PERSON_LABELS,
    plate_labels: frozenset[str] = PLATE_LABELS,
) -> str:
    """Write ``frame`` as a JPEG at ``path`` atomically (the "after" or the live snapshot).

    Heads and plates of ``privacy_boxes`` (in the frame's pixels) are pixelated, since these
    pictures are shown beside the public "before" and on the live view.

    Returns:
        The SHA-256 of the written file.

    Raises:
        EvidenceError: the file cannot be written (path and reason in the message).
        ValueError: a malformed box.
    """
    regions = privacy_regions_norm(
        privacy_boxes,
        frame.width_px,
        frame.height_px,
        person_labels=person_labels,
        plate_labels=plate_labels,
    )
    image = blur_regions(frame.image, regions) if regions else frame.image
    return write_bytes_atomic(Path(path), encode_jpeg(image, quality))


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (or its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


@dataclass(frozen=True, slots=True)
class EvidenceStats:
    """Counters of one writer, for status and metrics."""

    camera_id: str
    captures: int
    resolved: int
    pending: int
    errors: int
    clips_skipped_disk_full: int
    disk_full: bool
    last_error: str | None


@dataclass(eq=False)
class _Capture:
    """One event's evidence in progress; resolved exactly once."""

    event: HazardEvent
    directory: Path
    future: Future[HazardEvent] = field(default_factory=Future)
    paths: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    snapshots: Future[None] | None = None
    timer: threading.Timer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    clip_start_pts_s: float | None = None  # stream time of the clip's first frame


class EvidenceWriter:
    """Writes the evidence of one camera's hazards (see the module docstring).

    Args:
        data_dir: the data directory (evidence goes under ``data_dir/evidence``).
        camera_id: the camera's id (slug; a folder name).
        camera_name: shown on snapshots (any Unicode).
        recorder: the camera's clip recorder (its owner feeds it packets and closes it).
        pre_s: seconds of video before the hazard start in the clip.
        post_s: seconds after it.
        zones: zone id -> ``("polygon", points_norm)`` | ``("line", points_norm, inward)`` (or
            config zone models), drawn on snapshots.
        person_labels: labels whose box top (head) is blurred in public copies.
        plate_labels: labels whose box bottom (plate) is blurred in public copies.
        min_free_bytes: below this much free space on the data dir, clips are skipped.
        jpeg_quality: JPEG quality of the snapshots.
        public_max_width_px: the public clip is at most this wide.
        public_crf: x264 CRF of the public clip.
        box_hold_s: a public clip frame uses privacy boxes at most this far away in time.
        clip_timeout_s: wall-clock seconds after which an event whose clip is still not on disk
            (camera stalled) is resolved without it; default ``post_s + 60``.

    Raises:
        ValueError: a bad argument, naming it.
    """

    def __init__(
        self,
        data_dir: Path,
        camera_id: str,
        camera_name: str,
        recorder: ClipRecorder,
        *,
        pre_s: float = 10.0,
        post_s: float = 10.0,
        zones: Mapping[str, Any] | None = None,
        person_labels: frozenset[str] = PERSON_LABELS,
        plate_labels: frozenset[str] = PLATE_LABELS,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        jpeg_quality: int = 85,
        public_max_width_px: int = 640,
        public_crf: int = 28,
        box_hold_s: float = 1.0,
        clip_timeout_s: float | None = None,
    ) -> None:
        check_id("camera_id", camera_id)
        for name, value in (("pre_s", pre_s), ("post_s", post_s), ("box_hold_s", box_hold_s)):
            if not (math.isfinite(value) and 0.0 <= value <= 3600.0):
                raise ValueError(f"EvidenceWriter {name} must be in 0..3600 s, got {value}")
        if min_free_bytes < 0:
            raise ValueError(f"EvidenceWriter min_free_bytes must be >= 0, got {min_free_bytes}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"EvidenceWriter jpeg_quality must be 1..100, got {jpeg_quality}")
        if public_max_width_px < 16:
            raise ValueError(
                f"EvidenceWriter public_max_width_px must be >= 16, got {public_max_width_px}"
            )
        if not 0 <= public_crf <= 51:
            raise ValueError(f"EvidenceWriter public_crf must be 0..51, got {public_crf}")
        timeout = post_s + 60.0 if clip_timeout_s is None else clip_timeout_s
        if not timeout > 0:
            raise ValueError(f"EvidenceWriter clip_timeout_s must be > 0, got {clip_timeout_s}")
        current_keys()  # malformed keys in the environment fail here, naming the entry
        self.data_dir = Path(data_dir)
        self.camera_id = camera_id
        self.camera_name = camera_name or camera_id
        self.recorder = recorder
        self.pre_s, self.post_s = float(pre_s), float(post_s)
        self._zones: dict[str, ZoneShape] = zone_shapes(zones)
        self.person_labels = frozenset(s.lower() for s in person_labels)
        self.plate_labels = frozenset(s.lower() for s in plate_labels)
        self.min_free_bytes = int(min_free_bytes)
        self.jpeg_quality = jpeg_quality
        self.public_max_width_px = public_max_width_px
        self.public_crf = public_crf
        self.box_hold_s = box_hold_s
        self.clip_timeout_s = timeout
        self._lock = threading.Lock()
        self._timeline = PrivacyTimeline(span_s=self.pre_s + self.post_s + 30.0)
        self._pending: dict[int, _Capture] = {}
        # Two workers of one thread each: snapshots are written at once (a slow disk never
        # stalls the caller); the clip's privacy track and the event's resolution behind them.
        self._snapshot_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"snapshots-{camera_id}"
        )
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"evidence-{camera_id}"
        )
        self._closed = False
        self._captures = 0
        self._resolved = 0
        self._errors = 0
        self._clips_skipped = 0
        self._disk_full = False
        self._last_error: str | None = None

    @property
    def zones(self) -> dict[str, ZoneShape]:
        """Zone shapes drawn on snapshots, by zone id."""
        return self._zones

    @zones.setter
    def zones(self, zones: Mapping[str, Any] | None) -> None:
        """Replace the zones (after a zone edit); same forms as the constructor's ``zones``.

        Raises:
            ValueError: a malformed zone, naming it (the old zones stay).
        """
        self._zones = zone_shapes(zones)  # one atomic swap: the snapshot thread reads either

    # ----- status -------------------------------------------------------------------------

    @property
    def disk_full(self) -> bool:
        """True while free space is below the minimum (or the last write hit a full disk)."""
        with self._lock:
            return self._disk_full

    def stats(self) -> EvidenceStats:
        self._refresh_disk_full()
        with self._lock:
            return EvidenceStats(
                camera_id=self.camera_id,
                captures=self._captures,
                resolved=self._resolved,
                pending=len(self._pending),
                errors=self._errors,
                clips_skipped_disk_full=self._clips_skipped,
                disk_full=self._disk_full,
                last_error=self._last_error,
            )

    # ----- input --------------------------------------------------------------------------

    def observe(self, frame: Frame, boxes: Sequence[LabeledBox]) -> None:
        """Remember the privacy regions of an analysed frame (boxes in its pixels) so that
        the public copies blur people and plates where they were at that moment."""
        regions = self._regions(frame, boxes)
        with self._lock:
            self._timeline.add(frame.pts_s, regions)

    def capture(
        self, event: HazardEvent, frame: Frame, boxes: Sequence[LabeledBox] = ()
    ) -> Future[HazardEvent]:
        """Write the snapshots at once, request the clip, resolve with the evidence filled in.

        Args:
            event: a ``start`` event of this camera.
            frame: the analysed frame at (or nearest to) the hazard start.
            boxes: ``(xyxy_px, label)`` detections in ``frame``'s pixels, drawn on the
                snapshot and used for the privacy blur.

        Returns:
            A future resolved (on a worker thread) with a copy of ``event`` whose ``evidence``
            has ``clip``, ``snapshot``, ``snapshot_public``, ``privacy`` (paths relative to
            the data dir), ``sha256`` of each, and ``error`` when something could not be
            written. It never resolves with an exception.

        Raises:
            ValueError: not a start event, another camera's event or frame, an id that cannot
                name a folder, a malformed box; RuntimeError: the writer is closed.
        """
        if event.phase is not HazardPhase.START:
            raise ValueError(
                f"camera {self.camera_id}: capture takes 'start' events, got {event.phase.value} "
                f"(event {event.event_id})"
            )
        for what, camera in (("event", event.camera_id), ("frame", frame.camera_id)):
            if camera != self.camera_id:
                raise ValueError(
                    f"camera {self.camera_id}: {what} belongs to camera {camera!r} "
                    f"(event {event.event_id})"
                )
        directory = evidence_dir(self.data_dir, self.camera_id, event.started_at, event.hazard_id)
        regions = self._regions(frame, boxes)
        job = _Capture(event, directory)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"camera {self.camera_id}: evidence writer is closed")
            self._timeline.add(frame.pts_s, regions)
            self._captures += 1
            self._pending[id(job)] = job
        job.snapshots = self._snapshot_executor.submit(
            self._guarded_snapshots, job, frame, boxes, regions
        )
        self._request_clip(job)
        return job.future

    def _regions(self, frame: Frame, boxes: Sequence[LabeledBox]) -> tuple[RegionNorm, ...]:
        return privacy_regions_norm(
            boxes,
            frame.width_px,
            frame.height_px,
            person_labels=self.person_labels,
            plate_labels=self.plate_labels,
        )

    # ----- steps --------------------------------------------------------------------------

    def _fail(self, job: _Capture, what: str, message: str, exc: BaseException | None) -> None:
        text = f"{what}: {message}"
        job.errors.append(text)
        disk_full = exc is not None and "disk full" in f"{exc} {_reason(exc)}"
        with self._lock:
            self._errors += 1
            self._last_error = text
            if disk_full:
                self._disk_full = True
        logger.error("camera %s: hazard %s: %s", self.camera_id, job.event.hazard_id, text)

    def _guarded_snapshots(
        self,
        job: _Capture,
        frame: Frame,
        boxes: Sequence[LabeledBox],
        regions: tuple[RegionNorm, ...],
    ) -> None:
        try:
            self._write_snapshots(job, frame, boxes, regions)
        except Exception as exc:
            logger.exception("camera %s: snapshots failed unexpectedly", self.camera_id)
            self._fail(job, "snapshot", f"internal error: {exc!r}", exc)

    def _write_snapshots(
        self,
        job: _Capture,
        frame: Frame,
        boxes: Sequence[LabeledBox],
        regions: tuple[RegionNorm, ...],
    ) -> None:
        zone = self._zones.get(job.event.zone)
        common: dict[str, Any] = {
            "event": job.event,
            "camera_name": self.camera_name,
            "captured_at": frame.captured_at,
            "zone": zone,
            "boxes": boxes,
        }
        try:
            private = annotate_snapshot(frame.image, **common)
            public = annotate_snapshot(blur_regions(frame.image, regions), **common)
        except (cv2.error, ValueError) as exc:  # e.g. a zone far outside the frame
            self._fail(job, "snapshot", f"cannot draw the snapshots: {exc}", exc)
            return
        for key, image in (("snapshot", private), ("snapshot_public", public)):
            path = job.directory / EVIDENCE_FILES[key]
            try:
                data = encode_jpeg(image, self.jpeg_quality)
                job.sha256[key] = write_evidence_bytes(path, data)  # encrypted when keyed
            except EvidenceError as exc:
                self._fail(job, key, str(exc), exc)
                continue
            job.paths[key] = path

    @property
    def _clips_dir(self) -> Path:
        # Free space is measured where the clips go: the evidence folder may be a disk of its own.
        return self.data_dir / EVIDENCE_DIRNAME / self.camera_id

    def _refresh_disk_full(self) -> None:
        """Follow the disk between hazards too (status is read every second), so that a disk
        running low shows before a clip is lost, and freed space shows at once."""
        try:
            free = free_bytes(self._clips_dir)
        except OSError:
            return  # the next capture reports why
        with self._lock:
            self._disk_full = free < self.min_free_bytes

    def _free_space_problem(self) -> str | None:
        where = self._clips_dir
        try:
            free = free_bytes(where)
        except OSError as exc:
            return f"cannot read free space of {where}: {_reason(exc)}"
        full = free < self.min_free_bytes
        with self._lock:
            self._disk_full = full
            if full:
                self._clips_skipped += 1
        if full:
            return (
                f"skipped: free space on {where} is {free / MB:.0f} MB, below the "
                f"minimum of {self.min_free_bytes / MB:.0f} MB (disk full)"
            )
        return None

    def _request_clip(self, job: _Capture) -> None:
        problem = self._free_space_problem()
        if problem is not None:
            self._fail(job, "clip", problem, None)
            self._submit_finish(job)
            return
        start = job.event.start_pts_s
        try:
            clip_future = self.recorder.request(
                job.directory / CLIP_NAME,
                start,
                start,
                self.pre_s,
                self.post_s,
                seal=evidence_sealer(),  # encrypted at rest when evidence keys are configured
            )
        except ClipError as exc:
            self._fail(job, "clip", str(exc), exc)
            self._submit_finish(job)
            return
        job.timer = threading.Timer(self.clip_timeout_s, self._on_timeout, (job,))
        job.timer.daemon = True
        job.timer.start()
        clip_future.add_done_callback(lambda f: self._on_clip(job, f))

    def _on_clip(self, job: _Capture, clip_future: Future[EvidenceClip]) -> None:
        """On the recorder's thread: hand the clip (and the privacy boxes of its window) over."""
        try:
            clip = clip_future.result()
        except Exception as exc:  # a ClipError from the recorder; anything else is reported too
            self._fail(job, "clip", str(exc), exc)
            self._submit_finish(job)
            return
        with self._lock:
            timeline = self._timeline.window(clip.start_pts_s - 1.0, clip.end_pts_s + 1.0)
        self._submit(self._privacy_track, job, clip, timeline)

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._executor.submit(self._guarded, fn, *args)
        except RuntimeError:  # executor shut down by close(): finish here rather than lose it
            self._guarded(fn, *args)

    def _submit_finish(self, job: _Capture) -> None:
        self._submit(self._finish, job)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        """One step on the worker; an unexpected failure still resolves the event."""
        job: _Capture = args[0]
        try:
            fn(*args)
        except Exception as exc:
            logger.exception("camera %s: evidence step %s failed", self.camera_id, fn.__name__)
            self._fail(job, "evidence", f"internal error: {exc!r}", exc)
            self._finish(job)

    def _privacy_track(self, job: _Capture, clip: EvidenceClip, timeline: PrivacyTimeline) -> None:
        """Record the clip, and write its privacy track: where people and plates were during
        it, from which the ticket service makes the public copy when one is asked for."""
        with job.lock:
            late = job.done
        if late:
            logger.info(
                "camera %s: clip %s arrived after hazard %s was published without it",
                self.camera_id,
                clip.path,
                job.event.hazard_id,
            )
            return
        job.paths["clip"] = Path(clip.path)
        job.sha256["clip"] = clip.sha256
        job.clip_start_pts_s = clip.start_pts_s
        path = job.directory / PRIVACY_NAME
        track = PrivacyTrack(
            clip_start_pts_s=clip.start_pts_s,
            box_hold_s=self.box_hold_s,
            max_width_px=self.public_max_width_px,
            crf=self.public_crf,
            timeline=timeline,
        )
        try:
            job.sha256["privacy"] = write_privacy_track(path, track)
            job.paths["privacy"] = path
        except EvidenceError as exc:
            self._fail(job, "privacy", str(exc), exc)
        self._finish(job)

    def _on_timeout(self, job: _Capture) -> None:
        with job.lock:
            if job.done:  # finished while the timer fired
                return
        self._fail(
            job,
            "clip",
            f"not on disk {self.clip_timeout_s:g} s after the request (the camera may have "
            "stalled); the event goes on without it",
            None,
        )
        self._submit_finish(job)

    def _finish(self, job: _Capture) -> None:
        if job.snapshots is not None:
            try:  # the event names its snapshots: wait for them (they are quick)
                job.snapshots.result(timeout=SNAPSHOT_TIMEOUT_S)
            except FuturesTimeout:
                self._fail(job, "snapshot", f"not written within {SNAPSHOT_TIMEOUT_S:g} s", None)
        with job.lock:
            if job.done:
                return
            job.done = True
        if job.timer is not None:
            job.timer.cancel()
        # Copies: close() may finish a job whose privacy track is still being written.
        paths, digests, errors = dict(job.paths), dict(job.sha256), list(job.errors)
        details = dict(job.event.details)
        if "clip" in paths and job.clip_start_pts_s is not None:
            # Where the hazard starts in its clip (the pre-roll, from the keyframe before it):
            # the review page starts the player there.
            details["clip_onset_s"] = round(job.event.start_pts_s - job.clip_start_pts_s, 3)
        evidence: dict[str, Any] = {
            key: self._relative(path) for key, path in sorted(paths.items())
        }
        evidence["sha256"] = {key: digests[key] for key in sorted(paths)}
        if errors:
            evidence["error"] = "; ".join(errors)
        with self._lock:
            self._pending.pop(id(job), None)
            self._resolved += 1
        job.future.set_result(dataclasses.replace(job.event, evidence=evidence, details=details))

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.data_dir).as_posix()
        except ValueError:
            return str(path.absolute())

    # ----- shutdown -----------------------------------------------------------------------

    def close(self, timeout_s: float = 30.0) -> None:
        """Wait up to ``timeout_s`` for pending evidence, resolve what is left without its clip,
        and stop the worker. Close the recorder first, so that pending clips get written."""
        with self._lock:
            self._closed = True
            jobs = list(self._pending.values())
        wait_futures([job.future for job in jobs], timeout=timeout_s)
        for job in jobs:
            if not job.future.done():
                self._fail(job, "clip", "the evidence writer closed before it was written", None)
                self._finish(job)
        self._snapshot_executor.shutdown(wait=True)
        self._executor.shutdown(wait=True)


# ----- retention -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What :func:`prune_evidence` did."""

    deleted_hazard_ids: tuple[str, ...]
    freed_bytes: int
    total_bytes: int
    over_limit: bool


def prune_evidence(data_dir: Path, max_bytes: int, closed_hazard_ids: set[str]) -> PruneResult:
    """Delete evidence folders of closed tickets, oldest first, until the evidence tree holds
    at most ``max_bytes`` (the budget pass alone; the ticket service runs the full retention,
    with ages and free space, on a schedule: :func:`pipelines.retention.run_retention`).

    Folders of hazards not in ``closed_hazard_ids`` are never deleted: evidence of an open
    ticket is kept even over the limit (``over_limit`` then says so, and the free-space guard of
    the writers stops new clips). Empty date and camera folders are removed.

    Raises:
        ValueError: a negative ``max_bytes``.
    """
    if max_bytes < 0:
        raise ValueError(f"prune_evidence: max_bytes must be >= 0, got {max_bytes}")
    total = evidence_tree_bytes(Path(data_dir))
    deleted: list[str] = []
    freed = 0
    folders = sorted(list_hazard_folders(Path(data_dir)), key=lambda f: (f.newest_at, str(f.path)))
    for folder in folders:
        if total <= max_bytes:
            break
        if folder.hazard_id not in closed_hazard_ids:
            continue
        error = delete_hazard_folder(folder)
        if error is not None:
            logger.error("retention: %s", error)
            continue
        total -= folder.size_bytes
        freed += folder.size_bytes
        deleted.append(folder.hazard_id)
    if deleted:
        logger.info("retention: deleted %d evidence folders, %d bytes", len(deleted), freed)
    over = total > max_bytes
    if over:
        logger.warning(
            "retention: evidence holds %d bytes, over the limit of %d, and what is left "
            "belongs to open tickets",
            total,
            max_bytes,
        )
    return PruneResult(tuple(deleted), freed, total, over)


__all__ = [
    "EVIDENCE_FILES",
    "EvidenceError",
    "EvidenceStats",
    "EvidenceWriter",
    "PruneResult",
    "evidence_dir",
    "free_bytes",
    "prune_evidence",
    "sha256_file",
    "write_bytes_atomic",
    "write_zone_snapshot",
]
