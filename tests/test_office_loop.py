"""The office's side of the loop, end to end with real parts: gst-rtsp-server → ``hazardwatch
up`` (pipeline, ticket service, API, delivery worker) → a real redis-server → a real webhook
receiver on loopback.

A truck parks in a fire lane and stays 24 s, then the lane is clear for 24 s while cars pass: the
48 s are served over RTSP in real time and looped, each loop one hazard of the same zone. The
test checks, through the HTTP API and what the receiver got:

1. the first hazard becomes a ticket assigned by the config's dispatch rule (责任单位/责任人),
   and the receiver gets its ``created`` notification signed with HMAC-SHA256;
2. nobody reviews it: its step's deadline passes, the ticket service escalates it (a level up,
   a history entry) and the receiver is told (``escalated``), and the ticket's delivery log
   shows each delivery sent;
3. the hazard repeats in the same zone: at the third, a hotspot ticket (隐患热点) is raised,
   linking the hazard ticket, assigned by the same rule, and announced to the receiver.
"""

from __future__ import annotations

import hashlib
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

from api.channels import verify_signature
from benchmarks.scenarios.generate import generate_suite
from tests.api.notify_receivers import Receiver
from tests.support.servers import RtspServerFactory, free_port
from tests.support.suite_configs import suite_camera
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
ADMIN = "office-loop-admin-token"
SECRET = "whsec-office-loop-5f2d9c"
UNIT = {"name": "物业工程部", "contact": "+86 21 5555 0100"}
PERSON = {"name": "张三", "contact": "+86 139 0000 0001"}


