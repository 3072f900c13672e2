"""faiss's GEMM block under Intel MKL and under OpenBLAS on this core, side by side.

    python -m bench.blas_gemm [--mkl PATH] [--dims 96 128 512 1024] [--batches 20 64 256]

Why: faiss 1.7.2 as Chameleon installed it (conda, pytorch channel) calls Intel MKL's sgemm for a flat search
of 20 or more queries (its recipe builds with ``-DBLA_VENDOR=Intel10_64lp``), and MKL was reported to run
sgemm on AMD Zen without a Zen kernel; hwrag's own rates (``bench.cpu_rates``) time that path through the
OpenBLAS of today's faiss wheel. This times the block faiss's ``knn_L2sqr_blas`` hands to BLAS, ``sgemm_("T",
"N", 1024, b, d, ...)`` (1,024 centroids against b queries of d dimensions), under both libraries on one thread,
*measured* wall clock, median over repeats, and checks MKL's answer against numpy's.

MKL is not one of hwrag's dependencies (a 280 MB wheel): ``pip install mkl==2021.4.0`` (the release of
Chameleon's time) puts it in the venv, where this finds it; or ``--mkl`` names a libmkl_rt. MKL runs on its
sequential layer (one thread, as OpenBLAS is held to here).
docs/REFERENCE.md § CPU gives what it measured.
"""
from __future__ import annotations

import ctypes
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

CENTROIDS_PER_BLOCK = 1024   # faiss 1.7.2 distance_compute_blas_database_bs
INSTALL = "pip install mkl==2021.4.0"


def _dist_file(dist: str, name: str) -> Path | None:
    """A file of an installed distribution whose name starts with ``name`` (MKL's wheels put their libraries
    under ``<prefix>/lib``, outside the package tree)."""
    from importlib import metadata

    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return None
    hits = [f for f in files if f.name.startswith(name)]
    return Path(hits[0].locate()).resolve() if hits else None


def load_mkl(path: str | None = None) -> ctypes.CDLL:
    """libmkl_rt (``path``, else the ``mkl`` wheel's) on its sequential threading layer: one thread, as measured
    here, and no OpenMP runtime needed beside it."""
    rt = Path(path) if path else _dist_file("mkl", "libmkl_rt.so")
    if rt is None or not rt.exists():
        raise HwragError(f"Intel MKL not found{f' at {path}' if path else ''}: {INSTALL}, or --mkl PATH to a libmkl_rt")
    os.environ.setdefault("MKL_THREADING_LAYER", "SEQUENTIAL")   # read by libmkl_rt when it loads its layer
    try:
        lib = ctypes.CDLL(str(rt), mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise HwragError(f"cannot load MKL from {rt}: {e}; {INSTALL}") from None
    return lib


def mkl_version(lib: ctypes.CDLL) -> str:
    buf = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buf, 256)
    return buf.value.decode(errors="replace")


def mkl_block(lib: ctypes.CDLL, y: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """``out[b, n] = x[b] . y[n]`` as faiss asks BLAS for it: ``sgemm_("T", "N", n, b, d, 1, y, d, x, d, 0, out, n)``."""
    n, d = y.shape
    b = x.shape[0]
    fp = ctypes.POINTER(ctypes.c_float)
    i = lambda v: ctypes.byref(ctypes.c_int(v))  # noqa: E731 -- Fortran BLAS takes every argument by reference
    one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
    lib.sgemm(b"T", b"N", i(n), i(b), i(d), ctypes.byref(one), y.ctypes.data_as(fp), i(d),
              x.ctypes.data_as(fp), i(d), ctypes.byref(zero), out.ctypes.data_as(fp), i(n))


def _median_s(fn, reps: int, repeats: int) -> float:
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        runs.append((time.perf_counter() - t0) / reps)
    return statistics.median(runs)


def measure(lib: ctypes.CDLL, dims=(96, 128, 512, 1024), batches=(20, 64, 256), repeats: int = 5,
            seed: int = 0) -> list[dict]:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):   # numpy's OpenBLAS on one thread, as MKL is set
        for d in dims:
            y = rng.random((CENTROIDS_PER_BLOCK, d), dtype=np.float32)
            for b in batches:
                x = rng.random((b, d), dtype=np.float32)
                out = np.empty((b, CENTROIDS_PER_BLOCK), np.float32)
                mkl_block(lib, y, x, out)
                ref = x.astype(np.float64) @ y.T.astype(np.float64)
                if not np.allclose(out, ref, rtol=1e-4, atol=1e-3 * d):
                    raise HwragError(f"MKL's sgemm disagrees with numpy at d={d}, b={b}")
                reps = max(5, int(5e8 / (b * CENTROIDS_PER_BLOCK * d)))
                t_mkl = _median_s(lambda: mkl_block(lib, y, x, out), reps, repeats)
                t_open = _median_s(lambda: np.dot(x, y.T, out=out), reps, repeats)
                rows.append({"d": d, "batch": b, "mkl_us": t_mkl * 1e6, "openblas_us": t_open * 1e6,
                             "mkl_over_openblas": t_mkl / t_open,
                             "mkl_ns_per_centroid_dim_query": t_mkl * 1e9 / (b * CENTROIDS_PER_BLOCK * d)})
    return rows


def main(argv=None) -> int:
    import json

    from ivfpq.errors import CommandParser, run_command

    from .machine import cpu_identity
    from .table import format_table
    from .timing import measure_clock_ghz

    ap = CommandParser(prog="python -m bench.blas_gemm", description=__doc__.splitlines()[0])
    ap.add_argument("--mkl", default=None, help=f"path of a libmkl_rt (default: the mkl wheel's; {INSTALL})")
    ap.add_argument("--dims", type=int, nargs="+", default=[96, 128, 512, 1024],
                    help="vector dimensions")
    ap.add_argument("--batches", type=int, nargs="+", default=[20, 64, 256],
                    help="queries per block (faiss uses BLAS from 20)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats, the median kept")
    ap.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    args = ap.parse_args(argv)

    def go():
        if min(args.dims + args.batches) < 1 or args.repeats < 1:
            raise HwragError("--dims, --batches and --repeats must be >= 1")
        lib = load_mkl(args.mkl)
        load = os.getloadavg()
        rows = measure(lib, tuple(args.dims), tuple(args.batches), args.repeats)
        ident = cpu_identity()
        res = {"figures": "measured (wall clock, one thread each, median of repeats)", "mkl": mkl_version(lib),
               "numpy_blas": "OpenBLAS (numpy's)", "cpu": ident.get("cpu_model"),
               "microarchitecture": ident.get("microarchitecture"), "clock_ghz": measure_clock_ghz(),
               "load_average": [load[0], os.getloadavg()[0]], "rows": rows}
        if args.json:
            print(json.dumps(res, indent=1))
            return 0
        print(f"faiss's GEMM block (1,024 centroids x b queries), one thread — {res['mkl']} against numpy's OpenBLAS; "
              f"{res['cpu']} ({res['microarchitecture']}), {res['clock_ghz']:.2f} GHz; load {load[0]:.2f} -> "
              f"{res['load_average'][1]:.2f} (measured, wall clock, median of {args.repeats})")
        print(format_table([{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]))
        return 0

    return run_command(go)


if __name__ == "__main__":
    raise SystemExit(main())
