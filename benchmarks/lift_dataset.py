"""Build the lift e-bike dataset from the shared assets (reproducible; RESULTS.md "Step 6").

    .venv/bin/python -m benchmarks.lift_dataset --out .cache/lift-dataset

Writes the layout ``hazardwatch models train`` reads (models/training/dataset.py), classes
``[ebike, person, bicycle]`` (bicycles are labelled only in the hard negatives we hand-labelled),
from the real lift images of ``$HAZARDWATCH_ASSETS`` (README §4.2, §4.4, §4.5, §3.2):

- ``images/ebike_elevator_labeled/`` (28 screenshots, class 0 ebike, 1 person): train, every
  seventh (by name) in val;
- ``images/ebike_elevator_labeled_2/`` (97 frames of two ceiling-corner cameras, polygon labels
  turned into min/max boxes, empty label = hard negative): split **by camera and time**. The
  camera id is the file-name prefix, the second part the unix time. For each camera the latest
  ``--test-per-camera`` frames are **held back** (split ``test``: never trained on, not used to
  pick the threshold), the ``--val-per-camera`` frames before them are ``val``, the rest train;
- ``images/lift_unlabelled/`` (7 frames) with the boxes hand-labelled in
  ``benchmarks/lift_labels/`` (see its README): train;
- frames 150, 245, 258 and 270 of ``clips/ebike_elevator/`` (clean of burned-in boxes),
  hand-labelled in the same folder: train.

Images are de-duplicated by sha256: a train or val image identical to a held-back one is dropped
(the PaddlePaddle lift dataset circulates widely). ``manifest.json`` lists every image with its
source, sha256, split, box counts and licence status.

``--composites N`` adds N synthetic ceiling-view composites to train (benchmarks/lift_composite.py:
e-bike and bicycle cut-outs of the ceiling-corner cameras' train frames pasted into their train
frames without an e-bike; never a held-back frame or one of a held-back camera's held-back time
range); the manifest records their count, recipe, seed and what went into each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from benchmarks.lift_composite import CompositeSettings, Frame, Shape, make_composites
from pipelines.assets import shared_assets_dir

NAMES = ("ebike", "person", "bicycle")
LABELS_DIR = Path(__file__).resolve().parent / "lift_labels"
CLIP = "clips/ebike_elevator/ebike_pushed_into_elevator_screen_capture_annotated.mp4"
CLIP_FRAMES = (150, 245, 258, 270)

LICENCE = {
    "ebike_elevator_labeled": "GPL-3.0 repo (EtoilesHa/ebike-detect-via-YOLO), but the images are "
    "screenshots of third-party elevator CCTV and phone footage: copyright unknown, internal only",
    "ebike_elevator_labeled_2": "no licence (X50998/112; frames of PaddlePaddle's AI Studio lift "
    "dataset, terms unknown): third-party residential CCTV, internal training only",
    "lift_unlabelled_paddle": "Apache-2.0 repo (PaddlePaddle/awesome-DeepLearning PR #864), "
    "footage is third-party residential CCTV: not redistributable",
    "lift_unlabelled_neg": "no licence file (yonghua-wu/diagnosis_webapp): third-party CCTV",
    "clip": "screen recording of a Bilibili video of real elevator CCTV (repo GPL-3.0): "
    "third-party copyright, internal only",
    "synthetic": "composite of train frames of ebike_elevator_labeled_2 / lift_unlabelled "
    "(background and cut-outs, see 'composites'): their licence status, internal only",
}
# The ceiling-corner lift cameras whose train frames give composites their backgrounds and cut-outs.
CEILING_GROUPS = ("ebike_elevator_labeled_2", "lift_unlabelled_neg")


@dataclass(frozen=True, slots=True)
class Item:
    """One image going into the dataset."""

    name: str  # file name in the dataset
    source: str  # path relative to the shared assets (or clip#frame)
    group: str  # licence key
    split: str
    label_lines: tuple[str, ...]
    data: bytes  # encoded image
    camera: str = ""  # camera id when known (the held-back time range is per camera)
    time: int | None = None  # unix time of the frame when known
    shapes: tuple[Shape, ...] = field(default=(), compare=False)  # label outlines (composites)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _polygon_to_box(line: str, where: str) -> str:
    parts = line.split()
    values = [float(v) for v in parts[1:]]
    if len(values) < 4 or len(values) % 2:
        raise ValueError(f"{where}: polygon needs x y pairs, got {len(values)} numbers")
    xs, ys = values[0::2], values[1::2]
    x1, x2, y1, y2 = max(min(xs), 0.0), min(max(xs), 1.0), max(min(ys), 0.0), min(max(ys), 1.0)
    return f"{parts[0]} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"


def _lines(path: Path) -> tuple[str, ...]:
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def _polygon_shape(line: str) -> Shape:
    """A polygon label line (``class x1 y1 ... xn yn``) as a :class:`Shape`."""
    parts = line.split()
    return Shape(
        int(parts[0]), np.asarray([float(v) for v in parts[1:]], np.float32).reshape(-1, 2)
    )


def _box_shape(line: str) -> Shape:
    """A YOLO box line (``class cx cy w h``) as a rectangular :class:`Shape`."""
    cls, cx, cy, w, h = line.split()
    x1, y1 = float(cx) - float(w) / 2, float(cy) - float(h) / 2
    x2, y2 = float(cx) + float(w) / 2, float(cy) + float(h) / 2
    return Shape(int(cls), np.asarray([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32))


def collect(assets: Path, test_per_camera: int, val_per_camera: int) -> list[Item]:
    """Every image with its split and YOLO label lines (classes 0 ebike, 1 person)."""
    items: list[Item] = []
    first = assets / "images" / "ebike_elevator_labeled"
    for i, image in enumerate(sorted(first.glob("images/*.png"))):
        label = first / "labels" / f"{image.stem}.txt"
        split = "val" if i % 7 == 3 else "train"
        items.append(
            Item(
                f"snip_{image.stem}.png",
                str(image.relative_to(assets)),
                "ebike_elevator_labeled",
                split,
                _lines(label),
                image.read_bytes(),
            )
        )
    second = assets / "images" / "ebike_elevator_labeled_2"
    cameras: dict[str, list[Path]] = {}
    for image in sorted(second.glob("images/*.jpg")):
        cameras.setdefault(image.stem.split("-")[0], []).append(image)
    for camera, images in sorted(cameras.items()):
        images.sort(key=lambda p: int(p.stem.split("-")[1]))  # by time
        n = len(images)
        if n < test_per_camera + val_per_camera + 1:
            raise SystemExit(f"camera {camera} has only {n} frames")
        for rank, image in enumerate(images):
            if rank >= n - test_per_camera:
                split = "test"
            elif rank >= n - test_per_camera - val_per_camera:
                split = "val"
            else:
                split = "train"
            label = second / "labels" / f"{image.stem}.txt"
            lines = tuple(
                _polygon_to_box(line, f"{label}:{k + 1}") for k, line in enumerate(_lines(label))
            )
            shapes = tuple(_polygon_shape(line) for line in _lines(label))
            extra = LABELS_DIR / f"cam{image.stem}.txt"  # bicycles we labelled in negatives
            if extra.is_file():
                lines += _lines(extra)
                shapes += tuple(_box_shape(line) for line in _lines(extra))
            items.append(
                Item(
                    f"cam{camera}_{image.stem.split('-')[1]}.jpg",
                    str(image.relative_to(assets)),
                    "ebike_elevator_labeled_2",
                    split,
                    lines,
                    image.read_bytes(),
                    camera=camera,
                    time=int(image.stem.split("-")[1]),
                    shapes=shapes,
                )
            )
    for image in sorted((assets / "images" / "lift_unlabelled").iterdir()):
        label = LABELS_DIR / f"{image.stem}.txt"
        group = "lift_unlabelled_neg" if image.stem.startswith("neg_") else "lift_unlabelled_paddle"
        items.append(
            Item(
                f"lift_{image.name}",
                str(image.relative_to(assets)),
                group,
                "train",
                _lines(label),
                image.read_bytes(),
                camera="IPC757686" if image.stem.startswith("neg_") else "",  # README §4.5
                shapes=tuple(_box_shape(line) for line in _lines(label)),
            )
        )
    capture = cv2.VideoCapture(str(assets / CLIP))
    wanted, index = set(CLIP_FRAMES), 0
    while wanted:
        ok, frame = capture.read()
        if not ok:
            raise SystemExit(f"{CLIP} ended before frames {sorted(wanted)}")
        if index in wanted:
            wanted.discard(index)
            ok, png = cv2.imencode(".png", frame)
            stem = f"clip_ebike_elevator_f{index:04d}"
            items.append(
                Item(
                    f"{stem}.png",
                    f"{CLIP}#frame={index}",
                    "clip",
                    "train",
                    _lines(LABELS_DIR / f"{stem}.txt"),
                    png.tobytes(),
                )
            )
        index += 1
    capture.release()
    return items


def composites(
    items: list[Item], settings: CompositeSettings
) -> tuple[list[Item], dict[str, object]]:
    """The composites made from ``items`` (train images of :data:`CEILING_GROUPS`; the held-back
    ones are passed too, only so that :func:`~benchmarks.lift_composite.eligible` knows each
    camera's held-back time range) as train items, and their manifest record."""
    frames = []
    for item in items:
        if item.group not in CEILING_GROUPS:
            continue
        image = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"{item.source}: cannot decode the image")
        frames.append(Frame(item.source, item.split, item.camera, item.time, image, item.shapes))
    made, records = [], []
    for i, composite in enumerate(make_composites(frames, settings)):
        name = f"synth_{i:03d}.jpg"
        ok, data = cv2.imencode(
            ".jpg", composite.image, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]
        )
        if not ok:
            raise SystemExit(f"composite {name}: JPEG encoding failed")
        made.append(
            Item(name, f"synthetic:{name}", "synthetic", "train", composite.label_lines,
                 data.tobytes())
        )  # fmt: skip
        records.append(
            {
                "file": f"images/train/{name}",
                "background": composite.background,
                "pasted": [
                    {
                        "class": NAMES[p.cls], "source": p.source, "shape": p.shape_index,
                        "box_xyxy": [round(v, 1) for v in p.box_xyxy], "scale": p.scale,
                        "mirrored": p.mirrored,
                    }
                    for p in composite.pasted
                ],
            }
        )  # fmt: skip
    record: dict[str, object] = {
        "count": len(made),
        "seed": settings.seed,
        "recipe": asdict(settings),
        "module": "benchmarks/lift_composite.py",
        "items": records,
    }
    return made, record


