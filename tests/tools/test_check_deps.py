"""``tools/check_deps.py``, the capability check of ``make deps``, against this machine's real
GStreamer, FFmpeg and binaries."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "check_deps.py"
RTSP_SERVER = REPO / "tests" / "support" / "rtsp_server.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_deps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_deps = load_script()


def launch_strings(path: Path) -> list[str]:
    """The string literals of a module that read like gst-launch descriptions (they hold ``!``);
    an f-string's placeholders become ``{}``."""
    texts: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            texts.append("".join(str(p) for p in parts))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return [t for t in texts if " ! " in t]


def rtsp_server_elements() -> set[str]:
    """GStreamer element names in the RTSP test server: the first word of a launch string and
    every word right after ``(`` or ``!`` (caps like ``video/x-raw`` are not elements), plus the
    demuxers it picks by file suffix."""
    elements: set[str] = set()
    for text in launch_strings(RTSP_SERVER):
        elements |= set(re.findall(r"(?:^|\(|!)\s*([a-z][a-z0-9]*)(?=\s|\)|$)", text))
    elements |= set(re.findall(r'"([a-z]+demux)"', RTSP_SERVER.read_text()))
    return elements


def test_every_element_of_the_rtsp_test_server_is_checked() -> None:
    elements = rtsp_server_elements()
    assert {"videotestsrc", "timeoverlay", "x264enc", "filesrc", "qtdemux", "appsrc"} <= elements
    assert elements <= set(check_deps.GST_ELEMENTS), elements - set(check_deps.GST_ELEMENTS)


@pytest.mark.parametrize(
    ("check", "args", "expected"),
    [
        (
            "check_gst_element",
            ("hazardwatchnosuchelement", "gstreamer1.0-nothing"),
            "missing GStreamer element 'hazardwatchnosuchelement' "
            "(Debian package gstreamer1.0-nothing)",
        ),
        ("check_gst_element", ("videotestsrc", "gstreamer1.0-plugins-base"), None),
        (
            "check_binary",
            ("hazardwatch-no-such-program", "nothing"),
            "missing program 'hazardwatch-no-such-program' (Debian package nothing)",
        ),
        ("check_binary", ("ffprobe", "ffmpeg"), None),
    ],
    ids=["missing-element", "present-element", "missing-program", "present-program"],
)
def test_one_line_names_what_is_missing_and_its_package(
    check: str, args: tuple[str, str], expected: str | None
) -> None:
    assert getattr(check_deps, check)(*args) == expected


def test_ffmpeg_lists_are_read_by_name() -> None:
    encoders = check_deps.ffmpeg_names("encoder")
    assert "libx264" in encoders and "V....D" not in encoders
    assert {"mov", "mp4"} <= check_deps.ffmpeg_names("demuxer")  # "mov,mp4,m4a,..." is one line
    assert "testsrc2" in check_deps.ffmpeg_names("filter")


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("python", "args", "summary"),
    [
        ("/usr/bin/python3", [], "system capabilities present"),
        (sys.executable, ["--pyav"], "PyAV capabilities present"),
    ],
    ids=["system", "pyav"],
)
def test_this_machine_has_every_capability(python: str, args: list[str], summary: str) -> None:
    done = subprocess.run(
        [python, str(SCRIPT), *args], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0, done.stderr
    assert summary in done.stdout and not done.stderr
