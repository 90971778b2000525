"""Real external servers for integration tests: gst-rtsp-server and redis-server on loopback.

Each server is a child process with its output in files under a work directory. ``start()`` waits
until the server really answers (the RTSP script prints ``READY``; redis answers PING) and raises
:class:`ServerStartError` with the server's own output when it does not. ``kill()`` sends SIGKILL
(a crash mid-stream), ``stop()`` SIGTERM then SIGKILL, ``restart()`` starts again on the same port.
The factories stop every server they made, whatever happened in the test, and every server gets
SIGTERM from the kernel if the process that started it dies (even by SIGKILL), so a killed test run
leaves nothing behind. That is tied to the starting *thread*: start servers from the main thread
(or one that outlives them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote

import redis

from pipelines.linux import die_with_parent

DEBIAN_PYTHON = Path("/usr/bin/python3")
RTSP_SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
RTSP_DEBIAN_PACKAGES = (
    "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly "
    "gstreamer1.0-libav"
)
LOOPBACK = "127.0.0.1"
_POLL_S = 0.02  # how often start() looks for readiness
_STOP_GRACE_S = 5.0  # how long stop() waits after SIGTERM before SIGKILL
_LOG_TAIL_CHARS = 4000
_ENV_DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")  # keep the venv out of Debian's python


class ServerStartError(RuntimeError):
    """A test server did not become ready; the message carries its command and output."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    text = text.strip() or "(no output)"
    return text if len(text) <= _LOG_TAIL_CHARS else "..." + text[-_LOG_TAIL_CHARS:]


