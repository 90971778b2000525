"""``hazardwatch evidence``: the keys of evidence encrypted at rest (``evidence_crypto``).

- ``evidence new-key ID`` prints a fresh ``ID:base64key`` entry, for the config's
  ``evidence.keys_file`` or ``HAZARDWATCH_EVIDENCE_KEYS``.
- ``evidence rotate-key [--config FILE]`` re-encrypts every evidence file under
  ``DATA_DIR/evidence`` with the newest key (the first of the keys ``run`` and ``serve`` use: the
  config's ``evidence`` section when ``--config`` is given, see :mod:`pipelines.evidence_keys`,
  else ``HAZARDWATCH_EVIDENCE_KEYS``), plain files included, each atomically;
  the plaintext and so the SHA-256 recorded in tickets is unchanged. Run it after putting the new
  key first in every process's keys (the others keep reading old files meanwhile); drop the old
  key only once it reported no failure. It can be run again: files already under the newest key
  are left alone.

Exit codes: 0 done, 2 bad input (no or malformed keys, no evidence folder), 1 some files failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.config import ConfigError, HazardwatchConfig, load_config
from pipelines.evidence_crypto import (
    KEYS_ENV,
    EvidenceKeyConfigError,
    EvidenceKeys,
    keys_from_env,
    new_key_entry,
    rotate_evidence_keys,
)
from pipelines.evidence_keys import resolve_evidence_keys, start_keys
from pipelines.evidence_layout import EVIDENCE_DIRNAME

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``evidence new-key`` and ``evidence rotate-key`` to the ``hazardwatch`` parser."""
    parser = subparsers.add_parser("evidence", help="keys of the evidence encrypted at rest")
    sub = parser.add_subparsers(dest="evidence_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda _args: _usage(parser))
    new_key = sub.add_parser(
        "new-key",
        help=f"print a fresh ID:base64key entry for evidence.keys_file or {KEYS_ENV}",
        description="Print a new random AES-256 key as an entry for the config's "
        f"evidence.keys_file (e.g. hazardwatch evidence new-key k2 >> FILE, the file kept "
        f"chmod 600) or for {KEYS_ENV}. Put it first to make it the one that encrypts.",
    )
    new_key.add_argument("key_id", metavar="ID", help="the key's id (letters, digits, _ - .)")
    new_key.set_defaults(func=_new_key)
    rotate = sub.add_parser(
        "rotate-key",
        help="re-encrypt every evidence file under the newest key",
        description="Re-encrypt every evidence file with the first key (plain files too), "
        "atomically per file; the recorded SHA-256 (of the plaintext) is unchanged. The keys "
        f"are those of --config's evidence section (keys_file, keys_env), else {KEYS_ENV}.",
    )
    rotate.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the config file whose evidence section names the keys (as run and serve read it)",
    )
    rotate.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="database, spool, evidence (./data)"
    )
    rotate.set_defaults(func=_rotate)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _new_key(args: argparse.Namespace) -> int:
    try:
        print(new_key_entry(args.key_id))
    except EvidenceKeyConfigError as exc:
        print(f"hazardwatch evidence new-key: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _load(config_path: Path) -> HazardwatchConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise EvidenceKeyConfigError(str(exc)) from None


def config_keys(config_path: Path) -> EvidenceKeys | None:
    """The keys ``run`` and ``serve`` would use with ``config_path`` (its evidence section and
    the environment); None: evidence is written plain.

    Raises:
        EvidenceKeyConfigError: the config or its keys cannot be used (every problem, each as
            ``<file>: <dotted path>: <message>``).
    """
    keys, issues = resolve_evidence_keys(_load(config_path).evidence, config_path.parent)
    if issues:
        raise EvidenceKeyConfigError(str(ConfigError(str(config_path), issues)))
    return keys


def start_config_keys(config_path: Path) -> None:
    """Make this process read and write evidence with the keys of ``config_path``, as ``serve``
    does (for a command reading evidence, e.g. ``dataset export --config``).

    Raises:
        EvidenceKeyConfigError: as :func:`config_keys`.
    """
    issues = start_keys(_load(config_path).evidence, config_path.parent)
    if issues:
        raise EvidenceKeyConfigError(str(ConfigError(str(config_path), issues)))


def _rotate(args: argparse.Namespace) -> int:
    try:
        keys = keys_from_env() if args.config is None else config_keys(args.config)
    except EvidenceKeyConfigError as exc:
        print(f"hazardwatch evidence rotate-key: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if keys is None:
        print(
            f"hazardwatch evidence rotate-key: no evidence keys are configured: set {KEYS_ENV} "
            "to 'newid:base64key,oldid:base64key' (the first encrypts), or give --config with "
            "evidence.keys_file",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    root = args.data_dir / EVIDENCE_DIRNAME
    if not root.is_dir():
        print(f"hazardwatch evidence rotate-key: no evidence folder at {root}", file=sys.stderr)
        return EXIT_BAD_INPUT
    report = rotate_evidence_keys(args.data_dir, keys)
    print(report.summary())
    for failure in report.failed:
        print(f"  failed: {failure}", file=sys.stderr)
    return EXIT_FAILED if report.failed else EXIT_OK
