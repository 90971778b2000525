"""``hazardwatch models list|pull|import|validate|train`` (ARCHITECTURE.md §3).

``train DATASET --base MODEL --out NEW.onnx`` fine-tunes a model in the training interpreter
(models/training/launcher.py); ``import NEW.onnx --eval DATASET [--replaces MODEL]`` prints
precision/recall per class on the dataset's val split, new against replaced, then registers it.

``validate MODEL --image IMG --json`` prints exactly::

    {"model": ..., "family": ..., "input_size": ..., "detections":
     [{"label": "motorbike", "score": 0.88, "xyxy": [x1, y1, x2, y2]}]}

with boxes in image pixels. MODEL is a registry name or an ONNX file path. Exit codes: 0 ok,
2 bad input (unknown model, non-ONNX file, unknown family, unavailable provider, unreadable
image, failed download...), 1 internal error (a session run failing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2

from models.detector import OnnxDetector
from models.devices import DeviceSummary, device_summary
from models.dynamic_batch import PROOF_BATCH, make_batch_dynamic
from models.errors import InferenceError, ModelError, ModelLoadError
from models.labels import LabelSource
from models.registry import PULL_SOURCES, ModelManifest, ModelRegistry, models_dir
from models.spec import DetectorSpec, ModelFamily, ProviderChoice
from models.training.dataset import DatasetError, load_dataset
from models.training.evaluate import count, load_detector, new_model_repurposed, score_split
from models.training.launcher import TrainLaunchError, find_train_python, run_training
from models.training.options import add_training_options
from models.usage import ModelUse, UsageReader, uses_of

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``models`` and its subcommands to the ``hazardwatch`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="registry folder (default: $HAZARDWATCH_MODELS_DIR or ./models/store)",
    )
    parser = subparsers.add_parser("models", help="model registry: list, pull, import, validate")
    sub = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    p_list = sub.add_parser("list", parents=[common], help="list the registry's models")
    p_list.add_argument("--json", action="store_true", help="print the manifests as JSON")
    p_list.add_argument(
        "--config",
        type=Path,
        help="also show which detectors and cameras of this config use each model (and the "
        "config's models that are not in the registry)",
    )
    p_list.add_argument(
        "--device",
        action="store_true",
        help="also show where inference and video decoding run on this box (execution "
        "providers that start, GPUs, hardware decoders); with --json: {models, device}",
    )
    p_list.set_defaults(func=_cmd_list)

    p_pull = sub.add_parser("pull", parents=[common], help="download a known model")
    p_pull.add_argument("name", choices=sorted(PULL_SOURCES), help="model to pull")
    p_pull.add_argument("--url", help="download from this address instead")
    p_pull.add_argument("--timeout-s", type=float, default=10.0, help="download timeout")
    p_pull.add_argument("--imgsz", type=int, default=640, help="export input size (yolo11n)")
    p_pull.add_argument("--force", action="store_true", help="replace a model of that name")
    p_pull.set_defaults(func=_cmd_pull)

    p_import = sub.add_parser("import", parents=[common], help="add an ONNX file")
    p_import.add_argument("file", type=Path, help="ONNX model file")
    p_import.add_argument("--name", help="registry name (default: from the file name)")
    _add_model_options(p_import)
    p_import.add_argument("--force", action="store_true", help="replace a model of that name")
    p_import.add_argument(
        "--eval", type=Path, metavar="DATASET", help="first score it on DATASET's val split"
    )
    p_import.add_argument("--replaces", metavar="MODEL", help="model to compare with (--eval)")
    p_import.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="rewrite a fixed-batch-1 model to take any batch (proven equal on onnxruntime), so "
        "cameras share session runs on a GPU; needs the onnx package",
    )
    p_import.add_argument(
        "--score-threshold", type=float, default=0.3, help="score threshold of --eval"
    )
    p_import.set_defaults(func=_cmd_import)

    p_train = sub.add_parser("train", parents=[common], help="fine-tune a model on a dataset")
    p_train.add_argument("dataset", type=Path, help="YOLO dataset (data.yaml, images/, labels/)")
    p_train.add_argument("--base", required=True, help="registry name, ONNX file or .pt")
    p_train.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    add_training_options(p_train)
    p_train.set_defaults(func=_cmd_train)

    p_val = sub.add_parser("validate", parents=[common], help="run a model on one image")
    p_val.add_argument("model", help="registry name or ONNX file")
    p_val.add_argument("--image", required=True, type=Path, help="image file (JPEG, PNG...)")
    _add_model_options(p_val)
    p_val.add_argument("--score-threshold", type=float, default=0.3)
    p_val.add_argument("--iou-threshold", type=float, default=0.45)
    p_val.add_argument(
        "--providers",
        nargs="+",
        default=["auto"],
        choices=[p.value for p in ProviderChoice],
        help="execution providers in order of preference",
    )
    p_val.add_argument("--json", action="store_true", help="print the detections as JSON")
    p_val.set_defaults(func=_cmd_validate)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels-file", type=Path, help="class names, one per line")
    parser.add_argument("--input-size", type=int, help="input size for dynamic-size models")
    parser.add_argument(
        "--family",
        default="auto",
        choices=[f.value for f in ModelFamily],
        help="model family (default: detect it)",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _fail(message: object) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _guard(run: Any, args: argparse.Namespace) -> int:
    try:
        return int(run(args))
    except InferenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except ModelError as exc:
        return _fail(exc)


def _cmd_list(args: argparse.Namespace) -> int:
    return _guard(_list, args)


def _cmd_pull(args: argparse.Namespace) -> int:
    return _guard(_pull, args)


def _cmd_import(args: argparse.Namespace) -> int:
    return _guard(_import, args)


def _cmd_validate(args: argparse.Namespace) -> int:
    return _guard(_validate, args)


def _cmd_train(args: argparse.Namespace) -> int:
    return _guard(_train, args)


def _used_by(uses: list[ModelUse]) -> str:
    return "; ".join(f"{use.detector}: {', '.join(use.cameras) or 'no camera'}" for use in uses)


# The models that come with the repository (assets/models: the lift e-bike model with its
# manifest), shown after the registry's own by `models list`.
BUNDLED_MODELS_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"


def _bundled(registry: ModelRegistry) -> list[ModelManifest]:
    """Manifests of the repository's bundled models that the registry does not hold."""
    folder = BUNDLED_MODELS_DIR
    if not folder.is_dir() or folder.resolve() == registry.root.resolve():
        return []
    have = {m.sha256 for m in registry.list()}
    return [m for m in ModelRegistry(folder).list() if m.sha256 not in have]


