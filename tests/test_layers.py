"""The layer rules of STYLE.md, enforced: what each package may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"vision", "models", "cameras", "pipelines", "api", "hazardwatch", "benchmarks", "tests"}

# package -> (project packages it may import, third-party packages it must not import)
RULES: dict[str, tuple[set[str], set[str]]] = {
    "vision": ({"vision"}, {"av", "onnxruntime", "pydantic", "fastapi", "redis", "yaml"}),
    "models": ({"models", "vision"}, {"av", "pydantic", "fastapi", "redis", "yaml"}),
    "cameras": ({"cameras", "vision"}, {"onnxruntime", "fastapi", "redis"}),
    "pipelines": ({"pipelines", "cameras", "models", "vision"}, {"fastapi"}),
    "api": ({"api", "pipelines", "cameras", "vision"}, {"av", "onnxruntime"}),
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def cases() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for package in RULES
        for path in sorted((ROOT / package).rglob("*.py"))
        if ".venv" not in path.parts
    ]


@pytest.mark.parametrize(("package", "path"), cases(), ids=lambda v: str(v))
def test_module_respects_its_layer(package: str, path: Path) -> None:
    allowed_project, forbidden_third_party = RULES[package]
    roots = imported_roots(path)
    bad_project = (roots & PROJECT) - allowed_project
    bad_third = roots & forbidden_third_party
    where = path.relative_to(ROOT)
    assert not bad_project, (
        f"{where} imports {sorted(bad_project)}; "
        f"{package}/ may import only {sorted(allowed_project)}"
    )
    assert not bad_third, f"{where} imports {sorted(bad_third)}, which {package}/ must not use"
