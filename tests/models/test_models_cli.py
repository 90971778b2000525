"""``hazardwatch models list|pull|import|validate`` through the real CLI entry point."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from model_assets import COCO_IMAGES, COCO_NAMES, YOLOX

from hazardwatch.cli import main

IMAGE = COCO_IMAGES / "000000009769.jpg"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("HAZARDWATCH_MODELS_DIR", str(root))
    return root


def _stored(registry: Path, pattern: str) -> list[Path]:
    return sorted(registry.glob(pattern)) if registry.exists() else []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_import_list_and_validate(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "import", str(YOLOX), "--name", "yolox-nano"]) == 0
    assert "imported" in capsys.readouterr().out

    assert main(["models", "list", "--json"]) == 0
    (manifest,) = json.loads(capsys.readouterr().out)
    assert manifest["name"] == "yolox-nano"
    assert manifest["sha256"] == hashlib.sha256(YOLOX.read_bytes()).hexdigest()
    assert manifest["size_bytes"] == YOLOX.stat().st_size
    assert (manifest["family"], manifest["input_size"], manifest["dynamic_batch"]) == (
        "yolox",
        [416, 416],
        False,
    )
    assert manifest["labels"][3] == "motorbike" and manifest["label_source"] == "coco80_assumed"
    assert (registry / "yolox-nano.onnx").read_bytes() == YOLOX.read_bytes()

    assert main(["models", "validate", "yolox-nano", "--image", str(IMAGE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["model", "family", "input_size", "detections"]
    assert (report["model"], report["family"], report["input_size"]) == ("yolox-nano", "yolox", 416)
    first = report["detections"][0]
    assert list(first) == ["label", "score", "xyxy"]
    assert first["label"] == "truck" and abs(first["score"] - 0.89) <= 0.05
    assert [round(v) for v in first["xyxy"]] == pytest.approx([78, 181, 466, 376], abs=2)
    assert {d["label"] for d in report["detections"]} == {"truck", "car", "person"}


def test_validate_a_file_path_with_a_labels_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = tmp_path / "coco.txt"
    names = COCO_NAMES.read_text().splitlines()
    labels.write_text("\n".join(["motorcycle" if n == "motorbike" else n for n in names]) + "\n")
    argv = ["models", "validate", str(YOLOX), "--image", str(IMAGE), "--labels-file", str(labels)]
    assert main([*argv, "--json", "--score-threshold", "0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["label"] for d in report["detections"]] == ["truck", "car"]
    assert main(argv) == 0
    assert "truck" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["validate", "{junk}", "--image", "{image}"], "not a loadable ONNX model", id="non-onnx"
        ),
        pytest.param(
            ["validate", "nope", "--image", "{image}"],
            "no model 'nope' in the registry",
            id="unknown",
        ),
        pytest.param(
            ["validate", "{tmp}/gone.onnx", "--image", "{image}"],
            "gone.onnx does not exist",
            id="missing",
        ),
        pytest.param(
            ["validate", "{yolox}", "--image", "{junk}"],
            "not an image OpenCV can read",
            id="bad-image",
        ),
        pytest.param(
            ["validate", "{yolox}", "--image", "{image}", "--providers", "cuda"],
            "cuda is not available",
            id="provider",
        ),
        pytest.param(["import", "{junk}"], "not a loadable ONNX model", id="import-non-onnx"),
        pytest.param(
            ["import", "{yolox}", "--name", "Bad Name"], "model name 'Bad Name' must be", id="name"
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, message
) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    fill = {"junk": junk, "image": IMAGE, "yolox": YOLOX, "tmp": tmp_path}
    assert main(["models", *(a.format(**fill) for a in argv)]) == 2
    assert message in capsys.readouterr().err
    assert not _stored(registry, "*.onnx")


def test_import_twice_needs_force(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "import", str(YOLOX), "--name", "m"]) == 0
    assert main(["models", "import", str(YOLOX), "--name", "m"]) == 2
    assert "already in" in capsys.readouterr().err
    assert main(["models", "import", str(YOLOX), "--name", "m", "--force"]) == 0


@pytest.mark.parametrize("name", ["yolox-nano", "yolo11n"])
def test_pull_offline_fails_fast_saying_how_to_import(
    registry: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    monkeypatch.setenv("HAZARDWATCH_EXPORT_PYTHON", sys.executable)  # reach the download step
    url = f"http://127.0.0.1:{_closed_port()}/{name}.bin"
    started = time.monotonic()
    assert main(["models", "pull", name, "--url", url, "--timeout-s", "5"]) == 2
    assert time.monotonic() - started < 5.0
    err = capsys.readouterr().err
    assert f"cannot download {name} from {url}" in err
    assert "hazardwatch models import" in err and f"--name {name}" in err
    assert not _stored(registry, "*.json")


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pull_verifies_the_download(
    registry: Path, http_root: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, base = http_root
    shutil.copy(YOLOX, root / "yolox_nano.onnx")  # a YOLOX-Nano, but not the official file
    assert main(["models", "pull", "yolox-nano", "--url", f"{base}/yolox_nano.onnx"]) == 2
    err = capsys.readouterr().err
    assert "has 3660092 bytes, expected 3659407; not installed" in err
    assert not _stored(registry, "*.onnx")


def test_list_empty_and_unknown_pull(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list"]) == 0
    assert "no models in" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["models", "pull", "yolov99"])
    assert exited.value.code == 2


def test_list_shows_the_bundled_lift_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`models list` (no --models-dir) shows the models that come with the repository after the
    registry's own: the lift e-bike model of assets/models."""
    monkeypatch.setenv("HAZARDWATCH_MODELS_DIR", str(tmp_path / "store"))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "bundled with hazardwatch" in out
    assert "yolox_nano_lift_ebike_416" in out and "yolox_nano_lift_ebike_416.onnx" in out
    assert main(["models", "list", "--models-dir", str(tmp_path / "store")]) == 0
    assert "bundled with" not in capsys.readouterr().out
