"""Evidence clips: remux a window of encoded packets to MP4, never re-encoding.

A clip for [t0, t1] starts at the last keyframe at or before ``t0 - pre_s`` (from the PacketRing)
and gathers post-roll live until ``t1 + post_s`` has been received. Files are written under a
temporary name in the target folder and renamed only once complete, so a reader never sees a
half-written clip. A request may carry a sealer (the evidence writer's encryption at rest) that
replaces the finished temporary file by its encryption before the rename, so a clip is never
named final in the clear.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.packet

from cameras.errors import ClipError
from cameras.packets import EncodedPacket
from cameras.ring import PacketRing
from vision.types import EvidenceClip

logger = logging.getLogger(__name__)

CLIP_TIME_BASE = Fraction(1, 90_000)


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _usable_run(packets: list[EncodedPacket]) -> list[EncodedPacket]:
    """From the first keyframe on, up to (not including) the first codec change."""
    start = next((i for i, p in enumerate(packets) if p.is_keyframe), None)
    if start is None:
        return []
    run = [packets[start]]
    fingerprint = packets[start].template.fingerprint
    for packet in packets[start + 1 :]:
        if packet.template.fingerprint != fingerprint:
            break
        run.append(packet)
    return run


# Called on the finished temporary clip before it is named final (encryption at rest, set by the
# evidence writer: pipelines.evidence_crypto.seal_file); replaces that file's content in place.
Sealer = Callable[[Path], None]


def write_clip(
    packets: list[EncodedPacket], path: Path, *, seal: Sealer | None = None
) -> EvidenceClip:
    """Remux ``packets`` into an MP4 at ``path`` (faststart), atomically.

    ``seal``: applied to the finished temporary file before the rename (encryption); the SHA-256
    and size reported are the plain clip's, taken before.

    Raises:
        ClipError: no keyframe among the packets, or the file could not be written (the
            message says which path and why; a full disk says so).
    """
    run = _usable_run(packets)
    if not run:
        raise ClipError(f"clip {path}: no keyframe among {len(packets)} packets, nothing to write")
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial.mp4")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _mux(run, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        digest = sha256_file(tmp)
        size = tmp.stat().st_size
        if seal is not None:
            _seal(seal, tmp, path)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        reason = "disk full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        raise ClipError(f"clip {path}: cannot write: {reason}") from exc
    except av.error.FFmpegError as exc:
        _remove_quietly(tmp)
        raise ClipError(f"clip {path}: muxing failed: {exc}") from exc
    last = run[-1]
    end_s = last.pts_s + (last.duration_s or _typical_step_s(run))
    return EvidenceClip(
        path=str(path),
        start_pts_s=run[0].pts_s,
        end_pts_s=max(end_s, run[0].pts_s),
        sha256=digest,
        size_bytes=size,
        packets=len(run),
    )


# Temporary names of unfinished writes: ".{name}.{8 hex}" then ".partial" and/or ".mp4", as made
# by write_clip here and by the evidence and snapshot writers (pipelines.evidence).
_PARTIAL_NAME_RE = re.compile(r"^\..+\.[0-9a-f]{8}(\.partial|\.partial\.mp4|\.mp4)$")


def is_partial_name(name: str) -> bool:
    """Whether ``name`` is the temporary name of an unfinished clip, snapshot or evidence file."""
    return _PARTIAL_NAME_RE.match(name) is not None


def remove_partial_files(
    root: Path, *, older_than_s: float | None = None, prefixes: tuple[str, ...] | None = None
) -> list[Path]:
    """Delete temporary files that writes killed mid-way left anywhere under ``root``.

    Every writer renames its temporary file into place once complete, so a temporary file that
    is older than this process (``older_than_s``: a wall-clock time, default now) belongs to a
    write that will never finish: a crash or SIGKILL. A file another process is still writing
    keeps getting newer, and is left alone. ``prefixes``: only temporary names starting with
    one of them (a folder shared by several writers: ``live/``). Returns the files removed; one
    that cannot be removed is logged and skipped.
    """
    cutoff = time.time() if older_than_s is None else older_than_s
    removed: list[Path] = []
    if not Path(root).is_dir():
        return removed
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if not is_partial_name(name) or (
                prefixes is not None and not name.startswith(prefixes)
            ):
                continue
            path = Path(directory) / name
            try:
                if path.is_symlink() or path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except OSError as exc:
                logger.warning("could not remove the unfinished file %s: %s", path, exc)
                continue
            removed.append(path)
    if removed:
        logger.warning(
            "removed %d unfinished evidence files left by an interrupted run under %s",
            len(removed),
            root,
        )
    return removed


def _seal(seal: Sealer, tmp: Path, path: Path) -> None:
    """Run ``seal`` on the finished temporary clip; any failure of it is the clip's ClipError."""
    try:
        seal(tmp)
    except Exception as exc:  # the sealer's own errors (pipelines): named and re-raised
        _remove_quietly(tmp)
        raise ClipError(f"clip {path}: cannot encrypt: {exc}") from exc


