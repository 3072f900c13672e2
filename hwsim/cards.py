"""Timing cards: the scan unit's measured pipeline facts, read as data (hwsim never imports rtl/pyrtl).

``rtl`` writes one JSON card per scan-unit configuration under ``rtl/cards/`` (``hwrag rtl export``,
schema ``hwrag-rtl-timing-card/1``). :func:`load_card` finds the card of a configuration (M, units
per scan unit, K, level-1 queue length) and returns a :class:`TimingCard`; a card of another schema
or without a needed fact is an error naming the file and the key.

A configuration without a checked-in card takes the card of the same datapath (M, units) with the
queue-dependent facts rescaled, or (``fallback=True``) the facts the RTL's documented structure
gives, with ``source`` saying so; every modeled figure carries the card's source.
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

SCHEMA = "hwrag-rtl-timing-card/1"


def _need(card: dict, path: str, where: Path):
    cur: Any = card
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            raise HwragError(f"timing card {where}: missing '{path}' (schema {SCHEMA})")
        cur = cur[p]
    return cur


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
    fpga_fit: dict = field(default_factory=dict)  # device -> scan units that fit (card's fpga_synthesis)

    def units_that_fit(self, device: str) -> int | None:
        """Scan units of this configuration that fit ``device`` (Yosys resources against its
        data-sheet totals, from the card); None when the card carries no synthesis for it."""
        f = self.fpga_fit.get(device)
        return None if f is None else int(f["units"])

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
    if card.get("schema") != SCHEMA:
        raise HwragError(f"timing card {path}: schema {card.get('schema')!r}; accepted: {SCHEMA}")
    g = lambda key: _need(card, key, path)  # noqa: E731
    k, results = int(g("config.k")), int(g("pipeline.result_cycles"))
    est = card.get("estimates", {})
    fit = {}
    if "fpga_synthesis" in card:  # optional section (hwrag rtl synth --write-cards)
        fit = {d: {"units": int(_need(f, "units", path)), "limited_by": str(_need(f, "limited_by", path))}
               for d, f in dict(g("fpga_synthesis.fit")).items()}
    return TimingCard(
        m=int(g("config.m")), units=int(g("config.units")), k=k, l1=int(g("config.l1")),
        ii=int(g("pipeline.initiation_interval")), latency=int(g("pipeline.distance_latency_cycles")),
        lut_load=int(g("pipeline.lut_load_cycles_per_list")),
        drain=int(g("pipeline.flush_to_done_cycles")) - results,  # flush -> first result
        output=results, fixed=int(g("pipeline.start_cycles")),
        fmax_mhz=float(est["max_freq_mhz"]) if "max_freq_mhz" in est else None,
        resources=dict(g("resources")), source=f"timing card {path.name}", fpga_fit=fit)


def list_cards(card_dir: Path | str | None = None) -> list[TimingCard]:
    d = Path(card_dir) if card_dir else CARD_DIR
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            card = json.loads(p.read_text())
        except ValueError as e:
            raise HwragError(f"timing card {p}: not JSON ({e})") from None
        out.append(_from_json(card, p))
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
