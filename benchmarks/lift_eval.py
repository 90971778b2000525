"""E-bike precision/recall of a model on the lift dataset's held-back images (RESULTS.md "Step 6").

    .venv/bin/python -m benchmarks.lift_eval --dataset .cache/lift-dataset \
        --model assets/models/yolox_nano_lift_ebike_416.onnx

The operating score threshold of each model is picked on the dataset's ``val`` split (the lowest
threshold with precision >= ``--min-precision``, best recall there), never on the held-back
``test`` split, and then applied to ``test``. The COCO baseline counts its ``motorbike`` and
``bicycle`` boxes as e-bikes (one class-agnostic NMS over both); the fine-tuned model its
``ebike`` class. Prints one line per model and split, and a JSON summary with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.training.dataset import load_dataset
from models.training.evaluate import count, load_detector, pick_threshold, score_split, sweep

BASELINE = Path(__file__).resolve().parents[1] / "assets" / "models" / "yolox_nano_coco_416.onnx"


def evaluate(dataset_dir: Path, model: Path, min_precision: float) -> dict[str, object]:
    """Threshold picked on val, then e-bike precision/recall on val and test."""
    dataset = load_dataset(dataset_dir)
    detector = load_detector(model)
    counted = (
        {"ebike": ("ebike",)} if "ebike" in detector.labels else {"ebike": ("motorbike", "bicycle")}
    )
    val = score_split(detector, dataset.split("val"), dataset.names, counted)["ebike"]
    test = score_split(detector, dataset.split("test"), dataset.names, counted)["ebike"]
    chosen = pick_threshold(sweep(val, "ebike"), min_precision)
    at_test = count(test, chosen.threshold, "ebike")
    at_03 = count(test, 0.3, "ebike")
    rows = {"val": chosen, "test": at_test, "test@0.30": at_03}
    for split, result in rows.items():
        print(f"{model.name:<34} {split:<9} {result.describe()}")
    return {
        "model": str(model),
        "counted_as_ebike": list(counted["ebike"]),
        "threshold": round(chosen.threshold, 4),
        **{
            split: {"precision": round(r.precision, 3), "recall": round(r.recall, 3),
                    "tp": r.tp, "fp": r.fp, "fn": r.fn, "threshold": round(r.threshold, 4)}
            for split, r in rows.items()
        },
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--min-precision", type=float, default=0.9)
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    summary = [evaluate(args.dataset, m, args.min_precision) for m in [args.baseline, *args.model]]
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
