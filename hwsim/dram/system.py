"""The public simulator: :class:`DramSystem` (preset + mapping + controller), its streaming feeder
:class:`DramStream`, and :class:`DramResult`. See the package docstring for the API in one page."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ivfpq.errors import HwragError

from . import core
from .energy import energy_report
from .mapping import AddressMapping
from .spec import DramSpec, get_preset
from .timing import build_tables

log = logging.getLogger(__name__)

PAGE_POLICIES = ("open", "close")
SCHEDULERS = ("frfcfs", "fcfs")
REFRESH_MODES = ("allbank", "perbank", "none")


@dataclass(frozen=True)
class ControllerConfig:
    """Controller knobs. Defaults follow Ramulator 2.1 / DRAMsim3 (32-entry queues, 0.8/0.2 drain)."""

    read_queue: int = 32
    write_queue: int = 32
    write_high: float = 0.8      # start draining writes at this fraction of the write queue
    write_low: float = 0.2       # stop draining at this fraction (if reads are waiting)
    page_policy: str = "open"    # "open" | "close" (auto-precharge every access)
    scheduler: str = "frfcfs"    # "frfcfs" | "fcfs"
    refresh: str = "allbank"     # "allbank" | "perbank" | "none"

    def validate(self, spec: DramSpec) -> None:
        for name, val, ok in (("page_policy", self.page_policy, PAGE_POLICIES),
                              ("scheduler", self.scheduler, SCHEDULERS),
                              ("refresh", self.refresh, REFRESH_MODES)):
            if val not in ok:
                raise HwragError(f"controller {name} {val!r} unknown; accepted: {', '.join(ok)}")
        if self.refresh == "perbank" and not spec.per_bank_refresh:
            raise HwragError(f"preset {spec.name} ({spec.standard}) has no per-bank refresh; "
                             "accepted refresh modes for it: allbank, none")
        if self.read_queue < 1 or self.write_queue < 1:
            raise HwragError("controller queues need at least one entry")
        if not 0.0 <= self.write_low < self.write_high <= 1.0:
            raise HwragError("controller write watermarks need 0 <= write_low < write_high <= 1")


@dataclass
class DramResult:
    """Per-request completion cycles and stats of one simulation. All figures are *modeled*."""

    spec: DramSpec
    mapping: str
    controller: ControllerConfig
    arrival: np.ndarray          # int64 cycles
    is_write: np.ndarray         # bool
    completion: np.ndarray       # int64 cycle the last data beat moved (reads and writes)
    kind: np.ndarray             # int8: 0 row hit, 1 row miss (bank closed), 2 row conflict
    counts: dict = field(default_factory=dict)

    @property
    def latency(self) -> np.ndarray:
        """Cycles from arrival to completion, per request."""
        return self.completion - self.arrival

    @property
    def cycles(self) -> int:
        """Span from the first arrival to the last completion (memory cycles)."""
        if self.completion.size == 0:
            return 0
        return int(self.completion.max() - self.arrival.min())

    @property
    def bytes(self) -> int:
        return int(self.completion.size) * self.spec.tx_bytes

    @property
    def bandwidth_gbs(self) -> float:
        c = self.cycles
        return self.bytes / (c * self.spec.tck_ns) if c else 0.0

    def stats(self) -> dict[str, Any]:
        """A JSON-ready summary; every number is labelled modeled (this is a hardware model)."""
        s = self.spec
        lat = self.latency
        rd = ~self.is_write
        out: dict[str, Any] = {
            "figures": "modeled",
            "preset": s.name, "standard": s.standard, "mapping": self.mapping,
            "controller": asdict(self.controller),
            "tCK_ns": s.tck_ns, "units": s.units,
            "requests": int(lat.size), "reads": int(rd.sum()), "writes": int((~rd).sum()),
            "cycles": self.cycles, "time_ns": self.cycles * s.tck_ns,
            "bandwidth_GBps": self.bandwidth_gbs, "peak_bandwidth_GBps": s.peak_bandwidth_gbs,
            "bandwidth_utilisation": self.bandwidth_gbs / s.peak_bandwidth_gbs if self.cycles else 0.0,
            "row_hits": int((self.kind == 0).sum()), "row_misses": int((self.kind == 1).sum()),
            "row_conflicts": int((self.kind == 2).sum()),
            "commands": {k: int(v) for k, v in self.counts.items()},
        }
        for name, sel in (("read", rd), ("write", ~rd), ("all", slice(None))):
            x = lat[sel]
            if x.size:
                out[f"{name}_latency_cycles"] = {
                    "mean": float(x.mean()), "min": int(x.min()), "max": int(x.max()),
                    "p50": float(np.percentile(x, 50)), "p90": float(np.percentile(x, 90)),
                    "p99": float(np.percentile(x, 99)), "p999": float(np.percentile(x, 99.9))}
                out[f"{name}_latency_ns_mean"] = float(x.mean()) * s.tck_ns
        out["energy"] = energy_report(s, self.counts, self.cycles)
        out["energy"]["figures"] = "modeled"
        return out


class DramSystem:
    """A memory system: preset (name or :class:`DramSpec`), address mapping, controller config.

    ``DramSystem("HBM2").run(addresses, is_write, arrival)`` simulates a whole request stream;
    ``DramSystem(...).stream()`` returns a :class:`DramStream` to feed it in chunks.
    """

    def __init__(self, preset: "str | DramSpec" = "HBM2", mapping: "str | None" = None,
                 controller: "ControllerConfig | None" = None):
        self.spec = get_preset(preset)
        self.mapping = AddressMapping.build(self.spec, mapping)
        self.controller = controller or ControllerConfig()
        self.controller.validate(self.spec)
        self.table = build_tables(self.spec)
        c, t, o = self.controller, self.spec.timing, self.spec.org
        P = np.zeros(core.P_NPARAM, dtype=np.int64)
        P[core.P_R], P[core.P_BG], P[core.P_B] = o["ranks"], o["bankgroups"], o["banks"]
        P[core.P_RCAP], P[core.P_WCAP] = c.read_queue, c.write_queue
        P[core.P_WHI] = max(1, int(round(c.write_high * c.write_queue)))
        P[core.P_WLO] = int(round(c.write_low * c.write_queue))
        P[core.P_POLICY] = PAGE_POLICIES.index(c.page_policy)
        P[core.P_REFMODE] = {"none": 0, "allbank": 1, "perbank": 2}[c.refresh]
        P[core.P_REFI], P[core.P_REFIPB] = t["REFI"], max(1, t["REFIpb"])
        P[core.P_RDLAT] = t["CL"] + t["BL"]
        P[core.P_WRLAT] = t["CWL"] + t["BL"]
        P[core.P_FAW] = t["FAW"]
        P[core.P_SCHED] = SCHEDULERS.index(c.scheduler)
        self.params = P
        # the mapping as (shift, mask) per field ch, pc, ra, bg, ba, ro for core.decode_ubr
        lay = {f: (lo, w) for f, lo, w in self.mapping.layout}
        off = self.mapping.offset_bits
        shift = np.array([off + lay.get(f, (0, 0))[0] for f in ("ch", "pc", "ra", "bg", "ba", "ro")],
                         dtype=np.uint64)
        mask = np.array([(1 << lay.get(f, (0, 0))[1]) - 1 for f in ("ch", "pc", "ra", "bg", "ba", "ro")],
                        dtype=np.uint64)
        self._decode_args = (shift, mask, np.int64(o["pseudo_channels"]), np.int64(o["bankgroups"]),
                             np.int64(o["banks"]))

    def decode(self, addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Byte addresses -> (unit, flat bank index within the unit, row)."""
        return core.decode_ubr(np.ascontiguousarray(addresses, dtype=np.uint64), *self._decode_args)

    def stream(self) -> "DramStream":
        return DramStream(self)

    def run(self, addresses, is_write=None, arrival=None) -> DramResult:
        """Simulate a whole request stream (arrival cycles non-decreasing; default all at 0)."""
        s = self.stream()
        s.feed(addresses, is_write, arrival, _final=True)
        return s.finish()

    def run_trace(self, path: str, fmt: str = "auto") -> DramResult:
        from .trace import read_trace
        addr, w, arr = read_trace(path, fmt)
        return self.run(addr, w, arr)


