"""The two asset folders, in one place, and the check of the product's pinned assets.

- **Product assets**, ``<repo>/assets``: what the product needs to run and may redistribute: the
  default detector (YOLOX-Nano COCO), its labels and the photos the demo composites. They are
  committed, each source with its NOTICE, and pinned by sha256 in ``assets/MANIFEST.sha256``
  (``sha256sum -c`` reads it too).
- **Shared test media**, ``$HAZARDWATCH_ASSETS`` or else ``<repo>/../shared/assets``: larger,
  partly not redistributable (the e-bike screenshots, the real facade clips). Tests, the accuracy
  gate and ``${ASSETS}`` in suite files use it; a clone without it still runs the demo.

``hazardwatch demo`` uses the product assets unless ``HAZARDWATCH_ASSETS`` names another folder
(the full shared assets, for instance).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from cameras.clips import sha256_file

REPO_ROOT = Path(__file__).resolve().parents[1]
PRODUCT_ASSETS_DIR = REPO_ROOT / "assets"
MANIFEST_FILE = "MANIFEST.sha256"
ASSETS_ENV = "HAZARDWATCH_ASSETS"

_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S(?:.*\S)?)$")


class AssetIntegrityError(Exception):
    """An asset folder that cannot be trusted: the message names the file and what is wrong."""


def shared_assets_dir() -> Path:
    """The shared test media: ``$HAZARDWATCH_ASSETS``, else ``<repo>/../shared/assets``."""
    configured = os.environ.get(ASSETS_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "assets"


def demo_assets_dir() -> Path:
    """The assets the demo composites and detects with: ``$HAZARDWATCH_ASSETS`` when set (the
    full shared assets), else the repository's own ``assets/``."""
    configured = os.environ.get(ASSETS_ENV)
    return Path(configured) if configured else PRODUCT_ASSETS_DIR


@dataclass(frozen=True, slots=True)
class AssetMismatch:
    """One file that differs from the manifest: ``actual_sha256`` is None when it is missing,
    ``expected_sha256`` is None when the manifest does not list it."""

    path: str
    expected_sha256: str | None
    actual_sha256: str | None

    def describe(self) -> str:
        if self.actual_sha256 is None:
            return f"{self.path}: missing (expected sha256 {self.expected_sha256})"
        if self.expected_sha256 is None:
            return f"{self.path}: not listed in {MANIFEST_FILE} (sha256 {self.actual_sha256})"
        return (
            f"{self.path}: sha256 differs: expected {self.expected_sha256}, "
            f"actual {self.actual_sha256}"
        )


def read_manifest(folder: Path) -> dict[str, str]:
    """The pinned hashes of ``folder/MANIFEST.sha256``: relative path -> sha256 (lowercase hex).

    Raises:
        AssetIntegrityError: the manifest is missing, or a line is not
            ``<sha256>  <relative path>``, or a path repeats or leaves the folder.
    """
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        raise AssetIntegrityError(f"{manifest} not found: the assets cannot be checked")
    pinned: dict[str, str] = {}
    for line_no, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _MANIFEST_LINE.match(line)
        where = f"{manifest}:{line_no}"
        if match is None:
            raise AssetIntegrityError(f"{where}: expected '<64 hex digits>  <path>', got {line!r}")
        digest, name = match.groups()
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise AssetIntegrityError(f"{where}: path {name!r} must be relative, inside the folder")
        if name in pinned:
            raise AssetIntegrityError(f"{where}: {name} is listed twice")
        pinned[name] = digest
    return pinned


def check_assets(folder: Path, *, complete: bool = False) -> list[AssetMismatch]:
    """Every file of the manifest whose content differs from its pinned sha256 (or is missing);
    with ``complete``, also every file of the folder the manifest does not list.

    Raises:
        AssetIntegrityError: as :func:`read_manifest`.
    """
    pinned = read_manifest(folder)
    mismatches: list[AssetMismatch] = []
    for name, expected in sorted(pinned.items()):
        path = folder / name
        actual = sha256_file(path) if path.is_file() else None
        if actual != expected:
            mismatches.append(AssetMismatch(name, expected, actual))
    if complete:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            if name != MANIFEST_FILE and name not in pinned:
                mismatches.append(AssetMismatch(name, None, sha256_file(path)))
    return mismatches


def verify_assets(folder: Path, *, complete: bool = False) -> None:
    """Raise unless every file of ``folder``'s manifest matches its pinned sha256.

    Raises:
        AssetIntegrityError: naming every file that is missing or differs (expected and actual
            sha256).
    """
    mismatches = check_assets(folder, complete=complete)
    if mismatches:
        lines = "\n  ".join(m.describe() for m in mismatches)
        raise AssetIntegrityError(
            f"{folder} does not match {MANIFEST_FILE} ({len(mismatches)} file(s)):\n  {lines}"
        )
