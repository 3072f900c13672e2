"""HBM-PIM (Samsung Aquabolt-XL / HeterRAG AccelHBM style) running the IVF-PQ scan.

One PIM unit per two banks (8 per pseudo-channel), ``lanes`` SIMD lanes at ``unit_clock_mhz``, the LUT
held in the unit buffer (register files). In all-bank mode one column command reaches every bank at
once, so all units advance in lock step; each unit alternates between its two banks. The DRAM model
simulates the *unit's view*: one pseudo-channel reduced to the unit's bank pair (one bank group, two
banks, mapping ``RoBaCo``: a row of one bank, then the same row of the other, so one bank's precharge
and activate hide behind the other's reads); every simulated read is one all-bank column command
delivering ``tx_bytes`` to every unit. DRAM energy of PIM reads uses AttAcc's per-bit figures for the
in-bank path (cell and column to bank-group mux; no TSV or interposer), ACT per bit of the row.

LUT broadcast: an all-bank write places ``tx_bytes`` into every unit's buffer per write command
(one per ``CCD_L``) in every pseudo-channel in parallel; the LUT bytes cross the host link once.
Partial top-K per unit (distance + local offset), read out over the host link, merged on the host,
ids looked up on the host from (list, offset).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ivfpq.errors import HwragError
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat

from . import logic_energy as E
from .pim_array import LAYOUTS, PimArray
from .stream import Channel, STREAM_MODES, burst_times, channel_spec


@dataclass(frozen=True)
class HbmPimConfig:
    name: str = "hbm-pim"
    memory: str = "HBM2_2Gbps"
    stacks: int = 1
    banks_per_unit: int = 2
    unit_clock_mhz: float = 300.0
    lanes: int = 16
    ops_per_subcode: int = 1         # one lane does one LUT look-up and add per cycle
    ops_per_code: int = 0
    buffer_bytes: int = 512
    capacity_gb_per_stack: float = 6.0
    link_gbps: float = 32.0          # host link, GB/s
    link_kind: str = "pcie"
    link_latency_us: float = 1.0
    host_merge_ns: float = 2.0       # per candidate
    host_lut_gflops: float = 100.0
    lut_on_host: bool = True
    layout: str = "split"
    stream_mode: str = "exact"
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise HwragError(f"layout {self.layout!r} unknown; accepted: {', '.join(LAYOUTS)}")
        if self.stream_mode not in STREAM_MODES:
            raise HwragError(f"stream_mode {self.stream_mode!r} unknown; accepted: {', '.join(STREAM_MODES)}")
        if self.stacks < 1 or self.lanes < 1 or self.buffer_bytes < 1 or self.unit_clock_mhz <= 0:
            raise HwragError("HBM-PIM config needs stacks, lanes, buffer_bytes >= 1 and unit_clock_mhz > 0")

    @property
    def _spec(self):
        from .dram.presets import get_preset
        return get_preset(self.memory)

    @property
    def pcs_per_stack(self) -> int:
        return self._spec.units

    @property
    def units_per_pc(self) -> int:
        return self._spec.banks_per_unit // self.banks_per_unit

    @property
    def units(self) -> int:
        return self.stacks * self.pcs_per_stack * self.units_per_pc

    @property
    def capacity_bytes(self) -> float:
        return self.stacks * self.capacity_gb_per_stack * 1e9

    @property
    def unit_peak_gbs(self) -> float:
        """A unit's share of all-bank reads: tx_bytes per CCD_L (GB/s)."""
        s = self._spec
        return s.tx_bytes / (max(s.timing["CCD_L"], s.timing["BL"]) * s.tck_ns)

    def describe(self) -> str:
        return (f"{self.name}: HBM-PIM {self.stacks} x {self.memory} stack, {self.units} units "
                f"x {self.lanes} lanes @ {self.unit_clock_mhz:g} MHz, {self.buffer_bytes} B buffer")

    def with_(self, **kw) -> "HbmPimConfig":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(units=self.units, unit_peak_GBps=self.unit_peak_gbs)
        return d


class HbmPim(PimArray):
    kind = "pim-hbm"

    def __init__(self, config: HbmPimConfig = HbmPimConfig(), fmt: LutFormat = DEFAULT_FORMAT):
        super().__init__(config, fmt)
        spec = config._spec
        nb = self.config.banks_per_unit
        self.unit_spec = channel_spec(spec, bankgroups=1, banks=nb)
        self.channel = Channel(self.unit_spec, mapping="RoBaCo")
        self.tx = self.unit_spec.tx_bytes
        self.pc_spec = spec
        self._rng = np.random.default_rng(0)
        self._row_bits = spec.bursts_per_row * spec.tx_bytes * 8

    def unit_ready(self, run_bursts):
        row = self.unit_spec.bursts_per_row * self.tx
        starts = self._rng.integers(0, self.unit_spec.capacity_bytes // row, np.size(run_bursts)) * row
        ready, st = burst_times(self.channel, starts, run_bursts, self.config.stream_mode)
        bits = int(np.sum(run_bursts)) * self.tx * 8
        ej = (st["ACT"] * self._row_bits * E.PIM_PJ_PER_BIT_ACT[0] + bits * E.PIM_PJ_PER_BIT_READ[0]) * 1e-12
        return ready, ej

    def broadcast_ns(self, nbytes, units_needing):
        s = self.pc_spec
        cmds = -(-nbytes // s.tx_bytes)
        return cmds * max(s.timing["CCD_L"], s.timing["BL"]) * s.tck_ns

    def readout_ns(self, nbytes_total):
        """Partial top-Ks: over the stack's external bus (all pseudo-channels), then the host link."""
        s = self.pc_spec
        ext = nbytes_total / (self.config.stacks * s.peak_bandwidth_gbs)
        link = nbytes_total / self.config.link_gbps
        return max(ext, link)
