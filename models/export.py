"""Export an Ultralytics detection model to ONNX, in whichever interpreter has ultralytics.

ultralytics (with torch) is deliberately not a dependency of the runtime: it pulls a large torch
and the non-headless OpenCV. This file is therefore two things:

- a script, run by an interpreter that has ultralytics (the ``[export]`` extra, or a separate
  ``.venv-export``)::

      python models/export.py --weights yolo11n.pt --out yolo11n.onnx --imgsz 640 --dynamic

  It writes the ONNX with Ultralytics' metadata (class ``names``, ``imgsz``, ``stride``...) and
  prints one JSON line ``{"onnx": PATH, "names": N, ...}``. ``--weights`` may be a ``.pt`` file
  or a model YAML such as ``yolo11n.yaml`` (random weights, no download);
- a library (stdlib only at import time) with :func:`find_export_python` and
  :func:`run_export`, used by ``hazardwatch models pull yolo11n`` and the tests.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

EXPORT_SCRIPT = Path(__file__).resolve()
EXPORT_PYTHON_ENV = "HAZARDWATCH_EXPORT_PYTHON"
EXPORT_VENV = ".venv-export"


class ExportError(Exception):
    """The export could not run or failed (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What the export script reported."""

    onnx: Path
    num_names: int
    imgsz: int
    dynamic: bool
    end_to_end: bool


def find_export_python(search_from: Path | None = None) -> Path | None:
    """An interpreter that can import ultralytics, or None.

    Looks, in order, at ``$HAZARDWATCH_EXPORT_PYTHON``, the running interpreter, and
    ``.venv-export/bin/python`` in ``search_from`` (default: the working directory) and in the
    repository root this file belongs to.
    """
    configured = os.environ.get(EXPORT_PYTHON_ENV)
    if configured:
        return Path(configured)
    if importlib.util.find_spec("ultralytics") is not None:
        return Path(sys.executable)
    for root in (search_from or Path.cwd(), EXPORT_SCRIPT.parents[1]):
        candidate = root / EXPORT_VENV / "bin" / "python"
        if candidate.is_file():
            return candidate
    return None


def run_export(
    python: Path,
    weights: str | Path,
    out: Path,
    imgsz: int = 640,
    dynamic: bool = True,
    end_to_end: bool = False,
    names_file: Path | None = None,
    timeout_s: float = 600.0,
) -> ExportResult:
    """Run this file as a script with ``python`` and return what it exported.

    Raises:
        ExportError: the interpreter is missing, the export failed (with its stderr tail) or
            timed out.
    """
    if not Path(python).is_file():
        raise ExportError(f"export interpreter {python} does not exist")
    command = [str(python), str(EXPORT_SCRIPT), "--weights", str(weights), "--out", str(out)]
    command += ["--imgsz", str(imgsz)]
    command += ["--dynamic"] if dynamic else []
    command += ["--end2end"] if end_to_end else []
    command += ["--names-file", str(names_file)] if names_file else []
    env = dict(os.environ)
    env.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "hazardwatch-yolo"))
    env.setdefault("YOLO_OFFLINE", "1")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ExportError(f"export of {weights} timed out after {timeout_s:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ExportError(f"export of {weights} failed (exit {done.returncode}):\n{tail}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ExportError(f"export of {weights} printed no result line:\n{done.stdout[-2000:]}")
    report = json.loads(lines[-1])
    return ExportResult(
        onnx=Path(report["onnx"]),
        num_names=int(report["names"]),
        imgsz=int(report["imgsz"]),
        dynamic=bool(report["dynamic"]),
        end_to_end=bool(report["end2end"]),
    )


# -- the script (runs where ultralytics is installed) ---------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export an Ultralytics detector to ONNX.")
    parser.add_argument("--weights", required=True, help="a .pt file or a model YAML name")
    parser.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    parser.add_argument("--imgsz", type=int, default=640, help="input size in pixels")
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch and size axes")
    parser.add_argument(
        "--end2end", action="store_true", help="keep an NMS-free head's end-to-end output"
    )
    parser.add_argument("--names-file", type=Path, help="class names, one per line")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Script entry point; exit 0 ok, 2 bad input or ultralytics missing, 1 export failure."""
    args = _parse_args(argv)
    try:
        from ultralytics import YOLO  # only present in the export interpreter
    except ImportError:
        print(f"ultralytics is not installed in {sys.executable}", file=sys.stderr)
        return 2
    names = None
    if args.names_file is not None:
        names = [n.strip() for n in args.names_file.read_text().splitlines() if n.strip()]
    out = args.out.resolve()
    weights = Path(args.weights)
    with tempfile.TemporaryDirectory(prefix="hazardwatch-export-") as work:
        if weights.is_file():  # ultralytics writes the ONNX beside the weights: use a copy
            weights = Path(shutil.copy(weights, Path(work) / weights.name))
        os.chdir(work)
        model = YOLO(str(weights))
        head_classes = int(getattr(model.model.model[-1], "nc", 0))
        if names is not None:
            if len(names) != head_classes:
                print(f"{args.names_file} has {len(names)} names, the model {head_classes}")
                return 2
            model.model.names = dict(enumerate(names))
        exported = model.export(
            format="onnx",
            imgsz=args.imgsz,
            dynamic=args.dynamic,
            simplify=True,
            nms=False if args.end2end else None,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(exported), out)
    import onnx  # ultralytics' ONNX export needs it, so it is here

    metadata = {
        p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props
    }
    report = {
        "onnx": str(out),
        "names": len(ast.literal_eval(metadata.get("names", "{}"))),
        "imgsz": args.imgsz,
        "dynamic": args.dynamic,
        "end2end": metadata.get("end2end", "False") == "True",
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
