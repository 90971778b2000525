"""The public clip made by the service on first request, from the clip and its privacy track.

Tickets are made as the pipeline makes them since the public copy moved out of it: ``clip``,
``snapshot``, ``snapshot_public`` and ``privacy`` (no ``clip_public``). The public asks for the
clip of a closed ticket; the service makes the blurred copy once, records its SHA-256, and serves
it verified from then on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.public_copy import CLIP_PUBLIC_NAME, PublicClips
from pipelines.public_clip import BACKGROUND_NICE, PrivacyTrack, write_privacy_track
from pipelines.snapshots import PrivacyTimeline
from tests.api.app_harness import CLOSING_PATH, ApiHarness, MadeTicket, bearer, sha256_file
from tests.support.media import ensure_clip
from vision.types import HazardKind

TOP_LEFT = (0.0, 0.0, 0.5, 0.5)


@pytest.fixture
def harness(tmp_path: Path, media_cache: Path) -> Iterator[ApiHarness]:
    h = ApiHarness(tmp_path, media_cache)
    try:
        yield h
    finally:
        h.close()


def track_over_top_left(seconds: float = 1.0, fps: int = 25) -> PrivacyTrack:
    timeline = PrivacyTimeline(span_s=60.0)
    for i in range(round(seconds * fps)):
        timeline.add(i / fps, [TOP_LEFT])
    return PrivacyTrack(
        clip_start_pts_s=0.0, box_hold_s=1.0, max_width_px=160, crf=28, timeline=timeline
    )


def closed_ticket(h: ApiHarness, media_cache: Path, *, seed: int = 0) -> MadeTicket:
    """A closed ticket whose evidence is what today's pipeline writes (no clip_public)."""
    hazard_id = f"hz{seed:04d}"
    folder = h.evidence_dir("lane", hazard_id)
    clip = folder / "clip.mp4"
    # Detailed texture so that pixelation is measurable.
    shutil.copyfile(ensure_clip(media_cache, width=320, height=240, seconds=1.0), clip)
    files = {
        "clip": clip,
        "snapshot": folder / "snapshot.jpg",
        "snapshot_public": folder / "snapshot_public.jpg",
        "privacy": folder / "privacy.json",
    }
    files["snapshot"].write_bytes(b"\xff\xd8 private")
    files["snapshot_public"].write_bytes(b"\xff\xd8 blurred")
    write_privacy_track(files["privacy"], track_over_top_left())
    evidence = {
        **{name: str(path) for name, path in files.items()},
        "sha256": {name: sha256_file(path) for name, path in files.items()},
    }
    made = h.add_ticket("lane", f"lane{seed}", HazardKind.FIRE_LANE_BLOCKED, evidence=evidence)
    h.walk_to(made.id, CLOSING_PATH)
    return MadeTicket(made.view, files)


