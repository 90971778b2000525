#!/usr/bin/python3
"""Check that this machine can run hazardwatch's tests and demo: capabilities, not package names.

    /usr/bin/python3 tools/check_deps.py          # system: binaries, GStreamer, FFmpeg, gi, fonts
    .venv/bin/python tools/check_deps.py --pyav   # the venv's PyAV (its own FFmpeg build)

``make deps`` runs the first after installing the Debian packages, every time (it takes about a
second), and ``make venv`` the second. A package can be installed and still not bring what the
code uses (``timeoverlay`` is in ``gstreamer1.0-x``, not in plugins-base), so each element,
encoder, decoder, muxer, filter and binary the tests and the demo use is asked for by name. Each
one missing is a line naming it and the Debian package that brings it, e.g.::

    missing GStreamer element 'timeoverlay' (Debian package gstreamer1.0-x)

and the exit code is 1. Where each name comes from is said beside it: keep these tables in step
with the code (``tests/tools/test_check_deps.py`` checks the RTSP test server's elements).
"""

from __future__ import annotations

import argparse
import glob
import shutil
import subprocess
import sys

# GStreamer elements: the RTSP test server (tests/support/rtsp_server.py: the live mount, reading a
# file into memory, serving it from appsrc) and what gst-rtsp-server itself builds per client.
GST_ELEMENTS = {
    "videotestsrc": "gstreamer1.0-plugins-base",  # live mounts
    "timeoverlay": "gstreamer1.0-x",  # live mounts: the clock burned into the picture
    "videoconvert": "gstreamer1.0-plugins-base",  # live mounts
    "x264enc": "gstreamer1.0-plugins-ugly",  # live mounts
    "rtph264pay": "gstreamer1.0-plugins-good",  # every mount
    "filesrc": "libgstreamer1.0-0",  # file mounts (read_clip)
    "qtdemux": "gstreamer1.0-plugins-good",  # file mounts: .mp4 .mov .m4v
    "matroskademux": "gstreamer1.0-plugins-good",  # file mounts: .mkv
    "tsdemux": "gstreamer1.0-plugins-bad",  # file mounts: .ts (a resolution change mid-stream)
    "h264parse": "gstreamer1.0-plugins-bad",  # file mounts
    "appsink": "gstreamer1.0-plugins-base",  # file mounts: the clip into memory
    "appsrc": "gstreamer1.0-plugins-base",  # file mounts: the clip out, looped
    "rtpbin": "gstreamer1.0-plugins-good",  # gst-rtsp-server's session manager
    "udpsrc": "gstreamer1.0-plugins-good",  # gst-rtsp-server (RTP/RTCP over UDP)
    "udpsink": "gstreamer1.0-plugins-good",  # gst-rtsp-server
}

# The ffmpeg command line (Debian's build): benchmarks/scenarios/hd.py makes the accuracy gate's
# 720p clip, benchmarks/decode.py its test clips and the decode floor.
FFMPEG_CAPABILITIES = {
    ("encoder", "libx264"): "ffmpeg",  # hd.py, decode.py: -c:v libx264
    ("decoder", "h264"): "ffmpeg",  # hd.py, decode.py: reading H.264 clips
    ("muxer", "mp4"): "ffmpeg",  # hd.py, decode.py: .mp4 outputs
    ("muxer", "null"): "ffmpeg",  # decode.py: -f null (decode floor)
    ("demuxer", "mov"): "ffmpeg",  # hd.py: MP4 input
    ("demuxer", "lavfi"): "ffmpeg",  # decode.py: -f lavfi
    ("filter", "testsrc2"): "ffmpeg",  # decode.py: the moving test pattern
    ("filter", "noise"): "ffmpeg",  # decode.py: sensor-like noise
    ("filter", "scale"): "ffmpeg",  # hd.py: scale=1280:720
}
_FFMPEG_LISTS = {
    "encoder": "-encoders",
    "decoder": "-decoders",
    "muxer": "-muxers",
    "demuxer": "-demuxers",
    "filter": "-filters",
}

# Binaries on PATH (PostgreSQL's are looked for in /usr/lib/postgresql/*/bin too, as
# tests/api/pg_server.py does).
BINARIES = {
    "ffmpeg": "ffmpeg",  # benchmarks, the accuracy gate's 720p clip
    "ffprobe": "ffmpeg",  # tests of clips and evidence
    "redis-server": "redis-server",  # hazardwatch up / demo, integration tests
    "gst-inspect-1.0": "gstreamer1.0-tools",  # this check
    "initdb": "postgresql",  # PostgreSQL store tests
    "postgres": "postgresql",  # PostgreSQL store tests
    "chromium": "chromium",  # the review page's box editor, driven in a real browser
    "pdftoppm": "poppler-utils",  # report tests: the PDF report rendered to PNG
}

# Shared libraries WeasyPrint opens (the PDF reports, api/reports/pdf.py), by their soname
# as ``ldconfig -p`` lists them.
SHARED_LIBRARIES = {
    "libpango-1.0.so.0": "libpango-1.0-0",  # text layout
    "libpangoft2-1.0.so.0": "libpangoft2-1.0-0",  # fonts through fontconfig/FreeType
    "libharfbuzz.so.0": "libharfbuzz0b",  # shaping (Chinese text)
    "libharfbuzz-subset.so.0": "libharfbuzz-subset0",  # fonts embedded as subsets
    "libfontconfig.so.1": "libfontconfig1",  # finding fonts-noto-cjk
}

