"""Browser tests: a real ``hazardwatch up`` and a real Redis, driven by Debian's Chromium.

What the fixtures give (ZONES, DASH and REVIEW share them; add extra hooks in your own test file):

- ``hw_site`` (session-scoped :class:`Site`): ``python -m hazardwatch up`` in a subprocess with
  three generated cameras (a fire lane, a lift door line, a facade with floor lines) playing small
  generated H.264 files in a loop (``HAZARDWATCH_LOOP_FILES=1``), the repository's YOLOX-Nano
  detector, a real ``redis-server`` (``tests.support.servers``), ``HAZARDWATCH_ADMIN_TOKEN`` set,
  free ports, tmp dirs. It waits until ``/health`` answers and every camera streams. Seed real
  tickets with :meth:`Site.seed_ticket`: it writes real evidence files (an H.264 clip, JPEGs) into
  the data dir and publishes a hazard event onto the Redis stream exactly as the pipeline does
  (``pipelines.publish.event_payload``), then waits for the ticket service to make the ticket.
- ``browser``: one headless Chromium (``/usr/bin/chromium``, never a downloaded browser) per test
  module, through Playwright for Python.
- ``open_page(path, width=1280, height=900, role="admin", lang=None)``: a new browser context
  logged in through ``?token=`` and a page showing ``path``. Console errors, uncaught page errors
  and failed requests (a 4xx/5xx answer to one of the page's own requests, or a request that did
  not complete) are collected; at the end of the test they fail it. A test that expects one can
  call :meth:`PageProbe.allow` with a part of the URL first.
- ``screenshot(page, name)``: a full-page PNG in ``$HAZARDWATCH_ARTIFACTS`` (else
  ``.artifacts/browser/`` in the repository, git-ignored); returns its path.

Without Playwright or ``/usr/bin/chromium`` the tests are skipped, saying which is missing; under
``CI=true`` they fail instead, so CI can never pass with the browser tests quietly skipped.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import httpx
import numpy as np
import pytest
import yaml

from pipelines.evidence_layout import LIVE_DIRNAME, live_after_name
from pipelines.publish import EVENTS_STREAM, ZONE_STATUS_STREAM, event_payload
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess, free_port
from tests.support.waiting import wait_for
from vision.types import HazardEvent, HazardKind, HazardPhase

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DETECTOR_MODEL = REPO / "assets" / "models" / "yolox_nano_coco_416.onnx"
ARTIFACTS_ENV = "HAZARDWATCH_ARTIFACTS"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# role -> token; admin is the HAZARDWATCH_ADMIN_TOKEN one (named env-admin by api.auth)
TOKENS = {
    "admin": "browser-admin-7c41d9e2",
    "reviewer": "browser-reviewer-2b8f0a61",
    "grid_worker": "browser-grid-93e1c7d4",
    "public": "browser-public-5d02e8af",
}
CAMERAS = ("lane_cam", "lift_cam", "facade_cam")
STARTUP_TIMEOUT_S = 120.0
CAMERA_LOOP_S = 120.0  # length of the file each camera plays in a loop


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright (pip install -e '.[dev]')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"{CHROMIUM} (apt-get install chromium; make deps)")
    return " and ".join(missing) + " missing" if missing else None


def _require_browser() -> None:
    reason = browser_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def site_config(clips: dict[str, Path]) -> dict[str, Any]:
    """A site of three cameras playing ``clips`` (camera id -> file), one per hazard kind."""
    short = {"preroll_s": 2.0, "postroll_s": 2.0, "detect": {"fps": 2}}
    tokens = [
        {"name": "browser-reviewer", "role": "reviewer",
         "token_sha256": _sha256_text(TOKENS["reviewer"])},
        {"name": "browser-grid", "role": "grid_worker", "cameras": ["lane_cam"],
         "token_sha256": _sha256_text(TOKENS["grid_worker"])},
        {"name": "browser-public", "role": "public",
         "token_sha256": _sha256_text(TOKENS["public"])},
    ]  # fmt: skip
    return {
        "site": {"id": "browser", "name": "Browser test estate 测试小区"},
        "detector": {
            "model": str(DETECTOR_MODEL),
            "input_size": 416,
            "family": "yolox",
            "classes": {
                "car": "vehicle",
                "truck": "vehicle",
                "motorbike": "ebike",
                "bicycle": "bicycle",
                "person": "person",
            },
        },
        "cameras": {
            "lane_cam": {
                "name": "North fire lane",
                "area": "north",
                "source": str(clips["lane_cam"]),
                **short,
                "zones": {
                    "lane": {
                        "polygon": [[0.1, 0.3], [0.6, 0.3], [0.9, 0.9], [0.05, 0.95]],
                        "width_m": 4.5,
                    },
                },
                "hazards": [{"kind": "fire_lane_blocked", "zone": "lane", "dwell_s": 30}],
            },
            "lift_cam": {
                "name": "Lift 2",
                "area": "north",
                "source": str(clips["lift_cam"]),
                **short,
                "zones": {"door": {"line": [[0.2, 0.8], [0.6, 0.8]], "inward": [0.0, -1.0]}},
                "hazards": [{"kind": "ebike_entry", "zone": "door"}],
            },
            "facade_cam": {
                "name": "Building 3 facade",
                "area": "south",
                "source": str(clips["facade_cam"]),
                **short,
                "zones": {
                    "facade": {"polygon": [[0.05, 0.02], [0.95, 0.02], [0.95, 0.96], [0.05, 0.96]]},
                },
                "floors": {
                    "count": 18,
                    "lowest_visible_floor": 3,
                    "lines": [0.1, 0.25, 0.4, 0.55, 0.7, 0.85],
                },
                "hazards": [{"kind": "falling_object", "zone": "facade"}],
            },
        },
        "api": {"tokens": tokens},
    }


def _jpeg(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A JPEG of random colours with a white block (its content tells one seed from another)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    cv2.rectangle(image, (width // 4, height // 4), (width // 2, height * 3 // 4), (255,) * 3, -1)
    ok, encoded = cv2.imencode(".jpg", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode a seed JPEG for the browser tests")
    return bytes(encoded.tobytes())


@dataclass
class Site:
    """A running ``hazardwatch up`` and what a test needs to reach it."""

    base_url: str
    admin_token: str
    tokens: dict[str, str]
    data_dir: Path
    config_path: Path
    camera_ids: tuple[str, ...]
    redis_url: str
    redis: RedisServerProcess
    process: subprocess.Popen[bytes]
    log_path: Path
    clip_path: Path
    _clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=2))

    def client(self, role: str = "admin") -> httpx.Client:
        """An HTTP client to the site with ``role``'s bearer token (close it, or use ``with``)."""
        return httpx.Client(
            base_url=self.base_url,
            timeout=15,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
        )

    def get_json(self, path: str, role: str = "admin", **params: Any) -> Any:
        with self.client(role) as client:
            response = client.get(path, params=params)
        if response.status_code != 200:
            raise AssertionError(f"GET {path} as {role}: {response.status_code} {response.text}")
        return response.json()

    def ticket(self, ticket_id: str, role: str = "admin") -> dict[str, Any]:
        return dict(self.get_json(f"/tickets/{ticket_id}", role))

    def transition(self, ticket_id: str, to: str, role: str = "admin", note: str = "") -> None:
        with self.client(role) as client:
            response = client.post(
                f"/tickets/{ticket_id}/transition", json={"to": to, "note": note or None}
            )
        if response.status_code != 200:
            raise AssertionError(
                f"moving ticket {ticket_id} to {to} as {role}: {response.status_code} "
                f"{response.text}"
            )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"

    def seed_ticket(
        self,
        camera_id: str = "lane_cam",
        kind: str = "fire_lane_blocked",
        zone: str = "lane",
        *,
        seed: int = 0,
        details: dict[str, Any] | None = None,
        labels: tuple[str, ...] = ("car",),
        box_norm: tuple[float, float, float, float] = (0.2, 0.35, 0.55, 0.8),
        score: float = 0.8,
        started_at: datetime | None = None,
        timeout_s: float = 30.0,
        fresh: bool = False,
    ) -> dict[str, Any]:
        """Make a real ticket: evidence files on disk, a ``start`` event on the Redis stream.

        Returns the ticket as the API shows it to the admin, once the ticket service made it.
        Each call is one minute after the previous one unless ``started_at`` is given, so the
        newest seeded ticket is the last one. The store keeps one open ticket per camera, zone
        and kind: a start on one that has an open ticket joins it. For a new ticket each time,
        pass a zone of your own (any slug; the cameras' configured zones are ``lane``, ``door``
        and ``facade``, which the pages draw), or ``fresh=True``: an open ticket the start
        joined is first ended (rejected, or closed through its steps) and the start sent again.
        """
        if fresh:
            joined = self.seed_ticket(
                camera_id, kind, zone, seed=seed, details=details, labels=labels,
                box_norm=box_norm, score=score, started_at=started_at, timeout_s=timeout_s,
            )  # fmt: skip
            if len(joined["hazard_ids"]) == 1:
                return joined
            self.end_ticket(joined)
        self._clock += timedelta(minutes=1)
        when = started_at or self._clock
        hazard_id = uuid.uuid4().hex
        folder = self.data_dir / "evidence" / camera_id / when.strftime("%Y-%m-%d") / hazard_id
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "clip": folder / "clip.mp4",
            "clip_public": folder / "clip_public.mp4",
            "snapshot": folder / "snapshot.jpg",
            "snapshot_public": folder / "snapshot_public.jpg",
        }
        shutil.copyfile(self.clip_path, files["clip"])
        shutil.copyfile(self.clip_path, files["clip_public"])
        files["snapshot"].write_bytes(_jpeg(seed))
        files["snapshot_public"].write_bytes(_jpeg(seed + 100_000))
        evidence: dict[str, Any] = {
            name: str(path.relative_to(self.data_dir)) for name, path in files.items()
        }
        evidence["sha256"] = {name: _sha256_file(path) for name, path in files.items()}
        event = HazardEvent(
            event_id=uuid.uuid4().hex,
            hazard_id=hazard_id,
            phase=HazardPhase.START,
            kind=HazardKind(kind),
            camera_id=camera_id,
            zone=zone,
            started_at=when,
            start_pts_s=2.0,
            labels=labels,
            score=score,
            box_norm=box_norm,
            details=details if details is not None else {"occupancy": 0.4},
            evidence=evidence,
        )
        client = self.redis.client()
        try:
            client.xadd(EVENTS_STREAM, {"event": event_payload(event)})
        finally:
            client.close()
        return self.wait_for_ticket(hazard_id, timeout_s)

    def end_ticket(self, ticket: dict[str, Any]) -> None:
        """Move an open ticket to ``rejected`` or ``closed`` by the shortest allowed steps
        (as the admin or the reviewer, whichever may: the rectifier may not also close)."""
        preferred = ("rejected", "closed", "rechecked", "rectifying", "verified")
        for _ in range(8):
            seen = self.ticket(ticket["id"])
            if seen["status"] in ("rejected", "closed"):
                return
            for role in ("admin", "reviewer"):
                with self.client(role) as client:
                    allowed = client.get(f"/tickets/{ticket['id']}").json()["allowed_transitions"]
                target = next((status for status in preferred if status in allowed), None)
                if target is not None:
                    self.transition(ticket["id"], target, role, note="browser test: ended")
                    break
            else:
                raise AssertionError(f"no way to end ticket {ticket['id']} from {seen['status']}")
        raise AssertionError(f"ticket {ticket['id']} did not end in 8 steps")

    def recheck(self, ticket: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
        """Recheck a ``rectifying`` ticket of a configured fire lane the way the pipeline does:
        a zone status "clear for 400 s" naming the pipeline's own live after picture of that
        zone (``DATA_DIR/live/{camera}__{zone}__{kind}_after.jpg``, written while the zone is
        clear). Returns the ticket once it is ``rechecked`` with its after picture."""
        name = live_after_name(ticket["camera_id"], ticket["zone"], ticket["kind"])
        live = self.data_dir / LIVE_DIRNAME / name
        deadline = time.monotonic() + timeout_s
        wait_for(live.is_file, timeout_s, f"the pipeline's live after picture {live}", 0.3)
        status = {
            "camera_id": ticket["camera_id"],
            "zone": ticket["zone"],
            "kind": ticket["kind"],
            "state": "clear",
            "clear_for_s": 400.0,
            "at": datetime.now(UTC).isoformat(),
            "snapshot": f"{LIVE_DIRNAME}/{name}",
            "snapshot_sha256": _sha256_file(live),
        }
        client = self.redis.client()
        try:
            client.xadd(ZONE_STATUS_STREAM, {"status": json.dumps(status)})
        finally:
            client.close()

        def rechecked() -> dict[str, Any] | None:
            seen = self.ticket(ticket["id"])
            done = seen["status"] == "rechecked" and seen["evidence"].get("after_snapshot")
            return seen if done else None

        left = max(deadline - time.monotonic(), 0.0)
        what = f"ticket {ticket['id']} rechecked with an after picture"
        return dict(wait_for(rechecked, left, what, 0.3, self.log_tail))

    def wait_for_ticket(self, hazard_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The ticket holding ``hazard_id``, once the ticket service has applied its event."""

        def holding() -> dict[str, Any] | None:
            for ticket in self.get_json("/tickets", limit=1000)["items"]:
                if hazard_id in ticket.get("hazard_ids", []):
                    return dict(ticket)
            if self.process.poll() is not None:
                raise AssertionError(f"hazardwatch up exited:\n{self.log_tail()}")
            return None

        what = f"a ticket for hazard {hazard_id}"
        return dict(wait_for(holding, timeout_s, what, 0.3, self.log_tail))


def _camera_states(base_url: str) -> dict[str, str]:
    try:
        response = httpx.get(f"{base_url}/health", timeout=5)
    except httpx.HTTPError:
        return {}
    if response.status_code not in (200, 503):
        return {}
    cameras = response.json().get("cameras", {})
    return {cid: str(record.get("state")) for cid, record in cameras.items()}


@pytest.fixture(scope="session")
def hw_site(tmp_path_factory: pytest.TempPathFactory, media_cache: Path) -> Iterator[Site]:
    """``hazardwatch up`` on three looping generated cameras and a real redis-server."""
    _require_browser()
    if not DETECTOR_MODEL.is_file():
        pytest.fail(f"the repository's detector model is missing: {DETECTOR_MODEL}")
    root = tmp_path_factory.mktemp("hw-site")
    # The cameras loop a long file: at each loop's end a camera is "backoff" for a moment.
    looped = ensure_clip(media_cache, width=320, height=240, seconds=CAMERA_LOOP_S, gop=50)
    clips = {camera_id: looped for camera_id in CAMERAS}
    clip = ensure_clip(media_cache, width=320, height=240, seconds=4.0, pattern="moving_box")
    config_path = root / "site.yaml"
    config_path.write_text(yaml.safe_dump(site_config(clips), sort_keys=False))
    data_dir = root / "data"
    redis = RedisServerProcess(root / "redis", ready_timeout_s=15.0).start()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = root / "up.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "HAZARDWATCH_ADMIN_TOKEN": TOKENS["admin"],
        "HAZARDWATCH_LOOP_FILES": "1",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hazardwatch", "up", "--config", str(config_path),
             "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port),
             "--redis-url", redis.url],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
    site = Site(
        base_url=base_url,
        admin_token=TOKENS["admin"],
        tokens=dict(TOKENS),
        data_dir=data_dir,
        config_path=config_path,
        camera_ids=CAMERAS,
        redis_url=redis.url,
        redis=redis,
        process=process,
        log_path=log_path,
        clip_path=clip,
    )
    try:
        states: dict[str, str] = {}

        def all_streaming() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"hazardwatch up exited {process.returncode}:\n{site.log_tail()}"
                )
            states.clear()
            states.update(_camera_states(base_url))
            return bool(states) and all(states.get(cid) == "streaming" for cid in CAMERAS)

        wait_for(
            all_streaming,
            STARTUP_TIMEOUT_S,
            f"every camera of {CAMERAS} streaming",
            explain=lambda: f"(states {states})\n{site.log_tail()}",
        )
        yield site
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        redis.stop()


# ----- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright (no downloaded browser).

    One per test module, not per session: while Playwright's sync API is started, its event
    loop counts as running in the main thread, and ``asyncio.run`` in any later test would fail.
    """
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageProbe:
    """What went wrong in one page while a test drove it."""

    base_url: str
    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, url_part: str) -> None:
        """A failed request whose URL contains ``url_part`` is expected (the test checks it)."""
        self.allowed.append(url_part)

    def _own(self, url: str) -> bool:
        return url.startswith(self.base_url)

    def _expected(self, url: str) -> bool:
        return any(part in url for part in self.allowed)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            # a failed load is judged once, with its URL, by on_response / on_failed
            if "Failed to load resource" in message.text:
                return
            self.problems.append(f"console error: {message.text} ({where})")

    def on_page_error(self, error: Exception) -> None:
        self.problems.append(f"uncaught page error: {error}")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and self._own(response.url) and not self._expected(response.url):
            self.problems.append(
                f"{response.request.method} {response.url} answered {response.status}"
            )

    def on_failed(self, request: Request) -> None:
        if not self._own(request.url) or self._expected(request.url):
            return
        failure = request.failure or "unknown"
        # a media element that stops reading a clip it has enough of aborts its range request
        if "ERR_ABORTED" in failure and request.resource_type == "media":
            return
        self.problems.append(f"{request.method} {request.url} failed: {failure}")


@dataclass
class OpenPage:
    """One page of one logged-in browser context."""

    page: Page
    probe: PageProbe

    def check(self) -> None:
        """Fail when the page had console errors or failed requests."""
        if self.probe.problems:
            raise AssertionError(
                "the page had problems:\n  " + "\n  ".join(dict.fromkeys(self.probe.problems))
            )


OpenPageFactory = Callable[..., OpenPage]


@pytest.fixture
def open_page(hw_site: Site, browser: Browser) -> Iterator[OpenPageFactory]:
    """``open_page(path, width=1280, height=900, role="admin", lang="en-US")`` -> OpenPage.

    The context logs in with ``?token=`` (the server sets the session cookie and redirects to
    ``path`` without the token); ``role=None`` opens the page without logging in. ``lang``
    sets the browser's language (``navigator.language`` and ``Accept-Language``), e.g.
    ``"zh-CN"`` or ``"en-US"``. At the end of the test every page opened is checked: a console
    error or a failed request of the page fails the test.
    """
    opened: list[OpenPage] = []
    contexts = []

    def factory(
        path: str,
        *,
        width: int = 1280,
        height: int = 900,
        role: str | None = "admin",
        lang: str | None = "en-US",
    ) -> OpenPage:
        context = browser.new_context(
            viewport={"width": width, "height": height},
            locale=lang,
            is_mobile=width < 600,
            has_touch=width < 600,
            device_scale_factor=1,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        probe = PageProbe(hw_site.base_url)
        page.on("console", probe.on_console)
        page.on("pageerror", probe.on_page_error)
        page.on("response", probe.on_response)
        page.on("requestfailed", probe.on_failed)
        if role is None:  # not logged in
            page.goto(f"{hw_site.base_url}{path}")
        else:
            separator = "&" if "?" in path else "?"
            page.goto(f"{hw_site.base_url}{path}{separator}token={hw_site.tokens[role]}")
        page.wait_for_load_state("networkidle")
        if "token=" in page.url:
            raise AssertionError(f"the token stayed in the address: {page.url}")
        handle = OpenPage(page, probe)
        opened.append(handle)
        return handle

    yield factory
    try:
        for handle in opened:
            handle.check()
    finally:
        for context in contexts:
            context.close()


def artifacts_dir() -> Path:
    """Where screenshots go: ``$HAZARDWATCH_ARTIFACTS`` or ``.artifacts/browser``."""
    configured = os.environ.get(ARTIFACTS_ENV)
    path = Path(configured).expanduser() if configured else REPO / ".artifacts" / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of ``page`` named ``name`` (letters, digits, - and _) in the artifacts."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", name):
        raise ValueError(f"screenshot name {name!r}: use 1-80 letters, digits, '-', '_' or '.'")
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, name)`` -> path of a full-page PNG in the test artifacts."""
    return save_screenshot


def scroll_width(page: Page) -> int:
    """The document's scroll width in CSS pixels (wider than the viewport: it scrolls sideways)."""
    return int(page.evaluate("document.documentElement.scrollWidth"))


def page_json(page: Page, path: str) -> Any:
    """GET ``path`` from inside the page (its session cookie) and return the JSON."""
    text = page.evaluate(
        """async (path) => {
            const r = await fetch(path, {credentials: 'same-origin',
                                         headers: {'Accept': 'application/json'}});
            return JSON.stringify({status: r.status, body: await r.text()});
        }""",
        path,
    )
    answer = json.loads(text)
    if answer["status"] != 200:
        raise AssertionError(f"GET {path} from the page: {answer['status']} {answer['body']}")
    return json.loads(answer["body"])
