"""Detector runtime benchmark: our detect() beside a bare session.run, in the same run.

    python benchmarks/detector.py [--json FILE] [--repeats N] [--yolo11n FILE.onnx]

For YOLOX-Nano (repository assets/; fixed batch 1) and a YOLO11n ONNX export (dynamic batch) at
batch 1, 4 and 8 with 1 and 2 intra-op threads, it times:

- ``bare``: ``session.run`` on a pre-made input tensor (the floor: inference only);
- ``ours``: ``OnnxDetector.detect`` on real BGR photos (letterbox + inference + decode + NMS),

interleaved run by run so that machine noise hits both alike, and reports the medians as ms per
image and images/s, and ``ours / bare`` as the overhead ratio (target <= 1.15 at batch 1). It then
compares 4 requests batched with 4 single calls (target >= 1.3x images/s), both as one
``detect`` of 4 images and through a ``BatchingDetector`` fed by 4 threads.

Without ``--yolo11n`` the model is exported here with ultralytics from its YAML in
``.venv-export`` (random weights, perturbed with a fixed seed so that a few dozen boxes pass the
0.3 threshold on a photo, as on a real scene; untouched random weights give no box at all, which
would flatter the decode cost).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.capacity.references import interleaved  # noqa: E402
from models.batching import BatchingDetector  # noqa: E402
from models.detector import OnnxDetector  # noqa: E402
from models.export import run_export  # noqa: E402
from models.spec import DetectorSpec  # noqa: E402
from pipelines.assets import PRODUCT_ASSETS_DIR  # noqa: E402

ASSETS = PRODUCT_ASSETS_DIR
YOLOX = ASSETS / "models" / "yolox_nano_coco_416.onnx"
IMAGES = sorted((ASSETS / "images" / "coco_val2017").glob("*.jpg"))
EXPORT_PYTHON = REPO / ".venv-export" / "bin" / "python"

RANDOMIZE = """
import sys, torch
from ultralytics import YOLO
torch.manual_seed(0)
model = YOLO("yolo11n.yaml")
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for parameter in model.model.parameters():
        parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.1)
    for branch in model.model.model[-1].cv3:
        branch[-1].bias.fill_(-2.0)
        branch[-1].weight.mul_(0.1)
