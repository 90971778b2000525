"""The public clip of a ticket, made when it is first asked for.

The pipeline records each hazard's clip with its privacy track (:mod:`pipelines.public_clip`);
the privacy-blurred copy that residents see is made here, from those two files, the first time
someone asks for it (the public see only closed tickets, so most hazards never need one). Then
its path and SHA-256 are recorded in the ticket like any other evidence, and it is served,
verified, from then on.

- One copy at a time per app, on one background thread at a lower CPU priority: a burst of
  requests cannot take every core of the serving box. Concurrent requests for one ticket wait
  for the same job.
- Across processes (``serve`` replicas over one data directory) the clip file is locked
  (``flock``) while its copy is made, and the ticket is read again under the lock: a copy
  another replica finished meanwhile is used, not made twice.
- The clip and the track are verified against their recorded SHA-256 before use; a missing or
  altered file is a :class:`~api.media.MediaNotFound` naming it (answered 404), never a copy
  made from something else.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import posixpath
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from api.evidence_files import check_evidence_file
from api.media import MediaNotFound
from api.tickets_view import evidence_value
from pipelines.evidence_layout import EvidenceError
from pipelines.public_clip import (
    background_priority,
    read_privacy_track,
    write_public_clip_from_track,
)

if TYPE_CHECKING:
    from api.context import AppContext
    from api.store import TicketView

logger = logging.getLogger(__name__)

CLIP_PUBLIC_NAME = "clip_public.mp4"
MAKE_TIMEOUT_S = 300.0  # a 10-minute clip takes about a minute on one slow core


class PublicClipError(MediaNotFound):
    """The public copy cannot be made (the reason named)."""


class PublicClips:
    """Makes public clips on demand (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Future[TicketView]] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="public-clips", initializer=background_priority
        )
        self.made = 0

    def ensure(self, context: AppContext, ticket: TicketView) -> TicketView:
        """The ticket with its public clip recorded, making the copy first if needed.

        Raises:
            PublicClipError: no clip or track, a file that fails its check, or a failed encode.
        """
        if evidence_value(ticket, "clip_public"):
            return ticket
        with self._lock:
            job = self._jobs.get(ticket.id)
            started = job is None
            if job is None:
                job = self._executor.submit(self._make, context, ticket)
                self._jobs[ticket.id] = job
        if started:
            # Outside the lock: a job already done (a quick refusal) runs its callback here and
            # now, and the callback takes the lock.
            job.add_done_callback(functools.partial(self._forget, ticket.id))
        return job.result(timeout=MAKE_TIMEOUT_S)

    def _forget(self, key: str, job: Future[TicketView]) -> None:
        with self._lock:
            if self._jobs.get(key) is job:
                del self._jobs[key]

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _make(self, context: AppContext, ticket: TicketView) -> TicketView:
        clip_stored = evidence_value(ticket, "clip")
        track_stored = evidence_value(ticket, "privacy")
        if clip_stored is None or track_stored is None:
            missing = "clip" if clip_stored is None else "privacy track"
            raise PublicClipError(
                f"ticket '{ticket.id}' has no {missing}, so no public copy can be made"
            )
        try:
            clip = check_evidence_file(
                context.data_dir,
                ticket.camera_id,
                clip_stored,
                evidence_value(ticket, "clip_sha256"),
                context.digests,
            )
            track_path = check_evidence_file(
                context.data_dir,
                ticket.camera_id,
                track_stored,
                evidence_value(ticket, "privacy_sha256"),
                context.digests,
            )
        except MediaNotFound as exc:
            raise PublicClipError(f"its clip or privacy track is refused: {exc}") from None
        with clip.open("rb") as locked:
            fcntl.flock(locked.fileno(), fcntl.LOCK_EX)  # released when closed
            again = context.store.get_ticket(ticket.id)
            if again is not None and evidence_value(again, "clip_public"):
                return again  # another replica made it while this one waited
            try:
                track = read_privacy_track(track_path)
                digest = write_public_clip_from_track(clip, clip.parent / CLIP_PUBLIC_NAME, track)
            except EvidenceError as exc:
                logger.error("ticket %s: public clip not made: %s", ticket.id, exc)
                raise PublicClipError(f"the public copy could not be made: {exc}") from None
            stored = posixpath.join(posixpath.dirname(clip_stored), CLIP_PUBLIC_NAME)
            view = context.store.record_public_clip(ticket.id, stored, digest)
        self.made += 1
        logger.info("ticket %s: public clip made (%s)", ticket.id, stored)
        return view
