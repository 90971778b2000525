"""Which family a model belongs to, told from its output shape and metadata.

The shape is the one the model really produced on a probe run at load time (dynamic dimensions
are resolved by then). For an input of H x W, the anchor-free heads at strides 8/16/32 have
``G = (H/8)(W/8) + (H/16)(W/16) + (H/32)(W/32)`` anchors, which separates the layouts:

- YOLOX: (B, G, 5+C), told by rows == G and last dim >= 6;
- Ultralytics raw: (B, 4+C, G), told by last dim == G;
- Ultralytics end-to-end: (B, K, 6), told by last dim 6 and K != G, or ``end2end`` metadata;
- FastestDet: (B, 5+C, H/16, W/16), the only rank-4 layout.

Ultralytics metadata (``author: Ultralytics``) settles the one ambiguity (a 1-class YOLOX has
the same (B, G, 6) shape as an end-to-end export whose K happens to equal G).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models import fastestdet, yolov8, yolox
from models.errors import UnknownModelFamilyError
from models.postprocess import Decoder, DecodeSettings
from models.spec import ModelFamily


@dataclass(frozen=True, slots=True)
class FamilyMatch:
    """A model's family and what its output says about it.

    Attributes:
        family: the family (never ``auto``).
        num_classes: C from the output shape; None for end-to-end outputs, which do not show it.
        end_to_end: the output is already suppressed (B, K, 6).
    """

    family: ModelFamily
    num_classes: int | None
    end_to_end: bool = False


def _candidates(
    output_shape: Sequence[int], input_hw: tuple[int, int], metadata: Mapping[str, str]
) -> list[FamilyMatch]:
    found = []
    if (c := yolox.fit(output_shape, input_hw)) is not None:
        found.append(FamilyMatch(ModelFamily.YOLOX, c))
    if (c := yolov8.fit_raw(output_shape, input_hw)) is not None:
        found.append(FamilyMatch(ModelFamily.YOLOV8, c))
    if yolov8.fit_end_to_end(output_shape, input_hw, metadata):
        found.append(FamilyMatch(ModelFamily.YOLOV8, None, end_to_end=True))
    if (c := fastestdet.fit(output_shape, input_hw)) is not None:
        found.append(FamilyMatch(ModelFamily.FASTESTDET, c))
    return found


def identify_family(
    output_shape: Sequence[int],
    input_hw: tuple[int, int],
    metadata: Mapping[str, str],
    requested: ModelFamily = ModelFamily.AUTO,
    model_name: str = "model",
) -> FamilyMatch:
    """Tell the family of a model from its probed output shape and its metadata.

    Args:
        output_shape: shape of the first output on a probe run.
        input_hw: the input (height_px, width_px) of that run.
        metadata: the ONNX model's custom metadata.
        requested: ``auto``, or the family the config names (then only checked).
        model_name: used in error messages.

    Raises:
        UnknownModelFamilyError: the output fits no family (or not the requested one), or the
            Ultralytics metadata names a task other than ``detect``.
    """
    shape = tuple(int(d) for d in output_shape)
    ultralytics = yolov8.is_ultralytics(metadata)
    task = metadata.get("task", "detect")
    if ultralytics and task != "detect":
        raise UnknownModelFamilyError(
            f"{model_name} is an Ultralytics '{task}' model; only 'detect' models are supported"
        )
    found = _candidates(shape, input_hw, metadata)
    if requested is not ModelFamily.AUTO:
        found = [m for m in found if m.family is requested]
    elif ultralytics and any(m.family is ModelFamily.YOLOV8 for m in found):
        found = [m for m in found if m.family is ModelFamily.YOLOV8]
    if ultralytics and metadata.get("end2end", "").lower() == "true":
        found = [m for m in found if m.end_to_end] or found
    if not found:
        h, w = input_hw
        wanted = (
            "; ".join(
                layout(input_hw)
                for layout in (
                    yolox.expected_layout,
                    yolov8.expected_layout,
                    fastestdet.expected_layout,
                )
            )
            if requested is ModelFamily.AUTO
            else _layout_of(requested, input_hw)
        )
        what = "any supported family" if requested is ModelFamily.AUTO else f"family {requested}"
        raise UnknownModelFamilyError(
            f"{model_name}: output shape {list(shape)} for input {h}x{w} does not fit {what}; "
            f"expected {wanted}"
        )
    return found[0]


def _layout_of(family: ModelFamily, input_hw: tuple[int, int]) -> str:
    layouts = {
        ModelFamily.YOLOX: yolox.expected_layout,
        ModelFamily.YOLOV8: yolov8.expected_layout,
        ModelFamily.FASTESTDET: fastestdet.expected_layout,
    }
    return layouts[family](input_hw)


def make_decoder(
    match: FamilyMatch, input_hw: tuple[int, int], num_classes: int, settings: DecodeSettings
) -> Decoder:
    """The decoder of ``match``'s family for ``input_hw``."""
    if match.family is ModelFamily.YOLOX:
        return yolox.YoloxDecoder(input_hw, num_classes, settings)
    if match.family is ModelFamily.YOLOV8:
        return yolov8.Yolov8Decoder(input_hw, num_classes, settings, match.end_to_end)
    if match.family is ModelFamily.FASTESTDET:
        return fastestdet.FastestDetDecoder(input_hw, num_classes, settings)
    raise UnknownModelFamilyError(f"no decoder for family {match.family}")
