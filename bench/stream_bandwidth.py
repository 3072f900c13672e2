"""Memory bandwidth of a streaming read on this machine, at 1 and 2 threads.

    python -m bench.stream_bandwidth [--mib 1024]

The mechanism behind :meth:`hwsim.cpu.FaissCpu.select_query_s`: faiss's sequential flat search reads the whole
centroid matrix per query; where it outgrows the L3, threads searching at once share the socket's memory
bandwidth. This measures that sharing here (a read of a buffer far beyond the L3 by one thread, then by two
threads each reading their own half), *measured* wall clock, best of 3; the modeled server's bandwidth is
its cited figure (docs/REFERENCE.md § CPU), not this one.
"""
from __future__ import annotations

import os
import time

import numpy as np


def _kernels():
    import numba

    @numba.njit(parallel=True, cache=False)
    def read_sum(a, parts):
        n = a.size // parts
        out = np.zeros(parts, np.int64)
        for p in numba.prange(parts):
            s = 0                        # integer sum: vectorised, no dependent float chain to bound it
            for i in range(p * n, (p + 1) * n):
                s += a[i]
            out[p] = s
        return out.sum()

    return read_sum


def measure(mib: int = 1024, repeat: int = 3) -> dict:
    import numba

    read_sum = _kernels()
    a = np.ones(mib * 2 ** 20 // 8, np.int64)
    out = {"figures": "measured (wall clock, best of 3)", "buffer_mib": mib,
           "load_average_before": os.getloadavg()}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        read_sum(a[:1024], threads)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            read_sum(a, threads)
            best = min(best, time.perf_counter() - t0)
        out[f"gbs_{threads}_thread{'s' if threads > 1 else ''}"] = a.nbytes / best / 1e9
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