class _ServerProcess:
    """A child process with its stdout and stderr in files; subclasses say how to run and probe."""

    name = "server"

    def __init__(self, work_dir: Path, ready_timeout_s: float) -> None:
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.ready_timeout_s = ready_timeout_s
        self.stdout_path = self.work_dir / f"{self.name}.stdout"
        self.stderr_path = self.work_dir / f"{self.name}.stderr"
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self.returncode: int | None = None  # exit code of the last run (negative: signal)

    # -- to be provided by subclasses -------------------------------------------------------
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _is_ready(self) -> bool:
        """True once the server answers; called every few ms while starting."""
        raise NotImplementedError

    def _describe_failure(self, returncode: int | None) -> str:
        what = "did not become ready" if returncode is None else f"exited with {returncode}"
        return (
            f"{self.name} {what} within {self.ready_timeout_s:.0f} s\n"
            f"command: {' '.join(self._command())}\n"
            f"stderr:\n{_tail(self.stderr_path)}\nstdout:\n{_tail(self.stdout_path)}"
        )

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _launch(self, stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
        return subprocess.Popen(
            self._command(),
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=die_with_parent,
        )

    def start(self) -> Self:
        """Start the server and wait until it answers.

        Raises:
            RuntimeError: if it is already running.
            ServerStartError: if it exits or does not answer within ``ready_timeout_s``; the
                message has the command line and the server's stderr and stdout.
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self._process = self._launch(stdout, stderr)
        self._starts += 1
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                self._process, self.returncode = None, returncode
                raise ServerStartError(self._describe_failure(returncode))
            if self._is_ready():
                return self
            if time.monotonic() > deadline:
                message = self._describe_failure(None)
                self.kill()
                raise ServerStartError(message)
            time.sleep(_POLL_S)

    def kill(self) -> None:
        """SIGKILL the server (a crash: no clean shutdown) and reap it. No-op if not running."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
        self.returncode = self._process.wait()
        self._process = None

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it if it has not exited after a grace period."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self.returncode = self._process.wait()
        self._process = None

    def restart(self) -> Self:
        """Stop the server if it runs, then start it again on the same port."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RtspServerProcess(_ServerProcess):
    """``tests/support/rtsp_server.py`` run by Debian's python3 (which has the gi bindings).

    Args:
        mounts: mount path -> spec, e.g. ``{"cam1": "live:320x240@25", "clip": "file:/x.mp4"}``
            (a leading ``/`` is added when missing). Give each test camera its own mount.
        work_dir: where the server's stdout and stderr files go.
        port: TCP port on 127.0.0.1; 0 (default) lets the server pick one at the first start and
            keeps it for restarts.
        user, password: require HTTP Basic auth on every mount.
        ready_timeout_s: how long ``start()`` waits for ``READY``.
        python: the interpreter that runs the script; it must have gi and GstRtspServer.
    """

    name = "rtsp-server"

    def __init__(
        self,
        mounts: Mapping[str, str],
        *,
        work_dir: Path,
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        ready_timeout_s: float = 20.0,
        python: Path = DEBIAN_PYTHON,
    ) -> None:
        if not mounts:
            raise ValueError("RtspServerProcess: mounts must name at least one mount")
        if (user is None) != (password is None):
            raise ValueError("RtspServerProcess: give both user and password, or neither")
        if not 0 <= port <= 65535:
            raise ValueError(f"RtspServerProcess: port must be 0..65535, got {port}")
        super().__init__(work_dir, ready_timeout_s)
        self.mounts = {("/" + path.lstrip("/")): spec for path, spec in mounts.items()}
        self.port = port
        self.user, self.password = user, password
        self.python = Path(python)

    def _command(self) -> list[str]:
        command = [str(self.python), str(RTSP_SERVER_SCRIPT), "--port", str(self.port)]
        for path, spec in self.mounts.items():
            command += ["--mount", f"{path}={spec}"]
        if self.user is not None and self.password is not None:
            command += ["--user", self.user, "--password", self.password]
        return command

    def _launch(self, stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        if not self.python.is_file():
            raise ServerStartError(
                f"{self.python} not found: the RTSP test server needs Debian's python3 with the "
                f"GStreamer bindings; install: apt-get install python3 {RTSP_DEBIAN_PACKAGES} "
                "(`make deps` does)"
            )
        return super()._launch(stdout, stderr)

    def _is_ready(self) -> bool:
        for line in self.stdout_path.read_text(errors="replace").splitlines():
            if line.startswith("READY rtsp://"):
                self.port = int(line.rsplit(":", 1)[1])
                return True
        return False

    def _describe_failure(self, returncode: int | None) -> str:
        message = super()._describe_failure(returncode)
        if returncode == 3:  # the script's "GStreamer bindings missing"
            message += (
                f"\n{self.python} lacks gi/GstRtspServer: apt-get install {RTSP_DEBIAN_PACKAGES}"
                " (`make test` installs them)"
            )
        return message

    def url(self, mount: str, user: str | None = None, password: str | None = None) -> str:
        """``rtsp://[user:password@]127.0.0.1:PORT/mount`` (credentials percent-encoded).

        Raises:
            KeyError: if ``mount`` is not one of this server's mounts.
            RuntimeError: if the port is not known yet (``port=0`` and never started).
        """
        path = "/" + mount.lstrip("/")
        if path not in self.mounts:
            raise KeyError(f"no mount {path!r} on this server; mounts: {sorted(self.mounts)}")
        if self.port == 0:
            raise RuntimeError("RtspServerProcess.url: start() the server first to learn its port")
        auth = ""
        if user is not None:
            auth = quote(user, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"rtsp://{auth}{LOOPBACK}:{self.port}{path}"


class RedisServerProcess(_ServerProcess):
    """A throw-away ``redis-server`` on 127.0.0.1 with its data in ``work_dir``.

    Args:
        work_dir: data directory (RDB/AOF files) and log.
        port: TCP port; ``None`` picks a free one (redis cannot report a port it chose itself).
        appendonly: keep an append-only file, fsynced on every write, so data survives
            ``kill()`` + ``restart()``; without it nothing is persisted (``--save ""``).
        ready_timeout_s: how long ``start()`` waits for PING to answer.
    """

    name = "redis-server"

    def __init__(
        self,
        work_dir: Path,
        *,
        port: int | None = None,
        appendonly: bool = False,
        ready_timeout_s: float = 10.0,
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"RedisServerProcess: port must be 1..65535, got {port}")
        super().__init__(work_dir, ready_timeout_s)
        self._auto_port = port is None
        self.port = free_port() if port is None else port
        self.appendonly = appendonly

    def _command(self) -> list[str]:
        binary = shutil.which("redis-server") or "redis-server"
        command = [binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", ""]
        command += ["--dir", str(self.work_dir), "--daemonize", "no", "--logfile", ""]
        if self.appendonly:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        return command

    def _launch(self, stdout: IO[bytes], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        if shutil.which("redis-server") is None:
            raise ServerStartError(
                "redis-server not found on PATH: apt-get install redis-server (`make deps` does)"
            )
        return super()._launch(stdout, stderr)

    def _is_ready(self) -> bool:
        client = redis.Redis(host=LOOPBACK, port=self.port, socket_connect_timeout=0.2)
        try:
            # Another redis on the same port would answer PING too: check that it is ours.
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        except redis.exceptions.ConnectionError:  # also BusyLoadingError while reading the AOF
            return False
        finally:
            client.close()

    def start(self) -> Self:
        """Start and wait for PING; retries on a fresh port if an auto-picked one was taken."""
        retries = 2 if self._auto_port and self._starts == 0 else 0
        while True:
            try:
                return super().start()
            except ServerStartError:
                taken = "Address already in use" in _tail(self.stdout_path)
                if not taken or retries == 0:
                    raise
                retries -= 1
                self.port = free_port()

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self, *, timeout_s: float = 2.0) -> redis.Redis:
        """A new client of this server with connect and socket timeouts of ``timeout_s``."""
        return redis.Redis.from_url(
            self.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )


class _Factory:
    """Owns the servers it started and stops every one of them on :meth:`close`."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)
        self._stack = contextlib.ExitStack()
        self._count = 0

    def _next_dir(self, prefix: str) -> Path:
        self._count += 1
        return self.work_dir / f"{prefix}-{self._count}"

    def close(self) -> None:
        """Stop every server (each one even if stopping another raised)."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RtspServerFactory(_Factory):
    """Makes started :class:`RtspServerProcess` es, each in its own work directory."""

    def __call__(
        self,
        mounts: Mapping[str, str],
        *,
        user: str | None = None,
        password: str | None = None,
        port: int = 0,
    ) -> RtspServerProcess:
        server = RtspServerProcess(
            mounts, work_dir=self._next_dir("rtsp"), port=port, user=user, password=password
        )
        self._stack.callback(server.stop)  # registered before start: a half-started one too
        return server.start()


class RedisServerFactory(_Factory):
    """Makes started :class:`RedisServerProcess` es, each with its own data directory."""

    def __call__(self, *, appendonly: bool = False, port: int | None = None) -> RedisServerProcess:
        server = RedisServerProcess(self._next_dir("redis"), port=port, appendonly=appendonly)
        self._stack.callback(server.stop)
        return server.start()


class SilentTcpServer:
    """A TCP listener on loopback that accepts every connection and never sends a byte.

    What a camera looks like when its RTSP service hangs after accepting (or a firewall that
    accepts for it). It counts connections: ``accepted`` in all, ``open_now`` still open (the
    client has not hung up), ``most_open`` the most at once. Use it as a context manager.
    """

    def __init__(self) -> None:
        import threading

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.port = int(self._sock.getsockname()[1])
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0
        self.most_open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="silent-tcp", daemon=True)
        self._thread.start()

    def url(self, scheme: str = "rtsp", path: str = "/stream") -> str:
        return f"{scheme}://{LOOPBACK}:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                self._reap()
                continue
            conn.setblocking(False)
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
            self._reap()

    def _reap(self) -> None:
        """Forget connections the client closed (a read returns b"" at EOF)."""
        with self._lock:
            alive = []
            for conn in self._conns:
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    alive.append(conn)  # open, nothing to read
                    continue
                except OSError:
                    data = b""
                if data:
                    alive.append(conn)  # the client spoke (a request we never answer)
                else:
                    conn.close()
            self._conns = alive
            self.most_open = max(self.most_open, len(alive))

    @property
    def open_now(self) -> int:
        self._reap()
        with self._lock:
            return len(self._conns)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns = []
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
