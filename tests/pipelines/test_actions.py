"""ActionHook with real parts: a real subprocess and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipelines.actions import ActionHook
from vision.types import HazardEvent, HazardKind, HazardPhase

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

# Appends one JSON line with the hazardwatch variables of its environment to argv[1].
ENV_WRITER = """
import json, os, sys
keys = [k for k in os.environ if k.startswith("HAZARDWATCH_")]
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({k: os.environ[k] for k in sorted(keys)}) + "\\n")
"""


def event(phase: HazardPhase = HazardPhase.START, zone: str = "lift") -> HazardEvent:
    end = phase is HazardPhase.END
    return HazardEvent(
        event_id=f"e-{phase.value}",
        hazard_id="h-1",
        phase=phase,
        kind=HazardKind.EBIKE_ENTRY,
        camera_id="lobby",
        zone=zone,
        started_at=T0,
        start_pts_s=2.4,
        ended_at=T0 if end else None,
        end_pts_s=9.0 if end else None,
        track_ids=(3,),
        labels=("motorbike",),
        score=0.7,
        box_norm=(0.1, 0.2, 0.3, 0.4),
        details={"zone_type": "polygon"},
    )


@pytest.fixture
def env_writer(tmp_path: Path) -> tuple[list[str], Path]:
    script = tmp_path / "relay.py"
    script.write_text(ENV_WRITER)
    out = tmp_path / "calls.jsonl"
    return [sys.executable, str(script), str(out)], out


class _Recorder(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(  # type: ignore[attr-defined]
            {"path": self.path, "type": self.headers.get("Content-Type"), "body": body}
        )
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def url_of(server: ThreadingHTTPServer, path: str = "/relay") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_gets_the_event_in_its_environment(env_writer: tuple[list[str], Path]) -> None:
    argv, out = env_writer
    hook = ActionHook(argv, None, timeout_s=10)
    hook.fire(event(HazardPhase.START))
    hook.fire(event(HazardPhase.END))
    hook.close(timeout_s=30)
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["HAZARDWATCH_PHASE"] for c in calls] == ["start", "end"]
    assert {c["HAZARDWATCH_CAMERA"] for c in calls} == {"lobby"}
    assert {c["HAZARDWATCH_ZONE"] for c in calls} == {"lift"}
    assert calls[0]["HAZARDWATCH_KIND"] == "ebike_entry"
    assert json.loads(calls[0]["HAZARDWATCH_EVENT_JSON"]) == event(HazardPhase.START).to_dict()
    assert json.loads(calls[1]["HAZARDWATCH_EVENT_JSON"])["end_pts_s"] == 9.0
    assert hook.stats.succeeded == 2 and hook.stats.failed == 0 and hook.stats.fired == 2


def test_url_receives_the_event_json(http_server: ThreadingHTTPServer) -> None:
    hook = ActionHook(None, url_of(http_server), timeout_s=5)
    hook.fire(event(HazardPhase.START))
    hook.fire(event(HazardPhase.END))
    hook.close(timeout_s=30)
    requests = http_server.requests  # type: ignore[attr-defined]
    assert [r["path"] for r in requests] == ["/relay", "/relay"]
    assert {r["type"] for r in requests} == {"application/json"}
    bodies = [json.loads(r["body"]) for r in requests]
    assert bodies == [event(HazardPhase.START).to_dict(), event(HazardPhase.END).to_dict()]
    assert hook.stats.succeeded == 2


def test_command_and_url_together(
    env_writer: tuple[list[str], Path], http_server: ThreadingHTTPServer
) -> None:
    argv, out = env_writer
    hook = ActionHook(argv, url_of(http_server), timeout_s=10)
    hook.fire(event())
    hook.close(timeout_s=30)
    assert len(out.read_text().splitlines()) == 1
    assert len(http_server.requests) == 1  # type: ignore[attr-defined]
    assert hook.stats.succeeded == 1


def test_fire_does_not_wait_for_a_slow_action(tmp_path: Path) -> None:
    hook = ActionHook([sys.executable, "-c", "import time; time.sleep(1.5)"], None, timeout_s=10)
    started = time.perf_counter()
    hook.fire(event())
    assert time.perf_counter() - started < 0.2
    hook.close(timeout_s=30)
    assert hook.stats.succeeded == 1


@pytest.mark.parametrize(
    ("make_hook", "logged"),
    [
        pytest.param(
            lambda tmp: ActionHook([sys.executable, "-c", "import sys; sys.exit(3)"], None),
            "exited with 3",
            id="command-exits-non-zero",
        ),
        pytest.param(
            lambda tmp: ActionHook(
                [sys.executable, "-c", "import sys; sys.stderr.write('relay jammed'); sys.exit(1)"],
                None,
            ),
            "relay jammed",
            id="command-stderr-in-log",
        ),
        pytest.param(
            lambda tmp: ActionHook([str(tmp / "no-such-relay")], None),
            "could not run",
            id="command-not-found",
        ),
        pytest.param(
            lambda tmp: ActionHook(
                [sys.executable, "-c", "import time; time.sleep(10)"], None, timeout_s=0.3
            ),
            "timed out",
            id="command-times-out",
        ),
        pytest.param(
            lambda tmp: ActionHook(None, f"http://127.0.0.1:{unused_port()}/relay", timeout_s=2),
            "failed",
            id="url-unreachable",
        ),
    ],
)
def test_failures_are_logged_with_camera_and_zone_and_counted(
    make_hook: Any, logged: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook = make_hook(tmp_path)
    with caplog.at_level(logging.WARNING, logger="pipelines.actions"):
        hook.fire(event(zone="stair_door"))
        hook.close(timeout_s=30)
    assert hook.stats.failed == 1 and hook.stats.succeeded == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any(logged in m and "lobby" in m and "stair_door" in m for m in messages), messages


def test_http_error_status_is_a_failure(
    http_server: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.status = 500  # type: ignore[attr-defined]
    hook = ActionHook(None, url_of(http_server), timeout_s=5)
    with caplog.at_level(logging.WARNING, logger="pipelines.actions"):
        hook.fire(event())
        hook.close(timeout_s=30)
    assert hook.stats.failed == 1
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)


def test_credentials_in_the_url_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://relay:s3cret@127.0.0.1:{unused_port()}/relay"
    hook = ActionHook(None, url, timeout_s=2)
    with caplog.at_level(logging.WARNING, logger="pipelines.actions"):
        hook.fire(event())
        hook.close(timeout_s=30)
    assert hook.stats.failed == 1
    assert caplog.records and not any("s3cret" in r.getMessage() for r in caplog.records)


def test_full_queue_drops_the_newest_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    hook = ActionHook(
        [sys.executable, "-c", "import time; time.sleep(0.5)"], None, timeout_s=10, max_pending=1
    )
    with caplog.at_level(logging.WARNING, logger="pipelines.actions"):
        for _ in range(3):
            hook.fire(event())
        hook.close(timeout_s=30)
    stats = hook.stats
    assert stats.fired == 3 and stats.dropped >= 1
    assert stats.succeeded + stats.dropped == 3
    assert any("queue is full" in r.getMessage() for r in caplog.records)


def test_fire_after_close_is_dropped_not_raised() -> None:
    hook = ActionHook([sys.executable, "-c", "pass"], None)
    hook.close(timeout_s=30)
    hook.fire(event())
    assert hook.stats.dropped == 1
    hook.close()  # closing twice is harmless


@pytest.mark.parametrize(
    ("command", "url", "timeout_s", "message"),
    [
        pytest.param(None, None, 5.0, "needs a command or a url", id="nothing-to-do"),
        pytest.param([], None, 5.0, "non-empty argv", id="empty-command"),
        pytest.param("relay on", None, 5.0, "non-empty argv", id="command-as-a-string"),
        pytest.param([""], None, 5.0, "non-empty argv", id="empty-program"),
        pytest.param(None, "ftp://relay/x", 5.0, "http", id="url-not-http"),
        pytest.param(None, "http:///x", 5.0, "http", id="url-without-host"),
        pytest.param(["relay"], None, 0.0, "timeout_s", id="zero-timeout"),
    ],
)
def test_bad_settings_are_refused(
    command: Any, url: str | None, timeout_s: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ActionHook(command, url, timeout_s)
