"""Properties of the scan unit, written once as PyRTL checker logic that the generator builds into the unit.

``build_scan_unit(cfg, checks=True)`` adds one input and one output per property:

- ``chk_x`` (``key_bits`` wide): the *watched key* X. A key is ``{empty, dist, id}`` compared as one
  unsigned number, so "key < X" orders (distance, id) pairs exactly as the golden model does (ties on
  the distance go to the smaller id). Under SymbiYosys X is an ``anyconst``: a property that counts
  keys below X holds for *every* X, which pins down the whole multiset of keys (ids paired with their
  distances included). In simulation the testbench drives a fresh random X at every ``start``.
- ``chk_<name>``: 1 while the property holds in this cycle (``chk_bits``: all of them, bit i is
  ``property_names(cfg)[i]``). The formal wrapper (:mod:`rtl.formal`)
  asserts it every cycle after the first reset; the cocotb testbench checks it every cycle.
  ``chk_reset_empty`` is the exception: it must be 1 in the cycle after a reset.

The checkers observe the design (ports, and the queue, LUT-read and merge wires the generators hand
over as taps) and keep their own monitor registers (counters, delay lines), reset with the unit.
"""
from __future__ import annotations

import math

import pyrtl

from .config import ScanConfig
from .pq_distance import pq_distance_latency
from .pqueue import pqueue_settle_cycles
from .scan_fsm import DONE, DRAIN, IDLE, OUT, SCAN, drain_cycles

CHECKER_SCOPE = "chk"  # PyRTL name scope of the checker logic (code coverage leaves it out)

#: name -> what it says. ``merge_topk`` exists only for exact queues (l1 == k).
PROPERTIES: dict[str, str] = {
    "queue_order": "every level-1 queue is sorted, no key travelling between cells is smaller than the "
                   "key stored in the cell before it, and every slot holds a candidate or the empty key",
    "queue_topk": "every level-1 queue, with the keys still travelling in it, holds the L smallest "
                  "(distance, id) pairs inserted since the last start (checked for the watched key X: "
                  "min(#kept < X, L) = min(#inserted < X, L)), until its first pop",
    "merge_topk": "the K results of a query are the K smallest (distance, id) pairs of all units' streams "
                  "together (#results < X = min(#inserted < X, K)); exact queues (l1 = k) only",
    "out_sorted": "the results of a query leave in ascending (distance, id) order",
    "out_stable": "valid/ready: a result offered and not taken is offered again, unchanged, next cycle",
    "out_count": "exactly K results per query: never more, out_last on the K-th, done only after it",
    "in_transfer": "every accepted lane reaches its unit's queue exactly once, with its id, "
                   "pq_distance_latency cycles later; nothing else is inserted",
    "distance": "each inserted distance is min(bias + sum of the M LUT entries read for it, 2**dist_bits - 1)",
    "no_early_output": "no result is offered before the query was flushed and every accepted code "
                       "has reached and settled in its queue",
    "reset_empty": "the cycle after a reset, every queue slot and travelling register is empty, the control "
                   "is IDLE and nothing is inserted or offered",
}


def property_names(cfg: ScanConfig) -> list[str]:
    return [p for p in PROPERTIES if p != "merge_topk" or cfg.queue_len == cfg.k]


def _c(v: int, w: int) -> pyrtl.Const:
    return pyrtl.Const(v, w)


def _all(bits) -> pyrtl.WireVector:
    bits = list(bits)
    return pyrtl.rtl_all(*bits) if bits else _c(1, 1)


def _at_most(w: pyrtl.WireVector, c: int) -> pyrtl.WireVector:
    """``w <= c``; the constant 1 where w cannot exceed c (Verilator rejects constant comparisons)."""
    return _c(1, 1) if (1 << len(w)) - 1 <= c else w <= c


def _popcount(bits, width: int) -> pyrtl.WireVector:
    total = _c(0, width)
    for b in bits:
        total = (total + b)[:width]
    return total


def _minc(w: pyrtl.WireVector, c: int, width: int) -> pyrtl.WireVector:
    return pyrtl.select(w < c, w.zero_extended(width), _c(c, width))


