"""Notification deliveries on a real ticket database and real receivers: retries with backoff
(a receiver failing twice then answering), giving up at ``max_attempts`` (a receiver down for
good), nothing lost across a restart (the queue is in the database), the log on
``GET /tickets/{id}/deliveries`` for staff only, and no secret in the database or the API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.channels import build_channels
from api.deliveries import DeliveryStore, RetryPolicy
from api.delivery_worker import DeliveryWorker
from api.settings.notify import NotificationSettings
from api.store import TicketStore
from tests.api.app_harness import ApiHarness, bearer
from tests.api.hazard_events import event
from tests.api.notify_receivers import Receiver, receivers
from tests.api.pg_server import PostgresServer
from tests.support.servers import free_port
from vision.types import HazardKind

__all__ = ["receivers"]  # the fixture, imported for pytest

SECRET = "whsec-delivery-tests-0123"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The queue on SQLite and on PostgreSQL (a real server; skipped, naming why, without)."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.database()
    return f"sqlite:///{tmp_path / 'tickets.sqlite3'}"


@pytest.fixture
def stores(db_url: str) -> Iterator[Callable[[], TicketStore]]:
    """Open the same ticket database as often as a test restarts; all closed at the end."""
    made: list[TicketStore] = []

    def open_store() -> TicketStore:
        made.append(TicketStore(db_url))
        return made[-1]

    yield open_store
    for store in made:
        store.close()


def make_worker(store: TicketStore, url: str, **retry: Any) -> DeliveryWorker:
    settings = NotificationSettings.model_validate(
        {
            "public_base_url": "https://safety.example.org",
            "channels": [{"type": "webhook", "name": "ops", "url": url, "secret": SECRET}],
            **retry,
        }
    )
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        initial_s=settings.backoff_initial_s,
        factor=settings.backoff_factor,
        max_s=settings.backoff_max_s,
    )
    return DeliveryWorker(DeliveryStore(store, policy), build_channels(settings))


def red_ticket(store: TicketStore) -> str:
    """A red (urgent) ticket, its notification moved from the outbox as the service does."""
    view = store.apply_event(event(kind="falling_object", camera_id="facade", zone="wall"))
    assert view is not None and view.level == "red"
    return view.id


def queue(worker: DeliveryWorker, store: TicketStore) -> int:
    added = worker.enqueue_outbox()
    store.send_notifications(lambda _payload: None)  # the service's XADD, here a no-op
    return added


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def test_fails_twice_then_succeeds_with_backoff(
    stores: Callable[[], TicketStore], receivers: list[Receiver]
) -> None:
    receiver = Receiver(statuses=(500, 503, 200))
    receivers.append(receiver)
    store = stores()
    worker = make_worker(store, receiver.url, backoff_initial_s=0.4, backoff_factor=2)
    ticket_id = red_ticket(store)
    assert queue(worker, store) == 1
    assert queue(worker, store) == 0  # the outbox is empty; and a repeat would add nothing
    worker.start()
    try:
        wait_for(lambda: worker.deliveries.for_ticket(ticket_id)[0]["status"] == "sent", "sent")
    finally:
        worker.stop()
    [delivery] = worker.deliveries.for_ticket(ticket_id)
    assert delivery["attempts"] == 3 and len(receiver.requests) == 3
    log = delivery["log"]
    assert [entry["ok"] for entry in log] == [False, False, True]
    assert [entry["result"] for entry in log] == [
        "HTTP 500 Internal Server Error",
        "HTTP 503 Service Unavailable",
        "HTTP 200",
    ]
    assert [entry.get("retry_in_s") for entry in log] == [0.4, 0.8, None]
    first, second, third = (r.at for r in receiver.requests)
    assert second - first >= 0.4 and third - second >= 0.8  # exponential backoff
    # Every attempt is one delivery: the same delivery_id for the receiver to drop repeats.
    assert {r.json()["delivery_id"] for r in receiver.requests} == {delivery["id"]}
    assert worker.counters() == {
        "deliveries_sent": 1,
        "delivery_failures": 2,
        "deliveries_given_up": 0,
    }


def test_a_receiver_down_for_good_is_given_up_at_max_attempts(
    stores: Callable[[], TicketStore],
) -> None:
    store = stores()
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    worker = make_worker(store, url, max_attempts=3, backoff_initial_s=0.1)
    ticket_id = red_ticket(store)
    queue(worker, store)
    worker.start()
    try:
        wait_for(lambda: worker.deliveries.for_ticket(ticket_id)[0]["status"] == "failed", "fail")
        time.sleep(0.6)  # longer than the next backoff would have been: no fourth attempt
    finally:
        worker.stop()
    [delivery] = worker.deliveries.for_ticket(ticket_id)
    assert delivery["attempts"] == 3 and len(delivery["log"]) == 3
    assert delivery["next_attempt_at"] is None
    assert "Connection refused" in delivery["last_error"]
    assert delivery["log"][-1]["gave_up"] == "given up after 3 attempts (max_attempts)"
    assert worker.deliveries.counts() == {"pending": 0, "sent": 0, "failed": 1}


def test_a_refusal_is_not_retried(
    stores: Callable[[], TicketStore], receivers: list[Receiver]
) -> None:
    receiver = Receiver(statuses=(410,))
    receivers.append(receiver)
    store = stores()
    worker = make_worker(store, receiver.url, backoff_initial_s=0.1)
    ticket_id = red_ticket(store)
    queue(worker, store)
    assert worker.run_due() == 1 and worker.run_due() == 0
    [delivery] = worker.deliveries.for_ticket(ticket_id)
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["log"][0]["gave_up"] == "the receiver refused it; not retried"


def test_a_restart_between_attempts_loses_nothing(
    stores: Callable[[], TicketStore], receivers: list[Receiver]
) -> None:
    """The first attempt fails; the service stops while the retry waits; a new one (a new
    store on the same database, a new worker) makes the second attempt, which succeeds."""
    receiver = Receiver(statuses=(502, 200))
    receivers.append(receiver)
    store = stores()
    worker = make_worker(store, receiver.url, backoff_initial_s=1.0)
    ticket_id = red_ticket(store)
    queue(worker, store)
    worker.start()
    wait_for(lambda: len(receiver.requests) == 1, "the first attempt")
    worker.stop()
    store.close()
    time.sleep(0.2)
    assert len(receiver.requests) == 1  # nothing left running

    again = stores()
    worker = make_worker(again, receiver.url, backoff_initial_s=1.0)
    worker.start()
    try:
        wait_for(lambda: worker.deliveries.for_ticket(ticket_id)[0]["status"] == "sent", "sent")
    finally:
        worker.stop()
    [delivery] = worker.deliveries.for_ticket(ticket_id)
    assert [entry["ok"] for entry in delivery["log"]] == [False, True]
    assert receiver.requests[1].at - receiver.requests[0].at >= 1.0
    assert receiver.requests[0].body != b"" and len(receiver.requests) == 2


def test_a_lease_of_a_killed_sender_runs_out(stores: Callable[[], TicketStore]) -> None:
    """A claimed delivery whose sender died (no result recorded) is taken again once its
    lease ends, and not before."""
    store = stores()
    worker = make_worker(store, "http://127.0.0.1:9/hook")
    red_ticket(store)
    queue(worker, store)
    now = datetime.now(UTC)
    claimed = worker.deliveries.claim_due(["ops"], now, lease_s=30)
    assert claimed is not None
    assert worker.deliveries.claim_due(["ops"], now, lease_s=30) is None
    later = datetime.fromtimestamp(now.timestamp() + 31, UTC)
    again = worker.deliveries.claim_due(["ops"], later, lease_s=30)
    assert again is not None and again.id == claimed.id


def test_the_log_is_on_the_ticket_for_staff_only_without_secrets(
    tmp_path: Path, media_cache: Path, receivers: list[Receiver]
) -> None:
    receiver = Receiver(statuses=(500, 200))
    receivers.append(receiver)
    harness = ApiHarness(tmp_path, media_cache)
    try:
        key_url = receiver.url + "?token=url-token-not-to-show"
        worker = make_worker(harness.store, key_url, backoff_initial_s=0.01)
        made = harness.add_ticket("lane_a", "lane", HazardKind.FIRE_LANE_BLOCKED)
        # Yellow: the urgent-only channel takes nothing; an overdue escalation it does take.
        queue(worker, harness.store)
        assert worker.deliveries.for_ticket(made.id) == []
        harness.store.escalate_overdue(datetime(2030, 1, 1, tzinfo=UTC))
        queue(worker, harness.store)
        worker.run_due()
        time.sleep(0.05)
        worker.run_due()
        url = f"/tickets/{made.id}/deliveries"
        answer = harness.client.get(url, headers=bearer("admin"))
        assert answer.status_code == 200
        [delivery] = answer.json()["deliveries"]
        # Overdue (escalated), or raised by how long the blockage has lasted: either is told.
        assert delivery["channel"] == "ops" and delivery["type"] in ("escalated", "level_raised")
        assert delivery["status"] == "sent" and delivery["attempts"] == 2
        assert [e["ok"] for e in delivery["log"]] == [False, True]
        assert harness.client.get(url, headers=bearer("grid_lane")).status_code == 200
        assert harness.client.get(url, headers=bearer("grid_facade")).status_code == 404
        assert harness.client.get(url, headers=bearer("public")).status_code == 403
        assert harness.client.get(url).status_code == 401
        database = b"".join(p.read_bytes() for p in tmp_path.glob("tickets.sqlite3*"))
        for secret in (SECRET, "url-token-not-to-show", receiver.url):
            assert secret not in answer.text
            assert secret.encode() not in database
    finally:
        harness.close()
