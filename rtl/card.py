"""Timing card: the scan unit's pipeline facts, measured by simulation, as JSON data for ``hwsim``.

``hwsim`` must not import ``pyrtl`` (docs/DESIGN.md § Floors): it reads these cards. Cards of the default
configurations are checked in under ``rtl/cards/`` and a test regenerates them and compares.
Everything in a card is deterministic (seeded stimulus, no wall-clock figures).

Schema ``hwrag-rtl-timing-card/1`` (cycles are scan-unit clock cycles):

- ``config``: m, units, k, l1, lut_bits, dist_bits, id_bits; ``module``: Verilog module name.
- ``pipeline`` (measured by simulation unless noted):
  ``initiation_interval`` (cycles between beats at steady state), ``codes_per_cycle`` (U),
  ``distance_latency_cycles`` (beat accepted → distance at the level-1 queue; generator constant,
  checked by the unit test), ``queue_settle_cycles`` (L1), ``code_to_first_result_cycles`` (last
  beat accepted → first result valid), ``result_cycles`` (first → last result, no backpressure),
  ``flush_to_done_cycles`` (last beat accepted → done), ``lut_load_cycles_per_list`` (256 row
  writes), ``start_cycles``, ``stall_cycles`` (beats refused at steady state: 0).
- ``cycles_per_query``: ``formula`` and its coefficients; ``samples``: measured queries
  (codes per list → cycles from start to done), each equal to the formula.
- ``resources``: counts from the netlist (registers and register bits, memories and memory
  bits, adders, comparators, equality tests, muxes, with bit totals).
- ``estimates``: PyRTL's area (logic, memory, mm², 130 nm) and max-frequency estimates
  (modeled, not measured; PyRTL says they are unvalidated).
- ``fpga_synthesis`` (optional; written by ``hwrag rtl synth --write-cards``, see :mod:`rtl.synth`):
  Yosys ``synth_xilinx`` (UltraScale+) resources (``lut``, ``lut_logic``, ``lutram``, ``ff``,
  ``bram36``, ``uram``, ``dsp``, ``carry``), the raw cell counts, the sha256 of the Verilog it
  synthesized, and ``fit``: scan units per device (``xcu250``, ``xcu55c``) from data-sheet totals.
  Regenerating a card keeps this section only while the Verilog is unchanged.
"""
from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pyrtl

from .config import LUT_ENTRIES, ScanConfig
from .host import ScanHost
from .pq_distance import pq_distance_latency
from .pqueue import pqueue_settle_cycles
from .sim import PyrtlScanSim
from .stimulus import random_query

log = logging.getLogger(__name__)

SCHEMA = "hwrag-rtl-timing-card/1"
CARDS_DIR = Path(__file__).resolve().parent / "cards"
FORMULA = ("start_cycles + n_lists * lut_load_cycles_per_list + sum over lists of "
           "ceil(codes_in_list / codes_per_cycle) * initiation_interval + flush_to_done_cycles")


def _sig(x: float, digits: int = 5) -> float:
    return float(f"{x:.{digits}g}")


def resource_counts(block: pyrtl.Block) -> dict:
    regs = [n for n in block.logic if n.op == "r"]
    mems = {}
    for n in block.logic:
        if n.op in "m@":
            mem = n.op_param[1]
            mems[n.op_param[0]] = mem.bitwidth * (1 << mem.addrwidth)

    def count(ops, width=lambda n: max(len(a) for a in n.args)):
        nets = [n for n in block.logic if n.op in ops]
        return len(nets), sum(width(n) for n in nets)

    add, add_bits = count("+-")
    cmp_, cmp_bits = count("<>")
    eq, eq_bits = count("=")
    mux, mux_bits = count("x", width=lambda n: len(n.dests[0]))
    return {
        "registers": len(regs), "register_bits": sum(len(n.dests[0]) for n in regs),
        "memories": len(mems), "memory_bits": sum(mems.values()),
        "adders": add, "adder_bits": add_bits, "comparators": cmp_, "comparator_bits": cmp_bits,
        "equality_tests": eq, "equality_bits": eq_bits, "muxes": mux, "mux_bits": mux_bits,
    }


def estimates(block: pyrtl.Block) -> dict:
    out = {"kind": "modeled: PyRTL analysis (130 nm standard cells, unvalidated per PyRTL)", "tech_nm": 130}
    try:
        logic, mem = pyrtl.area_estimation(tech_in_nm=130, block=block)
        out["area_mm2_logic"], out["area_mm2_memory"] = _sig(logic), _sig(mem)
    except Exception as e:  # noqa: BLE001 - an estimate that does not work is reported, not fatal
        out["area_error"] = f"{type(e).__name__}: {e}"
    try:
        ta = pyrtl.TimingAnalysis(block=block)
        out["max_freq_mhz"] = _sig(ta.max_freq())
        out["critical_path_ps"] = _sig(ta.max_length())
    except Exception as e:  # noqa: BLE001
        out["timing_error"] = f"{type(e).__name__}: {e}"
    return out