def decoded(data: bytes, tmp: Path) -> list[np.ndarray]:
    import av

    path = tmp / f"{hashlib.sha256(data).hexdigest()[:8]}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_public_clip_is_made_once_recorded_and_served_verified(
    harness: ApiHarness, media_cache: Path, tmp_path: Path
) -> None:
    ticket = closed_ticket(harness, media_cache)
    before = harness.client.get(f"/tickets/{ticket.id}", headers=bearer("public")).json()
    assert before["evidence"]["has_clip"] is True
    assert before["evidence"]["clip_sha256"] is None  # not made yet
    assert before["links"]["clip"].endswith("/clip.mp4")

    first = harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("public"))
    assert first.status_code == 200, first.text
    digest = hashlib.sha256(first.content).hexdigest()
    assert first.headers["etag"].strip('"') == digest
    on_disk = ticket.files["clip"].parent / CLIP_PUBLIC_NAME
    assert sha256_file(on_disk) == digest
    assert first.content != ticket.files["clip"].read_bytes()

    view = harness.store.get_ticket(ticket.id)
    assert view is not None
    assert view.evidence["clip_public_sha256"] == digest
    after = harness.client.get(f"/tickets/{ticket.id}", headers=bearer("public")).json()
    assert after["evidence"]["clip_sha256"] == digest

    again = harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("public"))
    assert again.content == first.content
    assert harness.app.state.hazardwatch.public_clips.made == 1
    # Staff still get the original, untouched.
    staff = harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("reviewer"))
    assert staff.content == ticket.files["clip"].read_bytes()

    # The copy is small and pixelated where the track says: the top-left quarter has far fewer
    # distinct colours than the bottom-right one, in every frame.
    frames = decoded(first.content, tmp_path)
    assert frames and frames[0].shape[1] == 160
    for frame in frames:
        h, w = frame.shape[:2]
        blurred = len(np.unique(frame[: h // 2, : w // 2].reshape(-1, 3), axis=0))
        sharp = len(np.unique(frame[h // 2 :, w // 2 :].reshape(-1, 3), axis=0))
        assert blurred * 2 < sharp, (blurred, sharp)


def test_concurrent_first_requests_make_one_copy(harness: ApiHarness, media_cache: Path) -> None:
    ticket = closed_ticket(harness, media_cache)
    bodies: list[bytes] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            r = harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("public"))
            assert r.status_code == 200, r.text
            bodies.append(r.content)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(bodies) == 4 and len(set(bodies)) == 1
    assert harness.app.state.hazardwatch.public_clips.made == 1


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda t: t.files["privacy"].write_text('{"version": 1}'), "differs from the recorded"),
        (lambda t: t.files["privacy"].unlink(), "privacy track is refused"),
        (lambda t: t.files["clip"].write_bytes(b"\x00" * 100), "differs from the recorded"),
    ],
    ids=["altered-track", "missing-track", "altered-clip"],
)
def test_a_damaged_clip_or_track_is_404_naming_it_and_makes_nothing(
    harness: ApiHarness, media_cache: Path, damage: object, reason: str
) -> None:
    ticket = closed_ticket(harness, media_cache)
    damage(ticket)  # type: ignore[operator]
    response = harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("public"))
    assert response.status_code == 404
    assert reason in response.json()["detail"]
    assert not (ticket.files["clip"].parent / CLIP_PUBLIC_NAME).exists()
    view = harness.store.get_ticket(ticket.id)
    assert view is not None and view.evidence["clip_public"] is None


def test_a_malformed_track_with_its_own_hash_is_404_naming_the_field(
    harness: ApiHarness, media_cache: Path
) -> None:
    """A track the pipeline never wrote (recorded hash and all): refused, not trusted."""
    ticket = closed_ticket(harness, media_cache)
    bad = b'{"version":1,"clip_start_pts_s":0,"box_hold_s":1,"max_width_px":160,"crf":28,' \
        b'"samples":[[0.0,[[0.5,0.1,0.2,0.9]]]]}'  # fmt: skip
    ticket.files["privacy"].write_bytes(bad)
    # Recorded with its hash as if the pipeline had written it: a second ticket names it.
    made = harness.add_ticket(
        "lane",
        "other",
        HazardKind.FIRE_LANE_BLOCKED,
        evidence={
            **{name: str(path) for name, path in ticket.files.items()},
            "sha256": {name: sha256_file(path) for name, path in ticket.files.items()},
        },
    )
    harness.walk_to(made.id, CLOSING_PATH)
    response = harness.client.get(f"/tickets/{made.id}/clip.mp4", headers=bearer("public"))
    assert response.status_code == 404
    assert "x1 < x2" in response.json()["detail"]


def test_nothing_is_made_for_staff_requests(harness: ApiHarness, media_cache: Path) -> None:
    """Staff get the original clip; no public copy is made on their behalf."""
    ticket = closed_ticket(harness, media_cache)
    harness.client.get(f"/tickets/{ticket.id}/clip.mp4", headers=bearer("reviewer"))
    assert not (ticket.files["clip"].parent / CLIP_PUBLIC_NAME).exists()
    assert harness.app.state.hazardwatch.public_clips.made == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_public_clips_are_made_at_background_priority() -> None:
    """Seconds of CPU per copy must not slow the requests and consumers beside it."""
    clips = PublicClips()
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        theirs = clips._executor.submit(
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        ).result(timeout=10)
        assert theirs == max(mine, BACKGROUND_NICE)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    finally:
        clips.close()


class InlineExecutor(Executor):
    """Runs each job at once in the caller's thread: the job is done before ``submit``
    returns, the order a quick refusal on the real pool's thread can also take."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def test_a_job_done_before_it_is_watched_does_not_deadlock(
    harness: ApiHarness, media_cache: Path
) -> None:
    """Regression: the done-callback was added under the lock it takes itself, so a job that
    finished first (a missing track is refused in microseconds) hung the request for good."""
    ticket = closed_ticket(harness, media_cache)
    ticket.files["privacy"].unlink()
    clips = harness.app.state.hazardwatch.public_clips
    clips._executor = InlineExecutor()
    outcome: list[int] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            harness.client.get(
                f"/tickets/{ticket.id}/clip.mp4", headers=bearer("public")
            ).status_code
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the request hung"
    assert outcome == [404]
    assert clips._jobs == {}  # forgotten, so a retry after a fix starts a new job
