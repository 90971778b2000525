"""onnxruntime sessions: provider choice, session options, loading and warm-up.

``providers: [auto]`` picks, among what onnxruntime reports available, TensorRT > CUDA > OpenVINO
> CPU, keeping the lower ones as fallbacks for operators the first cannot run. An explicit list
is honoured as given; asking for a provider that is not available is a
:class:`~models.errors.ProviderUnavailableError` naming what is available.

Session options are set deliberately rather than left to defaults: on a CPU box serving many
cameras, one intra-op thread per session and cameras in parallel gives the best throughput
(docs/ARCHITECTURE.md §8: 2 threads cost more CPU per image), so ``intra_op_threads`` defaults to 1.

GPU providers get options too (:func:`provider_options`): the GPU index; for CUDA, memory grown
by what is asked (many sessions share one GPU) and heuristic convolution search (batch shapes vary
with the cameras: an exhaustive search per new shape would stall a run); for TensorRT, FP16 when
configured and the engine and timing caches on disk, so that only the first start builds engines.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

try:
    import fcntl
except ImportError:  # not on Windows: TensorRT engine builds are not serialised there
    fcntl = None  # type: ignore[assignment]

from models.errors import ModelLoadError, ProviderUnavailableError
from models.spec import GpuSettings, GraphOptimization, ProviderChoice

logger = logging.getLogger(__name__)

PROVIDER_NAMES: dict[ProviderChoice, str] = {
    ProviderChoice.TENSORRT: "TensorrtExecutionProvider",
    ProviderChoice.CUDA: "CUDAExecutionProvider",
    ProviderChoice.OPENVINO: "OpenVINOExecutionProvider",
    ProviderChoice.CPU: "CPUExecutionProvider",
}
AUTO_ORDER: tuple[ProviderChoice, ...] = (
    ProviderChoice.TENSORRT,
    ProviderChoice.CUDA,
    ProviderChoice.OPENVINO,
    ProviderChoice.CPU,
)
# Providers that run on a CUDA device (I/O binding binds their input there).
GPU_PROVIDERS = frozenset(
    {PROVIDER_NAMES[ProviderChoice.TENSORRT], PROVIDER_NAMES[ProviderChoice.CUDA]}
)
_GRAPH_LEVELS = {
    GraphOptimization.DISABLED: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    GraphOptimization.BASIC: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    GraphOptimization.EXTENDED: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    GraphOptimization.ALL: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# Exceptions onnxruntime raises (they derive from Exception directly, not from RuntimeError).
ORT_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(_ort_state, name)
    for name in (
        "Fail",
        "InvalidArgument",
        "NoSuchFile",
        "NoModel",
        "EngineError",
        "RuntimeException",
        "InvalidProtobuf",
        "ModelLoaded",
        "NotImplemented",
        "InvalidGraph",
        "EPFail",
    )
    if isinstance(getattr(_ort_state, name, None), type)
)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """The session options we set, as applied (for logs, ``models validate`` and benchmarks).

    Attributes:
        providers: onnxruntime provider names in priority order.
        intra_op_threads: threads for one operator (0 = onnxruntime's choice).
        inter_op_threads: threads across operators (0 = onnxruntime's choice).
        graph_optimization: graph optimisation level.
        provider_options: the options given to each GPU provider (name -> options).
    """

    providers: tuple[str, ...]
    intra_op_threads: int
    inter_op_threads: int
    graph_optimization: GraphOptimization
    provider_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        """Whether the first (main) provider runs on a CUDA device."""
        return bool(self.providers) and self.providers[0] in GPU_PROVIDERS


def available_providers() -> tuple[str, ...]:
    """The provider names this onnxruntime build reports as available."""
    return tuple(ort.get_available_providers())


def resolve_providers(
    requested: Sequence[ProviderChoice], available: Sequence[str]
) -> tuple[str, ...]:
    """Turn the configured providers into onnxruntime provider names.

    Args:
        requested: ``(auto,)`` or an explicit list in order of preference.
        available: what onnxruntime reports (:func:`available_providers`).

    Returns:
        onnxruntime provider names in priority order.

    Raises:
        ProviderUnavailableError: an explicitly requested provider is not available, or
            ``auto`` finds none of the supported ones.
    """
    if tuple(requested) == (ProviderChoice.AUTO,):
        chosen = tuple(PROVIDER_NAMES[p] for p in AUTO_ORDER if PROVIDER_NAMES[p] in available)
        if not chosen:
            raise ProviderUnavailableError(
                f"providers [auto]: none of TensorRT, CUDA, OpenVINO, CPU is available; "
                f"onnxruntime reports: {', '.join(available) or 'nothing'}"
            )
        return chosen
    missing = [p for p in requested if PROVIDER_NAMES.get(p) not in available]
    if missing:
        names = ", ".join(p.value for p in missing)
        have = [c.value for c, name in PROVIDER_NAMES.items() if name in available]
        raise ProviderUnavailableError(
            f"execution provider {names} is not available in this onnxruntime build; "
            f"available: {', '.join(have) or 'none'} (onnxruntime reports: {', '.join(available)})"
        )
    return tuple(PROVIDER_NAMES[p] for p in requested)


def provider_options(name: str, gpu: GpuSettings) -> dict[str, str]:
    """onnxruntime options for provider ``name`` (empty for CPU and OpenVINO).

    Raises:
        ModelLoadError: the TensorRT engine cache folder cannot be created.
    """
    device = str(gpu.device_id)
    if name == PROVIDER_NAMES[ProviderChoice.CUDA]:
        return {
            "device_id": device,
            "arena_extend_strategy": "kSameAsRequested",
            "cudnn_conv_algo_search": "HEURISTIC",
        }
    if name == PROVIDER_NAMES[ProviderChoice.TENSORRT]:
        cache = gpu.engine_cache
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelLoadError(
                f"TensorRT engine cache folder {cache} cannot be created: {exc.strerror or exc} "
                f"(set gpu.engine_cache_dir or $HAZARDWATCH_ENGINE_CACHE_DIR)"
            ) from exc
        return {
            "device_id": device,
            "trt_fp16_enable": str(gpu.tensorrt_fp16),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache),
        }
    return {}


ENGINE_LOCK_NAME = ".build.lock"


@contextlib.contextmanager
def engine_build_lock(providers: Sequence[ProviderChoice], gpu: GpuSettings) -> Iterator[None]:
    """Hold the engine cache's lock while a TensorRT session is made and warmed up.

    Every worker process of a GPU box loads the same model at start. Without the lock each one
    would build the same engine at once (tens of seconds to minutes of GPU each) and write the
    same cache file while another reads it; with it, the first builds and the others wait, then
    load the cached engine. A no-op when TensorRT is not among the providers.

    Raises:
        ModelLoadError: the engine cache folder or its lock file cannot be made.
        ProviderUnavailableError: see :func:`resolve_providers`.
    """
    names = resolve_providers(providers, available_providers())
    if PROVIDER_NAMES[ProviderChoice.TENSORRT] not in names:
        yield
        return
    with cache_lock(gpu.engine_cache):
        yield


@contextlib.contextmanager
def cache_lock(cache: Path) -> Iterator[None]:
    """An exclusive lock on ``cache`` shared by every process of the box (``flock``).

    Raises:
        ModelLoadError: the folder or its lock file cannot be made.
    """
    if fcntl is None:  # no flock (Windows): builds are not serialised
        yield
        return
    path = cache / ENGINE_LOCK_NAME
    try:
        cache.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+b")
    except OSError as exc:
        raise ModelLoadError(
            f"TensorRT engine cache lock {path} cannot be made: {exc.strerror or exc}"
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process building TensorRT engines in %s", cache)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_session_options(
    intra_op_threads: int, inter_op_threads: int, graph_optimization: GraphOptimization
) -> ort.SessionOptions:
    """Session options with threads and graph optimisation set explicitly."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.graph_optimization_level = _GRAPH_LEVELS[graph_optimization]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise
    return options


def open_session(
    path: Path,
    providers: Sequence[ProviderChoice],
    intra_op_threads: int = 1,
    inter_op_threads: int = 1,
    graph_optimization: GraphOptimization = GraphOptimization.ALL,
    gpu: GpuSettings | None = None,
) -> tuple[ort.InferenceSession, SessionSettings]:
    """Load an ONNX model into a session.

    Raises:
        ModelLoadError: the file is missing, unreadable or not a valid ONNX model.
        ProviderUnavailableError: see :func:`resolve_providers`.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist or is not a file")
    gpu = gpu or GpuSettings()
    names = resolve_providers(providers, available_providers())
    options = make_session_options(intra_op_threads, inter_op_threads, graph_optimization)
    per_provider = {name: provider_options(name, gpu) for name in names}
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=options,
            providers=list(names),
            provider_options=[per_provider[name] for name in names],
        )
    except ORT_ERRORS as exc:
        raise ModelLoadError(f"model file {path} is not a loadable ONNX model: {exc}") from exc
    in_use = tuple(session.get_providers())
    settings = SessionSettings(
        providers=in_use,
        intra_op_threads=intra_op_threads,
        inter_op_threads=inter_op_threads,
        graph_optimization=graph_optimization,
        provider_options={n: per_provider[n] for n in in_use if per_provider.get(n)},
    )
    logger.info("loaded %s with %s", path, settings)
    return session, settings


def warm_up(
    session: ort.InferenceSession,
    input_name: str,
    shapes: Sequence[tuple[int, ...]],
    runs: int,
    run: Callable[[np.ndarray], object] | None = None,
) -> float:
    """Run the session ``runs`` times on zeros of each shape; returns the seconds it took.

    The first runs allocate memory and, on GPUs, build engines (TensorRT: one profile covering
    every shape warmed up); doing it at load time keeps that cost off the first real request.
    ``run`` replaces ``session.run`` (the detector's I/O-bound path, so that its device buffers
    are made here too).
    """
    start = time.perf_counter()
    for shape in shapes:
        tensor = np.zeros(shape, np.float32)
        for _ in range(runs):
            if run is not None:
                run(tensor)
            else:
                session.run(None, {input_name: tensor})
    return time.perf_counter() - start
