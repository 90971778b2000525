"""Two Linux ``prctl`` calls the pipeline processes, the bench and the tests' servers share:
naming the calling thread for the kernel, and asking for a signal when the parent dies.

The C library is loaded once, in the parent, at import: ``die_with_parent`` runs as a
``preexec_fn`` in the child between fork and exec, where as little as possible should happen.
Elsewhere than Linux both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


_LIBC = _load_libc()


def die_with_parent() -> None:
    """For ``preexec_fn``: the child gets SIGTERM when its parent dies (a SIGKILLed ``run``,
    bench or test process), so that no worker or server outlives it holding locks or ports."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def set_thread_name(name: str) -> None:
    """Name the calling thread for the kernel (``/proc/PID/task/TID/comm``, at most 15 bytes)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_NAME, name.encode("utf-8", "replace")[:15], 0, 0, 0)