def _list(args: argparse.Namespace) -> int:
    registry = ModelRegistry(models_dir(args.models_dir))
    manifests = registry.list()
    uses: list[ModelUse] | None = None
    if args.config is not None:
        reader: UsageReader | None = getattr(args, "model_usage", None)
        if reader is None:
            return _fail("--config needs the hazardwatch command line (it reads the config)")
        uses = reader(args.config)
    registered = {m.sha256 for m in manifests}
    others = [u for u in uses or [] if u.sha256 not in registered]
    device = _device(args) if getattr(args, "device", False) else None
    if args.json:
        items: list[dict[str, Any]] = []
        for m in manifests:
            item = m.to_dict()
            if uses is not None:
                item["used_by"] = [u.to_dict() for u in uses_of(m.sha256, uses)]
            items.append(item)
        items += [{"name": None, "registered": False, "used_by": [u.to_dict()]} for u in others]
        if device is not None:
            print(json.dumps({"models": items, "device": device.to_dict()}, indent=2))
        else:
            print(json.dumps(items, indent=2))
        return EXIT_OK
    if not manifests:
        print(f"no models in {registry.root}; known to `models pull`: {', '.join(PULL_SOURCES)}")
    else:
        used = " used by (detector: cameras)" if uses is not None else ""
        print(f"{'name':<20} {'family':<10} {'input':<9} {'batch':<7} {'classes':<22} sha256{used}")
    for m in manifests:
        family = m.family + ("/e2e" if m.end_to_end else "")
        size = f"{m.input_size[0]}x{m.input_size[1]}"
        batch = "dynamic" if m.dynamic_batch else "1"
        classes = f"{len(m.labels)} ({m.label_source})"
        line = f"{m.name:<20} {family:<10} {size:<9} {batch:<7} {classes:<22} {m.sha256[:16]}"
        if uses is not None:
            line += f" {_used_by(uses_of(m.sha256, uses)) or '-'}"
        print(line)
    # an explicit --models-dir lists just that registry
    bundled = _bundled(registry) if args.models_dir is None else []
    if bundled:
        print(f"bundled with hazardwatch ({BUNDLED_MODELS_DIR}; use the file path as a model):")
        for m in bundled:
            print(f"  {m.name:<26} {m.family:<10} {m.file}  {m.sha256[:16]}")
    if others:
        print(f"models of {args.config} not in the registry:")
        for use in others:
            missing = "" if use.sha256 is not None else " (file not found)"
            print(f"  {use.model}{missing}  {_used_by([use])}")
    if device is not None:
        print("this box:")
        for line in device.describe().splitlines():
            print(f"  {line}")
    return EXIT_OK


