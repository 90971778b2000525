"""Layer rule: ``models`` imports only vision.types, onnxruntime, numpy, cv2 and the stdlib.

(``models/export.py`` runs as a script in the export interpreter; there, and only inside its
script part, it may import ultralytics and onnx.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "models"
ALLOWED = {"numpy", "cv2", "onnxruntime", "models", "vision.types"}
SCRIPT_ONLY = {"export.py": {"ultralytics", "onnx"}}
# Optional tools of an extra: these imports only inside functions (the run-time venv lacks them).
CALL_TIME_ONLY = {"dynamic_batch.py": {"onnx", "google"}}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _module_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_models_imports_only_allowed_layers(path: Path) -> None:
    lazy = CALL_TIME_ONLY.get(path.name, set())
    early = _module_level_imports(path) & lazy
    assert not early, f"{path.name} imports {sorted(early)} at module level (only when called)"
    extra = SCRIPT_ONLY.get(path.name, set()) | lazy
    bad = []
    for name in _imports(path):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in extra:
            continue
        allowed = name == "vision.types" if top == "vision" else top in ALLOWED
        if not allowed:
            bad.append(name)
    assert not bad, f"{path.name} imports {bad}"
