"""``python -m benchmarks.capacity`` (what ``hazardwatch bench`` runs): trials, references,
report. Exit codes: 0 the bench finished (whatever its verdict: read the report), 2 bad input or
a bench that could not be set up, 1 internal error."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.capacity.harness import Bench, BenchError, BenchSettings, Progress, search
from benchmarks.capacity.media import MediaError
from benchmarks.capacity.report import build_report, measure_references, print_report, trial_line
from hazardwatch.bench import add_bench_arguments


def parse_args(argv: Sequence[str] | None) -> tuple[BenchSettings, Path | None, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.capacity", description=(__doc__ or "").split("\n")[0]
    )
    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    keep = args.work_dir is not None
    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="hw-bench-"))).resolve()
    settings = BenchSettings(
        profile=args.profile,
        cameras=args.cameras,
        duration_s=args.duration,
        substream=args.substream,
        source=args.source,
        workers=args.workers,
        size=args.size,
        max_cameras=args.max_cameras,
        max_trials=args.max_trials,
        references=not args.no_references,
        work_dir=work,
    )
    return settings, args.json, keep


def main(argv: Sequence[str] | None = None) -> int:
    settings, json_out, keep = parse_args(argv)
    progress = Progress()
    try:
        with Bench(settings, progress) as bench:
            trials = search(bench, lambda t: progress.line(trial_line(t)))
            references = (
                measure_references(
                    bench.kinds, settings.substream, bench.cores, progress.line, settings.duration_s
                )
                if settings.references
                else {}
            )
            report = build_report(settings, trials, references, bench.kinds, bench.cores)
    except (BenchError, MediaError) as exc:
        progress.line(f"hazardwatch bench: {exc}")
        return 2
    finally:
        if not keep:
            shutil.rmtree(settings.work_dir, ignore_errors=True)
    print_report(report)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=1, default=str))
        print(f"report: {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