def _counter(width: int, clear, inc, limit: int | None = None) -> pyrtl.Register:
    """Monitor counter: 0 on ``clear``, +1 on ``inc`` (held at ``limit`` when given)."""
    r = pyrtl.Register(width)
    up = inc if limit is None else inc & (r < limit)
    r.next <<= pyrtl.select(clear, _c(0, width), pyrtl.select(up, (r + 1)[:width], r))
    return r


def _delay(w: pyrtl.WireVector, n: int) -> list[pyrtl.WireVector]:
    """The delay line's stages: element j is ``w`` delayed by j + 1 cycles."""
    out = []
    for _ in range(n):
        r = pyrtl.Register(len(w))
        r.next <<= w
        out.append(r)
        w = r
    return out


def _queue_props(cfg: ScanConfig, t: dict, x: pyrtl.WireVector) -> tuple:
    """queue_order and queue_topk over every unit; also each unit's insert counter (for merge_topk)."""
    L, K = cfg.queue_len, cfg.k
    cw = K.bit_length()
    order, topk, counts, pops = [], [], [], []
    for u in t["units"]:
        key, s, tr = u["key"], u["stored"], u["travelling"]
        inserted = ~key[-1]
        n_lt = _counter(cw, t["go"], inserted & (key < x), limit=K)  # inserted since start, < X
        popped = pyrtl.Register(1)
        popped.next <<= pyrtl.select(t["go"], _c(0, 1), popped | u["pop"])
        kept = _popcount([k < x for k in s + tr], (2 * L).bit_length())
        width = max(len(kept), cw)
        topk.append(popped | (_minc(kept, L, width) == _minc(n_lt, L, width)))
        empty = (1 << cfg.key_bits) - 1
        well_formed = [~k[-1] | (k == empty) for k in s + tr]  # a candidate or the empty key, nothing between
        order.append(_all([s[i] <= s[i + 1] for i in range(L - 1)] + [s[i] <= tr[i] for i in range(L - 1)]
                          + well_formed))
        counts.append(n_lt)
        pops.append(popped)
    return _all(order), _all(topk), counts, pops


def _merge_props(cfg: ScanConfig, t: dict, x: pyrtl.WireVector, counts, popped) -> dict:
    K, kb = cfg.k, cfg.key_bits
    go, send, best, last = t["go"], t["send"], t["best"], t["last"]
    cw = (K + 1).bit_length()
    props = {}
    state = t["state"]
    after_drain = (state == OUT) | (state == DONE)
    sent = _counter(cw, go, send, limit=K + 1)
    prev = pyrtl.Register(kb)  # the last result sent
    prev.next <<= pyrtl.select(go, _c(0, kb), pyrtl.select(send, best, prev))
    if cfg.queue_len == K:
        tw = (len(counts) * K).bit_length() + 1
        total = _popcount([c.zero_extended(tw) for c in counts], tw)
        sent_lt = _counter(cw, go, send & (best < x), limit=K)
        final = ~(send & last) | ((sent_lt + (best < x))[:cw] == _minc(total, K, max(tw, cw)))
        # its induction: from the end of DRAIN on, every key < X inserted is either still stored or was sent
        stored_lt = _popcount([k < x for u in t["units"] for k in u["stored"]], tw)
        # (once a result >= X was sent, so was the last one: they leave in order)
        bounded = _all([sent_lt <= sent, (sent_lt == sent) | (prev >= x)] + [_at_most(c, K) for c in counts])
        accounted = (sent_lt.zero_extended(tw) + stored_lt)[:tw] == total
        before = ~pyrtl.rtl_any(*popped) & (sent_lt == 0)  # before readout: nothing popped, nothing sent
        props["merge_topk"] = final & bounded & pyrtl.select(after_drain, accounted, before)
    # and no key still stored is smaller than the last one sent (what makes the order inductive)
    props["out_sorted"] = ((~send | (prev <= best)) & _all(prev <= u["stored"][0] for u in t["units"])
                           & (after_drain | (prev == 0)))
    stalled = pyrtl.Register(1)
    stalled.next <<= t["in_out"] & ~t["out_ready"]
    held = pyrtl.Register(kb + 1)
    held.next <<= pyrtl.concat(best, last)
    props["out_stable"] = ~stalled | (t["in_out"] & (pyrtl.concat(best, last) == held))
    done = state == DONE
    # the unit's result counter agrees with the results sent (what makes the count inductive)
    cnt = t["cnt"]
    sw = max(cw, len(cnt)) + 1
    agree = (pyrtl.select((state == OUT), (sent.zero_extended(sw) + cnt)[:sw] == K - 1, _c(1, 1))
             & (~((state == IDLE) | (state == SCAN) | (state == DRAIN)) | (sent == 0)))
    props["out_count"] = ((~send | (sent < K)) & (~t["in_out"] | (last == (sent == K - 1)))
                          & (~done | (sent == K)) & agree)
    return props


