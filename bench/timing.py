"""Timing for benchmarks (measured figures): wall clock by default, or another clock; this core's clock
rate (:func:`measure_clock_ghz`, which :mod:`bench.cpu_rates`, :mod:`bench.host_costs` and
:mod:`bench.scan_replica` convert seconds to cycles with)."""
from __future__ import annotations

import time


def best_of(fn, repeat: int = 3, clock=time.perf_counter):
    """``(result, seconds)``: the fastest of ``repeat`` calls — the least disturbed by other load. ``clock``
    (wall clock by default; ``time.thread_time`` for the on-CPU time of single-threaded work)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return out, best


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds every live thread of process ``pid`` has run (:func:`thread_cpu_seconds` summed); nan
    where there is no ``/proc``. Threads of a server live as long as the server, so differences of this are
    its CPU time over an interval (for this process use ``time.process_time``)."""
    threads = thread_cpu_seconds(pid)
    return sum(threads.values()) if threads else float("nan")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """``{thread id: on-CPU seconds}`` of every live thread of process ``pid``, from
    ``/proc/<pid>/task/*/schedstat`` (nanoseconds; ``/proc/<pid>/stat``'s 10 ms ticks would read a short
    interval as 0); empty where there is no ``/proc``."""
    import os

    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                out[int(t)] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
    return out


def measure_clock_ghz(iters: int = 200_000_000) -> float:
    """This core's clock in GHz (measured): a dependent chain of 3 one-cycle integer operations (shift,
    xor, add) per iteration in numba, ``3 x iters / seconds``, the least on-CPU time
    (``time.thread_time``) of 3 runs."""
    import numba
    import numpy as np

    @numba.njit(cache=False)
    def chain(n):
        x = np.uint64(1)
        for i in range(n):
            x = (x ^ (x >> np.uint64(1))) + np.uint64(i)
        return x

    chain(1000)
    _, t = best_of(lambda: chain(iters), 3, clock=time.thread_time)
    return 3 * iters / t / 1e9
