"""``hazardwatch dataset export`` from a real store and real evidence.

Tickets are made from events (``tests.api.app_harness``), annotated through the API as a
reviewer would, moved through the workflow, and exported with the real CLI entry point. The
export is then read back from disk: label lines, the split by camera and time, the manifest's
digests against the written files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from hazardwatch.cli import main
from pipelines.dataset_export import ExportItem, Split, SplitSettings, assign_splits
from tests.api.app_harness import CLOSING_PATH, ApiHarness, MadeTicket, bearer, harness_fixture
from tests.support.media import read_frame_index
from vision.annotations import FrameRef, FrameSource
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(180)

EBIKE_BOX = {"class": "ebike", "xyxy": [0.1, 0.2, 0.4, 0.6]}
PERSON_BOX = {"class": "person", "xyxy": [0.5, 0.0, 0.75, 1.0]}


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    yield from harness_fixture(tmp_path, media_cache)


def _annotate(harness: ApiHarness, made: MadeTicket, frames: list[dict[str, Any]]) -> None:
    response = harness.client.put(
        f"/tickets/{made.id}/annotations", json={"frames": frames}, headers=bearer("reviewer")
    )
    assert response.status_code == 200, response.text


def _ticket(harness: ApiHarness, camera: str, at_minutes: int, zone: str = "") -> MadeTicket:
    """A ticket whose hazard starts ``at_minutes`` after 08:00 (a ticket of the same camera,
    zone and kind must be closed or rejected before: a new hazard would join an open one)."""
    harness._clock = datetime.fromisoformat("2026-11-20T08:00:00+00:00") + timedelta(
        minutes=at_minutes - 1
    )
    kinds = {"lane": HazardKind.FIRE_LANE_BLOCKED, "passage": HazardKind.FIRE_LANE_BLOCKED}
    zone = zone or ("lane" if camera == "lane_a" else "door")
    return harness.add_ticket(camera, zone, kinds.get(zone, HazardKind.EBIKE_ENTRY))


def _export(harness: ApiHarness, out: Path, *extra: str) -> int:
    database = f"sqlite:///{harness.data_dir.parent / 'tickets.sqlite3'}"
    return main(
        [
            "dataset",
            "export",
            "--since",
            "2026-11-20",
            "--data-dir",
            str(harness.data_dir),
            "--database",
            database,
            *extra,
            str(out),
        ]
    )


def _seed(harness: ApiHarness) -> dict[str, MadeTicket]:
    """lane_a over 100 minutes: confirmed and rejected tickets (annotated or not); lane_b: two
    confirmed tickets 50 minutes apart, and one annotated but not reviewed yet."""
    made: dict[str, MadeTicket] = {}
    clip_frame = {"source": "clip", "t_ms": 480}
    for minute in (0, 10, 20, 30, 40, 50):  # confirmed, train
        ticket = made[f"a{minute}"] = _ticket(harness, "lane_a", minute)
        _annotate(harness, ticket, [{"frame": clip_frame, "boxes": [EBIKE_BOX, PERSON_BOX]}])
        harness.walk_to(ticket.id, CLOSING_PATH)
    made["a70"] = _ticket(harness, "lane_a", 70)  # in the gap (val starts at 80, gap 15 min)
    _annotate(harness, made["a70"], [{"frame": clip_frame, "boxes": [EBIKE_BOX]}])
    harness.walk_to(made["a70"].id, CLOSING_PATH)
    made["a85"] = _ticket(harness, "lane_a", 85)  # rejected, nobody annotated: a negative
    harness.walk_to(made["a85"].id, ["rejected"])
    made["a90"] = _ticket(harness, "lane_a", 90)  # rejected, annotated negative, plus snapshot
    _annotate(
        harness,
        made["a90"],
        [
            {"frame": {"source": "clip", "t_ms": 200}, "negative": True},
            {"frame": {"source": "snapshot"}, "negative": True},
        ],
    )
    harness.walk_to(made["a90"].id, ["rejected"])
    made["a100"] = _ticket(harness, "lane_a", 100)  # reported: confirmed, val
    frame_0 = {"source": "clip", "t_ms": 0}
    _annotate(harness, made["a100"], [{"frame": frame_0, "boxes": [PERSON_BOX]}])
    harness.walk_to(made["a100"].id, ["reported"])
    for minute in (5, 55):
        ticket = made[f"b{minute}"] = _ticket(harness, "lane_b", minute)
        _annotate(harness, ticket, [{"frame": clip_frame, "boxes": [EBIKE_BOX]}])
        harness.walk_to(ticket.id, CLOSING_PATH)
    made["b30"] = _ticket(harness, "lane_b", 30, "passage")  # annotated, still discovered
    _annotate(harness, made["b30"], [{"frame": clip_frame, "boxes": [EBIKE_BOX]}])
    return made


def test_export_writes_a_yolo_dataset_split_by_camera_and_time(
    harness: ApiHarness, tmp_path: Path
) -> None:
    made = _seed(harness)
    out = tmp_path / "dataset"
    assert _export(harness, out, "--gap-s", "900") == 0

    names = yaml.safe_load((out / "data.yaml").read_text())
    assert names["names"] == ["ebike", "vehicle", "person", "clutter", "bicycle"]
    assert names["train"] == "images/train" and names["val"] == "images/val"
    assert Path(names["path"]) == out.resolve()

    manifest = json.loads((out / "manifest.json").read_text())
    by_ticket = {(s["ticket_id"], s["frame"].get("t_ms")): s for s in manifest["sources"]}
    split_of = {ticket: s["split"] for (ticket, _), s in by_ticket.items()}
    # lane_a spans 0..100 min: val from minute 80, nothing from 65 to 80 (the gap).
    for minute in (0, 10, 20, 30, 40, 50):
        assert split_of[made[f"a{minute}"].id] == "train"
    for key in ("a85", "a90", "a100"):
        assert split_of[made[key].id] == "val", key
    assert made["a70"].id not in split_of and made["b30"].id not in split_of
    # lane_b spans 5..55 min on its own clock: val from minute 45.
    assert split_of[made["b5"].id] == "train" and split_of[made["b55"].id] == "val"
    assert manifest["cameras"]["lane_a"]["val_from"] == "2026-11-20T09:20:00Z"
    assert manifest["cameras"]["lane_a"]["gap"] == 1
    reasons = {(d["ticket_id"], d["frame"]): d["reason"] for d in manifest["left_out"]}
    assert "before val starts" in reasons[(made["a70"].id, "clip@480")]
    assert "not reviewed yet" in reasons[(made["b30"].id, "clip@480")]
    assert "drawn boxes" in reasons[(made["a90"].id, "snapshot")]

    # Label lines: class cx cy w h, normalised; negatives are empty files.
    confirmed = by_ticket[(made["a10"].id, 480)]
    label = (out / confirmed["label"]).read_text()
    assert label == "0 0.250000 0.400000 0.300000 0.400000\n2 0.625000 0.500000 0.250000 1.000000\n"
    assert confirmed["image"].startswith("images/train/") and confirmed["boxes"] == 2
    for key in ("a85", "a90"):
        (negative,) = [s for s in manifest["sources"] if s["ticket_id"] == made[key].id]
        assert (out / negative["label"]).read_text() == "" and negative["negative"] is True
    rejected = by_ticket[(made["a85"].id, 480)]  # the middle of a 960 ms clip
    assert rejected["origin"] == "rejected" and rejected["author"] is None
    image = cv2.imread(str(out / rejected["image"]))
    assert read_frame_index(image) == 12

    # Every written image is the one the manifest names, and the one the reviewer saw.
    for source in manifest["sources"]:
        data = (out / source["image"]).read_bytes()
        assert source["image_sha256"] == hashlib.sha256(data).hexdigest()
        if source["origin"] == "annotation":
            assert source["image_sha256"] == source["reviewed_image_sha256"]
        assert source["evidence_sha256"] == made_evidence_sha(made, source)
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == sorted(
        Path(s["image"]).name for s in manifest["sources"] if s["split"] == "train"
    )
    counts = manifest["counts"]
    assert counts["train"] == {
        "images": 7,
        "negatives": 0,
        "boxes": {"ebike": 7, "vehicle": 0, "person": 6, "clutter": 0, "bicycle": 0},
    }
    assert counts["val"] == {
        "images": 4,
        "negatives": 2,
        "boxes": {"ebike": 1, "vehicle": 0, "person": 1, "clutter": 0, "bicycle": 0},
    }


def made_evidence_sha(made: dict[str, MadeTicket], source: dict[str, Any]) -> str:
    (ticket,) = [t for t in made.values() if t.id == source["ticket_id"]]
    return str(ticket.view.evidence["clip_sha256"])


def test_snapshots_are_exported_only_when_asked(harness: ApiHarness, tmp_path: Path) -> None:
    made = _ticket(harness, "lane_a", 0)
    _annotate(harness, made, [{"frame": {"source": "snapshot"}, "boxes": [EBIKE_BOX]}])
    harness.walk_to(made.id, ["reported"])
    assert _export(harness, tmp_path / "without") == 2  # the only frame is left out
    assert not (tmp_path / "without").exists()
    assert _export(harness, tmp_path / "with", "--include-snapshots") == 0
    manifest = json.loads((tmp_path / "with" / "manifest.json").read_text())
    (source,) = manifest["sources"]
    written = (tmp_path / "with" / source["image"]).read_bytes()
    assert written == made.files["snapshot"].read_bytes()


def test_bad_input_is_a_clear_message_and_exit_2(
    harness: ApiHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = _ticket(harness, "lane_a", 0)
    _annotate(harness, made, [{"frame": {"source": "clip", "t_ms": 480}, "boxes": [EBIKE_BOX]}])
    harness.walk_to(made.id, ["reported"])
    capsys.readouterr()

    assert _export(harness, tmp_path / "x", "--since", "20-11-2026") == 2
    assert "--since '20-11-2026' is not a date" in capsys.readouterr().err

    assert main(["dataset", "export", "--since", "2027-01-01", "--data-dir",
                 str(harness.data_dir), "--database",
                 f"sqlite:///{harness.data_dir.parent / 'tickets.sqlite3'}",
                 str(tmp_path / "y")]) == 2  # fmt: skip
    assert "no tickets to export (created since 2027-01-01)" in capsys.readouterr().err

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert _export(harness, taken) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]

    assert main(["dataset", "export", "--since", "2026-11-20", "--data-dir",
                 str(tmp_path / "nowhere"), str(tmp_path / "z")]) == 2  # fmt: skip
    assert "is not a folder" in capsys.readouterr().err
    assert main(["dataset", "export", "--since", "2026-11-20", "--data-dir",
                 str(harness.data_dir), str(tmp_path / "z")]) == 2  # fmt: skip
    assert "no ticket database at" in capsys.readouterr().err

    assert _export(harness, tmp_path / "v", "--val-fraction", "1.5") == 2
    assert "val_fraction must be between 0 and 1" in capsys.readouterr().err

    # Evidence changed since the ticket recorded it: named, and nothing written.
    made.files["clip"].write_bytes(made.files["clip"].read_bytes()[:-64])
    assert _export(harness, tmp_path / "w") == 2
    err = capsys.readouterr().err
    assert f"cannot read the picture of ticket {made.id}" in err
    assert "differs from the recorded" in err
    assert not (tmp_path / "w").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".w.")]
    assert _export(harness, tmp_path / "w", "--skip-unreadable") == 2  # nothing else left
    assert "all 1 reviewed frames were left out" in capsys.readouterr().err


def _item(camera: str, minute: float) -> ExportItem:
    return ExportItem(
        camera_id=camera,
        ticket_id=f"{camera}-{minute}",
        time=datetime.fromisoformat("2026-11-20T08:00:00+00:00") + timedelta(minutes=minute),
        frame=FrameRef(FrameSource.CLIP, 0),
        boxes=(),
        load_jpeg=lambda: b"",
        source={},
    )


def test_split_is_per_camera_by_time_with_a_gap() -> None:
    items = [_item("a", m) for m in (0, 50, 79, 80, 81, 100)] + [_item("b", m) for m in (7, 7)]
    splits = [s for s, _ in assign_splits(items, SplitSettings(val_fraction=0.2, gap_s=60))]
    # Camera b has one moment only: no span to split, all train.
    assert (
        splits
        == [Split.TRAIN, Split.TRAIN, None, Split.VAL, Split.VAL, Split.VAL] + [Split.TRAIN] * 2
    )
    no_gap = [s for s, _ in assign_splits(items[:6], SplitSettings(val_fraction=0.5, gap_s=0))]
    assert no_gap == [Split.TRAIN, Split.VAL, Split.VAL, Split.VAL, Split.VAL, Split.VAL]


def _move(harness: ApiHarness, made: MadeTicket, path: list[str]) -> None:
    """Through the API, as people do (the office rechecks and closes what a reviewer fixed)."""
    for status in path:
        role = "admin" if status in ("rechecked", "closed") else "reviewer"
        response = harness.client.post(
            f"/tickets/{made.id}/transition", json={"to": status}, headers=bearer(role)
        )
        assert response.status_code == 200, response.text


def test_export_from_the_evidence_sidecars_alone(
    harness: ApiHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = []
    for minute in (0, 50, 100):
        ticket = _ticket(harness, "lane_a", minute)
        _annotate(
            harness, ticket, [{"frame": {"source": "clip", "t_ms": 480}, "boxes": [EBIKE_BOX]}]
        )
        made.append(ticket)
        if minute < 100:
            _move(harness, ticket, CLOSING_PATH)  # the last one stays discovered
    sidecar = made[0].files["clip"].parent / "annotations.json"
    assert json.loads(sidecar.read_text())["status"] == "closed"  # rewritten on each move

    assert _export(harness, tmp_path / "db", "--gap-s", "0") == 0
    assert not (harness.data_dir / "tickets.sqlite3").exists()  # the database is elsewhere
    from_disk = main(["dataset", "export", "--since", "2026-11-20", "--from-evidence",
                      "--gap-s", "0", "--data-dir", str(harness.data_dir),
                      str(tmp_path / "disk")])  # fmt: skip
    assert from_disk == 0

    def digest(out: Path) -> list[tuple[str, str, str, str]]:
        manifest = json.loads((out / "manifest.json").read_text())
        return sorted(
            (s["ticket_id"], s["split"], s["image_sha256"], (out / s["label"]).read_text())
            for s in manifest["sources"]
        )

    expected = digest(tmp_path / "db")
    assert [row[0] for row in expected] == sorted(t.id for t in made[:2])
    assert digest(tmp_path / "disk") == expected
    manifest = json.loads((tmp_path / "disk" / "manifest.json").read_text())
    assert manifest["read_from"] == "evidence sidecars"
    assert "not reviewed yet" in manifest["left_out"][0]["reason"]

    sidecar.write_text('{"format": "hazardwatch-annotations/1"}')
    assert main(["dataset", "export", "--since", "2026-11-20", "--from-evidence",
                 "--data-dir", str(harness.data_dir), str(tmp_path / "bad")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cannot read evidence/lane_a/" in err and "annotations.json: no ticket_id" in err
