"""Latency from a hazard start being published to its ticket being visible in the HTTP API.

Real parts: a redis-server on a free loopback port, the ticket service (consumer group) and the
FastAPI app under uvicorn, all started here; events go through the pipelines' `EventPublisher`
(durable spool → XADD). For each of N hazard starts (distinct zones, so each makes a ticket):
t0 = just before `publish()`, t1 = the first `GET /tickets/{id}`-equivalent poll (every 5 ms) that
shows the ticket. Prints p50/p95/max; target p95 ≤ 1 s.

Usage: python benchmarks/ticket_latency.py [--events 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import redis
import uvicorn

from api.app import create_app
from api.service import TicketService
from api.store import TicketStore
from api.workflow import TicketPolicy
from pipelines.config import parse_config
from pipelines.publish import EventPublisher
from vision.types import HazardEvent

TOKEN = "latency-admin-token"
CONFIG = """
site: {id: bench, name: Bench}
cameras:
  cam:
    source: rtsp://127.0.0.1:9/none
    zones:
      facade: {polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}
    floors: {count: 10, lowest_visible_floor: 1, lines: [0.1, 0.3, 0.5, 0.7, 0.9]}
    hazards:
      - {kind: falling_object, zone: facade}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(i: int) -> HazardEvent:
    now = datetime.now(UTC)
    hazard = str(uuid.uuid4())
    return HazardEvent(
        event_id=str(uuid.uuid4()), hazard_id=hazard, phase="start", kind="falling_object",  # type: ignore[arg-type]
        camera_id="cam", zone="facade", started_at=now, start_pts_s=float(i), score=0.9,
        details={"origin_floor": 5}, evidence={},
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found (make deps)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="hw-latency-"))
    redis_port, http_port = free_port(), free_port()
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(redis_url).ping():
                break
        except redis.RedisError:
            time.sleep(0.02)
    config = parse_config(CONFIG, "bench.yaml")
    store = TicketStore(
        f"sqlite:///{work / 'tickets.sqlite3'}", policy=TicketPolicy.from_config(config)
    )
    service = TicketService(redis_url, store, data_dir=work, block_ms=100)
    app = create_app(config, store, data_dir=work, redis_url=redis_url,
                     environ={"HAZARDWATCH_ADMIN_TOKEN": TOKEN})  # fmt: skip
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="error")
    )
    threading.Thread(target=server.run, daemon=True).start()
    service.start()
    publisher = EventPublisher(redis_url, work / "spool.sqlite3")
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{http_port}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    while True:
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    latencies = []
    try:
        for i in range(args.events):
            ev = event(i)
            t0 = time.perf_counter()
            publisher.publish(ev)
            while True:
                items = client.get("/tickets", params={"limit": 1}).json()["items"]
                if items and ev.hazard_id in items[0]["hazard_ids"]:
                    break
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
            # Close it so the next start makes a new ticket (not a repeat on an open one).
            for step in ("reported", "rejected"):
                client.post(f"/tickets/{items[0]['id']}/transition", json={"to": step})
    finally:
        publisher.close()
        service.stop()
        server.should_exit = True
        store.close()
        redis_proc.terminate()
        redis_proc.wait(10)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    result = {
        "events": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "target_p95_ms": 1000,
    }
    print(f"publish → ticket visible in the API, {result['events']} hazard starts: "
          f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max {result['max_ms']} ms "
          f"(target p95 ≤ 1000 ms)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
