"""LUT bank and its load port: M memories of 256 entries, one per sub-space (LUT column).

Chameleon keeps each LUT column in its own BRAM so that one M-byte code reads all M entries in
one cycle. The load port writes one LUT *row* (entry ``c`` of all M columns) per cycle; every
distance unit has its own bank, all banks share the load port (broadcast write).
"""
from __future__ import annotations

import pyrtl

from .config import CODE_BITS


def lut_bank(addrs: list[pyrtl.WireVector], we: pyrtl.WireVector, waddr: pyrtl.WireVector,
             wrow: pyrtl.WireVector) -> list[pyrtl.WireVector]:
    """Entries ``lut[m][addrs[m]]`` for each column m (combinational read of synchronous-write RAM).

    ``wrow`` is the row to write, column m in bits ``[m*W, (m+1)*W)``; ``W = len(wrow) // M``.
    ``addrs``, ``we``, ``waddr``, ``wrow`` must come from registers or inputs (BRAM inference).
    """
    M = len(addrs)
    assert len(wrow) % M == 0 and len(waddr) == CODE_BITS and len(we) == 1
    W = len(wrow) // M
    out = []
    for m, a in enumerate(addrs):
        assert len(a) == CODE_BITS
        mem = pyrtl.MemBlock(bitwidth=W, addrwidth=CODE_BITS)
        mem[waddr] <<= pyrtl.MemBlock.EnabledWrite(wrow[m * W:(m + 1) * W], we)
        out.append(mem[a])
    return out
