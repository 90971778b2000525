"""CPU per frame of one facade camera's motion analysis, on frames decoded once.

The capacity bench (``hazardwatch bench --profile facade``) measures whole processes; this
measures only ``CameraAnalysis.process`` (BGR -> luma -> falling-object rule) of one camera in
one thread, as fast as it runs, on the bench's own facade media, so that two versions of the code
can be compared on the same frames in the same run::

    python -m benchmarks.motion_cpu decode --out /tmp/motion-frames          # once
    python -m benchmarks.motion_cpu measure --frames-dir /tmp/motion-frames  # this tree
    python -m benchmarks.motion_cpu compare --frames-dir /tmp/motion-frames \\
        --base /tmp/facade-base --repeats 3                                  # interleaved

``compare`` runs ``measure`` in a fresh process per tree and repeat, alternating base and new,
and reports the median. CPU time is ``time.process_time`` around the loop of ``process`` calls
only (decoding is done beforehand; the frames are loaded into memory before timing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DEFAULT_VIDEO = (
    Path.home() / ".cache/hazardwatch/bench/facade-g4-m1-s2026/1280x720@25-3000k/main_1280x720.mp4"
)
CAMERA_ID = "facade"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _config(video: Path) -> Any:
    """The bench's facade camera (benchmarks/capacity/harness.py camera_block) on ``video``."""
    from benchmarks.scenarios import facade
    from pipelines.config import validate_config

    block = dict(facade.camera_config(facade.FacadeGeometry.standard()), source=str(video))
    block["motion"] = {"fps": 25.0, "width": 480}
    block.pop("detect", None)
    data = {"site": {"id": "bench", "name": "motion cpu"}, "cameras": {CAMERA_ID: block}}
    return validate_config(data, "motion_cpu")


def decode(video: Path, out: Path, limit: int | None) -> None:
    """Decode ``video`` as the facade camera's source would, into ``out``/frames.npy."""
    import numpy as np

    from cameras.source import VideoSource
    from pipelines.analysis import build_camera_analysis
    from pipelines.builders import source_settings

    config = _config(video)
    camera = config.cameras[CAMERA_ID]
    analysis = build_camera_analysis(CAMERA_ID, camera, config, None)
    settings = source_settings(CAMERA_ID, camera, analysis.rules, str(video), live=False)
    images, stamps = [], []
    for frame in VideoSource(settings).frames():
        images.append(frame.image)
        stamps.append(frame.pts_s)
        if limit is not None and len(images) >= limit:
            break
    if not images:
        raise SystemExit(f"decode: no frame decoded from {video}")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "frames.npy", np.stack(images))
    np.save(out / "pts.npy", np.asarray(stamps, np.float64))
    print(f"decode: {len(images)} frames of {images[0].shape} from {video} -> {out}")


def measure(
    frames_dir: Path, tree: Path | None, profile: str | None, cv_threads: int | None = None
) -> dict[str, Any]:
    """Time ``CameraAnalysis.process`` over the decoded frames, in this process."""
    if tree is not None:
        sys.path.insert(0, str(tree.resolve()))
    import cv2
    import numpy as np

    if cv_threads is not None:
        cv2.setNumThreads(cv_threads)

    import pipelines.analysis
    from pipelines.analysis import build_camera_analysis
    from vision.types import Frame

    images = np.load(frames_dir / "frames.npy")
    stamps = np.load(frames_dir / "pts.npy")
    config = _config(DEFAULT_VIDEO)
    camera = config.cameras[CAMERA_ID]
    analysis = build_camera_analysis(CAMERA_ID, camera, config, None)
    frames = []
    for i, (image, pts_s) in enumerate(zip(images, stamps, strict=True)):
        image.flags.writeable = False
        pts = float(pts_s)
        frames.append(Frame(CAMERA_ID, i, pts, EPOCH + timedelta(seconds=pts), image))
    events = []
    profiler: Any = None
    if profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
    per_frame_ms = []
    cpu0 = time.process_time()
    for frame in frames:
        t0 = time.process_time()
        events += analysis.process(frame)
        per_frame_ms.append((time.process_time() - t0) * 1000)
    cpu_s = time.process_time() - cpu0
    events += analysis.close()
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
    return {
        "tree": str(Path(pipelines.analysis.__file__).resolve().parents[1]),
        "frames": len(frames),
        "cpu_ms_per_frame": round(cpu_s * 1000 / len(frames), 4),
        "median_frame_ms": round(statistics.median(per_frame_ms), 4),
        "p90_frame_ms": round(sorted(per_frame_ms)[int(0.9 * len(per_frame_ms))], 4),
        "events": [
            [e.phase.value, round(e.start_pts_s, 4), e.details.get("origin_floor")] for e in events
        ],
        "events_full": json.dumps([e.to_dict() for e in events], sort_keys=True, default=str),
    }


