"""``serve``/``up`` assign each new ticket by ``api.dispatch``, and by the mapping an admin saved
through the API once there is one (the web app and the store share only the data dir)."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hazardwatch.services import build_api
from pipelines.config import parse_config
from tests.api.app_harness import sha256_text
from vision.types import HazardEvent, HazardKind, HazardPhase

pytestmark = pytest.mark.timeout(60)

ADMIN_TOKEN = "tok-admin-dispatch-3c9e"
CONFIG = f"""
site: {{id: block_a, name: "Block A"}}
cameras:
  facade:
    source: rtsp://10.0.0.41/ch1
    zones:
      facade: {{polygon: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}}
      roof: {{polygon: [[0.05, 0.0], [0.95, 0.0], [0.95, 0.05], [0.05, 0.05]]}}
    floors: {{count: 10, lowest_visible_floor: 1, lines: [0.1, 0.3, 0.5, 0.7, 0.9]}}
    hazards:
      - {{kind: falling_object, zone: facade}}
      - {{kind: falling_object, zone: roof}}
api:
  tokens:
    - {{name: office-admin, role: admin, token_sha256: {sha256_text(ADMIN_TOKEN)}}}
  dispatch:
    cameras:
      facade: {{unit: {{name: 物业服务中心, contact: "0571-8888-0000"}}, person: {{name: 王伟}}}}
      facade/roof: {{unit: {{name: Roof contractor}}}}
"""


def _event(zone: str) -> dict[str, object]:
    return HazardEvent(
        event_id=uuid.uuid4().hex,
        hazard_id=uuid.uuid4().hex,
        phase=HazardPhase.START,
        kind=HazardKind.FALLING_OBJECT,
        camera_id="facade",
        zone=zone,
        started_at=datetime.now(UTC),
        start_pts_s=3.0,
        evidence={"error": "test: no files"},
    ).to_dict()


def test_serve_assigns_new_tickets_by_the_config_then_by_the_saved_mapping(
    tmp_path: Path,
) -> None:
    config = parse_config(CONFIG, "services-test")
    args = argparse.Namespace(data_dir=tmp_path / "data", redis_url="redis://127.0.0.1:1/0")
    store, _service, app = build_api(config, args)
    try:
        facade = store.apply_event(_event("facade"))
        roof = store.apply_event(_event("roof"))
        assert facade is not None and roof is not None
        assert facade.responsible_unit == {"name": "物业服务中心", "contact": "0571-8888-0000"}
        assert facade.responsible_person == {"name": "王伟", "contact": None}
        assert roof.responsible_unit == {"name": "Roof contractor", "contact": None}

        with TestClient(app) as client:
            saved = client.put(
                "/dispatch",
                json={"cameras": {"facade": {"unit": {"name": "Facade crew"}}}},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            )
        assert saved.status_code == 200, saved.text
        store.transition(roof.id, "rejected", actor="office")  # the next roof hazard: new ticket
        again = store.apply_event(_event("roof"))
        assert again is not None and again.id != roof.id
        assert again.responsible_unit == {"name": "Facade crew", "contact": None}
        assert [h["rule"] for h in again.history if h["action"] == "assigned"] == ["facade"]
    finally:
        store.close()
