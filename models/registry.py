"""The model registry: a folder of ONNX files, each with a JSON manifest.

Layout: ``<root>/<name>.onnx`` and ``<root>/<name>.json``. The root is ``--models-dir``, else
``$HAZARDWATCH_MODELS_DIR``, else ``./models/store`` (a subfolder, because the repository's
``models/`` is the Python package). A manifest records the file's SHA-256 and size, the family,
input size, batch kind and class names found when the model was loaded at import time, and where
it came from.

``pull`` knows two models:

- ``yolox-nano``: the official YOLOX-Nano COCO ONNX from the YOLOX GitHub release 0.1.1rc0,
  checked against its published size and SHA-256 (the same pin is used by several independent
  projects; note it differs from the re-export in the shared assets);
- ``yolo11n``: the official weights from the Ultralytics assets release, exported to ONNX with
  dynamic batch and class names in the metadata by :mod:`models.export` in an interpreter that
  has ultralytics.

Without network both fail within the download timeout, saying how to ``import`` a file instead.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.detector import OnnxDetector
from models.errors import RegistryError
from models.export import ExportError, find_export_python, run_export
from models.spec import DetectorSpec, ModelFamily, ProviderChoice

logger = logging.getLogger(__name__)

MODELS_DIR_ENV = "HAZARDWATCH_MODELS_DIR"
DEFAULT_MODELS_DIR = Path("models") / "store"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class PullSource:
    """Where ``models pull NAME`` gets a model.

    Attributes:
        url: download address.
        sha256: expected hex digest of the download, when published.
        size_bytes: expected size of the download, when published.
        export: the download is Ultralytics weights to export to ONNX.
        description: one line for ``models list``/errors.
    """

    url: str
    sha256: str | None
    size_bytes: int | None
    export: bool
    description: str


PULL_SOURCES: Mapping[str, PullSource] = {
    "yolox-nano": PullSource(
        url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        sha256="c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d",
        size_bytes=3_659_407,
        export=False,
        description="official YOLOX-Nano COCO ONNX (416x416, batch 1), YOLOX release 0.1.1rc0",
    ),
    "yolo11n": PullSource(
        url="https://github.com/ultralytics/assets/releases/download/v8.4.0/yolo11n.pt",
        sha256=None,
        size_bytes=None,
        export=True,
        description="Ultralytics YOLO11n COCO weights, exported to ONNX with dynamic batch",
    ),
}


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """What the registry knows about one stored model."""

    name: str
    file: str
    sha256: str
    size_bytes: int
    family: str
    end_to_end: bool
    input_size: tuple[int, int]
    dynamic_batch: bool
    labels: tuple[str, ...]
    label_source: str
    source: str
    imported_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "family": self.family,
            "end_to_end": self.end_to_end,
            "input_size": list(self.input_size),
            "dynamic_batch": self.dynamic_batch,
            "labels": list(self.labels),
            "label_source": self.label_source,
            "source": self.source,
            "imported_at": self.imported_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> ModelManifest:
        try:
            h, w = (int(v) for v in data["input_size"])
            return cls(
                name=str(data["name"]),
                file=str(data["file"]),
                sha256=str(data["sha256"]),
                size_bytes=int(data["size_bytes"]),
                family=str(data["family"]),
                end_to_end=bool(data.get("end_to_end", False)),
                input_size=(h, w),
                dynamic_batch=bool(data["dynamic_batch"]),
                labels=tuple(str(v) for v in data["labels"]),
                label_source=str(data["label_source"]),
                source=str(data.get("source", "")),
                imported_at=str(data.get("imported_at", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"manifest {where} is malformed: {exc!r}") from exc


def models_dir(explicit: Path | None = None) -> Path:
    """The registry root: ``explicit``, else ``$HAZARDWATCH_MODELS_DIR``, else ./models/store."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(MODELS_DIR_ENV)
    return Path(env) if env else DEFAULT_MODELS_DIR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _import_hint(name: str, source: PullSource) -> str:
    if source.export:
        return (
            f"To add {name} by hand: on a machine with network access and ultralytics, run "
            f"`yolo export model={name}.pt format=onnx dynamic=True` (or `python models/export.py "
            f"--weights {name}.pt --out {name}.onnx --dynamic`), copy the ONNX here and run "
            f"`hazardwatch models import {name}.onnx --name {name}`."
        )
    check = f" and check its SHA-256 is {source.sha256}" if source.sha256 else ""
    return (
        f"To add {name} by hand: download {source.url} on a machine with network access{check}, "
        f"copy it here and run `hazardwatch models import FILE --name {name}`."
    )


