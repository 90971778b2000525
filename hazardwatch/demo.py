"""``hazardwatch demo``: demo media for the three hazards, the whole system on it, the tickets.

The demo media come from the scenario generator of the repository (``benchmarks/scenarios``, run
as a separate program: the product never imports benchmark code). It composites real photos of
vehicles, people and a motorbike (the lift's e-bike) from the repository's ``assets/`` so that
the real detector (YOLOX-Nano, also in ``assets/``) sees them. Those files are checked against
``assets/MANIFEST.sha256`` first. ``HAZARDWATCH_ASSETS`` may name another folder (the full shared
test media); without a detector model there it says so plainly and shows what it can: falling
objects need no detector.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import Request, urlopen

import yaml

from hazardwatch.services import (
    DEFAULT_REDIS_URL,
    StartupError,
    build_api,
    load,
    local_redis,
    serve_http,
    start_pipelines,
    stop_pipelines,
)
from pipelines.assets import (
    PRODUCT_ASSETS_DIR,
    AssetIntegrityError,
    demo_assets_dir,
    verify_assets,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_SEED = 2026
# One positive clip per hazard kind from the quick suite (ids of benchmarks/scenarios).
WANTED = {
    "fire_lane_blocked": "lane",
    "ebike_entry": "lift",
    "falling_object": "facade",
}
ALL_SCENES = ("facade", "lane", "lift")
# what the generator needs from the assets for the lane and lift scenes
MODEL_FILE = Path("models/yolox_nano_coco_416.onnx")
# The lift camera detects with the lift e-bike model (issue 9) when the repository has it: COCO's
# motorbike slot retrained as 'ebike' on real lift CCTV, person kept (NOTICE beside it).
LIFT_MODEL = PRODUCT_ASSETS_DIR / "models" / "yolox_nano_lift_ebike_416.onnx"
LIFT_DETECTOR: dict[str, Any] = {
    "input_size": 416,
    "family": "yolox",
    "classes": {"ebike": "ebike", "bicycle": "bicycle", "person": "person"},
    # below the operating threshold (0.89, RESULTS.md Step 6): the demo's e-bike is a COCO
    # motorbike photo pasted into a drawn lift, far from the real ceiling CCTV it was trained on
    "score_threshold": 0.5,
}


def demo_assets() -> Path:
    """The assets folder the demo uses (:func:`pipelines.assets.demo_assets_dir`); the
    repository's own ``assets/`` is first checked against its manifest.

    Raises:
        StartupError: a file of the repository's ``assets/`` is missing or differs from its
            pinned sha256 (the message names each file, expected and actual).
    """
    assets = demo_assets_dir()
    if assets == PRODUCT_ASSETS_DIR:
        check_product_assets(assets)
    return assets


def check_product_assets(folder: Path) -> None:
    """Check ``folder`` (the repository's ``assets/``) against its ``MANIFEST.sha256``.

    Raises:
        StartupError: naming each missing or changed file, with expected and actual sha256.
    """
    try:
        verify_assets(folder)
    except AssetIntegrityError as exc:
        raise StartupError(
            f"{exc}\nRestore the repository's assets (git checkout -- assets) or point "
            "HAZARDWATCH_ASSETS at another assets folder."
        ) from exc


def plan_media(assets: Path) -> tuple[tuple[str, ...], str | None]:
    """The scene types the demo media can have with this assets folder, and why not all.

    All three when the assets directory and the detector model in it are there; otherwise only
    the facade (falling objects need no detector and no photos), with a plain message saying so.
    """
    left_out = "fire-lane and e-bike demos need them and are left out; showing falling objects only"
    if not assets.is_dir():
        reason = f"the assets (real photos and the detector model) are not at {assets}"
    elif not (assets / MODEL_FILE).is_file():
        reason = f"the detector model {assets / MODEL_FILE} is missing from the assets"
    else:
        return ALL_SCENES, None
    return ("facade",), f"{reason}: {left_out}"


def media_dir_for(data_dir: Path, scenes: tuple[str, ...]) -> Path:
    """Where the demo media of these scene types go: one folder per scene set, so that a
    falling-objects-only run and a later full run never share (or mistake) their media."""
    return data_dir / ("media" if scenes == ALL_SCENES else "media-" + "-".join(scenes))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="make demo media, run the whole system on it, print the tickets and the web address",
    )
    p.add_argument("--data-dir", type=Path, default=Path("data/demo"), help="where it all goes")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--exit-after",
        action="store_true",
        help="stop once the tickets are printed (default: keep serving until Ctrl-C)",
    )
    p.set_defaults(func=cmd_demo)


def make_media(
    media_dir: Path, scenes: tuple[str, ...] = ALL_SCENES, assets: Path | None = None
) -> Path:
    """Generate the quick scenario suite (of these scene types, with this assets folder) with
    the repository's generator; returns suite.yaml."""
    generator = REPO_ROOT / "benchmarks" / "scenarios" / "generate.py"
    if not generator.is_file():
        raise StartupError(
            "the demo media generator (benchmarks/scenarios) is not here: run the demo from a "
            "checkout of the repository (make demo)"
        )
    print(f"demo: making demo media in {media_dir} (about a minute the first time)", flush=True)
    command = [sys.executable, "-m", "benchmarks.scenarios.generate", "--out", str(media_dir)]
    command += ["--seed", str(DEMO_SEED), "--quick", "--scenes", ",".join(scenes)]
    if assets is not None:
        command += ["--assets", str(assets)]
    proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StartupError(f"demo media could not be made:\n{proc.stderr.strip()[-2000:]}")
    return media_dir / "suite.yaml"


def demo_config(suite_file: Path, data_dir: Path) -> tuple[Path, list[str]]:
    """One site config with a camera per hazard kind, each playing one positive clip."""
    suite = yaml.safe_load(suite_file.read_text())
    cameras: dict[str, Any] = {}
    detector: dict[str, Any] | None = None
    detectors: dict[str, Any] = {}
    notes: list[str] = []
    for kind, prefix in WANTED.items():
        entry = next(
            (
                c
                for c in suite["clips"]
                if c["expected"] and c["expected"][0]["kind"] == kind and c["id"].startswith(prefix)
            ),
            None,
        )
        if entry is None:
            notes.append(f"no {kind} demo clip could be made")
            continue
        config_path = suite_file.parent / entry["config"]
        raw = yaml.safe_load(config_path.read_text())
        camera = dict(raw["cameras"][entry["camera"]])
        camera["source"] = str((suite_file.parent / entry["video"]).resolve())
        camera["name"] = f"demo {kind}"
        camera_id = f"demo_{prefix}"
        if kind != "falling_object":
            model = Path(raw.get("detector", {}).get("model", ""))
            if not model.is_absolute():
                model = (config_path.parent / model).resolve()
            if not model.is_file():
                notes.append(
                    f"{kind}: needs a detector model and none is available offline "
                    f"({model} is missing): this kind is not shown"
                )
                continue
            detector = dict(raw["detector"], model=str(model))
        if kind == "ebike_entry" and LIFT_MODEL.is_file():
            detectors["lift"] = dict(LIFT_DETECTOR, model=str(LIFT_MODEL))
            camera["detect"] = dict(camera.get("detect", {}), model="lift")
        cameras[camera_id] = camera
    config: dict[str, Any] = {
        "site": {"id": "demo", "name": "Demo estate 演示小区"},
        "cameras": cameras,
    }
    if detector is not None:
        config["detector"] = detector
    if detectors:
        config["detectors"] = detectors
    path = data_dir / "demo.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return path, notes


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        return _demo(args)
    except StartupError as exc:
        print(f"hazardwatch demo: {exc}", file=sys.stderr)
        return 2


def _demo(args: argparse.Namespace) -> int:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    assets = demo_assets()
    scenes, message = plan_media(assets)
    if message is not None:
        print(f"demo: {message}", flush=True)
    suite_file = make_media(
        media_dir_for(args.data_dir, scenes), scenes, assets if message is None else None
    )
    config_path, notes = demo_config(suite_file, args.data_dir)
    for note in notes:
        print(f"demo: {note}", flush=True)
    config = load(config_path)  # and the evidence keys, as run and serve do
    if not config.cameras:
        raise StartupError("no demo camera could be set up")
    token = os.environ.get("HAZARDWATCH_ADMIN_TOKEN") or secrets.token_urlsafe(16)
    os.environ["HAZARDWATCH_ADMIN_TOKEN"] = token
    args.config = config_path
    with local_redis(args.redis_url, args.data_dir):
        store, service, app = build_api(config, args)
        service.start()
        server = threading.Thread(
            target=serve_http, args=(app, args.host, args.port), name="http", daemon=True
        )
        server.start()
        base = f"http://{args.host}:{args.port}"
        login = f"{base}/ui/login?token={token}"
        print(f"demo: web UI at {login} (the tickets follow as the cameras play)", flush=True)
        # The clips loop, so that the zone editor and the dashboard show live cameras; a
        # hazard seen again while its ticket is open attaches to that ticket.
        pipelines = start_pipelines(config, args, loop_files=True)
        runners = pipelines.runners
        print(f"demo: playing {len(runners)} camera(s) in real time, in a loop...", flush=True)
        try:
            tickets = _wait_for_tickets(base, token, expected=len(runners), timeout_s=300)
            print(f"\ndemo: {len(tickets)} ticket(s) created:")
            for t in tickets:
                print(
                    f"  {t['code']:<28} {t['kind']:<18} {t['status']:<11} "
                    f"level={t['level']:<7} camera={t['camera_id']} zone={t['zone']}"
                )
            print(f"\nweb UI: {login}  (review: {base}/ui/review, zones: {base}/ui/zones)")
            if args.exit_after:
                return 0 if tickets else 1
            print("Ctrl-C stops the demo (the cameras keep playing until then).", flush=True)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
            return 0
        finally:
            stop_pipelines(pipelines)  # flushes clips and publishes the last events
            service.stop()
            store.close()


def _wait_for_tickets(base: str, token: str, expected: int, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    items: list[dict] = []
    while time.monotonic() < deadline:
        # hazard tickets: a facade that keeps dropping things also raises a hotspot ticket
        request = Request(
            f"{base}/tickets?category=hazard", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urlopen(request, timeout=5) as response:
                items = json.load(response).get("items", [])
        except (URLError, OSError, ValueError):
            items = []
        if len(items) >= expected:
            break
        time.sleep(1)
    return items
