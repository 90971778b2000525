"""Where the evidence keys come from: the config's ``evidence`` section, or the environment.

Evidence is written by ``run`` and read by ``serve`` (and ``up``, ``demo``, ``evidence
rotate-key``), so the section belongs to the whole file, not to one side. It never holds key
material: ``evidence.keys_file`` names a file holding the same ``id:base64key, ...`` entries as
the ``HAZARDWATCH_EVIDENCE_KEYS`` variable (:mod:`pipelines.evidence_crypto`), readable by its
owner only, and read once at start (:func:`start_keys`). ``evidence.keys_env`` names the
environment variable (default ``HAZARDWATCH_EVIDENCE_KEYS``).

Precedence: with no ``keys_file`` the variable is used, as before. With both, they must hold the
same keys, else the start fails naming both: a process started with an old variable left in its
unit file would otherwise encrypt with another key than its peers, and neither silently winning
is safer than either. ``check-config`` reports what would stop the start, each problem at
``evidence.keys_file`` or ``evidence.keys_env``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from cameras.schema import ConfigModel
from cameras.schema_checks import ConfigIssue
from pipelines.evidence_crypto import (
    KEYS_ENV,
    EvidenceKeyConfigError,
    EvidenceKeys,
    keys_from_env,
    use_configured_keys,
)

__all__ = [
    "EvidenceSettings",
    "keys_file_path",
    "resolve_evidence_keys",
    "start_keys",
    "verify_evidence_keys",
]

_FILE_PATH = "evidence.keys_file"
_ENV_PATH = "evidence.keys_env"
_MAX_FILE_BYTES = 64 * 1024  # a few hundred entries; anything larger is not a keys file


class EvidenceSettings(ConfigModel):
    """Where the keys of evidence encrypted at rest come from (none: evidence is written plain)."""

    keys_file: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="File holding the evidence keys as 'id:base64key' entries separated by "
        "commas or white space, the first one encrypting ('hazardwatch evidence new-key ID' "
        "prints one); absolute, or relative to the config file's folder. It must be readable "
        "by its owner only (chmod 600) and is read at start. When keys_env is set too, both "
        "must hold the same keys, else the start fails. The keys never go in this YAML.",
    )
    keys_env: str = Field(
        default=KEYS_ENV,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Environment variable that may hold the same entries (default "
        "HAZARDWATCH_EVIDENCE_KEYS, which HAZARDWATCH_EVIDENCE_KEY may replace); used when "
        "keys_file is not given, and must agree with it when both are.",
    )


def keys_file_path(settings: EvidenceSettings, base_dir: Path) -> Path | None:
    """``keys_file`` as a path: absolute as given, else under ``base_dir`` (the config's folder)."""
    if settings.keys_file is None:
        return None
    path = Path(settings.keys_file).expanduser()
    return path if path.is_absolute() else base_dir / path


def _read_keys_file(path: Path) -> EvidenceKeys:
    """The keys in ``path``, opened once (the mode checked is the mode of the file read).

    Raises:
        EvidenceKeyConfigError: naming the path and what is wrong (never a key).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the start
    except FileNotFoundError:
        raise EvidenceKeyConfigError(f"evidence key file {path} does not exist") from None
    except PermissionError:
        raise EvidenceKeyConfigError(
            f"cannot read evidence key file {path}: permission denied"
        ) from None
    except OSError as exc:
        raise EvidenceKeyConfigError(
            f"cannot read evidence key file {path}: {exc.strerror or exc}"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EvidenceKeyConfigError(f"evidence key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise EvidenceKeyConfigError(
                f"evidence key file {path} is open to group or others (mode {mode:04o}); it "
                f"must be readable by its owner only: chmod 600 {path}"
            )
        raw = _read_at_most(fd, _MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise EvidenceKeyConfigError(
            f"cannot read evidence key file {path}: {exc.strerror or exc}"
        ) from None
    finally:
        os.close(fd)
    if len(raw) > _MAX_FILE_BYTES:
        raise EvidenceKeyConfigError(
            f"evidence key file {path} is larger than {_MAX_FILE_BYTES} bytes: not a keys file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvidenceKeyConfigError(
            f"evidence key file {path} is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    if not text.strip():
        raise EvidenceKeyConfigError(
            f"evidence key file {path} names no key: expected 'id:base64key' entries "
            "(hazardwatch evidence new-key ID prints one)"
        )
    return EvidenceKeys.parse(text, f"evidence key file {path}")


def _read_at_most(fd: int, limit: int) -> bytes:
    pieces: list[bytes] = []
    size = 0
    while size < limit and (piece := os.read(fd, limit - size)):
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def _env_keys(settings: EvidenceSettings, environ: Mapping[str, str]) -> EvidenceKeys | None:
    if settings.keys_env == KEYS_ENV:  # with its older singular spelling, as before
        return keys_from_env(environ)
    text = environ.get(settings.keys_env) or None
    return None if text is None else EvidenceKeys.parse(text, settings.keys_env)


def resolve_evidence_keys(
    settings: EvidenceSettings, base_dir: Path, environ: Mapping[str, str] | None = None
) -> tuple[EvidenceKeys | None, list[ConfigIssue]]:
    """The keys the settings give (None: evidence is written plain) and every problem found,
    each at ``evidence.keys_file`` or ``evidence.keys_env``; the keys are None when there is
    any problem."""
    env = os.environ if environ is None else environ
    issues: list[ConfigIssue] = []
    from_env = from_file = None
    try:
        from_env = _env_keys(settings, env)
    except EvidenceKeyConfigError as exc:
        issues.append(ConfigIssue(_ENV_PATH, str(exc)))
    path = keys_file_path(settings, base_dir)
    if path is not None:
        try:
            from_file = _read_keys_file(path)
        except EvidenceKeyConfigError as exc:
            issues.append(ConfigIssue(_FILE_PATH, str(exc)))
    if from_env is not None and from_file is not None and from_env.keys != from_file.keys:
        issues.append(
            ConfigIssue(
                _FILE_PATH,
                f"evidence key file {path} (keys {', '.join(from_file.ids)}) and the "
                f"environment variable {settings.keys_env} (keys {', '.join(from_env.ids)}) "
                f"hold different keys: unset {settings.keys_env}, or give it the same entries",
            )
        )
    if issues:
        return None, issues
    return (from_file if path is not None else from_env), issues


def verify_evidence_keys(
    settings: EvidenceSettings, base_dir: Path, environ: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """What would stop the start (``check-config``): see :func:`resolve_evidence_keys`."""
    return resolve_evidence_keys(settings, base_dir, environ)[1]


def start_keys(
    settings: EvidenceSettings, base_dir: Path, environ: Mapping[str, str] | None = None
) -> list[ConfigIssue]:
    """Resolve the keys at a process's start; every problem found, each with its dotted path
    (the caller refuses to start). With none, and when the config names where the keys come
    from (a ``keys_file``, or a ``keys_env`` other than the default), they become the process's
    keys (:func:`pipelines.evidence_crypto.use_configured_keys`); otherwise the environment
    stays the source, read as before."""
    keys, issues = resolve_evidence_keys(settings, base_dir, environ)
    if not issues and (settings.keys_file is not None or settings.keys_env != KEYS_ENV):
        use_configured_keys(keys)
    return issues