model.save(sys.argv[1])
"""


def read_photos() -> list[np.ndarray]:
    photos = []
    for path in IMAGES:
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read {path}")
        photos.append(image)
    return photos


def export_yolo11n(work: Path, imgsz: int) -> Path:
    if not EXPORT_PYTHON.is_file():
        raise SystemExit(f"{EXPORT_PYTHON} is absent: pass --yolo11n FILE or create .venv-export")
    weights = work / "yolo11n-random.pt"
    env = {**os.environ, "YOLO_CONFIG_DIR": str(work / "cfg"), "YOLO_OFFLINE": "1"}
    subprocess.run(
        [str(EXPORT_PYTHON), "-c", RANDOMIZE, str(weights)],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return run_export(EXPORT_PYTHON, weights, work / "yolo11n.onnx", imgsz=imgsz, dynamic=True).onnx


def bench_model(
    name: str, path: Path, threads: int, batches: list[int], repeats: int
) -> list[dict[str, Any]]:
    spec = DetectorSpec(path, intra_op_threads=threads, batch_max_size=max(batches), warmup_runs=2)
    detector = OnnxDetector(spec)
    photos = read_photos()
    rows = []
    for batch in batches:
        images = [photos[i % len(photos)] for i in range(batch)]
        tensor = detector.preprocess(images)[0].copy()
        feed = {detector.input_name: tensor}
        timed = interleaved(
            {
                "bare": functools.partial(detector.session.run, None, feed),
                "ours": functools.partial(detector.detect, images),
                "pre": functools.partial(detector.preprocess, images),
            },
            repeats,
        )
        found = sum(len(d) for d in detector.detect(images))
        bare, ours, pre = (timed[k]["wall_s"] for k in ("bare", "ours", "pre"))
        rows.append(
            {
                "model": name,
                "input": f"{detector.input_hw[0]}x{detector.input_hw[1]}",
                "threads": threads,
                "batch": batch,
                "bare_ms_per_image": 1000 * bare / batch,
                "ours_ms_per_image": 1000 * ours / batch,
                "bare_images_per_s": batch / bare,
                "ours_images_per_s": batch / ours,
                "overhead_ratio": ours / bare,
                "preprocess_ms_per_image": 1000 * pre / batch,
                "decode_nms_ms_per_image": 1000 * max(ours - bare - pre, 0.0) / batch,
                "ours_cpu_ms_per_image": 1000 * timed["ours"]["cpu_s"] / batch,
                "detections_per_image": found / batch,
            }
        )
        print_row(rows[-1])
    return rows


def bench_batching(path: Path, threads: int, rounds: int) -> dict[str, Any]:
    """4 requests: one detect() of 4 and a BatchingDetector fed by 4 threads, vs 4 singles."""
    spec = DetectorSpec(path, intra_op_threads=threads, batch_max_size=4, warmup_runs=2)
    detector = OnnxDetector(spec)
    photos = read_photos()[:4]
    timed = interleaved(
        {
            "singles": lambda: [detector.detect([p]) for p in photos],
            "batch4": lambda: detector.detect(photos),
        },
        rounds,
    )

    def threaded(call: Callable[[np.ndarray], Any]) -> float:
        barrier = threading.Barrier(4)

        def worker(photo: np.ndarray) -> None:
            barrier.wait()
            for _ in range(rounds):
                call(photo)

        workers = [threading.Thread(target=worker, args=(p,)) for p in photos]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return 4 * rounds / (time.perf_counter() - start)

    direct_ips = threaded(lambda p: detector.detect([p]))  # 4 cameras, serialised single calls
    with BatchingDetector(detector, max_batch_size=4, max_wait_ms=20) as batching:
        batched_ips = threaded(lambda p: batching.detect([p]))
        stats = batching.stats()
    result = {
        "threads": threads,
        "singles_images_per_s": 4 / timed["singles"]["wall_s"],
        "batch4_images_per_s": 4 / timed["batch4"]["wall_s"],
        "batch4_gain": timed["singles"]["wall_s"] / timed["batch4"]["wall_s"],
        "four_threads_direct_images_per_s": direct_ips,
        "four_threads_batching_images_per_s": batched_ips,
        "batching_detector_gain": batched_ips / direct_ips,
        "batching_mean_batch": stats.mean_batch_images,
    }
    print(
        f"  batching, {threads} thread(s): 4 singles {result['singles_images_per_s']:.1f} img/s, "
        f"one batch of 4 {result['batch4_images_per_s']:.1f} img/s "
        f"(x{result['batch4_gain']:.2f}); 4 threads direct {direct_ips:.1f} img/s, "
        f"through BatchingDetector {batched_ips:.1f} img/s "
        f"(x{result['batching_detector_gain']:.2f}, mean batch {stats.mean_batch_images:.2f})"
    )
    return result


def print_header() -> None:
    print(
        f"  {'model':<11} {'input':<8} {'thr':>3} {'batch':>5} {'bare ms/img':>11} "
        f"{'ours ms/img':>11} {'bare img/s':>10} {'ours img/s':>10} {'ratio':>6} "
        f"{'pre ms':>7} {'post ms':>7} {'cpu ms':>7} {'dets':>5}"
    )


def print_row(r: dict[str, Any]) -> None:
    print(
        f"  {r['model']:<11} {r['input']:<8} {r['threads']:>3} {r['batch']:>5} "
        f"{r['bare_ms_per_image']:>11.2f} {r['ours_ms_per_image']:>11.2f} "
        f"{r['bare_images_per_s']:>10.1f} {r['ours_images_per_s']:>10.1f} "
        f"{r['overhead_ratio']:>6.3f} {r['preprocess_ms_per_image']:>7.2f} "
        f"{r['decode_nms_ms_per_image']:>7.2f} {r['ours_cpu_ms_per_image']:>7.2f} "
        f"{r['detections_per_image']:>5.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per configuration")
    parser.add_argument("--yolo11n", type=Path, help="a YOLO11n ONNX export (dynamic batch)")
    parser.add_argument("--imgsz", type=int, default=640, help="YOLO11n export input size")
    args = parser.parse_args(argv)
    if not YOLOX.exists() or not IMAGES:
        raise SystemExit(f"the model or the COCO photos are missing from {ASSETS}")
    with tempfile.TemporaryDirectory(prefix="bench-detector-") as work:
        yolo11n = args.yolo11n or export_yolo11n(Path(work), args.imgsz)
        print(f"cpu cores: {os.cpu_count()}, repeats: {args.repeats}, images: {len(IMAGES)}")
        print_header()
        rows = []
        for threads in (1, 2):
            rows += bench_model("yolox-nano", YOLOX, threads, [1], args.repeats)
            rows += bench_model("yolo11n", yolo11n, threads, [1, 4, 8], args.repeats)
        batching = [bench_batching(yolo11n, threads, args.repeats) for threads in (1, 2)]
    report = {"rows": rows, "batching": batching, "cpu_count": os.cpu_count()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
