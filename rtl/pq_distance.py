"""PQ distance unit: one M-byte code in per cycle, one saturated distance out per cycle (II = 1).

Pipeline (``pq_distance_latency(M)`` cycles from input to output):

1. input register (code bytes, id, valid, list bias);
2. M LUT reads (one memory per column) into registers;
3. ``ceil(log2 M)`` adder-tree levels, one register each;
4. bias add and saturation at ``2**dist_bits - 1`` into the output register.

The distance is ``min(bias + sum_m lut[m][code_m], 2**dist_bits - 1)`` — the ``ivfpq.fixedpoint``
format. The vector id and the valid bit travel alongside, delayed by the same number of stages.
"""
from __future__ import annotations

from collections.abc import Callable

import pyrtl

from .adder_tree import adder_tree_latency, pipelined_adder_tree, plain_add
from .config import CODE_BITS
from .lut import lut_bank
from .pipeline import delay, stage


def pq_distance_latency(m: int) -> int:
    return 1 + 1 + adder_tree_latency(m) + 1


def saturate(w: pyrtl.WireVector, bits: int) -> pyrtl.WireVector:
    """``min(w, 2**bits - 1)`` as a ``bits``-wide wire."""
    if len(w) <= bits:
        return w.zero_extended(bits)
    over = pyrtl.rtl_any(*[w[i] for i in range(bits, len(w))])
    return pyrtl.select(over, pyrtl.Const((1 << bits) - 1, bits), w[:bits])


def pq_distance(valid: pyrtl.WireVector, code: pyrtl.WireVector, vid: pyrtl.WireVector,
                bias: pyrtl.WireVector, lut_we: pyrtl.WireVector, lut_waddr: pyrtl.WireVector,
                lut_wrow: pyrtl.WireVector,
                adder: Callable[[pyrtl.WireVector, pyrtl.WireVector], pyrtl.WireVector] = plain_add,
                taps: dict | None = None) -> tuple[pyrtl.WireVector, pyrtl.WireVector, pyrtl.WireVector]:
    """Returns ``(valid_out, dist, id_out)``, ``pq_distance_latency(M)`` cycles after the inputs.

    Widths come from the inputs: ``M = len(code) // 8``, ``W = len(lut_wrow) // M`` (LUT entry),
    ``dist_bits = len(bias)``, ``id_bits = len(vid)``. The LUT write port (``lut_we``,
    ``lut_waddr``, ``lut_wrow``) must come from registers or inputs. ``taps`` (a dict, for the property
    checkers of :mod:`rtl.props`) receives ``"lut_read"``: the M entries read, one cycle after the inputs.
    """
    assert len(code) % CODE_BITS == 0 and len(valid) == 1
    M = len(code) // CODE_BITS
    dist_bits = len(bias)
    # 1. input registers; one register per byte so each LUT address comes straight from a register
    r_bytes = [stage(code[m * CODE_BITS:(m + 1) * CODE_BITS]) for m in range(M)]
    r_valid, r_id, r_bias = stage(valid), stage(vid), stage(bias)
    # 2. LUT reads, registered
    reads = lut_bank(r_bytes, lut_we, lut_waddr, lut_wrow)
    if taps is not None:
        taps["lut_read"] = reads
    entries = [stage(e) for e in reads]
    # 3. adder tree
    total = pipelined_adder_tree(entries, adder)
    n_tree = adder_tree_latency(M)
    bias_t = delay(r_bias, 1 + n_tree)
    # 4. bias add + saturation
    dist = stage(saturate(bias_t + total, dist_bits))
    n = 1 + n_tree + 1
    return delay(r_valid, n), dist, delay(r_id, n)
