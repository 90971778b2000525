"""YOLO11n (and YOLO26n end-to-end) exported by ultralytics, run through our adapter.

ultralytics is not in the main venv (it pulls torch and the non-headless OpenCV). These tests
use a separate interpreter, ``<repo>/.venv-export/bin/python`` (``make`` creates it in CI), to
build the models from their YAML (random weights, no download), export them to ONNX with dynamic
batch, and compute ultralytics' own reference results (its ``LetterBox``, ``preprocess``,
``non_max_suppression`` and ``scale_boxes``). The ONNX files are then loaded in this venv through
``OnnxDetector``. Without the export venv they are skipped, except under ``CI``, where that is a
failure.

Random YOLO11n weights give every anchor the same score (the class branch outputs only its
bias), so the weights are perturbed with a fixed seed first: then ~50 boxes of ~25 classes pass
0.3 on a real photo, enough to compare decode, NMS and box mapping with ultralytics'.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_assets import COCO_IMAGES, REPO, read_image

from models.detector import OnnxDetector
from models.export import ExportResult, run_export
from models.labels import COCO80, LabelSource
from models.letterbox import letterbox_geometry
from models.spec import DetectorSpec, ModelFamily

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXPORT_PYTHON = REPO / ".venv-export" / "bin" / "python"
IMAGES = COCO_IMAGES
IMGSZ = 320
NAMES = tuple({"motorbike": "motorcycle", "aeroplane": "airplane"}.get(n, n) for n in COCO80)

CANVAS = [[0, 0, 320, 320], [10.5, 20.25, 200, 300], [-5, 40, 50, 400]]  # boxes on the input

RANDOMIZE = """
import sys, torch
from ultralytics import YOLO
torch.manual_seed(0)  # the YAML build's own initialisation
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

REFERENCE = """
import json, sys
import cv2, numpy as np, onnxruntime as ort, torch
CANVAS = [[0, 0, 320, 320], [10.5, 20.25, 200, 300], [-5, 40, 50, 400]]
from ultralytics.data.augment import LetterBox
from ultralytics.utils import ops
from ultralytics.utils.nms import non_max_suppression
onnx_path, out_path, images = sys.argv[1], sys.argv[2], json.loads(sys.argv[6])
imgsz, conf, iou = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
saved = {}
for i, path in enumerate(images):
    im0 = cv2.imread(path)
    letterboxed = LetterBox((imgsz, imgsz), auto=False, stride=32)(image=im0)
    # BasePredictor.preprocess: HWC -> CHW, BGR -> RGB, uint8 -> float / 255
    im = torch.from_numpy(letterboxed[None]).permute(0, 3, 1, 2).contiguous()
    im = im.flip(1).float().div_(255)
    saved[f"tensor{i}"] = im.numpy()
    pred = torch.from_numpy(session.run(None, {"images": im.numpy()})[0])
    det = non_max_suppression(pred, conf_thres=conf, iou_thres=iou, max_det=300)[0]
    det[:, :4] = ops.scale_boxes(im.shape[2:], det[:, :4], im0.shape)
    saved[f"det{i}"] = det.numpy()
    canvas = torch.tensor(CANVAS, dtype=torch.float32)
    saved[f"scaled{i}"] = ops.scale_boxes((imgsz, imgsz), canvas.clone(), im0.shape).numpy()
np.savez(out_path, **saved)
"""


