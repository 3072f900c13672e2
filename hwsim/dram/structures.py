"""The two controller structures behind :class:`hwsim.dram.DramStream`: each owns its state arrays
and calls its compiled core (:mod:`.kernels`: ahead of time or numba's JIT).

* ``queues`` (:class:`RequestQueues`, core :mod:`.core`): per channel one read and one write queue,
  FR-FCFS (or FCFS) over every waiting request, watermark write draining. Requests of different
  channels never wait for each other (per-channel ports, as an FPGA's AXI ports).
* ``dramsim3`` (:class:`BankQueues`, core :mod:`.bank_queues`): DRAMsim3's transaction queues feeding
  per-bank command queues, round-robin over the bank queues, its write-buffer and refresh rules and
  its in-order front end that takes at most one request per cycle.

Each keeps the requests it has not taken yet, as the tuple its :meth:`pending` makes (unit, id,
bank, row, is_write, arrival, and for ``dramsim3`` the burst key and address); :meth:`run` simulates
the cycles before ``horizon`` and returns the requests still held back, and the ids and queue-entry
cycles of those it took.
"""
from __future__ import annotations

import numpy as np

from . import bank_queues_layout as bql
from . import layout
from .kernels import kernels


def _timing_state(spec):
    U, R = spec.units, spec.org["ranks"]
    nnodes = 1 + R + R * spec.org["bankgroups"] + spec.banks_per_unit
    return (np.zeros((U, nnodes, layout.NCMD), dtype=np.int64),
            np.full((U, R, 4), -(1 << 40), dtype=np.int64),
            np.zeros((U, R), dtype=np.int64))


class RequestQueues:
    """State of the ``queues`` structure (see :mod:`.core` for the fields)."""

    chains_reads = False  # no merged reads: DramStream keeps no ``mnext`` chain

    def __init__(self, system):
        self.system = system
        spec, P = system.spec, system.params
        U, R, NB = spec.units, spec.org["ranks"], spec.banks_per_unit
        self.nxt, self.faw, self.fawp = _timing_state(spec)
        self.open = np.full((U, NB), -1, dtype=np.int64)
        self.refs = np.zeros((U, R, layout.F_NF), dtype=np.int64)
        refi, refipb = int(P[layout.P_REFI]), int(P[layout.P_REFIPB])
        for r in range(R):  # ranks staggered across the interval
            self.refs[:, r, layout.F_DUE] = refi + r * refi // R
            self.refs[:, r, layout.F_PBDUE] = refipb + r * refipb // R
        self.refs[:, :, layout.F_PBBANK] = -1
        self.sc = np.zeros((U, layout.S_NSTATE), dtype=np.int64)
        # read queue (0) and write queue (1) entries; free slots are chained through Q_NEXT from 0
        rcap, wcap = int(P[layout.P_RCAP]), int(P[layout.P_WCAP])
        self.q = np.zeros((U, 2, max(rcap, wcap), layout.Q_NF), dtype=np.int64)
        for qi, cap in enumerate((rcap, wcap)):
            self.q[:, qi, :cap, layout.Q_NEXT] = np.arange(1, cap + 1)
            self.q[:, qi, cap - 1, layout.Q_NEXT] = -1
        # per-bank index of each queue: lists of waiting entries, oldest row hit, cached candidate
        self.bq = np.zeros((U, 2, layout.BQ_NF, NB), dtype=np.int64)
        self.bq[:, :, layout.BQ_HEAD:layout.BQ_HIT + 1, :] = -1
        self.cnt = np.zeros((U, layout.C_N), dtype=np.int64)
        self.consumed = np.zeros(U, dtype=np.int64)

    @property
    def now(self) -> int:
        return int(self.sc[:, layout.S_T].min())

    @staticmethod
    def pending(unit, ids, bank, row, w, arr, addresses):
        return unit, ids, bank, row, w, arr

    def run(self, pend, horizon, rec):
        U = self.system.spec.units
        if U == 1:  # one unit: the pending inputs are already in order
            su, sid, sb, sr, sw, sa = (np.ascontiguousarray(p, dtype=np.int64) for p in pend)
            offsets = np.array([0, su.size], dtype=np.int64)
        else:
            su, sid, sb, sr, sw, sa, offsets = kernels().group_by_unit(
                U, *(np.ascontiguousarray(p, dtype=np.int64) for p in pend))
        entry = np.empty(sid.size, dtype=np.int64)
        k = kernels()
        k.simulate_queues(self.system.params, self.system.table, self.nxt, self.open, self.faw, self.fawp,
                          self.refs, self.sc, self.q, self.bq, self.cnt,
                          sid, sb, sr, sw, sa, offsets, np.int64(horizon), rec.done, rec.kind,
                          self.consumed, entry, rec.log, rec.logn, layout.LAYOUT)
        left = tuple(k.leftover(offsets, self.consumed, su, sid, sb, sr, sw, sa))
        return left, k.taken(offsets, self.consumed, sid, entry)


