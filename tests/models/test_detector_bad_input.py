"""Every bad input named in the issue gets a clear error naming what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto
from tiny_onnx import echo_model, grid_cells

from models.detector import OnnxDetector
from models.errors import (
    InputImageError,
    LabelMappingError,
    ModelLoadError,
    ProviderUnavailableError,
    UnknownModelFamilyError,
)
from models.session import available_providers
from models.spec import DetectorSpec, ProviderChoice

LABELS = ("person", "bicycle", "car", "motorbike")
HW = (64, 64)


def _yolox(tmp_path: Path) -> Path:
    out = np.zeros((1, len(grid_cells(HW)), 5 + len(LABELS)), np.float32)
    return echo_model(tmp_path / "yolox.onnx", out, input_hw=HW, batch=1)


@pytest.fixture
def detector(tmp_path: Path) -> OnnxDetector:
    return OnnxDetector(DetectorSpec(_yolox(tmp_path), labels=LABELS, warmup_runs=0))


def test_non_onnx_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a protobuf")
    with pytest.raises(ModelLoadError, match=r"notes\.onnx is not a loadable ONNX model"):
        OnnxDetector(DetectorSpec(path))


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"missing\.onnx does not exist"):
        OnnxDetector(DetectorSpec(tmp_path / "missing.onnx"))


@pytest.mark.parametrize(
    ("out_shape", "metadata", "family", "message"),
    [
        pytest.param((1, 10), None, "auto", r"output shape \[1, 10\].*does not fit any", id="2d"),
        pytest.param(
            (1, 80, 7),
            None,
            "auto",
            r"\[1, 80, 7\] for input 64x64.*YOLOX \[B, 84, 5\+C\]",
            id="rows-not-grid",
        ),
        pytest.param(
            (1, 84, 9),
            None,
            "yolov8",
            r"does not fit family yolov8; expected Ultralytics",
            id="asked",
        ),
        pytest.param(
            (1, 84, 9),
            {"author": "Ultralytics", "task": "segment", "names": "{0: 'a'}", "stride": "32"},
            "auto",
            r"Ultralytics 'segment' model; only 'detect'",
            id="segment-task",
        ),
    ],
)
def test_unknown_family_is_refused(tmp_path: Path, out_shape, metadata, family, message) -> None:
    path = echo_model(
        tmp_path / "m.onnx", np.zeros(out_shape, np.float32), input_hw=HW, metadata=metadata
    )
    with pytest.raises(UnknownModelFamilyError, match=message):
        OnnxDetector(DetectorSpec(path, family=family, labels=LABELS))


def test_mapping_a_class_the_model_lacks_names_it_and_suggests(tmp_path: Path) -> None:
    classes = {"motorcycle": "ebike", "car": "vehicle", "lorry": "vehicle"}
    with pytest.raises(LabelMappingError) as caught:
        OnnxDetector(DetectorSpec(_yolox(tmp_path), labels=LABELS, classes=classes))
    message = str(caught.value)
    assert "'motorcycle' (did you mean 'motorbike'?)" in message
    assert "'lorry'" in message and "'car'" not in message.split("which")[0]
    assert "its labels are: person, bicycle, car, motorbike" in message


def test_labels_count_must_match_the_model(tmp_path: Path) -> None:
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("person\ncar\n")
    with pytest.raises(LabelMappingError, match=r"has 4 classes but labels_file names 2"):
        OnnxDetector(DetectorSpec(_yolox(tmp_path), labels_file=labels_file))


def test_unnamed_classes_of_a_non_coco_model_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabelMappingError, match=r"4 classes and no 'names' metadata"):
        OnnxDetector(DetectorSpec(_yolox(tmp_path)))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        pytest.param(
            [np.zeros((8, 8, 3), np.float32)],
            r"images\[0\] must have dtype uint8, got float32",
            id="float",
        ),
        pytest.param(
            [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)],
            r"images\[1\] must have shape \(H, W, 3\) \(BGR\), got \(8, 8\)",
            id="gray",
        ),
        pytest.param([np.zeros((8, 8, 4), np.uint8)], r"images\[0\].*got \(8, 8, 4\)", id="bgra"),
        pytest.param([np.zeros((0, 8, 3), np.uint8)], r"images\[0\] is empty", id="empty"),
        pytest.param([[1, 2, 3]], r"images\[0\] must be a numpy uint8 array.*got list", id="list"),
        pytest.param(
            np.zeros((8, 8, 3), np.uint8), r"wrap a single image in a list", id="bare-array"
        ),
        pytest.param("frame.jpg", r"takes a sequence of images, got str", id="string"),
    ],
)
def test_bad_images_are_refused(detector: OnnxDetector, images, message) -> None:
    with pytest.raises(InputImageError, match=message):
        detector.detect(images)


def test_unavailable_provider_is_a_clear_error(tmp_path: Path) -> None:
    assert "TensorrtExecutionProvider" not in available_providers()  # a CPU-only machine
    with pytest.raises(
        ProviderUnavailableError, match=r"tensorrt is not available.*available: cpu"
    ):
        OnnxDetector(
            DetectorSpec(_yolox(tmp_path), labels=LABELS, providers=(ProviderChoice.TENSORRT,))
        )


def test_fixed_input_size_mismatch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"fixed input of 64x64 .* input_size 640x640"):
        OnnxDetector(DetectorSpec(_yolox(tmp_path), labels=LABELS, input_size=640))


@pytest.mark.parametrize(
    ("input_type", "channels", "message"),
    [
        pytest.param(TensorProto.UINT8, 3, r"has type tensor\(uint8\); only float32", id="uint8"),
        pytest.param(
            TensorProto.FLOAT,
            1,
            r"shape \['batch', 1, 64, 64\]; expected \[B, 3, H, W\]",
            id="gray",
        ),
    ],
)
def test_unsupported_inputs_are_refused(tmp_path: Path, input_type, channels, message) -> None:
    out = np.zeros((1, 84, 9), np.float32)
    path = echo_model(
        tmp_path / "m.onnx", out, input_hw=HW, input_type=input_type, channels=channels
    )
    with pytest.raises(ModelLoadError, match=message):
        OnnxDetector(DetectorSpec(path, labels=LABELS))
