"""Streaming list data out of one memory channel through the DRAM model, and coupling it to compute.

A channel (an FPGA DDR4 channel or HBM pseudo-channel, a PIM unit's bank pair, a DIMM rank) holds
its slice of every IVF list contiguously, list after list. A query reads the probed lists' runs in
probe order. Two ways to get the completion time of every burst:

* ``exact``: the byte addresses of the runs go through :class:`hwsim.dram.DramSystem` (cycle-level
  controller, refresh, row misses at run starts); requests are all offered at cycle 0 and the
  controller's queue throttles them, i.e. the consumer has a deep FIFO and never back-pressures.
* ``calibrated``: once per configuration the DRAM model streams a long sequential read and a set of
  short runs at random rows; from them: first-burst latency, sustained time per burst and extra time
  per run start. Burst ``j`` of a query then completes at ``first + j * per_burst + runs_started *
  per_run``. Used for paper-scale projections; a test checks it against ``exact`` within a few %.

:func:`couple` then runs the consumer (AXI port and decode units) over the bursts: a beat can start
when its data has completed and the previous beat's initiation interval has passed; a gap (LUT load)
can precede each run. So the scan time is whichever of memory and compute binds, as simulated.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numba import njit

from ivfpq.errors import HwragError

from .dram.presets import get_preset
from .dram.spec import DramSpec
from .dram.simulator import ControllerConfig, DramSystem

log = logging.getLogger(__name__)

STREAM_MODES = ("exact", "calibrated")


@dataclass(frozen=True)
class Calibration:
    """Sustained streaming figures of one channel configuration, measured with the DRAM model."""

    preset: str
    mapping: str
    tx_bytes: int
    first_ns: float        # completion of the first burst of a fresh stream
    per_burst_ns: float    # sustained time per burst on a long sequential read (refresh included)
    per_run_ns: float      # extra time per run that starts at a new (random) row
    act_per_burst: float   # ACT commands per burst on the long read (energy)
    energy_pj_per_burst: float  # DRAM energy per burst on the long read, background included

    @property
    def bandwidth_gbs(self) -> float:
        return self.tx_bytes / self.per_burst_ns


def channel_spec(preset: "str | DramSpec", **org) -> DramSpec:
    """One independent channel of ``preset`` (channels=1, pseudo_channels=1 unless given)."""
    spec = get_preset(preset)
    ch = {"channels": 1, "pseudo_channels": 1}
    ch.update(org)
    return spec.with_org(**ch)


class Channel:
    """One memory channel streaming list runs (byte ranges) through the DRAM model."""

    def __init__(self, spec: DramSpec, mapping: str | None = None, controller: ControllerConfig | None = None):
        self.spec = spec
        self.system = DramSystem(spec, mapping, controller)
        self.mapping = self.system.mapping.text
        if spec.units != 1:
            raise HwragError(f"a Channel models one unit; preset {spec.name} has {spec.units} "
                             "(use channel_spec to take one channel)")

    @property
    def tx(self) -> int:
        return self.spec.tx_bytes

    def burst_addresses(self, starts: np.ndarray, nbursts: np.ndarray) -> np.ndarray:
        starts = np.asarray(starts, np.int64)
        nbursts = np.asarray(nbursts, np.int64)
        tot = int(nbursts.sum())
        if tot == 0:
            return np.zeros(0, np.int64)
        base = np.repeat(starts - np.concatenate([[0], np.cumsum(nbursts)[:-1]]) * self.tx, nbursts)
        cap = self.spec.capacity_bytes
        return (base + np.arange(tot, dtype=np.int64) * self.tx) % cap

    def simulate(self, starts, nbursts) -> tuple[np.ndarray, dict]:
        """Exact: completion time (ns, from the first request) of every burst of the runs, and stats."""
        addr = self.burst_addresses(starts, nbursts)
        if addr.size == 0:
            return np.zeros(0), {"ACT": 0, "energy_J": 0.0, "cycles": 0}
        res = self.system.run(addr)
        st = res.stats()
        done_ns = res.completion.astype(np.float64) * self.spec.tck_ns
        return done_ns, {"ACT": st["commands"]["ACT"], "energy_J": st["energy"]["total_J"],
                         "cycles": res.cycles}

    def calibrate(self) -> Calibration:
        key = (self.spec.name, tuple(sorted(self.spec.org.items())), tuple(sorted(self.spec.timing.items())),
               self.mapping, self.system.controller)
        if key not in _CAL_CACHE:
            _CAL_CACHE[key] = _calibrate(self.spec, self.mapping, self.system.controller)
        return _CAL_CACHE[key]


_CAL_CACHE: dict = {}


def _calibrate(spec: DramSpec, mapping: str, controller: ControllerConfig) -> Calibration:
    ch = Channel(spec, mapping, controller)
    tx = spec.tx_bytes
    n_long = 1 << 16  # 64 Ki bursts: several refresh intervals
    done, st = ch.simulate(np.array([0]), np.array([n_long]))
    first = float(done[0])
    per_burst = (float(done[-1]) - first) / (n_long - 1)
    # short runs starting at random rows (as probed lists do): extra time per run start
    rng = np.random.default_rng(0)
    nruns, run_len = 256, 64
    row_bytes = spec.bursts_per_row * tx
    starts = rng.integers(0, spec.capacity_bytes // row_bytes, nruns) * row_bytes
    done_r, _ = ch.simulate(starts, np.full(nruns, run_len))
    per_run = max(0.0, (float(done_r[-1]) - first - (nruns * run_len - 1) * per_burst) / nruns)
    cal = Calibration(spec.name, mapping, tx, first, per_burst, per_run, st["ACT"] / n_long,
                      st["energy_J"] * 1e12 / n_long)
    log.debug("calibrated %s: %.3f GB/s sustained, first %.1f ns, %.1f ns per run", spec.name,
              cal.bandwidth_gbs, first, per_run)
    return cal


def bursts_for(nbytes: np.ndarray, tx: int) -> np.ndarray:
    return -(-np.asarray(nbytes, np.int64) // tx)


def burst_times(channel: Channel, run_starts: np.ndarray, run_bursts: np.ndarray,
                mode: str = "exact") -> tuple[np.ndarray, dict]:
    """Completion times (ns) of every burst of a query's runs on one channel, by ``mode``."""
    if mode not in STREAM_MODES:
        raise HwragError(f"stream mode {mode!r} unknown; accepted: {', '.join(STREAM_MODES)}")
    run_bursts = np.asarray(run_bursts, np.int64)
    if mode == "exact":
        return channel.simulate(run_starts, run_bursts)
    cal = channel.calibrate()
    tot = int(run_bursts.sum())
    j = np.arange(tot, dtype=np.float64)
    run_idx = np.repeat(np.arange(run_bursts.size), run_bursts)
    # the first run's start is in `first`; every later non-empty run adds one run start
    nonempty_before = np.cumsum(run_bursts > 0) - 1
    t = cal.first_ns + j * cal.per_burst_ns + nonempty_before[run_idx] * cal.per_run_ns if tot else j
    return t, {"ACT": cal.act_per_burst * tot, "energy_J": cal.energy_pj_per_burst * tot * 1e-12}


