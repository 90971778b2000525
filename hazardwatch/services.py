"""``hazardwatch run|serve|up``: the long-running parts, started together or apart.

``run`` starts every camera's pipeline and publishes events; ``serve`` runs the ticket service and
the web API; ``up`` runs both in one process and starts a local ``redis-server`` when none answers
at ``--redis-url`` (only at start-up: an outage later is the spool's job, never a second server).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from cameras.clips import remove_partial_files
from cameras.errors import SourceError
from cameras.schema_checks import verify_decode
from models.batching import BatchingDetector
from models.detector import Detector
from models.errors import ModelError
from pipelines.builders import BuildError
from pipelines.config import ConfigError, HazardwatchConfig, load_config
from pipelines.config_reload import ConfigReloader
from pipelines.detector_pool import DetectorPool
from pipelines.evidence_keys import start_keys
from pipelines.linux import die_with_parent
from pipelines.model_checks import detectors_in_use, labels_from, verify_models
from pipelines.publish import EventPublisher
from pipelines.redis_url import (
    RedisAccess,
    RedisTarget,
    RedisUrlError,
    parse_redis_url,
    probe_redis,
)
from pipelines.runner import CameraRunner, RunnerOptions, run_cameras
from pipelines.signals import STOP_SIGNALS, SignalInbox
from pipelines.thread_names import name_native_threads
from pipelines.workers import (
    LEGACY_SPOOL_NAME,
    SupervisorSettings,
    WorkerPlanError,
    WorkerSupervisor,
    camera_cost,
    check_node_name,
    default_node_name,
    orphan_spools,
    plan_workers,
    resolve_worker_count,
    running_cameras,
    spool_path,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from api.service import TicketService
    from api.store import TicketStore

logger = logging.getLogger("hazardwatch")

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# prometheus_client's multiprocess directory (pipelines.metrics.MULTIPROC_ENV, named here so that
# this module does not import prometheus_client before the variable is set).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class StartupError(Exception):
    """Something the user must fix before the service can start (exit code 2)."""


def add_common_arguments(parser: argparse.ArgumentParser, *, http: bool) -> None:
    parser.add_argument("--config", required=True, type=Path, help="hazardwatch YAML config")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="database, spool, evidence (./data)"
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="Redis for the event bus: redis://[user:password@]host:port/db, or rediss://... "
        "for TLS (?ssl_ca_certs=CA.pem&ssl_cert_reqs=required); see docs/redis-security.md",
    )
    if http:
        parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
        parser.add_argument("--port", type=int, default=8080, help="HTTP port (8080)")
        parser.add_argument(
            "--database-url",
            default=os.environ.get("HAZARDWATCH_DATABASE_URL"),
            help="the ticket database as an SQLAlchemy URL, e.g. "
            "postgresql+psycopg://user:password@host/db (env HAZARDWATCH_DATABASE_URL; default: "
            "tickets.sqlite3 in the data dir). Several serve replicas share one PostgreSQL",
        )


def add_worker_arguments(parser: argparse.ArgumentParser, *, default_workers: str) -> None:
    parser.add_argument(
        "--workers",
        default=default_workers,
        help="worker processes the cameras are spread over: a number, or 'auto' (one per core, "
        f"at most one per camera); 1 runs everything in this process (default {default_workers})",
    )
    parser.add_argument(
        "--node",
        default=None,
        help="this box's name (default: the host name); names its spool files "
        "(spool/NODE-wK.sqlite3), so that boxes sharing one data volume keep their own; one "
        "process without --node keeps spool.sqlite3",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve the pipeline processes' merged Prometheus metrics on this port (127.0.0.1)",
    )
    # Set by the supervisor for its worker processes; not for people.
    parser.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--only-cameras", default=None, help=argparse.SUPPRESS)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run every camera's pipeline and publish events")
    add_common_arguments(run, http=False)
    add_worker_arguments(run, default_workers="auto")
    run.set_defaults(func=cmd_run)
    serve = subparsers.add_parser(
        "serve",
        help="the ticket service and the web UI/API",
        description="The ticket service and the web UI/API. Several replicas behind one "
        "address share one PostgreSQL (--database-url) and must share the page sessions' key: "
        "set HAZARDWATCH_SESSION_SECRET (at least 16 bytes) to the same value for each.",
    )
    add_common_arguments(serve, http=True)
    serve.set_defaults(func=cmd_serve)
    up = subparsers.add_parser("up", help="pipelines + ticket service + API (+ redis if needed)")
    add_common_arguments(up, http=True)
    add_worker_arguments(up, default_workers="1")
    up.set_defaults(func=cmd_up)


# ----- pieces --------------------------------------------------------------------------------


def load(path: Path) -> HazardwatchConfig:
    """The config of ``run``, ``serve``, ``up`` and ``demo``, and this process's evidence keys
    from its ``evidence`` section (read once, here).

    Raises:
        StartupError: the config is invalid, or its evidence keys cannot be used.
    """
    try:
        config = load_config(path)
        issues = start_keys(config.evidence, Path(path).parent)
        if issues:
            raise ConfigError(str(path), issues)
    except ConfigError as exc:
        raise StartupError(str(exc)) from None
    return config


def detector_pool() -> DetectorPool:
    """The live cameras' shared detectors: one batching session per distinct model."""
    return DetectorPool(build=BatchingDetector.from_spec)


