"""Running a session through onnxruntime I/O binding, the input kept on the device.

``session.run(None, {name: array})`` on a CUDA or TensorRT session allocates a device buffer,
copies the input into it and frees it again on every call. :class:`BoundRunner` allocates one
device buffer per batch shape (a detector sees at most ``max_batch_size`` shapes), binds it once,
and on each run copies the letterboxed batch into it (``OrtValue.update_inplace``: one
host-to-device copy) and runs with the binding. The output is bound to host memory: decoding and
NMS run on the CPU, so onnxruntime copies it back at the end of the run and nothing else waits on
the device.

Used only by :class:`models.detector.OnnxDetector`, which serialises calls with its lock (a
binding is not safe to share between threads).
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


class BoundRunner:
    """One session's runs through I/O binding, with the input bound on ``device``.

    Args:
        session: the session to run.
        input_name: the model's single image input.
        output_name: the output decoded by the detector.
        device: ``cuda`` for CUDA/TensorRT sessions; ``cpu`` runs the same path on host memory.
        device_id: the GPU index (the session's provider ``device_id``).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        input_name: str,
        output_name: str,
        device: str,
        device_id: int = 0,
    ) -> None:
        if device not in ("cuda", "cpu"):
            raise ValueError(f"BoundRunner device must be 'cuda' or 'cpu', got {device!r}")
        self.device = device
        self.device_id = device_id
        self._session = session
        self._input_name = input_name
        self._output_name = output_name
        self._bound: dict[tuple[int, ...], tuple[ort.IOBinding, ort.OrtValue]] = {}

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        """The batch shapes bound so far (one device buffer each)."""
        return tuple(self._bound)

    def _binding(self, shape: tuple[int, ...]) -> tuple[ort.IOBinding, ort.OrtValue]:
        entry = self._bound.get(shape)
        if entry is None:
            value = ort.OrtValue.ortvalue_from_shape_and_type(
                shape, np.float32, self.device, self.device_id
            )
            binding = self._session.io_binding()
            binding.bind_ortvalue_input(self._input_name, value)
            binding.bind_output(self._output_name, "cpu")
            entry = (binding, value)
            self._bound[shape] = entry
        return entry

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Run on ``tensor`` (float32, C-contiguous); returns the output in host memory.

        Raises:
            ValueError: ``tensor`` is not a C-contiguous float32 array.
            onnxruntime errors: as ``session.run`` raises them (the caller names the model).
        """
        if tensor.dtype != np.float32 or not tensor.flags.c_contiguous:
            raise ValueError(
                f"BoundRunner.run takes a C-contiguous float32 tensor, got {tensor.dtype} "
                f"(contiguous: {tensor.flags.c_contiguous})"
            )
        binding, value = self._binding(tuple(tensor.shape))
        value.update_inplace(tensor)
        self._session.run_with_iobinding(binding)
        (output,) = binding.copy_outputs_to_cpu()
        return np.asarray(output)