class BankQueues:
    """State of the ``dramsim3`` structure (see :mod:`.bank_queues` for the fields)."""

    chains_reads = True  # reads of one address waiting together are chained (DramStream.mnext)

    def __init__(self, system):
        self.system = system
        spec, P, ctl = system.spec, system.params, system.controller
        U, R, NB = spec.units, spec.org["ranks"], spec.banks_per_unit
        self.nxt, self.faw, self.fawp = _timing_state(spec)
        self.bank = np.zeros((U, NB, bql.B_NF), dtype=np.int64)
        self.bank[:, :, [bql.B_OPEN, bql.B_ROWK, bql.B_RD, bql.B_WR]] = -1
        self.bank[:, :, bql.B_E] = layout.BIG
        tcap = 1 << (max(ctl.read_queue, ctl.write_queue) - 1).bit_length()  # a power of two (ring)
        self.tq = np.zeros((U, 2, tcap, bql.T_NF), dtype=np.int64)
        self.tqr = np.broadcast_to(np.arange(tcap, dtype=np.int64), (U, 2, tcap)).copy()
        self.cq = np.zeros((U, NB, ctl.command_queue, bql.K_NF), dtype=np.int64)
        # pending-address tables: at least 4 slots per request a channel can hold
        held = tcap * 2 + NB * ctl.command_queue
        self.ht = np.zeros((U, 2, 1 << int(4 * held - 1).bit_length(), 3), dtype=np.int64)
        self.sc = np.zeros((U, bql.S_NF), dtype=np.int64)
        self.sc[:, bql.S_REFNEXT] = (max(1, int(P[layout.P_REFI]) // R) if ctl.refresh == "allbank"
                                     else int(P[layout.P_REFIPB]))
        self.rfq = np.zeros((U, bql.REF_RING), dtype=np.int64)
        self.g = np.zeros(bql.G_NF, dtype=np.int64)
        self.cnt = np.zeros((U, layout.C_N), dtype=np.int64)

    @property
    def now(self) -> int:
        return int(self.g[bql.G_T])

    def pending(self, unit, ids, bank, row, w, arr, addresses):
        return (unit, ids, bank, row, w, arr, self.system.burst_key(addresses), addresses.astype(np.int64))

    def run(self, pend, horizon, rec):
        su, sid, sb, sr, sw, sa, skey, saddr = (np.ascontiguousarray(p, dtype=np.int64) for p in pend)
        entry = np.empty(sid.size, dtype=np.int64)
        k = kernels().simulate_bank_queues(
            self.system.params, self.system.table, self.nxt, self.faw, self.fawp, self.bank, self.tq, self.tqr,
            self.cq, self.ht, self.sc, self.rfq, self.g, self.cnt, sid, su, sb, sr, sw, sa, skey, saddr,
            np.int64(horizon), rec.done, rec.kind, entry, rec.mnext, rec.log, rec.logn, bql.LAYOUT)
        return tuple(p[k:] for p in (su, sid, sb, sr, sw, sa, skey, saddr)), (sid[:k], entry[:k])


STRUCTURES = {"queues": RequestQueues, "dramsim3": BankQueues}
