"""Evidence encrypted at rest, through the API: written by a real EvidenceWriter with a key,
served decrypted (with HTTP Range) to the roles that may see it, with the recorded SHA-256; a
damaged file or a missing key refused clearly; rotation; a store of plain and encrypted files."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from api.after_picture import AfterPictureKeeper
from api.store import TicketView
from api.tickets_view import evidence_value
from hazardwatch.cli import main as cli_main
from pipelines.evidence_crypto import (
    DEFAULT_CHUNK_BYTES,
    KEY_ENV,
    KEYS_ENV,
    MAGIC,
    EvidenceKeys,
    is_encrypted,
    open_plaintext,
    rotate_evidence_keys,
)
from pipelines.evidence_layout import live_after_name
from tests.api.app_harness import CLOSING_PATH, ApiHarness, bearer
from tests.support.evidence_hazard import ENTRY_A, ENTRY_B, T0, write_hazard
from tests.support.media import ensure_clip
from vision.types import HazardKind

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def harness(
    tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiHarness]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEYS_ENV, ENTRY_A)
    h = ApiHarness(tmp_path, media_cache)
    try:
        yield h
    finally:
        h.close()


def encrypted_ticket(h: ApiHarness, media_cache: Path, hazard_id: str = "hz-enc") -> TicketView:
    """A ticket of camera lane_a whose evidence the real writer wrote (encrypted: key set)."""
    # Large enough that the clip spans several 64 KiB chunks.
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25, crf=18)
    event = write_hazard(h.data_dir, clip, camera_id="lane_a", hazard_id=hazard_id)
    assert "error" not in event.evidence, event.evidence
    view = h.store.apply_event(event.to_dict(), received_at=event.started_at)
    assert view is not None
    return view


def plaintext(path: Path) -> bytes:
    with open_plaintext(path) as fh:
        return fh.read()


def on_disk(h: ApiHarness, view: TicketView, key: str) -> Path:
    return h.data_dir / str(evidence_value(view, key))


def recorded_sha256(view: TicketView, key: str) -> str:
    return str(evidence_value(view, f"{key}_sha256"))


def test_served_decrypted_with_ranges(harness: ApiHarness, media_cache: Path) -> None:
    view = encrypted_ticket(harness, media_cache)
    clip_path = on_disk(harness, view, "clip")
    raw = clip_path.read_bytes()
    plain = plaintext(clip_path)
    recorded = recorded_sha256(view, "clip")
    assert raw.startswith(MAGIC) and plain[:1024] not in raw
    assert hashlib.sha256(plain).hexdigest() == recorded
    assert len(plain) > 3 * DEFAULT_CHUNK_BYTES, "the clip must span several chunks"

    url = f"/tickets/{view.id}/clip.mp4"
    whole = harness.client.get(url, headers=bearer("reviewer"))
    assert whole.status_code == 200
    assert whole.content == plain
    assert whole.headers["etag"] == f'"{recorded}"'
    assert int(whole.headers["content-length"]) == len(plain)
    with av.open(io.BytesIO(whole.content)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 25

    size = len(plain)
    boundary = DEFAULT_CHUNK_BYTES
    cases = {
        "bytes=0-99": (0, 99),
        f"bytes={size // 2}-{size // 2 + 999}": (size // 2, size // 2 + 999),
        "bytes=-500": (size - 500, size - 1),
        f"bytes={boundary - 10}-{boundary + 9}": (boundary - 10, boundary + 9),
        f"bytes={boundary - 1}-{3 * boundary}": (boundary - 1, 3 * boundary),
        f"bytes={2 * boundary}-": (2 * boundary, size - 1),
    }
    for header, (first, last) in cases.items():
        part = harness.client.get(url, headers={**bearer("reviewer"), "Range": header})
        assert part.status_code == 206, header
        assert part.content == plain[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}", header
    past = harness.client.get(url, headers={**bearer("reviewer"), "Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    head = harness.client.head(url, headers=bearer("reviewer"))
    assert head.status_code == 200 and int(head.headers["content-length"]) == size

    snapshot = harness.client.get(f"/tickets/{view.id}/snapshot.jpg", headers=bearer("reviewer"))
    assert snapshot.status_code == 200
    assert hashlib.sha256(snapshot.content).hexdigest() == recorded_sha256(view, "snapshot")
    picture = cv2.imdecode(np.frombuffer(snapshot.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape[1] == 320  # a caption strip below
    raw_snapshot = on_disk(harness, view, "snapshot").read_bytes()
    assert cv2.imdecode(np.frombuffer(raw_snapshot, np.uint8), cv2.IMREAD_COLOR) is None

    # The review page's frame extraction decodes the encrypted clip.
    frame = harness.client.get(f"/tickets/{view.id}/frames/1000.jpg", headers=bearer("reviewer"))
    assert frame.status_code == 200, frame.text
    assert cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR) is not None

    # Only the roles that may see it: the public never get an open ticket's clip.
    assert harness.client.get(url).status_code in (401, 403, 404)
    assert harness.client.get(url, headers=bearer("public")).status_code == 404


def test_public_copy_of_an_encrypted_clip(harness: ApiHarness, media_cache: Path) -> None:
    view = encrypted_ticket(harness, media_cache)
    harness.walk_to(view.id, CLOSING_PATH)
    response = harness.client.get(f"/tickets/{view.id}/clip.mp4", headers=bearer("public"))
    assert response.status_code == 200, response.text
    after = harness.store.get_ticket(view.id)
    assert after is not None
    public_path = on_disk(harness, after, "clip_public")
    assert is_encrypted(public_path)
    assert response.content == plaintext(public_path)
    assert hashlib.sha256(response.content).hexdigest() == recorded_sha256(after, "clip_public")
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.width == 320
        assert sum(1 for _ in container.decode(stream)) > 0
    leftovers = [p.name for p in public_path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_one_damaged_byte_is_refused_clearly(harness: ApiHarness, media_cache: Path) -> None:
    view = encrypted_ticket(harness, media_cache)
    clip_path = on_disk(harness, view, "clip")
    url = f"/tickets/{view.id}/clip.mp4"
    assert harness.client.get(url, headers=bearer("reviewer")).status_code == 200
    damaged = bytearray(clip_path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x40
    clip_path.write_bytes(bytes(damaged))
    refused = harness.client.get(url, headers={**bearer("reviewer"), "Range": "bytes=0-99"})
    assert refused.status_code == 404
    assert "fails authentication" in refused.json()["detail"]
    assert "is not available" in refused.json()["detail"]
    # The ticket's other files are still served.
    snapshot = harness.client.get(f"/tickets/{view.id}/snapshot.jpg", headers=bearer("reviewer"))
    assert snapshot.status_code == 200


def test_missing_key_is_named(
    harness: ApiHarness, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = encrypted_ticket(harness, media_cache)
    monkeypatch.setenv(KEYS_ENV, ENTRY_B)  # the service lost key 'ka'
    refused = harness.client.get(f"/tickets/{view.id}/clip.mp4", headers=bearer("reviewer"))
    assert refused.status_code == 404
    assert "evidence key 'ka', which is not configured" in refused.json()["detail"]
    assert ENTRY_A.split(":")[1] not in refused.text
    monkeypatch.delenv(KEYS_ENV)
    refused = harness.client.get(f"/tickets/{view.id}/snapshot.jpg", headers=bearer("reviewer"))
    assert "key 'ka', but no evidence keys are configured" in refused.json()["detail"]


def test_rotation_keeps_serving_the_same_plaintext(
    harness: ApiHarness, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = encrypted_ticket(harness, media_cache)
    before = {
        key: harness.client.get(url, headers=bearer("reviewer")).content
        for key, url in (
            ("clip", f"/tickets/{view.id}/clip.mp4"),
            ("snapshot", f"/tickets/{view.id}/snapshot.jpg"),
        )
    }
    keys = EvidenceKeys.parse(f"{ENTRY_B},{ENTRY_A}")
    report = rotate_evidence_keys(harness.data_dir, keys)
    assert report.failed == [] and report.reencrypted == 4  # clip, 2 snapshots, privacy track
    monkeypatch.setenv(KEYS_ENV, ENTRY_B)  # the old key is gone: everything reads with the new
    for key, url in (
        ("clip", f"/tickets/{view.id}/clip.mp4"),
        ("snapshot", f"/tickets/{view.id}/snapshot.jpg"),
    ):
        response = harness.client.get(url, headers=bearer("reviewer"))
        assert response.status_code == 200, response.text
        assert response.content == before[key]
        assert hashlib.sha256(response.content).hexdigest() == recorded_sha256(view, key)


def test_plain_and_encrypted_tickets_side_by_side(harness: ApiHarness, media_cache: Path) -> None:
    old = harness.add_ticket("lane_b", "passage", HazardKind.FIRE_LANE_BLOCKED)  # plain files
    new = encrypted_ticket(harness, media_cache)
    assert not is_encrypted(old.files["clip"])
    assert is_encrypted(on_disk(harness, new, "clip"))
    for ticket_id, clip_bytes in (
        (old.id, old.files["clip"].read_bytes()),
        (new.id, plaintext(on_disk(harness, new, "clip"))),
    ):
        response = harness.client.get(
            f"/tickets/{ticket_id}/clip.mp4", headers={**bearer("reviewer"), "Range": "bytes=0-"}
        )
        assert response.status_code == 206
        assert response.content == clip_bytes


def test_dataset_export_reads_encrypted_clips(
    harness: ApiHarness, media_cache: Path, tmp_path: Path
) -> None:
    rejected = encrypted_ticket(harness, media_cache, hazard_id="hz-rejected")
    harness.walk_to(rejected.id, ["rejected"])  # nobody annotated: the middle of its clip
    confirmed = encrypted_ticket(harness, media_cache, hazard_id="hz-confirmed")
    box = {"class": "ebike", "xyxy": [0.1, 0.2, 0.4, 0.6]}
    response = harness.client.put(
        f"/tickets/{confirmed.id}/annotations",
        json={"frames": [{"frame": {"source": "clip", "t_ms": 480}, "boxes": [box]}]},
        headers=bearer("reviewer"),
    )
    assert response.status_code == 200, response.text
    harness.walk_to(confirmed.id, ["reported"])
    out = tmp_path / "dataset"
    database = f"sqlite:///{harness.data_dir.parent / 'tickets.sqlite3'}"
    since = ["--since", "2026-11-20"]
    where = ["--data-dir", str(harness.data_dir), "--database", database]
    code = cli_main(["dataset", "export", *since, *where, str(out)])
    assert code == 0
    images = sorted(out.glob("images/*/*.jpg"))
    assert len(images) == 2
    for image in images:
        assert cv2.imread(str(image)) is not None
    labels = sorted(p.read_text().strip() for p in out.glob("labels/*/*.txt"))
    assert labels[0] == ""  # the rejected ticket's negative
    assert labels[1] == "0 0.250000 0.400000 0.300000 0.400000"  # the ebike box


def test_the_after_picture_copy_is_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recheck's after picture: the live one stays plain (rewritten every 10 s, shown
    live), its evidence copy is encrypted and its recorded digest is the JPEG's."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEYS_ENV, ENTRY_A)
    live = tmp_path / "live" / live_after_name("lane_a", "lane", "fire_lane_blocked")
    live.parent.mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.full((60, 80, 3), 90, np.uint8))
    assert ok
    live.write_bytes(jpeg.tobytes())
    kept = AfterPictureKeeper(tmp_path).keep(
        camera_id="lane_a",
        zone="lane",
        kind="fire_lane_blocked",
        stored=str(live.relative_to(tmp_path)),
        hazard_id="hz-1",
        hazard_started_at=T0,
    )
    copy = tmp_path / kept.path
    assert is_encrypted(copy) and not is_encrypted(live)
    assert plaintext(copy) == jpeg.tobytes()
    assert kept.sha256 == hashlib.sha256(jpeg.tobytes()).hexdigest()
