"""Make the deployed YOLOX ONNX trainable in torch, and write trained weights back into it.

onnx2torch turns the ONNX graph into a torch.fx ``GraphModule`` whose modules are named after the
ONNX nodes (``Conv_41`` ...). Three patches (FIELD-NOTES.md, "Offline fine-tuning") make it
trainable:

1. onnx2torch imports torchvision for its NMS/RoIAlign converters; the torchvision wheel next to
   a CPU torch may fail to import (``operator torchvision::nms does not exist``). YOLOX has
   neither op, so a stub module stands in when the real one does not import.
2. The three head ``Reshape`` constants are ``[1, 85, -1]`` (batch 1); they become ``[0, 85, -1]``
   (ONNX: copy the batch dimension) so any batch runs.
3. The six head sigmoids (objectness and classes of each stride, the ``sigmoid_*`` fx nodes that
   feed the head's ``Concat``) are removed, so training sees logits and its BCE is stable. The
   backbone's SiLU sigmoids are left alone.

Export does not go through ``torch.onnx``: the trained convolution weights are copied into a copy of
the base ONNX file's initializers (module ``Conv_41`` -> node ``Conv_41``'s W and B). The result
has exactly the base graph (same ops, opset, sigmoids and output layout ``[1, N, 5 + C]``), so the
run-time adapter (models/yolox.py) decodes it as it decodes the base.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def _stub_torchvision() -> None:
    try:
        importlib.import_module("torchvision")
        return
    except Exception:  # a broken wheel raises RuntimeError, not ImportError
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    stub = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    def _missing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("torchvision is not usable here (stub for onnx2torch)")

    ops.nms = ops.batched_nms = ops.roi_align = _missing  # type: ignore[attr-defined]
    stub.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"] = stub
    sys.modules["torchvision.ops"] = ops


def _convert(model: onnx.ModelProto) -> torch.fx.GraphModule:
    _stub_torchvision()
    from onnx2torch import convert  # after the stub

    return convert(model)


class ConversionError(Exception):
    """The ONNX graph is not the YOLOX head this module knows how to patch."""


def head_nodes(graph_module: torch.fx.GraphModule) -> tuple[list[Any], list[Any]]:
    """The head's Reshape nodes (3) and the sigmoid nodes feeding their Concats (6)."""
    modules = dict(graph_module.named_modules())
    reshapes, sigmoids = [], []
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or type(modules[node.target]).__name__ != "OnnxReshape":
            continue
        concat = node.args[0]
        if getattr(concat, "op", None) != "call_module":
            continue
        feeding = [
            arg
            for arg in concat.args
            if getattr(arg, "op", None) == "call_module" and str(arg.name).startswith("sigmoid_")
        ]
        if len(feeding) == 2:
            reshapes.append(node)
            sigmoids.extend(feeding)
    if len(reshapes) != 3 or len(sigmoids) != 6:
        raise ConversionError(
            f"expected the YOLOX head's 3 Reshape and 6 sigmoid nodes, found {len(reshapes)} and "
            f"{len(sigmoids)}: is this a YOLOX ONNX export?"
        )
    return reshapes, sigmoids


def load_trainable(onnx_path: Path) -> torch.fx.GraphModule:
    """The ONNX model as a torch module whose output is ``[B, N, 5 + C]`` with logits for
    objectness and classes (box columns as in the ONNX)."""
    graph_module = _convert(onnx.load(str(onnx_path)))
    reshapes, sigmoids = head_nodes(graph_module)
    for node in reshapes:
        shape_node = node.args[1]
        buffer_name = str(shape_node.target)
        owner_name, _, attr = buffer_name.rpartition(".")
        owner = graph_module.get_submodule(owner_name) if owner_name else graph_module
        shape = getattr(owner, attr)
        if shape.numel() != 3 or int(shape[0]) != 1:
            raise ConversionError(f"head Reshape {node.name} has shape {shape.tolist()}")
        patched = shape.clone()
        patched[0] = 0  # ONNX Reshape: 0 copies the input's dimension (the batch)
        setattr(owner, attr, patched)
    for node in sigmoids:
        node.replace_all_uses_with(node.args[0])
        graph_module.graph.erase_node(node)
    graph_module.graph.lint()
    graph_module.recompile()
    return graph_module


def freeze_first(module: torch.nn.Module, fraction: float) -> tuple[int, int]:
    """Freeze the first ``fraction`` of the weights (by count, in graph order).

    Returns:
        (frozen weights, total weights).
    """
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    frozen = 0
    for p in params:
        if frozen + p.numel() <= fraction * total:
            p.requires_grad_(False)
            frozen += p.numel()
        else:
            p.requires_grad_(True)
    return frozen, total


def write_onnx(
    graph_module: torch.nn.Module,
    base_onnx: Path,
    out: Path,
    names: tuple[str, ...],
    metadata: dict[str, str],
) -> None:
    """Copy the trained conv weights into the base ONNX and save it with ``names`` metadata.

    Raises:
        ConversionError: a module's weights have no initializer of the same shape to go to.
    """
    model = onnx.load(str(base_onnx))
    initializers = {init.name: init for init in model.graph.initializer}
    nodes = {node.name: node for node in model.graph.node}
    state = graph_module.state_dict()
    written = 0
    for key, tensor in state.items():
        module_name, _, kind = key.rpartition(".")
        node = nodes.get(module_name)
        if node is None or node.op_type != "Conv" or kind not in ("weight", "bias"):
            continue
        slot = 1 if kind == "weight" else 2
        if len(node.input) <= slot or node.input[slot] not in initializers:
            raise ConversionError(f"ONNX node {module_name} has no {kind} initializer")
        init = initializers[node.input[slot]]
        value = tensor.detach().cpu().numpy().astype(np.float32)
        if tuple(init.dims) != value.shape:
            raise ConversionError(
                f"{key}: trained shape {value.shape} != ONNX {tuple(init.dims)} of {init.name}"
            )
        init.CopyFrom(numpy_helper.from_array(value, init.name))
        written += 1
    if written == 0:
        raise ConversionError(f"no convolution weights of {base_onnx} matched the trained model")
    del model.metadata_props[:]
    for key, value in {**metadata, "names": json.dumps(list(names))}.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