def make_detector_source(
    config: HazardwatchConfig, base_dir: Path, pool: DetectorPool, source_name: str = "config"
) -> Callable[[str], Detector | None]:
    """``camera_id -> detector`` for :func:`run_cameras`: every camera's class mapping checked
    against its own model first (all problems at once, each line prefixed with
    ``source_name``), then detectors from ``pool``."""
    running = running_cameras(config)
    try:
        shared = detectors_in_use(config, running)
        issues = verify_models(config, labels_from(pool, base_dir, shared))
    except (BuildError, ModelError) as exc:
        raise StartupError(f"detector: {exc}") from None
    # An explicit decode.hwaccel this box cannot use: refused here (exit 2), not in each
    # camera's source, where a worker would die and be restarted for ever.
    for camera_id in running:
        issues += verify_decode(camera_id, config.cameras[camera_id])
    if issues:
        raise StartupError(str(ConfigError(source_name, issues)))

    def detector_for(camera_id: str) -> Detector | None:
        try:
            return pool.for_camera(config, camera_id, base_dir)
        except (BuildError, ModelError) as exc:
            name = config.detector_name(camera_id)
            raise StartupError(f"camera {camera_id}: detector '{name}': {exc}") from None

    return detector_for


def redis_target(url: str) -> RedisTarget:
    """The checked ``--redis-url``; StartupError (exit 2) naming what is wrong with it."""
    try:
        return parse_redis_url(url)
    except RedisUrlError as exc:
        raise StartupError(f"--redis-url: {exc}") from None


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Whether Redis answers at ``url`` and takes its credentials."""
    try:
        return probe_redis(url, timeout_s).access is RedisAccess.UP
    except RedisUrlError:
        return False


def check_redis(url: str, what: str) -> RedisTarget:
    """At start-up: refuse a ``--redis-url`` that cannot work (exit 2), warn about one that
    does not answer yet.

    Wrong credentials or a failed TLS handshake are the user's to fix, so they stop the
    command with the reason. Nothing answering is an outage, which ``what`` rides out
    (events wait in the spool; the ticket service retries).

    Raises:
        StartupError: a bad URL, refused credentials or a TLS failure (credentials masked).
    """
    target = redis_target(url)
    probe = probe_redis(url)
    if probe.access in (RedisAccess.REFUSED_CREDENTIALS, RedisAccess.TLS_FAILED):
        raise StartupError(probe.message)
    if probe.access is RedisAccess.UNREACHABLE:
        logger.warning("%s; %s", probe.message, what)
    return target


def check_startable(url: str) -> RedisTarget:
    """A redis-server can be started for ``url`` only on this machine's loopback, over plain
    TCP (a TLS server needs certificates only its owner can provide)."""
    target = redis_target(url)
    if target.scheme == "unix":
        raise StartupError(
            f"no Redis answers at {target.safe_url}: start the server that owns that socket"
        )
    if not target.is_loopback:
        raise StartupError(
            f"no Redis answers at {target.safe_url}, and it is not local: "
            "start it there, or point --redis-url at a local one"
        )
    if target.tls:
        raise StartupError(
            f"no Redis answers at {target.safe_url}; up starts a local redis-server only for a "
            "redis:// URL (TLS needs the server's certificate and key): start it yourself"
        )
    return target


_ACL_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


def local_redis_acl(url: str) -> list[str]:
    """``user`` lines of a local server's ACL so that ``url``'s credentials are the ones it
    takes: the named user (or ``default``) with the URL's password, stored as its SHA-256, and
    every permission; the ``default`` user off when another is named. Empty without a password.

    Raises:
        StartupError: a user name the local server's config file cannot hold.
    """
    parts = urlsplit(url)
    if not parts.password:
        return []
    user = unquote(parts.username) if parts.username else "default"
    if not _ACL_NAME.fullmatch(user):
        raise StartupError(
            "--redis-url: a local redis-server is started only for a user name of letters, "
            "digits and . _ -; start Redis yourself for another"
        )
    digest = hashlib.sha256(unquote(parts.password).encode()).hexdigest()
    lines = [f"user {user} reset on #{digest} ~* &* +@all"]
    if user != "default":
        lines.insert(0, "user default reset off")
    return lines


@contextmanager
def local_redis(url: str, data_dir: Path) -> Iterator[subprocess.Popen[bytes] | None]:
    """Start ``redis-server`` for ``url`` if nothing answers there; stop it on exit.

    The server takes the URL's user and password (see :func:`local_redis_acl`), written to a
    config file only the owner can read. A Redis that answers but refuses the credentials, or
    fails TLS, is an error (exit 2), not a reason to start another one on its port.
    """
    target = redis_target(url)
    probe = probe_redis(url, 1.0)
    if probe.access is RedisAccess.UP:
        yield None
        return
    if probe.access is not RedisAccess.UNREACHABLE:
        raise StartupError(probe.message)
    check_startable(url)
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartupError("no Redis reachable and redis-server is not installed (make deps)")
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    config = redis_dir / "local.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{line}\n" for line in local_redis_acl(url)))
    host, port = target.host or "127.0.0.1", target.port
    proc = subprocess.Popen(
        [binary, str(config), "--port", str(port), "--bind", host, "--dir", str(redis_dir),
         "--appendonly", "yes", "--save", ""],
        stdout=(redis_dir / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,  # a SIGKILLed up/demo runs no finally: the kernel tells it
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not redis_reachable(url, 0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise StartupError(
                f"redis-server did not start on port {port}: see {redis_dir}/redis.log"
            )
        time.sleep(0.05)
    logger.info("started redis-server for %s (data in %s)", target.safe_url, redis_dir)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Pipelines:
    """The running cameras, their publisher, shared detectors and the config watcher."""

    publisher: EventPublisher
    runners: list[CameraRunner]
    detectors: DetectorPool
    reloader: ConfigReloader | None = None


def start_pipelines(
    config: HazardwatchConfig, args: argparse.Namespace, *, loop_files: bool | None = None
) -> Pipelines:
    """Start this process's cameras (all, or a worker's ``--only-cameras``); the config file is
    then watched for detector changes (and SIGHUP). File sources play once, or loop when
    ``loop_files`` (default: ``HAZARDWATCH_LOOP_FILES=1``)."""
    name_native_threads()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started_at = time.time()
    worker_index = getattr(args, "worker_index", None)
    if worker_index is not None:
        config = only_cameras(config, args.only_cameras)
        spool = spool_path(args.data_dir, node_name(args), worker_index)
    elif getattr(args, "node", None):
        # A named box keeps its own spool even in one process: boxes may share the volume.
        spool = spool_path(args.data_dir, node_name(args), 0)
    else:
        spool = args.data_dir / LEGACY_SPOOL_NAME
    spool.parent.mkdir(parents=True, exist_ok=True)
    publisher = EventPublisher(args.redis_url, spool)
    # A (re)started process cleans up after its own cameras only: other workers, and other
    # boxes sharing the volume, are writing beside it.
    remove_own_partial_files(args.data_dir, list(config.cameras), started_at)
    options = RunnerOptions(
        data_dir=args.data_dir,
        loop_files=os.environ.get("HAZARDWATCH_LOOP_FILES") == "1"
        if loop_files is None
        else loop_files,
        worker_index=worker_index,
    )
    metrics = None
    if os.environ.get(METRICS_DIR_ENV):  # set by run's supervisor (--metrics-port, workers)
        from pipelines.metrics import PipelineMetrics

        metrics = PipelineMetrics(worker_index if worker_index is not None else 0)
    pool = detector_pool()
    try:
        source = make_detector_source(config, args.config.parent, pool, str(args.config))
        runners = run_cameras(config, source, publisher, options, metrics)
    except BaseException:
        pool.close()
        publisher.close()
        raise
    reloader = ConfigReloader(
        args.config, config, {runner.camera_id: runner for runner in runners}, pool
    )
    reloader.start()
    return Pipelines(publisher, runners, pool, reloader)


def remove_own_partial_files(data_dir: Path, cameras: list[str], older_than_s: float) -> None:
    """Temporary files that a crash left in these cameras' evidence folders and among their
    live pictures (``live/`` is flat: its temporary names start with ``.CAMERA.`` or
    ``.CAMERA__``), never another box's or worker's."""
    for camera_id in cameras:
        remove_partial_files(data_dir / "evidence" / camera_id, older_than_s=older_than_s)
    prefixes = tuple(f".{camera_id}{sep}" for camera_id in cameras for sep in (".", "__"))
    remove_partial_files(data_dir / "live", older_than_s=older_than_s, prefixes=prefixes)


def node_name(args: argparse.Namespace) -> str:
    try:
        return check_node_name(args.node) if args.node else default_node_name()
    except WorkerPlanError as exc:
        raise StartupError(str(exc)) from None


def only_cameras(config: HazardwatchConfig, names: str | None) -> HazardwatchConfig:
    """The config with only a worker's cameras (the supervisor's plan)."""
    wanted = [name for name in (names or "").split(",") if name]
    unknown = [name for name in wanted if name not in config.cameras]
    if not wanted or unknown:
        raise StartupError(f"--only-cameras: no such camera(s) in the config: {unknown or wanted}")
    return config.model_copy(update={"cameras": {cid: config.cameras[cid] for cid in wanted}})


def stop_pipelines(pipelines: Pipelines) -> None:
    if pipelines.reloader is not None:
        pipelines.reloader.stop()
    for runner in pipelines.runners:
        runner.stop()
    pipelines.detectors.close()
    pipelines.publisher.flush(timeout_s=10)
    pipelines.publisher.close()


def reload_on_sighup(pipelines: Pipelines) -> SignalInbox:
    """SIGHUP re-reads the config file (it is also polled), through a lock-free handler
    (pipelines/signals.py): the reload is requested within a poll of the reloader."""
    inbox = SignalInbox().install([signal.SIGHUP])
    reloader = pipelines.reloader
    if reloader is not None:
        reloader.watch_signals(inbox)
    return inbox


def wait_for_signal(on_hup: Callable[[], None] | None = None) -> None:
    """Until SIGINT or SIGTERM; SIGHUPs meanwhile call ``on_hup`` (in this thread)."""
    SignalInbox().install([*STOP_SIGNALS, signal.SIGHUP]).wait_for_stop(on_hup)


def build_api(
    config: HazardwatchConfig,
    args: argparse.Namespace,
    publisher_health: Callable[[], dict[str, Any]] | None = None,
) -> tuple[TicketStore, TicketService, FastAPI]:
    """The ticket store, service and web app; ``publisher_health`` (``up``: the pipelines run
    in this process) adds the publisher's spool to ``/health`` and ``/metrics``, where it shows
    even while Redis, through which the camera status travels, is down."""
    from api.app import create_app
    from api.channels import ChannelConfigError
    from api.delivery_worker import DeliveryWorker
    from api.dispatch import DispatchBook
    from api.reports.schedule import ScheduledReports
    from api.retention import EvidenceRetention
    from api.service import TicketService
    from api.store import TicketStore
    from api.workflow import TicketPolicy

    args.data_dir.mkdir(parents=True, exist_ok=True)
    url = (
        getattr(args, "database_url", None)
        or f"sqlite:///{(args.data_dir / 'tickets.sqlite3').resolve()}"
    )
    from api.store import StoreError

    try:
        # new tickets go to their camera's or zone's responsible unit (api.dispatch)
        dispatch = DispatchBook(config, args.data_dir)
        store = TicketStore(
            url, policy=TicketPolicy.from_config(config), dispatch=dispatch.assignee_for
        )
    except StoreError as exc:
        # The URL may carry a password: name the option, not the URL.
        raise StartupError(f"--database-url: {exc}") from None
    levels = config.api.levels if config.api is not None else None
    # Evidence retention runs with the ticket service: it needs the tickets' states.
    retention = EvidenceRetention(store, args.data_dir, config.retention)
    # Notification channels (api.notifications): their secrets are read from the environment.
    try:
        deliveries = DeliveryWorker.from_config(config, store)
    except ChannelConfigError as exc:
        store.close()
        raise StartupError(str(exc)) from None
    # Weekly/monthly reports (api.reports), when configured, are written by the service too.
    reports = ScheduledReports.from_config(config, store, args.data_dir)
    service = (
        TicketService(
            args.redis_url,
            store,
            data_dir=args.data_dir,
            escalation_interval_s=levels.escalation_interval_s,
            retention=retention,
            deliveries=deliveries,
            reports=reports,
        )
        if levels is not None
        else TicketService(
            args.redis_url,
            store,
            data_dir=args.data_dir,
            retention=retention,
            reports=reports,
            deliveries=deliveries,
        )
    )

    def health() -> dict[str, Any]:
        record = service.counters()
        if publisher_health is not None:
            record["publisher"] = publisher_health()
        return record

    try:
        app = create_app(
            config,
            store,
            data_dir=args.data_dir,
            redis_url=args.redis_url,
            service_health=health,
            retention_status=retention.status,
        )
    except ValueError as exc:  # e.g. a HAZARDWATCH_SESSION_SECRET too short
        store.close()
        raise StartupError(str(exc)) from None
    return store, service, app


def serve_http(app: FastAPI, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then return so that the caller stops the rest (exit 0).

    uvicorn shuts HTTP down gracefully on those signals, then raises the signal again under the
    handler that was in place before it started. With Python's default handler that kills the
    process before the caller's cleanup (pipelines stopped, open hazards ended, events flushed to
    Redis, spool closed) can run. A handler that only records the signal is installed first and
    stays through the cleanup, which a second SIGTERM must not cut short either.
    """
    import uvicorn

    # Only the main thread may set signal handlers (``hazardwatch demo`` serves from another
    # thread and handles Ctrl-C itself; uvicorn then leaves the signals alone too).
    inbox = SignalInbox().install()
    uvicorn.run(app, host=host, port=port, log_level="warning")
    if inbox.drain():
        logger.info("signal received: stopping")


