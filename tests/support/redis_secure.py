"""A redis-server that wants a password (``requirepass``), optionally over TLS only, and the
certificates for it (made with ``openssl`` in the test's folder: a CA, a server certificate for
127.0.0.1 signed by it, and an unrelated CA that must not be trusted)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis

from tests.support.servers import LOOPBACK, RedisServerProcess


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and of a server certificate it signed."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # signed nothing of ours: a client trusting it must refuse the server


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {done.stderr.strip()[-500:]}")


def _self_signed_ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN=hazardwatch test {name}",
        cwd=folder,
    )  # fmt: skip


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA, a server key and certificate for 127.0.0.1/localhost signed by it, another CA.

    Raises:
        RuntimeError: openssl is missing or failed.
    """
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    _self_signed_ca(folder, "ca")
    _self_signed_ca(folder, "other-ca")
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1", cwd=folder,
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem", cwd=folder,
    )  # fmt: skip
    return TlsFiles(
        folder / "ca.pem", folder / "server.pem", folder / "server.key", folder / "other-ca.pem"
    )


class SecureRedisServer(RedisServerProcess):
    """redis-server whose ``default`` user needs ``admin_password``; with ``tls``, it listens
    on TLS only (``--port 0 --tls-port PORT``), clients need not show a certificate.

    Args:
        work_dir: data and log folder.
        admin_password: the ``default`` user's password (``requirepass``).
        tls: the server's certificate and its CA, or None for plain TCP.
    """

    name = "redis-server"

    def __init__(self, work_dir: Path, *, admin_password: str, tls: TlsFiles | None = None):
        super().__init__(work_dir)
        self.admin_password = admin_password
        self.tls = tls

    def _command(self) -> list[str]:
        binary = shutil.which("redis-server") or "redis-server"
        command = [binary, "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.work_dir), "--daemonize", "no", "--logfile", ""]
        command += ["--requirepass", self.admin_password]
        if self.tls is None:
            return [*command, "--port", str(self.port)]
        return [
            *command,
            "--port", "0", "--tls-port", str(self.port),
            "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no",
        ]  # fmt: skip

    def _is_ready(self) -> bool:
        client = self.admin_client(timeout_s=0.2)
        try:
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def url_for(self, user: str | None, password: str, *, ca: Path | None = None) -> str:
        """``redis[s]://user:password@127.0.0.1:PORT/0`` (percent-encoded; TLS options added)."""
        auth = f"{quote(user, safe='') if user else ''}:{quote(password, safe='')}@"
        if self.tls is None:
            return f"redis://{auth}{LOOPBACK}:{self.port}/0"
        trusted = ca if ca is not None else self.tls.ca
        query = f"ssl_cert_reqs=required&ssl_ca_certs={quote(str(trusted))}"
        return f"rediss://{auth}{LOOPBACK}:{self.port}/0?{query}"

    @property
    def url(self) -> str:
        return self.url_for(None, self.admin_password)

    def admin_client(self, *, timeout_s: float = 2.0) -> redis.Redis:
        """A client of the ``default`` user (all permissions)."""
        return redis.Redis.from_url(
            self.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )

    def client(self, *, timeout_s: float = 2.0) -> redis.Redis:
        return self.admin_client(timeout_s=timeout_s)

    def set_user(self, user: str, password: str, rules: str) -> str:
        """``ACL SETUSER user reset on >password RULES...``; returns the user's URL."""
        client = self.admin_client()
        try:
            client.execute_command(
                "ACL", "SETUSER", user, "reset", "on", f">{password}", *rules.split()
            )
        finally:
            client.close()
        return self.url_for(user, password)

    def acl_denials(self, user: str) -> list[str]:
        """What ``ACL LOG`` recorded as refused to ``user`` (commands and keys)."""
        client = self.admin_client()
        try:
            entries = client.acl_log(count=1000)
        finally:
            client.close()
        return [
            f"{entry['reason']}: {entry['object']}"
            for entry in entries
            if entry.get("username") == user and entry.get("reason") != "auth"
        ]
