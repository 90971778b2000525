"""A 720p copy of a generated clip, for the speed targets that are stated at 720p.

The generated suite is 640x360 (fast to make and replay). ``eval`` prints speed per kind, and the
issue's fire-lane target is "a 720p 25 fps clip with YOLOX-Nano at detect 5 fps ≥ 10× real time",
so the gate adds a 1280x720 re-encode (libx264, GOP 50, no B-frames, CCTV-like 3 Mbit/s) of one
lane clip with the same labels and config (zones are normalized, so they hold at any size).

    python -m benchmarks.scenarios.hd SUITE_DIR [--clip lane_park_truck_01]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

DEFAULT_CLIP = "lane_park_truck_01"
HD_SUITE_FILE = "suite_720p.yaml"


def make_hd_suite(suite_dir: Path, clip_id: str = DEFAULT_CLIP) -> Path:
    """Write ``clips/<id>_720p.mp4`` and ``suite_720p.yaml`` beside the suite; returns the YAML.

    Raises:
        KeyError: the clip is not in the suite.
        RuntimeError: ffmpeg is missing or failed.
    """
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    entry = next((c for c in suite["clips"] if c["id"] == clip_id), None)
    if entry is None:
        raise KeyError(f"{suite_dir / 'suite.yaml'}: no clip '{clip_id}'")
    source = suite_dir / entry["video"]
    target = source.with_name(f"{source.stem}_720p.mp4")
    if not target.is_file():
        if shutil.which("ffmpeg") is None:
            raise RuntimeError("ffmpeg not found (make deps installs it)")
        partial = target.with_suffix(".partial.mp4")
        cmd = [
            "ffmpeg", "-loglevel", "error", "-y", "-i", str(source),
            "-vf", "scale=1280:720:flags=bicubic", "-r", "25",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0",
            "-b:v", "3M", "-maxrate", "3M", "-bufsize", "3M", str(partial),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed on {source}: {done.stderr.strip()[-500:]}")
        partial.rename(target)
    hd = dict(entry, id=f"{clip_id}_720p", video=str(target.relative_to(suite_dir)))
    hd["tags"] = [*entry.get("tags", []), "720p"]
    out = suite_dir / HD_SUITE_FILE
    out.write_text(yaml.safe_dump({"suite": "generated-720p", "clips": [hd]}, sort_keys=False))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite_dir", type=Path)
    parser.add_argument("--clip", default=DEFAULT_CLIP)
    args = parser.parse_args(argv)
    try:
        print(make_hd_suite(args.suite_dir, args.clip))
    except (KeyError, RuntimeError, OSError) as exc:
        print(f"hd: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