def compare(frames_dir: Path, base: Path, repeats: int, cv_threads: int | None = None) -> None:
    """``measure`` in fresh processes, base and this tree alternating; medians."""
    here = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    for _ in range(repeats):
        for name, tree in (("base", base), ("new", here)):
            cmd = [sys.executable, "-m", "benchmarks.motion_cpu", "measure"]
            cmd += ["--frames-dir", str(frames_dir), "--tree", str(tree)]
            cmd += [] if cv_threads is None else ["--cv-threads", str(cv_threads)]
            done = subprocess.run(cmd, cwd=here, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout)
            runs[name].append(result)
            print(f"{name}: {result['cpu_ms_per_frame']:.3f} ms/frame ({result['tree']})")
    for name, results in runs.items():
        values = [r["cpu_ms_per_frame"] for r in results]
        print(f"{name}: median {statistics.median(values):.3f} ms/frame of {values}")
    same = {r["events_full"] for r in runs["base"]} == {r["events_full"] for r in runs["new"]}
    print(f"events identical: {same}; {runs['new'][0]['events']}")
    b = statistics.median(r["cpu_ms_per_frame"] for r in runs["base"])
    n = statistics.median(r["cpu_ms_per_frame"] for r in runs["new"])
    print(f"change: {(n - b) / b * 100:+.1f} %")


def suite_events(
    suites: list[Path],
    patterns: list[str],
    tree: Path | None,
    out: Path,
    cv_threads: int | None = None,
) -> None:
    """Every event (all fields) of every matching clip of the suites, replayed as ``eval`` does:
    the strict identity check (eval's report keeps only starts, rounded)."""
    if tree is not None:
        sys.path.insert(0, str(tree.resolve()))
    import fnmatch

    import cv2

    if cv_threads is not None:
        cv2.setNumThreads(cv_threads)

    from pipelines.config import load_config
    from pipelines.derived_clips import derived_clip
    from pipelines.replay import DetectorCache, replay
    from pipelines.suite import load_suite

    detectors = DetectorCache()
    found: dict[str, list[dict[str, Any]]] = {}
    for suite in suites:
        for clip in load_suite(suite):
            if patterns and not any(fnmatch.fnmatch(clip.clip_id, p) for p in patterns):
                continue
            config = load_config(clip.config)
            video = derived_clip(clip.video, clip.derive)
            result = replay(
                config, clip.camera, video, base_dir=clip.config.parent, detectors=detectors
            )
            found[clip.clip_id] = [e.to_dict() for e in result.events]
            print(f"{clip.clip_id}: {len(result.events)} events", file=sys.stderr)
    out.write_text(json.dumps(found, indent=1, sort_keys=True, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.motion_cpu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decode", help="decode the video once into a frames directory")
    d.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--limit", type=int, default=None, help="frames at most")
    m = sub.add_parser("measure", help="time the analysis in this process (JSON on stdout)")
    m.add_argument("--frames-dir", type=Path, required=True)
    m.add_argument("--tree", type=Path, default=None, help="import the project from here")
    m.add_argument("--profile", choices=["pyinstrument"], default=None)
    m.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads first")
    c = sub.add_parser("compare", help="base and this tree, interleaved, fresh processes")
    c.add_argument("--frames-dir", type=Path, required=True)
    c.add_argument("--base", type=Path, required=True)
    c.add_argument("--repeats", type=int, default=3)
    c.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads in both")
    e = sub.add_parser("events", help="every event of suite clips, as JSON (identity check)")
    e.add_argument("suite", nargs="+", type=Path)
    e.add_argument("--only", action="append", default=[], metavar="PATTERN")
    e.add_argument("--tree", type=Path, default=None, help="import the project from here")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads first")
    args = parser.parse_args(argv)
    if args.command == "decode":
        decode(args.video, args.out, args.limit)
    elif args.command == "measure":
        result = measure(args.frames_dir, args.tree, args.profile, args.cv_threads)
        print(json.dumps(result))
    elif args.command == "events":
        suite_events(args.suite, args.only, args.tree, args.out, args.cv_threads)
    else:
        compare(args.frames_dir, args.base, args.repeats, args.cv_threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