def couple(ready_ns: np.ndarray, run_items: np.ndarray, items_per_beat: int, beat_ns: float,
           gap_ns: float, item_bytes: int, tx: int, port_ns_per_burst: float = 0.0) -> tuple[float, float]:
    """Consumer of a burst stream: returns (finish time ns, total gap time ns).

    ``run_items[r]`` items (codes) of ``item_bytes`` each lie in run r (runs are burst-aligned, in
    stream order); the consumer takes ``items_per_beat`` items per beat, one beat per ``beat_ns``, and
    waits ``gap_ns`` before each non-empty run (e.g. loading that list's LUT). A beat needs every burst
    holding its items to have arrived through the port (``port_ns_per_burst``: the AXI port's rate).
    """
    ready = np.asarray(ready_ns, np.float64)
    if port_ns_per_burst > 0 and ready.size:  # the port passes one burst per port_ns_per_burst
        i = np.arange(ready.size) * port_ns_per_burst
        ready = np.maximum.accumulate(ready - i) + i + port_ns_per_burst
    t, gaps = _couple_runs(ready, np.asarray(run_items, np.int64), int(items_per_beat), float(beat_ns),
                           float(gap_ns), int(item_bytes), int(tx))
    return float(t), float(gaps)


@njit(cache=True)
def _couple_runs(ready, run_items, items_per_beat, beat_ns, gap_ns, item_bytes, tx):
    """The consumer's walk over the runs (a hot loop: one call per query and channel). Beat b of a run
    starts at max(run start, max over i <= b of (need_i - i x beat)) + b x beat, need_i being the arrival
    of the last burst beat i reads; only the last beat's start carries on to the next run."""
    t = 0.0
    gaps = 0.0
    b0 = 0
    for r in range(run_items.size):
        n = run_items[r]
        if n == 0:
            continue
        nb = -(-n * item_bytes // tx)
        beats = -(-n // items_per_beat)
        start = t + gap_ns
        gaps += gap_ns
        m = -np.inf
        for b in range(beats):
            last_byte = min((b + 1) * items_per_beat, n) * item_bytes - 1
            v = ready[b0 + last_byte // tx] - b * beat_ns
            if v > m:
                m = v
        t = max(start, m) + (beats - 1) * beat_ns + beat_ns
        b0 += nb
    return t, gaps
