"""Batching detection requests from many camera pipelines into few session runs.

:class:`BatchingDetector` owns one worker thread, the only thread that touches the wrapped
detector (and so its session and buffers). Callers in any thread call :meth:`detect` (or
:meth:`submit` for a future); their images are checked in the caller's thread, so one camera's
bad frame never fails another camera's batch. The worker takes the oldest request, waits at
most ``max_wait_ms`` from when that request was submitted for others to join, up to
``max_batch_size`` images, runs the detector once, and hands each caller its own slice of the
result. A failure of the run is delivered to every caller in that batch (as an
:class:`~models.errors.InferenceError` whose cause is the original), logged and counted; it is
never swallowed. A model with a fixed batch of 1 gets batches of 1: nothing is gained by waiting.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from models.detector import Detector, OnnxDetector
from models.errors import DetectorClosedError, InferenceError, InputImageError
from models.letterbox import check_image
from models.spec import DetectorSpec
from vision.types import Detections

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchingStats:
    """Counters of a :class:`BatchingDetector` at one moment.

    Attributes:
        requests: requests completed (with a result or an error).
        images: images in those requests.
        batches: session runs (calls of the wrapped detector).
        failed_batches: runs that raised; each of their callers got the error.
        batch_images: histogram, number of images in a run -> number of runs.
        wait_ms_total: summed time requests spent queued before their run started.
    """

    requests: int = 0
    images: int = 0
    batches: int = 0
    failed_batches: int = 0
    batch_images: Mapping[int, int] = field(default_factory=dict)
    wait_ms_total: float = 0.0

    @property
    def mean_batch_images(self) -> float:
        return self.images / self.batches if self.batches else 0.0


class _Request:
    __slots__ = ("future", "images", "submitted_s")

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.future: Future[list[Detections]] = Future()
        self.submitted_s = time.monotonic()


_STOP = object()


class BatchingDetector:
    """A thread-safe front for one detector that batches concurrent requests.

    Args:
        detector: the detector to run (only the worker thread calls it).
        max_batch_size: most images per run; capped at ``detector.max_batch_size`` (so a
            fixed-batch-1 model runs requests one by one). Default: the detector's.
        max_wait_ms: longest the oldest request waits for others to join its batch.
        name: thread name suffix for logs.
    """

    def __init__(
        self,
        detector: Detector,
        max_batch_size: int | None = None,
        max_wait_ms: float = 5.0,
        name: str = "detector",
    ) -> None:
        if max_batch_size is not None and max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if not 0.0 <= max_wait_ms <= 1000.0:
            raise ValueError(f"max_wait_ms must lie in [0, 1000], got {max_wait_ms}")
        inner_max = detector.max_batch_size
        self.max_batch_size = min(max_batch_size or inner_max, inner_max)
        self.max_wait_ms = max_wait_ms
        self._detector = detector
        self._queue: queue.Queue[object] = queue.Queue()
        self._submit_lock = threading.Lock()
        self._closed = False
        self._stats_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._batch_images: Counter[int] = Counter()
        self._wait_ms_total = 0.0
        self._thread = threading.Thread(target=self._work, name=f"batching-{name}", daemon=True)
        self._thread.start()

    @classmethod
    def from_spec(cls, spec: DetectorSpec, name: str = "detector") -> BatchingDetector:
        """Load ``spec``'s model and batch with its ``batch_max_size`` and ``batch_max_wait_ms``.

        Raises:
            ModelError: see :class:`models.detector.OnnxDetector`.
        """
        detector = OnnxDetector(spec)
        return cls(detector, spec.batch_max_size, spec.batch_max_wait_ms, name=name)

    @property
    def detector(self) -> Detector:
        """The wrapped detector (its labels, class roles, input size...)."""
        return self._detector

    @property
    def labels(self) -> tuple[str, ...]:
        return self._detector.labels

    @property
    def closed(self) -> bool:
        return self._closed

    # -- callers' side -------------------------------------------------------------------------

    def submit(self, images: Sequence[np.ndarray]) -> Future[list[Detections]]:
        """Queue ``images`` for detection; the future gets one Detections per image.

        Raises:
            InputImageError: an image is not uint8 (H, W, 3) (checked here, in the caller).
            DetectorClosedError: :meth:`close` was called.
        """
        if isinstance(images, np.ndarray):
            raise InputImageError(
                f"detect() takes a sequence of (H, W, 3) images, got one array of shape "
                f"{tuple(images.shape)} (wrap a single image in a list)"
            )
        checked = [check_image(image, i) for i, image in enumerate(images)]
        request = _Request(checked)
        if not checked:
            request.future.set_result([])
            return request.future
        with self._submit_lock:
            if self._closed:
                raise DetectorClosedError("BatchingDetector is closed")
            self._queue.put(request)
        return request.future

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect in ``images`` (blocks until this request's batch has run).

        Raises:
            InputImageError: an image is not uint8 (H, W, 3).
            InferenceError: the run of this request's batch failed (``__cause__`` has why).
            DetectorClosedError: the detector was closed before the request ran.
        """
        return self.submit(images).result()

    def stats(self) -> BatchingStats:
        """A snapshot of the counters."""
        with self._stats_lock:
            return BatchingStats(
                requests=self._counts["requests"],
                images=self._counts["images"],
                batches=self._counts["batches"],
                failed_batches=self._counts["failed_batches"],
                batch_images=MappingProxyType(dict(self._batch_images)),
                wait_ms_total=self._wait_ms_total,
            )

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop accepting requests, finish those already queued, stop the worker.

        Idempotent. Requests still queued when the worker stops (only possible if it was stuck
        past ``timeout_s``) fail with :class:`DetectorClosedError`.
        """
        with self._submit_lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.error("batching worker did not stop within %.1f s", timeout_s)
        else:
            self._fail_queued()

    def __enter__(self) -> BatchingDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- worker side ---------------------------------------------------------------------------

    def _work(self) -> None:
        carry: _Request | None = None
        stopping = False
        while not stopping:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if not isinstance(first, _Request):
                break
            batch, carry, stopping = self._gather(first)
            self._run(batch)
        if carry is not None:
            carry.future.set_exception(DetectorClosedError("BatchingDetector was closed"))

    def _gather(self, first: _Request) -> tuple[list[_Request], _Request | None, bool]:
        """Collect requests after ``first`` until the batch is full or its wait is over."""
        batch, count = [first], len(first.images)
        deadline = first.submitted_s + self.max_wait_ms / 1000.0
        while count < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if not isinstance(item, _Request):
                return batch, None, True
            if count + len(item.images) > self.max_batch_size:
                return batch, item, False
            batch.append(item)
            count += len(item.images)
        return batch, None, False

    def _run(self, batch: list[_Request]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        images = [image for r in live for image in r.images]
        started = time.monotonic()
        failed = False
        try:
            results = self._detector.detect(images)
            if len(results) != len(images):
                raise InferenceError(
                    f"detector returned {len(results)} results for {len(images)} images"
                )
        except Exception as exc:  # delivered to every caller below, never swallowed
            failed = True
            logger.exception("detection batch of %d images failed", len(images))
            for r in live:
                error = InferenceError(
                    f"detection batch of {len(images)} images ({len(live)} requests) failed: {exc}"
                )
                error.__cause__ = exc
                r.future.set_exception(error)
        else:
            offset = 0
            for r in live:
                r.future.set_result(results[offset : offset + len(r.images)])
                offset += len(r.images)
        self._count(live, len(images), started, failed)

    def _count(self, live: list[_Request], images: int, started: float, failed: bool) -> None:
        with self._stats_lock:
            self._counts["requests"] += len(live)
            self._counts["images"] += images
            self._counts["batches"] += 1
            self._counts["failed_batches"] += int(failed)
            self._batch_images[images] += 1
            self._wait_ms_total += sum((started - r.submitted_s) * 1000.0 for r in live)

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Request) and item.future.set_running_or_notify_cancel():
                item.future.set_exception(DetectorClosedError("BatchingDetector was closed"))
