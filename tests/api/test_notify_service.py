"""The ticket service with notification channels, against a real redis-server and a real
receiver: hazard events in, signed deliveries out; the stream keeps carrying what it carried;
a service stopped while a delivery waits for its retry, and another started, loses nothing; a
channel configured for every new ticket gets yellow ones that the stream does not carry."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from api.channels import verify_signature
from api.delivery_worker import DeliveryWorker
from api.service import EVENTS_STREAM, NOTIFICATIONS_STREAM, TicketService
from api.store import TicketStore
from hazardwatch.services import StartupError, build_api
from pipelines.config import parse_config
from tests.api.hazard_events import event
from tests.api.notify_receivers import Receiver, receivers
from tests.support.servers import RedisServerProcess

__all__ = ["receivers"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

SECRET = "whsec-service-tests-01234"


def config_with(receiver: Receiver, **channel: Any) -> Any:
    spec = {"type": "webhook", "name": "ops", "url": receiver.url, "secret_env": "HW_TEST_SECRET"}
    spec.update(channel)
    text = f"""
site: {{id: block_a, name: "Block A"}}
detector:
  model: models/none.onnx
  classes: {{car: vehicle, person: person}}
cameras:
  facade:
    source: rtsp://10.0.0.9/x
    zones:
      wall: {{polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}}
api:
  notifications:
    public_base_url: https://safety.example.org
    backoff_initial_s: 0.8
    channels: [{json.dumps(spec)}]
"""
    return parse_config(text, "notify-test")


@pytest.fixture
def env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def services(data_dir: Path, tmp_path: Path) -> Iterator[Callable[..., TicketService]]:
    made: list[tuple[TicketService, TicketStore]] = []

    def make(redis_url: str, config: Any) -> TicketService:
        store = TicketStore(f"sqlite:///{tmp_path / 'tickets.sqlite3'}")
        deliveries = DeliveryWorker.from_config(config, store)
        service = TicketService(
            redis_url, store, data_dir=data_dir, block_ms=50, deliveries=deliveries
        )
        made.append((service, store))
        return service

    yield make
    for service, store in made:
        service.stop()
        store.close()


def publish(client: redis.Redis, data: dict[str, Any]) -> None:
    data = {**data, "evidence": {}}  # no files: the event is applied without evidence
    client.xadd(EVENTS_STREAM, {"event_id": data["event_id"], "event": json.dumps(data)})


def fresh(**kwargs: Any) -> dict[str, Any]:
    """A hazard that started just now: not overdue, so the service escalates nothing."""
    return event(started_at=datetime.now(UTC), **kwargs)


def stream_types(client: redis.Redis) -> list[str]:
    entries: Any = client.xrange(NOTIFICATIONS_STREAM)
    return [json.loads(fields[b"notification"])["type"] for _id, fields in entries]


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def test_a_hazard_leads_to_a_signed_delivery_and_a_restart_loses_none(
    redis_server: RedisServerProcess,
    services: Callable[..., TicketService],
    receivers: list[Receiver],
    env_secret: None,
) -> None:
    receiver = Receiver(statuses=(503, 200))
    receivers.append(receiver)
    config = config_with(receiver)
    client = redis_server.client()
    first = services(redis_server.url, config)
    publish(client, fresh(kind="falling_object", camera_id="facade", zone="wall"))
    first.start()
    wait_for(lambda: len(receiver.requests) == 1, "the first (failing) attempt")
    first.stop()  # the retry is 0.8 s away: it waits in the database, not in this service
    assert stream_types(client) == ["urgent_ticket"]

    second = services(redis_server.url, config)
    second.start()
    wait_for(lambda: len(receiver.requests) == 2, "the retry by the restarted service")
    [ticket] = second.store.list_tickets()[0]
    assert second.deliveries is not None
    wait_for(
        lambda: (
            second.deliveries is not None
            and second.deliveries.deliveries.for_ticket(ticket.id)[0]["status"] == "sent"
        ),
        "the delivery recorded as sent",
    )
    request = receiver.requests[1]
    assert verify_signature(SECRET, request.headers, request.body)
    body = request.json()
    assert (body["type"], body["code"], body["level"]) == ("urgent_ticket", ticket.code, "red")
    assert stream_types(client) == ["urgent_ticket"]  # sent once, by the first service
    counters = second.counters()
    assert counters["deliveries_sent"] == 1 and counters["notifications_pending"] == 0


def test_every_new_ticket_goes_to_a_channel_that_wants_them_not_to_the_stream(
    redis_server: RedisServerProcess,
    services: Callable[..., TicketService],
    receivers: list[Receiver],
    env_secret: None,
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    client = redis_server.client()
    service = services(redis_server.url, config_with(receiver, created="all"))
    publish(client, fresh(kind="fire_lane_blocked", camera_id="facade", zone="wall"))
    service.run_once()
    assert service.deliveries is not None
    assert service.deliveries.run_due() == 1
    [request] = receiver.requests
    assert (request.json()["type"], request.json()["level"]) == ("created", "yellow")
    assert stream_types(client) == []  # the stream carries what it always carried


def test_serve_starts_the_channels_and_refuses_a_missing_secret(
    redis_server: RedisServerProcess,
    tmp_path: Path,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``build_api`` (serve, up): the channels' worker runs with the service; a secret whose
    variable is not set stops the start, naming the config path and never a value."""
    receiver = Receiver()
    receivers.append(receiver)
    config = config_with(receiver)
    args = argparse.Namespace(data_dir=tmp_path / "serve", redis_url=redis_server.url)
    monkeypatch.delenv("HW_TEST_SECRET", raising=False)
    with pytest.raises(StartupError) as refused:
        build_api(config, args)
    assert str(refused.value) == (
        "api.notifications.channels.0.secret: environment variable HW_TEST_SECRET is not set "
        "or empty"
    )
    monkeypatch.setenv("HW_TEST_SECRET", SECRET)
    store, service, _app = build_api(config, args)
    try:
        assert service.deliveries is not None and list(service.deliveries.channels) == ["ops"]
        assert service.counters()["deliveries_sent"] == 0
    finally:
        service.stop()
        store.close()
