"""FPGA memory node (Chameleon ChamVS / FANNS style) running the IVF-PQ scan.

Organisation (per node): ``channels`` memory channels (DDR4 channels as on the Alveo U250, or HBM
pseudo-channels as on the U55C), each behind one AXI port of ``axi_bits`` at the kernel clock, feeding
one scan unit of ``units_per_channel`` PQ decode units (default ``axi_bits / 8 / bytes per code``,
Chameleon's rule). Every IVF list's slice on this node is split evenly across the channels
(contiguous, burst-aligned, list after list), so a query streams its probed lists from all channels at
once. The scan unit's pipeline facts (initiation interval, LUT load cycles per list, drain, output) come
from the RTL timing card (:mod:`hwsim.cards`).

Per query (one at a time on the node):

* ``transfer_in``: query vector, probed list ids and their centroids over the network.
* ``lut_build``: per probed list, ``lut_pes`` construction PEs build the 256 rows, each PE M / lut_pes
  sub-quantizer entries per row at II 1/2/4/8 for D/M <= 8/16/32/above (Chameleon's HLS
  ``LUT_construction_sub_PE``), straight into the units' LUT banks; the scan unit accepts no beat
  meanwhile (the RTL protocol), unless ``lut_double_buffer`` is set (then it overlaps the previous list).
* ``scan``: every channel's bursts go through the DRAM model (:mod:`hwsim.stream`) and the AXI port to
  the decode units (one beat of U codes per II cycles); the channel finishing last sets the time, so
  memory or compute binds as simulated.
* ``kselect_drain``: scan-unit drain and K results (card), the node's level-2 queue taking every
  channel's K results one per cycle, and K id look-ups in DRAM when ids are stored apart from codes.
* ``transfer_out``: K (id, distance) pairs over the network.

With ``device`` set (``xcu250`` / ``xcu55c``), the node's ``channels`` scan units are checked
against how many of them fit that FPGA (the card's Yosys synthesis against the data-sheet totals,
``hwrag rtl synth``): a configuration that would not fit logs a warning and says so in the timing's
``extra["fpga_fit"]``; the modeled times are still reported (the check covers the scan units only).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ivfpq.errors import HwragError
from ivfpq.fixedpoint import DEFAULT_FORMAT, LutFormat
from ivfpq.shard import shard_bounds

from . import logic_energy as E
from .accelerator import AccelTiming, Accelerator, Workload
from .cards import TimingCard, load_card
from .stream import Channel, burst_times, bursts_for, channel_spec, couple

ID_LAYOUTS = ("separate", "interleaved")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FpgaConfig:
    """An FPGA memory node. ``sources`` cites every parameter (see :mod:`hwsim.configs`)."""

    name: str = "fpga"
    clock_mhz: float = 140.0
    memory: str = "DDR4_3200AA"          # hwsim.dram preset of one channel
    channels: int = 4
    channel_capacity_gb: float = 16.0
    axi_bits: int = 512
    units_per_channel: int | None = None  # None: axi_bits / 8 / bytes per entry (Chameleon)
    id_layout: str = "separate"          # ids in their own region ("separate") or beside codes
    id_bytes: int = 8
    l1: int | None = None                # level-1 queue length; None: K (exact)
    lut_double_buffer: bool = False
    lut_pes: int = 16                    # LUT-construction PEs (Chameleon's LUT_CONSTR_SUB_PE_NUM)
    network_gbps: float = 100.0
    network_latency_us: float = 1.0
    stream_mode: str = "exact"           # "exact" (every burst simulated) | "calibrated"
    static_power_w: float = 0.0          # board static power; 0 = not modeled
    device: str | None = None            # FPGA (rtl/fpga_devices.py name) the scan units must fit
    sources: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.id_layout not in ID_LAYOUTS:
            raise HwragError(f"id_layout {self.id_layout!r} unknown; accepted: {', '.join(ID_LAYOUTS)}")
        if self.clock_mhz <= 0 or self.channels < 1 or self.axi_bits < 8 or self.axi_bits % 8:
            raise HwragError("FPGA config needs clock_mhz > 0, channels >= 1, axi_bits a multiple of 8")

    def entry_bytes(self, M: int) -> int:
        return M + (self.id_bytes if self.id_layout == "interleaved" else 0)

    def units(self, M: int) -> int:
        if self.units_per_channel is not None:
            return self.units_per_channel
        u = self.axi_bits // 8 // self.entry_bytes(M)
        if u < 1:
            raise HwragError(f"{self.name}: a {self.entry_bytes(M)}-byte entry does not fit a "
                             f"{self.axi_bits}-bit AXI word; accepted: M <= {self.axi_bits // 8}")
        return u

    def lut_cycles(self, d: int, M: int) -> int:
        """Cycles to build one list's 256-row LUT: 256 x ceil(M / lut_pes) x II(D/M), II = 1/2/4/8 for
        D/M <= 8/16/32/above (Chameleon's HLS kernels). The rows reach the scan units through FIFOs a few
        rows deep, so the build is not hidden behind the previous list's scan (single-buffered LUT)."""
        sub = d / M
        ii = 1 if sub <= 8 else 2 if sub <= 16 else 4 if sub <= 32 else 8
        return 256 * -(-M // self.lut_pes) * ii

    def describe(self) -> str:
        return (f"{self.name}: FPGA {self.clock_mhz:g} MHz, {self.channels} x {self.memory}, "
                f"AXI {self.axi_bits} b")

    def with_(self, **kw) -> "FpgaConfig":
        return replace(self, **kw)

    def to_dict(self) -> dict:
        return asdict(self)


def split_even(n: np.ndarray, parts: int) -> np.ndarray:
    """(..., parts) sizes of ``n`` split evenly in contiguous slices (ivfpq.shard's rule)."""
    n = np.asarray(n, np.int64)
    return np.stack([n * (i + 1) // parts - n * i // parts for i in range(parts)], axis=-1)


class FpgaNode(Accelerator):
    kind = "fpga"

    def __init__(self, config: FpgaConfig = FpgaConfig(), fmt: LutFormat = DEFAULT_FORMAT,
                 card_dir=None):
        super().__init__(config, fmt)
        self.card_dir = card_dir
        self.spec = channel_spec(config.memory)
        self.channel = Channel(self.spec)
        self._layout = None
        self._fit_warned: set = set()

    # -- layout -----------------------------------------------------------------------------------
    def check_shard(self, M: int, ntotal: int) -> None:
        c = self.config
        self.config.units(M)
        need = ntotal * (c.entry_bytes(M) + (c.id_bytes if c.id_layout == "separate" else 0))
        have = c.channels * c.channel_capacity_gb * 1e9
        if need > have:
            raise HwragError(f"{c.name}: shard needs {need / 1e9:.2f} GB, node holds {have / 1e9:.2f} GB")

    def fpga_fit(self, card: TimingCard) -> dict | None:
        """Whether the node's scan units (one per channel) fit ``config.device``; warns once if not."""
        c = self.config
        if c.device is None:
            return None
        if card.fpga_fit and c.device not in card.fpga_fit:  # mistyped: say so, not "no synthesis"
            raise HwragError(f"unknown FPGA device {c.device!r}; accepted: {', '.join(sorted(card.fpga_fit))}")
        fits = card.units_that_fit(c.device)
        if fits is None:
            return {"device": c.device, "needed": c.channels, "fit": None,
                    "fits": "unknown: no FPGA synthesis on " + card.source}
        out = {"device": c.device, "needed": c.channels, "fit": fits, "fits": c.channels <= fits}
        key = (c.device, card.m, card.units, card.k, card.l1)
        if not out["fits"] and key not in self._fit_warned:
            self._fit_warned.add(key)
            log.warning("%s: %d scan units of m%d_u%d_k%d needed, only %d fit on %s (%s)", c.name, c.channels,
                        card.m, card.units, card.k, fits, c.device, card.source)
        return out

    def card(self, M: int, k: int) -> TimingCard:
        return load_card(M, self.config.units(M), k, self.config.l1 if self.config.l1 is None
                         else min(self.config.l1, k), self.card_dir)

    def list_bases(self, list_sizes: np.ndarray, M: int) -> np.ndarray:
        """(nlist, channels) byte address of each list's slice in each channel (burst aligned)."""
        tx = self.spec.tx_bytes
        per_ch = split_even(list_sizes, self.config.channels)  # (nlist, C)
        nbytes = bursts_for(per_ch * self.config.entry_bytes(M), tx) * tx
        base = np.zeros_like(nbytes)
        base[1:] = np.cumsum(nbytes, axis=0)[:-1]
        return base

    # -- functional -----------------------------------------------------------------------------
    def functional(self, queries, probe, k):
        c = self.config
        if c.l1 is None or c.l1 >= k:
            return super().functional(queries, probe, k)
        return hierarchical_functional(self.shard, queries, probe, k, self.fmt,
                                       lambda n: fpga_lanes(n, c.channels, c.units(self.shard.M)),
                                       c.channels * c.units(self.shard.M), c.l1)

    # -- timing ---------------------------------------------------------------------------------
    def model(self, w: Workload, bases: np.ndarray | None = None) -> AccelTiming:
        c = self.config
        M, k = w.M, w.k
        U = c.units(M)
        card = self.card(M, k)
        f_ns = 1e3 / c.clock_mhz  # ns per kernel cycle
        tx = self.spec.tx_bytes
        eb = c.entry_bytes(M)
        lut_cycles = max(c.lut_cycles(w.d, M), card.lut_load)
        lut_ns = lut_cycles * f_ns
        port_ns = tx / (c.axi_bits / 8) * f_ns
        if bases is None and w.list_sizes is not None:
            bases = self.list_bases(w.list_sizes, M)
        rng = np.random.default_rng(0)
        nq = w.nq
        st = {s: np.zeros(nq) for s in ("transfer_in", "lut_build", "scan", "kselect_drain", "transfer_out")}
        dram_J = 0.0
        mem_only = np.zeros(nq)
        comp_only = np.zeros(nq)
        nbytes = 0
        per_ch = split_even(w.codes, c.channels)  # (nq, P, C)
        for q in range(nq):
            fin, mem_fin, gaps = 0.0, 0.0, 0.0
            for ch in range(c.channels):
                items = per_ch[q, :, ch]
                nb = bursts_for(items * eb, tx)
                starts = self._starts(bases, w.probe, q, ch, nb, rng)
                ready, s = burst_times(self.channel, starts, nb, c.stream_mode)
                dram_J += s["energy_J"]
                nbytes += int(nb.sum()) * tx
                gap = 0.0 if c.lut_double_buffer else lut_ns
                t, g = couple(ready, items, U, card.ii * f_ns, gap, eb, tx, port_ns)
                if c.lut_double_buffer:
                    nl = int((items > 0).sum())
                    t, g = max(t + lut_ns, nl * lut_ns), lut_ns
                if t > fin:
                    fin, gaps = t, g
                if ready.size:
                    mem_fin = max(mem_fin, float(ready[-1]) + port_ns)
            st["lut_build"][q] = gaps * 1e-9
            st["scan"][q] = max(0.0, fin - gaps) * 1e-9
            mem_only[q] = mem_fin
            beats = (-(-per_ch[q] // U)).sum(axis=0).max() if per_ch.shape[1] else 0
            comp_only[q] = beats * card.ii * f_ns
        # K-selection drain: scan-unit drain + K out (card), level-2 queue ingesting C*K results
        ksel_cycles = card.drain + card.output + c.channels * k
        idl_ns = 0.0
        if c.id_layout == "separate":
            ids_at = rng.integers(0, self.spec.capacity_bytes // tx, k) * tx
            done, s = self.channel.simulate(ids_at, np.ones(k, np.int64))
            idl_ns = float(done.max()) if done.size else 0.0
            dram_J += s["energy_J"] * nq
        st["kselect_drain"][:] = (ksel_cycles * f_ns + idl_ns) * 1e-9
        net_Bps = c.network_gbps * 1e9 / 8
        bytes_in = 4 * w.d + w.nprobe * (4 + 4 * w.d) + 16
        bytes_out = k * (8 + 4) + 16
        st["transfer_in"][:] = bytes_in / net_Bps + c.network_latency_us * 1e-6
        st["transfer_out"][:] = bytes_out / net_Bps + c.network_latency_us * 1e-6
        codes = int(w.codes.sum())
        fpga_pj = E.ASIC_PJ_PER_SUBCODE[0] * E.FPGA_OVERHEAD[0]
        energy = {
            "dram": dram_J,
            "decode": codes * M * fpga_pj * 1e-12,
            "lut_build": nq * w.nprobe * 256 * w.d * E.ASIC_PJ_PER_LUT_FLOP3[0] * E.FPGA_OVERHEAD[0] * 1e-12,
            "kselect": codes * E.ASIC_PJ_PER_COMPARE[0] * E.FPGA_OVERHEAD[0] * 1e-12,
            "network": (bytes_in + bytes_out) * nq * 8 * E.LINK_PJ_PER_BIT["ethernet"][0] * 1e-12,
        }
        dev_s = float(sum(st[s].sum() for s in ("lut_build", "scan", "kselect_drain")))
        energy["static"] = c.static_power_w * dev_s
        energy["total"] = sum(energy.values())
        scan_s = float(st["scan"].sum())
        peak_Bps = c.channels * min(self.spec.peak_bandwidth_gbs * 1e9, c.axi_bits / 8 * c.clock_mhz * 1e6)
        units_total = c.channels * U
        util = {
            "memory_bandwidth": nbytes / (scan_s * peak_Bps) if scan_s else 0.0,
            "dram_bandwidth": nbytes / (scan_s * c.channels * self.spec.peak_bandwidth_gbs * 1e9) if scan_s else 0.0,
            "compute_units": codes / (scan_s * units_total * c.clock_mhz * 1e6 / card.ii) if scan_s else 0.0,
        }
        bound = "memory" if mem_only.sum() > comp_only.sum() else "compute"
        extra = {"units": units_total, "units_per_channel": U, "card": card.source,
                 "lut_cycles_per_list": lut_cycles, "stream_mode": c.stream_mode,
                 "memory_only_scan_s": float(mem_only.mean() * 1e-9),
                 "compute_only_scan_s": float(comp_only.mean() * 1e-9)}
        fit = self.fpga_fit(card)
        if fit is not None:
            extra["fpga_fit"] = fit
        return AccelTiming(self.config_name, st, energy, util, bound, codes, nbytes, extra)

    def _starts(self, bases, probe, q, ch, nb, rng) -> np.ndarray:
        """Byte address of each probed list's run in channel ch (from the layout, else random rows)."""
        if bases is not None and probe is not None:
            return bases[probe[q], ch]
        row = self.spec.bursts_per_row * self.spec.tx_bytes
        return rng.integers(0, self.spec.capacity_bytes // row, nb.size) * row


def fpga_lanes(sizes: np.ndarray, channels: int, units: int) -> list[np.ndarray]:
    """Global lane (channel * U + unit) of every code of each list slice, in list row order."""
    out = []
    for n in np.asarray(sizes, np.int64):
        parts = [c * units + np.arange(b - a) % units for c in range(channels)
                 for a, b in [shard_bounds(int(n), channels, c)]]
        out.append(np.concatenate(parts) if parts else np.zeros(0, np.int64))
    return out


def hierarchical_functional(shard, queries, probe, k, fmt, lanes_of, nlanes, l1):
    """Top-K with per-lane level-1 queues of length l1 then a merge (ivfpq.kselect golden model)."""
    from ivfpq.kselect import fixed_distances, hierarchical_topk
    from ivfpq.scan import quantized_luts_for

    ql = quantized_luts_for(shard, queries, probe, fmt)
    nq = probe.shape[0]
    ids = np.full((nq, k), -1, np.int64)
    idist = np.full((nq, k), -1, np.int64)
    sizes = shard.list_sizes
    for q in range(nq):
        starts = shard.offsets[probe[q]]
        ends = shard.offsets[probe[q] + 1]
        d = fixed_distances(shard.codes, starts, ends, ql.lut[q], ql.bias[q], fmt.dist_max)
        sid = np.concatenate([shard.ids[a:b] for a, b in zip(starts, ends)])
        lanes = np.concatenate(lanes_of(sizes[probe[q]]))
        idist[q], ids[q] = hierarchical_topk(d, sid, lanes, nlanes, l1, k)
    dist = np.where(ids >= 0, idist * ql.scale[:, None] + ql.offset[:, None], np.inf).astype(np.float32)
    return ids, dist, idist