def write(
    items: list[Item], out: Path, composite_record: dict[str, object] | None = None
) -> dict[str, object]:
    """Write the dataset folder; return the manifest."""
    held = {_sha(i.data) for i in items if i.split == "test"}
    if out.exists():
        shutil.rmtree(out)
    records, dropped = [], []
    for item in items:
        digest = _sha(item.data)
        if item.split != "test" and digest in held:
            dropped.append(item.source)
            continue
        for kind in ("images", "labels"):
            (out / kind / item.split).mkdir(parents=True, exist_ok=True)
        (out / "images" / item.split / item.name).write_bytes(item.data)
        label = out / "labels" / item.split / f"{Path(item.name).stem}.txt"
        label.write_text("".join(f"{line}\n" for line in item.label_lines))
        classes = [int(line.split()[0]) for line in item.label_lines]
        records.append(
            {
                "file": f"images/{item.split}/{item.name}",
                "source": item.source,
                "sha256": digest,
                "split": item.split,
                "ebike_boxes": classes.count(0),
                "person_boxes": classes.count(1),
                "bicycle_boxes": classes.count(2),
                "licence": LICENCE[item.group],
            }
        )
    (out / "data.yaml").write_text(
        "# lift e-bike dataset, built by benchmarks/lift_dataset.py\n"
        f"path: {out.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\n"
        f"names: [{', '.join(NAMES)}]\n"
    )
    counts = {
        split: {
            "images": sum(r["split"] == split for r in records),
            "ebike_boxes": sum(int(r["ebike_boxes"]) for r in records if r["split"] == split),
            "negatives": sum(r["split"] == split and r["ebike_boxes"] == 0 for r in records),
        }
        for split in ("train", "val", "test")
    }
    manifest: dict[str, object] = {
        "names": list(NAMES),
        "counts": counts,
        "dropped_duplicates_of_test": dropped,
        "composites": composite_record or {"count": 0},
        "images": records,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (replaced)")
    parser.add_argument("--assets", type=Path, default=None, help="shared assets folder")
    parser.add_argument("--test-per-camera", type=int, default=20)
    parser.add_argument("--val-per-camera", type=int, default=5)
    parser.add_argument(
        "--composites",
        type=int,
        default=0,
        help="synthetic ceiling-view composites added to train (0: none)",
    )
    parser.add_argument("--composite-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.composites < 0:
        print(f"error: --composites {args.composites} must be 0 or more", file=sys.stderr)
        return 2
    assets = args.assets or shared_assets_dir()
    if not (assets / "images" / "ebike_elevator_labeled_2").is_dir():
        print(f"error: {assets} has no images/ebike_elevator_labeled_2/", file=sys.stderr)
        return 2
    items = collect(assets, args.test_per_camera, args.val_per_camera)
    record = None
    if args.composites:
        settings = replace(CompositeSettings(), count=args.composites, seed=args.composite_seed)
        made, record = composites(items, settings)
        items += made
    manifest = write(items, args.out, record)
    print(json.dumps({"out": str(args.out), "counts": manifest["counts"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
