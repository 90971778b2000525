"""Evidence keys from the config's ``evidence.keys_file``, with no key in the environment: the
pipeline's real writer encrypts with them and the API serves the files decrypted, both started
the way ``run`` and ``serve`` start (hazardwatch.services.load reads the file once)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from api.tickets_view import evidence_value
from hazardwatch.cli import main as cli_main
from hazardwatch.services import load
from pipelines.evidence_crypto import (
    KEY_ENV,
    KEYS_ENV,
    EvidenceKeys,
    forget_configured_keys,
    is_encrypted,
    open_plaintext,
    parse_header,
)
from tests.api.app_harness import ApiHarness, bearer, config_yaml
from tests.support.evidence_hazard import ENTRY_A, write_hazard
from tests.support.media import ensure_clip

pytestmark = pytest.mark.timeout(180)
EVIDENCE_KEYS = ("clip", "snapshot", "snapshot_public", "privacy")


@pytest.fixture
def harness(
    tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ApiHarness]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEYS_ENV, raising=False)  # the keys come from the file only
    keys = tmp_path / "etc" / "evidence.keys"
    keys.parent.mkdir()
    keys.write_text(f"{ENTRY_A}\n")
    keys.chmod(0o600)
    config = tmp_path / "site.yaml"
    config.write_text(config_yaml() + f"evidence:\n  keys_file: {keys}\n")
    load(config)  # as `run` and `serve` start
    h = ApiHarness(tmp_path, media_cache)
    try:
        yield h
    finally:
        h.close()


def test_written_encrypted_and_served_decrypted(harness: ApiHarness, media_cache: Path) -> None:
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    event = write_hazard(harness.data_dir, clip, camera_id="lane_a", hazard_id="hz-file")
    assert "error" not in event.evidence, event.evidence
    view = harness.store.apply_event(event.to_dict(), received_at=event.started_at)
    assert view is not None
    only_a = EvidenceKeys.parse(ENTRY_A)
    for key in EVIDENCE_KEYS:
        path = harness.data_dir / str(evidence_value(view, key))
        assert is_encrypted(path), f"{key} was written plain"
        with path.open("rb") as fh:
            header = parse_header(fh.read(128), str(path))
        assert header is not None and header.key_id == "ka"
        with open_plaintext(path, only_a) as fh:
            plain = fh.read()
        assert hashlib.sha256(plain).hexdigest() == evidence_value(view, f"{key}_sha256")
        assert plain[:64] not in path.read_bytes()

    clip_path = harness.data_dir / str(evidence_value(view, "clip"))
    with open_plaintext(clip_path, only_a) as fh:
        plain_clip = fh.read()
    served = harness.client.get(f"/tickets/{view.id}/clip.mp4", headers=bearer("reviewer"))
    assert served.status_code == 200, served.text
    assert served.content == plain_clip and served.content[4:8] == b"ftyp"
    part = harness.client.get(
        f"/tickets/{view.id}/clip.mp4", headers={**bearer("reviewer"), "Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == plain_clip[100:200]
    snapshot = harness.client.get(f"/tickets/{view.id}/snapshot.jpg", headers=bearer("reviewer"))
    assert snapshot.status_code == 200
    assert hashlib.sha256(snapshot.content).hexdigest() == evidence_value(view, "snapshot_sha256")

    # The file was what served them: without it (and with no variable) the key is missing.
    forget_configured_keys()
    refused = harness.client.get(f"/tickets/{view.id}/clip.mp4", headers=bearer("reviewer"))
    assert refused.status_code == 404
    assert "key 'ka', but no evidence keys are configured" in refused.json()["detail"]


def test_dataset_export_reads_with_the_config_keys(
    harness: ApiHarness, media_cache: Path, tmp_path: Path
) -> None:
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    event = write_hazard(harness.data_dir, clip, camera_id="lane_a", hazard_id="hz-export")
    view = harness.store.apply_event(event.to_dict(), received_at=event.started_at)
    assert view is not None and is_encrypted(harness.data_dir / str(evidence_value(view, "clip")))
    harness.walk_to(view.id, ["rejected"])  # nobody annotated: the middle of its clip
    forget_configured_keys()  # a new process: `dataset export` reads the keys itself
    database = f"sqlite:///{harness.data_dir.parent / 'tickets.sqlite3'}"
    export = ["dataset", "export", "--since", "2026-11-20", "--data-dir", str(harness.data_dir)]
    export += ["--database", database]
    assert cli_main([*export, str(tmp_path / "without")]) == 2  # no key: the clip is unreadable
    assert cli_main([*export, "--config", str(tmp_path / "site.yaml"), str(tmp_path / "out")]) == 0
    images = sorted((tmp_path / "out").glob("images/*/*.jpg"))
    assert len(images) == 1 and cv2.imread(str(images[0])) is not None
