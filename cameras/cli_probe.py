"""``hazardwatch probe URL [--seconds N] [--json]``: how an installer checks a camera URL."""

from __future__ import annotations

import argparse
import json
import sys

from cameras.probe import probe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="connect to a camera URL as a pipeline would and report",
        description="Connect to an RTSP/HTTP URL or a file as a pipeline would; report codec, "
        "size, measured fps and errors. Exits 2 when the source cannot be read.",
    )
    parser.add_argument("url", help="rtsp://user:pass@host/path, http(s) URL, or a file")
    parser.add_argument("--seconds", type=float, default=5.0, help="stream time to read")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--connect-timeout", type=float, default=5.0, metavar="S")
    parser.add_argument("--read-timeout", type=float, default=5.0, metavar="S")
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.seconds > 0:
        print("probe: --seconds must be > 0", file=sys.stderr)
        return 2
    result = probe(
        args.url,
        args.seconds,
        connect_timeout_s=args.connect_timeout,
        read_timeout_s=args.read_timeout,
        rtsp_transport=args.transport,
    )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        state = "connected" if result.connected else "NOT connected"
        print(f"{result.url}: {state}")
        if result.connected:
            print(
                f"  {result.codec} {result.width}x{result.height}, "
                f"{result.fps_measured} fps measured over {result.frames} frames, "
                f"keyframe every {result.keyframe_interval_s}s, {result.bitrate_kbps} kbit/s, "
                f"{result.reconnects} reconnects"
            )
    for error in result.errors:
        print(f"probe: {error}", file=sys.stderr)
    return 0 if result.connected else 2
