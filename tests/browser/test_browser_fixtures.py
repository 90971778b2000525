"""The browser fixtures' own rule: without Playwright or Chromium the browser tests are skipped
saying what is missing, but under ``CI=true`` they fail (CI must never pass them by skipping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import conftest

pytestmark = pytest.mark.timeout(30)


def test_a_missing_chromium_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        conftest._require_browser()


def test_a_missing_chromium_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"cannot run under CI=true: .*no-chromium"):
        conftest._require_browser()


def test_this_machine_can_run_them() -> None:
    assert conftest.browser_unavailable() is None
