"""``hazardwatch replay``, ``hazardwatch eval`` and ``hazardwatch derive``."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

from cameras.errors import SourceError
from models.errors import ModelError
from pipelines.builders import BuildError
from pipelines.cli_args import count_arg
from pipelines.config import ConfigError, load_config
from pipelines.derived_clips import Derivation, DeriveError, derive_file, parse_derivations
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
    e.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="only clips whose id matches this shell pattern (repeatable), e.g. 'real_*'",
    )
    e.add_argument(
        "--jobs",
        type=count_arg(1, 64),
        default=1,
        metavar="N",
        help="clips replayed at once, in N processes (default 1); the scores do not depend on "
        "N, the speed figures do (the processes share the cores)",
    )
    e.set_defaults(func=run_eval)

    d = subparsers.add_parser(
        "derive",
        help="re-make a clip under a real camera's conditions (repeats, drops, night, ...)",
        description="Write SOURCE with the given conditions applied, in order, to OUT (H.264 "
        "MP4), keeping the scene's timing so its labels still hold. Conditions: "
        + ", ".join(x.value for x in Derivation)
        + ".",
    )
    d.add_argument("source", type=Path, help="video file")
    d.add_argument("out", type=Path, help="MP4 file to write")
    d.add_argument(
        "--as",
        dest="conditions",
        action="append",
        required=True,
        metavar="CONDITION",
        help="a condition to apply (repeatable, applied in order)",
    )
    d.add_argument("--seed", type=int, default=0, help="seed of the random conditions")
    d.set_defaults(func=run_derive)


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
        patterns = args.only or []
        report = evaluate_suite(
            args.suite,
            progress=progress,
            only=(lambda c: any(fnmatch.fnmatch(c.clip_id, p) for p in patterns))
            if patterns
            else None,
            jobs=args.jobs,
        )
    except (SuiteError, ConfigError, BuildError, SourceError, ModelError, DeriveError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    return 0


def run_derive(args: argparse.Namespace) -> int:
    try:
        chain = parse_derivations(args.conditions, "--as")
    except ValueError as exc:
        print(f"derive: {exc}", file=sys.stderr)
        return 2
    if not args.source.is_file():
        print(f"derive: source not found: {args.source}", file=sys.stderr)
        return 2
    if args.out.resolve() == args.source.resolve():
        print(f"derive: OUT must differ from SOURCE: {args.out}", file=sys.stderr)
        return 2
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        derive_file(args.source, args.out, chain, seed=args.seed)
    except DeriveError as exc:
        print(f"derive: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"derive: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"derive: wrote {args.out} ({'+'.join(c.value for c in chain)})")
    return 0
