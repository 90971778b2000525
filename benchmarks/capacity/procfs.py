"""What a process tree costs, read from /proc: CPU, memory, threads, open fds; and the statistics
the long-run measurements share (least-squares slope; the nearest-rank percentile is
``pipelines.overload.percentile``, the one the pipelines use).

Shared by ``hazardwatch bench`` (:mod:`benchmarks.capacity.harness`) and ``benchmarks/soak.py``.
CPU time is utime + stime of every live descendant, so the CPU of a worker process that exited
between two samples is lost: the harness restarts nothing itself and reports the number of
processes it saw, so a dead worker shows.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessUse:
    """One process: pid, command name, resident and proportional set size, threads, CPU."""

    pid: int
    name: str
    rss_kb: int
    pss_kb: int
    threads: int
    cpu_s: float


@dataclass(frozen=True, slots=True)
class ProcSample:
    """A process tree at one moment.

    Attributes:
        rss_kb: summed resident set size (shared pages counted once per process).
        fds: open file descriptors of all its processes.
        threads: threads of all its processes.
        cpu_s: utime + stime of all its live processes.
        pids: how many processes.
        pss_kb: summed proportional set size (shared pages split between their users), 0 when
            ``smaps_rollup`` was not read.
        processes: each process (when asked for).
        threads_cpu_s: CPU seconds by thread kind (:func:`thread_cpu`, when asked for).
    """

    rss_kb: int
    fds: int
    threads: int
    cpu_s: float
    pids: int
    pss_kb: int = 0
    processes: tuple[ProcessUse, ...] = ()
    threads_cpu_s: dict[str, float] | None = None


def children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from the ppid field of /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _status_field(status: str, name: str) -> int:
    for line in status.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def process_use(pid: int, *, pss: bool = False) -> tuple[ProcessUse, int] | None:
    """One process's use and its open fds; None when it is gone (or not readable)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    use = ProcessUse(
        pid=pid,
        name=stat[stat.index("(") + 1 : stat.rindex(")")],
        rss_kb=_status_field(status, "VmRSS"),
        pss_kb=_pss_kb(pid) if pss else 0,
        threads=_status_field(status, "Threads"),
        cpu_s=(int(fields[11]) + int(fields[12])) / CLK_TCK,
    )
    return use, fds


def proc_sample(pid: int, *, detail: bool = False) -> ProcSample:
    """RSS, open fds, threads and CPU time of ``pid`` and its descendants together; with
    ``detail`` also PSS, each process (reading smaps_rollup costs ~1 ms per process) and the CPU
    of each kind of thread."""
    uses: list[ProcessUse] = []
    fds = 0
    for p in [pid, *children(pid)]:
        got = process_use(p, pss=detail)
        if got is not None:
            uses.append(got[0])
            fds += got[1]
    return ProcSample(
        rss_kb=sum(u.rss_kb for u in uses),
        fds=fds,
        threads=sum(u.threads for u in uses),
        cpu_s=sum(u.cpu_s for u in uses),
        pids=len(uses),
        pss_kb=sum(u.pss_kb for u in uses),
        processes=tuple(uses) if detail else (),
        threads_cpu_s=thread_cpu([u.pid for u in uses]) if detail else None,
    )


def thread_group(comm: str) -> str:
    """The kind of a thread from its native name: ``source-lane01`` -> ``source``; a thread
    without its own name carries the process's (``python``)."""
    return comm.split("-", 1)[0] if "-" in comm else comm


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds (utime + stime) of the live threads of ``pids``, summed by
    :func:`thread_group` of their native names (``/proc/PID/task/TID/comm``). Threads that
    ended are not counted: compare groups of long-lived threads only."""
    groups: dict[str, float] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            group = thread_group(comm)
            groups[group] = groups.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return groups


def box_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return float(sum(values) - idle), float(sum(values))


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers narrow)."""
    return len(os.sched_getaffinity(0)) or os.cpu_count() or 1


# ----- statistics -------------------------------------------------------------------------------


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than 2 distinct x)."""
    if len({x for x, _ in points}) < 2:
        return 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return num / sum((x - mean_x) ** 2 for x, _ in points)
