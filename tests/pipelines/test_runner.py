"""A live CameraRunner on a real file source, a real publisher and redis-server: shutdown
closes the evidence writer, and the status record carries evidence and publisher counters.

The analysis belongs to the analysis thread: ``stop()`` and a zone edit arriving while it is
inside ``process()`` (held there by a detector that waits on an Event, as a slow model would)
must still publish every event once, each hazard with one start first and one end last."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from models.detector import Detector
from pipelines.config import HazardwatchConfig, parse_config
from pipelines.evidence_layout import LIVE_DIRNAME, live_after_name
from pipelines.publish import (
    CAMERA_STATUS_KEY,
    EVENTS_STREAM,
    ZONE_STATUS_STREAM,
    EventPublisher,
)
from pipelines.runner import CameraRunner, RunnerOptions
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess
from vision.types import Detections, Frame, HazardEvent, HazardKind, HazardPhase

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CAMERA = "facade"


def facade_config(video: Path) -> HazardwatchConfig:
    return parse_config(
        f"""
site: {{id: block_a, name: "Block A"}}
cameras:
  {CAMERA}:
    source: {video}
    preroll_s: 1
    postroll_s: 1
    motion: {{fps: 10, width: 160}}
    zones:
      facade: {{polygon: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}}
    floors: {{count: 10, lowest_visible_floor: 1, lines: [0.1, 0.3, 0.5, 0.7, 0.9]}}
    hazards:
      - {{kind: falling_object, zone: facade}}
""",
        "runner-test",
    )


def lift_config(video: Path) -> HazardwatchConfig:
    """An e-bike in the lift car starts a hazard at once; the model file is never opened."""
    return parse_config(
        f"""
site: {{id: block_a, name: "Block A"}}
detector: {{model: unused.onnx, labels: [ebike], classes: {{ebike: ebike}}}}
cameras:
  {CAMERA}:
    source: {video}
    preroll_s: 1
    postroll_s: 1
    detect: {{fps: 10}}
    zones:
      lift: {{polygon: [[0.05, 0.05], [0.95, 0.05], [0.95, 0.95], [0.05, 0.95]]}}
    hazards:
      - {{kind: ebike_entry, zone: lift, min_duration_s: 0}}
