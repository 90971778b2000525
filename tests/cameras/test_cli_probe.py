"""``hazardwatch probe``: how an installer checks a camera URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazardwatch.cli import main
from tests.support.media import ensure_clip, make_garbage_file


def run_probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["probe", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_probe_file_reports_stream(capsys: pytest.CaptureFixture[str], media_cache: Path) -> None:
    clip = ensure_clip(media_cache, width=320, height=240, fps=25, seconds=4.0, gop=25)
    code, out, err = run_probe(capsys, str(clip), "--seconds", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["connected"] is True
    assert (report["codec"], report["width"], report["height"]) == ("h264", 320, 240)
    assert report["fps_measured"] == pytest.approx(25.0, abs=0.5)
    assert report["frames"] >= 50 and report["reconnects"] == 0 and report["errors"] == []
    assert report["keyframe_interval_s"] == pytest.approx(1.0)
    assert set(report) >= {"url", "connected", "codec", "width", "height", "fps_measured",
                           "frames", "reconnects", "errors"}  # fmt: skip


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtsp://admin:Hunter2pass@127.0.0.1:9/Streaming/Channels/102", "connection refused"),
        ("{tmp}/missing.mp4", "file not found"),
        ("{tmp}/garbage.mp4", "not a readable video stream"),
    ],
    ids=["refused-port", "missing-file", "garbage-bytes"],
)
def test_probe_bad_source_exits_2_with_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, url: str, message: str
) -> None:
    make_garbage_file(tmp_path / "garbage.mp4", 50_000)
    code, out, err = run_probe(capsys, url.format(tmp=tmp_path), "--seconds", "1", "--json")
    assert code == 2
    report = json.loads(out)
    assert report["connected"] is False
    assert message in report["errors"][0] and message in err
    assert "Hunter2pass" not in out + err


@pytest.mark.integration
def test_probe_401_names_the_problem_not_the_password(
    capsys: pytest.CaptureFixture[str],
    rtsp_server_factory,  # type: ignore[no-untyped-def]
) -> None:
    server = rtsp_server_factory({"/cam": "live:320x240@25"}, user="admin", password="right")
    url = server.url("/cam", user="admin", password="Wr0ngSecret")
    code, out, err = run_probe(capsys, url, "--seconds", "1")
    assert code == 2
    assert "credentials refused" in err and "401" in err
    assert "Wr0ngSecret" not in out + err
    assert "rtsp://***:***@127.0.0.1" in out


@pytest.mark.integration
def test_probe_live_rtsp(capsys: pytest.CaptureFixture[str], rtsp_server_factory) -> None:  # type: ignore[no-untyped-def]
    server = rtsp_server_factory({"/cam": "live:320x240@25"})
    code, out, err = run_probe(capsys, server.url("/cam"), "--seconds", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["connected"] and report["codec"] == "h264"
    assert report["fps_measured"] == pytest.approx(25.0, abs=2.0)


def test_probe_rejects_nonpositive_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_probe(capsys, "/dev/null", "--seconds", "0")
    assert code == 2 and "--seconds must be > 0" in err