def _remove_quietly(tmp: Path) -> None:
    """Best-effort removal of a partial file; the original error is the one that matters."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove partial clip %s: %s", tmp, exc)


def _typical_step_s(run: list[EncodedPacket]) -> float:
    if len(run) < 2:
        return 0.0
    return max(0.0, (run[-1].dts_s - run[0].dts_s) / (len(run) - 1))


def _mux(run: list[EncodedPacket], tmp: Path) -> None:
    origin_s = min(p.dts_s for p in run)
    with (
        run[0].template.open_stream() as template,
        av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        stream = out.add_stream_from_template(template)
        last_dts = -1
        for packet in run:
            dts = round((packet.dts_s - origin_s) / CLIP_TIME_BASE)
            pts = round((packet.pts_s - origin_s) / CLIP_TIME_BASE)
            dts = max(dts, last_dts + 1)  # MP4 needs strictly increasing dts (reconnect gaps)
            last_dts = dts
            out_packet = av.packet.Packet(packet.data)
            out_packet.dts = dts
            out_packet.pts = max(pts, dts)
            if packet.duration_s > 0:
                out_packet.duration = round(packet.duration_s / CLIP_TIME_BASE)
            out_packet.time_base = CLIP_TIME_BASE
            out_packet.is_keyframe = packet.is_keyframe
            out_packet.stream = stream
            out.mux(out_packet)


@dataclass(eq=False)
class _ClipJob:
    path: Path
    until_pts_s: float
    packets: list[EncodedPacket]
    future: Future[EvidenceClip] = field(default_factory=Future)
    seal: Sealer | None = None


class ClipRecorder:
    """Cuts evidence clips from a camera's packet flow: pre-roll from the ring, post-roll live.

    The source thread calls :meth:`feed` for every packet; any thread may call :meth:`request`.
    Files are written on the recorder's own worker thread, so a slow disk never stalls ingest.
    """

    def __init__(self, ring: PacketRing, camera_id: str, max_clip_s: float = 600.0) -> None:
        self.ring = ring
        self.camera_id = camera_id
        self.max_clip_s = max_clip_s
        self._lock = threading.Lock()
        self._jobs: list[_ClipJob] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"clips-{camera_id}")
        self.clips_written = 0
        self.clip_errors = 0
        self._ended = False

    def feed(self, packet: EncodedPacket) -> None:
        with self._lock:
            kept = self.ring.append(packet)
            if not kept:
                return
            done = []
            for job in self._jobs:
                if (
                    job.packets
                    and job.packets[0].template.fingerprint != packet.template.fingerprint
                ):
                    done.append(job)  # the stream changed codec: the clip ends here
                    continue
                # The window is closed in decode order: packets up to `until`, nothing after.
                if packet.dts_s <= job.until_pts_s + 1e-9:
                    job.packets.append(packet)
                if packet.dts_s >= job.until_pts_s - 1e-9:
                    done.append(job)
            for job in done:
                self._jobs.remove(job)
                self._submit(job)

    def request(
        self,
        path: Path,
        start_pts_s: float,
        end_pts_s: float,
        pre_s: float,
        post_s: float,
        *,
        seal: Sealer | None = None,
    ) -> Future[EvidenceClip]:
        """Ask for the clip [start - pre, end + post]; the future resolves once it is on disk.

        ``seal``: see :func:`write_clip` (the evidence writer's encryption at rest)."""
        if end_pts_s < start_pts_s:
            raise ClipError(
                f"clip {path}: end {end_pts_s:.3f}s is before start {start_pts_s:.3f}s "
                f"(camera {self.camera_id})"
            )
        until = min(end_pts_s + post_s, start_pts_s - pre_s + self.max_clip_s)
        with self._lock:
            job = _ClipJob(Path(path), until, self.ring.snapshot(start_pts_s - pre_s), seal=seal)
            newest = self.ring.newest_pts_s
            if self._ended or (newest is not None and newest >= until):
                job.packets = [p for p in job.packets if p.dts_s <= until + 1e-9]
                self._submit(job)
            else:
                self._jobs.append(job)
        return job.future

    def flush(self) -> None:
        """The stream ended: write every pending clip with what it has."""
        with self._lock:
            jobs, self._jobs = self._jobs, []
        for job in jobs:
            self._submit(job)

    def end_of_stream(self) -> None:
        """The source is done for good: write pending clips, and later requests at once."""
        with self._lock:
            self._ended = True
        self.flush()

    def close(self) -> None:
        self.end_of_stream()
        self._writer.shutdown(wait=True)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def _submit(self, job: _ClipJob) -> None:
        self._writer.submit(self._write, job)

    def _write(self, job: _ClipJob) -> None:
        try:
            clip = write_clip(job.packets, job.path, seal=job.seal)
        except ClipError as exc:
            self.clip_errors += 1
            logger.error("camera %s: %s", self.camera_id, exc)
            job.future.set_exception(exc)
            return
        except Exception as exc:
            self.clip_errors += 1
            logger.exception("camera %s: clip %s failed unexpectedly", self.camera_id, job.path)
            job.future.set_exception(exc)
            return
        self.clips_written += 1
        job.future.set_result(clip)
