"""cocotb testbench of the scan unit (run through rtl.cosim / cocotb_tools.runner, not collected by pytest).

The configuration comes from the environment (``HWRAG_RTL_CONFIG`` JSON and friends, set by
:func:`rtl.cosim.run_cocotb`). ``ScanTB`` owns the clock, the reset and the drivers; the per-cycle
protocol (LUT load, code beats, flush, results, done) is :class:`rtl.host.ScanHost`, the same model
that drives the PyRTL simulation, and every result is compared with ``ivfpq.kselect``.

With ``HWRAG_RTL_COVERAGE`` set (a YAML path), every query and reset of every test is sampled into
the functional-coverage model (:mod:`rtl.coverage`), written after each test. The last test,
``coverage_directed_random``, draws its queries from plans aimed at the bins still unhit
(:mod:`rtl.directed`); its plans, and on a mismatch the failing queries with the bins that expose
them, go to ``HWRAG_RTL_PLANS`` (JSON lines). Every random choice derives from ``HWRAG_RTL_SEED``.

The unit is built with its property checkers (:mod:`rtl.props`): every cycle the testbench reads
``chk_bits`` and fails the test on any property that does not hold (``reset_empty``: in the cycle
after a reset), the same properties that ``hwrag rtl prove`` proves; each query gets a fresh watched key.
"""
import json
import logging
import os
import time
from functools import lru_cache

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.types import Logic
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from rtl.config import ScanConfig
from rtl.host import IDLE_INPUTS, ScanHost
from rtl.props import property_names
from rtl.sim import OUTPUT_NAMES
from rtl.stimulus import Query, random_query



def _reproduce(cfg) -> str:
    """The command that replays this run's stimulus (every random choice derives from these)."""
    e = os.environ.get
    sim = "icarus" if "icarus" in cocotb.SIM_NAME.lower() else "verilator"
    fault = f" --inject-fault {e('HWRAG_RTL_FAULT')}" if e("HWRAG_RTL_FAULT") else ""
    return (f"reproduce: hwrag rtl verify --sim {sim} --m {cfg.m} --units {cfg.units} --k {cfg.k} --l1 {cfg.queue_len} "
            f"--lut-bits {cfg.lut_bits} --dist-bits {cfg.dist_bits} --id-bits {cfg.id_bits} "
            f"--seed {e('HWRAG_RTL_SEED', '1')} --queries {e('HWRAG_RTL_QUERIES', '3')} "
            f"--max-codes {e('HWRAG_RTL_MAX_CODES', '40')} --lists {e('HWRAG_RTL_LISTS', '2')} "
            f"--cov-queries {e('HWRAG_RTL_COV_QUERIES', '24')}{fault}")


# every query of this run (all tests): its coverage bins and whether it matched the golden model
_SEEN: list[tuple[list[str], bool]] = []


def _failed_queries(host) -> set[int]:
    return {int(e.split(":")[0].split()[1]) for e in host.check() if e.startswith("query ")}


def _remember(host):
    bad = _failed_queries(host)
    _SEEN.extend((r.bins, j in bad) for j, r in enumerate(host.records))


def _env_config():
    cfg = ScanConfig(**json.loads(os.environ["HWRAG_RTL_CONFIG"]))
    return (cfg, int(os.environ.get("HWRAG_RTL_SEED", "1")), int(os.environ.get("HWRAG_RTL_QUERIES", "3")),
            int(os.environ.get("HWRAG_RTL_MAX_CODES", "40")), int(os.environ.get("HWRAG_RTL_LISTS", "2")))


