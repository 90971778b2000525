"""Threads carry their Python names at the OS level (what top -H and hazardwatch bench see)."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.thread_names import name_native_threads, native_name

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")


def test_new_threads_and_pool_threads_get_their_names() -> None:
    before = threading.getprofile()
    try:
        name_native_threads()
        seen: dict[str, int] = {}

        def work() -> None:
            seen["tid"] = threading.get_native_id()

        thread = threading.Thread(target=work, name="source-lane01")
        thread.start()
        thread.join()
        # The kernel keeps a finished thread's name only while it lives: check a live one.
        gate = threading.Event()

        def wait() -> None:
            seen["live"] = threading.get_native_id()
            gate.wait(5)

        live = threading.Thread(target=wait, name="analysis-a-very-long-camera-name")
        live.start()
        while "live" not in seen:
            pass
        assert native_name(seen["live"]) == "analysis-a-very"  # the kernel's 15 bytes
        gate.set()
        live.join()
        with ThreadPoolExecutor(1, thread_name_prefix="clips-cam") as pool:
            tid = pool.submit(threading.get_native_id).result()
            assert native_name(tid) == "clips-cam_0"
        # The hook removed itself in each thread: no profiling cost afterwards.
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(sys.getprofile).result() is None
    finally:
        threading.setprofile(before)


def test_the_calling_thread_keeps_the_process_name() -> None:
    before = threading.getprofile()
    mine = native_name(threading.get_native_id())
    try:
        name_native_threads()
        assert native_name(threading.get_native_id()) == mine  # not "MainThread" in top
    finally:
        threading.setprofile(before)
