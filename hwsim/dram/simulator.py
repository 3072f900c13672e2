"""The public simulator: :class:`DramSystem` (preset + mapping + controller), its streaming feeder
:class:`DramStream`, and :class:`DramResult`. See the package docstring for the API in one page."""
from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ivfpq.errors import HwragError

from . import layout
from .command_energy import energy_report
from .kernels import kernels
from .mapping import AddressMapping
from .presets import get_preset
from .spec import DramSpec
from .structures import STRUCTURES
from .timing import CMD_NAMES, build_tables

log = logging.getLogger(__name__)

PAGE_POLICIES = ("open", "close")
SCHEDULERS = ("frfcfs", "fcfs")
REFRESH_MODES = ("allbank", "perbank", "none")
CONTROLLER_STRUCTURES = ("queues", "dramsim3")


@dataclass(frozen=True)
class ControllerConfig:
    """Controller knobs. Defaults follow Ramulator 2.1 / DRAMsim3 (32-entry queues, 0.8/0.2 drain).

    ``structure`` picks the controller organisation (:mod:`hwsim.dram.structures`): ``queues`` (the
    default: one read and one write queue per channel, FR-FCFS over all of it, watermark draining)
    or ``dramsim3`` (DRAMsim3's transaction queues feeding ``command_queue``-entry per-bank command
    queues, its round-robin scheduler with a ``row_hit_cap`` open-row hit cap, its write-buffer and
    refresh rules and an in-order front end taking one request per cycle). ``scheduler`` and the
    write watermarks apply to ``queues`` only; ``command_queue`` and ``row_hit_cap`` to ``dramsim3``
    only (DRAMsim3's ``cmd_queue_size`` in both of its configs compared here, and its hard-coded 4).
    """

    read_queue: int = 32
    write_queue: int = 32
    write_high: float = 0.8      # start draining writes at this fraction of the write queue
    write_low: float = 0.2       # stop draining at this fraction (if reads are waiting)
    page_policy: str = "open"    # "open" | "close" (auto-precharge every access)
    scheduler: str = "frfcfs"    # "frfcfs" | "fcfs"
    refresh: str = "allbank"     # "allbank" | "perbank" | "none"
    structure: str = "queues"    # "queues" | "dramsim3"
    command_queue: int = 8       # dramsim3: entries per bank command queue
    row_hit_cap: int = 4         # dramsim3: hits served before a waiting row miss may precharge

    def validate(self, spec: DramSpec) -> None:
        for name, val, ok in (("page_policy", self.page_policy, PAGE_POLICIES),
                              ("scheduler", self.scheduler, SCHEDULERS),
                              ("refresh", self.refresh, REFRESH_MODES),
                              ("structure", self.structure, CONTROLLER_STRUCTURES)):
            if val not in ok:
                raise HwragError(f"controller {name} {val!r} unknown; accepted: {', '.join(ok)}")
        if self.structure == "dramsim3" and self.scheduler != "frfcfs":
            raise HwragError("the dramsim3 controller structure has its own scheduler (round robin over "
                             "bank queues); scheduler 'fcfs' applies to structure 'queues' only")
        if self.command_queue < 1 or self.row_hit_cap < 1:
            raise HwragError("controller command_queue and row_hit_cap need to be at least 1")
        if self.refresh == "perbank" and not spec.per_bank_refresh:
            raise HwragError(f"preset {spec.name} ({spec.standard}) has no per-bank refresh; "
                             "accepted refresh modes for it: allbank, none")
        if self.read_queue < 1 or self.write_queue < 1:
            raise HwragError("controller queues need at least one entry")
        if not 0.0 <= self.write_low < self.write_high <= 1.0:
            raise HwragError("controller write watermarks need 0 <= write_low < write_high <= 1")


def percentiles(x: np.ndarray, q) -> np.ndarray:
    """``np.percentile(x, q)`` (its default, linear method), value for value: one partition at the
    indices it needs. np.percentile itself imports ``numpy.ma`` on first use (through ``np.unique``),
    a tenth of a ``hwrag dram run``'s start-up."""
    n = x.size
    virtual = (n - 1) * (np.asarray(q, dtype=np.float64) / 100)
    lo = np.floor(virtual).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    part = np.partition(x, np.concatenate([lo, hi]))
    a, b = part[lo], part[hi]
    t = virtual - lo
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


#: what the two latency figures of :meth:`DramResult.stats` count
LATENCY_DEFINITIONS = {
    "from_arrival": "completion cycle minus the request's arrival cycle in the trace (includes time "
                    "the request waited outside a full controller)",
    "from_queue_entry": "completion cycle minus the cycle the controller took the request into its "
                        "queue (DRAMsim3's read latency)",
}


