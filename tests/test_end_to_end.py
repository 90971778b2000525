"""End to end with real parts: gst-rtsp-server → ``hazardwatch up`` (pipelines, ticket service,
API) → a real redis-server → tickets through the HTTP API.

Two generated clips are served over RTSP in real time, looped: a truck parking in a fire lane
and an object falling from a facade. The test then walks the tickets through the closed loop,
checks what each role sees, and stops Redis while hazards keep happening: every event is spooled
and becomes exactly one ticket once Redis is back.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from benchmarks.scenarios.generate import generate_suite
from tests.support.servers import RedisServerProcess, RtspServerFactory, free_port
from tests.support.suite_configs import suite_camera
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
TOKENS = {
    "admin": "e2e-admin-token",
    "reviewer": "e2e-reviewer-token",
    "grid_worker": "e2e-grid-token",  # scoped to a camera with no hazards
    "public": "e2e-public-token",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_config(suite_dir: Path, lane_url: str, facade_url: str, path: Path) -> None:
    lane_cam, detector = suite_camera(suite_dir, "lane")
    facade_cam, _ = suite_camera(suite_dir, "facade")
    short = {"preroll_s": 3.0, "postroll_s": 3.0, "read_timeout_s": 3.0}
    config = {
        "site": {"id": "e2e", "name": "End to end"},
        "detector": detector,
        "cameras": {
            "lane_cam": {**lane_cam, **short, "source": lane_url},
            "facade_cam": {**facade_cam, **short, "source": facade_url},
            "other_cam": {"source": "rtsp://127.0.0.1:9/none", "enabled": False},
        },
        "api": {
            "tokens": [
                {"name": "e2e-admin", "role": "admin",
                 "token_sha256": sha256(TOKENS["admin"].encode())},
                {"name": "e2e-reviewer", "role": "reviewer",
                 "token_sha256": sha256(TOKENS["reviewer"].encode())},
                {"name": "e2e-grid", "role": "grid_worker", "cameras": ["other_cam"],
                 "token_sha256": sha256(TOKENS["grid_worker"].encode())},
                {"name": "e2e-public", "role": "public",
                 "token_sha256": sha256(TOKENS["public"].encode())},
            ]
        },
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False))


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=10)

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return self.client.get(path, headers=headers, **kwargs)

    def tickets(self, role: str = "admin", **params: Any) -> list[dict[str, Any]]:
        """Hazard tickets (the falls repeat each loop: their hotspot ticket is not one)."""
        params.setdefault("category", "hazard")
        response = self.get("/tickets", role, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def transition(self, ticket_id: str, to: str, role: str = "reviewer") -> httpx.Response:
        return self.client.post(
            f"/tickets/{ticket_id}/transition",
            json={"to": to, "note": f"e2e: {to}"},
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
        )


@pytest.fixture
def system(
    tmp_path: Path,
    media_cache: Path,
    rtsp_server_factory: RtspServerFactory,
    redis_server_factory: Any,
) -> Iterator[tuple[Api, RedisServerProcess, Path]]:
    suite_dir = generate_suite(media_cache / "e2e-quick", seed=1234, quick=True, log=lambda _: None)
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    lane_clip = next(c for c in suite["clips"] if c["id"].startswith("lane_park"))
    fall_clip = next(c for c in suite["clips"] if c["id"].startswith("facade_fall"))
    rtsp = rtsp_server_factory(
        {
            "/lane": f"file:{suite_dir / lane_clip['video']}",
            "/facade": f"file:{suite_dir / fall_clip['video']}",
        }
    )
    redis_server = redis_server_factory(appendonly=True)
    config = tmp_path / "e2e.yaml"
    write_config(suite_dir, rtsp.url("/lane"), rtsp.url("/facade"), config)
    data_dir = tmp_path / "data"
    port = free_port()
    log = (tmp_path / "up.log").open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HAZARDWATCH_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hazardwatch", "up", "--config", str(config),
         "--data-dir", str(data_dir), "--port", str(port), "--redis-url", redis_server.url],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _health(api) or proc.poll() is not None, 60, "the API to answer")
        assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
        yield api, redis_server, data_dir
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        print((tmp_path / "up.log").read_text()[-4000:])


def _health(api: Api) -> bool:
    try:
        return api.client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


def test_hazards_become_tickets_through_the_closed_loop(
    system: tuple[Api, RedisServerProcess, Path],
) -> None:
    api, redis_server, data_dir = system
    tickets = wait_for(lambda: len(t := api.tickets()) >= 2 and t, 150, "two tickets")
    by_kind = {t["kind"]: t for t in tickets}
    assert set(by_kind) == {"fire_lane_blocked", "falling_object"}, tickets
    assert len(tickets) == 2  # exactly one ticket per hazard (repeats attach to it)
    for ticket in tickets:
        assert ticket["status"] == "discovered"
        clip = api.get(f"/tickets/{ticket['id']}/clip.mp4")
        assert clip.status_code == 200, clip.text
        assert sha256(clip.content) == ticket["evidence"]["clip_sha256"]
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", "-"],
            input=clip.content, capture_output=True, check=True,
        )  # fmt: skip
        assert json.loads(probe.stdout)["streams"][0]["codec_name"] == "h264"
        snapshot = api.get(f"/tickets/{ticket['id']}/snapshot.jpg")
        assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
        assert sha256(snapshot.content) == ticket["evidence"]["snapshot_sha256"]

    # Roles: a grid worker of another camera sees nothing; the public sees nothing yet.
    assert api.tickets("grid_worker") == []
    lane = by_kind["fire_lane_blocked"]
    assert api.get(f"/tickets/{lane['id']}", "grid_worker").status_code == 404
    assert api.tickets("public") == []

    # The closed loop; a wrong step is refused with the allowed ones.
    wrong = api.transition(lane["id"], "closed")
    assert wrong.status_code == 409 and "reported" in json.dumps(wrong.json())
    for step in ("reported", "verified", "rectifying", "rechecked", "closed"):
        response = api.transition(lane["id"], step, _role_for(step))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == step
    history = api.get(f"/tickets/{lane['id']}").json()["history"]
    assert [h.get("to") for h in history if h.get("to")][-5:] == [
        "reported", "verified", "rectifying", "rechecked", "closed",
    ]  # fmt: skip

    # The public sees the closed ticket, with blurred media only.
    public = api.tickets("public")
    assert [t["id"] for t in public] == [lane["id"]]
    public_clip = api.get(f"/tickets/{lane['id']}/clip.mp4", "public")
    assert public_clip.status_code == 200
    assert sha256(public_clip.content) != lane["evidence"]["clip_sha256"]
    assert "rtsp://" not in json.dumps(public)

    # Redis down while hazards keep happening: events are spooled, then drained exactly once.
    fall = by_kind["falling_object"]
    for step in ("reported", "verified", "rectifying", "rechecked", "closed"):
        assert api.transition(fall["id"], step, _role_for(step)).status_code == 200
    redis_server.kill()
    spool = data_dir / "spool.sqlite3"
    wait_for(lambda: _spooled(spool) > 0, 120, "events spooled while Redis is down")
    redis_server.restart()
    wait_for(lambda: _spooled(spool) == 0, 120, "the spool to drain")
    after = wait_for(lambda: len(t := api.tickets()) > 2 and t, 120, "tickets after the outage")
    new = [t for t in after if t["status"] != "closed"]
    hazard_ids = [h for t in after for h in t["hazard_ids"]]
    assert len(hazard_ids) == len(set(hazard_ids)), "a hazard made two tickets"
    assert all(t["status"] in ("discovered", "reopened") for t in new)


def _role_for(step: str) -> str:
    """Whoever rectifies may not recheck or close (ARCHITECTURE.md §12): the admin does those."""
    return "admin" if step in ("rechecked", "closed") else "reviewer"


def _spooled(spool: Path) -> int:
    """Events waiting in the publisher's durable spool (its ``events`` table)."""
    import sqlite3

    if not spool.is_file():
        return 0
    with sqlite3.connect(spool, timeout=5) as db:
        return int(db.execute("select count(*) from events").fetchone()[0])
