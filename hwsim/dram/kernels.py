"""Where the DRAM model's compiled kernels come from: ahead of time or numba's JIT.

``make install`` compiles the kernels ahead of time (:mod:`.aot_build`, with numba's ``pycc``) into
the extension module :data:`MODULE` in the virtual environment. Loading it imports no numba (numba's
import alone is about 0.3 s, most of a ``hwrag dram run``'s start-up). It is used when it was built
from the kernel sources as they are now: a digest of :data:`SOURCES` is compiled into it and compared
on load. Otherwise (not built, or built before a change), or with ``HWRAG_DRAM_KERNELS=jit``, numba's
JIT compiles and caches the same functions. Both compile the same Python with the same compiler, and
the kernels do integer arithmetic only: results are bit-identical (``tests/hwsim/test_dram_aot.py``
runs the regression fixture on both).
"""
from __future__ import annotations

import importlib
import logging
import os
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from ivfpq.errors import HwragError

log = logging.getLogger(__name__)

#: the extension module :mod:`.aot_build` writes (top level, in the virtual environment)
MODULE = "_hwsim_dram_kernels"
#: the files whose code or constants the kernels compile in (hwsim/dram/...)
SOURCES = ("layout.py", "bank_queues_layout.py", "timing.py", "steps.py", "core.py", "bank_queues.py",
           "trace_kernel.py")
#: environment variable choosing the kernels: auto (the default: ahead of time when fresh), aot, jit
ENV = "HWRAG_DRAM_KERNELS"
MODES = ("auto", "aot", "jit")


@dataclass(frozen=True)
class Kernels:
    """The compiled entry points the Python around the model calls, and where they came from."""

    origin: str                    # "aot" or "jit"
    parse_buffer: Callable         # trace_kernel.parse_buffer
    decode_ubr: Callable           # core.decode_ubr
    simulate_queues: Callable      # core.simulate
    group_by_unit: Callable        # core.group_by_unit
    taken: Callable                # core.taken
    leftover: Callable             # core.leftover
    simulate_bank_queues: Callable  # bank_queues.simulate


#: each entry point's (module in hwsim.dram, function) under the JIT
JIT_FUNCTIONS = {
    "parse_buffer": ("trace_kernel", "parse_buffer"), "decode_ubr": ("core", "decode_ubr"),
    "simulate_queues": ("core", "simulate"), "group_by_unit": ("core", "group_by_unit"),
    "taken": ("core", "taken"), "leftover": ("core", "leftover"),
    "simulate_bank_queues": ("bank_queues", "simulate"),
}
NAMES = tuple(f.name for f in fields(Kernels) if f.name != "origin")


def source_digest() -> int:
    """A 56-bit digest of :data:`SOURCES` as they are now (fits the int64 the extension returns):
    CRC-32 and Adler-32 of their names and contents (a check against stale builds, not against
    tampering; zlib rather than hashlib, whose OpenSSL load was 5 ms of a dram run's start-up)."""
    here = Path(__file__).parent
    data = b"".join(name.encode() + b"\0" + (here / name).read_bytes() for name in SOURCES)
    return ((zlib.crc32(data) << 24) ^ zlib.adler32(data)) & ((1 << 56) - 1)


def load_aot() -> "Kernels | None":
    """The ahead-of-time kernels, or None (with the reason logged) if not built or stale."""
    try:
        mod = importlib.import_module(MODULE)
    except ImportError:
        log.debug("no ahead-of-time DRAM kernels (%s): make install builds them", MODULE)
        return None
    if mod.source_digest() != source_digest():
        log.info("ahead-of-time DRAM kernels %s were built from older sources; using numba's JIT "
                 "(make install rebuilds them)", mod.__file__)
        return None
    return Kernels("aot", *(getattr(mod, n) for n in NAMES))


def load_jit() -> Kernels:
    """The same kernels through numba's JIT (imports numba)."""
    mods = {m: importlib.import_module(f"{__package__}.{m}") for m, _ in JIT_FUNCTIONS.values()}
    return Kernels("jit", *(getattr(mods[JIT_FUNCTIONS[n][0]], JIT_FUNCTIONS[n][1]) for n in NAMES))


_chosen: "Kernels | None" = None


def select(mode: str = "auto") -> Kernels:
    """Choose this process's kernels: ``aot`` (an error if not built or stale), ``jit``, or ``auto``."""
    global _chosen
    if mode not in MODES:
        raise HwragError(f"{ENV}={mode!r} unknown; accepted: {', '.join(MODES)}")
    k = load_aot() if mode != "jit" else None
    if k is None and mode == "aot":
        raise HwragError(f"{ENV}=aot: the ahead-of-time DRAM kernels ({MODULE}) are not built or were built "
                         "from older sources; run make install")
    _chosen = k or load_jit()
    return _chosen


def kernels() -> Kernels:
    """This process's kernels (chosen on first use from ``HWRAG_DRAM_KERNELS``, default auto)."""
    return _chosen or select(os.environ.get(ENV, "auto"))
