"""Letterbox geometry (YOLOX, Ultralytics, stretch), preallocated buffers and box inversion."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import InputImageError
from models.letterbox import (
    FASTESTDET_STYLE,
    ULTRALYTICS_STYLE,
    YOLOX_STYLE,
    Letterbox,
    letterbox_geometry,
)


@pytest.mark.parametrize(
    ("image_hw", "input_hw", "style", "resized_wh", "pad_xy", "gain_xy"),
    [
        # YOLOX: r = min(416/427, 416/640) = 0.65; int() truncation; top-left; gain r on both axes
        pytest.param(
            (427, 640), (416, 416), YOLOX_STYLE, (416, 277), (0, 0), (0.65, 0.65), id="yolox-wide"
        ),
        pytest.param(
            (480, 360),
            (416, 416),
            YOLOX_STYLE,
            (312, 416),
            (0, 0),
            (416 / 480,) * 2,
            id="yolox-tall",
        ),
        # Ultralytics: round(), centred with round(pad / 2 - 0.1), per-axis gain new / old
        pytest.param(
            (427, 640),
            (640, 640),
            ULTRALYTICS_STYLE,
            (640, 427),
            (0, 106),
            (1.0, 1.0),
            id="ultra-same-width",
        ),
        pytest.param(
            (90, 170),
            (64, 96),
            ULTRALYTICS_STYLE,
            (96, 51),
            (0, 6),
            (96 / 170, 51 / 90),
            id="ultra-odd-pad",
        ),
        pytest.param(
            (1080, 1920),
            (384, 640),
            ULTRALYTICS_STYLE,
            (640, 360),
            (0, 12),
            (1 / 3, 1 / 3),
            id="ultra-1080p",
        ),
        pytest.param(
            (100, 100),
            (320, 320),
            ULTRALYTICS_STYLE,
            (320, 320),
            (0, 0),
            (3.2, 3.2),
            id="ultra-upscale",
        ),
        pytest.param(
            (480, 640),
            (352, 352),
            FASTESTDET_STYLE,
            (352, 352),
            (0, 0),
            (0.55, 352 / 480),
            id="stretch",
        ),
    ],
)
def test_geometry(image_hw, input_hw, style, resized_wh, pad_xy, gain_xy) -> None:
    geometry = letterbox_geometry(image_hw, input_hw, style)
    assert geometry.resized_wh == resized_wh
    assert geometry.pad_xy == pad_xy
    assert geometry.gain_xy == pytest.approx(gain_xy)


def test_box_inversion_subtracts_pad_divides_gain_and_clips() -> None:
    geometry = letterbox_geometry((90, 170), (64, 96), ULTRALYTICS_STYLE)
    boxes = np.array([[0, 6, 96, 57], [-5, 0, 10, 70]], np.float32)
    geometry.to_image_xyxy(boxes)
    np.testing.assert_allclose(boxes[0], [0, 0, 170, 90], atol=1e-4)
    np.testing.assert_allclose(boxes[1], [0, 0, 10 * 170 / 96, 90], atol=1e-4)


def _image(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(h * 1000 + w)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_yolox_tensor_is_bgr_unscaled_top_left_with_114_pad() -> None:
    box = Letterbox((64, 64), YOLOX_STYLE, max_batch=1)
    image = _image(32, 64)  # exact fit in width, no resize: pixels copied as they are
    tensor, (geometry,) = box([image])
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert geometry.pad_xy == (0, 0) and geometry.resized_wh == (64, 32)
    np.testing.assert_array_equal(tensor[0, :, :32, :], image.transpose(2, 0, 1))
    assert (tensor[0, :, 32:, :] == 114).all()


def test_ultralytics_tensor_is_rgb_over_255_centred() -> None:
    box = Letterbox((64, 64), ULTRALYTICS_STYLE, max_batch=1)
    image = _image(32, 64)
    tensor, (geometry,) = box([image])
    assert geometry.pad_xy == (0, 16)
    expected = image[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(tensor[0, :, 16:48, :], expected)
    assert np.allclose(tensor[0, :, :16, :], 114 / 255) and np.allclose(
        tensor[0, :, 48:, :], 114 / 255
    )


def test_buffers_are_reused_and_the_pad_is_refilled_when_the_geometry_changes() -> None:
    box = Letterbox((64, 64), YOLOX_STYLE, max_batch=2)
    first, _ = box([_image(64, 64), _image(64, 64)])
    tall, (geometry,) = box([np.full((64, 16, 3), 7, np.uint8)])
    assert np.shares_memory(first, tall)  # same preallocated tensor
    assert geometry.resized_wh == (16, 64)
    assert (tall[0, :, :, :16] == 7).all()
    assert (tall[0, :, :, 16:] == 114).all()  # the square image's pixels are gone


def test_fixed_batch_rows_and_bounds() -> None:
    box = Letterbox((32, 32), YOLOX_STYLE, max_batch=4)
    tensor, geometries = box([_image(10, 10)], rows=4)
    assert tensor.shape[0] == 4 and len(geometries) == 1
    with pytest.raises(InputImageError, match=r"takes 1\.\.4 images"):
        box([_image(10, 10)] * 5)
