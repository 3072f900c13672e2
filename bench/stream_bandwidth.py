"""Memory bandwidth of a streaming read on this machine, at 1 and 2 threads.

    python -m bench.stream_bandwidth [--mib 1024]

The mechanism behind :meth:`hwsim.cpu.FaissCpu.select_query_s`: faiss's sequential flat search reads the whole
centroid matrix per query; where it outgrows the L3, threads searching at once share the socket's memory
bandwidth. This measures that sharing here: a read of a buffer far beyond the L3 by one thread, then by two
threads each reading their own half (numpy's vectorised sum, which releases the GIL and is limited by the
memory, not by its adds), *measured* wall clock, best of 3. If two threads read about what one does, one core
already reaches the machine's ceiling; if they read twice as much, one core's stream is the limit. The
modeled server's bandwidth is its cited figure (docs/REFERENCE.md § CPU), not this one.

(Until 2026-12-07 this read through a parallel numba loop whose reduction did not vectorise: it measured
that loop, about 5 GB/s per thread, not the memory.)
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def read_gbs(a: np.ndarray, threads: int, repeat: int = 3) -> float:
    """GB/s of ``threads`` threads each summing its own contiguous part of ``a`` (best of ``repeat``)."""
    n = a.size // threads
    parts = [a[i * n:(i + 1) * n] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(np.sum, [p[:1024] for p in parts]))
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - t0)
    return n * threads * a.itemsize / best / 1e9


def measure(mib: int = 1024, repeat: int = 3) -> dict:
    a = np.ones(mib * 2 ** 20 // 8, np.int64)
    out = {"figures": f"measured (wall clock, best of {repeat})", "buffer_mib": mib,
           "load_average_before": os.getloadavg()}
    for threads in (1, 2):
        out[f"gbs_{threads}_thread{'s' if threads > 1 else ''}"] = read_gbs(a, threads, repeat)
    return out


def main(argv=None) -> int:
    import json

    from ivfpq.errors import CommandParser, run_command

    from .machine import cpu_identity

    ap = CommandParser(prog="python -m bench.stream_bandwidth", description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024, help="buffer size in MiB (default: %(default)s)")
    args = ap.parse_args(argv)

    def go():
        res = measure(args.mib)
        res["cpu_model"] = cpu_identity()["cpu_model"]
        print(json.dumps(res, indent=1))
        return 0

    return run_command(go)


if __name__ == "__main__":
    raise SystemExit(main())