""",
        "runner-test",
    )


class HeldDetector:
    """Sees one e-bike in the middle of every picture. Once ``hold_next`` is set, its next call
    sets ``held`` and waits for ``release``, as a slow or hung model would."""

    labels = ("ebike",)
    max_batch_size = 1

    def __init__(self) -> None:
        self.hold_next = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.held.set()
            if not self.release.wait(60):
                raise TimeoutError("the test never released the detector")
        out = []
        for image in images:
            h, w = image.shape[:2]
            out.append(
                Detections(
                    np.array([[0.4 * w, 0.4 * h, 0.6 * w, 0.6 * h]], np.float32),
                    np.array([0.9], np.float32),
                    np.array([0], np.int32),
                )
            )
        return out


MakeRunner = Callable[..., CameraRunner]


@pytest.fixture
def runner_parts(
    tmp_path: Path, media_cache: Path, redis_server: RedisServerProcess
) -> Iterator[MakeRunner]:
    """``make(config_of=facade_config, detector=None, **options)``: a runner (not started) with
    its own publisher (``runner.publisher``); both are stopped and closed at teardown."""
    video = ensure_clip(media_cache, width=320, height=240, seconds=30.0)
    made: list[tuple[CameraRunner, EventPublisher]] = []

    def make(
        config_of: Callable[[Path], HazardwatchConfig] = facade_config,
        detector: Detector | None = None,
        **options: float,
    ) -> CameraRunner:
        config = config_of(video)
        publisher = EventPublisher(redis_server.url, tmp_path / "spool.sqlite3")
        runner = CameraRunner(
            CAMERA,
            config.cameras[CAMERA],
            config,
            detector,
            publisher,
            replace(RunnerOptions(data_dir=tmp_path / "data"), **options),
        )
        made.append((runner, publisher))
        return runner

    yield make
    for runner, publisher in made:
        runner.stop()
        publisher.close()


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the runner")
        time.sleep(0.05)


def start_event(pts_s: float) -> HazardEvent:
    return HazardEvent(
        event_id=uuid.uuid4().hex,
        hazard_id=uuid.uuid4().hex,
        phase=HazardPhase.START,
        kind=HazardKind.FALLING_OBJECT,
        camera_id=CAMERA,
        zone="facade",
        started_at=datetime.now(UTC),
        start_pts_s=pts_s,
    )


def a_frame(pts_s: float) -> Frame:
    image = np.full((240, 320, 3), 90, dtype=np.uint8)
    return Frame(CAMERA, 1, pts_s, datetime.now(UTC), image)


def evidence_threads() -> list[str]:
    prefixes = (f"snapshots-{CAMERA}", f"evidence-{CAMERA}", f"clips-{CAMERA}")
    return [t.name for t in threading.enumerate() if t.name.startswith(prefixes)]


def runner_thread(role: str) -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == f"{role}-{CAMERA}"), None)


def published_events(server: RedisServerProcess) -> list[dict]:
    """The events stream as the ticket service reads it, in order."""
    with server.client() as client:
        return [json.loads(fields[b"event"]) for _, fields in client.xrange(EVENTS_STREAM)]


def lifecycles(events: list[dict]) -> dict[str, list[str]]:
    """hazard id -> its phases in publishing order."""
    phases: dict[str, list[str]] = {}
    for event in events:
        phases.setdefault(event["hazard_id"], []).append(event["phase"])
    return phases


def assert_each_hazard_started_and_ended_once(events: list[dict]) -> None:
    assert len({e["event_id"] for e in events}) == len(events), "an event was published twice"
    for hazard_id, phases in lifecycles(events).items():
        middle = set(phases[1:-1])
        assert len(phases) >= 2, (hazard_id, phases)
        assert (phases[0], phases[-1]) == ("start", "end"), (hazard_id, phases)
        assert middle <= {"update"}, (hazard_id, phases)


def start_ebike_hazard_then_hold(runner: CameraRunner, detector: HeldDetector) -> None:
    """Run until the e-bike's hazard has started, then hold the analysis inside process()."""
    runner.start()
    wait_until(lambda: runner.events_total >= 1)
    detector.hold_next.set()
    assert detector.held.wait(30), "the analysis never called the detector again"


def test_stop_closes_the_evidence_writer(
    runner_parts: Callable[[], CameraRunner], tmp_path: Path
) -> None:
    runner = runner_parts()
    runner.start()
    wait_until(lambda: runner.source.status().frames_out >= 10)
    # A hazard whose clip is still gathering post-roll when the camera is stopped.
    future = runner.evidence.capture(start_event(0.2), a_frame(0.2))
    wait_until(lambda: bool(evidence_threads()))
    runner.stop()
    assert future.done()
    evidence = future.result().evidence
    assert evidence["snapshot"].startswith(f"evidence/{CAMERA}/")
    assert evidence_threads() == []  # the writer's and the recorder's workers ended
    with pytest.raises(RuntimeError, match="evidence writer is closed"):
        runner.evidence.capture(start_event(0.3), a_frame(0.3))
    partial = [p for p in (tmp_path / "data").rglob("*") if ".partial" in p.name]
    assert partial == []


