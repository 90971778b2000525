"""A closed ticket with every kind of evidence recorded: clip, snapshot, public copies, and the
recheck's "after" picture in the ticket's evidence folder (where the media routes accept it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tests.api.app_harness import ApiHarness, MadeTicket, jpeg_bytes
from vision.types import HazardKind


@dataclass
class ClosedTicket:
    made: MadeTicket
    after: Path

    @property
    def id(self) -> str:
        return self.made.id

    @property
    def files(self) -> dict[str, Path]:
        """Every evidence file by the ticket's evidence key."""
        return {**self.made.files, "after_snapshot": self.after}


def close_with_after_picture(harness: ApiHarness, camera_id: str = "lane_a") -> ClosedTicket:
    """Make a ticket, walk it to rectifying, recheck it from a clear zone status with an after
    picture, and close it (a different actor from the one who rectified)."""
    made = harness.add_ticket(camera_id, "lane", HazardKind.FIRE_LANE_BLOCKED)
    for status in ("reported", "verified", "rectifying"):
        harness.store.transition(made.id, status, actor="office")
    after = made.files["clip"].parent / "after-20261121T080000Z-test.jpg"
    after.write_bytes(jpeg_bytes(99))
    moved = harness.store.apply_zone_status(
        {
            "camera_id": camera_id,
            "zone": "lane",
            "kind": "fire_lane_blocked",
            "state": "clear",
            "clear_for_s": 900.0,
            "at": "2026-11-21T08:00:00Z",
            "snapshot": str(after.relative_to(harness.data_dir)),
            "snapshot_sha256": hashlib.sha256(after.read_bytes()).hexdigest(),
        }
    )
    if [view.status for view in moved] != ["rechecked"]:
        raise RuntimeError(f"the zone status did not recheck the ticket: {moved}")
    harness.store.transition(made.id, "closed", actor="safety-officer")
    return ClosedTicket(made, after)
