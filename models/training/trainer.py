"""The training script: ``python -m models.training.trainer DATASET --base BASE --out NEW.onnx``.

Runs in an interpreter with torch and onnx2torch (the ``[train]`` extra; ``.venv-export``).
``hazardwatch models train`` starts it through :mod:`models.training.launcher`, with the same
options. Prints a tqdm progress bar on stderr and, at the end, one JSON line on stdout::

    {"onnx": PATH, "steps": N, "seconds": S, "names": [...], "repurposed": {...}, ...}

An ONNX base is fine-tuned in torch (models/training/yolox_torch.py, loss.py) and written back
into the base graph; an Ultralytics ``.pt`` base is handed to ultralytics' own trainer and its
best weights exported to ONNX (class names in the metadata, as ``models/export.py`` does).
Exit codes: 0 ok, 2 bad input, 1 training failure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from tqdm import tqdm

from models.labels import COCO80, parse_names_metadata
from models.training.augment import AugmentSettings, augment, letterbox
from models.training.dataset import Dataset, DatasetError, LabelledImage, load_dataset
from models.training.ema import WeightAverage
from models.training.loss import yolox_loss
from models.training.options import add_training_options
from models.training.settings import ClassMappingError, SlotMap, TrainSettings, map_slots
from models.training.yolox_torch import ConversionError, freeze_first, load_trainable, write_onnx
from models.yolox import make_grids

MAX_SIDE = 960  # images are kept in memory at most this large (augmentation speed)
CHECKPOINT_EVERY = 250


def base_names(onnx_path: Path) -> tuple[str, ...]:
    """The base model's class names: its ``names`` metadata, else COCO-80 for 80 classes."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "names" in meta:
        return parse_names_metadata(meta["names"])
    dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    if len(dims) == 3 and dims[2] - 5 == len(COCO80):
        return COCO80
    raise ConversionError(
        f"{onnx_path} has no 'names' metadata and {dims[2] - 5 if len(dims) == 3 else '?'} "
        f"classes: cannot tell its class names"
    )


def untrained_classes(names: Sequence[str], items: Sequence[LabelledImage]) -> tuple[str, ...]:
    """The classes of ``names`` without a single box in ``items`` (the train split)."""
    used: set[int] = set()
    for item in items:
        used.update(int(c) for c in item.classes)
    return tuple(name for i, name in enumerate(names) if i not in used)


class Samples:
    """The train split in memory (downscaled), and batches of augmented, letterboxed copies."""

    def __init__(
        self,
        items: list[LabelledImage],
        slot_map: SlotMap,
        imgsz: int,
        rng: np.random.Generator,
        augment_settings: AugmentSettings,
        negative_repeat: int = 1,
    ) -> None:
        self.images: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []
        self.slots: list[np.ndarray] = []
        lookup = np.asarray(slot_map.slots, np.int64)
        for item in items:
            image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(f"{item.image}: not an image OpenCV can read")
            h, w = image.shape[:2]
            scale = min(1.0, MAX_SIDE / max(h, w))
            if scale < 1.0:
                image = cv2.resize(
                    image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA
                )
            h, w = image.shape[:2]
            self.images.append(image)
            self.boxes.append(item.boxes_xyxy(w, h))
            self.slots.append(lookup[item.classes])
        self.imgsz = imgsz
        self.rng = rng
        self.settings = augment_settings
        self._order: list[int] = []
        # Images with nothing of a repurposed class (hard negatives: bicycles, strollers) come
        # ``negative_repeat`` times per epoch: with few of them, the model otherwise learns
        # "two wheels seen from above" as the new class.
        new_slots = [i for i, n in enumerate(slot_map.names) if n in slot_map.repurposed.values()]
        self._epoch = [
            i
            for i, slots in enumerate(self.slots)
            for _ in range(1 if np.isin(slots, new_slots).any() else max(negative_repeat, 1))
        ]

    def _next_index(self) -> int:
        if not self._order:
            self._order = [self._epoch[i] for i in self.rng.permutation(len(self._epoch))]
        return int(self._order.pop())

    def batch(self, size: int) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        tensors, targets = [], []
        for _ in range(size):
            i = self._next_index()
            image, boxes, slots = augment(
                self.images[i], self.boxes[i], self.slots[i], self.rng, self.settings
            )
            scale = float(self.rng.uniform(*self.settings.scale))
            chw, boxes, slots = letterbox(image, boxes, slots, self.imgsz, scale)
            tensors.append(torch.from_numpy(chw))
            targets.append((torch.from_numpy(boxes), torch.from_numpy(slots.astype(np.int64))))
        return torch.stack(tensors), targets


