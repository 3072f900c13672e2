"""Time the scalar IVF-PQ table scan that Chameleon's CPU baseline ran (faiss 1.7.2), over M, on this core.

    python -m bench.scan_replica [--out-dir hwsim/data/rates] [--quick] [--compare [CORE]]

faiss 1.7.2's ``IndexIVFPQ`` scans a list with precomputed tables in ``scan_list_with_table``: per code one
float accumulator and M dependent adds of table entries (no SIMD: the add chain cannot be vectorised
without reassociating it). Today's faiss scans four codes at a time with SIMD gathers, so timing it says
little about the release Chameleon ran. ``bench/scan_replica.c`` is a replica of that loop (a measurement
tool written from the description above, not faiss code), built with the flags of faiss's AVX2 build and
timed here over lists far larger than the last-level cache (lists of ``LIST_CODES`` codes at random
places in a ``CODE_BYTES`` buffer, as at a billion vectors), in three variants that separate the mechanisms
(:mod:`hwsim.scan_transfer` uses them to move the cost to another core):

* ``full``: the loop as faiss runs it (an M x 256 float table, M KB);
* ``chain``: every sub-quantizer reads one 1 KB row (always in L1): the dependent add chain and the code
  loads without the table's footprint;
* ``nochain``: the full table into four independent accumulators: loads and adds without the chain;

and the latency of one dependent single-precision add (``fadd_chain``). Every figure is *measured*:
on-CPU time of this thread (``time.thread_time``) in cycles of this core at the clock
:func:`bench.timing.measure_clock_ghz` measures; it is stored as the ``scan_replica`` section of this
machine's measured-rates file (:mod:`hwsim.rates`), which records the CPU (vendor, family, model, caches).
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from hwsim.cpu import EPYC_7313
from ivfpq.errors import HwragError

SOURCE = Path(__file__).resolve().parent / "scan_replica.c"
#: faiss's CMake build of its AVX2 library (faiss/CMakeLists.txt, Release): -O3 with these ISA flags
CFLAGS = ("-O3", "-mavx2", "-mfma", "-mf16c", "-mpopcnt", "-fPIC", "-shared")
M_SWEEP = (8, 16, 32, 64, 128)
VARIANTS = ("full", "chain", "nochain")
LIST_CODES = 30_000          # about a list of Chameleon's 1B-vector IVF32768 indexes (30,518 on average)
CODE_BYTES = 256 << 20       # far beyond any last-level cache the scan runs beside


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The replica built with the system C compiler (``cc``) into a temporary directory, loaded."""
    out = Path(tempfile.mkdtemp(prefix="hwrag-scan-replica-")) / "libscan_replica.so"
    cc = os.environ.get("CC", "cc")
    try:
        subprocess.run([cc, *CFLAGS, "-o", str(out), str(SOURCE)], check=True, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise HwragError(f"no C compiler {cc!r} to build the scan replica (install gcc, or set CC)") from e
    except subprocess.CalledProcessError as e:
        raise HwragError(f"building the scan replica failed: {e.stderr.strip()[:300]}") from e
    lib = ctypes.CDLL(str(out))
    for name in ("scan_full", "scan_chain", "scan_nochain"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_float,
                       ctypes.c_float, ctypes.POINTER(ctypes.c_int64)]
    lib.fadd_chain.restype = ctypes.c_float
    lib.fadd_chain.argtypes = [ctypes.c_size_t, ctypes.c_float, ctypes.c_float]
    return lib


def fadd_latency_cycles(ghz: float, steps: int = 200_000_000) -> float:
    """Cycles of one dependent single-precision add on this core (best of 3)."""
    lib = library()
    lib.fadd_chain(1000, 0.0, 1.0)
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        lib.fadd_chain(steps, 0.0, 1e-7)
        best = min(best, time.thread_time() - t0)
    return best / steps * ghz * 1e9


def scan_cycles_per_code(variant: str, M: int, codes: np.ndarray, ghz: float, lists: int = 48,
                         repeat: int = 3, seed: int = 0) -> float:
    """Cycles per code of one variant of the replica at M, lists of ``LIST_CODES`` at random places of
    ``codes`` (cold), least on-CPU time of ``repeat`` passes."""
    if variant not in VARIANTS:
        raise HwragError(f"unknown replica variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    if M % 4:
        raise HwragError(f"M={M} must be a multiple of 4 (the no-chain variant sums four at a time)")
    fn = getattr(library(), f"scan_{variant}")
    rng = np.random.default_rng(seed)
    table = rng.standard_normal(M * 256).astype(np.float32)
    n = codes.size // M
    if n <= LIST_CODES:
        raise HwragError(f"code buffer of {codes.size} bytes holds fewer than {LIST_CODES} codes of M={M}")
    inserts = ctypes.c_int64()
    fn(codes.ctypes.data, 1000, M, table.ctypes.data, 0.0, -1e30, ctypes.byref(inserts))
    best = float("inf")
    for _ in range(repeat):
        starts = rng.integers(0, n - LIST_CODES, lists)
        t0 = time.thread_time()
        for s in starts:
            fn(codes.ctypes.data + int(s) * M, LIST_CODES, M, table.ctypes.data, 0.0, 1e30, ctypes.byref(inserts))
        best = min(best, time.thread_time() - t0)
    return best / (lists * LIST_CODES) * ghz * 1e9


def measure(ghz: float, quick: bool = False) -> dict:
    """The replica over ``M_SWEEP`` (``--quick``: M 16 and 64, fewer lists) and this core's FP add latency."""
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, CODE_BYTES // (4 if quick else 1), dtype=np.uint8)
    sweep = (16, 64) if quick else M_SWEEP
    rows = []
    for M in sweep:
        row = {"M": M}
        for v in VARIANTS:
            row[f"{v}_cycles_per_code"] = scan_cycles_per_code(v, M, codes, ghz, lists=12 if quick else 48)
        rows.append(row)
    return {"figures": "measured (on-CPU thread time, cycles of this core)",
            "what": "replica of faiss 1.7.2 scan_list_with_table (bench/scan_replica.c), lists of "
                    f"{LIST_CODES} codes from a {codes.size >> 20} MiB buffer",
            "cflags": " ".join(CFLAGS[:-2]), "fadd_latency_cycles": fadd_latency_cycles(ghz, 50_000_000 if quick else
                                                                                        200_000_000),
            "sweep": rows}


def print_cross_host(directory: Path, target: str) -> int:
    """The cross-host check (:func:`hwsim.scan_transfer.cross_host`) of the stored sweeps, as a table."""
    from hwsim import scan_transfer as st
    from hwsim.rates import load_all

    st.get(target)
    rows = st.cross_host(load_all(directory), target)
    if not rows:
        print(f"no scan_replica sweep from a known core in {directory}")
        return 1
    ms = sorted(rows[0]["moved"])
    print(f"faiss 1.7.2 scan replica moved to {target}: cycles per code (deviation from the reference); "
          f"band {st.CROSS_HOST_BAND:.0%}")
    for r in rows:
        cells = ", ".join(f"M={m} {r['moved'][m]:.1f} ({r['deviation'][m]:+.1%})" for m in ms if m in r["moved"])
        print(f"{r['file']:>20} ({r['core']}){' reference' if r['reference'] else ''}: {cells}")
    return 0


def main(argv=None) -> int:
    from hwsim.rates import RATES_DIR, RatesFile
    from ivfpq.errors import CommandParser, run_command

    from .timing import measure_clock_ghz
    from .machine import cpu_identity

    ap = CommandParser(prog="python -m bench.scan_replica", description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=str(RATES_DIR),
                    help="folder of measured-rates files; this machine's file of today gets the section (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="M 16 and 64 only, fewer lists (default: off)")
    ap.add_argument("--compare", metavar="CORE", nargs="?", const=EPYC_7313.microarchitecture, default=None,
                    help="measure nothing: move every stored replica sweep in --out-dir to CORE and print how far "
                         "each is from the one measured on CORE itself (the cross-host check; CORE defaults to "
                         f"{EPYC_7313.microarchitecture}, the modeled EPYC 7313's; default: off)")
    args = ap.parse_args(argv)
    if args.compare:
        return run_command(lambda: print_cross_host(Path(args.out_dir), args.compare))

    def go():
        before = os.getloadavg()
        ghz = measure_clock_ghz(100_000_000)
        res = measure(ghz, args.quick)
        machine = cpu_identity()
        f = RatesFile.for_this_machine(machine, Path(args.out_dir))
        f.put("scan_replica", res, "python -m bench.scan_replica" + " --quick" * args.quick, before, ghz)
        out = f.save(Path(args.out_dir))
        for row in res["sweep"]:
            print(f"M={row['M']:4d}: " + ", ".join(f"{v} {row[v + '_cycles_per_code']:.1f}" for v in VARIANTS)
                  + " cycles per code")
        print(f"FP add latency {res['fadd_latency_cycles']:.2f} cycles; {machine['cpu_model']} "
              f"({machine['microarchitecture']}), clock {ghz:.2f} GHz, load {before[0]:.1f}; wrote {out}")
        return 0

    return run_command(go)


if __name__ == "__main__":
    raise SystemExit(main())
