"""Run the training script in an interpreter that has torch and onnx2torch (stdlib only).

The run-time venv has neither (torch is large and only needed to train). ``models train`` looks
for a training interpreter, in order: ``$HAZARDWATCH_TRAIN_PYTHON``; the running interpreter when
it can import torch and onnx2torch (the ``[train]`` extra installed in it); ``.venv-export`` in the
working directory or the repository (``make export-venv`` installs the ``[train]`` packages
there). It then runs ``python -m models.training.trainer`` with the repository on ``PYTHONPATH``:
the progress bar goes straight to the terminal (stderr), the result line is read from stdout.

``OMP_WAIT_POLICY=PASSIVE`` is set unless given: on two shared cores, torch's OpenMP threads
otherwise spin while they wait and a step took 2-9 s instead of ~1.4 s when other processes ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from models.export import EXPORT_VENV

TRAIN_PYTHON_ENV = "HAZARDWATCH_TRAIN_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN_MODULES = ("torch", "onnx2torch", "onnx", "tqdm")


class TrainLaunchError(Exception):
    """No training interpreter, or the training failed (the message says which and why)."""


def _has_training_modules() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in TRAIN_MODULES)


def find_train_python(search_from: Path | None = None) -> Path | None:
    """An interpreter that can run the training script, or None."""
    configured = os.environ.get(TRAIN_PYTHON_ENV)
    if configured:
        return Path(configured)
    if _has_training_modules():
        return Path(sys.executable)
    for root in (search_from or Path.cwd(), REPO_ROOT):
        candidate = root / EXPORT_VENV / "bin" / "python"
        if candidate.is_file():
            return candidate
    return None


def run_training(
    python: Path, argv: list[str], timeout_s: float | None = None
) -> dict[str, object]:
    """Run ``python -m models.training.trainer ARGV``; return its JSON result line.

    Raises:
        TrainLaunchError: the interpreter is missing, lacks a package (naming it), the script
            rejected its input (its message) or failed, or printed no result.
    """
    if not Path(python).is_file():
        raise TrainLaunchError(f"training interpreter {python} does not exist")
    # find_spec, not import: onnx2torch imports torchvision, whose wheel may fail to import next
    # to a CPU torch (the trainer stubs it then; models/training/yolox_torch.py).
    probe = (
        "import importlib.util, sys; missing = [m for m in sys.argv[1:] if "
        "importlib.util.find_spec(m) is None]; sys.exit('No module named ' + ', '.join(missing) "
        "if missing else 0)"
    )
    check = subprocess.run(
        [str(python), "-c", probe, *TRAIN_MODULES],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        tail = (check.stderr.strip().splitlines() or ["?"])[-1]
        raise TrainLaunchError(
            f"{python} cannot train ({tail}); install the [train] extra there "
            f"(pip install '.[train]', or `make export-venv` for .venv-export)"
        )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [str(python), "-m", "models.training.trainer", *argv]
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, env=env, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TrainLaunchError(f"training timed out after {timeout_s} s") from exc
    if done.returncode != 0:
        raise TrainLaunchError(
            f"training failed (exit {done.returncode}); its error is printed above"
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise TrainLaunchError(f"training printed no result line:\n{done.stdout[-2000:]}")
    report = json.loads(lines[-1])
    if not isinstance(report, dict):
        raise TrainLaunchError(f"training printed {lines[-1]!r}, not a JSON object")
    return report
