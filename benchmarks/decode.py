"""Decode cost of our source against FFmpeg's bare decode, measured in the same run.

For 1080p and 720p H.264 at CCTV bitrates (GOP 50, 25 fps, no B-frames), it compares:
  * floor:  ``ffmpeg -threads 1 -i clip -f null -``  (CPU time of the child process)
  * ours:   VideoSource delivering 640-wide BGR frames at 5 fps (every frame decoded, 1 in 5
            scaled in FFmpeg and converted), CPU time of this process (all threads)
and prints CPU ms per second of video and the ratio ours / floor (target <= 1.15).

Usage:  python benchmarks/decode.py [--seconds 20] [--repeats 3] [--json FILE]
Clips are generated once with ffmpeg (libx264, temporal noise so the bitrate is CCTV-like) and
cached in $HAZARDWATCH_BENCH_CACHE or ~/.cache/hazardwatch-bench.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.capacity.references import ffmpeg_decode_run
from cameras.packets import EncodedPacket
from cameras.ring import PacketRing
from cameras.source import SourceSettings, VideoSource

PROFILES = {
    "1080p": {"size": "1920x1080", "bitrate": "4M"},
    "720p": {"size": "1280x720", "bitrate": "2M"},
}


def cache_dir() -> Path:
    base = os.environ.get("HAZARDWATCH_BENCH_CACHE") or Path.home() / ".cache" / "hazardwatch-bench"
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_clip(name: str, seconds: int) -> Path:
    spec = PROFILES[name]
    out = cache_dir() / f"cctv_{name}_{spec['bitrate']}_gop50_{seconds}s.mp4"
    if out.exists():
        return out
    tmp = out.with_suffix(".partial.mp4")
    # Moving test pattern plus temporal noise: sensor-like noise keeps the bitrate up the way a
    # real camera's does; CBR-like rate control as IP cameras use.
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={spec['size']}:rate=25,noise=alls=12:allf=t",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
        "-pix_fmt", "yuv420p", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0",
        "-b:v", spec["bitrate"], "-maxrate", spec["bitrate"], "-bufsize", spec["bitrate"],
        "-movflags", "+faststart", str(tmp),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    tmp.rename(out)
    return out


def probe_seconds(clip: Path) -> tuple[float, float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration,bit_rate", "-of", "json",
         str(clip)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    fmt = json.loads(out)["format"]
    return float(fmt["duration"]), float(fmt["bit_rate"]) / 1e6


def ours_cpu_s(clip: Path, threads: int, with_ring: bool) -> tuple[float, int, float]:
    ring = PacketRing(max_duration_s=10.0)

    def keep(packet: EncodedPacket) -> None:
        ring.append(packet)

    settings = SourceSettings(
        camera_id="bench", url=str(clip), width_px=640, fps=5.0, decode_threads=threads
    )
    source = VideoSource(settings, on_packet=keep if with_ring else None)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    frames = sum(1 for _ in source.frames())
    wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, frames, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of the test clips")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (min is kept)")
    parser.add_argument("--json", type=Path, help="write results here too")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: install Debian's ffmpeg (make deps)", file=sys.stderr)
        return 2
    results = []
    print(f"{'clip':<7} {'Mbit/s':>6} {'case':<34} {'CPU ms/s video':>14} {'ratio':>6} "
          f"{'frames':>6} {'x realtime':>10}")  # fmt: skip
    for name in PROFILES:
        clip = make_clip(name, args.seconds)
        duration_s, mbps = probe_seconds(clip)
        floor = min(ffmpeg_decode_run(clip).cpu_s for _ in range(args.repeats))
        floor_ms = floor * 1000 / duration_s
        row = {"clip": name, "mbit_s": round(mbps, 2), "duration_s": duration_s,
               "ffmpeg_threads1_cpu_ms_per_s": round(floor_ms, 1), "cases": []}  # fmt: skip
        print(f"{name:<7} {mbps:>6.2f} {'ffmpeg -threads 1 -f null (floor)':<34} "
              f"{floor_ms:>14.1f} {1.0:>6.2f}")  # fmt: skip
        for threads, with_ring in ((1, False), (2, False), (2, True)):
            runs = [ours_cpu_s(clip, threads, with_ring) for _ in range(args.repeats)]
            cpu, frames, wall = min(runs)
            ms = cpu * 1000 / duration_s
            label = f"ours 640w@5fps threads={threads}" + (" +ring" if with_ring else "")
            print(f"{name:<7} {mbps:>6.2f} {label:<34} {ms:>14.1f} {ms / floor_ms:>6.2f} "
                  f"{frames:>6} {duration_s / wall:>10.1f}")  # fmt: skip
            row["cases"].append({"case": label, "cpu_ms_per_s": round(ms, 1),
                                 "ratio": round(ms / floor_ms, 3), "frames": frames,
                                 "x_realtime": round(duration_s / wall, 1)})  # fmt: skip
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
