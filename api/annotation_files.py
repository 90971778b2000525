"""The pictures reviewers annotate, and the ``annotations.json`` sidecar beside the evidence.

A frame of a ticket (:class:`vision.annotations.FrameRef`) is read from the ticket's own
evidence only, under the same checks as the media routes (:mod:`api.evidence_files`: the file is
in the ticket camera's evidence folder and has its recorded SHA-256): the snapshot's bytes as
they are, or a clip frame decoded to JPEG (:mod:`pipelines.clip_frames`). The review page, the
store (``image_sha256``) and the dataset export all get the picture from here, so they agree on
what a box was drawn on.

The sidecar is written next to the ticket's clip (its snapshot when it has no clip), atomically
(temporary name, fsync, rename): ``DATA_DIR/evidence/{camera}/{date}/{hazard}/annotations.json``.
It is the one file of an evidence folder that changes after it was written (each save rewrites
it); tickets record no digest for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from api.evidence_files import DigestCache, open_verified, resolve_evidence
from api.media import MediaNotFound
from api.store import TicketStore, TicketView
from api.tickets_view import evidence_value
from pipelines.clip_frames import ClipFrameError, FrameCache
from pipelines.evidence_layout import write_bytes_atomic
from vision.annotations import SIDECAR_NAME, FrameAnnotation, FrameRef, FrameSource, sidecar_json

__all__ = [
    "FrameImage",
    "FrameUnavailable",
    "frame_image",
    "refresh_sidecar",
    "sidecar_path",
    "write_sidecar",
]


class FrameUnavailable(Exception):
    """The ticket's evidence cannot give this frame; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class FrameImage:
    """A frame's picture as JPEG bytes, and the evidence file it comes from."""

    frame: FrameRef  # for a clip: snapped to the time of the frame actually shown
    jpeg: bytes
    evidence_key: str  # "snapshot" or "clip"
    evidence_path: Path  # the real path of that file
    evidence_sha256: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def _evidence_file(data_dir: Path, ticket: TicketView, key: str) -> tuple[Path, str]:
    """The confined real path of evidence file ``key`` and its recorded digest (not yet
    verified: the caller opens it with :func:`open_verified`)."""
    stored = evidence_value(ticket, key)
    if stored is None:
        raise FrameUnavailable(f"ticket '{ticket.code or ticket.id}' has no {key}")
    expected = evidence_value(ticket, f"{key}_sha256") or ""
    try:
        path = resolve_evidence(data_dir, ticket.camera_id, stored)
    except MediaNotFound as exc:
        raise FrameUnavailable(f"the {key} of ticket '{ticket.code or ticket.id}': {exc}") from None
    return path, expected


def frame_image(
    data_dir: Path,
    digests: DigestCache,
    frames: FrameCache,
    ticket: TicketView,
    ref: FrameRef,
) -> FrameImage:
    """The picture of frame ``ref`` of ``ticket``.

    Raises:
        FrameUnavailable: the ticket has no such evidence file, the file is refused (outside
            its folder, digest differs) or a clip frame cannot be decoded at that time.
    """
    if ref.source is FrameSource.SNAPSHOT:
        path, digest = _evidence_file(data_dir, ticket, "snapshot")
        try:
            with open_verified(path, digest, digests) as handle:
                data = handle.read()
        except (MediaNotFound, OSError) as exc:
            raise FrameUnavailable(
                f"the snapshot of ticket '{ticket.code or ticket.id}': {exc}"
            ) from None
        return FrameImage(ref, data, "snapshot", path, digest)
    path, digest = _evidence_file(data_dir, ticket, "clip")
    assert ref.t_ms is not None  # FrameRef guarantees it for a clip frame
    try:
        with open_verified(path, digest, digests) as handle:
            shown = frames.get(digest, handle, ref.t_ms)
    except MediaNotFound as exc:
        raise FrameUnavailable(f"the clip of ticket '{ticket.code or ticket.id}': {exc}") from None
    except ClipFrameError as exc:
        raise FrameUnavailable(
            f"the clip of ticket '{ticket.code or ticket.id}' at {ref.t_ms} ms: {exc}"
        ) from None
    return FrameImage(FrameRef(FrameSource.CLIP, shown.t_ms), shown.jpeg, "clip", path, digest)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sidecar_path(data_dir: Path, ticket: TicketView) -> Path | None:
    """Where the ticket's ``annotations.json`` goes: beside its clip, else its snapshot; None
    when it has neither (such a ticket has no frame to annotate)."""
    for key in ("clip", "snapshot"):
        try:
            path, _ = _evidence_file(data_dir, ticket, key)
        except FrameUnavailable:
            continue
        return path.parent / SIDECAR_NAME
    return None


def write_sidecar(
    data_dir: Path,
    ticket: TicketView,
    frames: Sequence[FrameAnnotation],
    now: datetime,
) -> Path | None:
    """Write the ticket's annotations next to its evidence; the path, or None (no evidence).

    Raises:
        pipelines.evidence_layout.EvidenceError: the file cannot be written (path and reason).
    """
    target = sidecar_path(data_dir, ticket)
    if target is None:
        return None
    evidence: dict[str, str | None] = {}
    for key in ("snapshot", "clip"):
        stored = evidence_value(ticket, key)
        evidence[key] = None if stored is None else Path(stored).name
        evidence[f"{key}_sha256"] = evidence_value(ticket, f"{key}_sha256")
    header = {
        "ticket_id": ticket.id,
        "ticket_code": ticket.code,
        "camera_id": ticket.camera_id,
        "kind": ticket.kind,
        "status": ticket.status,
        "started_at": _iso(ticket.started_at),
        "created_at": _iso(ticket.created_at),
    }
    write_bytes_atomic(
        target, sidecar_json(ticket=header, evidence=evidence, frames=frames, updated_at=now)
    )
    return target


def refresh_sidecar(data_dir: Path, store: TicketStore, ticket: TicketView) -> Path | None:
    """Rewrite an annotated ticket's sidecar after its status changed (the export from the
    evidence alone goes by the status it records); None when the ticket has no annotations.

    Raises:
        pipelines.evidence_layout.EvidenceError: the file cannot be written.
    """
    frames = store.annotations(ticket.id)
    if not frames:
        return None
    return write_sidecar(data_dir, ticket, frames, ticket.updated_at)
