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

# The root config (pipelines/config.py) holds the file's `api` section, whose settings live with
# the service in api/settings/: pipelines may import that package and nothing else of api. So
# that this does not drag the service into the pipeline, api/settings/ imports no more of the
# project than cameras and vision, and nothing of the service's stack.
SETTINGS = "api.settings"
SETTINGS_DIR = ("api", "settings")
SETTINGS_RULE: tuple[set[str], set[str]] = (
    {"cameras", "vision"},
    {"fastapi", "starlette", "sqlalchemy", "alembic", "redis", "onnxruntime", "httpx"},
)


def is_settings(module: str) -> bool:
    return module == SETTINGS or module.startswith(SETTINGS + ".")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path, *, except_settings: bool = False) -> set[str]:
    """The top-level packages ``path`` imports; ``except_settings``: not counting api.settings."""
    return {
        module.split(".")[0]
        for module in imported_modules(path)
        if not (except_settings and is_settings(module))
    }


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
    in_settings = path.relative_to(ROOT).parts[:2] == SETTINGS_DIR
    if in_settings:
        allowed_project, forbidden_third_party = SETTINGS_RULE
    roots = imported_roots(path, except_settings=package == "pipelines" or in_settings)
    bad_project = (roots & PROJECT) - allowed_project
    bad_third = roots & forbidden_third_party
    where = path.relative_to(ROOT)
    layer = "/".join(SETTINGS_DIR) if in_settings else package
    allowed = sorted(
        allowed_project | ({SETTINGS} if package == "pipelines" or in_settings else set())
    )
    assert not bad_project, (
        f"{where} imports {sorted(bad_project)}; {layer}/ may import only {allowed}"
    )
    assert not bad_third, f"{where} imports {sorted(bad_third)}, which {layer}/ must not use"