DEBIAN_PYTHON = "/usr/bin/python3"
# What the RTSP test server imports with Debian's Python (the venv has no gi bindings).
GI_IMPORTS = (
    ("gi", "import gi", "python3-gi"),
    ("Gst 1.0", "import gi; gi.require_version('Gst', '1.0')", "gir1.2-gstreamer-1.0"),
    (
        "GstRtspServer 1.0",
        "import gi; gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import GstRtspServer",
        "gir1.2-gst-rtsp-server-1.0",
    ),
)

# Chinese text in headless-browser screenshots of the web pages.
FONT_GLOBS = {"/usr/share/fonts/opentype/noto/NotoSansCJK*": "fonts-noto-cjk"}

# PyAV (its wheel bundles its own FFmpeg): clips and evidence are written as MP4 with libx264
# (pipelines/evidence.py, benchmarks/scenarios/encode.py, tests/support/media.py), packet
# templates go through NUT (cameras/packets.py), sources are RTSP, MP4 and MPEG-TS.
PYAV_CODECS = (("libx264", "w", "encoder"), ("h264", "r", "decoder"))
PYAV_FORMATS = (
    ("mp4", "w", "muxer"),
    ("nut", "w", "muxer"),
    ("mpegts", "w", "muxer"),
    ("mov", "r", "demuxer"),
    ("nut", "r", "demuxer"),
    ("mpegts", "r", "demuxer"),
    ("rtsp", "r", "demuxer"),
)


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def check_binary(name: str, package: str) -> str | None:
    """None when ``name`` can be run, else the line saying what is missing."""
    if find_binary(name) is None:
        return f"missing program '{name}' (Debian package {package})"
    return None


def shared_libraries() -> set[str]:
    """The sonames the dynamic linker knows (``ldconfig -p``: first column)."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    done = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=60, check=False)
    return {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()}


def check_gst_element(name: str, package: str) -> str | None:
    """None when GStreamer has the element ``name`` (``gst-inspect-1.0 NAME`` exits 0)."""
    done = subprocess.run(
        ["gst-inspect-1.0", name], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        return f"missing GStreamer element '{name}' (Debian package {package})"
    return None


def ffmpeg_names(kind: str) -> set[str]:
    """The names ``ffmpeg -hide_banner -encoders`` (or -decoders, -muxers...) lists: the second
    column of each line, split at commas (``mov,mp4,m4a,...`` is one demuxer)."""
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", _FFMPEG_LISTS[kind]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names: set[str] = set()
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            names.update(parts[1].split(","))
    return names


def check_gi_import(label: str, code: str, package: str) -> str | None:
    """None when Debian's Python runs ``code`` (a gi import) without an error."""
    if not shutil.which(DEBIAN_PYTHON):
        return f"missing program '{DEBIAN_PYTHON}' (Debian package python3)"
    done = subprocess.run(
        [DEBIAN_PYTHON, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return (
            f"missing Python binding '{label}' for {DEBIAN_PYTHON} (Debian package {package}): "
            f"{error}"
        )
    return None


def system_problems() -> tuple[int, list[str]]:
    """(capabilities checked, one line per missing one) for the Debian side."""
    problems: list[str] = []
    checked = 0
    for name, package in BINARIES.items():
        checked += 1
        problems += filter(None, [check_binary(name, package)])
    if find_binary("gst-inspect-1.0") is not None:
        for name, package in GST_ELEMENTS.items():
            checked += 1
            problems += filter(None, [check_gst_element(name, package)])
    else:
        problems.append(
            f"cannot check the {len(GST_ELEMENTS)} GStreamer elements without gst-inspect-1.0 "
            "(Debian package gstreamer1.0-tools)"
        )
    if find_binary("ffmpeg") is not None:
        listed = {kind: ffmpeg_names(kind) for kind in _FFMPEG_LISTS}
        for (kind, name), package in FFMPEG_CAPABILITIES.items():
            checked += 1
            if name not in listed[kind]:
                problems.append(f"missing FFmpeg {kind} '{name}' (Debian package {package})")
    for label, code, package in GI_IMPORTS:
        checked += 1
        problems += filter(None, [check_gi_import(label, code, package)])
    known = shared_libraries()
    for soname, package in SHARED_LIBRARIES.items():
        checked += 1
        if soname not in known:
            problems.append(f"missing shared library {soname} (Debian package {package})")
    for pattern, package in FONT_GLOBS.items():
        checked += 1
        if not glob.glob(pattern):
            problems.append(f"missing font {pattern} (Debian package {package})")
    return checked, problems


def pyav_problems() -> tuple[int, list[str]]:
    """(capabilities checked, one line per missing one) for PyAV in this interpreter."""
    hint = "Python package av in the venv: make venv"
    try:
        import av
    except ImportError as exc:
        return 1, [f"missing Python package 'av' for {sys.executable}: {exc} ({hint})"]
    problems: list[str] = []
    for name, mode, what in PYAV_CODECS:
        try:
            av.Codec(name, mode)
        except ValueError:
            problems.append(f"missing PyAV {what} '{name}' ({hint}; its FFmpeg lacks it)")
    for name, mode, what in PYAV_FORMATS:
        try:
            av.ContainerFormat(name, mode)
        except ValueError:
            problems.append(f"missing PyAV {what} '{name}' ({hint}; its FFmpeg lacks it)")
    return len(PYAV_CODECS) + len(PYAV_FORMATS), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pyav", action="store_true", help="check PyAV in this interpreter")
    args = parser.parse_args(argv)
    what = "PyAV" if args.pyav else "system"
    checked, problems = pyav_problems() if args.pyav else system_problems()
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(
            f"check_deps: {len(problems)} of {checked} {what} capabilities missing (see above)",
            file=sys.stderr,
        )
        return 1
    print(f"check_deps: all {checked} {what} capabilities present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