class DramStream:
    """Incremental simulation. Feed chunks with non-decreasing arrival cycles; commands at cycles
    before the latest arrival fed are decided exactly as in a one-shot run, so a stream fed in
    chunks gives the same completion cycles as :meth:`DramSystem.run` on the concatenation."""

    def __init__(self, system: DramSystem):
        self.system = system
        spec, P = system.spec, system.params
        U, R = spec.units, spec.org["ranks"]
        NB = spec.banks_per_unit
        nnodes = 1 + R + R * spec.org["bankgroups"] + NB
        self._nxt = np.zeros((U, nnodes, core.NCMD), dtype=np.int64)
        self._open = np.full((U, NB), -1, dtype=np.int64)
        self._faw = np.full((U, R, 4), -(1 << 40), dtype=np.int64)
        self._fawp = np.zeros((U, R), dtype=np.int64)
        self._refs = np.zeros((U, R, core.F_NF), dtype=np.int64)
        refi, refipb = int(P[core.P_REFI]), int(P[core.P_REFIPB])
        for r in range(R):  # ranks staggered across the interval
            self._refs[:, r, core.F_DUE] = refi + r * refi // R
            self._refs[:, r, core.F_PBDUE] = refipb + r * refipb // R
        self._refs[:, :, core.F_PBBANK] = -1
        self._sc = np.zeros((U, core.S_NSTATE), dtype=np.int64)
        # read queue (0) and write queue (1) entries; free slots are chained through Q_NEXT from 0
        rcap, wcap = int(P[core.P_RCAP]), int(P[core.P_WCAP])
        self._q = np.zeros((U, 2, max(rcap, wcap), core.Q_NF), dtype=np.int64)
        for qi, cap in enumerate((rcap, wcap)):
            self._q[:, qi, :cap, core.Q_NEXT] = np.arange(1, cap + 1)
            self._q[:, qi, cap - 1, core.Q_NEXT] = -1
        self._sc[:, core.S_RFREE] = 0
        self._sc[:, core.S_WFREE] = 0
        # per-bank index of each queue: lists of waiting entries, oldest row hit, banks with entries
        self._bq = np.zeros((U, 2, core.BQ_NF, NB), dtype=np.int64)
        self._bq[:, :, core.BQ_HEAD:core.BQ_HIT + 1, :] = -1
        self._cnt = np.zeros((U, core.C_N), dtype=np.int64)
        self._consumed = np.zeros(U, dtype=np.int64)
        # per-request records (grown as chunks arrive)
        self._n = 0
        self._done = np.full(1024, -1, dtype=np.int64)
        self._kind = np.full(1024, -1, dtype=np.int8)
        self._arr = np.zeros(1024, dtype=np.int64)
        self._w = np.zeros(1024, dtype=bool)
        # inputs fed but not yet admitted to a queue, sorted by unit (stable)
        self._pend = (np.zeros(0, np.int64),) * 5 + (np.zeros(0, np.int64),)
        self._last_arrival = 0
        self._polled = 0
        self._finished = False

    @property
    def now(self) -> int:
        """The cycle up to which every unit has decided its commands."""
        return int(self._sc[:, core.S_T].min())

    def _grow(self, n: int) -> None:
        cap = self._done.size
        if n <= cap:
            return
        new = max(n, cap * 2)
        for name, fill in (("_done", -1), ("_kind", -1), ("_arr", 0), ("_w", False)):
            old = getattr(self, name)
            arr = np.full(new, fill, dtype=old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)

    def feed(self, addresses, is_write=None, arrival=None, _final: bool = False) -> np.ndarray:
        """Add requests; returns their ids (indices into the result arrays). ``arrival`` defaults
        to the latest arrival fed so far, ``is_write`` to all reads."""
        if self._finished:
            raise HwragError("this DRAM stream is finished; start a new one with DramSystem.stream()")
        addr = np.atleast_1d(np.asarray(addresses))
        if addr.ndim != 1:
            raise HwragError("addresses must be a 1-D array")
        if addr.size and (addr.dtype.kind not in "iu" or (addr.dtype.kind == "i" and addr.min() < 0)):
            raise HwragError("addresses must be non-negative integers")
        n = addr.size
        w = np.zeros(n, dtype=bool) if is_write is None else np.asarray(is_write, dtype=bool).reshape(-1)
        arr = (np.full(n, self._last_arrival, dtype=np.int64) if arrival is None
               else np.asarray(arrival, dtype=np.int64).reshape(-1))
        if w.size != n or arr.size != n:
            raise HwragError(f"addresses ({n}), is_write ({w.size}) and arrival ({arr.size}) "
                             "must have the same length")
        if n and (np.any(np.diff(arr) < 0) or arr[0] < self._last_arrival):
            raise HwragError("arrival cycles must be non-decreasing (across chunks too)")
        ids = np.arange(self._n, self._n + n, dtype=np.int64)
        assert self._n + n < 1 << 40, "request ids must stay below 2**40 (the core packs id and bank)"
        self._grow(self._n + n)
        self._arr[self._n:self._n + n] = arr
        self._w[self._n:self._n + n] = w
        self._n += n
        if n:
            self._last_arrival = int(arr[-1])
        unit, bank, row = self.system.decode(addr)
        new = (unit, ids, bank, row, w.astype(np.int64), arr)
        if self._pend[0].size:
            self._pend = tuple(np.concatenate([p, x]) for p, x in zip(self._pend, new))
        else:
            self._pend = new
        self._run(core.BIG if _final else self._last_arrival)
        return ids

    def _run(self, horizon: int) -> None:
        U = self.system.spec.units
        if U == 1:  # one unit: the pending inputs are already in order
            su, sid, sb, sr, sw, sa = (np.ascontiguousarray(p, dtype=np.int64) for p in self._pend)
            offsets = np.array([0, su.size], dtype=np.int64)
        else:
            su, sid, sb, sr, sw, sa, offsets = core.group_by_unit(U, *self._pend)
        core.simulate(self.system.params, self.system.table, self._nxt, self._open, self._faw, self._fawp,
                      self._refs, self._sc, self._q, self._bq, self._cnt,
                      sid, sb, sr, sw, sa, offsets, np.int64(horizon), self._done, self._kind,
                      self._consumed)
        self._pend = tuple(core.leftover(offsets, self._consumed, su, sid, sb, sr, sw, sa))

    def poll(self) -> tuple[np.ndarray, np.ndarray]:
        """Requests whose completion cycle became known since the last poll: (ids, completion)."""
        lo = self._polled
        known = np.nonzero(self._done[lo:self._n] >= 0)[0] + lo
        # advance the watermark past the leading run of known requests
        d = self._done[lo:self._n] >= 0
        first_unknown = int(np.argmin(d)) if not d.all() else d.size
        self._polled = lo + first_unknown
        return known, self._done[known]

    def finish(self) -> DramResult:
        """Serve everything still queued and return the result of the whole stream."""
        if not self._finished:
            self._run(core.BIG)
            self._finished = True
        n = self._n
        assert (self._done[:n] >= 0).all(), "every request completes"
        names = ("ACT", "PRE", "PREA", "RD", "WR", "RDA", "WRA", "REF", "REFpb")
        tot = self._cnt.sum(axis=0)
        counts = {nm: int(tot[i]) for i, nm in enumerate(names)}
        return DramResult(self.system.spec, self.system.mapping.text, self.system.controller,
                          self._arr[:n].copy(), self._w[:n].copy(), self._done[:n].copy(),
                          self._kind[:n].copy(), counts)