class ModelRegistry:
    """A folder of models with manifests.

    Args:
        root: the registry folder (created on the first import).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def list(self) -> list[ModelManifest]:
        """Every stored model's manifest, by name."""
        if not self.root.is_dir():
            return []
        return [self._read_manifest(p) for p in sorted(self.root.glob("*.json"))]

    def get(self, name: str) -> ModelManifest:
        """The manifest of ``name``.

        Raises:
            RegistryError: no such model (naming the models there are).
        """
        path = self.root / f"{name}.json"
        if not path.is_file():
            known = ", ".join(m.name for m in self.list()) or "none"
            raise RegistryError(
                f"no model {name!r} in the registry {self.root} (models there: {known})"
            )
        return self._read_manifest(path)

    def path_of(self, manifest: ModelManifest) -> Path:
        return self.root / manifest.file

    def _read_manifest(self, path: Path) -> ModelManifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"manifest {path} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"manifest {path} is not a JSON object")
        return ModelManifest.from_dict(data, str(path))

    def import_file(
        self,
        path: Path,
        name: str | None = None,
        labels_file: Path | None = None,
        family: ModelFamily = ModelFamily.AUTO,
        input_size: int | None = None,
        source: str | None = None,
        overwrite: bool = False,
    ) -> ModelManifest:
        """Check that ``path`` is a model we can run, then copy it in with a manifest.

        Raises:
            RegistryError: missing file, bad name, or the name is taken (without overwrite).
            ModelLoadError, UnknownModelFamilyError, LabelMappingError: the model cannot run.
        """
        path = Path(path)
        if not path.is_file():
            raise RegistryError(f"cannot import {path}: no such file")
        name = name or re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-")
        if not _NAME.match(name):
            raise RegistryError(
                f"model name {name!r} must be 1-64 of a-z, 0-9, '.', '_', '-' (starting with a "
                f"letter or digit)"
            )
        if (self.root / f"{name}.json").exists() and not overwrite:
            raise RegistryError(
                f"a model named {name!r} is already in {self.root}; choose another --name or "
                f"pass --force to replace it"
            )
        spec = DetectorSpec(
            model=path,
            providers=(ProviderChoice.CPU,),
            labels_file=labels_file,
            family=family,
            input_size=input_size,
            batch_max_size=1,
            warmup_runs=0,
        )
        detector = OnnxDetector(spec)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{name}.onnx"
        digest, size = self._copy_in(path, target)
        manifest = ModelManifest(
            name=name,
            file=target.name,
            sha256=digest,
            size_bytes=size,
            family=detector.family.value,
            end_to_end=detector.end_to_end,
            input_size=detector.input_hw,
            dynamic_batch=detector.dynamic_batch,
            labels=detector.labels,
            label_source=detector.label_source.value,
            source=source or str(path.resolve()),
            imported_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        _write_atomic(self.root / f"{name}.json", json.dumps(manifest.to_dict(), indent=2) + "\n")
        logger.info("imported %s as %s (%s, sha256 %s)", path, name, manifest.family, digest)
        return manifest

    def _copy_in(self, source: Path, target: Path) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=f".{target.name}.")
        tmp = Path(tmp_name)
        try:
            with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            tmp.chmod(0o644)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return digest.hexdigest(), size

    def pull(
        self,
        name: str,
        url: str | None = None,
        timeout_s: float = 10.0,
        imgsz: int = 640,
        overwrite: bool = False,
    ) -> ModelManifest:
        """Download (and for ``yolo11n`` export) a known model into the registry.

        Raises:
            RegistryError: unknown name, download failure (saying how to import by hand),
                checksum mismatch, no ultralytics interpreter, or a failed export.
        """
        source = PULL_SOURCES.get(name)
        if source is None:
            raise RegistryError(
                f"unknown model {name!r} for pull; known: {', '.join(sorted(PULL_SOURCES))}. "
                f"Any supported ONNX file can be added with `hazardwatch models import FILE`."
            )
        url = url or source.url
        if (self.root / f"{name}.json").exists() and not overwrite:
            raise RegistryError(
                f"a model named {name!r} is already in {self.root}; pass --force to pull it again"
            )
        python = find_export_python() if source.export else None
        if source.export and python is None:
            raise RegistryError(
                f"pulling {name} needs ultralytics to export ONNX, and no interpreter with it "
                f"was found (install the [export] extra, create .venv-export, or set "
                f"HAZARDWATCH_EXPORT_PYTHON). {_import_hint(name, source)}"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".pull-") as work:
            download = Path(work) / Path(urllib.request.url2pathname(url)).name
            _download(url, download, timeout_s, source, name)
            if python is None:
                return self.import_file(download, name, source=url, overwrite=overwrite)
            onnx_path = Path(work) / f"{name}.onnx"
            try:
                run_export(python, download, onnx_path, imgsz=imgsz, dynamic=True)
            except ExportError as exc:
                raise RegistryError(f"exporting {name} failed: {exc}") from exc
            return self.import_file(onnx_path, name, source=url, overwrite=overwrite)

    def remove(self, name: str) -> None:
        """Delete a model and its manifest."""
        manifest = self.get(name)
        self.path_of(manifest).unlink(missing_ok=True)
        (self.root / f"{name}.json").unlink(missing_ok=True)


def _download(url: str, dest: Path, timeout_s: float, source: PullSource, name: str) -> None:
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, dest.open("wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RegistryError(
            f"cannot download {name} from {url}: {reason}. {_import_hint(name, source)}"
        ) from exc
    if source.size_bytes is not None and size != source.size_bytes:
        raise RegistryError(
            f"download of {name} from {url} has {size} bytes, expected {source.size_bytes}; "
            f"not installed. {_import_hint(name, source)}"
        )
    if source.sha256 is not None and digest.hexdigest() != source.sha256:
        raise RegistryError(
            f"download of {name} from {url} has SHA-256 {digest.hexdigest()}, expected "
            f"{source.sha256}; not installed"
        )


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
