"""DIMM-PIM running the IVF-PQ scan, in two organisations (``DimmPimConfig.kind``):

* ``rank`` (HeterRAG AccelDIMM): one unit per rank in the DIMM buffer chip, ``lanes`` look-up/add
  lanes at ``unit_clock_mhz``, LUT in its local cache. The buffer chip reads its rank independently
  of the others (rank-level parallelism), so each unit's codes stream through the DRAM model of one
  DDR4 rank (cycle-level controller, refresh, row misses).
* ``upmem``: per-chip DPUs (8 per chip, 128 per DIMM), each with 64 MB MRAM and 64 KB WRAM; the LUT
  sits in WRAM, codes stream from MRAM by DMA at the *measured* per-DPU MRAM bandwidth (UPMEM's MRAM
  path is a DMA engine whose sustained rate is published; it is used instead of the DRAM model), and
  the DPU pipeline retires about one instruction per cycle when enough tasklets run, so each LUT
  look-up costs ``ops_per_subcode`` instructions.

Both: partial top-K per unit, read out and merged on the host. With ``lut_on_host`` the LUT of each
probed list is sent to every unit that scans that list over the shared DDR bus (no multicast: a DDR
beat carries one byte lane per chip, so N bytes to each of U units cost N x U bytes of bus time), which
is the dispatch cost PIM IVF-PQ systems report; without it only the query and list ids go to the units
holding probed lists, which build the LUTs themselves (UPMEM IVF-PQ systems do this).

Layout matters on UPMEM: ``split`` (Chameleon's, every list over all 2560 DPUs) leaves each DPU a dozen
codes per list at 1B/IVF32768, so per-list costs that do not shrink with the slice (the LUT to every
DPU, 2560 partial top-Ks merged on the host) dominate and adding nodes barely helps; ``whole`` (one
list per DPU, what UPMEM IVF-PQ systems do) sends work only to the DPUs holding probed lists and runs a
batch's queries concurrently on different DPUs, at the cost of batch-1 latency (one DPU scans a list).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ivfpq.errors import HwragError
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat

from .pim_array import LAYOUTS, PimArray
from .stream import Channel, STREAM_MODES, burst_times, channel_spec

KINDS = ("rank", "upmem")


@dataclass(frozen=True)
class DimmPimConfig:
    name: str = "dimm-pim"
    kind: str = "rank"
    memory: str = "DDR4_3200AA"       # rank device preset (rank kind) / host bus speed (both)
    rank_org: dict = field(default_factory=dict, hash=False)   # organisation overrides (e.g. 16Gb rows)
    rank_timing: dict = field(default_factory=dict, hash=False)
    dimms: int = 4
    ranks_per_dimm: int = 2
    dpus_per_dimm: int = 128          # upmem
    host_channels: int = 2            # DDR channels the DIMMs share
    unit_clock_mhz: float = 500.0
    lanes: int = 32
    ops_per_subcode: int = 1
    ops_per_code: int = 0
    buffer_bytes: int = 128 * 1024
    capacity_gb_per_dimm: float = 32.0
    mram_gbs: float = 0.0             # upmem: sustained MRAM->WRAM bandwidth per DPU (GB/s)
    mram_dma_bytes: int = 8           # upmem: MRAM DMA granularity (bytes, 8-byte aligned transfers)
    mram_latency_ns: float = 0.0
    host_bus_gbs: float = 25.6        # per DDR channel, for LUT dispatch and result read-out
    host_bus_efficiency: float = 1.0
    link_gbps: float = 32.0           # the node's link to the coordinator, GB/s
    link_kind: str = "pcie"
    link_latency_us: float = 1.0
    host_merge_ns: float = 2.0
    host_lut_gflops: float = 100.0
    lut_on_host: bool = True
    lut_ops_per_term: int = 3         # unit-built LUT: lane ops per (entry, dimension): sub, mul, add
    layout: str = "split"
    stream_mode: str = "exact"
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise HwragError(f"DIMM-PIM kind {self.kind!r} unknown; accepted: {', '.join(KINDS)}")
        if self.layout not in LAYOUTS:
            raise HwragError(f"layout {self.layout!r} unknown; accepted: {', '.join(LAYOUTS)}")
        if self.stream_mode not in STREAM_MODES:
            raise HwragError(f"stream_mode {self.stream_mode!r} unknown; accepted: {', '.join(STREAM_MODES)}")
        if self.kind == "upmem" and self.mram_gbs <= 0:
            raise HwragError("an upmem DIMM-PIM config needs mram_gbs > 0 (measured MRAM bandwidth per DPU)")
        if self.dimms < 1 or self.lanes < 1 or self.unit_clock_mhz <= 0 or self.host_channels < 1:
            raise HwragError("DIMM-PIM config needs dimms, lanes, host_channels >= 1 and unit_clock_mhz > 0")

    @property
    def units(self) -> int:
        return self.dimms * (self.ranks_per_dimm if self.kind == "rank" else self.dpus_per_dimm)

    @property
    def capacity_bytes(self) -> float:
        return self.dimms * self.capacity_gb_per_dimm * 1e9

    def rank_spec(self):
        spec = channel_spec(self.memory, **self.rank_org)
        return spec.with_timing(**self.rank_timing) if self.rank_timing else spec

    @property
    def unit_peak_gbs(self) -> float:
        return self.rank_spec().peak_bandwidth_gbs if self.kind == "rank" else self.mram_gbs

    def describe(self) -> str:
        what = (f"{self.units} rank units x {self.lanes} lanes" if self.kind == "rank"
                else f"{self.units} DPUs")
        return (f"{self.name}: DIMM-PIM ({self.kind}) {self.dimms} DIMMs on {self.host_channels} "
                f"{self.memory} channels, {what} @ {self.unit_clock_mhz:g} MHz")

    def with_(self, **kw) -> "DimmPimConfig":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(units=self.units, unit_peak_GBps=self.unit_peak_gbs)
        return d


class DimmPim(PimArray):
    kind = "pim-dimm"
    independent_units = True  # rank units (own instruction queue) and DPUs (own program) run apart

    def __init__(self, config: DimmPimConfig = DimmPimConfig(), fmt: LutFormat = DEFAULT_FORMAT):
        super().__init__(config, fmt)
        self._rng = np.random.default_rng(0)
        if config.kind == "rank":
            self.unit_spec = config.rank_spec()
            self.channel = Channel(self.unit_spec)
            self.tx = self.unit_spec.tx_bytes
        else:
            self.channel = None
            self.tx = config.mram_dma_bytes

    @property
    def host_Bps(self) -> float:
        c = self.config
        return c.host_channels * c.host_bus_gbs * c.host_bus_efficiency * 1e9

    def unit_ready(self, run_bursts):
        c = self.config
        if c.kind == "rank":
            row = self.unit_spec.bursts_per_row * self.tx
            starts = self._rng.integers(0, self.unit_spec.capacity_bytes // row, np.size(run_bursts)) * row
            ready, st = burst_times(self.channel, starts, run_bursts, c.stream_mode)
            return ready, st["energy_J"]
        n = int(np.sum(run_bursts))
        per = self.tx / c.mram_gbs  # ns per DMA transfer
        ready = c.mram_latency_ns + (np.arange(n) + 1) * per
        # MRAM energy: DDR4 array read without the off-DIMM I/O (AttAcc in-bank path, per bit)
        from . import logic_energy as E
        return ready, n * self.tx * 8 * E.PIM_PJ_PER_BIT_READ[0] * 1e-12

    def broadcast_ns(self, nbytes, units_needing):
        """Every unit scanning the list gets its own copy over the shared DDR bus (no multicast)."""
        return nbytes * units_needing / self.host_Bps * 1e9

    def readout_ns(self, nbytes_total):
        return nbytes_total / self.host_Bps * 1e9
