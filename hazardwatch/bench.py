"""``hazardwatch bench``: how many cameras of a profile this box carries in real time.

The work is done by the repository's capacity bench (``benchmarks/capacity``, run as a separate
program: the product never imports benchmark code); it draws its camera streams with the scenario
generator, so like ``hazardwatch demo`` it needs a checkout of the repository. The options are
defined here once, for this command and for ``python -m benchmarks.capacity``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from pipelines.cli_args import count_arg

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_PACKAGE = REPO_ROOT / "benchmarks" / "capacity"
PROFILES = ("lane", "lift", "facade", "mixed")
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def cameras_arg(text: str) -> int | None:
    """``auto`` (None) or a camera count of at least 1."""
    if text == "auto":
        return None
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"expected a count 1..256 or 'auto', got {text!r}")
    return int(text)


def size_arg(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT``, even, 64..3840 wide."""
    match = _SIZE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x360, got {text!r}")
    width, height = int(match[1]), int(match[2])
    if not (64 <= width <= 3840 and 64 <= height <= 2160) or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size {text}: even, 64..3840 x 64..2160")
    return width, height


def workers_arg(text: str) -> str:
    if text != "auto" and not (text.isdigit() and 1 <= int(text) <= 64):
        raise argparse.ArgumentTypeError(f"expected a count 1..64 or 'auto', got {text!r}")
    return text


def duration_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 10 <= value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"--duration must be 10..86400 s, got {text}")
    return value


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The bench's options (also parsed by ``python -m benchmarks.capacity``)."""
    p.add_argument(
        "--profile",
        choices=PROFILES,
        required=True,
        help="lane: 1080p25 4 Mbit/s, YOLOX-Nano 416 at 5 fps; lift: 720p lift car, "
        "lift e-bike model; facade: 720p25, falling objects at full rate; mixed: "
        "4 lane : 2 lift : 2 facade repeated",
    )
    p.add_argument(
        "--cameras",
        type=cameras_arg,
        required=True,
        metavar="N|auto",
        help="cameras to run, or auto: find the largest count in real time",
    )
    p.add_argument(
        "--duration",
        type=duration_arg,
        default=60.0,
        metavar="S",
        help="measured seconds per trial (the first 20%%, at least 10 s, is warm-up)",
    )
    p.add_argument("--json", type=Path, metavar="F", help="write the full report here")
    p.add_argument(
        "--substream",
        action="store_true",
        help="analyse a 640x360 substream; clips stream-copied from the main stream",
    )
    p.add_argument(
        "--source",
        choices=("file", "rtsp"),
        default="file",
        help="files played in real time (default) or a local gst-rtsp-server",
    )
    p.add_argument(
        "--workers",
        type=workers_arg,
        metavar="N|auto",
        help="passed to `hazardwatch run --workers` (default: run's own default)",
    )
    p.add_argument(
        "--size",
        type=size_arg,
        metavar="WxH",
        help="main stream size instead of the profile's (small, for quick tests)",
    )
    p.add_argument(
        "--max-cameras", type=count_arg(1, 256), default=48, help="upper bound of --cameras auto"
    )
    p.add_argument(
        "--max-trials", type=count_arg(2, 30), default=8, help="trials of --cameras auto at most"
    )
    p.add_argument(
        "--no-references",
        action="store_true",
        help="skip the floor and naive-loop references (quick runs)",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        help="trial logs, configs and data (default: a temporary directory, removed)",
    )


def bench_argv(args: argparse.Namespace) -> list[str]:
    """The parsed options as arguments for ``python -m benchmarks.capacity``."""
    cameras = "auto" if args.cameras is None else str(args.cameras)
    argv = ["--profile", args.profile, "--cameras", cameras, "--duration", str(args.duration)]
    argv += ["--source", args.source, "--max-cameras", str(args.max_cameras)]
    argv += ["--max-trials", str(args.max_trials)]
    options = {"--json": args.json, "--workers": args.workers, "--work-dir": args.work_dir}
    for flag, value in options.items():
        if value is not None:  # paths made absolute: the bench runs in the repository
            argv += [flag, str(value.resolve() if isinstance(value, Path) else value)]
    if args.size is not None:
        argv += ["--size", f"{args.size[0]}x{args.size[1]}"]
    if args.substream:
        argv.append("--substream")
    if args.no_references:
        argv.append("--no-references")
    return argv


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench", help="how many cameras of a profile this box carries in real time"
    )
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if not (BENCH_PACKAGE / "__main__.py").is_file():
        print(
            "hazardwatch bench: the capacity bench (benchmarks/capacity) and the scenario "
            "generator it draws its streams with are not here: run it from a checkout of the "
            "repository",
            file=sys.stderr,
        )
        return 2
    command = [sys.executable, "-m", "benchmarks.capacity", *bench_argv(args)]
    return subprocess.run(command, cwd=REPO_ROOT).returncode