def _lane_props(cfg: ScanConfig, t: dict, ins: dict) -> dict:
    """in_transfer, distance, no_early_output, reset_empty."""
    lat, ib, db = pq_distance_latency(cfg.m), cfg.id_bits, cfg.dist_bits
    bias = pyrtl.Register(db)  # the list bias, as the port protocol defines it
    bias.next <<= pyrtl.select(ins["bias_we"], ins["bias"], bias)
    bias_1 = _delay(bias, 1)[0]
    transfer, dist, in_flight, empty = [], [], [], []
    for n, u in enumerate(t["units"]):
        key = u["key"]
        inserted = ~key[-1]
        line = _delay(pyrtl.concat(t["accepted"] & ins["in_mask"][n], ins["in_ids"][n * ib:(n + 1) * ib]), lat)
        v, vid = line[-1][ib], line[-1][:ib]
        transfer.append((inserted == v) & (~v | (key[:ib] == vid)))
        in_flight += [st[ib] for st in line]
        total = bias_1.zero_extended(db + cfg.lut_bits + math.ceil(math.log2(cfg.m)) + 2)
        for e in u["lut_read"]:
            total = total + e
        gold = pyrtl.select(total > (1 << db) - 1, _c((1 << db) - 1, db), total[:db])
        dist.append(~inserted | (key[ib:ib + db] == _delay(gold, lat - 1)[-1]))
        in_flight.append(inserted)
        empty += [k == (1 << cfg.key_bits) - 1 for k in u["stored"] + u["travelling"] + [key]]
    dist.append(bias == t["bias_r"])  # the unit's bias register holds the bias last set
    flushed = pyrtl.Register(1)
    flushed.next <<= pyrtl.select(t["go"], _c(0, 1), flushed | t["flushing"])
    settled = _all(k == (1 << cfg.key_bits) - 1 for u in t["units"] for k in u["travelling"])
    # (and the drain counter never exceeds what flush loads: what makes the claim inductive)
    drain_ok = (t["state"] != DRAIN) | _at_most(t["cnt"], drain_cycles(cfg) - 1)
    return {"in_transfer": _all(transfer), "distance": _all(dist),
            "no_early_output": (~t["in_out"] | (flushed & ~pyrtl.rtl_any(*in_flight) & settled)) & drain_ok,
            "reset_empty": _all(empty) & (t["state"] == IDLE) & ~t["in_out"]}


def add_checks(cfg: ScanConfig, ins: dict, outs: dict, taps: dict) -> None:
    """Builds every property's checker into the working block: input ``chk_x``, outputs ``chk_<name>``."""
    assert pqueue_settle_cycles(cfg.queue_len) == cfg.queue_len  # the travelling registers span the settle time
    x = pyrtl.Input(cfg.key_bits, "chk_x")
    ins["chk_x"] = x
    taps = dict(taps, out_ready=ins["out_ready"])
    with pyrtl.name_scope(CHECKER_SCOPE):  # the checkers' wires are named chk/..., not the design's
        order, topk, counts, popped = _queue_props(cfg, taps, x)
        props = {"queue_order": order, "queue_topk": topk, **_merge_props(cfg, taps, x, counts, popped),
                 **_lane_props(cfg, taps, ins)}
    names = property_names(cfg)
    for name in names:
        o = pyrtl.Output(1, f"chk_{name}")
        o <<= props[name]
        outs[f"chk_{name}"] = o
    bits = pyrtl.Output(len(names), "chk_bits")  # all of them, bit i = names[i]: one read per cycle in a testbench
    bits <<= pyrtl.concat_list([props[n] for n in names])
    outs["chk_bits"] = bits
