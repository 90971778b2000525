"""A real RTSP server for tests, built on gst-rtsp-server.

Run it with Debian's ``/usr/bin/python3``, which has the GObject bindings (the project's venv does
not)::

    /usr/bin/python3 tests/support/rtsp_server.py --port 8554 \\
        --mount /live=live:320x240@25 --mount /clip=file:/tmp/clip.mp4 [--user U --password P]

Mount specs:

- ``live:WIDTHxHEIGHT@FPS``: a live ``videotestsrc pattern=ball`` with a time overlay, encoded by
  x264 (zerolatency, ultrafast, a keyframe every second, no B-frames).
- ``file:PATH``: the H.264 track of an MP4, MKV or MPEG-TS file served **without re-encoding**,
  in real time, **looped forever**, with timestamps that carry on across loops. MPEG-TS carries
  SPS/PPS in band, so a ``.ts`` whose picture size changes mid-stream is served as it is.

How a file is looped: its access units are read once into memory at start-up (through qtdemux and
h264parse, which also validates the file) and an ``appsrc`` pushes them again and again, shifting
the timestamps of pass k by k times the clip's duration. The sinks of the RTSP media sync to the
clock, which gives real-time pacing. The alternative (a probe on h264parse's sink
pad that drops EOS and seeks qtdemux back to 0 from the main loop) also works here, but only with a
*flushing* seek (the non-flushing one stalls because qtdemux's src pad stays flagged EOS), and the
flush restarts the running time, so every loop would jump the RTP timestamps back to 0.

With ``--user``/``--password`` every mount requires HTTP Basic auth (401 otherwise). Once the
server listens it prints ``READY rtsp://127.0.0.1:PORT`` (the bound port, useful with ``--port 0``)
on stdout. SIGTERM or SIGINT stop it with exit code 0. Bad arguments exit with code 2 and a message
on stderr; missing GStreamer bindings exit with code 3 and name the Debian packages to install.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEBIAN_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly "
    "gstreamer1.0-libav"
)
EXIT_CANNOT_LISTEN = 1
EXIT_BAD_INPUT = 2  # what argparse uses too
EXIT_MISSING_BINDINGS = 3

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as _exc:
    print(
        f"rtsp_server: GStreamer RTSP bindings unavailable in {sys.executable} ({_exc}); "
        f"install the Debian packages: apt-get install {DEBIAN_PACKAGES} (or run `make deps`)",
        file=sys.stderr,
    )
    sys.exit(EXIT_MISSING_BINDINGS)

_LIVE_SPEC = re.compile(r"^(\d+)x(\d+)@(\d+)$")
# file suffix -> (demuxer, the pad of its video track). MPEG-TS names its pads by PID, so any pad
# that links to h264parse is taken; it carries SPS/PPS in band, so a stream may change resolution.
_DEMUXERS = {
    ".mp4": ("qtdemux", "demux.video_0"),
    ".mov": ("qtdemux", "demux.video_0"),
    ".m4v": ("qtdemux", "demux.video_0"),
    ".mkv": ("matroskademux", "demux.video_0"),
    ".ts": ("tsdemux", "demux."),
}
_READ_TIMEOUT_NS = 20 * 1_000_000_000  # longest time to read a clip into memory at start-up
_PULL_WAIT_NS = 50_000_000


class SpecError(ValueError):
    """A ``--mount`` argument or a served file is not usable."""


@dataclass(frozen=True)
class AccessUnit:
    """One H.264 access unit (byte-stream) of a clip, times in ns from the clip's start."""

    data: bytes
    pts_ns: int
    dts_ns: int | None
    duration_ns: int
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    """The whole H.264 track of a file, held in memory to be served in a loop."""

    caps: Any  # Gst.Caps of the byte-stream
    units: tuple[AccessUnit, ...]
    loop_ns: int  # duration of one pass; timestamps of pass k are shifted by k * loop_ns


