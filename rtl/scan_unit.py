"""Top-level scan unit: U PQ distance units, per-unit level-1 queues, merge, and the query protocol.

Ports (besides ``clk`` and the synchronous, active-high ``rst`` that Verilog export adds):

========================  =====  ===========================================================
name                      dir    meaning
========================  =====  ===========================================================
``start``                 in     begin a query: empties the queues (honoured in IDLE/DONE)
``flush``                 in     no more codes in this query (honoured in SCAN; a beat
                                 accepted in the same cycle still counts)
``in_valid/in_ready``     in/out code-stream handshake; a beat moves when both are 1
``in_codes``              in     U codes, lane u in bits ``[u*M*8, (u+1)*M*8)``, byte m of a
                                 code in bits ``[m*8, m*8+8)`` of its lane
``in_ids``                in     U vector ids, lane u in ``[u*id_bits, (u+1)*id_bits)``
``in_mask``               in     which lanes of the beat carry a code (bit u: lane u)
``lut_we/lut_addr/lut_row`` in   write LUT row ``lut_addr`` (entry c of every column m, column
                                 m in bits ``[m*W, (m+1)*W)``) into every unit's bank
``bias_we/bias``          in     set the list bias added to every following distance
``out_valid/out_ready``   out/in result-stream handshake (backpressure: out_ready may be 0)
``out_dist/out_id``       out    result ``(dist, id)``, ascending, K beats per query
``out_hit``               out    1 if this result is a candidate; 0 for an empty slot (fewer
                                 than K candidates were kept)
``out_last``              out    1 on the K-th result
``done``                  out    1 from the cycle after the K-th result until the next start
========================  =====  ===========================================================

Protocol per query: ``start``; then per probed list: LUT rows (256 writes) and bias, then that
list's codes (each list starts a fresh beat; lane u of a list's beat b is its code ``b*U + u``);
``flush``; read K results; ``done``. LUT/bias writes for a list must come before its first beat
is accepted and may start in the cycle the previous list's last beat is accepted. The code
stream never stalls during SCAN (in_ready = 1 throughout): U codes per cycle.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyrtl

from .adder_tree import plain_add
from .config import CODE_BITS, ScanConfig
from .merge import merge_heads
from .pipeline import stage
from .pq_distance import pq_distance
from .pqueue import systolic_pqueue
from .scan_fsm import DONE, DRAIN, IDLE, OUT, SCAN, drain_cycles

@dataclass
class ScanUnitPorts:
    inputs: dict[str, pyrtl.Input]
    outputs: dict[str, pyrtl.Output]


OUT_FAULTS = ("drop_under_backpressure",)


def scan_unit(cfg: ScanConfig, adder: Callable = plain_add, queue_fault: str | None = None,
              out_fault: str | None = None, checks: bool = False) -> ScanUnitPorts:
    """Builds the scan unit for ``cfg`` into the working block; returns its named ports.
    ``adder``, ``queue_fault`` and ``out_fault`` exist to inject test-only bugs (rtl.export.FAULTS):
    ``out_fault="drop_under_backpressure"`` pops the merged head in the second cycle of a stall, so that
    result is lost. ``checks=True`` adds the property checkers of :mod:`rtl.props` (input ``chk_x``,
    outputs ``chk_<property>``)."""
    assert out_fault is None or out_fault in OUT_FAULTS
    U, M, K, L = cfg.units, cfg.m, cfg.k, cfg.queue_len
    db, ib, W = cfg.dist_bits, cfg.id_bits, cfg.lut_bits
    cb = M * CODE_BITS
    I = lambda n, w: pyrtl.Input(w, n)  # noqa: E731
    ins = {n: I(n, w) for n, w in (
        ("start", 1), ("flush", 1), ("in_valid", 1), ("in_codes", U * cb), ("in_ids", U * ib),
        ("in_mask", U), ("lut_we", 1), ("lut_addr", CODE_BITS), ("lut_row", M * W), ("bias_we", 1),
        ("bias", db), ("out_ready", 1))}
    outs = {n: pyrtl.Output(w, n) for n, w in (
        ("in_ready", 1), ("out_valid", 1), ("out_dist", db), ("out_id", ib), ("out_hit", 1),
        ("out_last", 1), ("done", 1))}

    state = pyrtl.Register(3, "state")
    in_scan, in_drain, in_out = state == SCAN, state == DRAIN, state == OUT
    idle_or_done = (state == IDLE) | (state == DONE)
    go = ins["start"] & idle_or_done
    accepted = ins["in_valid"] & in_scan

    # LUT load port and bias register (registered, so the banks see register-driven write ports)
    lut_we, lut_addr, lut_row = stage(ins["lut_we"]), stage(ins["lut_addr"]), stage(ins["lut_row"])
    bias_r = pyrtl.Register(db, "bias_r")
    bias_r.next <<= pyrtl.select(ins["bias_we"], ins["bias"], bias_r)

    # merge stage drives the result stream; pops the queue whose head was sent
    send = in_out & ins["out_ready"]
    pop_any = send
    if out_fault == "drop_under_backpressure":  # BUG (test only): a stall's second cycle pops the head
        stalled = pyrtl.Register(1)
        stalled.next <<= in_out & ~ins["out_ready"]
        pop_any = send | (in_out & ~ins["out_ready"] & stalled)
    heads, pops, units = [], [], []
    for u in range(U):
        pops.append(pyrtl.WireVector(1, f"pop_{u}"))
        taps = {}
        v, d, i = pq_distance(accepted & ins["in_mask"][u], ins["in_codes"][u * cb:(u + 1) * cb],
                              ins["in_ids"][u * ib:(u + 1) * ib], bias_r, lut_we, lut_addr, lut_row, adder,
                              taps=taps)
        key = pyrtl.select(v, pyrtl.concat(pyrtl.Const(0, 1), d, i), pyrtl.Const((1 << cfg.key_bits) - 1,
                                                                                cfg.key_bits))
        head, stored = systolic_pqueue(key, pops[u], go, L, queue_fault, id_bits=ib, taps=taps,
                                       name=f"queue{u}" if checks else None)
        heads.append(head)
        units.append(dict(taps, key=key, stored=stored, pop=pops[u]))
    best, sel = merge_heads(heads)
    for u in range(U):
        pops[u] <<= pop_any & (sel == u) if U > 1 else pop_any

    # one down-counter: DRAIN cycles left, then results left to send; its borrow bit says "was 0"
    n_drain = drain_cycles(cfg)
    cnt_bits = max(1, math.ceil(math.log2(max(n_drain, K))))
    cnt = pyrtl.Register(cnt_bits, "cnt")
    dec = cnt - 1
    at_zero = dec[cnt_bits]
    last = in_out & at_zero
    flushing = in_scan & ins["flush"]
    drained = in_drain & at_zero
    cnt.next <<= pyrtl.select(flushing, pyrtl.Const(n_drain - 1, cnt_bits),
                              pyrtl.select(drained, pyrtl.Const(K - 1, cnt_bits),
                                           pyrtl.select(in_drain | send, dec[:cnt_bits], cnt)))
    nxt = pyrtl.select(go, pyrtl.Const(SCAN, 3),
                       pyrtl.select(flushing, pyrtl.Const(DRAIN, 3),
                                    pyrtl.select(drained, pyrtl.Const(OUT, 3),
                                                 pyrtl.select(send & last, pyrtl.Const(DONE, 3), state))))
    state.next <<= nxt

    empty = best[db + ib]
    outs["in_ready"] <<= in_scan
    outs["out_valid"] <<= in_out
    outs["out_dist"] <<= best[ib:ib + db]
    outs["out_id"] <<= best[:ib]
    outs["out_hit"] <<= ~empty
    outs["out_last"] <<= last
    outs["done"] <<= state == DONE
    if checks:
        from .props import add_checks

        add_checks(cfg, ins, outs, dict(units=units, go=go, accepted=accepted, flushing=flushing, send=send,
                                        best=best, last=last, state=state, in_out=in_out, cnt=cnt, bias_r=bias_r))
    return ScanUnitPorts(ins, outs)


def build_scan_unit(cfg: ScanConfig, adder: Callable = plain_add, queue_fault: str | None = None,
                    out_fault: str | None = None, checks: bool = False) -> tuple[pyrtl.Block, ScanUnitPorts]:
    """A fresh PyRTL block holding only the scan unit for ``cfg`` (with its property checkers if ``checks``)."""
    block = pyrtl.Block()
    with pyrtl.set_working_block(block, no_sanity_check=True):
        ports = scan_unit(cfg, adder, queue_fault, out_fault, checks)
    block.sanity_check()
    return block, ports