# ----- commands --------------------------------------------------------------------------------


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except StartupError as exc:
            print(f"hazardwatch {args.command}: {exc}", file=sys.stderr)
            return 2
        except (SourceError, BuildError, ModelError) as exc:
            print(f"hazardwatch {args.command}: {exc}", file=sys.stderr)
            return 2

    return wrapper


@_guard
def cmd_run(args: argparse.Namespace) -> int:
    config = load(args.config)
    check_redis(args.redis_url, "events wait in the spool until it answers")
    metrics = None
    if args.worker_index is None:
        workers = worker_count(args, config)
        if workers > 1:
            return supervise_workers(config, args, workers)
        if args.metrics_port is not None:
            metrics = start_pipeline_metrics(args, node_name(args))
    # A named box in one process: the spools of its earlier multi-worker runs are drained.
    leftovers = (
        drain_orphan_spools(args, node_name(args), 1)
        if args.worker_index is None and args.node
        else []
    )
    pipelines = start_pipelines(config, args)
    if args.worker_index is None:
        print(
            f"running {len(pipelines.runners)} camera(s); Ctrl-C stops, SIGHUP reloads detectors",
            flush=True,
        )
    reloader = pipelines.reloader
    try:
        wait_for_signal(on_hup=reloader.request if reloader is not None else None)
    finally:
        stop_pipelines(pipelines)
        for publisher in leftovers:
            publisher.close(flush_timeout_s=5)
        if metrics is not None:
            metrics.close()
    return 0


