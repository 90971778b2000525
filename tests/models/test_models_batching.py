"""BatchingDetector: many threads, one session; results go back to their own callers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import echo_model, grid_cells

from models.batching import BatchingDetector
from models.detector import OnnxDetector
from models.errors import DetectorClosedError, InferenceError, InputImageError
from models.spec import DetectorSpec

HW = (64, 64)
LABELS = ("car", "person")


def _echo_outputs(layout: str) -> tuple[np.ndarray, np.ndarray]:
    """One detection whose x position and score grow with the image's mean brightness."""
    n = len(grid_cells(HW))
    if layout == "yolov8":
        const = np.zeros((1, 4 + 2, n), np.float32)
        gain = np.zeros_like(const)
        const[0, :, 0] = (20, 20, 10, 10, 0.5, 0.0)
        gain[0, 0, 0] = 30.0  # cx += 30 * mean, mean in 0..1 (RGB / 255)
        gain[0, 4, 0] = 0.4
        return const, gain
    const = np.zeros((1, n, 5 + 2), np.float32)
    const[0, 0] = (0.5, 0.5, 0.0, 0.0, 0.9, 1.0, 0.0)
    return const, np.zeros_like(const)


@pytest.fixture
def dynamic_model(tmp_path: Path) -> OnnxDetector:
    const, gain = _echo_outputs("yolov8")
    path = echo_model(tmp_path / "echo.onnx", const, gain, input_hw=HW)
    return OnnxDetector(DetectorSpec(path, labels=LABELS, batch_max_size=8))


def _images(count: int) -> list[np.ndarray]:
    return [np.full((64, 64, 3), 20 + 25 * i, np.uint8) for i in range(count)]


def _same(a, b) -> None:
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-4)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-6)
    np.testing.assert_array_equal(a.class_id, b.class_id)


def test_eight_threads_each_get_their_own_result(dynamic_model: OnnxDetector) -> None:
    images = _images(8)
    singles = [dynamic_model.detect([image])[0] for image in images]
    assert len({float(d.xyxy[0, 0]) for d in singles}) == 8  # every image's answer differs
    barrier = threading.Barrier(8)

    def call(i: int):
        barrier.wait()
        return batching.detect([images[i]])

    with BatchingDetector(dynamic_model, max_wait_ms=200) as batching:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(call, range(8)))
        stats = batching.stats()
    for (got,), want in zip(results, singles, strict=True):
        _same(got, want)
    assert (stats.requests, stats.images, stats.failed_batches) == (8, 8, 0)
    assert max(stats.batch_images) > 1 and stats.batches < 8  # requests really were batched


def test_multi_image_requests_are_split_back_in_order(dynamic_model: OnnxDetector) -> None:
    images = _images(6)
    singles = [dynamic_model.detect([image])[0] for image in images]
    with BatchingDetector(dynamic_model, max_batch_size=4, max_wait_ms=200) as batching:
        futures = [
            batching.submit(images[0:1]),
            batching.submit(images[1:4]),
            batching.submit(images[4:6]),
        ]
        results = [f.result(timeout=10) for f in futures]
        stats = batching.stats()
    assert [len(r) for r in results] == [1, 3, 2]
    for got, want in zip([d for r in results for d in r], singles, strict=True):
        _same(got, want)
    assert max(stats.batch_images) <= 4  # the 2-image request did not overflow the batch


def test_fixed_batch_model_is_run_one_by_one(tmp_path: Path) -> None:
    const, _ = _echo_outputs("yolox")
    path = echo_model(tmp_path / "fixed.onnx", const, input_hw=HW, batch=1)
    detector = OnnxDetector(DetectorSpec(path, labels=LABELS, batch_max_size=8))
    assert detector.max_batch_size == 1
    with BatchingDetector(detector, max_batch_size=8, max_wait_ms=50) as batching:
        assert batching.max_batch_size == 1
        futures = [batching.submit([image]) for image in _images(4)]
        assert all(len(f.result(timeout=10)[0]) == 1 for f in futures)
        stats = batching.stats()
    assert dict(stats.batch_images) == {1: 4}


def test_a_session_error_reaches_every_caller_of_the_batch(tmp_path: Path) -> None:
    const, gain = _echo_outputs("yolov8")
    path = echo_model(tmp_path / "broken.onnx", const, gain, input_hw=HW, fail_above_batch_1=True)
    detector = OnnxDetector(DetectorSpec(path, labels=LABELS, warmup_runs=0))
    with BatchingDetector(detector, max_wait_ms=300) as batching:
        futures = [batching.submit([image]) for image in _images(4)]
        for future in futures:
            with pytest.raises(
                InferenceError, match=r"batch of 4 images \(4 requests\) failed"
            ) as caught:
                future.result(timeout=10)
            cause = caught.value.__cause__
            assert isinstance(cause, InferenceError) and "session.run failed" in str(cause)
        (alone,) = batching.detect(_images(1))  # the worker survived: a batch of 1 runs
        stats = batching.stats()
    assert len(alone) == 1
    assert (stats.failed_batches, stats.batches, stats.requests) == (1, 2, 5)


def test_a_bad_image_fails_only_its_caller(dynamic_model: OnnxDetector) -> None:
    with BatchingDetector(dynamic_model, max_wait_ms=0) as batching:
        with pytest.raises(InputImageError, match=r"images\[1\] must have dtype uint8"):
            batching.detect([_images(1)[0], np.zeros((8, 8, 3), np.float32)])
        assert len(batching.detect(_images(1))) == 1
        assert batching.stats().requests == 1


def test_close_finishes_queued_requests_then_refuses(dynamic_model: OnnxDetector) -> None:
    batching = BatchingDetector(dynamic_model, max_wait_ms=200)
    futures = [batching.submit([image]) for image in _images(3)]
    batching.close()
    assert all(len(f.result(timeout=0)) == 1 for f in futures)  # done before close returned
    assert batching.closed
    with pytest.raises(DetectorClosedError):
        batching.detect(_images(1))
    batching.close()  # idempotent
    assert not any(t.name == "batching-detector" for t in threading.enumerate())


def test_from_spec_uses_the_spec_batch_settings(tmp_path: Path) -> None:
    const, gain = _echo_outputs("yolov8")
    path = echo_model(tmp_path / "echo.onnx", const, gain, input_hw=HW)
    spec = DetectorSpec(path, labels=LABELS, batch_max_size=3, batch_max_wait_ms=7.5)
    with BatchingDetector.from_spec(spec) as batching:
        assert (batching.max_batch_size, batching.max_wait_ms) == (3, 7.5)
        assert batching.labels == LABELS
        assert len(batching.detect(_images(5))) == 5


def test_bad_arguments(dynamic_model: OnnxDetector) -> None:
    with pytest.raises(ValueError, match=r"max_batch_size must be >= 1"):
        BatchingDetector(dynamic_model, max_batch_size=0)
    with pytest.raises(ValueError, match=r"max_wait_ms must lie in \[0, 1000\]"):
        BatchingDetector(dynamic_model, max_wait_ms=-1)
