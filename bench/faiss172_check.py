"""The real faiss 1.7.2 binary's IVF-PQ scan, cycles per code on this core, beside the replica's.

    python -m bench.faiss172_check [--M 8 16 32 64] [--cache DIR] [--json]

The model's per-code scan cost is ``bench/scan_replica.c``, a replica of faiss 1.7.2's ``scan_list_with_table``
(the release Chameleon's CPU baseline ran, whose loop today's faiss no longer has). This checks the replica
against the release itself. faiss 1.7.2 has no wheel for this Python (3.11); PyPI keeps its CPython 3.10 wheel
(``faiss-cpu==1.7.2``, built by the faiss-wheels project). The tool downloads that wheel into a cache, makes a
side virtual environment with numpy < 2 (the ABI the wheel was built against), gives the 3.10 extension this
interpreter's file name and runs :mod:`bench.faiss172_probe` there: the scan is C++ behind a few SWIG calls
(``IndexIVFPQ``, ``precompute_table``, ``invlists.add_entries``, ``search_preassigned``), and those calls work
across the two interpreters here (a measurement tool, not a dependency: nothing else in hwrag loads it).

Both figures are *measured* on this core in the same run (on-CPU time of one thread, cycles at the clock
:func:`bench.timing.measure_clock_ghz` measures), lists far beyond the last-level cache. The wheel is a
generic x86-64 build, Chameleon's was conda's AVX2 build: the scan loop is scalar in both (one dependent add
per sub-quantizer), the flat search is not (so this compares the scan only).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np

from ivfpq.errors import HwragError

WHEEL = "faiss-cpu==1.7.2"
WHEEL_PYTHON = "3.10"
DEFAULT_CACHE = Path.home() / ".cache" / "hwrag" / "faiss-1.7.2"
PROBE = Path(__file__).resolve().parent / "faiss172_probe.py"


def _run(cmd: list[str], what: str) -> str:
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as e:
        raise HwragError(f"{what} failed: {(e.stderr or e.stdout).strip()[-400:]}") from e


def side_env(cache: Path) -> tuple[Path, Path]:
    """(python, site folder) of the side environment, made once in ``cache``."""
    if sys.platform != "linux" or sysconfig.get_platform() != "linux-x86_64":
        raise HwragError(f"the faiss 1.7.2 wheel is for linux-x86_64; this is {sysconfig.get_platform()}")
    py, site, ready = cache / "venv" / "bin" / "python", cache / "site", cache / "venv" / ".numpy-installed"
    if not ready.exists():   # made again after an interrupted attempt
        _run([sys.executable, "-m", "venv", "--clear", str(cache / "venv")], "making the side environment")
        _run([str(py), "-m", "pip", "install", "-q", "numpy<2"], "installing numpy < 2 in the side environment")
        ready.touch()
    if not (site / "faiss" / ("_swigfaiss" + sysconfig.get_config_var("EXT_SUFFIX"))).exists():
        wheels = cache / "wheel"
        _run([sys.executable, "-m", "pip", "download", "-q", WHEEL, "--no-deps", "--only-binary=:all:",
              "--python-version", WHEEL_PYTHON, "-d", str(wheels)], f"downloading {WHEEL} (CPython {WHEEL_PYTHON})")
        (whl,) = wheels.glob("faiss_cpu-1.7.2-*.whl")
        with zipfile.ZipFile(whl) as z:
            z.extractall(site)
        (ext,) = (site / "faiss").glob("_swigfaiss.cpython-310-*.so")
        ext.rename(ext.with_name("_swigfaiss" + sysconfig.get_config_var("EXT_SUFFIX")))
    return py, site


def faiss172_rows(Ms: list[int], ghz: float, cache: Path) -> dict:
    py, site = side_env(cache)
    out = subprocess.run([str(py), str(PROBE), "--ghz", str(ghz), "--M", *map(str, Ms)], capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    if out.returncode:
        raise HwragError(f"faiss 1.7.2 probe failed: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(Ms: list[int], cache: Path = DEFAULT_CACHE) -> dict:
    """faiss 1.7.2 and the replica at each M, this core, one run."""
    from .machine import cpu_identity
    from .scan_replica import CODE_BYTES, scan_cycles_per_code
    from .timing import measure_clock_ghz

    bad = [m for m in Ms if m < 4 or m % 4 or 128 % m]
    if bad:
        raise HwragError(f"M={bad[0]} not accepted: M must divide D = 128 and be a multiple of 4 (4, 8, 16, 32, 64, 128)")
    before = os.getloadavg()
    ghz = measure_clock_ghz(100_000_000)
    real = faiss172_rows(Ms, ghz, cache)
    codes = np.random.default_rng(1).integers(0, 256, CODE_BYTES, dtype=np.uint8)
    rows = []
    for r in real["rows"]:
        rep = scan_cycles_per_code("full", r["M"], codes, ghz)
        rows.append({"M": r["M"], "faiss_1_7_2_cycles_per_code": r["cycles_per_code"],
                     "replica_cycles_per_code": rep, "faiss_over_replica": r["cycles_per_code"] / rep})
    m = cpu_identity()
    return {"figures": "measured (on-CPU thread time, cycles of this core)", "faiss": real["faiss"],
            "machine": f"{m['cpu_model']} ({m['microarchitecture']})", "clock_ghz": ghz,
            "load_average_before": before, "rows": rows}


def main(argv=None) -> int:
    from ivfpq.errors import CommandParser, run_command

    ap = CommandParser(prog="python -m bench.faiss172_check", description=__doc__.splitlines()[0])
    ap.add_argument("--M", type=int, nargs="+", default=[8, 16, 32, 64], help="code bytes per vector (default: %(default)s)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE),
                    help="folder for the wheel and the side environment (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    args = ap.parse_args(argv)

    def go():
        res = compare(args.M, Path(args.cache))
        if args.json:
            print(json.dumps(res, indent=1))
            return 0
        print(f"faiss {res['faiss']} (the released binary) vs bench.scan_replica, cycles per code, measured on "
              f"{res['machine']} at {res['clock_ghz']:.2f} GHz, load {res['load_average_before'][0]:.1f}")
        for r in res["rows"]:
            print(f"M={r['M']:4d}: faiss 1.7.2 {r['faiss_1_7_2_cycles_per_code']:6.1f}, replica "
                  f"{r['replica_cycles_per_code']:6.1f}  ({r['faiss_over_replica']:.2f}x)")
        return 0

    return run_command(go)


if __name__ == "__main__":
    raise SystemExit(main())
