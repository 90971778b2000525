"""The GPU paths against the CPU ones, on whatever this box has (issue 10 "GPU boxes").

    python benchmarks/gpu.py [--seconds 10] [--repeats 3] [--json FILE]

Prints the device summary, then measures in the same run:

- decode: ``VideoSource`` on a 1080p 25 fps 4 Mbit/s H.264 clip (benchmarks/decode.py's), 640-wide
  BGR at 5 fps, in software and with each hardware decoder usable here: CPU ms per second of
  video (this process, all threads) and how many times real time;
- inference: YOLOX-Nano 416 made batchable (models/dynamic_batch.py) at batch 1, 4 and 8, on the
  CPU and on each GPU provider that starts here, with plain ``session.run`` and with I/O binding:
  wall ms per image and CPU ms per image, interleaved run by run so machine noise hits both.

Without a GPU only the software and CPU rows are printed (and the I/O-binding row on the CPU,
which checks that the bound path costs nothing there); the same command on a GPU box gives its
rows beside them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.decode import make_clip, probe_seconds
from cameras.hwdecode import HwAccelKind, HwDecodeRequest, usable_hwaccels
from cameras.source import SourceSettings, VideoSource
from models.detector import OnnxDetector
from models.devices import device_summary, gpu_providers_usable
from models.dynamic_batch import make_batch_dynamic
from models.spec import DetectorSpec, GpuSettings, ProviderChoice
from pipelines.assets import PRODUCT_ASSETS_DIR

YOLOX = PRODUCT_ASSETS_DIR / "models" / "yolox_nano_coco_416.onnx"
COCO_NAMES = PRODUCT_ASSETS_DIR / "models" / "coco80.names"
PROVIDER_CHOICE = {
    "CPUExecutionProvider": ProviderChoice.CPU,
    "CUDAExecutionProvider": ProviderChoice.CUDA,
    "TensorrtExecutionProvider": ProviderChoice.TENSORRT,
}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_case(clip: Path, duration_s: float, hwaccel: str, repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        settings = SourceSettings(
            camera_id="bench",
            url=str(clip),
            width_px=640,
            fps=5.0,
            hwaccel=HwDecodeRequest(HwAccelKind(hwaccel)),
        )
        source = VideoSource(settings)
        cpu0, wall0 = cpu_s(), time.perf_counter()
        frames = sum(1 for _ in source.frames())
        runs.append((cpu_s() - cpu0, time.perf_counter() - wall0, frames, source.status().hwaccel))
    cpu, wall, frames, used = min(runs)
    return {
        "hwaccel": hwaccel,
        "decoded_on": used or "cpu",
        "cpu_ms_per_s": round(cpu * 1000 / duration_s, 1),
        "x_realtime": round(duration_s / wall, 1),
        "frames": frames,
    }


def inference_cases(model: Path, repeats: int) -> list[dict[str, Any]]:
    providers = ["CPUExecutionProvider", *gpu_providers_usable()]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (360, 640, 3), np.uint8) for _ in range(8)]
    rows = []
    for provider in providers:
        detectors = {
            bound: OnnxDetector(
                DetectorSpec(
                    model,
                    providers=(PROVIDER_CHOICE[provider],),
                    labels_file=COCO_NAMES,
                    batch_max_size=8,
                    gpu=GpuSettings(io_binding=bound),
                )
            )
            for bound in (False, True)
        }
        for batch in (1, 4, 8):
            wall: dict[bool, list[float]] = {False: [], True: []}
            cpu: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(repeats):
                for bound, detector in detectors.items():
                    cpu0, wall0 = cpu_s(), time.perf_counter()
                    detector.detect(images[:batch])
                    wall[bound].append((time.perf_counter() - wall0) * 1000 / batch)
                    cpu[bound].append((cpu_s() - cpu0) * 1000 / batch)
            for bound, detector in detectors.items():
                rows.append(
                    {
                        "provider": detector.session_settings.providers[0],
                        "io_binding": detector.io_binding,
                        "batch": batch,
                        "ms_per_image": round(statistics.median(wall[bound]), 2),
                        "cpu_ms_per_image": round(statistics.median(cpu[bound]), 2),
                    }
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of the decode clip")
    parser.add_argument("--repeats", type=int, default=3, help="decode runs (min kept)")
    parser.add_argument("--runs", type=int, default=15, help="inference runs per case (median)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    hwaccels = usable_hwaccels()
    summary = device_summary(hwaccels=hwaccels)
    print(summary.describe())
    clip = make_clip("1080p", args.seconds)
    duration_s, mbps = probe_seconds(clip)
    print(f"\ndecode: {clip.name} ({mbps:.1f} Mbit/s), 640w BGR at 5 fps")
    print(f"  {'hwaccel':<8} {'decoded on':<10} {'CPU ms/s video':>14} {'x realtime':>10}")
    decode = []
    for hwaccel in ("none", *hwaccels):
        row = decode_case(clip, duration_s, hwaccel, args.repeats)
        decode.append(row)
        print(
            f"  {row['hwaccel']:<8} {row['decoded_on']:<10} {row['cpu_ms_per_s']:>14.1f} "
            f"{row['x_realtime']:>10.1f}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        model = Path(scratch) / "yolox_nano_dynamic.onnx"
        make_batch_dynamic(YOLOX, model)
        inference = inference_cases(model, args.runs)
    print("\ninference: YOLOX-Nano 416 (batch made dynamic), 640x360 inputs")
    print(f"  {'provider':<26} {'binding':<8} {'batch':>5} {'ms/img':>8} {'CPU ms/img':>10}")
    for row in inference:
        print(
            f"  {row['provider']:<26} {row['io_binding'] or '-':<8} {row['batch']:>5} "
            f"{row['ms_per_image']:>8.2f} {row['cpu_ms_per_image']:>10.2f}"
        )
    if args.json:
        results = {"device": summary.to_dict(), "decode": decode, "inference": inference}
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
