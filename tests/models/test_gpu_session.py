"""GPU inference paths: provider options, the engine cache, I/O binding, the device summary.

What can run here runs here: the options each provider gets, the TensorRT cache folder, and the
I/O-bound run path, which onnxruntime also runs on host memory (``io_binding=True`` on a CPU
session), compared with plain ``session.run`` on the repository's YOLOX-Nano and real photos. The
tests marked ``needs_cuda``/``needs_tensorrt`` run the real GPU providers and skip, saying why,
where :func:`models.devices.gpu_providers_usable` finds none that really starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from model_assets import COCO_IMAGES, YOLOX, read_image
from tiny_onnx import echo_model, grid_cells

from cameras.hwdecode import usable_hwaccels
from models.detector import OnnxDetector
from models.devices import DeviceSummary, device_summary, gpu_providers_usable
from models.errors import DetectorSpecError, ModelLoadError
from models.iobinding import BoundRunner
from models.session import (
    SessionSettings,
    cache_lock,
    engine_build_lock,
    open_session,
    provider_options,
)
from models.spec import (
    ENGINE_CACHE_ENV,
    DetectorSpec,
    GpuSettings,
    GraphOptimization,
    ProviderChoice,
    default_engine_cache_dir,
)
from vision.types import Detections

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
USABLE_GPU = gpu_providers_usable()
needs_cuda = pytest.mark.skipif(
    CUDA not in USABLE_GPU, reason=f"no CUDA execution provider starts here ({USABLE_GPU=})"
)
needs_tensorrt = pytest.mark.skipif(
    TENSORRT not in USABLE_GPU,
    reason=f"no TensorRT execution provider starts here ({USABLE_GPU=})",
)


def _same(a: list[Detections], b: list[Detections], atol: float = 1e-3) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.class_id, y.class_id)
        np.testing.assert_allclose(x.xyxy, y.xyxy, atol=atol)
        np.testing.assert_allclose(x.confidence, y.confidence, atol=atol)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [read_image(path) for path in sorted(COCO_IMAGES.glob("*.jpg"))[:3]]


# --- provider options ----------------------------------------------------------------------------


def test_cuda_options_name_the_device_and_spare_memory() -> None:
    options = provider_options(CUDA, GpuSettings(device_id=1))
    assert options == {
        "device_id": "1",
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
    }


def test_tensorrt_options_cache_engines_in_the_configured_folder(tmp_path: Path) -> None:
    cache = tmp_path / "engines" / "trt"
    options = provider_options(TENSORRT, GpuSettings(tensorrt_fp16=True, engine_cache_dir=cache))
    assert cache.is_dir()  # made, so onnxruntime can write the first engine there
    assert options["trt_engine_cache_enable"] == "True"
    assert options["trt_engine_cache_path"] == str(cache)
    assert options["trt_timing_cache_path"] == str(cache)
    assert options["trt_fp16_enable"] == "True"
    assert provider_options(TENSORRT, GpuSettings(engine_cache_dir=cache))["trt_fp16_enable"] == (
        "False"
    )


def test_cpu_and_openvino_get_no_options() -> None:
    assert provider_options("CPUExecutionProvider", GpuSettings(device_id=3)) == {}
    assert provider_options("OpenVINOExecutionProvider", GpuSettings()) == {}


def test_an_engine_cache_that_cannot_be_made_is_a_load_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelLoadError, match=f"TensorRT engine cache folder {blocker / 'trt'}"):
        provider_options(TENSORRT, GpuSettings(engine_cache_dir=blocker / "trt"))


def test_engine_cache_default_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENGINE_CACHE_ENV, str(tmp_path / "e"))
    assert default_engine_cache_dir() == tmp_path / "e"
    assert GpuSettings().engine_cache == tmp_path / "e"
    monkeypatch.delenv(ENGINE_CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_engine_cache_dir() == tmp_path / "xdg" / "hazardwatch" / "tensorrt"


@pytest.mark.parametrize("device_id", [-1, 64, True, 1.5])
def test_bad_device_ids_are_refused(device_id: object) -> None:
    with pytest.raises(DetectorSpecError, match="device_id"):
        GpuSettings(device_id=device_id)  # type: ignore[arg-type]


def test_spec_refuses_a_gpu_section_of_the_wrong_type() -> None:
    with pytest.raises(DetectorSpecError, match=r"DetectorSpec\.gpu must be GpuSettings"):
        DetectorSpec(YOLOX, gpu={"device_id": 0})  # type: ignore[arg-type]


def test_cpu_session_records_no_provider_options() -> None:
    _, settings = open_session(YOLOX, (ProviderChoice.CPU,), gpu=GpuSettings(device_id=2))
    assert settings.providers == ("CPUExecutionProvider",)
    assert dict(settings.provider_options) == {}
    assert not settings.on_gpu


def test_on_gpu_is_about_the_first_provider() -> None:
    def settings(*providers: str) -> SessionSettings:
        return SessionSettings(providers, 1, 1, GraphOptimization.ALL)

    assert settings(TENSORRT, CUDA, "CPUExecutionProvider").on_gpu
    assert settings(CUDA, "CPUExecutionProvider").on_gpu
    assert not settings("OpenVINOExecutionProvider", CUDA).on_gpu
    assert not settings().on_gpu


# --- I/O binding ---------------------------------------------------------------------------------


def test_cpu_sessions_keep_plain_session_run() -> None:
    detector = OnnxDetector(DetectorSpec(YOLOX, providers=("cpu",), warmup_runs=0))
    assert detector.io_binding is None


def test_bound_path_gives_the_plain_paths_detections(photos: list[np.ndarray]) -> None:
    plain = OnnxDetector(DetectorSpec(YOLOX, providers=("cpu",)))
    bound = OnnxDetector(DetectorSpec(YOLOX, providers=("cpu",), gpu=GpuSettings(io_binding=True)))
    assert bound.io_binding == "cpu"
    expected = plain.detect(photos)
    assert sum(len(d) for d in expected) > 5  # real photos, real boxes
    _same(bound.detect(photos), expected, atol=1e-5)
    _same(bound.detect(photos[::-1]), expected[::-1], atol=1e-5)  # buffers are reused correctly


def test_bound_path_binds_one_buffer_per_batch_shape(tmp_path: Path) -> None:
    hw = (64, 64)
    n = len(grid_cells(hw))
    const = np.zeros((1, 4 + 2, n), np.float32)
    gain = np.zeros_like(const)
    const[0, :, 0] = (20, 20, 10, 10, 0.5, 0.0)
    gain[0, 0, 0] = 30.0  # the box moves with each image's brightness
    gain[0, 4, 0] = 0.4
    path = echo_model(tmp_path / "echo.onnx", const, gain, input_hw=hw)
    spec = DetectorSpec(path, labels=("car", "person"), batch_max_size=4, warmup_runs=1)
    plain = OnnxDetector(spec)
    bound = OnnxDetector(
        DetectorSpec(
            path, labels=("car", "person"), batch_max_size=4, gpu=GpuSettings(io_binding=True)
        )
    )
    runner = bound._bound
    assert isinstance(runner, BoundRunner)
    assert set(runner.shapes) == {(1, 3, 64, 64), (4, 3, 64, 64)}  # the warm-up shapes
    images = [np.full((64, 64, 3), 20 + 40 * i, np.uint8) for i in range(6)]
    for count in (1, 3, 6, 2):
        _same(bound.detect(images[:count]), plain.detect(images[:count]), atol=1e-5)
    assert set(runner.shapes) == {(1, 3, 64, 64), (2, 3, 64, 64), (3, 3, 64, 64), (4, 3, 64, 64)}


def test_bound_runner_refuses_what_it_cannot_bind() -> None:
    session, _ = open_session(YOLOX, (ProviderChoice.CPU,))
    with pytest.raises(ValueError, match="device must be 'cuda' or 'cpu'"):
        BoundRunner(session, "images", "output", "npu")
    runner = BoundRunner(
        session, session.get_inputs()[0].name, session.get_outputs()[0].name, "cpu"
    )
    with pytest.raises(ValueError, match="C-contiguous float32"):
        runner.run(np.zeros((1, 3, 416, 416), np.float64))


# --- device summary ------------------------------------------------------------------------------


def test_device_summary_of_this_machine() -> None:
    summary = device_summary(hwaccels=("cuda",))
    assert isinstance(summary, DeviceSummary)
    assert "CPUExecutionProvider" in summary.providers_available
    assert summary.providers_auto[-1] == "CPUExecutionProvider"
    assert summary.gpu_providers == USABLE_GPU
    assert summary.hwaccels == ("cuda",)
    text = summary.describe()
    assert "inference:" in text and "video decode: cuda" in text
    data = summary.to_dict()
    assert data["providers_auto"] == list(summary.providers_auto)
    if not USABLE_GPU:
        assert summary.device == "cpu"


def test_device_summary_names_the_providers_a_session_really_uses() -> None:
    summary = device_summary(providers_in_use=("CPUExecutionProvider",))
    assert summary.providers_in_use == ("CPUExecutionProvider",)
    assert summary.device == "cpu"
    assert "video decode: not probed" in summary.describe()


# --- real GPUs -----------------------------------------------------------------------------------


@needs_cuda
def test_cuda_detector_binds_on_the_gpu_and_agrees_with_the_cpu(photos: list[np.ndarray]) -> None:
    gpu = OnnxDetector(DetectorSpec(YOLOX, providers=("cuda",)))
    cpu = OnnxDetector(DetectorSpec(YOLOX, providers=("cpu",)))
    assert gpu.session_settings.providers[0] == CUDA
    assert gpu.io_binding == "cuda"
    _same(gpu.detect(photos), cpu.detect(photos), atol=0.5)  # different kernels: near, not equal


@needs_tensorrt
def test_tensorrt_builds_its_engine_into_the_cache(
    tmp_path: Path, photos: list[np.ndarray]
) -> None:
    cache = tmp_path / "trt"
    spec = DetectorSpec(YOLOX, providers=("tensorrt",), gpu=GpuSettings(engine_cache_dir=cache))
    first = OnnxDetector(spec)
    assert first.session_settings.providers[0] == TENSORRT
    assert any(p.suffix == ".engine" for p in cache.iterdir()), list(cache.iterdir())
    again = OnnxDetector(spec)  # from the cache this time
    assert again.warmup_s < first.warmup_s
    cpu = OnnxDetector(DetectorSpec(YOLOX, providers=("cpu",)))
    _same(again.detect(photos), cpu.detect(photos), atol=0.5)


def test_the_probe_model_is_what_onnx_helper_writes() -> None:
    import onnx
    from onnx import TensorProto, helper

    from models.devices import PROBE_MODEL

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
        producer_name="hazardwatch",
    )
    onnx.checker.check_model(model)
    assert model.SerializeToString() == PROBE_MODEL


def test_models_list_device_prints_this_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hazardwatch.cli import main

    store = ["--models-dir", str(tmp_path)]
    assert main(["models", "list", "--device", *store]) == 0
    out = capsys.readouterr().out
    assert "this box:" in out
    expected = f"video decode: {', '.join(usable_hwaccels()) or 'software'}"
    assert expected in out
    assert "inference: " in out and "GPUs: " in out
    assert main(["models", "list", "--device", "--json", *store]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"models", "device"}
    assert data["device"]["hwaccels"] == list(usable_hwaccels())
    assert data["device"]["device"] in ("cpu", "gpu")


# --- TensorRT engine builds, one process at a time -----------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from models.session import cache_lock
with cache_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_process_waits_for_the_engine_cache_lock(tmp_path: Path) -> None:
    cache = tmp_path / "trt"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(cache), "1.0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with cache_lock(cache):
            waited = time.monotonic() - started
        assert waited > 0.5, f"got the lock after {waited:.2f} s while another process held it"
    finally:
        holder.wait(10)
    started = time.monotonic()
    with cache_lock(cache):  # free again: no wait
        assert time.monotonic() - started < 0.5


def test_without_tensorrt_no_lock_is_taken(tmp_path: Path) -> None:
    cache = tmp_path / "trt"
    with engine_build_lock((ProviderChoice.CPU,), GpuSettings(engine_cache_dir=cache)):
        assert not cache.exists()


def test_an_engine_cache_lock_that_cannot_be_made_is_a_load_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    lock = cache_lock(blocker / "trt")
    with pytest.raises(ModelLoadError, match="TensorRT engine cache lock"), lock:
        pass
