"""Timing cards: the scan unit's measured pipeline facts, read as data (hwsim never imports rtl/pyrtl).

``rtl`` writes one JSON card per scan-unit configuration under ``rtl/cards/`` (``hwrag rtl export``).
:func:`load_card` finds the card of a configuration (M, units per scan unit, K, level-1 queue length)
and returns a :class:`TimingCard`. The loader accepts the card's facts under the names below (first
match wins), so it does not break on a renamed key; a card without a needed fact is an error.

If no card for the configuration is checked in, :func:`load_card` (with ``fallback=True``) returns
the facts the RTL's documented structure gives (``rtl/scan_unit.py`` protocol: 256 LUT-row writes per
list, one beat of U codes per cycle, drain = distance-unit latency + queue settle + 1, K output
beats) with ``source`` saying so; every modeled figure carries the card's source.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ivfpq.errors import HwragError

CARD_DIR = Path(__file__).resolve().parents[1] / "rtl" / "cards"
LUT_ROWS = 256

# fact -> accepted key paths in a card (dotted), first match wins
_ALIASES = {
    "m": ("config.m", "m"),
    "units": ("config.units", "units"),
    "k": ("config.k", "k"),
    "l1": ("config.l1", "l1", "config.queue_len"),
    "ii": ("initiation_interval", "ii", "timing.initiation_interval", "timing.ii",
           "pipeline.initiation_interval"),
    "latency": ("pipeline_latency_cycles", "pipeline_latency", "latency_cycles", "timing.pipeline_latency",
                "timing.latency_cycles", "pipeline.latency_cycles", "distance_latency_cycles"),
    "lut_load": ("lut_load_cycles", "timing.lut_load_cycles", "cycles_per_query.per_list",
                 "cycles_per_query.lut_cycles_per_list"),
    "drain": ("drain_cycles", "timing.drain_cycles", "cycles_per_query.drain"),
    "output": ("output_cycles", "timing.output_cycles", "cycles_per_query.output"),
    "fixed": ("cycles_per_query.fixed", "cycles_per_query.constant", "cycles_per_query.overhead"),
    "fmax_mhz": ("fmax_mhz", "timing.fmax_mhz", "estimates.fmax_mhz", "resources.fmax_mhz"),
    "resources": ("resources", "estimates"),
}


def _get(card: dict, path: str):
    cur: Any = card
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def _fact(card: dict, name: str):
    for path in _ALIASES[name]:
        v = _get(card, path)
        if v is not None:
            return v
    return None


@dataclass(frozen=True)
class TimingCard:
    """Pipeline facts of one scan unit (U distance units of M-byte codes, top-K, level-1 length l1)."""

    m: int
    units: int
    k: int
    l1: int
    ii: int                 # cycles per beat of U codes in SCAN
    latency: int            # distance-unit pipeline latency (code in -> candidate into queue)
    lut_load: int           # cycles per probed list spent loading its LUT (no beat accepted meanwhile)
    drain: int              # cycles from flush to the first result
    output: int             # cycles to hand out the K results
    fixed: int = 1          # other per-query cycles (start)
    fmax_mhz: float | None = None
    resources: dict = field(default_factory=dict)
    source: str = ""

    def cycles_per_query(self, codes_per_list) -> int:
        """Scan-unit cycles for one query: per list LUT load + beats, then drain and output."""
        beats = sum(-(-int(n) // self.units) for n in codes_per_list)
        lists = sum(1 for n in codes_per_list if int(n) > 0)
        return self.fixed + lists * self.lut_load + beats * self.ii + self.drain + self.output

    def to_dict(self) -> dict:
        return asdict(self)


def fallback_card(m: int, units: int, k: int, l1: int | None = None) -> TimingCard:
    """Facts from the RTL's documented structure (used when no card is checked in)."""
    l1 = k if l1 is None else l1
    adder = math.ceil(math.log2(m)) if m > 1 else 0
    latency = 1 + 1 + adder + 1   # rtl/pq_distance.py pq_distance_latency: LUT read, sum stages, saturate
    drain = latency + l1 + 1      # rtl/scan_unit.py drain_cycles: distance latency + queue settle + 1
    return TimingCard(m, units, k, l1, ii=1, latency=latency, lut_load=LUT_ROWS, drain=drain, output=k,
                      fixed=1, source="fallback: rtl/scan_unit.py and rtl/pq_distance.py documented "
                      "structure (no timing card checked in for this configuration)")


def _from_json(card: dict, path: Path) -> TimingCard:
    vals = {n: _fact(card, n) for n in _ALIASES}
    for need in ("m", "units", "k"):
        if vals[need] is None:
            raise HwragError(f"timing card {path}: no '{need}' (looked for {', '.join(_ALIASES[need])})")
    m, u, k = int(vals["m"]), int(vals["units"]), int(vals["k"])
    l1 = int(vals["l1"]) if vals["l1"] is not None else k
    fb = fallback_card(m, u, k, l1)
    missing = [n for n in ("ii", "latency") if vals[n] is None]
    if missing:
        raise HwragError(f"timing card {path}: missing {missing}; accepted keys: "
                         + "; ".join(f"{n}: {', '.join(_ALIASES[n])}" for n in missing))
    pick = lambda n: int(vals[n]) if vals[n] is not None else getattr(fb, n)  # noqa: E731
    return TimingCard(m, u, k, l1, ii=int(vals["ii"]), latency=int(vals["latency"]),
                      lut_load=pick("lut_load"), drain=pick("drain"), output=pick("output"),
                      fixed=pick("fixed"),
                      fmax_mhz=float(vals["fmax_mhz"]) if isinstance(vals["fmax_mhz"], (int, float)) else None,
                      resources=vals["resources"] if isinstance(vals["resources"], dict) else {},
                      source=f"timing card {path.name}")


def list_cards(card_dir: Path | str | None = None) -> list[TimingCard]:
    d = Path(card_dir) if card_dir else CARD_DIR
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            out.append(_from_json(json.loads(p.read_text()), p))
        except (ValueError, HwragError):
            continue
    return out


def load_card(m: int, units: int, k: int, l1: int | None = None, card_dir: Path | str | None = None,
              fallback: bool = True) -> TimingCard:
    """The card of (m, units, k, l1); else the nearest card of the same m and units with K adjusted
    (drain/output scale with the queue length and K), else the fallback facts."""
    l1 = k if l1 is None else l1
    cards = list_cards(card_dir)
    for c in cards:
        if (c.m, c.units, c.k, c.l1) == (m, units, k, l1):
            return c
    for c in cards:
        if (c.m, c.units) == (m, units):
            # same datapath; queue length and K change drain (settle = l1) and output (= K) only
            return TimingCard(m, units, k, l1, c.ii, c.latency, c.lut_load,
                              c.drain - c.l1 + l1, c.output - c.k + k, c.fixed, c.fmax_mhz, c.resources,
                              source=f"{c.source} (m{m}_u{units}), drain/output rescaled to k={k}, l1={l1}")
    if not fallback:
        raise HwragError(f"no timing card for m={m} units={units} k={k} l1={l1} in {card_dir or CARD_DIR}")
    return fallback_card(m, units, k, l1)
