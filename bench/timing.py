"""Wall-clock timing for benchmarks (measured figures)."""
from __future__ import annotations

import time


def best_of(fn, repeat: int = 3):
    """``(result, seconds)``: the fastest of ``repeat`` calls — the least disturbed by other load."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best
