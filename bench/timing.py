"""Timing for benchmarks (measured figures): wall clock by default, or another clock."""
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