@dataclass
class PipelineMetricsServer:
    """The supervisor's side of the merged pipeline metrics (see pipelines/metrics.py)."""

    directory: Path
    supervisor: Any  # pipelines.metrics.SupervisorMetrics
    server: Any = None  # the --metrics-port HTTP server, if any

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pipeline_metrics(args: argparse.Namespace, node: str) -> PipelineMetricsServer:
    """A metrics directory local to this box (never the shared data volume: process ids of
    two hosts collide), set in the environment before prometheus_client is imported here, and
    inherited by every worker; served on ``--metrics-port`` when given."""
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix=f"hazardwatch-metrics-{node}-"))
    os.environ[METRICS_DIR_ENV] = str(directory)
    from pipelines.metrics import (
        MetricsModeError,
        SupervisorMetrics,
        prepare_multiprocess_dir,
        serve_metrics,
    )

    try:
        prepare_multiprocess_dir(directory)
        running = PipelineMetricsServer(directory, SupervisorMetrics())
        port = getattr(args, "metrics_port", None)
        if port is not None:
            running.server, _thread = serve_metrics("127.0.0.1", port, directory)
            print(f"pipeline metrics on http://127.0.0.1:{port}/metrics", flush=True)
    except MetricsModeError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise StartupError(str(exc)) from None
    return running