def _formula(p: dict, codes_per_list: list[int]) -> int:
    beats = sum(math.ceil(n / p["codes_per_cycle"]) for n in codes_per_list)
    return (p["start_cycles"] + len(codes_per_list) * p["lut_load_cycles_per_list"]
            + beats * p["initiation_interval"] + p["flush_to_done_cycles"])


def measure_card(cfg: ScanConfig, sim_kind: str = "fast") -> dict:
    """Builds the scan unit, simulates sample queries back to back, returns the card (a dict)."""
    sim = PyrtlScanSim(cfg, sim_kind)
    rng = np.random.default_rng(2024)
    U = cfg.units
    shapes = [[1], [U], [3 * U + 1], [2 * U, 1], [5 * U, 2 * U - 1, 7]]
    queries = []
    for lens in shapes:
        q = random_query(cfg, rng, n_lists=len(lens), max_codes=1)
        n = sum(lens)
        ends = np.cumsum(lens).astype(np.int64)
        q.starts, q.ends = ends - np.asarray(lens, np.int64), ends
        q.codes = rng.integers(0, 256, (n, cfg.m), dtype=np.uint8)
        q.ids = np.arange(n, dtype=np.int64) * 7 + 1
        queries.append(q)
    host = ScanHost(cfg, queries, rng, flush_with_last=1.0)
    sim.run(host)
    errors = host.check()
    assert not errors, errors  # a card is only written for a unit that matches the golden model
    recs = host.records
    beats = [sum(math.ceil(n / U) for n in lens) for lens in shapes]
    ii = {r.beat_cycles / b for r, b in zip(recs, beats)}
    assert ii == {1.0} and all(r.stalls == 0 for r in recs), (ii, [r.stalls for r in recs])
    (tail,) = {r.done_cycle - r.flush_cycle for r in recs}
    (first,) = {r.first_result_cycle - r.flush_cycle for r in recs}
    (res,) = {r.done_cycle - r.first_result_cycle for r in recs}
    p = {
        "initiation_interval": 1, "codes_per_cycle": U, "distance_latency_cycles": pq_distance_latency(cfg.m),
        "queue_settle_cycles": pqueue_settle_cycles(cfg.queue_len), "code_to_first_result_cycles": first,
        "result_cycles": res, "flush_to_done_cycles": tail, "lut_load_cycles_per_list": LUT_ENTRIES,
        "start_cycles": 1, "stall_cycles": 0,
    }
    samples = [{"codes_per_list": lens, "cycles": r.done_cycle - r.start_cycle + 1} for lens, r in zip(shapes, recs)]
    for s in samples:
        assert s["cycles"] == _formula(p, s["codes_per_list"]), (s, _formula(p, s["codes_per_list"]))
    return {
        "schema": SCHEMA,
        "generated_by": "hwrag rtl export (rtl/card.py); regenerate, do not edit",
        "module": cfg.module_name,
        "config": cfg.to_dict(),
        "measured_by": f"PyRTL {sim_kind} simulation of the generated netlist, no idle input, no backpressure",
        "pipeline": p,
        "cycles_per_query": {"formula": FORMULA, "samples": samples},
        "resources": resource_counts(sim.block),
        "estimates": estimates(sim.block),
    }


def carry_synthesis(cfg: ScanConfig, card: dict, old_path: str | os.PathLike) -> dict:
    """``card`` plus the ``fpga_synthesis`` section of the card at ``old_path`` if that section was
    made from the Verilog ``cfg`` exports now (a changed RTL drops it: resynthesize)."""
    from .synth import SECTION, verilog_sha256

    old = Path(old_path)
    if not old.exists():
        return card
    section = json.loads(old.read_text()).get(SECTION)
    if section is None:
        return card
    if section.get("verilog_sha256") != verilog_sha256(cfg):
        log.warning("%s: the RTL changed since its FPGA synthesis; dropping it (run `hwrag rtl synth "
                    "--defaults --write-cards`)", old)
        return card
    return {**card, SECTION: section}


def card_json(card: dict) -> str:
    return json.dumps(card, indent=2, sort_keys=False) + "\n"


def card_path(cfg: ScanConfig, out_dir: str | os.PathLike = CARDS_DIR) -> Path:
    return Path(out_dir) / f"{cfg.name}.json"


def write_card(cfg: ScanConfig, out_dir: str | os.PathLike = CARDS_DIR, card: dict | None = None) -> Path:
    path = card_path(cfg, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(card_json(card or measure_card(cfg)))
    os.replace(tmp, path)
    return path


def load_card(path: str | os.PathLike) -> dict:
    card = json.loads(Path(path).read_text())
    assert card.get("schema") == SCHEMA, f"{path}: schema {card.get('schema')!r}, expected {SCHEMA}"
    return card
