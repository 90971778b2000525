"""Reviewers' annotations: ``GET/PUT /tickets/{id}/annotations`` and ``/frames/{t_ms}.jpg``.

Real app, real SQLite store, real H.264 evidence clip whose frames carry their own index
(``tests.support.media``), so a test can tell by the pixels which frame was served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.api.app_harness import TOKENS, ApiHarness, MadeTicket, bearer, harness_fixture
from tests.support.media import read_frame_index
from vision.annotations import SIDECAR_NAME, parse_sidecar
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(120)

FPS = 25  # tests.support.media's default, the harness clip's rate


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    yield from harness_fixture(tmp_path, media_cache)


@pytest.fixture
def ticket(harness: ApiHarness) -> MadeTicket:
    return harness.add_ticket("lane_b", "door", HazardKind.EBIKE_ENTRY, seed=4)


def _url(ticket: MadeTicket, tail: str = "annotations") -> str:
    return f"/tickets/{ticket.id}/{tail}"


def _box(cls: str = "ebike", xyxy: list[float] | None = None) -> dict[str, Any]:
    return {"class": cls, "xyxy": xyxy or [0.1, 0.2, 0.4, 0.6]}


def _clip_frame(t_ms: int, *boxes: dict[str, Any], negative: bool = False) -> dict[str, Any]:
    return {"frame": {"source": "clip", "t_ms": t_ms}, "boxes": list(boxes), "negative": negative}


def test_frame_route_serves_the_frame_shown_at_that_time(
    harness: ApiHarness, ticket: MadeTicket
) -> None:
    for t_ms, index in ((0, 0), (39, 0), (40, 1), (500, 12), (960, 24), (1500, 24)):
        url = _url(ticket, f"frames/{t_ms}.jpg")
        response = harness.client.get(url, headers=bearer("reviewer"))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        assert read_frame_index(image) == index, t_ms
        assert response.headers["x-frame-time-ms"] == str(round(index * 1000 / FPS))
        assert response.headers["etag"] == f'"{hashlib.sha256(response.content).hexdigest()}"'
    past = harness.client.get(_url(ticket, "frames/5000.jpg"), headers=bearer("admin"))
    assert past.status_code == 404
    assert "past the end of the clip" in past.json()["detail"]


def test_put_stores_boxes_in_the_store_and_the_sidecar(
    harness: ApiHarness, ticket: MadeTicket
) -> None:
    empty = harness.client.get(_url(ticket), headers=bearer("reviewer"))
    assert empty.status_code == 200
    assert empty.json()["frames"] == []
    assert empty.json()["classes"] == ["ebike", "vehicle", "person", "clutter", "bicycle"]
    body = {
        "frames": [
            _clip_frame(510, _box("ebike"), _box("person", [0.5, 0.1, 0.9, 0.95])),
            {"frame": {"source": "snapshot"}, "negative": True},
        ]
    }
    response = harness.client.put(_url(ticket), json=body, headers=bearer("reviewer"))
    assert response.status_code == 200, response.text
    frames = response.json()["frames"]
    assert [f["frame"] for f in frames] == [
        {"source": "snapshot"},
        {"source": "clip", "t_ms": 480},  # 510 ms snapped to the frame shown then (index 12)
    ]
    snapshot, clip = frames
    assert snapshot["negative"] is True and snapshot["boxes"] == []
    snapshot_bytes = ticket.files["snapshot"].read_bytes()
    assert snapshot["image_sha256"] == hashlib.sha256(snapshot_bytes).hexdigest()
    served = harness.client.get(_url(ticket, "frames/480.jpg"), headers=bearer("admin"))
    assert clip["image_sha256"] == hashlib.sha256(served.content).hexdigest()
    assert clip["boxes"] == [
        {"class": "ebike", "xyxy": [0.1, 0.2, 0.4, 0.6]},
        {"class": "person", "xyxy": [0.5, 0.1, 0.9, 0.95]},
    ]
    assert clip["author"] == "reviewer" and clip["at"].endswith("Z")

    stored = harness.store.annotations(ticket.id)
    assert [f.to_json() for f in stored] == frames
    sidecar = ticket.files["clip"].parent / SIDECAR_NAME
    assert response.json()["sidecar"] == str(sidecar.relative_to(harness.data_dir))
    header, from_disk = parse_sidecar(sidecar.read_bytes(), str(sidecar))
    assert [f.to_json() for f in from_disk] == frames
    assert header["ticket_id"] == ticket.id and header["camera_id"] == "lane_b"
    assert header["evidence"]["clip"] == "clip.mp4"
    assert header["evidence"]["clip_sha256"] == ticket.view.evidence["clip_sha256"]
    assert not [p for p in sidecar.parent.iterdir() if p.name.startswith(".")]  # no temp left

    # A second PUT replaces the set, in the store and on disk.
    again = harness.client.put(
        _url(ticket), json={"frames": [_clip_frame(40, _box("clutter"))]}, headers=bearer("admin")
    )
    assert again.status_code == 200, again.text
    assert [f.frame.key for f in harness.store.annotations(ticket.id)] == ["clip@40"]
    _, from_disk = parse_sidecar(sidecar.read_bytes(), str(sidecar))
    assert [(f.frame.key, f.author) for f in from_disk] == [("clip@40", "admin")]
    assert harness.client.get(_url(ticket), headers=bearer("reviewer")).json()["frames"][0][
        "boxes"
    ] == [{"class": "clutter", "xyxy": [0.1, 0.2, 0.4, 0.6]}]


def _many_boxes(n: int) -> list[dict[str, Any]]:
    return [_box("vehicle", [0.001 * i, 0.1, 0.001 * i + 0.5, 0.5]) for i in range(n)]


BAD_BODIES = [
    ("outside", {"frames": [_clip_frame(0, _box(xyxy=[0.1, 0.2, 1.2, 0.5]))]},
     "body.frames.0.boxes.0.xyxy.2", "less than or equal to 1, got 1.2"),
    ("negative-coord", {"frames": [_clip_frame(0, _box(xyxy=[-0.1, 0.2, 0.2, 0.5]))]},
     "body.frames.0.boxes.0.xyxy.0", "greater than or equal to 0, got -0.1"),
    ("x-order", {"frames": [_clip_frame(0, _box(xyxy=[0.5, 0.2, 0.4, 0.5]))]},
     "body.frames.0.boxes.0", "x1 (0.5) must be less than x2 (0.4)"),
    ("y-order", {"frames": [_clip_frame(0, _box(xyxy=[0.1, 0.5, 0.4, 0.5]))]},
     "body.frames.0.boxes.0", "y1 (0.5) must be less than y2 (0.5)"),
    ("class", {"frames": [_clip_frame(0, _box("stroller"))]},
     "body.frames.0.boxes.0.class",
     "should be 'ebike', 'vehicle', 'person', 'clutter' or 'bicycle', got 'stroller'"),
    ("three-numbers", {"frames": [_clip_frame(0, {"class": "ebike", "xyxy": [0.1, 0.2, 0.3]})]},
     "body.frames.0.boxes.0.xyxy", "at least 4"),
    ("text-number", {"frames": [_clip_frame(0, _box(xyxy=[0.1, "0.2", 0.3, 0.4]))]},
     "body.frames.0.boxes.0.xyxy.1", "valid number"),
    ("too-many", {"frames": [_clip_frame(0, *_many_boxes(201))]},
     "body.frames.0.boxes", "at most 200"),
    ("negative-with-box", {"frames": [_clip_frame(0, _box(), negative=True)]},
     "body.frames.0", "a negative frame (no hazard object) has no boxes"),
    ("empty", {"frames": [_clip_frame(0)]},
     "body.frames.0", "no boxes; draw one or mark the frame negative"),
    ("clip-without-time", {"frames": [{"frame": {"source": "clip"}, "negative": True}]},
     "body.frames.0.frame", "a clip frame needs t_ms"),
    ("unknown-source", {"frames": [{"frame": {"source": "video", "t_ms": 0}, "negative": True}]},
     "body.frames.0.frame.source", "should be 'snapshot' or 'clip', got 'video'"),
    ("snapshot-with-time",
     {"frames": [{"frame": {"source": "snapshot", "t_ms": 5}, "negative": True}]},
     "body.frames.0.frame", "the snapshot is one picture: give no t_ms"),
    ("unknown-field", {"frames": [_clip_frame(0, {**_box(), "score": 0.9})]},
     "body.frames.0.boxes.0.score", "unknown field 'score'"),
    ("past-end", {"frames": [_clip_frame(9000, _box())]},
     "body.frames.0.frame", "past the end of the clip"),
    ("same-frame-twice", {"frames": [_clip_frame(500, _box()), _clip_frame(490, _box())]},
     "body.frames.1.frame", "the same frame (clip@480) as frames.0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "loc", "message"), [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES]
)
def test_bad_annotations_are_422_naming_the_problem(
    harness: ApiHarness, ticket: MadeTicket, body: dict[str, Any], loc: str, message: str
) -> None:
    response = harness.client.put(_url(ticket), json=body, headers=bearer("reviewer"))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["loc"] == loc and message in e["msg"] for e in errors), errors
    assert message in response.json()["detail"]
    assert harness.store.annotations(ticket.id) == []
    assert not (ticket.files["clip"].parent / SIDECAR_NAME).exists()


def test_a_ticket_without_a_clip_has_no_clip_frames(harness: ApiHarness) -> None:
    made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED, evidence={})
    frame = harness.client.get(_url(made, "frames/0.jpg"), headers=bearer("reviewer"))
    assert frame.status_code == 404
    assert "has no clip" in frame.json()["detail"]
    put = harness.client.put(
        _url(made), json={"frames": [_clip_frame(0, _box())]}, headers=bearer("reviewer")
    )
    assert put.status_code == 422
    assert "has no clip" in put.json()["detail"]


def test_roles_are_judged_before_the_body(harness: ApiHarness, ticket: MadeTicket) -> None:
    bad = {"frames": [_clip_frame(0, _box("stroller"))]}
    for role in ("grid_lane", "public"):
        response = harness.client.put(_url(ticket), json=bad, headers=bearer(role))
        assert response.status_code == 403, (role, response.text)
        assert "reviewer" in response.json()["detail"]
    anonymous = harness.client.put(_url(ticket), json=bad)
    assert anonymous.status_code == 401
    assert harness.client.put(_url(ticket), json=bad, headers=bearer("admin")).status_code == 422


def test_a_changed_clip_is_refused(harness: ApiHarness, ticket: MadeTicket) -> None:
    clip = ticket.files["clip"]
    clip.write_bytes(clip.read_bytes()[:-100])  # no longer the file the ticket recorded
    frame = harness.client.get(_url(ticket, "frames/0.jpg"), headers=bearer("reviewer"))
    assert frame.status_code == 404
    assert "differs from the recorded" in frame.json()["detail"]


def _page_as(harness: ApiHarness, role: str) -> str:
    harness.client.cookies.clear()
    response = harness.client.get(f"/ui/review?token={TOKENS[role][0]}")
    assert response.status_code == 200
    return response.text


def test_the_review_page_has_the_box_editor_for_the_office_only(harness: ApiHarness) -> None:
    for role in ("reviewer", "admin"):
        html = _page_as(harness, role)
        assert 'id="ed-canvas"' in html and "const ED = {" in html
        assert '"annotate": true' in html
        assert '["ebike", "电动车 E-bike"]' in html
        assert "无隐患目标（负样本） No hazard object (negative)" in html
        assert "pointerdown" in html and "touch-action:none" in html  # mouse, pen and touch
    for role in ("grid_lane", "public"):
        html = _page_as(harness, role)
        assert 'id="ed-canvas"' not in html and "const ED = {" not in html
        assert '"annotate": false' in html