def write_config(suite_dir: Path, lane_url: str, hook_url: str, path: Path) -> None:
    camera, detector = suite_camera(suite_dir, "lane")
    short = {"preroll_s": 2.0, "postroll_s": 2.0, "read_timeout_s": 3.0}
    config = {
        "site": {"id": "estate", "name": "Office loop"},
        "detector": detector,
        "cameras": {"lane_cam": {**camera, **short, "source": lane_url}},
        "api": {
            "tokens": [
                {"name": "office-admin", "role": "admin",
                 "token_sha256": hashlib.sha256(ADMIN.encode()).hexdigest()},
            ],
            "levels": {"report_within_s": 60.0, "escalation_interval_s": 1.0},
            "dispatch": {"cameras": {"lane_cam/lane": {"unit": UNIT, "person": PERSON}}},
            "notifications": {
                "public_base_url": "https://safety.example.org",
                "backoff_initial_s": 0.5,
                "channels": [
                    {"type": "webhook", "name": "office", "url": hook_url,
                     "secret_env": "HW_OFFICE_SECRET", "created": "all"},
                ],
            },
            "hotspots": {"min_hazards": 3, "window_days": 1},
        },
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def repeating_clip(suite_dir: Path, suite: dict[str, Any], tmp_path: Path) -> Path:
    """24 s of a truck parking in the lane, then 24 s of cars passing through it: looped, each
    48 s is one new hazard of the same zone (a repeat), ended by the clear lane after it."""
    clips = {c["id"]: suite_dir / c["video"] for c in suite["clips"]}
    park = next(path for cid, path in clips.items() if cid.startswith("lane_park"))
    clear = next(path for cid, path in clips.items() if cid.startswith("lane_pass"))
    listing = tmp_path / "repeat.txt"
    listing.write_text(f"file '{park}'\nfile '{clear}'\n")
    out = tmp_path / "park_then_clear.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c", "copy", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


class Api:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(
            base_url=base, timeout=10, headers={"Authorization": f"Bearer {ADMIN}"}
        )

    def json(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def tickets(self, category: str) -> list[dict[str, Any]]:
        return list(self.json("/tickets", category=category)["items"])


@pytest.fixture
def office(
    tmp_path: Path, media_cache: Path, rtsp_server_factory: RtspServerFactory,
    redis_server_factory: Any,
) -> Iterator[tuple[Api, Receiver]]:  # fmt: skip
    suite_dir = generate_suite(media_cache / "e2e-quick", seed=1234, quick=True, log=lambda _: None)
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    rtsp = rtsp_server_factory({"/lane": f"file:{repeating_clip(suite_dir, suite, tmp_path)}"})
    redis_server = redis_server_factory()
    receiver = Receiver()
    config = tmp_path / "office.yaml"
    write_config(suite_dir, rtsp.url("/lane"), receiver.url, config)
    check = subprocess.run(
        [sys.executable, "-m", "hazardwatch", "check-config", str(config)],
        capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "HW_OFFICE_SECRET": SECRET},
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log_path = tmp_path / "up.log"
    log = log_path.open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HW_OFFICE_SECRET": SECRET}
    env.pop("HAZARDWATCH_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hazardwatch", "up", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--port", str(port),
         "--redis-url", redis_server.url],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _answers(api) or proc.poll() is not None, 60, "the API to answer")
        assert proc.poll() is None, log_path.read_text()[-3000:]
        yield api, receiver
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        receiver.close()
        print(log_path.read_text()[-4000:])


def _answers(api: Api) -> bool:
    try:
        return api.client.get("/health").status_code == 200
    except httpx.HTTPError:
        return False


def told(receiver: Receiver, ticket_id: str, kind: str) -> list[dict[str, Any]]:
    """The notifications of ``kind`` about ``ticket_id`` the receiver got, each checked to be
    signed with the channel's secret (a forged or altered one fails the test)."""
    found = []
    for request in list(receiver.requests):
        assert verify_signature(SECRET, request.headers, request.body), request.headers
        note = request.json()
        if note.get("ticket_id") == ticket_id and note.get("type") == kind:
            found.append(note)
    return found


def test_a_hazard_is_dispatched_told_escalated_and_its_repeats_raise_a_hotspot(
    office: tuple[Api, Receiver],
) -> None:
    api, receiver = office

    # 1. the hazard: an assigned ticket, and a signed webhook delivery
    [ticket] = wait_for(lambda: api.tickets("hazard"), 120, "the first ticket")
    assert ticket["kind"] == "fire_lane_blocked" and ticket["camera_id"] == "lane_cam"
    assert ticket["responsible_unit"] == UNIT and ticket["responsible_person"] == PERSON
    actions = [h["action"] for h in ticket["history"]]
    assert actions[:2] == ["created", "assigned"], actions
    try:
        [created] = wait_for(lambda: told(receiver, ticket["id"], "created"), 30, "created sent")
    except AssertionError:
        print(api.json(f"/tickets/{ticket['id']}/deliveries"), receiver.requests)
        raise
    assert created["code"] == ticket["code"]
    assert created["responsible_unit"] == UNIT["name"]  # names, not contact details
    assert created["responsible_person"] == PERSON["name"]
    assert UNIT["contact"] not in str(created) and PERSON["contact"] not in str(created)

    # 2. nobody reviewed it within report_within_s: escalated and told
    def escalated() -> dict[str, Any] | None:
        now = api.json(f"/tickets/{ticket['id']}")
        return now if now["escalations"] >= 1 else None

    late = wait_for(escalated, 120, "the overdue ticket escalated")
    entry = next(h for h in late["history"] if h["action"] == "escalated")
    assert (entry["level_from"], entry["level_to"]) == ("yellow", "orange")
    notes = wait_for(lambda: told(receiver, ticket["id"], "escalated"), 30, "escalated sent")
    assert notes[0]["level_to"] == "orange"
    deliveries = api.json(f"/tickets/{ticket['id']}/deliveries")["deliveries"]
    sent = {(d["type"], d["status"]) for d in deliveries}
    assert {("created", "sent"), ("escalated", "sent")} <= sent, deliveries

    # 3. repeats in the same zone: the third raises a hotspot with its own ticket
    try:
        [spot] = wait_for(lambda: api.tickets("hotspot"), 180, "a hotspot ticket")
    except AssertionError:
        now = api.json(f"/tickets/{ticket['id']}")
        print(now["hazard_ids"], [(h["action"], h["at"], h["note"]) for h in now["history"]])
        raise
    assert (spot["category"], spot["camera_id"], spot["zone"]) == ("hotspot", "lane_cam", "lane")
    assert spot["code"].startswith("estate-FIRE-") and "-H" in spot["code"]
    assert spot["id"] != ticket["id"] and spot["details"]["hazards"] >= 3
    assert [m["id"] for m in spot["members"]] == [ticket["id"]]
    assert spot["responsible_unit"] == UNIT  # dispatched by the place's rule
    repeated = api.json(f"/tickets/{ticket['id']}")
    assert len(repeated["hazard_ids"]) >= 3
    assert repeated["hotspot"]["id"] == spot["id"]
    [announced] = wait_for(lambda: told(receiver, spot["id"], "hotspot"), 30, "hotspot sent")
    assert announced["category"] == "hotspot" and announced["code"] == spot["code"]
    # still exactly one hazard ticket: repeats attach to it while it is open
    assert [t["id"] for t in api.tickets("hazard")] == [ticket["id"]]
