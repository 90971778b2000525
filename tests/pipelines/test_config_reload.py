"""Hot reload of ``detect.model`` on a running pipeline: a real camera runner on a real file
source, real redis-server and publisher, the repository's YOLOX-Nano as the default detector and
a second model registered in a model registry (a small real ONNX model that sees an e-bike).

Changing the config file switches the camera to the other model between two frames, without a
restart; a bad new config is rejected with a logged error naming the problem, and the camera
keeps running on the detector it had. SIGHUP reloads at once, without waiting for the poll.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hazardwatch.services import (
    Pipelines,
    detector_pool,
    make_detector_source,
    reload_on_sighup,
)
from models.labels import read_labels_file
from models.registry import MODELS_DIR_ENV, ModelRegistry
from pipelines.config import load_config
from pipelines.config_reload import ConfigReloader
from pipelines.publish import EventPublisher
from pipelines.runner import CameraRunner, RunnerOptions, run_cameras
from tests.models.model_assets import COCO_NAMES, YOLOX
from tests.pipelines.model_files import ebike_model
from tests.pipelines.test_runner import published_events, wait_until
from tests.support.media import ensure_clip
from tests.support.servers import RedisServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CAMERA = "lift"
POLYGON = [[0.02, 0.02], [0.98, 0.02], [0.98, 0.98], [0.02, 0.98]]


def site(video: Path, lift_model: str, **camera_detect: object) -> dict:
    return {
        "site": {"id": "block_a", "name": "Block A"},
        "detector": {
            "model": str(YOLOX),
            "input_size": 416,
            "labels_file": str(COCO_NAMES),
            "classes": {"motorbike": "ebike", "person": "person"},
        },
        "detectors": {
            "lift_ebike": {
                "model": lift_model,
                "input_size": 64,
                "classes": {"ebike": "ebike", "person": "person"},
            }
        },
        "cameras": {
            CAMERA: {
                "source": str(video),
                "preroll_s": 1,
                "postroll_s": 1,
                "detect": {"fps": 10, **camera_detect},
                "zones": {"car": {"polygon": POLYGON}},
                "hazards": [{"kind": "ebike_entry", "zone": "car", "min_duration_s": 0}],
            }
        },
    }


def write(path: Path, data: dict) -> None:
    """Replace the file as an editor would (whole, with a new modification time)."""
    text = yaml.safe_dump(data, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


Started = tuple[Pipelines, Path, Callable[..., dict]]


@pytest.fixture
def started(
    tmp_path: Path,
    media_cache: Path,
    redis_server: RedisServerProcess,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Started]:
    """The camera running on the default detector (YOLOX), its config file watched; the
    second detector names a model of the registry by its name."""
    poll_interval_s = getattr(request, "param", 0.2)
    video = ensure_clip(media_cache, width=320, height=240, seconds=30.0)
    registry = ModelRegistry(tmp_path / "store")
    registry.import_file(ebike_model(tmp_path / "lift_ebike.onnx"), name="lift-ebike")
    monkeypatch.setenv(MODELS_DIR_ENV, str(registry.root))

    def data(**camera_detect: object) -> dict:
        return site(video, "lift-ebike", **camera_detect)

    path = tmp_path / "site.yaml"
    write(path, data())
    config = load_config(path)
    publisher = EventPublisher(redis_server.url, tmp_path / "spool.sqlite3")
    pool = detector_pool()
    options = RunnerOptions(data_dir=tmp_path / "data", loop_files=True)
    runners = run_cameras(config, make_detector_source(config, tmp_path, pool), publisher, options)
    reloader = ConfigReloader(
        path, config, {r.camera_id: r for r in runners}, pool, poll_interval_s=poll_interval_s
    )
    reloader.start()
    pipelines = Pipelines(publisher, runners, pool, reloader)
    try:
        yield pipelines, path, data
    finally:
        reloader.stop()
        for runner in runners:
            runner.stop()
        pool.close()
        publisher.close()


def analysed_frames(runner: CameraRunner) -> int:
    return runner.analysis.frames


def ebike_starts(server: RedisServerProcess, label: str) -> list[dict]:
    return [
        e
        for e in published_events(server)
        if e["phase"] == "start" and e["kind"] == "ebike_entry" and e["labels"] == [label]
    ]


def test_a_changed_detect_model_switches_the_running_camera_and_a_bad_config_is_rejected(
    started: Started, redis_server: RedisServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    pipelines, path, data = started
    (runner,) = pipelines.runners
    yolox = runner.detector
    wait_until(lambda: analysed_frames(runner) > 5)
    assert runner.analysis.labels == list(read_labels_file(COCO_NAMES))
    assert pipelines.detectors.sessions_built == 1

    write(path, data(model="lift_ebike"))
    wait_until(lambda: runner.analysis.labels == ["person", "ebike"])
    assert runner.detector is not yolox
    assert pipelines.detectors.sessions_built == 2
    # The new model's e-bike is seen and raised, by the same running camera.
    wait_until(lambda: len(ebike_starts(redis_server, "ebike")) >= 1)
    switched = runner.detector

    caplog.set_level(logging.INFO, logger="pipelines.config_reload")
    write(path, data(model="lift_ebke"))
    wait_until(lambda: "rejected" in caplog.text)
    assert "cameras.lift.detect.model: camera 'lift': detect.model 'lift_ebke' is not a " in (
        caplog.text
    )
    assert "did you mean 'lift_ebike'?" in caplog.text
    frames = analysed_frames(runner)
    wait_until(lambda: analysed_frames(runner) > frames + 5)  # still running, same detector
    assert runner.detector is switched
    assert runner.analysis.labels == ["person", "ebike"]

    caplog.clear()
    bad_classes = data()
    bad_classes["detectors"]["lift_ebike"]["classes"] = {"e-bike": "ebike"}
    bad_classes["cameras"][CAMERA]["detect"]["model"] = "lift_ebike"
    bad_classes["cameras"][CAMERA]["detect"]["fps"] = 9  # another size: another stamp
    write(path, bad_classes)
    wait_until(lambda: "rejected" in caplog.text)
    assert (
        "camera 'lift' (ebike_entry) needs class 'e-bike' (role ebike, mapped in "
        "detectors.lift_ebike.classes), which the model of detector 'lift_ebike' "
        "(lift-ebike) does not have; did you mean 'ebike'?" in caplog.text
    )
    assert runner.detector is switched

    # Back to the default: the YOLOX session is reused, not built again.
    write(path, data())
    wait_until(lambda: runner.analysis.labels == list(read_labels_file(COCO_NAMES)))
    assert runner.detector is yolox
    assert pipelines.detectors.sessions_built == 2


@pytest.mark.parametrize("started", [3600.0], indirect=True)
def test_sighup_reloads_without_waiting_for_the_poll(started: Started) -> None:
    pipelines, path, data = started
    (runner,) = pipelines.runners
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(pipelines)
        write(path, data(model="lift_ebike"))
        time.sleep(0.5)
        assert runner.config.detector_name(CAMERA) == "default"  # the poll is an hour away
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: runner.analysis.labels == ["person", "ebike"], timeout_s=20)
        # The registered model replaced in place (models import --force): SIGHUP loads it.
        registry = ModelRegistry(path.parent / "store")
        newer = ebike_model(path.parent / "lift_v2.onnx", names=("person", "ebike", "bicycle"))
        registry.import_file(newer, name="lift-ebike", overwrite=True)
        before = runner.detector
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: runner.analysis.labels == ["person", "ebike", "bicycle"], timeout_s=20)
        assert runner.detector is not before
    finally:
        signal.signal(signal.SIGHUP, previous)
