"""models/export.py as a library: finding the export interpreter and reporting failures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from models.export import ExportError, find_export_python, run_export


def test_missing_interpreter_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"export interpreter .*nope/python does not exist"):
        run_export(tmp_path / "nope" / "python", "yolo11n.yaml", tmp_path / "out.onnx")


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is not None, reason="ultralytics is in this venv"
)
def test_interpreter_without_ultralytics_fails_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"exit 2\):\nultralytics is not installed in"):
        run_export(Path(sys.executable), "yolo11n.yaml", tmp_path / "out.onnx")


def test_find_export_python_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAZARDWATCH_EXPORT_PYTHON", "/opt/export/bin/python")
    assert find_export_python(tmp_path) == Path("/opt/export/bin/python")
    monkeypatch.delenv("HAZARDWATCH_EXPORT_PYTHON")
    venv_python = tmp_path / ".venv-export" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("")
    if importlib.util.find_spec("ultralytics") is None:
        assert find_export_python(tmp_path) == venv_python