def worker_count(args: argparse.Namespace, config: HazardwatchConfig) -> int:
    try:
        return resolve_worker_count(args.workers, len(running_cameras(config)))
    except WorkerPlanError as exc:
        raise StartupError(str(exc)) from None


def drain_orphan_spools(args: argparse.Namespace, node: str, workers: int) -> list[EventPublisher]:
    """Publishers for this node's spools that no worker owns now (see pipelines/workers.py):
    they send what earlier runs accepted, in the background, until the supervisor stops."""
    publishers = []
    for path in orphan_spools(args.data_dir, node, workers):
        publisher = EventPublisher(args.redis_url, path)
        pending = publisher.stats().spooled
        if pending:
            logger.warning("spool %s: %d event(s) of an earlier run; sending them", path, pending)
        publishers.append(publisher)
    return publishers


def supervise_workers(
    config: HazardwatchConfig, args: argparse.Namespace, workers: int, *, with_metrics: bool = True
) -> int:
    """``run`` with its cameras spread over ``workers`` processes, until SIGINT/SIGTERM.

    ``with_metrics``: the workers record ``hazardwatch_pipeline_*`` metrics, merged and served
    on ``--metrics-port`` (``up`` has imported prometheus_client for its API already, so its
    workers' numbers reach the API through the camera status records only)."""
    node = node_name(args)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    cameras = running_cameras(config)
    # The models are checked once here, so that a bad config stops the start (exit 2) instead
    # of every worker dying and being restarted forever.
    pool = detector_pool()
    try:
        make_detector_source(config, args.config.parent, pool, str(args.config))
    finally:
        pool.close()
    plan = plan_workers({cid: camera_cost(config, cid) for cid in cameras}, workers)
    leftovers = drain_orphan_spools(args, node, workers)
    metrics = start_pipeline_metrics(args, node) if with_metrics else None
    supervisor = WorkerSupervisor(
        SupervisorSettings(
            config_path=args.config,
            data_dir=args.data_dir,
            redis_url=args.redis_url,
            node=node,
            verbosity=getattr(args, "verbose", 0),
        ),
        plan,
        on_worker_exit=metrics.supervisor.worker_exited if metrics is not None else None,
        on_worker_start=(
            (lambda k, restart: metrics.supervisor.worker_started(k, restart=restart))
            if metrics is not None
            else None
        ),
    )
    inbox = SignalInbox().install([*STOP_SIGNALS, signal.SIGHUP])
    supervisor.start()
    print(
        f"running {len(cameras)} camera(s) in {len(supervisor.workers)} worker processes "
        f"(node {node}); Ctrl-C stops, SIGHUP reloads detectors",
        flush=True,
    )
    try:
        inbox.wait_for_stop(on_hup=supervisor.reload)
    finally:
        codes = supervisor.stop()
        for publisher in leftovers:
            publisher.close(flush_timeout_s=5)
        if metrics is not None:
            metrics.close()
    failed = [code for code in codes if code not in (0, None)]
    if failed:
        logger.error("worker exit codes on stop: %s", codes)
    return 0


