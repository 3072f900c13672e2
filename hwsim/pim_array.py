"""A processing-in-memory unit array scanning IVF-PQ lists: what HBM-PIM and DIMM-PIM share.

``units`` identical units, each beside its own memory (an HBM bank pair, a DIMM rank, a UPMEM DPU's
MRAM). Layout ``split`` (Chameleon's): every list's slice on the device is split evenly over all
units; ``whole``: each list lives on one unit (largest lists first onto the least loaded unit), so
only that unit needs its LUT but units are unevenly loaded.

Per query:

* ``transfer_in``: query, probed ids and centroids (and the LUTs, when the host builds them) over the
  host link.
* ``lut_build``: host LUT construction (``host_lut_gflops``) and the broadcast of each probed list's LUT
  into the unit buffers (:meth:`PimArray.broadcast_ns`). A LUT larger than the unit buffer is scanned in
  ``passes``: each pass holds a slice of the LUT columns, and partial distances (``dist_bits``) are
  written back and read again between passes (extra memory traffic, modeled).
* ``scan``: each unit's bursts come from its memory (:meth:`PimArray.unit_ready`, the DRAM model or a
  measured rate) and are consumed by its SIMD lanes (one LUT look-up and add per lane per cycle); the
  slowest unit sets the time.
* ``kselect_drain``: every unit's partial top-K read out to the host and merged there.
* ``transfer_out``: K results from the host to the requester.

LUT placement (``lut_on_host``): True, the host builds each probed list's LUT and writes it into the
buffer of every unit that scans the list (:meth:`PimArray.broadcast_ns`); False, the host sends the
query vector and probed list ids (:meth:`PimArray.broadcast_ns` of ``4 d + 4 nprobe + 16`` bytes) only to
the units holding a probed list, and each such unit builds the LUT of each of its probed lists itself:
``256 x (d x lut_ops_per_term + M) / lanes`` unit cycles (residual, squared difference and sum per
codebook entry, then one store per entry), before scanning it.

Batches: with ``layout="whole"`` on independent units (``independent_units``: DIMM-PIM rank units and
UPMEM DPUs run their own programs; HBM-PIM all-bank mode drives every unit with one command stream, so
it does not), the queries of a batch run concurrently on different units, bulk-synchronously: the host
dispatches the whole batch over its bus, every unit works through its own (query, list) items, then the
host reads out and merges every partial top-K. :attr:`AccelTiming.batch_makespan_s` is then
``link in + sum(host dispatch) + max over units(sum of its work) + sum(read-out and merge) + link out``;
the per-query stages remain each query's latency alone on the device (batch 1).

Functional results: per-unit top-K then an exact merge is the exact top-K, i.e. the golden scan.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import asdict
from functools import lru_cache

import numpy as np

from ivfpq.errors import HwragError

from . import logic_energy as E
from .accelerator import AccelTiming, Accelerator, Workload
from .fpga import split_even
from .stream import couple

LAYOUTS = ("split", "whole")


@lru_cache(maxsize=8)
def _owner_of(sizes_bytes: bytes, units: int) -> np.ndarray:
    out = assign_whole_lists(np.frombuffer(sizes_bytes, np.int64), units)
    out.setflags(write=False)
    return out


def assign_whole_lists(list_sizes: np.ndarray, units: int) -> np.ndarray:
    """Unit of each list: largest first onto the least loaded unit (greedy LPT)."""
    sizes = np.asarray(list_sizes, np.int64)
    load = np.zeros(units, np.int64)
    out = np.zeros(sizes.size, np.int64)
    for l in np.argsort(-sizes, kind="stable"):
        u = int(np.argmin(load))
        out[l] = u
        load[u] += sizes[l]
    return out


class PimArray(Accelerator):
    """Base class: subclasses give the unit memory stream, broadcast and read-out costs."""

    #: bytes of one burst of the unit's memory stream
    tx: int = 32
    #: units run their own programs (so a batch's queries can run on different units at once)
    independent_units: bool = False

    def check_shard(self, M: int, ntotal: int) -> None:
        c = self.config
        need = ntotal * M
        if need > c.capacity_bytes:
            raise HwragError(f"{c.name}: shard needs {need / 1e9:.2f} GB of codes, device holds "
                             f"{c.capacity_bytes / 1e9:.2f} GB")

    def owner(self, list_sizes: np.ndarray) -> np.ndarray:
        """The unit holding each list (``whole`` layout: placed from the sizes alone, largest first on the
        least-loaded unit; the same sizes always give the same placement)."""
        return _owner_of(np.asarray(list_sizes, np.int64).tobytes(), self.config.units)

    @abstractmethod
    def unit_ready(self, run_bursts: np.ndarray) -> tuple[np.ndarray, float]:
        """Completion times (ns) of a unit's bursts for consecutive runs, and DRAM energy (J)."""

    @abstractmethod
    def broadcast_ns(self, nbytes: int, units_needing: int) -> float:
        """Time to place ``nbytes`` of LUT into the buffers of ``units_needing`` units."""

    @abstractmethod
    def readout_ns(self, nbytes_total: int) -> float:
        """Time to move every unit's partial top-K (``nbytes_total``) to the host."""

    # -- shared model -----------------------------------------------------------------------------
    def passes(self, M: int) -> int:
        c = self.config
        lut_bytes = 256 * M * math.ceil(self.fmt.lut_bits / 8)
        return max(1, math.ceil(lut_bytes / c.buffer_bytes))

    def per_unit_codes(self, w: Workload) -> np.ndarray:
        """(nq, P, units) codes each unit scans."""
        c = self.config
        if c.layout == "split":
            return split_even(w.codes, c.units)
        if w.probe is not None:
            owner = self.owner(w.list_sizes)[w.probe]
        else:  # projection of sizes alone: lists spread over units round robin by probe position
            owner = np.broadcast_to(np.arange(w.nprobe) % c.units, w.codes.shape)
        out = np.zeros(w.codes.shape + (c.units,), np.int64)
        np.put_along_axis(out, owner[..., None], w.codes[..., None], axis=-1)
        return out

    def unit_lut_ns(self, d: int, M: int) -> float:
        """A unit building one list's LUT itself (``lut_on_host`` False): 256 x (d x lut_ops_per_term + M)
        lane operations (residual, squared difference, sum per codebook entry; one store per entry)."""
        c = self.config
        ops = 256 * (d * getattr(c, "lut_ops_per_term", 3) + M)
        return math.ceil(ops / c.lanes) * 1e3 / c.unit_clock_mhz

    def _pass_shape(self, pi: int, ncol: int, passes: int, dist_b: int, cyc: float):
        """``(bytes per code, items per beat, beat ns)`` of LUT pass ``pi`` over ``ncol`` code columns."""
        c = self.config
        # bytes per code this pass: its code columns + partial sums read (not first) / written (not last)
        b_code = ncol + dist_b * ((pi > 0) + (pi < passes - 1))
        # lane operations per code: look-up+add per column, partial-sum add, top-K compare, loop overhead
        ops = (ncol * c.ops_per_subcode + (1 if pi > 0 else 0) + (1 if pi == passes - 1 else 0)
               + c.ops_per_code)
        if ops <= c.lanes:
            return b_code, max(1, c.lanes // ops), cyc
        return b_code, 1, math.ceil(ops / c.lanes) * cyc

    def _scan_query(self, pu: np.ndarray, shapes, lut_entry_b: int, lut_unit: float, dispatch_b: int,
                    concurrent: bool) -> dict:
        """One query's scan over its probed lists ``pu`` (P, U codes per list and unit), pass by pass.

        All units run in lock step over the same lists; the busiest unit sets the time. With
        ``concurrent`` each unit's own stream is also modeled analytically (``unit_ns``)."""
        c = self.config
        loads = pu.sum(axis=0)
        u = int(np.argmax(loads))
        items = pu[:, u]
        active = pu > 0                                                  # (P, U)
        r = dict(host_ns=0.0, bcast=0.0, t_end=0.0, mem_end=0.0, comp=0.0, dram_J=[], nbytes=0,
                 unit_ns=np.zeros(c.units) if concurrent else None, calib=None)
        analytic_u = 0.0
        if not c.lut_on_host:
            r["host_ns"] = self.broadcast_ns(dispatch_b, max(1, int(active.any(axis=0).sum())))
        for b_code, ipb, beat, ncol in shapes:
            nb = -(-items * b_code // self.tx)
            ready, ej = self.unit_ready(nb)
            r["dram_J"].append(ej * self.energy_scale(loads))  # summed in query order by model()
            r["nbytes"] += int((-(-pu * b_code // self.tx)).sum()) * self.tx
            units_needing = int(active.sum(axis=1).max()) if c.layout == "whole" else c.units
            if c.lut_on_host:
                gap = self.broadcast_ns(256 * ncol * lut_entry_b, max(1, units_needing))
                r["bcast"] += gap * int((items > 0).sum())
                if c.layout == "whole":  # each probed list's LUT crosses the host bus once
                    r["host_ns"] += gap * int(active.any(axis=1).sum())
            # broadcasts occupy the banks' command path: they do not overlap the code stream
            t, _ = couple(ready, items, ipb, beat, 0.0, b_code, self.tx)
            r["t_end"] += t
            if ready.size:
                r["mem_end"] += float(ready[-1])
            r["comp"] += float((-(-items // ipb)).sum()) * beat
            if concurrent:  # every unit's own stream, analytically (list by list, the slower of the two)
                c_ns = (-(-pu // ipb)) * beat
                m_ns = (-(-pu * b_code // self.tx)) * self.tx / self.unit_peak_Bps() * 1e9
                per = np.maximum(c_ns, m_ns)
                r["unit_ns"] += per.sum(axis=0)
                analytic_u += float(per[:, u].sum())
        if concurrent:
            r["unit_ns"] += active.sum(axis=0) * lut_unit
            if analytic_u > 0:
                r["calib"] = r["t_end"] / analytic_u  # DRAM-model effects (refresh, row misses) of the stream
        r["lut_build_s"] = ((r["host_ns"] if not c.lut_on_host else r["bcast"]) * 1e-9
                            + lut_unit * int((items > 0).sum()) * 1e-9)
        return r

    def model(self, w: Workload) -> AccelTiming:
        c = self.config
        M, k, nq, P = w.M, w.k, w.nq, w.nprobe
        passes = self.passes(M)
        cols = [len(a) for a in np.array_split(np.arange(M), passes)]  # LUT columns per pass
        dist_b = math.ceil(self.fmt.dist_bits / 8)
        cyc = 1e3 / c.unit_clock_mhz
        shapes = [(*self._pass_shape(pi, ncol, passes, dist_b, cyc), ncol) for pi, ncol in enumerate(cols)]
        per_unit = self.per_unit_codes(w)   # (nq, P, U)
        st = {s: np.zeros(nq) for s in ("transfer_in", "lut_build", "scan", "kselect_drain", "transfer_out")}
        lut_entry_b = math.ceil(self.fmt.lut_bits / 8)
        concurrent = self.independent_units and c.layout == "whole"
        lut_unit = 0.0 if c.lut_on_host else self.unit_lut_ns(w.d, M)
        dispatch_b = 4 * w.d + 4 * P + 16  # query vector + probed list ids (+ header), per unit
        runs = [self._scan_query(per_unit[q], shapes, lut_entry_b, lut_unit, dispatch_b, concurrent)
                for q in range(nq)]
        host_ns = np.array([r["host_ns"] for r in runs])  # serial host-bus work of each query (dispatch)
        st["lut_build"][:] = [r["lut_build_s"] for r in runs]
        st["scan"][:] = [r["t_end"] * 1e-9 for r in runs]
        mem_only = np.array([r["mem_end"] for r in runs])
        comp_only = np.array([r["comp"] for r in runs])
        dram_J = 0.0
        for e in (e for r in runs for e in r["dram_J"]):
            dram_J += e
        nbytes_total = sum(r["nbytes"] for r in runs)
        # host-side LUT construction (residual + 256 x M table per probed list) when the host builds it
        lut_bytes = P * 256 * M * lut_entry_b
        if c.lut_on_host:
            st["lut_build"] += P * 256 * w.d * 3 / (c.host_lut_gflops * 1e9)
        link_Bps = c.link_gbps * 1e9
        bytes_in = 4 * w.d + P * (4 + 4 * w.d) + (lut_bytes if c.lut_on_host else 0) + 16
        st["transfer_in"][:] = bytes_in / link_Bps + c.link_latency_us * 1e-6
        entry = dist_b + 4  # partial top-K entry: distance + 32-bit local offset
        active_units = (per_unit.sum(axis=1) > 0).sum(axis=1)  # (nq,)
        kq = np.minimum(k, per_unit.sum(axis=1)).sum(axis=1)   # candidates read out per query
        for q in range(nq):
            st["kselect_drain"][q] = (self.readout_ns(int(kq[q]) * entry) * 1e-9
                                      + kq[q] * c.host_merge_ns * 1e-9 + c.link_latency_us * 1e-6)
        st["transfer_out"][:] = k * 12 / link_Bps + c.link_latency_us * 1e-6
        batch_makespan, extra = None, {}
        if concurrent:
            unit_ns = np.array([r["unit_ns"] for r in runs])
            calib = [r["calib"] for r in runs if r["calib"] is not None]
            f = float(np.mean(calib)) if calib else 1.0
            host_lut = P * 256 * w.d * 3 / (c.host_lut_gflops * 1e9) if c.lut_on_host else 0.0
            batch_makespan = (nq * (bytes_in + k * 12) / link_Bps + 2 * c.link_latency_us * 1e-6
                              + nq * host_lut + float(host_ns.sum()) * 1e-9
                              + float(unit_ns.sum(axis=0).max()) * f * 1e-9
                              + float(st["kselect_drain"].sum()) - (nq - 1) * c.link_latency_us * 1e-6)
            busy = unit_ns.sum(axis=0)
            extra.update(batch_concurrent=True, batch_unit_busy_max_s=float(busy.max() * 1e-9),
                         batch_unit_busy_mean_s=float(busy.mean() * 1e-9),
                         batch_host_dispatch_s=float(host_ns.sum() * 1e-9))
        codes = int(w.codes.sum())
        energy = {
            "dram": dram_J,
            "decode": codes * (M + passes) * E.ASIC_PJ_PER_SUBCODE[0] * 1e-12,
            "kselect": codes * E.ASIC_PJ_PER_COMPARE[0] * 1e-12,
            "lut_build": (nq * P * 256 * w.d * E.ASIC_PJ_PER_LUT_FLOP3[0] * 1e-12),
            "link": (bytes_in * nq + int(kq.sum()) * entry + nq * k * 12) * 8
                    * E.LINK_PJ_PER_BIT[c.link_kind][0] * 1e-12,
        }
        energy["total"] = sum(energy.values())
        scan_s = float(st["scan"].sum())
        util = {
            "memory_bandwidth": nbytes_total / (scan_s * c.units * self.unit_peak_Bps()) if scan_s else 0.0,
            "compute_units": codes * M / (scan_s * c.units * c.lanes * c.unit_clock_mhz * 1e6) if scan_s else 0.0,
            "active_units": float(active_units.mean() / c.units),
        }
        bound = "memory" if mem_only.sum() > comp_only.sum() else "compute"
        extra = {"units": c.units, "passes": passes, "layout": c.layout, "lut_on_host": c.lut_on_host,
                 "memory_only_scan_s": float(mem_only.mean() * 1e-9),
                 "compute_only_scan_s": float(comp_only.mean() * 1e-9), **extra}
        return AccelTiming(self.config_name, st, energy, util, bound, codes, nbytes_total, extra,
                           batch_makespan_s=batch_makespan)

    def energy_scale(self, loads: np.ndarray) -> float:
        """DRAM energy of the representative unit -> all units (they stream in proportion to load)."""
        mx = loads.max()
        return float(loads.sum() / mx) if mx else 0.0

    def unit_peak_Bps(self) -> float:
        return self.config.unit_peak_gbs * 1e9

    def to_dict(self):
        return asdict(self.config)