@dataclass
class DramResult:
    """Per-request completion cycles and stats of one simulation. All figures are *modeled*."""

    spec: DramSpec
    mapping: str
    controller: ControllerConfig
    arrival: np.ndarray          # int64 cycles
    is_write: np.ndarray         # bool
    completion: np.ndarray       # int64 cycle the request completed (see below)
    kind: np.ndarray             # int8: 0 row hit, 1 row miss (bank closed), 2 row conflict, 3 no DRAM command
    counts: dict = field(default_factory=dict)
    command_log: "np.ndarray | None" = None  # (n, layout.L_NF) issued commands, when asked for
    entry_parts: list = field(default_factory=list, repr=False)  # (ids, queue-entry cycles) per run

    # ``completion``: the cycle the last data beat moved; with the dramsim3 structure a write
    # completes one cycle after queue entry (posted) and a read served from the write buffer one
    # cycle after entry (kind 3), as in DRAMsim3.

    @property
    def latency(self) -> np.ndarray:
        """Cycles from arrival to completion, per request."""
        return self.completion - self.arrival

    @functools.cached_property
    def entry(self) -> np.ndarray:
        """int64 cycle the controller took each request into its queue (put in place on first use:
        a scatter over every request, which the speed benchmarks, reading no latency, skip)."""
        out = np.empty(self.completion.size, dtype=np.int64)
        for ids, cyc in self.entry_parts:
            out[ids] = cyc
        return out

    @property
    def queue_latency(self) -> np.ndarray:
        """Cycles from queue entry to completion, per request."""
        return self.completion - self.entry

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
        rd = ~self.is_write
        out: dict[str, Any] = {
            "figures": "modeled",
            "preset": s.name, "standard": s.standard, "timing_rules": s.timing_rules, "mapping": self.mapping,
            "controller": asdict(self.controller),
            "tCK_ns": s.tck_ns, "units": s.units,
            "requests": int(rd.size), "reads": int(rd.sum()), "writes": int((~rd).sum()),
            "cycles": self.cycles, "time_ns": self.cycles * s.tck_ns,
            "bandwidth_GBps": self.bandwidth_gbs, "peak_bandwidth_GBps": s.peak_bandwidth_gbs,
            "bandwidth_utilisation": self.bandwidth_gbs / s.peak_bandwidth_gbs if self.cycles else 0.0,
            "row_hits": int((self.kind == 0).sum()), "row_misses": int((self.kind == 1).sum()),
            "row_conflicts": int((self.kind == 2).sum()),
            "served_without_dram_command": int((self.kind == 3).sum()),
            "commands": {k: int(v) for k, v in self.counts.items()},
            "latency_definitions": LATENCY_DEFINITIONS,
        }
        for how, lat in (("from_arrival", self.latency), ("from_queue_entry", self.queue_latency)):
            for name, sel in (("read", rd), ("write", ~rd), ("all", slice(None))):
                x = lat[sel]
                if x.size:
                    p50, p90, p99, p999 = percentiles(x, (50, 90, 99, 99.9))
                    out[f"{name}_latency_{how}_cycles"] = {
                        "mean": float(x.mean()), "min": int(x.min()), "max": int(x.max()),
                        "p50": float(p50), "p90": float(p90), "p99": float(p99), "p999": float(p999)}
                    out[f"{name}_latency_{how}_ns_mean"] = float(x.mean()) * s.tck_ns
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
        P = np.zeros(layout.P_NPARAM, dtype=np.int64)
        P[layout.P_R], P[layout.P_BG], P[layout.P_B] = o["ranks"], o["bankgroups"], o["banks"]
        P[layout.P_RCAP], P[layout.P_WCAP] = c.read_queue, c.write_queue
        P[layout.P_WHI] = max(1, int(round(c.write_high * c.write_queue)))
        P[layout.P_WLO] = int(round(c.write_low * c.write_queue))
        P[layout.P_POLICY] = PAGE_POLICIES.index(c.page_policy)
        P[layout.P_REFMODE] = {"none": 0, "allbank": 1, "perbank": 2}[c.refresh]
        P[layout.P_REFI], P[layout.P_REFIPB] = t["REFI"], max(1, t["REFIpb"])
        P[layout.P_RDLAT] = t["CL"] + t["BL"]
        P[layout.P_WRLAT] = t["CWL"] + t["BL"]
        P[layout.P_FAW] = t["FAW"]
        P[layout.P_SCHED] = SCHEDULERS.index(c.scheduler)
        P[layout.P_CQCAP], P[layout.P_HITCAP] = c.command_queue, c.row_hit_cap
        P[layout.P_DUAL] = int(self.spec.dual_command_bus)
        self.params = P
        # the mapping as (shift, mask) per field ch, pc, ra, bg, ba, ro for the decode kernel
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
        return kernels().decode_ubr(np.ascontiguousarray(addresses, dtype=np.uint64), *self._decode_args)

    def burst_key(self, addresses: np.ndarray) -> np.ndarray:
        """The burst a byte address falls in (address bits beyond the capacity dropped), int64."""
        a = np.ascontiguousarray(addresses, dtype=np.uint64) >> np.uint64(self.mapping.offset_bits)
        bits = self.mapping.address_bits - self.mapping.offset_bits
        return (a & np.uint64((1 << bits) - 1)).astype(np.int64)

    def stream(self, command_log: int = 0) -> "DramStream":
        """A :class:`DramStream`; ``command_log`` > 0 keeps the first that many issued commands
        (tests compare them with the timing helpers)."""
        return DramStream(self, command_log)

    def run(self, addresses, is_write=None, arrival=None, command_log: int = 0) -> DramResult:
        """Simulate a whole request stream (arrival cycles non-decreasing; default all at 0)."""
        s = self.stream(command_log)
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

    def __init__(self, system: DramSystem, command_log: int = 0):
        self.system = system
        self._ctl = STRUCTURES[system.controller.structure](system)
        # per-request records (grown as chunks arrive), written by the cores: completion cycle (-1
        # not yet known), kind, and (dramsim3 structure) the chain of merged reads; the queue-entry
        # cycles come back from each run by input position (ids, cycles) and are put in place lazily
        self._n = 0
        self.done = np.full(1024, -1, dtype=np.int64)
        self.kind = np.full(1024, -1, dtype=np.int8)
        self._entries: list[tuple[np.ndarray, np.ndarray]] = []
        self.mnext = np.empty(1024 if self._ctl.chains_reads else 0, dtype=np.int64)
        self._arr = np.zeros(1024, dtype=np.int64)
        self._w = np.zeros(1024, dtype=bool)
        self.log = np.zeros((max(0, int(command_log)), layout.L_NF), dtype=np.int64)
        self.logn = np.zeros(1, dtype=np.int64)
        # inputs fed but not yet taken by the controller (the structure's pending() tuple)
        self._pend = None
        self._last_arrival = 0
        self._polled = 0
        self._finished = False

    @property
    def now(self) -> int:
        """The cycle up to which every unit has decided its commands."""
        return self._ctl.now

    def _grow(self, n: int) -> None:
        cap = self.done.size
        if n <= cap:
            return
        new = max(n, cap * 2)
        for name, fill in (("done", -1), ("kind", -1), ("mnext", None), ("_arr", None), ("_w", None)):
            old = getattr(self, name)
            if name == "mnext" and not old.size:
                continue
            arr = np.empty(new, dtype=old.dtype) if fill is None else np.full(new, fill, dtype=old.dtype)
            arr[:cap] = old
            setattr(self, name, arr)

    def _check(self, addresses, is_write, arrival):
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
               else np.ascontiguousarray(arrival, dtype=np.int64).reshape(-1))
        if w.size != n or arr.size != n:
            raise HwragError(f"addresses ({n}), is_write ({w.size}) and arrival ({arr.size}) "
                             "must have the same length")
        if n and (np.any(np.diff(arr) < 0) or arr[0] < self._last_arrival):
            raise HwragError("arrival cycles must be non-decreasing (across chunks too)")
        return addr, w, arr

    def feed(self, addresses, is_write=None, arrival=None, _final: bool = False) -> np.ndarray:
        """Add requests; returns their ids (indices into the result arrays). ``arrival`` defaults
        to the latest arrival fed so far, ``is_write`` to all reads."""
        addr, w, arr = self._check(addresses, is_write, arrival)
        n = addr.size
        ids = np.arange(self._n, self._n + n, dtype=np.int64)
        assert self._n + n < 1 << 40, "request ids must stay below 2**40 (the core packs id and bank)"
        self._grow(self._n + n)
        self._arr[self._n:self._n + n] = arr
        self._w[self._n:self._n + n] = w
        self._n += n
        if n:
            self._last_arrival = int(arr[-1])
        unit, bank, row = self.system.decode(addr)
        new = self._ctl.pending(unit, ids, bank, row, w.astype(np.int64), arr, addr)
        if self._pend is not None and self._pend[0].size:
            self._pend = tuple(np.concatenate([p, x]) for p, x in zip(self._pend, new))
        else:
            self._pend = new
        self._run(layout.BIG if _final else self._last_arrival)
        return ids

    def _run(self, horizon: int) -> None:
        if self._pend is not None:
            self._pend, took = self._ctl.run(self._pend, horizon, self)
            if took[0].size:
                self._entries.append(took)

    def poll(self) -> tuple[np.ndarray, np.ndarray]:
        """Requests whose completion cycle became known since the last poll: (ids, completion)."""
        lo = self._polled
        known = np.nonzero(self.done[lo:self._n] >= 0)[0] + lo
        # advance the watermark past the leading run of known requests
        d = self.done[lo:self._n] >= 0
        first_unknown = int(np.argmin(d)) if not d.all() else d.size
        self._polled = lo + first_unknown
        return known, self.done[known]

    def finish(self) -> DramResult:
        """Serve everything still queued and return the result of the whole stream."""
        if not self._finished:
            self._run(layout.BIG)
            self._finished = True
        n = self._n
        assert (self.done[:n] >= 0).all(), "every request completes"
        tot = self._ctl.cnt.sum(axis=0)
        counts = {nm: int(tot[i]) for i, nm in enumerate(CMD_NAMES)}
        log = self.log[:int(self.logn[0])] if self.log.shape[0] else None
        # views, not copies: a finished stream takes no more requests, so nothing changes them
        return DramResult(self.system.spec, self.system.mapping.text, self.system.controller,
                          self._arr[:n], self._w[:n], self.done[:n], self.kind[:n], counts,
                          command_log=log, entry_parts=self._entries)
