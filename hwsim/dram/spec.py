"""Memory standards as data: organisation, timing and per-command energy of one preset.

A preset is a :class:`DramSpec`: plain numbers plus, for every number, the source it came from
(a Ramulator 2.1 file, a DRAMsim3 config, a JEDEC table, or ``derived: <formula>``). The standard
modules (``hwsim.dram.standards.*``) build them with :func:`make_spec`; the registry that looks them
up by name and reads user presets from TOML or JSON is :mod:`hwsim.dram.presets` (apart, so that the
standard modules import this one and this one imports none of them).

Timing values are in memory-clock cycles (tCK) except ``tCK_ps``. Derived timings (``RC`` from
``RAS + RP``, the read-to-write turnaround, the per-bank refresh interval, ...) are filled in one
place, :func:`hwsim.dram.timing.derive_timings`, when a spec is built.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ivfpq.errors import HwragError

from .timing import TIMING_RULES, derive_timings

#: organisation keys (all integers)
ORG_KEYS = (
    "channels",          # independent channels per device/stack
    "pseudo_channels",   # pseudo-channels (HBM) or sub-channels per channel; 1 elsewhere
    "ranks",             # ranks per (pseudo-)channel
    "bankgroups",        # bank groups per rank
    "banks",             # banks per bank group
    "rows",              # rows per bank
    "columns",           # column addresses per row (device columns)
    "bus_width",         # data bus width of one (pseudo-)channel in bits
    "burst_length",      # BL in data beats (one column command moves bus_width/8*BL bytes)
)
#: timing keys, in cycles (tCK_ps in picoseconds, rate_mtps in MT/s); optional ones may be absent
TIMING_KEYS = (
    "tCK_ps", "rate_mtps", "BL",  # BL here: burst length in clock cycles (nBL)
    "CL", "CWL", "RCDRD", "RCDWR", "RP", "RAS", "RC", "WR", "RTP",
    "CCD_S", "CCD_L", "CCD_S_WR", "CCD_L_WR", "RRD_S", "RRD_L", "FAW",
    "WTR_S", "WTR_L", "RTW", "CS", "CS_WW", "PPD",
    "RFC", "REFI", "RFCpb", "REFIpb", "RREFD",
)
#: timing keys that may be left out of a preset (derive_timings fills or disables them)
OPTIONAL_TIMING_KEYS = ("RC", "RTW", "CCD_S_WR", "CCD_L_WR", "CS", "CS_WW", "PPD", "RFCpb", "REFIpb", "RREFD")
#: per-command energies in pJ and background power in mW (per rank of one (pseudo-)channel)
ENERGY_KEYS = ("ACT", "RD", "WR", "REF", "REFpb", "background_mW")
TOP_KEYS = ("name", "standard", "base", "org", "timing", "energy", "default_mapping", "dual_command_bus",
            "per_bank_refresh", "description", "timing_rules")
STANDARDS = ("HBM2", "HBM3", "DDR4", "DDR5")


@dataclass(frozen=True)
class DramSpec:
    """One memory preset: organisation, timing (cycles), energies, and the source of every value."""

    name: str
    standard: str
    org: Mapping[str, int]
    timing: Mapping[str, int]
    energy: Mapping[str, float]
    sources: Mapping[str, str] = field(default_factory=dict)
    default_mapping: str = "RoBaRaCoCh"
    dual_command_bus: bool = False     # HBM: separate row and column command buses
    per_bank_refresh: bool = False     # the standard has REFpb (RFCpb / REFIpb apply)
    description: str = ""
    #: whose derivation fills the derived timing values (:data:`.timing.TIMING_RULES`): "ramulator"
    #: (Ramulator 2.1 and JEDEC, the default) or "dramsim3" (DRAMsim3 src/timing.cc where it differs)
    timing_rules: str = "ramulator"

    # -- organisation helpers -------------------------------------------------------------------
    @property
    def units(self) -> int:
        """Independent command/data units the controller schedules: channels x pseudo-channels."""
        return self.org["channels"] * self.org["pseudo_channels"]

    @property
    def banks_per_rank(self) -> int:
        return self.org["bankgroups"] * self.org["banks"]

    @property
    def banks_per_unit(self) -> int:
        return self.org["ranks"] * self.banks_per_rank

    @property
    def tx_bytes(self) -> int:
        """Bytes moved by one RD/WR command (one burst)."""
        return self.org["bus_width"] // 8 * self.org["burst_length"]

    @property
    def bursts_per_row(self) -> int:
        return self.org["columns"] // self.org["burst_length"]

    @property
    def tck_ns(self) -> float:
        return self.timing["tCK_ps"] / 1000.0

    @property
    def capacity_bytes(self) -> int:
        return self.units * self.banks_per_unit * self.org["rows"] * self.bursts_per_row * self.tx_bytes

    @property
    def peak_bandwidth_gbs(self) -> float:
        """Modeled peak: every unit moves one burst every BL cycles (GB/s, 1e9 bytes)."""
        return self.units * self.tx_bytes / (self.timing["BL"] * self.tck_ns)

    def source(self, key: str) -> str:
        return self.sources.get(key, "")

    def with_org(self, **changes: int) -> "DramSpec":
        """A copy with organisation values replaced (e.g. ``channels=4`` for a 4-channel FPGA card)."""
        bad = sorted(set(changes) - set(ORG_KEYS))
        if bad:
            raise HwragError(f"unknown organisation key(s) {bad}; accepted: {', '.join(ORG_KEYS)}")
        org = dict(self.org)
        org.update({k: int(v) for k, v in changes.items()})
        src = dict(self.sources)
        src.update({f"org.{k}": "user override" for k in changes})
        return _finish(dataclasses.replace(self, org=org, sources=src))

    def with_timing(self, **changes: int) -> "DramSpec":
        """A copy with timing values replaced; derived values are recomputed unless given."""
        bad = sorted(set(changes) - set(TIMING_KEYS))
        if bad:
            raise HwragError(f"unknown timing key(s) {bad}; accepted: {', '.join(TIMING_KEYS)}")
        raw = {k: v for k, v in self.timing.items() if not self.sources.get(k, "").startswith("derived")}
        raw.update({k: int(v) for k, v in changes.items()})
        src = {k: v for k, v in self.sources.items() if not v.startswith("derived")}
        src.update({k: "user override" for k in changes})
        return _finish(dataclasses.replace(self, timing=raw, sources=src))

    def with_timing_rules(self, rules: str) -> "DramSpec":
        """A copy whose derived timing values follow ``rules`` (see :data:`.timing.TIMING_RULES`);
        values the preset gives itself are kept."""
        if rules not in TIMING_RULES:
            raise HwragError(f"timing rules {rules!r} unknown; accepted: {', '.join(TIMING_RULES)}")
        raw = {k: v for k, v in self.timing.items() if not self.sources.get(k, "").startswith("derived")}
        src = {k: v for k, v in self.sources.items() if not v.startswith("derived")}
        return _finish(dataclasses.replace(self, timing=raw, sources=src, timing_rules=rules))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "standard": self.standard, "timing_rules": self.timing_rules,
                "org": dict(self.org),
                "timing": dict(self.timing), "energy": dict(self.energy),
                "units": self.units, "tx_bytes": self.tx_bytes,
                "peak_bandwidth_GBps_modeled": self.peak_bandwidth_gbs}


def _finish(spec: DramSpec) -> DramSpec:
    """Validate a spec and fill derived timings (one place: timing.derive_timings)."""
    missing = [k for k in ORG_KEYS if k not in spec.org]
    if missing:
        raise HwragError(f"preset {spec.name!r}: missing organisation key(s) {missing}")
    for k in ORG_KEYS:
        v = spec.org[k]
        if int(v) != v or v < 1:
            raise HwragError(f"preset {spec.name!r}: org.{k} must be a positive integer, got {v!r}")
    for k in ("channels", "pseudo_channels", "ranks", "bankgroups", "banks", "rows", "columns", "burst_length"):
        if spec.org[k] & (spec.org[k] - 1):
            raise HwragError(f"preset {spec.name!r}: org.{k}={spec.org[k]} must be a power of two")
    if spec.org["columns"] % spec.org["burst_length"]:
        raise HwragError(f"preset {spec.name!r}: columns must be a multiple of burst_length")
    need = [k for k in TIMING_KEYS if k not in OPTIONAL_TIMING_KEYS and k not in spec.timing]
    if need:
        raise HwragError(f"preset {spec.name!r}: missing timing key(s) {need}")
    timing, sources = derive_timings(spec)
    for k, v in timing.items():
        if int(v) != v or v < 0:
            raise HwragError(f"preset {spec.name!r}: timing {k} must be a non-negative integer, got {v!r}")
    for k in ENERGY_KEYS:
        if k not in spec.energy:
            raise HwragError(f"preset {spec.name!r}: missing energy key {k!r}")
    return dataclasses.replace(spec, timing={k: int(v) for k, v in timing.items()}, sources=sources)


def make_spec(name: str, standard: str, org: Mapping[str, tuple], timing: Mapping[str, tuple],
              energy: Mapping[str, tuple], **kw: Any) -> DramSpec:
    """Build a spec from ``{key: (value, source)}`` tables (the form the standard modules use)."""
    sources = {}
    for k, (_, s) in org.items():
        sources[f"org.{k}"] = s
    for k, (_, s) in timing.items():
        sources[k] = s
    for k, (_, s) in energy.items():
        sources[f"energy.{k}"] = s
    spec = DramSpec(name=name, standard=standard, org={k: v for k, (v, _) in org.items()},
                    timing={k: v for k, (v, _) in timing.items()},
                    energy={k: float(v) for k, (v, _) in energy.items()}, sources=sources, **kw)
    return _finish(spec)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def ns_to_cycles(ns: float, tck_ps: int) -> int:
    return math.ceil(ns * 1000 / tck_ps)
