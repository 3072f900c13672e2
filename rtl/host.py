"""Cycle-level host model that drives the scan unit's protocol, shared by every simulator.

Each cycle the caller asks :meth:`ScanHost.inputs` for the port values to drive, lets the DUT
evaluate, and hands the outputs of that same cycle to :meth:`ScanHost.observe` (the scan unit's
outputs depend on registers only, so they can be sampled before the clock edge). The host loads
each list's LUT and bias, streams its beats, flushes, reads the K results (optionally inserting
idle cycles on the input and deasserting ``out_ready`` for backpressure), and records per query
the results and cycle counts. :meth:`restart` replays the current query after a DUT reset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


class ScanHost:
    def __init__(self, cfg: ScanConfig, queries: list[Query], rng: np.random.Generator | None = None,
                 idle_prob: float = 0.0, stall_prob: float = 0.0, flush_with_last: float = 0.5):
        self.cfg, self.queries = cfg, queries
        self.rng = rng or np.random.default_rng(0)
        self.idle_prob, self.stall_prob = idle_prob, stall_prob
        self.flush_with_last = flush_with_last  # probability of flushing in the last beat's cycle
        self.records: list[QueryRecord] = []
        self.cycle = 0
        self.q = 0
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

    def restart(self):
        """The DUT was reset: replay the current query from its start."""
        if self.phase != "finished":
            self._begin_query()

    @property
    def finished(self) -> bool:
        return self.phase == "finished"

    def _idle(self) -> bool:
        return self.idle_prob > 0 and self.rng.random() < self.idle_prob

    def _after_list(self):
        self.s += 1
        self.row = self.beat = 0
        self.phase = "load" if self.s < len(self.lists) else ("results" if self.flushed else "flush")

    # -- per cycle ----------------------------------------------------------------------------
    def inputs(self) -> dict[str, int]:
        d = dict(IDLE_INPUTS)
        self._offered = False
        if self.phase == "start":
            d["start"] = 1
        elif self.phase == "load" and not self._idle():
            rows, bias, _ = self.lists[self.s]
            d.update(lut_we=1, lut_addr=self.row, lut_row=rows[self.row])
            if self.row == 0:
                d.update(bias_we=1, bias=bias)
        elif self.phase == "beats" and not self._idle():
            beats = self.lists[self.s][2]
            c, i, m = beats[self.beat]
            d.update(in_valid=1, in_codes=c, in_ids=i, in_mask=m)
            self._offered = True
            last_of_query = self.s == len(self.lists) - 1 and self.beat == len(beats) - 1
            if last_of_query and self.rng.random() < self.flush_with_last:
                d["flush"] = 1  # flush together with the last beat (allowed by the protocol)
        elif self.phase == "flush":
            d["flush"] = 1
        elif self.phase == "results":
            d["out_ready"] = int(not (self.stall_prob > 0 and self.rng.random() < self.stall_prob))
        self._driven = d
        return d

    def observe(self, o: dict[str, int]):
        d, rec = self._driven, self.rec
        if self.phase == "start":
            rec.start_cycle = self.cycle
            self.phase = "load" if self.lists else "flush"
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
