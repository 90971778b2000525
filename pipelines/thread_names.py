"""OS-level thread names, so that ``top -H``, ``/proc/PID/task/*/comm`` and ``hazardwatch bench``
see where a pipeline process spends its CPU (decode in ``source-CAM``, inference in
``batching-MODEL``, rules in ``analysis-CAM``, clips in ``clips-CAM``/``evidence-…``).

Python 3.11 names its threads only for itself; the kernel sees every thread as ``python``. Rather
than every module that starts a thread naming it, :func:`name_native_threads` installs a one-shot
profile hook for threads started afterwards: its first call in a new thread copies the thread's
Python name to the kernel (``PR_SET_NAME``, at most 15 bytes) and removes itself, so it costs
nothing after the thread's first function call. Linux only; elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from types import FrameType
from typing import Any

from pipelines.linux import set_thread_name


def _name_and_stop(_frame: FrameType, _event: str, _arg: Any) -> None:
    sys.setprofile(None)
    with contextlib.suppress(OSError):  # a name is a convenience, never a reason to fail
        set_thread_name(threading.current_thread().name)


def name_native_threads() -> None:
    """Give every thread started from now on its Python name at the OS level too."""
    threading.setprofile(_name_and_stop)
    # The calling (main) thread keeps the process's name: top and ps show the program.


def native_name(tid: int) -> str:
    """The kernel's name of thread ``tid`` of this process (for tests and diagnostics)."""
    with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as fh:
        return fh.read().strip()
