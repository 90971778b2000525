"""`hazardwatch bench` for real: a short run of 2 lane cameras at a small size (the generator's
lane loop, encoded at 320x180), `hazardwatch run` as a child process against the bench's own
redis-server, the references measured after it; then its JSON checked for the fields DESIGN.md §3
names and for sense (CPU > 0, every camera's frames arriving, ratios computed). Machine-dependent
values are not checked; the verdict logic has its own tests (test_bench_verdict.py)."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.capacity.harness import Progress
from hazardwatch import bench

REPO = Path(__file__).resolve().parents[2]
DESIGN_FIELDS = (
    "profile",
    "capacity_cameras",
    "naive_capacity_cameras",
    "our_cpu_ms_per_camera_s",
    "floor_cpu_ms_per_camera_s",
    "latency_p95_s",
    "stages",
)


def _bench(args: list[str], cache: Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAZARDWATCH_BENCH_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "hazardwatch", "bench", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip


@pytest.fixture(scope="module")
def lane_report(media_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    for tool in ("ffmpeg", "redis-server"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed by hazardwatch bench (make deps installs it)")
    out = tmp_path_factory.mktemp("bench") / "lane.json"
    done = _bench(
        ["--profile", "lane", "--cameras", "2", "--duration", "12", "--size", "320x180",
         "--json", str(out)],
        media_cache / "bench", timeout_s=170,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "trial   2 cameras" in done.stdout
    return dict(json.loads(out.read_text()))


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(180)
def test_a_short_lane_run_reports_every_field(lane_report: dict[str, Any]) -> None:
    r = lane_report
    missing = [f for f in DESIGN_FIELDS if f not in r]
    assert not missing, f"DESIGN.md §3 fields missing: {missing}"
    assert r["profile"] == "lane"
    assert r["cameras"] == 2
    assert r["our_cpu_ms_per_camera_s"] > 0
    trial = r["trials"][0]["metrics"]
    assert set(trial["fps_in"]) == {"lane01", "lane02"}
    assert all(fps > 0 for fps in trial["fps_in"].values()), trial["fps_in"]
    assert trial["cores_used"] > 0
    assert r["rss_per_camera_mb"] > 0 and r["pss_per_camera_mb"] > 0
    assert r["bottleneck"]["name"] and r["bottleneck"]["why"]
    assert r["device"]["decode_in_use"] == {"cpu": 2}  # what the status records say
    assert r["memory"]["judged"] is False  # a 12 s run: memory trends are not judged
    assert r["memory"]["pss_per_camera_mb"] == r["pss_per_camera_mb"]
    # the cameras start at different points of the loop
    assert len(set(r["trials"][0]["offsets_s"].values())) == 2


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(180)
def test_the_references_and_ratios_are_computed(lane_report: dict[str, Any]) -> None:
    r = lane_report
    lane = r["references"]["lane"]
    assert "error" not in lane, lane.get("error")
    assert r["floor_cpu_ms_per_camera_s"] > 0
    assert r["naive_cpu_ms_per_camera_s"] > r["floor_cpu_ms_per_camera_s"]
    assert r["naive_capacity_cameras"] >= 1
    check = lane["naive_realtime_check"]  # the estimate run as that many loops in real time
    assert check["cameras"] == lane["naive_capacity_cameras"]
    assert r["naive_capacity_kept_up_in_real_time"] == {"lane": check["kept_up"]}
    assert r["ratios"]["ours_over_floor_cpu"] == pytest.approx(
        r["our_cpu_ms_per_camera_s"] / r["floor_cpu_ms_per_camera_s"], rel=0.02
    )
    media = r["media"]["lane"]["main"]
    assert (media["width_px"], media["height_px"], media["fps"]) == (320, 180, 25.0)
    assert media["duration_s"] == pytest.approx(60.0)
    assert media["keyframes"] == 30  # a keyframe every 2 s, as the profile says


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(120)
def test_rtsp_sources_with_substreams(media_cache: Path, tmp_path: Path) -> None:
    """One camera from a real gst-rtsp-server: the analysed substream and the main stream for
    clips each on a mount of their own; the server's own CPU is measured apart."""
    out = tmp_path / "rtsp.json"
    done = _bench(
        ["--profile", "lane", "--cameras", "1", "--duration", "10", "--size", "320x180",
         "--source", "rtsp", "--substream", "--no-references", "--work-dir",
         str(tmp_path / "work"), "--json", str(out)],
        media_cache / "bench", timeout_s=110,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r = json.loads(out.read_text())
    config = next((tmp_path / "work").glob("trial-*/bench.yaml")).read_text()
    assert "source: rtsp://127.0.0.1:" in config and "/lane01_main" in config
    assert r["trials"][0]["metrics"]["fps_in"]["lane01"] > 0
    assert r["rtsp_server_cores"] > 0 and r["rtsp_server_rss_mb"] > 0
    assert r["media"]["lane"]["sub"]["width_px"] == 640


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cameras", "0"], "expected a count 1..256 or 'auto', got '0'"),
        (["--cameras", "2", "--size", "321x180"], "size 321x180: even"),
        (["--cameras", "2", "--duration", "5"], "--duration must be 10..86400 s, got 5"),
        (["--cameras", "2", "--workers", "many"], "expected a count 1..64 or 'auto'"),
    ],
    ids=["zero-cameras", "odd-size", "short-duration", "bad-workers"],
)
def test_bad_options_are_refused_with_what_is_wrong(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    bench.add_bench_arguments(parser)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--profile", "lane", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_without_the_repository_checkout_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "BENCH_PACKAGE", tmp_path / "no-such-package")
    parser = argparse.ArgumentParser()
    bench.add_bench_arguments(parser)
    args = parser.parse_args(["--profile", "lane", "--cameras", "2"])
    assert bench.cmd_bench(args) == 2
    assert "run it from a checkout of the repository" in capsys.readouterr().err


def test_options_reach_the_bench_program_unchanged(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    bench.add_bench_arguments(parser)
    argv = ["--profile", "mixed", "--cameras", "auto", "--duration", "30", "--substream",
            "--source", "rtsp", "--workers", "2", "--size", "640x360", "--json",
            str(tmp_path / "r.json"), "--no-references", "--max-cameras", "20"]  # fmt: skip
    first = parser.parse_args(argv)
    again = parser.parse_args(bench.bench_argv(first))
    assert vars(again) == vars(first)


def test_progress_without_a_terminal_is_plain_throttled_lines() -> None:
    out = io.StringIO()
    progress = Progress(out, plain_every_s=60.0)
    progress.update("2 cameras 1/15 s")
    progress.update("2 cameras 2/15 s")  # within the minute: not printed
    progress.line("trial 2 cameras: REAL TIME")
    assert out.getvalue() == "2 cameras 1/15 s\ntrial 2 cameras: REAL TIME\n"
    assert "\r" not in out.getvalue()
