"""The ticket store of the release before migrations, loaded from git, for the migration tests.

``git show 0c674f0:api/store.py`` is run as a module of its own (its own SQLAlchemy ``Base``, so
its tables are the ones it declares, made by its own ``create_all``); what it imports is today's
code, unchanged since that release for everything the store uses (names that have moved since
are imported from where they live now: :data:`MOVED_IMPORTS`). Its :class:`TicketStore` makes
the database and applies real events and transitions to it, exactly as a site running that
release did.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PREVIOUS_RELEASE = "0c674f0"
REPO = Path(__file__).resolve().parents[2]
_MODULE = "hazardwatch_previous_release_store"
# Import lines of that release's store whose names have moved since (the same objects), with
# where they are imported from today: TokenRole went to api.settings with the api section's
# settings (issue 12, config by concern).
MOVED_IMPORTS = {
    "from pipelines.config import TokenRole\n": "from api.settings.roles import TokenRole\n",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def previous_source(path: str = "api/store.py") -> str:
    """The file at the previous release; skips the test (fails it under CI) when git or the
    commit is not there (an export without history, a shallow clone)."""
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "show", f"{PREVIOUS_RELEASE}:{path}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        reason = (
            f"the previous release's {path} is not readable from git ({exc}); the migration "
            f"test needs the commit {PREVIOUS_RELEASE} (git fetch --unshallow)"
        )
        if _in_ci():
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)


@contextmanager
def previous_store_module() -> Iterator[types.ModuleType]:
    """The previous release's ``api.store`` as a temporary module (removed afterwards)."""
    source = previous_source()
    for then, now in MOVED_IMPORTS.items():
        assert then in source, f"{PREVIOUS_RELEASE}:api/store.py has no line {then!r}"
        source = source.replace(then, now)
    module = types.ModuleType(_MODULE)
    module.__file__ = f"<{PREVIOUS_RELEASE}:api/store.py>"
    # dataclasses and SQLAlchemy resolve the module's annotations through sys.modules
    sys.modules[_MODULE] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        yield module
    finally:
        sys.modules.pop(_MODULE, None)