class ScanTB:
    """Clock, reset and drivers of the scan unit; runs a :class:`ScanHost` cycle by cycle."""

    def __init__(self, dut, cfg: ScanConfig, period_ns: int = 10):
        self.dut, self.cfg = dut, cfg
        self.log = logging.getLogger("cocotb.tb")
        self.cycles = 0
        self.wall_s = 0.0
        self._last = {}
        # the properties the generator built in (rtl.props): checked every cycle, first failure kept
        self.props = property_names(cfg)
        self.violations: dict[str, int] = {}
        self._after_reset = False
        self._xrng = np.random.default_rng([int(os.environ.get("HWRAG_RTL_SEED", "1")), 99])
        self._drive(IDLE_INPUTS)
        self._drive({"chk_x": self._watched_key()})
        cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())

    def _drive(self, values):
        for n, v in values.items():
            if self._last.get(n) != v:
                getattr(self.dut, n).value = v
                self._last[n] = v

    def _watched_key(self) -> int:
        """A random candidate key {0, dist, id} (rarely the empty key) for the counting properties."""
        c = self.cfg
        if self._xrng.random() < 0.05:
            return (1 << c.key_bits) - 1
        vid = int.from_bytes(self._xrng.bytes(8), "little") & ((1 << c.id_bits) - 1)
        return (int(self._xrng.integers(0, 1 << c.dist_bits)) << c.id_bits) | vid

    def _check_props(self):
        bits = self.dut.chk_bits.value.to_unsigned()
        for i, p in enumerate(self.props):
            ok = (bits >> i) & 1  # chk_bits: bit i is property i (pyrtl.concat_list, LSB first)
            if not ok and (p != "reset_empty" or self._after_reset) and p not in self.violations:
                self.violations[p] = self.cycles
                self.log.error("property %s failed at cycle %d", p, self.cycles)
        self._after_reset = False

    def check_props(self):
        assert not self.violations, (f"properties failed (first cycle): {self.violations}; " + _reproduce(self.cfg))

    def _sample(self):
        out = {}
        for n in OUTPUT_NAMES:
            v = getattr(self.dut, n).value
            out[n] = int(v) if isinstance(v, Logic) else v.to_unsigned()  # X/Z raise: a bug in the DUT
        return out

    async def reset(self, cycles: int = 2):
        self._drive(IDLE_INPUTS)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        self.cycles += cycles
        self._after_reset = True

    async def run(self, host: ScanHost, reset_when=None, max_cycles: int = 2_000_000):
        """Drives ``host`` until it finishes; resets once where ``reset_when(host)`` first holds and
        wherever the host's plan asks for a reset."""
        did_reset = None
        t0 = time.perf_counter()
        await RisingEdge(self.dut.clk)
        while not host.finished:
            assert self.cycles < max_cycles, f"scan unit hung in host phase {host.phase}"
            once = reset_when is not None and did_reset is None and reset_when(host)
            if once or host.wants_reset():
                if once:
                    did_reset = host.phase
                await self.reset()
                host.restart()
                await RisingEdge(self.dut.clk)
            ins = host.inputs()
            if ins.get("start"):  # a fresh watched key for each query (the checkers count from start)
                ins = dict(ins, chk_x=self._watched_key())
            self._drive(ins)
            await ReadOnly()
            host.observe(self._sample())
            self._check_props()
            await RisingEdge(self.dut.clk)
            self.cycles += 1
        self.wall_s += time.perf_counter() - t0
        return did_reset

    def record_stats(self, test: str):
        path = os.environ.get("HWRAG_RTL_STATS")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"test": test, "cycles": self.cycles, "wall_s": self.wall_s}) + "\n")

    def check(self, host: ScanHost):
        errors = host.check()
        for e in errors[:10]:
            self.log.error(e)
        assert not errors, f"{len(errors)} queries differ from the golden model: {errors[0]}; " + _reproduce(self.cfg)
        assert len(host.records) == len(host.queries)
        self.check_props()


@lru_cache(maxsize=1)
def _coverage(cfg_json: str):
    """The run's functional-coverage sampler (always sampled: the directed test and failure attribution
    use it; written to a file only when HWRAG_RTL_COVERAGE names one)."""
    from rtl.coverage import ScanCoverage

    return ScanCoverage(ScanConfig(**json.loads(cfg_json)))


def _sampler(cfg):
    return _coverage(json.dumps(cfg.to_dict(), sort_keys=True))


def _export_coverage(cfg):
    if os.environ.get("HWRAG_RTL_COVERAGE"):
        _sampler(cfg).export(os.environ["HWRAG_RTL_COVERAGE"])


def _queries(cfg, seed, n, max_codes, n_lists, salt):
    rng = np.random.default_rng([seed, salt])
    return rng, [random_query(cfg, rng, n_lists=int(rng.integers(1, n_lists + 1)), max_codes=max_codes,
                              ties=bool(j % 2)) for j in range(n)]


@cocotb.test()
async def random_queries_idle_and_backpressure(dut):
    """Random LUTs and codes over several queries; idle input cycles and output backpressure."""
    cfg, seed, n, max_codes, n_lists = _env_config()
    tb = ScanTB(dut, cfg)
    await tb.reset()
    rng, qs = _queries(cfg, seed, n, max_codes, n_lists, 1)
    host = ScanHost(cfg, qs, rng, idle_prob=0.25, stall_prob=0.4, sampler=_sampler(cfg))
    await tb.run(host)
    tb.record_stats("random_queries_idle_and_backpressure")
    _export_coverage(cfg)
    _remember(host)
    tb.check(host)


