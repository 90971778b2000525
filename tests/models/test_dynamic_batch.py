"""Fixed-batch-1 models made batchable: proven on onnxruntime, refused when the proof fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_assets import COCO_IMAGES, COCO_NAMES, YOLOX, read_image
from onnx import TensorProto, helper, numpy_helper
from tiny_onnx import echo_model, grid_cells

from hazardwatch.cli import main
from models.detector import OnnxDetector
from models.dynamic_batch import make_batch_dynamic
from models.errors import ModelLoadError
from models.spec import DetectorSpec


def test_yolox_nano_becomes_batchable_with_the_same_detections(tmp_path: Path) -> None:
    target = tmp_path / "yolox_dynamic.onnx"
    rewrite = make_batch_dynamic(YOLOX, target)
    assert rewrite.reshapes == 3 and rewrite.outputs == 1  # YOLOX's three [1, 85, -1]
    assert rewrite.max_abs_diff < 1e-4
    fixed = OnnxDetector(DetectorSpec(YOLOX, labels_file=COCO_NAMES))
    dynamic = OnnxDetector(DetectorSpec(target, labels_file=COCO_NAMES, batch_max_size=4))
    assert fixed.max_batch_size == 1 and dynamic.dynamic_batch and dynamic.max_batch_size == 4
    photos = [read_image(p) for p in sorted(COCO_IMAGES.glob("*.jpg"))[:4]]
    alone = [fixed.detect([photo])[0] for photo in photos]
    together = dynamic.detect(photos)  # one session run of 4
    assert sum(len(d) for d in alone) > 5
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)


def _echo(tmp_path: Path, batch: int | str) -> Path:
    n = len(grid_cells((64, 64)))
    const = np.zeros((1, n, 7), np.float32)
    return echo_model(tmp_path / f"echo_{batch}.onnx", const, batch=batch)


def test_a_dynamic_or_larger_fixed_batch_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="is already dynamic"):
        make_batch_dynamic(_echo(tmp_path, "batch"), tmp_path / "out.onnx")
    with pytest.raises(ModelLoadError, match="is fixed at 4; only a fixed batch of 1"):
        make_batch_dynamic(_echo(tmp_path, 4), tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def _batch_fixed_elsewhere(path: Path) -> Path:
    """images [1, 3, 8, 8] -> Reshape [3, -1] -> mean -> [1, 3]: the 3 is not the batch."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["images", "rows"], ["flat"]),
            helper.make_node("ReduceMean", ["flat"], ["means"], axes=[1], keepdims=0),
            helper.make_node("Unsqueeze", ["means", "zero"], ["output"]),
        ],
        "fixed_elsewhere",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3])],
        initializer=[
            numpy_helper.from_array(np.array([3, -1], np.int64), "rows"),
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    return path


def test_a_graph_that_fixes_the_batch_elsewhere_fails_the_proof(tmp_path: Path) -> None:
    source = _batch_fixed_elsewhere(tmp_path / "odd.onnx")
    target = tmp_path / "odd_dynamic.onnx"
    with pytest.raises(ModelLoadError, match="fixes the batch somewhere other than Reshape"):
        make_batch_dynamic(source, target)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["odd.onnx"]  # no temporary left behind


def test_a_file_that_is_not_onnx_is_named(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"garbage\.onnx is not an ONNX model"):
        make_batch_dynamic(garbage, tmp_path / "out.onnx")
    with pytest.raises(ModelLoadError, match=r"cannot read .*missing\.onnx"):
        make_batch_dynamic(tmp_path / "missing.onnx", tmp_path / "out.onnx")


def test_models_import_dynamic_batch_registers_a_batchable_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    args = ["models", "import", str(YOLOX), "--models-dir", str(store)]
    assert main([*args, "--labels-file", str(COCO_NAMES), "--dynamic-batch"]) == 0
    out = capsys.readouterr().out
    assert "batch made dynamic: 3 Reshape targets rewritten" in out
    manifest = json.loads((store / "yolox_nano_coco_416.json").read_text())
    assert manifest["dynamic_batch"] is True
    assert manifest["source"].endswith("yolox_nano_coco_416.onnx (batch made dynamic)")
    assert YOLOX.read_bytes() != (store / "yolox_nano_coco_416.onnx").read_bytes()
