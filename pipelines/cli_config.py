"""``hazardwatch check-config FILE``: validate a config file and list every problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cameras.schema_checks import verify_decode
from pipelines.config import ConfigError, load_config
from pipelines.evidence_keys import verify_evidence_keys
from pipelines.model_checks import checking_labels, verify_models

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check-config`` subcommand to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "check-config",
        help="validate a config file",
        description="Validate a config file; print each error with its dotted path "
        "(cameras.lobby.zones.lift.polygon[2]). Each detector's model is loaded to check that "
        "the classes each camera's hazards need are among that model's classes, each enabled "
        "camera's decode.hwaccel is tried on this box, and the evidence keys (evidence.keys_file, "
        "the environment) are read as a start reads them. Exit 0 when valid, 2 when not.",
    )
    parser.add_argument("file", metavar="FILE", help="YAML config file")
    parser.set_defaults(func=handle_check_config)


def handle_check_config(args: argparse.Namespace) -> int:
    """Print ``OK: <file>: N cameras (ids)`` on stdout, or every error on stderr (exit 2)."""
    try:
        config = load_config(args.file)
        issues = verify_models(config, checking_labels(Path(args.file).parent))
        # The hardware decoders this box has (the camera runs here; serve need not check).
        for camera_id, camera in config.cameras.items():
            if camera.enabled:
                issues += verify_decode(camera_id, camera)
        # The evidence keys file (and variable) as run and serve will read them at start.
        issues += verify_evidence_keys(config.evidence, Path(args.file).parent)
        if issues:
            raise ConfigError(args.file, issues)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        count = len(exc.errors)
        print(f"{args.file}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ids = list(config.cameras)
    print(f"OK: {args.file}: {len(ids)} camera{'s' if len(ids) != 1 else ''} ({', '.join(ids)})")
    return EXIT_OK
