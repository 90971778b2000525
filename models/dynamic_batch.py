"""Make a fixed-batch-1 ONNX detector take any batch, so cameras share session runs on a GPU.

Exports such as the repository's YOLOX-Nano fix the batch at 1: :class:`BatchingDetector`
then runs every camera's frame on its own. On a GPU a nano model's run costs about the same for
1 and 8 images (launch overhead dominates), so batching across cameras is where a GPU box gains.
Most such graphs fix the batch only in the input, the output and the target shapes of a few
``Reshape`` nodes (YOLOX: three ``[1, 85, -1]``). :func:`make_batch_dynamic` names the batch
dimension of the input and outputs, rewrites a leading 1 of each constant ``Reshape`` target to
0 (ONNX: "copy this dimension from the input"), drops the stale intermediate shapes, and then
proves the result on onnxruntime (CPU): the same output as the original at batch 1, and for a
batch of 3 different inputs, each row equal to that input run alone. A graph that fixes the
batch some other way fails that proof and is refused; nothing half-converted is written.

It needs the ``onnx`` package (the ``[export]`` or ``dev`` extras), imported only when called.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from models.errors import ModelLoadError
from models.session import ORT_ERRORS

BATCH_DIM = "batch"
PROOF_BATCH = 3
_DYNAMIC_HW = 320  # input size used by the proof when height/width are not fixed


@dataclass(frozen=True, slots=True)
class BatchRewrite:
    """What :func:`make_batch_dynamic` changed.

    Attributes:
        reshapes: Reshape targets whose leading 1 became 0.
        outputs: outputs whose batch dimension was named.
        max_abs_diff: largest difference between a row of the batched proof run and the same
            input run alone (float noise only).
    """

    reshapes: int
    outputs: int
    max_abs_diff: float


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ModelLoadError(
            "making a model's batch dynamic needs the onnx package: pip install onnx (it is in "
            "the [export] and [dev] extras)"
        ) from exc
    return onnx


def make_batch_dynamic(source: Path, target: Path) -> BatchRewrite:
    """Write ``source`` with a dynamic batch to ``target``, proven on onnxruntime.

    Raises:
        ModelLoadError: the file is not ONNX, its batch is not a fixed 1, a Reshape takes its
            target from the graph, or the rewritten model does not give each image the result
            it gets alone (the message says which).
    """
    onnx = _onnx()
    from google.protobuf.message import DecodeError
    from onnx import numpy_helper

    source, target = Path(source), Path(target)
    try:
        model = onnx.load(str(source))
    except OSError as exc:
        raise ModelLoadError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except DecodeError as exc:
        raise ModelLoadError(f"{source} is not an ONNX model: {exc}") from exc
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelLoadError(
            f"{source.name}: expected one image input, the model has {[i.name for i in inputs]}"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    if not dims:
        raise ModelLoadError(f"{source.name}: input {inputs[0].name!r} has no shape")
    if dims[0].dim_param or dims[0].dim_value <= 0:
        raise ModelLoadError(f"{source.name}: the batch of {inputs[0].name!r} is already dynamic")
    if dims[0].dim_value != 1:
        raise ModelLoadError(
            f"{source.name}: the batch of {inputs[0].name!r} is fixed at {dims[0].dim_value}; only "
            "a fixed batch of 1 is rewritten"
        )
    dims[0].dim_param = BATCH_DIM  # a oneof: replaces dim_value
    outputs = 0
    for output in graph.output:
        out_dims = output.type.tensor_type.shape.dim
        if out_dims and out_dims[0].dim_value == 1:
            out_dims[0].dim_param = BATCH_DIM
            outputs += 1
    del graph.value_info[:]  # intermediate shapes with batch 1: onnxruntime infers them again
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.output}
    reshapes = 0
    for index, node in enumerate(graph.node):
        if node.op_type != "Reshape":
            continue
        where = f"{source.name}: Reshape {node.name or f'#{index}'}"
        if any(a.name == "allowzero" and a.i for a in node.attribute):
            raise ModelLoadError(f"{where} sets allowzero: 0 cannot mean 'copy the batch' there")
        shape_name = node.input[1]
        if shape_name in initializers:
            shape = numpy_helper.to_array(initializers[shape_name])
        elif shape_name in constants:
            shape = numpy_helper.to_array(constants[shape_name].attribute[0].t)
        else:
            raise ModelLoadError(
                f"{where} takes its target shape from the graph, which is not rewritten"
            )
        if shape.ndim != 1 or shape.size == 0 or shape[0] != 1:
            continue
        rewritten = shape.copy()
        rewritten[0] = 0
        name = f"{shape_name}__{BATCH_DIM}_{index}"
        graph.initializer.append(numpy_helper.from_array(rewritten, name))
        node.input[1] = name
        reshapes += 1
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelLoadError(
            f"{source.name}: the rewritten model is not valid ONNX: {exc}"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        onnx.save(model, str(tmp))
        diff = _prove(source, tmp, inputs[0].name)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return BatchRewrite(reshapes=reshapes, outputs=outputs, max_abs_diff=diff)


def _prove(original: Path, rewritten: Path, input_name: str) -> float:
    """Run both on the CPU; each row of a batched run must be the input's single result."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        old = ort.InferenceSession(str(original), options, providers=["CPUExecutionProvider"])
        new = ort.InferenceSession(str(rewritten), options, providers=["CPUExecutionProvider"])
    except ORT_ERRORS as exc:
        raise ModelLoadError(f"{rewritten.name}: the rewritten model does not load: {exc}") from exc
    shape = [d if isinstance(d, int) and d > 0 else _DYNAMIC_HW for d in old.get_inputs()[0].shape]
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, (PROOF_BATCH, *shape[1:])).astype(np.float32)
    images[1] *= 255.0  # different ranges: rows that mixed up would show
    singles = [old.run(None, {input_name: images[i : i + 1]}) for i in range(PROOF_BATCH)]
    try:
        batched = new.run(None, {input_name: images})
        one = new.run(None, {input_name: images[:1]})
    except ORT_ERRORS as exc:
        raise ModelLoadError(
            f"{original.name}: with a dynamic batch the model fails on a batch of {PROOF_BATCH}: "
            f"the graph fixes the batch somewhere other than Reshape targets ({exc})"
        ) from exc
    worst = 0.0
    for k, (got, alone) in enumerate(zip(one, singles[0], strict=True)):
        if got.shape != alone.shape or not np.array_equal(got, alone):
            raise ModelLoadError(f"{original.name}: output {k} at batch 1 changed in the rewrite")
    for k, out in enumerate(batched):
        expected = np.concatenate([single[k] for single in singles])
        if out.shape != expected.shape:
            raise ModelLoadError(
                f"{original.name}: a batch of {PROOF_BATCH} gives output {k} of shape "
                f"{list(out.shape)}, expected {list(expected.shape)}: the graph fixes the batch "
                "somewhere other than Reshape targets"
            )
        scale = max(1.0, float(np.abs(expected).max()))
        diff = float(np.abs(out - expected).max())
        if diff > 1e-4 * scale:
            raise ModelLoadError(
                f"{original.name}: in a batch of {PROOF_BATCH}, output {k} differs from the "
                f"images run alone by {diff:.3g}: the rewrite mixes images"
            )
        worst = max(worst, diff)
    return worst
