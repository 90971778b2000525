"""A small filesystem of its own for tests that fill a disk: tmpfs mounted on a test folder.

Mounting needs root (or CAP_SYS_ADMIN); where that is refused, :func:`tmpfs_mount` raises
:class:`MountUnavailable` with the reason, so that a test can skip locally and fail in CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


class MountUnavailable(RuntimeError):
    """A tmpfs cannot be mounted here (not root, no mount binary, a container without the
    capability); the message says why."""


@contextlib.contextmanager
def tmpfs_mount(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_bytes`` on ``path`` (created), unmount it on exit.

    Raises:
        MountUnavailable: mounting is not possible here.
        ValueError: a size below one page.
    """
    if size_bytes < 4096:
        raise ValueError(f"tmpfs_mount: size must be >= 4096 bytes, got {size_bytes}")
    binary = shutil.which("mount")
    if binary is None:
        raise MountUnavailable("no mount binary on PATH")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [binary, "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
        raise MountUnavailable(
            f"mount -t tmpfs on {path} failed as {who}: {done.stderr.strip() or done.returncode}"
        )
    try:
        yield path
    finally:
        # Lazy: a process of the test that still holds a file there must not make this fail.
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def fill(path: Path, leave_free_bytes: int = 0, chunk_bytes: int = 1 << 20) -> int:
    """Write ``path`` until its filesystem has at most ``leave_free_bytes`` free (or is full);
    returns the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as fh:
        while (room := shutil.disk_usage(path.parent).free - leave_free_bytes) > 0:
            try:
                written += fh.write(b"\0" * min(chunk_bytes, room)) or 0
            except OSError:  # the disk is full: what the caller asked for
                break
    return written