@cocotb.test()
async def streaming_throughput(dut):
    """No idle cycles: every beat is accepted when offered (U codes per cycle, no stall from K-selection)."""
    cfg, seed, n, max_codes, n_lists = _env_config()
    tb = ScanTB(dut, cfg)
    await tb.reset()
    rng, qs = _queries(cfg, seed, n, 4 * max_codes, n_lists, 2)
    host = ScanHost(cfg, qs, rng, sampler=_sampler(cfg))
    await tb.run(host)
    tb.record_stats("streaming_throughput")
    _export_coverage(cfg)
    _remember(host)
    tb.check(host)
    for q, r in zip(qs, host.records):
        beats = sum(-(-int(e - s) // cfg.units) for s, e in zip(q.starts, q.ends))
        assert r.stalls == 0 and r.beat_cycles == beats, (r.stalls, r.beat_cycles, beats)
    assert len({r.done_cycle - r.flush_cycle for r in host.records}) == 1


@cocotb.test()
async def reset_in_the_middle_of_a_query(dut):
    """Synchronous reset while the second query's codes are in flight; the replayed query must be exact."""
    cfg, seed, n, max_codes, n_lists = _env_config()
    tb = ScanTB(dut, cfg)
    await tb.reset()
    rng, qs = _queries(cfg, seed, 2, max_codes, n_lists, 3)
    qs.insert(1, _long_query(cfg, rng))  # reset hits this one, 2 beats in
    host = ScanHost(cfg, qs, rng, idle_prob=0.1, stall_prob=0.3, sampler=_sampler(cfg))
    phase = await tb.run(host, reset_when=lambda h: h.q == 1 and h.phase == "beats" and h.beat >= 2)
    tb.record_stats("reset_in_the_middle_of_a_query")
    _export_coverage(cfg)
    _remember(host)
    assert phase == "beats", phase
    tb.check(host)


@cocotb.test()
async def coverage_directed_random(dut):
    """Constrained-random queries aimed at the coverage bins not hit yet (rtl.directed), in batches of
    four; resets where a plan asks. Every query is checked against the golden model."""
    from rtl.coverage import exposing_bins
    from rtl.directed import DirectedStimulus, planned_query

    cfg, seed, *_ = _env_config()
    n = int(os.environ.get("HWRAG_RTL_COV_QUERIES", "24"))
    tb = ScanTB(dut, cfg)
    await tb.reset()
    cov = _sampler(cfg)
    gen = DirectedStimulus(cfg, seed=seed * 1000 + 4)
    rng = np.random.default_rng([seed, 4])
    records, failed, errors, log_rows = [], set(), [], []
    while len(records) < n:
        plans = gen.next_plans(min(4, n - len(records)), cov.unhit())
        qs = [planned_query(cfg, p, rng) for p in plans]
        host = ScanHost(cfg, qs, rng, plans=plans, sampler=cov, after_reset=not records)
        await tb.run(host)
        errs = host.check()
        base = len(records)
        failed |= {base + j for j in _failed_queries(host)}
        errors += errs
        records += host.records
        _remember(host)
        log_rows += [{"query": base + j, "aim": p.aim, "plan": p.describe()} for j, p in enumerate(plans)]
    tb.record_stats("coverage_directed_random")
    _export_coverage(cfg)
    # attribution over every query of the run (all four tests), not only the directed ones
    expose = exposing_bins([b for b, _ in _SEEN], {i for i, (_, bad) in enumerate(_SEEN) if bad})
    path = os.environ.get("HWRAG_RTL_PLANS")
    if path:
        with open(path, "w") as f:
            f.write(json.dumps({"seed": seed, "config": cfg.to_dict(), "queries": len(records),
                                "failed_queries": sorted(failed), "run_queries": len(_SEEN),
                                "run_failed_queries": sum(bad for _, bad in _SEEN), "exposing_bins": expose[:8]},
                               default=str) + "\n")
            for row in log_rows:
                f.write(json.dumps(row, default=str) + "\n")
    for e in errors[:10]:
        tb.log.error(e)
    tb.check_props()
    assert not errors, (f"{len(failed)} of {len(records)} directed queries differ from the golden model "
                        f"({errors[0]}); bins hit by every failing query, most telling first: "
                        f"{[r['bin'] for r in expose[:3]]}; " + _reproduce(cfg))


def _long_query(cfg, rng):
    """One list of 6 full beats (so a reset two beats in leaves codes in flight)."""
    n = 6 * cfg.units
    ids = np.asarray(rng.choice(2 ** min(cfg.id_bits, 62), n, replace=False), np.int64)
    return Query(rng.integers(0, 256, (1, cfg.m, 256)).astype(np.int32), np.array([5], np.int64),
                 rng.integers(0, 256, (n, cfg.m), dtype=np.uint8), ids, np.array([0], np.int64),
                 np.array([n], np.int64))
