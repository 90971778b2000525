"""benchmarks/capacity/procfs.py on real processes: a child that names a native thread and keeps
it busy; the tree's CPU, RSS and threads, and that thread's CPU under its kind."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from benchmarks.capacity.procfs import proc_sample, slope, thread_group
from pipelines.overload import percentile

CHILD = r"""
import ctypes, threading, time
libc = ctypes.CDLL("libc.so.6")

def burn():
    libc.prctl(15, b"source-lane01", 0, 0, 0)  # PR_SET_NAME: the native thread name
    end = time.process_time() + 60
    while time.process_time() < end:
        pass

threading.Thread(target=burn, daemon=True).start()
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.timeout(30)
def test_a_named_busy_thread_is_counted_under_its_kind() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        first = proc_sample(child.pid, detail=True)
        time.sleep(1.0)
        second = proc_sample(child.pid, detail=True)
    finally:
        child.kill()
        child.wait()
    assert second.pids == 1 and second.threads >= 2
    assert second.rss_kb > 1000 and second.pss_kb > 0
    assert first.threads_cpu_s is not None and second.threads_cpu_s is not None
    busy = second.threads_cpu_s["source"] - first.threads_cpu_s.get("source", 0.0)
    assert busy > 0.3  # most of a core for the second, on a shared box
    assert second.cpu_s - first.cpu_s >= busy - 0.05  # the process total includes it


@pytest.mark.parametrize(
    ("comm", "group"),
    [("source-lane01", "source"), ("analysis-lift0", "analysis"), ("python", "python")],
)
def test_thread_kind_is_the_name_up_to_the_first_dash(comm: str, group: str) -> None:
    assert thread_group(comm) == group


def test_statistics() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 95) == 5.0
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert slope([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) == pytest.approx(2.0)
    assert slope([(1.0, 1.0)]) == 0.0