@pytest.fixture(scope="module")
def export_python() -> Path:
    if not EXPORT_PYTHON.is_file():
        reason = (
            f"{EXPORT_PYTHON} is absent: create it with `python3 -m venv .venv-export && "
            f".venv-export/bin/pip install torch==2.13.0 ultralytics onnx onnxslim onnxruntime`"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    return EXPORT_PYTHON


def _run(python: Path, script: str, *args: str, cwd: Path) -> None:
    env = {**os.environ, "YOLO_CONFIG_DIR": str(cwd / "yolo-config"), "YOLO_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-c", script, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def yolo11n(export_python: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    work = tmp_path_factory.mktemp("yolo11n")
    weights = work / "yolo11n-random.pt"
    _run(export_python, RANDOMIZE, str(weights), cwd=work)
    names = work / "names.txt"
    names.write_text("\n".join(NAMES) + "\n")
    return run_export(
        export_python, weights, work / "yolo11n.onnx", imgsz=IMGSZ, dynamic=True, names_file=names
    )


@pytest.fixture(scope="module")
def detector(yolo11n: ExportResult) -> OnnxDetector:
    return OnnxDetector(
        DetectorSpec(yolo11n.onnx, score_threshold=0.3, iou_threshold=0.45, batch_max_size=4)
    )


def _image_paths() -> list[Path]:
    paths = [IMAGES / n for n in ("000000007816.jpg", "000000009769.jpg", "000000002006.jpg")]
    return paths


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real photos and one odd-sized crop (rounding in the letterbox)."""
    paths = _image_paths()
    odd = tmp_path_factory.mktemp("odd") / "odd.png"
    cv2.imwrite(str(odd), read_image(paths[0])[13:136, 7:464])  # 123 x 457
    return [*paths, odd]


@pytest.fixture(scope="module")
def reference(export_python: Path, yolo11n: ExportResult, images: list[Path], tmp_path_factory):
    work = tmp_path_factory.mktemp("reference")
    out = work / "reference.npz"
    args = (
        str(yolo11n.onnx),
        str(out),
        str(IMGSZ),
        "0.3",
        "0.45",
        json.dumps([str(p) for p in images]),
    )
    _run(export_python, REFERENCE, *args, cwd=work)
    return dict(np.load(out))


def test_export_metadata_and_output_shapes(yolo11n: ExportResult, detector: OnnxDetector) -> None:
    assert (yolo11n.num_names, yolo11n.dynamic, yolo11n.end_to_end) == (80, True, False)
    assert (detector.family, detector.end_to_end) == (ModelFamily.YOLOV8, False)
    assert detector.labels == NAMES and detector.label_source is LabelSource.METADATA
    assert detector.input_hw == (IMGSZ, IMGSZ) and detector.dynamic_batch
    tensor = np.zeros((4, 3, IMGSZ, IMGSZ), np.float32)
    (output,) = detector.session.run(None, {detector.input_name: tensor})
    assert output.shape == (4, 4 + 80, 2100)  # 40*40 + 20*20 + 10*10 anchors


def test_mapping_uses_the_models_own_spelling(yolo11n: ExportResult) -> None:
    spec = DetectorSpec(
        yolo11n.onnx, classes={"motorcycle": "ebike", "car": "vehicle"}, warmup_runs=0
    )
    assert dict(OnnxDetector(spec).class_roles) == {3: "ebike", 2: "vehicle"}


def test_preprocess_matches_ultralytics(
    detector: OnnxDetector, images: list[Path], reference
) -> None:
    for i, path in enumerate(images):
        tensor, _ = detector.preprocess([read_image(path)])
        np.testing.assert_allclose(tensor, reference[f"tensor{i}"], atol=1e-6, rtol=0)


def test_box_mapping_matches_ultralytics_scale_boxes(
    detector: OnnxDetector, images: list[Path], reference
) -> None:
    for i, path in enumerate(images):
        image = read_image(path)
        geometry = letterbox_geometry(image.shape[:2], detector.input_hw, detector.letterbox_style)
        canvas = np.array(CANVAS, np.float32)
        np.testing.assert_allclose(
            geometry.to_image_xyxy(canvas), reference[f"scaled{i}"], atol=1e-3
        )


def test_detections_equal_ultralytics_postprocess(
    detector: OnnxDetector, images: list[Path], reference
) -> None:
    for i, path in enumerate(images):
        image = read_image(path)
        (ours,) = detector.detect([image])
        theirs = reference[f"det{i}"]
        assert len(ours) == len(theirs) > 0, path
        order = np.argsort(-theirs[:, 4], kind="stable")
        np.testing.assert_allclose(ours.xyxy, theirs[order, :4], atol=0.05)
        np.testing.assert_allclose(ours.confidence, theirs[order, 4], atol=1e-5)
        np.testing.assert_array_equal(ours.class_id, theirs[order, 5].astype(np.int32))
        h, w = image.shape[:2]
        assert (
            (ours.xyxy >= 0).all()
            and (ours.xyxy[:, 0::2] <= w).all()
            and (ours.xyxy[:, 1::2] <= h).all()
        )


def test_batch_of_four_equals_four_single_runs(detector: OnnxDetector, images: list[Path]) -> None:
    batch = [read_image(p) for p in images]
    together = detector.detect(batch)
    assert sum(len(d) for d in together) > 0
    for image, result in zip(batch, together, strict=True):
        (single,) = detector.detect([image])
        assert len(single) == len(result)
        np.testing.assert_allclose(result.xyxy, single.xyxy, atol=1e-2)
        np.testing.assert_allclose(result.confidence, single.confidence, atol=1e-5)
        np.testing.assert_array_equal(result.class_id, single.class_id)


def test_yolo26n_end_to_end_export(export_python: Path, tmp_path: Path, images: list[Path]) -> None:
    result = run_export(
        export_python, "yolo26n.yaml", tmp_path / "yolo26n.onnx", imgsz=IMGSZ, end_to_end=True
    )
    assert result.end_to_end
    detector = OnnxDetector(DetectorSpec(result.onnx, score_threshold=0.0001, batch_max_size=4))
    assert (detector.family, detector.end_to_end, len(detector.labels)) == (
        ModelFamily.YOLOV8,
        True,
        80,
    )
    tensor = np.zeros((2, 3, IMGSZ, IMGSZ), np.float32)
    assert detector.session.run(None, {detector.input_name: tensor})[0].shape == (2, 300, 6)
    batch = [read_image(p) for p in images]
    for image, result_one in zip(batch, detector.detect(batch), strict=True):
        h, w = image.shape[:2]
        assert 0 < len(result_one) <= 300
        assert (result_one.xyxy[:, 0::2] <= w).all() and (result_one.xyxy[:, 1::2] <= h).all()
