"""``models train`` / ``models import --eval``: dataset reading, class slots, scoring, and an
end-to-end fine-tune of the repository's YOLOX-Nano in the training interpreter (.venv-export).

The end-to-end tests use only the repository's own assets (YOLOX-Nano and the COCO photos): a
four-image dataset where the motorbike of ``000000007816.jpg`` is labelled ``ebike`` and a bus photo
is a negative. Without the training interpreter they are skipped, except under ``CI``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from model_assets import COCO_IMAGES, REPO, YOLOX, read_image

from models.labels import COCO80
from models.training.dataset import (
    DatasetError,
    LabelledImage,
    load_dataset,
    parse_names,
    read_label_file,
)
from models.training.evaluate import ScoredImage, count, pick_threshold, sweep
from models.training.launcher import TrainLaunchError, run_training
from models.training.settings import ClassMappingError, map_slots
from vision.annotations import ANNOTATION_CLASSES

TRAIN_PYTHON = REPO / ".venv-export" / "bin" / "python"
HAZARDWATCH = [sys.executable, "-m", "hazardwatch"]


def _train_python() -> Path:
    if (
        not TRAIN_PYTHON.is_file()
        or subprocess.run(
            [
                str(TRAIN_PYTHON),
                "-c",
                "import torch, tqdm, importlib.util as u; u.find_spec('onnx2torch').name",
            ],
            capture_output=True,
        ).returncode
    ):
        reason = f"{TRAIN_PYTHON} with torch and onnx2torch is absent (make export-venv)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    return TRAIN_PYTHON


def _tiny_dataset(root: Path, names: Sequence[str] = ("ebike", "person")) -> Path:
    """4 train + 1 val images: the motorbike racer labelled ebike (+ persons), negatives;
    ``names`` (data.yaml) must include ebike and person, and may list classes with no box."""
    boxes = {  # xyxy pixels of 000000007816.jpg (640x427), from README §2.3
        "ebike": [(239, 123, 468, 360)],
        "person": [(249, 33, 294, 135), (559, 51, 607, 200), (492, 52, 541, 165)],
    }
    names = list(names)
    racer = read_image(COCO_IMAGES / "000000007816.jpg")
    h, w = racer.shape[:2]
    lines = [
        f"{names.index(n)} {(x1 + x2) / 2 / w:.5f} {(y1 + y2) / 2 / h:.5f} "
        f"{(x2 - x1) / w:.5f} {(y2 - y1) / h:.5f}\n"
        for n, rows in boxes.items()
        for x1, y1, x2, y2 in rows
    ]
    files = {
        "train": [("racer", "000000007816.jpg", lines), ("bus", "000000002006.jpg", [])],
        "val": [("racer_val", "000000007816.jpg", lines)],
    }
    files["train"] += [("racer2", "000000007816.jpg", lines), ("plough", "000000009769.jpg", [])]
    for split, rows in files.items():
        for stem, source, label_lines in rows:
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
            (root / "images" / split / f"{stem}.jpg").write_bytes(
                (COCO_IMAGES / source).read_bytes()
            )
            (root / "labels" / split / f"{stem}.txt").write_text("".join(label_lines))
    (root / "data.yaml").write_text(f"names: [{', '.join(names)}]\n")
    return root


# -- run-time parts (no torch) ---------------------------------------------------------------------


def test_dataset_reads_names_boxes_and_negatives(tmp_path: Path) -> None:
    dataset = load_dataset(_tiny_dataset(tmp_path))
    assert dataset.names == ("ebike", "person")
    train = {item.image.stem: item for item in dataset.split("train")}
    assert list(train["racer"].classes) == [0, 1, 1, 1]
    assert len(train["bus"].classes) == 0  # empty label file: a negative
    np.testing.assert_allclose(
        train["racer"].boxes_xyxy(640, 427)[0], [239, 123, 468, 360], atol=0.1
    )


def test_dataset_image_without_label_file_is_an_error(tmp_path: Path) -> None:
    root = _tiny_dataset(tmp_path)
    (root / "labels" / "train" / "bus.txt").unlink()
    with pytest.raises(DatasetError, match=r"bus\.jpg has no label file .*bus\.txt"):
        load_dataset(root)


def test_label_with_unknown_class_names_file_and_line(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match=r"a\.txt:2: class 5 is not in data\.yaml's 0\.\.1"):
        read_label_file(label, 2)
    label.write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(DatasetError, match=r"a\.txt:1: expected 'class cx cy w h'"):
        read_label_file(label, 2)


def test_slots_by_name_and_repurposed_motorbike() -> None:
    slots = map_slots(["ebike", "person"], COCO80)
    assert slots.slots == (3, 0)
    assert slots.names[3] == "ebike" and slots.names[0] == "person" and len(slots.names) == 80
    assert slots.repurposed == {"motorbike": "ebike"}
    other = map_slots(["stroller"], COCO80, {"stroller": "suitcase"})
    assert other.names[COCO80.index("suitcase")] == "stroller"
    with pytest.raises(ClassMappingError, match=r"'stroller' .* --repurpose stroller=BASE_CLASS"):
        map_slots(["stroller"], COCO80)
    with pytest.raises(ClassMappingError, match=r"no class 'scooter'"):
        map_slots(["ebike"], COCO80, {"ebike": "scooter"})


def test_count_matches_greedily_at_iou_half() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 26, 26], [50, 50, 60, 60]], np.float32
    )
    image = ScoredImage(np.array([0.9, 0.8, 0.7, 0.4], np.float32), boxes, truth)
    result = count([image], 0.5, "ebike")
    # the duplicate on box 1 is a false positive, IoU(20..26, 20..30) = 0.36 < 0.5 misses box 2
    assert (result.tp, result.fp, result.fn) == (1, 2, 1)
    assert count([image], 0.95, "ebike").recall == 0.0
    chosen = pick_threshold(sweep([image], "ebike"), 0.9)
    assert chosen.threshold == pytest.approx(0.9) and chosen.precision == 1.0


def test_missing_training_interpreter_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        TrainLaunchError, match=r"training interpreter .*nope/python does not exist"
    ):
        run_training(tmp_path / "nope" / "python", [])


def test_interpreter_without_torch_is_told_to_install_the_extra() -> None:
    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0:
        pytest.skip("this interpreter has torch")
    with pytest.raises(TrainLaunchError, match=r"cannot train .*\[train\] extra"):
        run_training(Path(sys.executable), [])


# -- the training interpreter ---------------------------------------------------------------------

PATCH_CHECK = """
import sys, json
import numpy as np, onnxruntime as ort, torch
from pathlib import Path
from models.training.yolox_torch import load_trainable, write_onnx
base, out = Path(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
x = (rng.random((2, 3, 416, 416)) * 255).astype(np.float32)
session = ort.InferenceSession(str(base), providers=["CPUExecutionProvider"])
ref = np.concatenate([session.run(None, {"images": x[i:i + 1]})[0] for i in range(2)])
model = load_trainable(base)
with torch.no_grad():
    raw = model(torch.from_numpy(x)).numpy()
mine = raw.copy()
mine[..., 4:] = 1 / (1 + np.exp(-raw[..., 4:]))
write_onnx(model, base, out, tuple(f"c{i}" for i in range(80)), {"k": "v"})
written = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
again = written.run(None, {"images": x[:1]})[0]
print(json.dumps({
    "shape": list(raw.shape),
    "logits_differ": float(np.abs(raw[..., 4:] - ref[..., 4:]).max()),
    "sigmoid_err": float(np.abs(mine - ref).max()),
    "roundtrip_err": float(np.abs(again - ref[:1]).max()),
}))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_trainable_module_gives_logits_for_any_batch_and_writes_back_exactly(
    tmp_path: Path,
) -> None:
    python = _train_python()
    done = subprocess.run(
        [str(python), "-c", PATCH_CHECK, str(YOLOX), str(tmp_path / "same.onnx")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shape"] == [2, 3549, 85]  # batch 2 through the patched Reshapes
    assert report["logits_differ"] > 1.0  # the head sigmoids are gone...
    assert report["sigmoid_err"] < 1e-3  # ...and are exactly what was removed
    assert report["roundtrip_err"] < 1e-4  # unchanged weights written back = the base model


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_models_train_end_to_end_then_validate(tmp_path: Path) -> None:
    python = _train_python()
    dataset = _tiny_dataset(tmp_path / "ds")
    out = tmp_path / "lift.onnx"
    env = {**os.environ, "HAZARDWATCH_TRAIN_PYTHON": str(python)}
    command = [
        *HAZARDWATCH,
        "models",
        "train",
        str(dataset),
        "--base",
        str(YOLOX),
        "--out",
        str(out),
    ]
    command += ["--steps", "3", "--batch", "2", "--imgsz", "128", "--ema", "0.9", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "in 3 steps" in done.stdout and "'motorbike': 'ebike'" in done.stdout
    validate = [*HAZARDWATCH, "models", "validate", str(out), "--json"]
    validate += ["--image", str(COCO_IMAGES / "000000007816.jpg")]
    checked = subprocess.run(validate, capture_output=True, text=True, cwd=REPO, check=False)
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads(checked.stdout)
    assert report["family"] == "yolox" and report["input_size"] == 416
    labels = {d["label"] for d in report["detections"]}
    assert "person" in labels  # distilled, not forgotten, after 3 steps
    assert "motorbike" not in labels  # slot 3 is now called ebike

    registry = tmp_path / "store"
    imported = subprocess.run(
        [*HAZARDWATCH, "models", "import", str(out), "--eval", str(dataset), "--replaces",
         str(YOLOX), "--name", "lift-test", "--models-dir", str(registry)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-3000:]
    lines = imported.stdout.splitlines()
    assert any(line.strip().startswith("new lift.onnx") and "ebike" in line for line in lines)
    replaced = [line for line in lines if "replaced" in line and "ebike" in line]
    assert replaced and "recall 1.000" in replaced[0]  # the COCO motorbike box counts as ebike
    assert (registry / "lift-test.json").is_file()
    manifest = json.loads((registry / "lift-test.json").read_text())
    assert manifest["labels"][3] == "ebike" and manifest["label_source"] == "metadata"


EMA_CHECK = """
import sys, json
import torch
from pathlib import Path
from models.training.ema import WeightAverage
from models.training.yolox_torch import freeze_first, load_trainable
model = load_trainable(Path(sys.argv[1]))
freeze_first(model, 0.6)
before = [p.detach().clone() for p in model.parameters()]
average = WeightAverage(model, 0.5)
decays = []
with torch.no_grad():
    for step in range(3):
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1.0)  # stands in for an optimiser step
        decays.append(average.current_decay())
        average.update(model)
# trainable weights moved by +1, +2, +3; with decays d1..d3 the average moved by
expected = 0.0
for offset, d in zip((1.0, 2.0, 3.0), decays):
    expected = d * expected + (1 - d) * offset
frozen_err, trained_err = 0.0, 0.0
for old, live, avg in zip(before, model.parameters(), average.module.parameters()):
    err = float((avg - old - (expected if live.requires_grad else 0.0)).abs().max())
    if live.requires_grad:
        trained_err = max(trained_err, err)
    else:
        frozen_err = max(frozen_err, err)
print(json.dumps({"decays": decays, "frozen_err": frozen_err, "trained_err": trained_err,
                  "shadow_trains": any(p.requires_grad for p in average.module.parameters())}))
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_weight_average_follows_trained_weights_and_leaves_frozen_ones(tmp_path: Path) -> None:
    python = _train_python()
    done = subprocess.run(
        [str(python), "-c", EMA_CHECK, str(YOLOX)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # ramp (1 + t) / (10 + t) capped at the decay: 2/11, 3/12, then 0.5 would be 4/13 < 0.5
    assert report["decays"] == pytest.approx([2 / 11, 3 / 12, 4 / 13])
    assert report["trained_err"] < 1e-5 and report["frozen_err"] == 0.0
    assert report["shadow_trains"] is False


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_train_rejects_an_ema_decay_outside_0_1(tmp_path: Path, value: str) -> None:
    python = _train_python()
    dataset = _tiny_dataset(tmp_path / "ds")
    done = subprocess.run(
        [str(python), "-m", "models.training.trainer", str(dataset), "--base", str(YOLOX),
         "--out", str(tmp_path / "o.onnx"), "--ema", value],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"--ema {float(value)} must be in [0, 1)" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_dataset_as_dataset_export_writes_it_trains_without_extra_options(
    tmp_path: Path,
) -> None:
    """``dataset export`` lists every class the review page offers (vehicle, clutter, bicycle
    too) whether or not a box of it was drawn: a class without a box needs no model slot, so the
    loop review -> export -> train works without --repurpose (it used to stop at 'vehicle')."""
    python = _train_python()
    dataset = _tiny_dataset(tmp_path / "ds", ANNOTATION_CLASSES)
    out = tmp_path / "lift.onnx"
    command = [*HAZARDWATCH, "models", "train", str(dataset), "--base", str(YOLOX)]
    command += ["--out", str(out), "--steps", "2", "--batch", "2", "--imgsz", "128", "--quiet"]
    env = {**os.environ, "HAZARDWATCH_TRAIN_PYTHON": str(python)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not trained: ['vehicle', 'clutter', 'bicycle']" in done.stdout
    assert out.is_file()


def test_slots_of_classes_without_a_box_are_not_needed() -> None:
    slots = map_slots(ANNOTATION_CLASSES, COCO80, untrained=("vehicle", "clutter"))
    assert slots.slots == (3, -1, 0, -1, 1)  # ebike -> motorbike's slot, bicycle its own
    assert slots.untrained == ("vehicle", "clutter") and slots.names[3] == "ebike"
    with pytest.raises(ClassMappingError, match="'vehicle' is not a class of the base model"):
        map_slots(ANNOTATION_CLASSES, COCO80, untrained=("clutter",))  # vehicle has boxes


def test_train_rejects_a_dataset_without_any_box(tmp_path: Path) -> None:
    python = _train_python()
    dataset = _tiny_dataset(tmp_path / "ds")
    for label in (dataset / "labels" / "train").iterdir():
        label.write_text("")
    done = subprocess.run(
        [str(python), "-m", "models.training.trainer", str(dataset), "--base", str(YOLOX),
         "--out", str(tmp_path / "o.onnx")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        "the train split has no box of any class (ebike, person): nothing to learn" in done.stderr
    )


def test_train_rejects_bad_dataset_before_starting(tmp_path: Path) -> None:
    done = subprocess.run(
        [*HAZARDWATCH, "models", "train", str(tmp_path), "--base", str(tmp_path / "x.onnx"),
         "--out", str(tmp_path / "o.onnx")],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"model file {tmp_path / 'x.onnx'} does not exist" in done.stderr


def test_labelled_image_boxes_in_pixels() -> None:
    item = LabelledImage(
        Path("x.jpg"), np.array([0]), np.array([[0.5, 0.5, 0.5, 0.25]], np.float32)
    )
    np.testing.assert_allclose(item.boxes_xyxy(200, 100), [[50, 37.5, 150, 62.5]])


MAKE_PT = """
import sys
from ultralytics import YOLO
YOLO("yolo11n.yaml").save(sys.argv[1])
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_models_train_hands_a_pt_base_to_ultralytics(tmp_path: Path) -> None:
    python = _train_python()
    probe = [str(python), "-c", "import torchvision, ultralytics"]
    if subprocess.run(probe, capture_output=True).returncode:
        pytest.skip(f"ultralytics with a working torchvision is not installed in {python}")
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    made = subprocess.run(
        [str(python), "-c", MAKE_PT, str(tmp_path / "base.pt")],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    dataset = _tiny_dataset(tmp_path / "ds")
    out = tmp_path / "pt.onnx"
    command = [*HAZARDWATCH, "models", "train", str(dataset), "--base", str(tmp_path / "base.pt")]
    command += ["--out", str(out), "--epochs", "1", "--imgsz", "64", "--batch", "2", "--quiet"]
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO, check=False,
        env={**env, "HAZARDWATCH_TRAIN_PYTHON": str(python)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    validate = [*HAZARDWATCH, "models", "validate", str(out), "--json"]
    validate += ["--image", str(COCO_IMAGES / "000000007816.jpg")]
    checked = subprocess.run(validate, capture_output=True, text=True, cwd=REPO, check=False)
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads(checked.stdout)
    assert report["family"] == "yolov8" and report["input_size"] == 64


def test_the_shipped_lift_model_is_listed_with_its_names() -> None:
    """assets/models holds a registry manifest for the lift model (and nothing else that looks
    like one: the training manifest is in a subfolder, or `models list` would fail on it)."""
    done = subprocess.run(
        [*HAZARDWATCH, "models", "list", "--models-dir", str(REPO / "assets" / "models"), "--json"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (lift,) = [m for m in json.loads(done.stdout) if m["name"] == "yolox_nano_lift_ebike_416"]
    assert lift["family"] == "yolox" and lift["label_source"] == "metadata"
    assert lift["labels"][3] == "ebike" and lift["labels"][0] == "person"
    onnx_file = REPO / "assets" / "models" / lift["file"]
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == lift["sha256"]


@pytest.mark.parametrize(
    "text",
    [
        "names: [ebike, person]\n",
        "path: /x\nnames:\n- ebike\n- 'person'\nnc: 2\n",  # yaml.safe_dump (dataset export)
        'names:\n  0: ebike\n  1: "person"\ntrain: images/train\n',  # Ultralytics
        "names: {0: ebike, 1: person}  # comment\n",
    ],
)
def test_data_yaml_names_in_the_forms_the_writers_use(text: str) -> None:
    assert parse_names(text, "data.yaml") == ("ebike", "person")


def test_data_yaml_names_errors_name_the_file() -> None:
    with pytest.raises(DatasetError, match=r"d\.yaml: names keys must be 0\.\.1, got \[0, 2\]"):
        parse_names("names:\n  0: a\n  2: b\n", "d.yaml")
    with pytest.raises(DatasetError, match=r"d\.yaml: 'names' has a name twice"):
        parse_names("names: [a, a]\n", "d.yaml")
    with pytest.raises(DatasetError, match=r"d\.yaml: 'names' must be a non-empty list"):
        parse_names("nc: 2\n", "d.yaml")
