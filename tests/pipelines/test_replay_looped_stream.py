"""Regression: a clip looped the way a live stream repeats a scene (the RTSP test server's loop:
the same H.264 access units again and again, timestamps carrying on) raises its hazard on every
pass, not only on the first.

The end-to-end test found it: its looped facade clip raised one fall in seven once falling-object
analysis skipped repeated pictures. The generated facade is a still scene, so every picture
between two falls repeats the last one; the first fall's track, seen in the last distinct
picture, took the next pass's first blob with a gate grown over seconds, and every later fall
went into that spent track.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
import yaml

from benchmarks.scenarios.generate import generate_suite
from pipelines.config import load_config
from pipelines.replay import replay
from vision.types import HazardPhase

pytestmark = pytest.mark.slow

PASSES = 4


def loop_by_packets(source: Path, out: Path, passes: int) -> None:
    """``source``'s video packets written ``passes`` times, shifted by the clip's duration each
    pass, without re-encoding (what the RTSP test server sends)."""
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        packets = [(p, p.pts) for p in src.demux(stream) if p.pts is not None]
        duration = max(pts + int(p.duration or 0) for p, pts in packets) - min(
            pts for _, pts in packets
        )
        with av.open(str(out), "w", format="matroska") as dst:
            video = dst.add_stream_from_template(stream)
            for k in range(passes):
                for packet, pts in packets:
                    copy = av.Packet(bytes(packet))
                    copy.pts = pts + k * duration
                    copy.dts = None if packet.dts is None else int(packet.dts) + k * duration
                    copy.is_keyframe = packet.is_keyframe
                    copy.time_base = packet.time_base
                    copy.stream = video
                    dst.mux(copy)


def test_every_pass_of_a_looped_fall_is_raised(media_cache: Path, tmp_path: Path) -> None:
    suite_dir = generate_suite(media_cache / "e2e-quick", seed=1234, quick=True, log=lambda _: None)
    suite = yaml.safe_load((suite_dir / "suite.yaml").read_text())
    clip = next(c for c in suite["clips"] if c["id"].startswith("facade_fall"))
    looped = tmp_path / "looped.mkv"
    loop_by_packets(suite_dir / clip["video"], looped, PASSES)
    config_path = suite_dir / clip["config"]
    result = replay(load_config(config_path), clip["camera"], looped, base_dir=config_path.parent)
    starts = [e for e in result.events if e.phase is HazardPhase.START]
    assert len(starts) == PASSES, [round(e.start_pts_s, 2) for e in starts]