def _device(args: argparse.Namespace) -> DeviceSummary:
    """This box's devices; the hardware decoders come from the command line (cameras layer)."""
    probe: Callable[[], Sequence[str]] | None = getattr(args, "hwaccels", None)
    return device_summary(hwaccels=probe() if probe is not None else None)


def _pull(args: argparse.Namespace) -> int:
    registry = ModelRegistry(models_dir(args.models_dir))
    manifest = registry.pull(
        args.name, url=args.url, timeout_s=args.timeout_s, imgsz=args.imgsz, overwrite=args.force
    )
    print(f"pulled {manifest.name} into {registry.path_of(manifest)} (sha256 {manifest.sha256})")
    return EXIT_OK


def _model_path(name_or_file: str, models_dir_arg: Path | None) -> Path:
    """A registry name or a model file, as a file path."""
    path = Path(name_or_file)
    if path.is_file():
        return path
    if path.suffix or len(path.parts) > 1:
        raise ModelLoadError(f"model file {path} does not exist")
    registry = ModelRegistry(models_dir(models_dir_arg))
    return registry.path_of(registry.get(name_or_file))


def _train(args: argparse.Namespace) -> int:
    base = _model_path(args.base, args.models_dir)
    python = find_train_python()
    if python is None:
        return _fail(
            "no interpreter with torch and onnx2torch for training: install the [train] extra "
            "(pip install '.[train]'), run `make export-venv`, or set HAZARDWATCH_TRAIN_PYTHON"
        )
    argv = [str(args.dataset.resolve()), "--base", str(base.resolve())]
    argv += ["--out", str(args.out.resolve()), "--freeze", str(args.freeze)]
    argv += ["--imgsz", str(args.imgsz), "--batch", str(args.batch), "--seed", str(args.seed)]
    argv += ["--lr", str(args.lr), "--negative-repeat", str(args.negative_repeat)]
    argv += ["--ema", str(args.ema)]
    argv += ["--steps", str(args.steps)] if args.steps is not None else []
    argv += ["--epochs", str(args.epochs)] if args.epochs is not None else []
    argv += ["--time-budget-min", str(args.time_budget_min)] if args.time_budget_min else []
    for item in args.repurpose:
        argv += ["--repurpose", item]
    argv += ["--quiet"] if args.quiet else []
    try:
        report = run_training(python, argv)
    except TrainLaunchError as exc:
        return _fail(exc)
    untrained = report.get("untrained_classes") or []
    print(
        f"trained {report['onnx']} from {args.base} in {report.get('steps', '?')} steps, "
        f"{report.get('seconds', '?')} s; classes changed: {report.get('repurposed', {})}"
        + (f"; no box in the train split, not trained: {untrained}" if untrained else "")
    )
    return EXIT_OK


