"""``require_shared``: a skip locally, a failure under CI, nothing when the media are there.

Each case runs a tiny test file in a separate pytest process with its own environment, as a CI
service would run the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

TINY_TEST = """
from pathlib import Path

from tests.support.assets import require_shared


def test_needs_shared_media():
    require_shared([Path({present!r}), Path({wanted!r})], "the tiny test")
"""


def run_tiny_test(tmp_path: Path, wanted: Path, ci: str | None) -> subprocess.CompletedProcess:
    present = tmp_path / "present.mp4"
    present.write_bytes(b"")
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text(TINY_TEST.format(present=str(present), wanted=str(wanted)))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(REPO)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("ci", "media_there", "returncode", "outcome"),
    [
        (None, False, 0, "1 skipped"),
        ("false", False, 0, "1 skipped"),
        ("true", False, 1, "1 failed"),
        ("TRUE", False, 1, "1 failed"),
        ("1", False, 1, "1 failed"),
        ("true", True, 0, "1 passed"),
        (None, True, 0, "1 passed"),
    ],
    ids=[
        "local-missing-skips",
        "ci-false-missing-skips",
        "ci-missing-fails",
        "ci-upper-case-missing-fails",
        "ci-1-missing-fails",
        "ci-present-passes",
        "local-present-passes",
    ],
)
def test_require_shared(
    tmp_path: Path, ci: str | None, media_there: bool, returncode: int, outcome: str
) -> None:
    wanted = tmp_path / "clips" / "real.mp4"
    if media_there:
        wanted.parent.mkdir()
        wanted.write_bytes(b"")
    done = run_tiny_test(tmp_path, wanted, ci)
    output = done.stdout + done.stderr
    assert done.returncode == returncode, output
    assert outcome in output, output
    if not media_there:
        # the same reason either way, naming what needs the media and what is missing
        assert f"the tiny test needs the shared test media, missing: {wanted}" in output, output
        assert str(tmp_path / "present.mp4") + "," not in output, output