def test_status_shows_evidence_and_publisher_counters_and_the_live_after_picture(
    runner_parts: Callable[[], CameraRunner],
    redis_server: RedisServerProcess,
    tmp_path: Path,
) -> None:
    runner = runner_parts()
    runner.start()
    client = redis_server.client()
    wait_until(lambda: client.hget(CAMERA_STATUS_KEY, CAMERA) is not None)
    wait_until(lambda: client.xlen(ZONE_STATUS_STREAM) > 0)
    record = json.loads(client.hget(CAMERA_STATUS_KEY, CAMERA) or b"{}")
    for key, value in {
        "disk_full": False,
        "evidence_captures": 0,
        "evidence_pending": 0,
        "evidence_errors": 0,
        "clips_skipped_disk_full": 0,
        "spool_pending": 0,
        "publish_errors": 0,
    }.items():
        assert record[key] == value, key
    [(_, fields)] = client.xrange(ZONE_STATUS_STREAM, count=1)
    status = json.loads(fields[b"status"])
    name = live_after_name(CAMERA, "facade", "falling_object")
    # Relative to the data dir (not to the working directory), and named per zone and kind.
    assert status["state"] == "clear" and status["snapshot"] == f"{LIVE_DIRNAME}/{name}"
    assert (tmp_path / "data" / LIVE_DIRNAME / name).is_file()


