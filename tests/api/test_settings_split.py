"""Each part owns its settings (issue 12): the ``api`` section lives in api/settings/, not in the
root config, and importing it does not load the service (FastAPI, Starlette, SQLAlchemy)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import api.settings
from api.settings import dispatch, levels, notify, reports, roles

ROOT = Path(__file__).resolve().parents[2]
SERVICE_STACK = ("fastapi", "starlette", "sqlalchemy")
SETTINGS_MODULES = (api.settings, roles, levels, dispatch, notify, reports)
# Every settings class and check that used to live in pipelines/config.py or pipelines/settings_*.
MOVED = {name for module in SETTINGS_MODULES for name in module.__all__ if name[0].isupper()} | {
    "verify_api",
    "verify_levels",
    "verify_dispatch",
    "verify_tokens",
    "verify_token_names",
}


def loaded_by(module: str) -> list[str]:
    """The service-stack packages a fresh interpreter holds after importing ``module``."""
    stack = sorted(SERVICE_STACK)
    code = (
        f"import sys, json, {module}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({stack!r}))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    found: list[str] = json.loads(done.stdout)
    return found


@pytest.mark.timeout(150)
@pytest.mark.parametrize("module", ["api.settings", "pipelines.config"])
def test_settings_import_without_the_service(module: str) -> None:
    assert loaded_by(module) == [], f"importing {module} loads the service's stack"


def test_root_config_defines_none_of_the_api_settings() -> None:
    tree = ast.parse((ROOT / "pipelines" / "config.py").read_text())
    defined = {
        node.name for node in tree.body if isinstance(node, ast.ClassDef | ast.FunctionDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert not defined & MOVED, f"pipelines/config.py defines {sorted(defined & MOVED)}"
    assert not defined & {"SYSTEM_ACTOR", "ENV_ADMIN_NAME", "RESERVED_TOKEN_NAMES"}
    assert not list((ROOT / "pipelines").glob("settings_*.py")), "old settings modules are back"


def test_root_config_does_not_reexport_them() -> None:
    import pipelines.config

    assert not set(pipelines.config.__all__) & MOVED


@pytest.mark.parametrize("module", SETTINGS_MODULES, ids=lambda m: m.__name__)
def test_all_names_what_the_module_defines(module: ModuleType) -> None:
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == module.__name__, (
                f"{module.__name__}.__all__ re-exports {name} of {value.__module__}"
            )
