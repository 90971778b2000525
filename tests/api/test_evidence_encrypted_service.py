"""The ticket service taking an event whose evidence is encrypted at rest, over a real Redis:
it verifies each file by its plaintext's SHA-256 (decrypting it) and records it; a service
without the key keeps the event pending, unhealthy and naming the key, and applies it once the
key is configured (nothing lost, nothing dead-lettered)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.service import EVENTS_STREAM, TicketService
from api.store import TicketStore
from api.tickets_view import evidence_value
from pipelines.evidence_crypto import KEY_ENV, KEYS_ENV, open_plaintext
from tests.support.evidence_hazard import ENTRY_A, ENTRY_B, write_hazard
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.mark.parametrize("service_key", [ENTRY_A, ENTRY_B], ids=["same-key", "key-missing"])
def test_the_service_records_encrypted_evidence(
    service_key: str,
    redis_server: RedisServerProcess,
    tmp_path: Path,
    media_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEYS_ENV, ENTRY_A)  # the pipeline's key
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    event = write_hazard(data_dir, clip, camera_id="lane_a")
    assert "error" not in event.evidence
    data = event.to_dict()
    client = redis_server.client()
    client.xadd(EVENTS_STREAM, {"event_id": data["event_id"], "event": json.dumps(data)})

    monkeypatch.setenv(KEYS_ENV, service_key)  # the service's keys
    store = TicketStore(f"sqlite:///{tmp_path / 'tickets.sqlite3'}")
    service = TicketService(redis_server.url, store, data_dir=data_dir, block_ms=50)
    try:
        service.run_once()
        if service_key == ENTRY_B:
            # A service without the pipeline's key keeps the event pending and says why.
            assert store.list_tickets()[1] == 0
            assert not service.healthy
            error = str(service.counters()["last_error"])
            assert "evidence key 'ka', which is not configured" in error, error
            assert int(client.xpending(EVENTS_STREAM, "tickets")["pending"]) == 1
            monkeypatch.setenv(KEYS_ENV, f"{ENTRY_B},{ENTRY_A}")  # configured and restarted
            service.run_once()
        tickets, total = store.list_tickets()
        assert total == 1
        for key in ("clip", "snapshot", "snapshot_public", "privacy"):
            assert evidence_value(tickets[0], key) == data["evidence"][key]
            assert evidence_value(tickets[0], f"{key}_sha256") == data["evidence"]["sha256"][key]
        with open_plaintext(data_dir / str(evidence_value(tickets[0], "clip"))) as fh:
            assert fh.read(8)[4:8] == b"ftyp"  # the plaintext is the MP4
        assert int(client.xpending(EVENTS_STREAM, "tickets")["pending"]) == 0
    finally:
        service.stop()
        store.close()
