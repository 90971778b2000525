"""The single ``hazardwatch`` command line.

Each layer owns its subcommands in a module with ``register(subparsers)``; this file only lists
them. Exit codes (ARCHITECTURE.md §3): 0 ok, 2 bad input, 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from cameras.hwdecode import usable_hwaccels
from pipelines.model_usage import model_uses

# Modules that each add their subcommands; every one sets ``func`` on its parser.
COMMAND_MODULES = (
    "pipelines.cli_config",  # check-config
    "cameras.cli_probe",  # probe
    "models.cli",  # models list|pull|import|validate
    "pipelines.cli_analysis",  # replay, eval
    "hazardwatch.services",  # run, serve, up
    "hazardwatch.demo",  # demo
    "hazardwatch.bench",  # bench
    "api.cli_dataset",  # dataset export
    "api.reports.cli",  # report
    "pipelines.cli_evidence",  # evidence new-key|rotate-key
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hazardwatch",
        description="Video analytics for residential community safety.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a command module not built yet
        module.register(subparsers)
    # `models list --config` reads the config and `models list --device` probes the video
    # decoders, which the models layer cannot: given from here.
    parser.set_defaults(model_usage=model_uses, hwaccels=usable_hwaccels)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except Exception:
        logging.getLogger("hazardwatch").exception("internal error in '%s'", args.command)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
