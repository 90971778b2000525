"""``hazardwatch replay`` and ``hazardwatch eval``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cameras.errors import SourceError
from models.errors import ModelError
from pipelines.builders import BuildError
from pipelines.config import ConfigError, load_config
from pipelines.evaluate import evaluate_suite, format_report
from pipelines.replay import replay
from pipelines.suite import SuiteError
from vision.types import HazardEvent


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="run one camera's analysis on a video file; events as JSON lines",
        description="Run one camera's full analysis (real detector from the config) on a video "
        "file as fast as possible, with the file's own timestamps. No Redis needed.",
    )
    p.add_argument("--config", required=True, type=Path, help="hazardwatch YAML config")
    p.add_argument("--camera", required=True, help="camera id in the config")
    p.add_argument("--video", required=True, type=Path, help="video file to analyse")
    p.add_argument("--events-out", required=True, type=Path, help="JSON-lines file to write")
    p.set_defaults(func=run_replay)

    e = subparsers.add_parser(
        "eval",
        help="replay every clip of a labelled suite and score it",
        description="Replay every clip of a labelled suite (a directory with suite.yaml, or a "
        "suite YAML file) and print per-kind precision, recall, F1, latency, flapping, "
        "origin-floor accuracy and speed.",
    )
    e.add_argument("suite", nargs="+", type=Path, help="suite directory or suite YAML file")
    e.add_argument("--json", type=Path, help="also write the full report as JSON here")
    e.add_argument("--quiet", action="store_true", help="no per-clip lines")
    e.set_defaults(func=run_eval)


def run_replay(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not args.video.is_file():
        print(f"replay: video not found: {args.video}", file=sys.stderr)
        return 2
    try:
        args.events_out.parent.mkdir(parents=True, exist_ok=True)
        with args.events_out.open("w") as out:

            def write(event: HazardEvent) -> None:
                out.write(json.dumps(event.to_dict()) + "\n")
                out.flush()

            result = replay(
                config, args.camera, args.video, base_dir=args.config.parent, on_event=write
            )
    except (BuildError, SourceError, ModelError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"replay: cannot write {args.events_out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.summary()))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    try:
        report = evaluate_suite(args.suite, progress=progress)
    except (SuiteError, ConfigError, BuildError, SourceError, ModelError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    return 0