@dataclass(frozen=True)
class Mount:
    """One mount point: its path, the gst-launch description of its media, its clip if any."""

    path: str
    launch: str
    clip: Clip | None


def _live_launch(spec: str, where: str) -> str:
    match = _LIVE_SPEC.match(spec)
    if not match:
        raise SpecError(f"{where}: live spec must be WIDTHxHEIGHT@FPS, got {spec!r}")
    width, height, fps = (int(g) for g in match.groups())
    if not (16 <= width <= 7680 and 16 <= height <= 4320 and width % 2 == 0 and height % 2 == 0):
        raise SpecError(f"{where}: live size must be even, 16..7680 x 16..4320, got {spec!r}")
    if not 1 <= fps <= 120:
        raise SpecError(f"{where}: live fps must be 1..120, got {fps}")
    return (
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        '! timeoverlay font-desc="Sans 12" ! videoconvert ! video/x-raw,format=I420 '
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 threads=1 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def _pull_buffers(pipeline: Any, path: Path, where: str) -> tuple[Any, list[Any]]:
    """Run the reading pipeline to its end; return the caps and every buffer of the track."""
    sink, bus = pipeline.get_by_name("sink"), pipeline.get_bus()
    caps, buffers = None, []
    deadline_ns = time.monotonic_ns() + _READ_TIMEOUT_NS
    pipeline.set_state(Gst.State.PLAYING)
    # appsink posts EOS only once its queue is drained, so pull until it reports EOS.
    while not sink.get_property("eos"):
        message = bus.pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            error, _debug = message.parse_error()
            raise SpecError(f"{where}: cannot serve {path} (H.264 in MP4/MKV?): {error.message}")
        if time.monotonic_ns() > deadline_ns:
            raise SpecError(f"{where}: reading {path} took more than {_READ_TIMEOUT_NS // 10**9} s")
        sample = sink.emit("try-pull-sample", _PULL_WAIT_NS)
        if sample is not None:
            caps = caps or sample.get_caps()
            buffers.append(sample.get_buffer())
    if not buffers:
        raise SpecError(f"{where}: {path} has no H.264 frames")
    return caps, buffers


def read_clip(path: Path, where: str) -> Clip:
    """Read the H.264 track of ``path`` into memory; raise :class:`SpecError` if impossible."""
    if not path.is_file():
        raise SpecError(f"{where}: file {path} does not exist")
    found = _DEMUXERS.get(path.suffix.lower())
    if found is None:
        raise SpecError(f"{where}: file {path} must end in one of {', '.join(sorted(_DEMUXERS))}")
    demuxer, video_pad = found
    location = str(path.resolve()).replace("\\", "\\\\").replace('"', '\\"')
    pipeline = Gst.parse_launch(
        f'filesrc location="{location}" ! {demuxer} name=demux {video_pad} '
        "! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au "
        "! appsink name=sink sync=false"
    )
    try:
        caps, buffers = _pull_buffers(pipeline, path, where)
    finally:
        pipeline.set_state(Gst.State.NULL)
    none = Gst.CLOCK_TIME_NONE
    origin = min(min(b.pts, b.pts if b.dts == none else b.dts) for b in buffers)
    frame_ns = max(1, (buffers[-1].pts - buffers[0].pts) // max(1, len(buffers) - 1))
    units = tuple(
        AccessUnit(
            data=b.extract_dup(0, b.get_size()),
            pts_ns=b.pts - origin,
            dts_ns=None if b.dts == none else b.dts - origin,
            duration_ns=frame_ns if b.duration == none else b.duration,
            keyframe=not b.has_flags(Gst.BufferFlags.DELTA_UNIT),
        )
        for b in buffers
    )
    loop_ns = max(u.pts_ns + u.duration_ns for u in units)
    return Clip(caps=caps, units=units, loop_ns=loop_ns)


_FILE_LAUNCH = (
    "( appsrc name=src format=time is-live=false ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


def parse_mount(argument: str) -> Mount:
    """Parse ``PATH=SPEC`` into a :class:`Mount`; raise :class:`SpecError` naming what is wrong."""
    where = f"--mount {argument!r}"
    path, sep, spec = argument.partition("=")
    if not sep or not path or not spec:
        raise SpecError(f"{where}: expected PATH=SPEC, e.g. /cam1=live:320x240@25")
    if not path.startswith("/"):
        path = "/" + path
    if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", path):
        raise SpecError(f"{where}: mount path must be /name[/name...] of [A-Za-z0-9._-]")
    kind, _, value = spec.partition(":")
    if kind == "live":
        return Mount(path, _live_launch(value, where), None)
    if kind == "file":
        return Mount(path, _FILE_LAUNCH, read_clip(Path(value), where))
    raise SpecError(f"{where}: spec must start with live: or file:, got {spec!r}")


class _LoopFeeder:
    """Feeds one media's appsrc with a clip's access units, looping with continuous timestamps.

    A new media (pipeline) is made for the first client after a mount was idle, and gets its own
    feeder, so that client sees the clip from its first frame. Only appsrc's streaming thread
    calls :meth:`on_need_data`.
    """

    def __init__(self, clip: Clip) -> None:
        self._clip = clip
        self._next = 0
        self._offset_ns = 0

    def on_need_data(self, appsrc: Any, _length: int) -> None:
        unit = self._clip.units[self._next]
        buffer = Gst.Buffer.new_wrapped(unit.data)
        buffer.pts = unit.pts_ns + self._offset_ns
        buffer.dts = Gst.CLOCK_TIME_NONE if unit.dts_ns is None else unit.dts_ns + self._offset_ns
        buffer.duration = unit.duration_ns
        if not unit.keyframe:
            buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
        appsrc.emit("push-buffer", buffer)
        self._next += 1
        if self._next == len(self._clip.units):
            self._next = 0
            self._offset_ns += self._clip.loop_ns


def _configure_file_media(_factory: Any, media: Any, clip: Clip) -> None:
    appsrc = media.get_element().get_by_name("src")
    appsrc.set_property("caps", clip.caps)
    # The signal handler holds the feeder; both live as long as this media's appsrc.
    appsrc.connect("need-data", _LoopFeeder(clip).on_need_data)


def _add_auth(server: Any, factories: list[Any], user: str, password: str) -> None:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    role, _ = Gst.Structure.from_string(
        "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    )
    for factory in factories:
        factory.add_role_from_structure(role)


def _build_server(args: argparse.Namespace, mounts: list[Mount]) -> Any:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mount_points = server.get_mount_points()
    factories = []
    for mount in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(mount.launch)
        factory.set_shared(True)
        if mount.clip is not None:
            factory.connect("media-configure", _configure_file_media, mount.clip)
        mount_points.add_factory(mount.path, factory)
        factories.append(factory)
    if args.user is not None:
        _add_auth(server, factories, args.user, args.password)
    return server


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[Mount]]:
    parser = argparse.ArgumentParser(description="RTSP test server (gst-rtsp-server).")
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--mount",
        action="append",
        required=True,
        metavar="PATH=SPEC",
        help="PATH=live:WxH@FPS or PATH=file:/clip.mp4; repeatable",
    )
    parser.add_argument("--user", help="require HTTP Basic auth with this user")
    parser.add_argument("--password", help="password for --user")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    try:
        mounts = [parse_mount(argument) for argument in args.mount]
    except SpecError as exc:
        parser.error(str(exc))
    paths = [mount.path for mount in mounts]
    duplicates = sorted({path for path in paths if paths.count(path) > 1})
    if duplicates:
        parser.error(f"--mount: mount path given twice: {', '.join(duplicates)}")
    return args, mounts


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code."""
    Gst.init(None)
    args, mounts = _parse_args(argv)
    server = _build_server(args, mounts)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
