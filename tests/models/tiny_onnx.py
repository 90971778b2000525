"""Tiny ONNX graphs built with ``onnx.helper`` whose outputs we choose, for exact tests.

Every graph computes ``output[b] = const[0] + gain[0] * mean(images[b])``: with ``gain`` zero the
output is the constant we wrote (known-answer tests); with a non-zero ``gain`` each image's
output depends on its mean brightness, so results of different images differ (batching tests).
These are real ONNX models run by a real onnxruntime session.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # understood by every onnxruntime >= 1.14


def echo_model(
    path: Path,
    const: np.ndarray,
    gain: np.ndarray | None = None,
    input_hw: tuple[int, int] = (64, 64),
    batch: int | str = "batch",
    metadata: Mapping[str, str] | None = None,
    fail_above_batch_1: bool = False,
    input_type: int = TensorProto.FLOAT,
    channels: int | str = 3,
) -> Path:
    """Write a model with input ``images`` [batch, 3, H, W] and output ``output``.

    Args:
        path: where to write the .onnx file.
        const: float32 array of shape (1, *out_dims): the output for a black image.
        gain: float32 array of the same shape added ``mean(image)`` times (default zeros).
        input_hw: fixed input height and width.
        batch: an int for a fixed batch, or a name for a dynamic one.
        metadata: custom metadata (``names``, ``author``...).
        fail_above_batch_1: reshape the per-image mean to a fixed batch of 1, so that a run
            with more than one image fails inside onnxruntime (a real session error).
        input_type: ONNX element type of the input.
        channels: channel dimension of the declared input.
    """
    const = np.asarray(const, np.float32)
    gain = np.zeros_like(const) if gain is None else np.asarray(gain, np.float32)
    if const.shape != gain.shape or const.shape[0] != 1:
        raise ValueError(f"const and gain must share a (1, ...) shape: {const.shape}, {gain.shape}")
    rank = const.ndim
    nodes = []
    source = "images"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["images"], ["images_f"], to=TensorProto.FLOAT))
        source = "images_f"
    nodes.append(helper.make_node("ReduceMean", [source], ["mean"], axes=[1, 2, 3], keepdims=1))
    lead = 1 if fail_above_batch_1 else -1
    shape = np.array([lead] + [1] * (rank - 1), np.int64)
    nodes += [
        helper.make_node("Reshape", ["mean", "mean_shape"], ["mean_r"]),
        helper.make_node("Mul", ["mean_r", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "const"], ["output"]),
    ]
    initializers = [
        numpy_helper.from_array(shape, "mean_shape"),
        numpy_helper.from_array(gain, "gain"),
        numpy_helper.from_array(const, "const"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", input_type, [batch, channels, *input_hw])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, *const.shape[1:]])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def grid_cells(input_hw: tuple[int, int], strides: tuple[int, ...] = (8, 16, 32)) -> list:
    """(stride, gx, gy) of every anchor in YOLOX/Ultralytics output order (written out here,
    independently of the runtime's own grid code)."""
    cells = []
    for stride in strides:
        for gy in range(input_hw[0] // stride):
            for gx in range(input_hw[1] // stride):
                cells.append((stride, gx, gy))
    return cells
