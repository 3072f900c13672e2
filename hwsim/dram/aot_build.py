"""Compile the DRAM kernels ahead of time: ``python -m hwsim.dram.aot_build [--out DIR]`` (run by
``make install``).

numba's ``pycc`` compiles the same Python functions the JIT runs (:data:`.kernels.JIT_FUNCTIONS`) for
the types the model passes them (C-contiguous int64 arrays, the request kinds int8, the trace bytes
uint8) into one extension module, :data:`.kernels.MODULE`, that imports no numba when loaded. It also
exports ``source_digest()``, the digest of the kernel sources it was built from, so that
:func:`.kernels.load_aot` never runs kernels older than the sources. Compiled for this machine's CPU
(``make install`` builds on the machine that runs it). The module is written to a temporary file and
renamed into place: an interrupted build leaves the previous one (or none), never half a file.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from ivfpq.errors import CommandParser

from .kernels import JIT_FUNCTIONS, MODULE, NAMES, source_digest

A1, A2, A3, A4 = "int64[::1]", "int64[:, ::1]", "int64[:, :, ::1]", "int64[:, :, :, ::1]"
KIND = "int8[::1]"


def _sig(ret: str, *args: str) -> str:
    return f"{ret}({', '.join(args)})"


#: the exported signatures, by entry point (the argument lists of the functions in JIT_FUNCTIONS)
SIGNATURES = {
    "parse_buffer": _sig(f"Tuple(({A1}, boolean[::1], {A1}, int64))", "uint8[::1]", "int64", "int64",
                         f"UniTuple({A1}, 4)"),
    "decode_ubr": _sig(f"UniTuple({A1}, 3)", "uint64[::1]", "uint64[::1]", "uint64[::1]", "int64", "int64", "int64"),
    # P, tab, nxt, open_row, faw, fawp, refs, sc, qs, bq, cnt, 5 inputs, offsets, horizon, done, kind,
    # consumed, entry, log, logn, layout
    "simulate_queues": _sig("none", A1, A3, A3, A2, A3, A2, A3, A2, A4, A4, A2, *[A1] * 6, "int64", A1, KIND,
                            A1, A1, A2, A1, A1),
    "group_by_unit": _sig(f"UniTuple({A1}, 7)", "int64", *[A1] * 6),
    "taken": _sig(f"UniTuple({A1}, 2)", A1, A1, A1, A1),
    "leftover": _sig(A2, *[A1] * 8),
    # P, tab, nxt, faw, fawp, bank, tq, tqr, cq, ht, sc, rfq, g, cnt, 8 inputs, horizon, done, kind,
    # entry, mnext, log, logn, layout
    "simulate_bank_queues": _sig("int64", A1, A3, A3, A3, A2, A3, A4, A3, A4, A4, A2, A2, A1, A2, *[A1] * 8,
                                 "int64", A1, KIND, A1, A1, A2, A1, A1),
}


def _digest_function(value: int):
    """A function returning ``value`` (the digest is compiled in as a constant)."""
    ns: dict = {}
    exec(f"def source_digest():\n    return {int(value)}\n", ns)
    return ns["source_digest"]


def default_out() -> Path:
    """The running interpreter's site-packages (the virtual environment's under ``make install``)."""
    return Path(sysconfig.get_paths()["purelib"])


def build(out: "Path | None" = None, verbose: bool = False) -> Path:
    """Compile the kernels into ``out`` (default :func:`default_out`); returns the module's path."""
    import importlib

    from numba.pycc import CC

    out = Path(out or default_out())
    out.mkdir(parents=True, exist_ok=True)
    assert set(SIGNATURES) == set(NAMES), "a signature per entry point"
    with tempfile.TemporaryDirectory(prefix="hwsim_aot_", dir=out) as tmp:
        cc = CC(MODULE)
        cc.output_dir = tmp
        cc.target_cpu = "host"
        cc.verbose = verbose
        for name in NAMES:
            mod, fn = JIT_FUNCTIONS[name]
            cc.export(name, SIGNATURES[name])(getattr(importlib.import_module(f"hwsim.dram.{mod}"), fn).py_func)
        cc.export("source_digest", "int64()")(_digest_function(source_digest()))
        cc.compile()
        built = Path(tmp) / Path(cc.output_file).name
        dest = out / built.name
        os.replace(built, dest)
    return dest


def main(argv: "list[str] | None" = None) -> int:
    ap = CommandParser(prog="python -m hwsim.dram.aot_build", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="directory for the extension module (default: this interpreter's site-packages)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = build(Path(a.out) if a.out else None, a.verbose)
    print(f"built {path} in {time.perf_counter() - t0:.0f} s (DRAM kernels compiled ahead of time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
