"""Cycle-level host model that drives the scan unit's protocol, shared by every simulator.

Each cycle the caller asks :meth:`ScanHost.inputs` for the port values to drive, lets the DUT
evaluate, and hands the outputs of that same cycle to :meth:`ScanHost.observe` (the scan unit's
outputs depend on registers only, so they can be sampled before the clock edge). The host loads
each list's LUT and bias, streams its beats, flushes, reads the K results (optionally inserting
idle cycles on the input and deasserting ``out_ready`` for backpressure), and records per query
the results and cycle counts. :meth:`restart` replays the current query after a DUT reset.

Stimulus comes either from probabilities (``idle_prob`` per input cycle, ``stall_prob`` per result
cycle) or, for coverage-directed runs, from one :class:`rtl.directed.QueryPlan` per query: a gap mode
per port (``none`` / ``sporadic`` / ``long``), idle cycles before ``start``, flush with or after the
last beat, and a phase in which to ask for a reset (:meth:`wants_reset`). Each record keeps what
actually happened (the longest gap per port, the start gap, whether the query followed a reset), which
the coverage model (:mod:`rtl.coverage`) samples when the query completes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import LUT_ENTRIES, ScanConfig
from .stimulus import Query

IDLE_INPUTS = dict(start=0, flush=0, in_valid=0, in_codes=0, in_ids=0, in_mask=0, lut_we=0, lut_addr=0,
                   lut_row=0, bias_we=0, bias=0, out_ready=0)


@dataclass
class QueryRecord:
    dists: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    lasts: list[int] = field(default_factory=list)
    start_cycle: int = 0
    flush_cycle: int = -1
    first_result_cycle: int = -1
    done_cycle: int = -1
    beat_cycles: int = 0  # cycles in which a beat was offered
    stalls: int = 0  # cycles in which a beat was offered and not accepted
    max_gap: dict = field(default_factory=lambda: {"lut": 0, "codes": 0, "results": 0})  # longest idle run
    start_gap: int = 0  # idle cycles between the previous done (or reset) and this start
    after_reset: bool = False  # first query after a reset (or a query replayed after one)
    flush_with_last: bool = False  # flush came in the cycle of the last beat
    bins: list = field(default_factory=list)  # coverage bins this query hit (set by the sampler)


class PortGaps:
    """Idle-cycle pattern of one port for one query: ``none``, ``sporadic`` (the first chance idle,
    then idle with probability 0.3 in runs of at most 3 cycles) or ``long`` (8..16 idle cycles at
    the first chances), so the pattern happens whenever the port moves at all."""

    SPORADIC_P, SPORADIC_MAX = 0.3, 3
    LONG_MIN, LONG_MAX = 8, 16

    def __init__(self, mode: str, rng: np.random.Generator):
        self.mode, self.rng, self.run, self.n = mode, rng, 0, 0
        if mode == "long":
            self.len = int(rng.integers(self.LONG_MIN, self.LONG_MAX + 1))

    def idle(self) -> bool:
        if self.mode == "sporadic":
            out = self.n == 0 or (self.run < self.SPORADIC_MAX and self.rng.random() < self.SPORADIC_P)
        elif self.mode == "long":
            out = self.n < self.len
        else:
            out = False
        self.n += 1
        self.run = self.run + 1 if out else 0
        return out


class ScanHost:
    def __init__(self, cfg: ScanConfig, queries: list[Query], rng: np.random.Generator | None = None,
                 idle_prob: float = 0.0, stall_prob: float = 0.0, flush_with_last: float = 0.5,
                 plans: list | None = None, sampler: Any = None, after_reset: bool = True):
        self.cfg, self.queries = cfg, queries
        self.rng = rng or np.random.default_rng(0)
        self.idle_prob, self.stall_prob = idle_prob, stall_prob
        self.flush_with_last = flush_with_last  # probability of flushing in the last beat's cycle
        assert plans is None or len(plans) == len(queries)
        self.plans = plans
        self.sampler = sampler  # rtl.coverage.ScanCoverage (or None): sampled per query and per reset
        self.records: list[QueryRecord] = []
        self.cycle = 0
        self.q = 0
        self._after_reset = after_reset  # the first query follows a reset (False: back to back after another host)
        self._reset_done: set[int] = set()  # queries whose planned reset has happened
        self._begin_query()

    # -- protocol state ------------------------------------------------------------------------
    def _begin_query(self):
        self.phase = "start" if self.q < len(self.queries) else "finished"
        self.rec = QueryRecord()
        if self.phase == "finished":
            return
        query = self.queries[self.q]
        self.lists = [(query.lut_rows(s, self.cfg), int(query.biases[s]), query.beats(s, self.cfg))
                      for s in range(len(query.starts))]
        self.s = 0  # current list
        self.row = 0  # next LUT row to write
        self.beat = 0  # next beat of the current list
        self.flushed = False
        self.rec.after_reset, self._after_reset = self._after_reset, False
        plan = self.plans[self.q] if self.plans else None
        self.plan = plan
        self._wait = plan.start_gap if plan else 0
        if plan:
            self._gaps = {p: PortGaps(getattr(plan, f"{p}_gap"), self.rng) for p in ("lut", "codes", "results")}
        self._runs = {"lut": 0, "codes": 0, "results": 0}
        self._valid_seen = False

    def restart(self):
        """The DUT was reset: replay the current query from its start."""
        if self.sampler is not None:
            self.sampler.sample_reset(self.reset_phase())
        self._reset_done.add(self.q)
        if self.phase != "finished":
            self._after_reset = True
            self._begin_query()

    def reset_phase(self) -> str:
        """Where the current query is, in the coverage model's reset bins."""
        if self.phase == "load":
            return "lut_load"
        if self.phase in ("beats", "flush"):
            return "scan"
        if self.phase in ("results", "done"):
            return "readout" if self.rec.dists else "drain"
        return "idle"

    def wants_reset(self) -> bool:
        """True in the cycle where this query's plan asks for a reset (at most once per query)."""
        plan = self.plan if self.phase != "finished" else None
        if plan is None or plan.reset_at is None or self.q in self._reset_done:
            return False
        here = self.reset_phase()
        deep = (self.row >= 1 if here == "lut_load" else self.beat >= 1 if here == "scan" else True)
        return here == plan.reset_at and deep

    @property
    def finished(self) -> bool:
        return self.phase == "finished"

    def _idle(self, port: str) -> bool:
        if self.plan is not None:
            out = self._gaps[port].idle()
        else:
            out = self.idle_prob > 0 and self.rng.random() < self.idle_prob
        self._note_gap(port, out)
        return out

    def _note_gap(self, port: str, idle: bool):
        self._runs[port] = self._runs[port] + 1 if idle else 0
        self.rec.max_gap[port] = max(self.rec.max_gap[port], self._runs[port])

    def _after_list(self):
        self.s += 1
        self.row = self.beat = 0
        self.phase = "load" if self.s < len(self.lists) else ("results" if self.flushed else "flush")

    # -- per cycle ----------------------------------------------------------------------------
    def inputs(self) -> dict[str, int]:
        d = dict(IDLE_INPUTS)
        self._offered = False
        if self.phase == "start":
            d["start"] = int(self._wait == 0)
        elif self.phase == "load" and not self._idle("lut"):
            rows, bias, _ = self.lists[self.s]
            d.update(lut_we=1, lut_addr=self.row, lut_row=rows[self.row])
            if self.row == 0:
                d.update(bias_we=1, bias=bias)
        elif self.phase == "beats" and not self._idle("codes"):
            beats = self.lists[self.s][2]
            c, i, m = beats[self.beat]
            d.update(in_valid=1, in_codes=c, in_ids=i, in_mask=m)
            self._offered = True
            last_of_query = self.s == len(self.lists) - 1 and self.beat == len(beats) - 1
            with_last = (self.plan.flush_with_last if self.plan is not None
                         else last_of_query and self.rng.random() < self.flush_with_last)
            if last_of_query and with_last:
                d["flush"] = 1  # flush together with the last beat (allowed by the protocol)
        elif self.phase == "flush":
            d["flush"] = 1
        elif self.phase == "results":
            if self.plan is not None:  # before the first result is offered out_ready is a don't-care:
                # hold it low unless the plan says no stalls, so the first result already waits
                gaps = self._gaps["results"]
                stall = gaps.idle() if self._valid_seen else gaps.mode != "none"
            else:
                stall = self.stall_prob > 0 and self.rng.random() < self.stall_prob
            d["out_ready"] = int(not stall)
        self._driven = d
        return d

    def observe(self, o: dict[str, int]):
        d, rec = self._driven, self.rec
        if self.phase == "start":
            if d["start"]:
                rec.start_cycle = self.cycle
                self.phase = "load" if self.lists else "flush"
            else:
                self._wait -= 1
                rec.start_gap += 1
        elif self.phase == "load" and d["lut_we"]:
            self.row += 1
            if self.row == LUT_ENTRIES:
                self.phase = "beats"
                if not self.lists[self.s][2]:
                    self._after_list()
        elif self.phase == "beats" and self._offered:
            rec.beat_cycles += 1
            if o["in_ready"]:
                if d["flush"]:
                    self.flushed = True
                    rec.flush_cycle = self.cycle
                    rec.flush_with_last = True
                self.beat += 1
                if self.beat == len(self.lists[self.s][2]):
                    self._after_list()
            else:
                rec.stalls += 1
        elif self.phase == "flush":
            assert o["in_ready"], "scan unit not in SCAN when flushing"
            rec.flush_cycle = self.cycle
            self.phase = "results"
        elif self.phase == "results":
            if o["out_valid"]:
                self._note_gap("results", not d["out_ready"])
            self._valid_seen |= bool(o["out_valid"])
            if o["out_valid"] and d["out_ready"]:
                if rec.first_result_cycle < 0:
                    rec.first_result_cycle = self.cycle
                hit = o["out_hit"]
                rec.dists.append(o["out_dist"] if hit else -1)
                rec.ids.append(o["out_id"] if hit else -1)
                rec.lasts.append(o["out_last"])
                if o["out_last"] or len(rec.dists) > self.cfg.k:
                    self.phase = "done"
        elif self.phase == "done":
            assert o["done"], "done not raised after the last result"
            rec.done_cycle = self.cycle
            self.records.append(rec)
            if self.sampler is not None:
                rec.bins = self.sampler.sample_query(self.queries[self.q], rec)
            self.q += 1
            self._begin_query()
        self.cycle += 1

    def check(self) -> list[str]:
        """Mismatches of every finished query against the golden model (empty list: all equal)."""
        errors = []
        for n, (query, rec) in enumerate(zip(self.queries, self.records)):
            want_d, want_i = query.expected(self.cfg)
            got = list(zip(rec.dists, rec.ids))
            want = list(zip(want_d.tolist(), want_i.tolist()))
            if got != want:
                bad = next(j for j in range(max(len(got), len(want)))
                           if j >= len(got) or j >= len(want) or got[j] != want[j])
                errors.append(f"query {n}: result {bad}: got {got[bad] if bad < len(got) else None}, "
                              f"want {want[bad] if bad < len(want) else None} ({len(got)} results)")
            if rec.lasts != [0] * (self.cfg.k - 1) + [1]:
                errors.append(f"query {n}: out_last pattern {rec.lasts}")
        return errors
