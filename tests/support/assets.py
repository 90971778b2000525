"""The shared test media in tests: skip locally when they are absent, fail under CI.

Larger media (real clips, the labelled e-bike screenshots, the FastestDet model) live outside the
repository, in the shared test media (``$HAZARDWATCH_ASSETS`` or ``<repo>/../shared/assets``, see
:mod:`pipelines.assets`). A developer without them gets a skip naming what is missing; a CI run
(``CI=true``, as CI services set it and ``.ci/run`` does) gets a failure with the same reason, so
that the accuracy gate can never quietly become a skip. Tests of the repository's own ``assets/``
need none of this: those files are committed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from pipelines.assets import ASSETS_ENV, shared_assets_dir

SHARED_ASSETS = shared_assets_dir()


def in_ci() -> bool:
    """Whether this run is a CI run: ``CI`` is ``true`` (any case) or ``1``."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require_shared(paths: Path | Iterable[Path], what: str) -> None:
    """Skip the calling test (fail it under CI) unless every path of the shared media exists.

    Args:
        paths: files or folders of the shared test media the test needs.
        what: what needs them, for the message (``"the accuracy gate"``).
    """
    wanted = [paths] if isinstance(paths, Path) else list(paths)
    missing = [str(p) for p in wanted if not p.exists()]
    if not missing:
        return
    reason = (
        f"{what} needs the shared test media, missing: {', '.join(missing)} "
        f"(set {ASSETS_ENV} or put them at {SHARED_ASSETS})"
    )
    if in_ci():
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)
