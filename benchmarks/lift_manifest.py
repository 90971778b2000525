"""Write the training manifest of the shipped lift e-bike model (assets/models/).

    .venv/bin/python -m benchmarks.lift_manifest --dataset .cache/lift-dataset \
        --model assets/models/yolox_nano_lift_ebike_416.onnx --train-report REPORT.json \
        --out assets/models/training/yolox_nano_lift_ebike_416.json

Every image the model saw or was scored on (from the dataset's ``manifest.json``: source path in
the shared assets, sha256, split, boxes, licence status), the hand-label files with their sha256,
the base model, the trained model's sha256, the training settings and result line, and the
commands that rebuild it. ``models train`` reproduces the model from ``../shared/assets`` with
these commands (up to the number of steps a time budget allows on a given machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import onnxruntime as ort

from benchmarks.lift_dataset import LABELS_DIR

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "assets" / "models" / "yolox_nano_coco_416.onnx"

COMMANDS = [
    ".venv/bin/python -m benchmarks.lift_dataset --out .cache/lift-dataset",
    "time .venv/bin/hazardwatch models train .cache/lift-dataset "
    "--base assets/models/yolox_nano_coco_416.onnx "
    "--out .cache/lift-train/yolox_nano_lift_ebike_416.onnx "
    "--steps 2000 --time-budget-min 26 --seed 0 --negative-repeat 3",
    ".venv/bin/python -m benchmarks.lift_eval --dataset .cache/lift-dataset "
    "--model assets/models/yolox_nano_lift_ebike_416.onnx",
]

LICENCE_SUMMARY = (
    "The model is derived from third-party CCTV footage and screenshots whose owners gave no "
    "licence (see each image's 'licence'); the base YOLOX-Nano is Apache-2.0. The weights are "
    "shipped for the product's own lift cameras and demo; they are NOT cleared for "
    "redistribution beyond that. A deployer should retrain on footage of their own with the "
    "commands below."
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metadata(model: Path) -> dict[str, str]:
    """The model's ONNX metadata (names, base, dataset, settings, steps) as models train wrote."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument(
        "--base", type=Path, default=REPO / "assets/models/yolox_nano_coco_416.onnx"
    )
    parser.add_argument("--train-report", type=Path, required=True, help="models train result")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    dataset = json.loads((args.dataset / "manifest.json").read_text())
    report = json.loads(args.train_report.read_text())
    manifest = {
        "model": {"file": args.model.name, "sha256": _sha(args.model)},
        "base": {"file": args.base.name, "sha256": _sha(args.base), "licence": "Apache-2.0"},
        "licence_status": LICENCE_SUMMARY,
        "classes": {"names_metadata": "80 COCO slots, slot 3 (motorbike) renamed 'ebike'"},
        "training": report,
        "model_metadata": _metadata(args.model),
        "commands": COMMANDS,
        "hand_labels": {
            f"benchmarks/lift_labels/{p.name}": _sha(p) for p in sorted(LABELS_DIR.glob("*.txt"))
        },
        "dataset": {
            "names": dataset["names"],
            "counts": dataset["counts"],
            "dropped_duplicates_of_test": dataset["dropped_duplicates_of_test"],
            "images": dataset["images"],
        },
    }
    args.out.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
