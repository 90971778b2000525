"""Speed of the falling-object analysis: the rule alone, and decode + luma + rule, on a real clip.

    python benchmarks/falling.py [--clip FILE] [--repeats 5] [--threads 1] [--json FILE]

On the office3 facade clip (shared test media; 1280x720, 29.97 fps, H.264) by default, it times
per frame, in the same run:

- ``decode+luma``: PyAV decode and the 480x270 luma the rule takes (two ways: swscale's
  ``reformat(480, 270, "gray")``, and the Y plane resized by OpenCV with INTER_AREA);
- ``rule``: ``FallingObjectRule.update`` alone on luma decoded beforehand (full frame rate);
- ``decode+luma+rule``: both in one loop, as a facade camera's motion analysis runs.

It reports the minimum over ``--repeats`` runs of wall and CPU milliseconds per frame and
``x real time`` = frame interval / wall time per frame (target >= 4x for decode+luma+rule at 720p
full rate, on one decode thread). The rule's events are printed too, as a check that it worked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.assets import shared_assets_dir
from vision.rules.falling_object import FallingObjectRule

DEFAULT_CLIP = shared_assets_dir() / "clips/falling_object/office3_facade_paper_fall_720p.mp4"
# office3: the facade without the street strip (pedestrians) and the tree on the left.
ZONE = ((0.28, 0.0), (1.0, 0.0), (1.0, 0.93), (0.28, 0.93))
LINES = (0.10, 0.24, 0.38, 0.52, 0.66, 0.80)
WIDTH, HEIGHT = 480, 270
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def luma_reformat(frame: av.VideoFrame) -> np.ndarray:
    return frame.reformat(width=WIDTH, height=HEIGHT, format="gray").to_ndarray()


def luma_yplane(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    y = np.frombuffer(memoryview(plane), np.uint8)
    y = y.reshape(plane.height, plane.line_size)[:, : plane.width]
    return cv2.resize(y, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


LUMA: dict[str, Callable[[av.VideoFrame], np.ndarray]] = {
    "reformat": luma_reformat,
    "yplane": luma_yplane,
}


def new_rule() -> FallingObjectRule:
    return FallingObjectRule("bench", "facade", ZONE, LINES, 1, 5, 2)


def pts_seconds(frame: av.VideoFrame, time_base: Any) -> float:
    if frame.pts is None or time_base is None:
        raise ValueError("the clip has frames without timestamps")
    return float(frame.pts * time_base)


def timed(run: Callable[[], int]) -> tuple[float, float, int]:
    """(wall s, CPU s, frames) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    frames = run()
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def decode(
    clip: Path, threads: int, luma: Callable[[av.VideoFrame], np.ndarray], rule: bool
) -> Callable[[], int]:
    def run() -> int:
        analysis = new_rule() if rule else None
        frames = 0
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_count = threads
            for frame in container.decode(stream):
                image = luma(frame)
                if analysis is not None:
                    pts_s = pts_seconds(frame, stream.time_base)
                    analysis.update(image, pts_s, T0 + timedelta(seconds=pts_s))
                frames += 1
        return frames

    return run


def rule_only(lumas: list[tuple[np.ndarray, float]], events: list[str]) -> Callable[[], int]:
    def run() -> int:
        rule = new_rule()
        events.clear()
        for image, pts_s in lumas:
            for event in rule.update(image, pts_s, T0 + timedelta(seconds=pts_s)):
                events.append(f"{event.phase.value}@{pts_s:.2f}s")
        return len(lumas)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="720p facade clip")
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (min is kept)")
    parser.add_argument("--threads", type=int, default=1, help="PyAV decode threads")
    parser.add_argument("--json", type=Path, help="write results here too")
    args = parser.parse_args()
    if not args.clip.exists():
        print(f"clip not found: {args.clip}", file=sys.stderr)
        return 2
    if args.repeats < 1 or args.threads < 1:
        print("--repeats and --threads must be >= 1", file=sys.stderr)
        return 2
    with av.open(str(args.clip)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        lumas = [
            (luma_reformat(f), pts_seconds(f, stream.time_base)) for f in container.decode(stream)
        ]
    interval_ms = 1000.0 / fps
    events: list[str] = []
    cases: list[tuple[str, Callable[[], int]]] = [("rule (480x270 luma)", rule_only(lumas, events))]
    for name, luma in LUMA.items():
        cases.append((f"decode+luma[{name}]", decode(args.clip, args.threads, luma, False)))
        cases.append((f"decode+luma[{name}]+rule", decode(args.clip, args.threads, luma, True)))
    print(f"clip {args.clip.name}: {size} at {fps:.2f} fps, {len(lumas)} frames, "
          f"decode threads {args.threads}, best of {args.repeats}")  # fmt: skip
    print(f"{'case':<30} {'wall ms/frame':>13} {'CPU ms/frame':>12} {'x real time':>11}")
    results: list[dict[str, Any]] = []
    for label, run in cases:
        runs = [timed(run) for _ in range(args.repeats)]
        wall = min(r[0] for r in runs) * 1000 / runs[0][2]
        cpu = min(r[1] for r in runs) * 1000 / runs[0][2]
        print(f"{label:<30} {wall:>13.2f} {cpu:>12.2f} {interval_ms / wall:>11.1f}")
        results.append({"case": label, "wall_ms_per_frame": round(wall, 3),
                        "cpu_ms_per_frame": round(cpu, 3),
                        "x_realtime": round(interval_ms / wall, 1)})  # fmt: skip
    print(f"rule events on this clip: {events or 'none'}")
    if args.json:
        args.json.write_text(
            json.dumps({"clip": str(args.clip), "fps": fps, "size": size, "frames": len(lumas),
                        "threads": args.threads, "events": events, "cases": results}, indent=2)
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
