"""``hazardwatch dataset export``: reviewed tickets' frames as a YOLO dataset (ARCHITECTURE §6).

Which frames, and what they teach (the users' closed loop decides what a box is worth):

- a ticket that reached ``reported`` or later (reported, verified, rectifying, rechecked,
  closed, reopened) is *confirmed*: its reviewers' annotated frames are exported with their
  boxes (a frame marked negative: an empty label file);
- a ``rejected`` ticket was a false alarm: its annotated frames are exported as annotated, and
  a rejected ticket nobody annotated gives one negative (empty label) frame, the middle of its
  clip, where the false object was being tracked;
- a ``discovered`` ticket is not reviewed yet: left out (listed in the manifest).

Clip frames are decoded exactly as the review page showed them (:mod:`api.annotation_files`).
The snapshot is left out unless ``--include-snapshots``: the evidence writer draws the
detector's boxes, the zone and a caption strip onto it (:func:`pipelines.snapshots.
annotate_snapshot`), and a model trained on it would learn to find green rectangles.

The dataset layout and the split are :mod:`pipelines.dataset_export`'s. Exit codes: 0 written,
2 bad input (bad date, no ticket database, nothing to export, OUT not empty, unreadable
evidence), 1 internal error.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from api.annotation_files import FrameImage, FrameUnavailable, frame_image
from api.errors import InvalidQuery, StoreError
from api.evidence_files import DigestCache, open_verified, resolve_evidence
from api.media import MediaNotFound
from api.store import TicketStore, TicketView
from api.tickets_view import evidence_value
from api.workflow import TicketStatus
from pipelines.cli_evidence import start_config_keys
from pipelines.clip_frames import ClipFrameError, FrameCache, clip_duration_ms
from pipelines.dataset_export import (
    DatasetExportError,
    ExportItem,
    ImageUnavailable,
    SplitSettings,
    write_dataset,
)
from pipelines.evidence_crypto import EvidenceKeyConfigError
from pipelines.evidence_layout import EVIDENCE_DIRNAME
from vision.annotations import (
    SIDECAR_NAME,
    AnnotationError,
    FrameAnnotation,
    FrameRef,
    FrameSource,
    parse_sidecar,
)
from vision.types import HazardKind

EXIT_OK = 0
EXIT_BAD_INPUT = 2
_CAMERA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_STATUSES = frozenset(status.value for status in TicketStatus)


class _BadInput(Exception):
    """Something the user must fix (exit code 2)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dataset`` and ``dataset export`` to the ``hazardwatch`` parser."""
    parser = subparsers.add_parser("dataset", help="training datasets from reviewed tickets")
    sub = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: _usage(parser))
    export = sub.add_parser(
        "export",
        help="reviewed frames as a YOLO dataset (images, labels, data.yaml, manifest.json)",
        description="Confirmed tickets' boxes and rejected tickets' frames (negatives) as a "
        "YOLO dataset, split into train/val by camera and time.",
    )
    export.add_argument("out", type=Path, metavar="OUT", help="new (or empty) dataset folder")
    export.add_argument(
        "--since", required=True, help="tickets created on or after this date (2026-11-01, UTC)"
    )
    export.add_argument(
        "--kind", choices=[kind.value for kind in HazardKind], help="only this hazard kind"
    )
    export.add_argument("--camera", help="only this camera id")
    export.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="database and evidence (./data)"
    )
    export.add_argument(
        "--database",
        help="ticket database URL (default: sqlite:///DATA_DIR/tickets.sqlite3; "
        "postgresql+psycopg://... for PostgreSQL)",
    )
    export.add_argument(
        "--config",
        type=Path,
        help="the config file whose evidence section names the evidence keys, as serve reads "
        "them (default: HAZARDWATCH_EVIDENCE_KEYS)",
    )
    export.add_argument(
        "--from-evidence",
        action="store_true",
        help="read the annotations.json files under DATA_DIR/evidence instead of the database "
        "(annotated frames only: rejected tickets nobody annotated are not there)",
    )
    export.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of each camera's time span, the latest, that goes to val (0.2)",
    )
    export.add_argument(
        "--gap-s",
        type=float,
        default=3600.0,
        help="seconds before each camera's val span that are left out (3600)",
    )
    export.add_argument(
        "--include-snapshots",
        action="store_true",
        help="also export annotated snapshots (they carry the detector's drawn boxes)",
    )
    export.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="leave out frames whose evidence cannot be read (default: stop with an error)",
    )
    export.set_defaults(func=cmd_export)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def parse_since(text: str) -> datetime:
    """``--since``: a date (midnight UTC) or an ISO-8601 time (UTC when it has no offset).

    Raises:
        _BadInput: naming the value and the expected form.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadInput(
            f"--since {text!r} is not a date: give 2026-11-01 or 2026-11-01T08:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def open_store(args: argparse.Namespace) -> TicketStore:
    """The ticket database of ``--database`` or ``--data-dir`` (never created here).

    Raises:
        _BadInput: there is no database file, or it cannot be opened.
    """
    url = args.database
    if url is None:
        path = (args.data_dir / "tickets.sqlite3").resolve()
        if not path.is_file():
            raise _BadInput(
                f"no ticket database at {path}: give --data-dir of a hazardwatch install "
                "(or --database URL)"
            )
        url = f"sqlite:///{path}"
    try:
        return TicketStore(url)
    except StoreError as exc:
        raise _BadInput(f"cannot open the ticket database: {exc}") from None


def cmd_export(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since)
        settings = SplitSettings(args.val_fraction, args.gap_s)
        if not args.data_dir.is_dir():
            raise _BadInput(f"--data-dir {args.data_dir} is not a folder")
        if args.config is not None:
            try:
                start_config_keys(args.config)
            except EvidenceKeyConfigError as exc:
                raise _BadInput(str(exc)) from None
        if args.from_evidence:
            if args.database is not None:
                raise _BadInput("--from-evidence reads no database: leave out --database")
            candidates = sidecar_candidates(args.data_dir.resolve(), since, args.kind, args.camera)
        else:
            candidates = _store_candidates(args, since)
        if not candidates:
            raise _BadInput(_nothing_message(args, since))
        builder = _ItemBuilder(args.data_dir.resolve(), include_snapshots=args.include_snapshots)
        for ticket, frames in candidates:
            builder.add(ticket, frames)
        header: dict[str, Any] = {
            "filters": {
                "since": since.isoformat().replace("+00:00", "Z"),
                "kind": args.kind,
                "camera": args.camera,
            },
            "data_dir": str(args.data_dir.resolve()),
            "read_from": "evidence sidecars" if args.from_evidence else "ticket database",
            "tickets": len(candidates),
        }
        summary = write_dataset(
            builder.items,
            args.out,
            settings,
            header=header,
            left_out=builder.left_out,
            skip_unreadable=args.skip_unreadable,
        )
    except (_BadInput, DatasetExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    counts = summary.counts
    print(f"dataset written to {summary.out}")
    for split, tally in counts.items():
        boxes = ", ".join(f"{name} {n}" for name, n in tally["boxes"].items())
        print(f"  {split}: {tally['images']} images ({tally['negatives']} negatives); {boxes}")
    left = len(summary.manifest["left_out"])
    if left:
        print(f"  {left} frames left out (see manifest.json 'left_out')")
    return EXIT_OK


def _store_candidates(
    args: argparse.Namespace, since: datetime
) -> list[tuple[TicketView, list[FrameAnnotation]]]:
    store = open_store(args)
    try:
        return store.dataset_candidates(since=since, kind=args.kind, camera=args.camera)
    except InvalidQuery as exc:
        raise _BadInput(str(exc)) from None
    finally:
        store.close()


def _time(value: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadInput(f"{where}: {value!r} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise _BadInput(f"{where}: {value!r} has no time zone")
    return parsed


def sidecar_candidates(
    data_dir: Path, since: datetime, kind: str | None, camera: str | None
) -> list[tuple[TicketView, list[FrameAnnotation]]]:
    """Tickets as their ``annotations.json`` sidecars record them (``--from-evidence``).

    The sidecar says the ticket's status as of its last save or transition through the API,
    and names its evidence files by their names in its own folder with their SHA-256, which
    the export verifies as always.

    Raises:
        _BadInput: a sidecar that cannot be read, or whose camera is not its folder's.
    """
    if camera is not None and not _CAMERA_ID_RE.match(camera):
        raise _BadInput(f"--camera {camera!r} is not a camera id")
    root = data_dir / EVIDENCE_DIRNAME
    out: list[tuple[TicketView, list[FrameAnnotation]]] = []
    for path in sorted(root.glob(f"{camera or '*'}/*/*/{SIDECAR_NAME}")):
        where = str(path.relative_to(data_dir))
        try:
            header, frames = parse_sidecar(path.read_bytes(), where)
        except (OSError, AnnotationError) as exc:
            raise _BadInput(f"cannot read {where}: {exc}") from None
        folder_camera = path.parent.parent.parent.name
        if header["camera_id"] != folder_camera:
            raise _BadInput(
                f"{where} says camera {header['camera_id']!r} but is in {folder_camera!r}'s folder"
            )
        if header["status"] not in _STATUSES:
            raise _BadInput(f"{where}: unknown status {header['status'][:40]!r}")
        created = _time(header["created_at"], f"{where}: created_at")
        if created < since or (kind is not None and header["kind"] != kind):
            continue
        evidence: dict[str, Any] = {}
        files = header.get("evidence") or {}
        for key in ("clip", "snapshot"):
            name = files.get(key)
            if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
                evidence[key] = str((path.parent / name).relative_to(data_dir))
                evidence[f"{key}_sha256"] = files.get(f"{key}_sha256")
        started = _time(header["started_at"], f"{where}: started_at")
        view = TicketView(
            id=header["ticket_id"],
            code=header["ticket_code"],
            kind=header["kind"],
            status=header["status"],
            level="",
            camera_id=header["camera_id"],
            zone="",
            area="",
            created_at=created,
            updated_at=created,
            deadline_at=None,
            hazard_ids=[],
            evidence=evidence,
            history=[],
            details={},
            labels=[],
            score=0.0,
            started_at=started,
            ended_at=None,
            escalations=0,
        )
        out.append((view, frames))
    out.sort(key=lambda pair: (pair[0].started_at, pair[0].id))
    return out


def _nothing_message(args: argparse.Namespace, since: datetime) -> str:
    filters = [f"created since {since.date().isoformat()}"]
    if args.kind:
        filters.append(f"kind {args.kind}")
    if args.camera:
        filters.append(f"camera {args.camera}")
    if args.from_evidence:
        return (
            f"no annotations.json under {args.data_dir / EVIDENCE_DIRNAME} ({', '.join(filters)})"
        )
    return (
        f"no tickets to export ({', '.join(filters)}): none has reviewers' annotations and "
        "none was rejected"
    )


class _ItemBuilder:
    """Turns tickets and their annotations into :class:`ExportItem` s (and the left-out list)."""

    def __init__(self, data_dir: Path, *, include_snapshots: bool) -> None:
        self.data_dir = data_dir
        self.include_snapshots = include_snapshots
        self.digests = DigestCache()
        self.frames = FrameCache(max_bytes=4 * 1024 * 1024)
        self.items: list[ExportItem] = []
        self.left_out: list[dict[str, Any]] = []

    def _leave_out(self, ticket: TicketView, frame: str, reason: str) -> None:
        self.left_out.append(
            {
                "ticket_id": ticket.id,
                "camera_id": ticket.camera_id,
                "frame": frame,
                "reason": reason,
            }
        )

    def add(self, ticket: TicketView, frames: list[FrameAnnotation]) -> None:
        status = TicketStatus(ticket.status)
        if status is TicketStatus.DISCOVERED:
            for frame in frames:
                self._leave_out(
                    ticket, frame.frame.key, "not reviewed yet (discovered): counts once reported"
                )
            return
        if frames:
            for frame in frames:
                self._add_frame(ticket, frame.frame, frame.boxes, "annotation", frame)
            return
        if status is TicketStatus.REJECTED:
            self._add_rejected(ticket)

    def _add_rejected(self, ticket: TicketView) -> None:
        """One negative frame of a rejected ticket nobody annotated: the middle of its clip."""
        if evidence_value(ticket, "clip") is not None:
            try:
                middle = self._clip_middle_ms(ticket)
            except ImageUnavailable as exc:
                self._leave_out(ticket, "clip", f"rejected, but its clip is unreadable: {exc}")
                return
            self._add_frame(ticket, FrameRef(FrameSource.CLIP, middle), (), "rejected", None)
        elif evidence_value(ticket, "snapshot") is not None:
            self._add_frame(ticket, FrameRef(FrameSource.SNAPSHOT), (), "rejected", None)
        else:
            self._leave_out(ticket, "-", "rejected, but it has no clip and no snapshot")

    def _clip_middle_ms(self, ticket: TicketView) -> int:
        stored = evidence_value(ticket, "clip") or ""
        try:
            path = resolve_evidence(self.data_dir, ticket.camera_id, stored)
            with open_verified(path, evidence_value(ticket, "clip_sha256"), self.digests) as fh:
                return clip_duration_ms(fh) // 2
        except (MediaNotFound, ClipFrameError) as exc:
            raise ImageUnavailable(f"the clip of ticket {ticket.id}: {exc}") from None

    def _add_frame(
        self,
        ticket: TicketView,
        ref: FrameRef,
        boxes: tuple[Any, ...],
        origin: str,
        annotation: FrameAnnotation | None,
    ) -> None:
        if ref.source is FrameSource.SNAPSHOT and not self.include_snapshots:
            self._leave_out(
                ticket,
                ref.key,
                "snapshot: it carries the detector's drawn boxes and a caption "
                "(--include-snapshots exports it anyway)",
            )
            return
        key = ref.source.value
        stored = evidence_value(ticket, key)
        source = {
            "ticket_code": ticket.code,
            "kind": ticket.kind,
            "status": ticket.status,
            "origin": origin,
            "evidence_file": stored,
            "evidence_sha256": evidence_value(ticket, f"{key}_sha256"),
            "author": None if annotation is None else annotation.author,
            "annotated_at": None if annotation is None else annotation.to_json()["at"],
            "reviewed_image_sha256": None if annotation is None else annotation.image_sha256,
        }
        # Shown relative to the data dir, as the evidence writer stores paths.
        if stored is not None and Path(stored).is_relative_to(self.data_dir):
            source["evidence_file"] = str(Path(stored).relative_to(self.data_dir))

        def load() -> bytes:
            try:
                image: FrameImage = frame_image(
                    self.data_dir, self.digests, self.frames, ticket, ref
                )
            except FrameUnavailable as exc:
                raise ImageUnavailable(str(exc)) from None
            return image.jpeg

        self.items.append(
            ExportItem(
                camera_id=ticket.camera_id,
                ticket_id=ticket.id,
                time=ticket.started_at,
                frame=ref,
                boxes=tuple(boxes),
                load_jpeg=load,
                source=source,
            )
        )