def _lr_at(step: int, progress: float, total: int, peak: float) -> float:
    """Linear warm-up over the first steps, then cosine decay to 5 % along ``progress``."""
    warmup = min(50, max(total // 10, 1))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(max(progress, 0.0), 1.0)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_onnx(
    dataset: Dataset,
    base: Path,
    out: Path,
    settings: TrainSettings,
    repurpose: dict[str, str],
    quiet: bool = False,
) -> dict[str, object]:
    """Fine-tune a YOLOX ONNX on ``dataset``'s train split and write ``out``."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(max(settings.workers, 1))
    rng = np.random.default_rng(settings.seed)
    items = dataset.split("train")
    untrained = untrained_classes(dataset.names, items)
    if len(untrained) == len(dataset.names):
        raise DatasetError(
            f"{dataset.root}: the train split has no box of any class ({', '.join(dataset.names)})"
            ": nothing to learn"
        )
    slot_map = map_slots(dataset.names, base_names(base), repurpose, untrained)
    samples = Samples(
        items, slot_map, settings.imgsz, rng, AugmentSettings(), settings.negative_repeat
    )
    student = load_trainable(base)
    teacher = load_trainable(base)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    frozen, total_weights = freeze_first(student, settings.freeze)
    trainable = [p for p in student.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=5e-4)
    average = WeightAverage(student, settings.ema) if settings.ema > 0 else None
    exported = average.module if average is not None else student
    grids_np, strides_np = make_grids((settings.imgsz, settings.imgsz))
    grids, strides = torch.from_numpy(grids_np), torch.from_numpy(strides_np)
    # The slots the dataset labels exhaustively: the ones it took over from another class.
    negative = torch.tensor(
        [
            slot
            for slot, name in zip(slot_map.slots, dataset.names, strict=True)
            if name in slot_map.repurposed.values()
        ],
        dtype=torch.long,
    )
    steps = settings.total_steps(len(items))
    metadata = {
        "hazardwatch_base": base.name,
        "hazardwatch_dataset": str(dataset.root),
        "hazardwatch_train": json.dumps(asdict(settings)),
        "hazardwatch_repurposed": json.dumps(slot_map.repurposed),
    }
    started = time.monotonic()
    bar = tqdm(range(steps), desc="train", unit="step", disable=quiet, file=sys.stderr)
    last = None
    done = 0
    budget = settings.time_budget_s
    for step in bar:
        elapsed = time.monotonic() - started
        if budget is not None and elapsed >= budget:
            break
        progress = max(step / steps, elapsed / budget if budget else 0.0)
        for group in optimiser.param_groups:
            group["lr"] = _lr_at(step, progress, steps, settings.lr)
        images, targets = samples.batch(settings.batch)
        with torch.no_grad():
            teacher_out = teacher(images)
        parts = yolox_loss(
            student(images), teacher_out, targets, grids, strides, negative, settings.distill
        )
        optimiser.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 10.0)
        optimiser.step()
        if average is not None:
            average.update(student)
        last = parts
        done = step + 1
        bar.set_postfix(
            loss=f"{float(parts.total.detach()):.2f}", box=f"{parts.box:.2f}",
            obj=f"{parts.obj:.2f}", cls=f"{parts.cls:.2f}", kd=f"{parts.distill:.2f}",
            pos=parts.positives,
        )  # fmt: skip
        if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < steps:
            checkpoint = {**metadata, "hazardwatch_steps": str(step + 1)}
            write_onnx(exported, base, out, slot_map.names, checkpoint)
    bar.close()
    write_onnx(exported, base, out, slot_map.names, {**metadata, "hazardwatch_steps": str(done)})
    return {
        "onnx": str(out),
        "steps": done,
        "steps_planned": steps,
        "seconds": round(time.monotonic() - started, 1),
        "names": list(slot_map.names),
        "repurposed": slot_map.repurposed,
        "untrained_classes": list(slot_map.untrained),
        "train_images": len(items),
        "frozen_weights": frozen,
        "total_weights": total_weights,
        "final_loss": round(float(last.total.detach()), 4) if last is not None else None,
    }


def train_ultralytics(
    dataset: Dataset, base: Path, out: Path, settings: TrainSettings
) -> dict[str, object]:
    """Hand a ``.pt`` base to ultralytics' trainer; export its result to ONNX with names."""
    try:
        import torchvision  # noqa: F401  (ultralytics' trainer needs its NMS op)
        from ultralytics import YOLO
    except (ImportError, RuntimeError) as exc:  # a torchvision built for another torch: Runtime
        raise ConversionError(
            f"base {base} is Ultralytics weights, but ultralytics (with a working torchvision) "
            f"cannot be imported in {sys.executable}: {exc}"
        ) from exc
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    data_yaml = out.parent / f".{out.stem}.data.yaml"  # ultralytics wants path/train/val keys
    data_yaml.write_text(
        json.dumps(
            {
                "path": str(dataset.root.resolve()),
                "train": "images/train",
                "val": "images/val",
                "names": dict(enumerate(dataset.names)),
            }
        )
    )
    model = YOLO(str(base))
    epochs = max(math.ceil(settings.epochs or 1), 1)
    freeze_layers = round(settings.freeze * len(model.model.model))
    model.train(
        data=str(data_yaml), epochs=epochs, imgsz=settings.imgsz,
        batch=settings.batch, seed=settings.seed, device="cpu", workers=0, freeze=freeze_layers,
        project=str(out.parent / ".ultralytics-runs"), name=out.stem, exist_ok=True,
        plots=False, verbose=False,
    )  # fmt: skip
    exported = Path(model.export(format="onnx", imgsz=settings.imgsz, simplify=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    exported.replace(out)
    return {
        "onnx": str(out),
        "epochs": epochs,
        "seconds": round(time.monotonic() - started, 1),
        "names": list(model.names.values()),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fine-tune a detector on a YOLO dataset.")
    parser.add_argument("dataset", type=Path, help="dataset folder (data.yaml, images/, labels/)")
    parser.add_argument("--base", required=True, type=Path, help="base ONNX (YOLOX) or .pt")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    add_training_options(parser)
    parser.add_argument("--distill", type=float, default=1.0, help="distillation weight")
    parser.add_argument("--workers", type=int, default=2, help="torch threads")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        steps=args.steps, epochs=args.epochs, freeze=args.freeze, imgsz=args.imgsz,
        batch=args.batch, seed=args.seed, lr=args.lr, distill=args.distill, workers=args.workers,
        time_budget_s=args.time_budget_min * 60 if args.time_budget_min else None,
        negative_repeat=args.negative_repeat, ema=args.ema,
    )  # fmt: skip


def check_settings(settings: TrainSettings) -> str | None:
    """What is wrong with ``settings``, or None."""
    if settings.imgsz % 32 or settings.imgsz < 64:
        return f"--imgsz {settings.imgsz} must be a multiple of 32, at least 64"
    if not 0.0 <= settings.freeze < 1.0:
        return f"--freeze {settings.freeze} must be in [0, 1)"
    if settings.batch < 1 or (settings.steps is not None and settings.steps < 1):
        return "--batch and --steps must be at least 1"
    if settings.epochs is not None and settings.epochs <= 0:
        return f"--epochs {settings.epochs} must be positive"
    if not 0.0 <= settings.ema < 1.0:
        return f"--ema {settings.ema} must be in [0, 1) (0: export the last step's weights)"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    problem = check_settings(settings)
    repurpose = {}
    for item in args.repurpose:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            problem = problem or f"--repurpose {item!r}: expected CLASS=BASE_CLASS"
        repurpose[name] = target
    if not args.base.is_file():
        problem = problem or f"--base {args.base}: no such file"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        dataset = load_dataset(args.dataset, ("train", "val"))
        if args.base.suffix == ".pt":
            report = train_ultralytics(dataset, args.base, args.out, settings)
        else:
            report = train_onnx(dataset, args.base, args.out, settings, repurpose, args.quiet)
    except (DatasetError, ClassMappingError, ConversionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
