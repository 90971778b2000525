"""DetectorSpec validation, provider choice and session options."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from models.errors import DetectorSpecError, ProviderUnavailableError
from models.session import make_session_options, resolve_providers
from models.spec import DetectorSpec, GraphOptimization, ProviderChoice

TRT, CUDA, OV, CPU = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


@pytest.mark.parametrize(
    ("requested", "available", "expected", "error"),
    [
        pytest.param(["auto"], [CPU], (CPU,), None, id="auto-cpu-only"),
        pytest.param(
            ["auto"], ["AzureExecutionProvider", CPU], (CPU,), None, id="auto-ignores-azure"
        ),
        pytest.param(["auto"], [CPU, CUDA, TRT], (TRT, CUDA, CPU), None, id="auto-trt-first"),
        pytest.param(
            ["auto"], [CPU, OV, CUDA], (CUDA, OV, CPU), None, id="auto-cuda-over-openvino"
        ),
        pytest.param(["cpu", "cuda"], [CPU, CUDA], (CPU, CUDA), None, id="explicit-order-kept"),
        pytest.param(["cuda"], [CPU], None, r"cuda is not available.*available: cpu", id="missing"),
        pytest.param(
            ["openvino", "cpu"], [CPU], None, r"openvino is not available", id="one-missing"
        ),
        pytest.param(
            ["auto"], ["AzureExecutionProvider"], None, r"none of TensorRT", id="auto-none"
        ),
    ],
)
def test_resolve_providers(requested, available, expected, error) -> None:
    choices = [ProviderChoice(p) for p in requested]
    if error:
        with pytest.raises(ProviderUnavailableError, match=error):
            resolve_providers(choices, available)
    else:
        assert resolve_providers(choices, available) == expected


def test_session_options_are_set_explicitly() -> None:
    options = make_session_options(2, 1, GraphOptimization.EXTENDED)
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param(
            {"score_threshold": 1.5},
            r"score_threshold must lie in \[0.0, 1.0\], got 1.5",
            id="score",
        ),
        pytest.param({"iou_threshold": -0.1}, r"iou_threshold", id="iou"),
        pytest.param({"input_size": 100}, r"multiples of 32", id="size-not-32"),
        pytest.param({"input_size": (384, 640, 3)}, r"multiples of 32", id="size-triple"),
        pytest.param(
            {"providers": ["gpu"]}, r"providers\[0\]: unknown provider 'gpu'", id="provider"
        ),
        pytest.param({"providers": ["auto", "cpu"]}, r"'auto' cannot be combined", id="auto-plus"),
        pytest.param({"providers": []}, r"must not be empty", id="no-providers"),
        pytest.param({"family": "yolov5"}, r"'yolov5' is not a valid ModelFamily", id="family"),
        pytest.param({"batch_max_size": 0}, r"batch_max_size", id="batch"),
        pytest.param({"intra_op_threads": 1.5}, r"intra_op_threads must be an int", id="threads"),
        pytest.param({"classes": {"car": ""}}, r"non-empty strings", id="empty-role"),
        pytest.param({"labels": ("a",), "labels_file": "x.txt"}, r"not both", id="labels-twice"),
    ],
)
def test_spec_rejects(kwargs, error) -> None:
    with pytest.raises(DetectorSpecError, match=error):
        DetectorSpec(Path("m.onnx"), **kwargs)


def test_spec_normalises() -> None:
    spec = DetectorSpec(
        Path("m.onnx"), input_size=640, providers=(ProviderChoice.CPU,), classes={"car": "vehicle"}
    )
    assert spec.input_size == (640, 640) and spec.input_hw == (640, 640)
    assert spec.providers == (ProviderChoice.CPU,)
    with pytest.raises(TypeError):
        spec.classes["bus"] = "vehicle"  # type: ignore[index]
    assert DetectorSpec(Path("m.onnx"), input_size=(384, 640)).input_hw == (384, 640)