@_guard
def cmd_serve(args: argparse.Namespace) -> int:
    config = load(args.config)
    check_redis(args.redis_url, "the ticket service keeps trying")
    store, service, app = build_api(config, args)
    service.start()
    print(f"serving on http://{args.host}:{args.port}/ui/review", flush=True)
    try:
        serve_http(app, args.host, args.port)
    finally:
        service.stop()
        store.close()
    return 0


@_guard
def cmd_up(args: argparse.Namespace) -> int:
    config = load(args.config)
    workers = worker_count(args, config)
    with local_redis(args.redis_url, args.data_dir):
        if workers > 1:
            # The pipelines run in worker processes (the supervisor handles the signals);
            # the API and ticket service in a thread of this one.
            store, service, app = build_api(config, args)
            service.start()
            api = threading.Thread(
                target=serve_http, args=(app, args.host, args.port), name="uvicorn", daemon=True
            )
            print(f"up: web UI http://{args.host}:{args.port}/ui/review", flush=True)
            api.start()
            try:
                return supervise_workers(config, args, workers, with_metrics=False)
            finally:
                service.stop()
                store.close()
        running: list[EventPublisher] = []  # the publisher, once the pipelines are started
        store, service, app = build_api(
            config, args, lambda: running[0].health() if running else {}
        )
        service.start()
        pipelines = start_pipelines(config, args)
        running.append(pipelines.publisher)
        reload_on_sighup(pipelines)
        print(
            f"up: {len(pipelines.runners)} camera(s), web UI "
            f"http://{args.host}:{args.port}/ui/review",
            flush=True,
        )
        try:
            serve_http(app, args.host, args.port)
        finally:
            stop_pipelines(pipelines)
            service.stop()
            store.close()
    return 0