def _print_eval(args: argparse.Namespace) -> None:
    """Precision/recall per class on the val split: the new model, then the replaced one."""
    dataset = load_dataset(args.eval, ("val",))
    items = dataset.split("val")
    new = load_detector(args.file)
    repurposed = new_model_repurposed(args.file)
    rows: list[tuple[str, OnnxDetector, dict[str, tuple[str, ...]]]] = [
        (f"new {args.file.name}", new, {})
    ]
    if args.replaces:
        old_path = _model_path(args.replaces, args.models_dir)
        old_counted: dict[str, tuple[str, ...]] = {n: (b,) for b, n in repurposed.items()}
        rows.append((f"replaced {args.replaces}", load_detector(old_path), old_counted))
    print(
        f"evaluation on {args.eval}/images/val ({len(items)} images), IoU >= 0.5, "
        f"score >= {args.score_threshold}:"
    )
    for title, detector, counted in rows:
        scored = score_split(detector, items, dataset.names, counted)
        for name in dataset.names:
            if name not in scored:
                print(f"  {title:<40} {name:<10} (the model has no such class)")
                continue
            result = count(scored[name], args.score_threshold, name)
            print(f"  {title:<40} {result.describe()}")


def _import(args: argparse.Namespace) -> int:
    if args.replaces and not args.eval:
        return _fail("--replaces needs --eval DATASET")
    if args.eval:
        try:
            _print_eval(args)
        except DatasetError as exc:
            return _fail(exc)
    registry = ModelRegistry(models_dir(args.models_dir))
    with tempfile.TemporaryDirectory(prefix="hazardwatch-import-") as scratch:
        path, source = Path(args.file), None
        if args.dynamic_batch:
            path = Path(scratch) / path.name  # same name: the same default registry name
            rewrite = make_batch_dynamic(Path(args.file), path)
            source = f"{Path(args.file).resolve()} (batch made dynamic)"
            print(
                f"batch made dynamic: {rewrite.reshapes} Reshape targets rewritten; a batch of "
                f"{PROOF_BATCH} gives each image its own result (max difference "
                f"{rewrite.max_abs_diff:.2g})"
            )
        manifest = registry.import_file(
            path,
            name=args.name,
            labels_file=args.labels_file,
            family=ModelFamily(args.family),
            input_size=args.input_size,
            source=source,
            overwrite=args.force,
        )
    print(
        f"imported {args.file} as {manifest.name}: {manifest.family}, input "
        f"{manifest.input_size[0]}x{manifest.input_size[1]}, {len(manifest.labels)} classes "
        f"({manifest.label_source}), sha256 {manifest.sha256}"
    )
    return EXIT_OK


def _spec_for(args: argparse.Namespace) -> DetectorSpec:
    model = Path(args.model)
    labels = None
    if not model.is_file() and (model.suffix or len(model.parts) > 1):
        raise ModelLoadError(f"model file {model} does not exist")
    if not model.is_file():
        registry = ModelRegistry(models_dir(args.models_dir))
        manifest = registry.get(args.model)
        model = registry.path_of(manifest)
        if args.labels_file is None and manifest.label_source in (
            LabelSource.LABELS,
            LabelSource.LABELS_FILE,
        ):
            labels = manifest.labels  # names given at import time, not in the file itself
    return DetectorSpec(
        model=model,
        input_size=args.input_size,
        providers=tuple(ProviderChoice(p) for p in args.providers),
        labels=labels,
        labels_file=args.labels_file,
        family=ModelFamily(args.family),
        score_threshold=args.score_threshold,
        iou_threshold=args.iou_threshold,
        batch_max_size=1,
    )


def _validate(args: argparse.Namespace) -> int:
    if not args.image.is_file():
        return _fail(f"--image {args.image}: no such file")
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        return _fail(f"--image {args.image}: not an image OpenCV can read")
    detector = OnnxDetector(_spec_for(args))
    (detections,) = detector.detect([image])
    h, w = detector.input_hw
    report = {
        "model": args.model,
        "family": detector.family.value,
        "input_size": h if h == w else [h, w],
        "detections": [
            {
                "label": detector.labels[int(c)],
                "score": round(float(s), 4),
                "xyxy": [round(float(v), 2) for v in box],
            }
            for box, s, c in zip(
                detections.xyxy, detections.confidence, detections.class_id, strict=True
            )
        ],
    }
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"{args.model}: {report['family']}, input {h}x{w}, {len(detections)} detections")
    for item in report["detections"]:
        x1, y1, x2, y2 = item["xyxy"]
        print(f"  {item['label']:<16} {item['score']:.2f}  [{x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}]")
    return EXIT_OK