def test_stop_while_the_analysis_is_inside_process_publishes_every_event_once(
    runner_parts: MakeRunner,
    redis_server: RedisServerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pipelines.runner")
    detector = HeldDetector()
    runner = runner_parts(lift_config, detector)
    start_ebike_hazard_then_hold(runner, detector)
    stopping = threading.Thread(target=runner.stop, name="test-stop")
    stopping.start()
    # Let process() go on once stop() waits for it, or once stop() has ended the hazards
    # under it and let the publishing thread finish (the defect): either is observable.
    wait_until(
        lambda: (
            any("waiting up to" in r.getMessage() for r in caplog.records)
            or runner_thread("publish") is None
        )
    )
    detector.release.set()
    stopping.join(60)
    assert not stopping.is_alive()
    runner.publisher.close()
    events = published_events(redis_server)
    assert len(events) == runner.events_total  # every routed event was published
    assert_each_hazard_started_and_ended_once(events)
    assert not [r for r in caplog.records if "not published" in r.getMessage()]


def test_a_zone_edit_while_the_analysis_is_inside_process_ends_each_hazard_once(
    runner_parts: MakeRunner,
    redis_server: RedisServerProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pipelines.runner")
    detector = HeldDetector()
    runner = runner_parts(lift_config, detector)
    start_ebike_hazard_then_hold(runner, detector)
    zones = tmp_path / "data" / "zones" / f"{CAMERA}.json"
    zones.parent.mkdir(parents=True, exist_ok=True)
    zones.write_text(
        json.dumps(
            {"zones": {"lift": {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}}}
        )
    )
    runner.reload_zones()  # unless the status thread has just done it: either way, held
    assert [r for r in caplog.records if "zones reloaded" in r.getMessage()]
    detector.release.set()
    # The old zones' hazard ended, and the e-bike, still there, starts one under the new zones.
    wait_until(lambda: len(lifecycles(published_events(redis_server))) >= 2)
    runner.stop()
    runner.publisher.close()
    events = published_events(redis_server)
    assert len(events) == runner.events_total
    assert_each_hazard_started_and_ended_once(events)


def test_stop_leaves_a_hung_analysis_alone_and_says_so(
    runner_parts: MakeRunner,
    redis_server: RedisServerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    detector = HeldDetector()
    runner = runner_parts(lift_config, detector, analysis_stop_timeout_s=0.2)
    start_ebike_hazard_then_hold(runner, detector)
    runner.stop()  # gives up on the analysis thread after 0.2 s
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        m.startswith(f"camera {CAMERA}: the analysis thread did not end within 0.2 s")
        for m in errors
    ), errors
    routed = runner.events_total
    detector.release.set()
    analysis = runner_thread("analysis")
    if analysis is not None:
        analysis.join(30)
        assert not analysis.is_alive()
    runner.publisher.close()
    events = published_events(redis_server)
    # The open hazard was not closed under the running analysis: no end for it, and nothing
    # the late frame produced was routed after the publishing thread finished.
    assert [e["phase"] for e in events] == ["start"] * len(events)
    assert len(events) == routed == runner.events_total


def test_a_file_evidence_source_is_paced_like_the_analysed_one(
    runner_parts: MakeRunner,
) -> None:
    """A substream camera played from files (demo, bench): the main stream the clips come from
    is read in real time too, not demuxed to its end at once (its clips would hold packets read
    long before the analysed pictures that raised the hazard)."""

    def with_evidence_source(video: Path) -> HazardwatchConfig:
        config = facade_config(video)
        camera = config.cameras[CAMERA].model_copy(update={"evidence_source": str(video)})
        return config.model_copy(update={"cameras": {CAMERA: camera}})

    runner = runner_parts(config_of=with_evidence_source)
    assert runner.evidence_source is not None
    runner.start()
    time.sleep(2.0)
    packets = runner.evidence_source.status().packets_in
    assert 10 <= packets <= 25 * 2.0 + 20, packets  # the 30 s file holds 750


def test_a_camera_without_a_detector_is_never_reported_overloaded(
    runner_parts: MakeRunner,
) -> None:
    """The overload policy thins detection only: a facade camera (motion analysis, no
    detector) under an overloaded process stays at its rates and says so (bench found every
    facade camera reported as "overloaded")."""
    from pipelines.overload import MAX_LEVEL, OverloadGovernor

    runner = runner_parts()
    clock = [0.0]
    runner.governor = OverloadGovernor(monotonic=lambda: clock[0])
    for _ in range(MAX_LEVEL * 2):
        clock[0] += 1.1
        runner.governor.report(5.0)
    assert runner.governor.level == MAX_LEVEL
    runner._pace(runner.analysis, a_frame(1.0))
    _fresh, windows = runner._windows(None)
    assert windows["overloaded"] is False
    assert runner.analysis.detect_fps == runner.analysis.detect_fps_target


def test_a_hazard_edit_rebuilds_the_action_hooks_of_the_changed_zones(
    runner_parts: MakeRunner, tmp_path: Path
) -> None:
    """A zone editor save can rename a zone or change its door action: the hooks follow the
    new hazards (they were built once at start), an unchanged zone keeps its hook, and a
    removed one's worker ends."""

    def with_action(video: Path) -> HazardwatchConfig:
        config = lift_config(video)
        raw = config.model_dump(mode="json")
        raw["cameras"][CAMERA]["hazards"][0]["action"] = {"command": ["true"], "timeout_s": 5}
        return HazardwatchConfig.model_validate(raw)

    runner = runner_parts(with_action, HeldDetector())
    assert set(runner._hooks) == {"lift"}
    old = runner._hooks["lift"]
    runner.start()
    wait_until(lambda: runner.events_total >= 1)
    zones = tmp_path / "data" / "zones" / f"{CAMERA}.json"
    zones.parent.mkdir(parents=True, exist_ok=True)
    square = {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}
    action = {"command": ["true"], "timeout_s": 5}
    zones.write_text(
        json.dumps(
            {
                "zones": {"lift": square, "car": square},
                "hazards": [
                    {"kind": "ebike_entry", "zone": "lift", "min_duration_s": 0, "action": action},
                    {"kind": "ebike_entry", "zone": "car", "min_duration_s": 0, "action": action},
                ],
            }
        )
    )
    runner.reload_zones()
    wait_until(lambda: set(runner._hooks) == {"lift", "car"})
    assert runner._hooks["lift"] is old  # unchanged: kept
    zones.write_text(
        json.dumps(
            {
                "zones": {"car": square},
                "hazards": [{"kind": "ebike_entry", "zone": "car", "min_duration_s": 0}],
            }
        )
    )
    runner.reload_zones()
    wait_until(lambda: runner._hooks == {})
    wait_until(lambda: not old._worker.is_alive(), timeout_s=15)
